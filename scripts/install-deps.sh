#!/bin/bash
# Install the Debian 12 packages rain needs to build, test and benchmark.
# Idempotent: packages already present are skipped. Needs root (or sudo).
set -euo pipefail

packages=(
	# build
	build-essential pkg-config meson ninja-build
	libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev
	libcurl4-openssl-dev libcmocka-dev libargon2-dev libldap-dev
	# the PostgreSQL catalog backend (libpq); its tests start a throwaway
	# server (initdb, pg_ctl)
	libpq-dev postgresql
	# OpenStack sites: clouds.yaml
	libyaml-dev
	# vetting: rpm version order and database, archives (feeds, changelogs),
	# image readers (tar, ext2/3/4, squashfs, zstd)
	librpm-dev libarchive-dev libext2fs-dev libsquashfs-dev libzstd-dev zlib1g-dev
	# registration: the libvirt site driver (libvirt's C API; domain XML
	# through libxml2's writer)
	libvirt-dev libxml2-dev
	# rain shell: line editing, history and completion
	libedit-dev
	# tests: sanitizers, fuzzing, clients, image tools; zsh and PyYAML for
	# rain's completion scripts and -f yaml (t0129)
	clang libclang-rt-14-dev curl python3 qemu-utils sqlite3 openssl procps zsh python3-yaml
	# vetting: debsecan is the reference the feed matching is checked against,
	# debsums the one of modified-file; debian-security-support's lists
	debsecan python3-apt debsums debian-security-support
	# image generation: bootstrap, filesystems, boot loader, boot check
	mmdebstrap debian-archive-keyring e2fsprogs fdisk grub-pc-bin qemu-system-x86
	squashfs-tools zstd openssh-client openssh-server qemu-user-static arch-test
	# libvirt site test: a real libvirtd (its package makes the libvirt-qemu
	# user), OVMF for UEFI domains, isoinfo to read the cloud-init seed back
	libvirt-daemon-system libvirt-clients ovmf genisoimage
	# UEFI disks (GPT, the EFI system partition made and filled without a
	# mount) and their boot check: OVMF (above) for amd64, AAVMF under
	# qemu-system-aarch64 for arm64
	gdisk dosfstools mtools qemu-efi-aarch64 qemu-system-arm
	# LDAP authentication test: a real directory
	slapd ldap-utils
	# RPM distributions (rocky, alma, fedora, rpm): the host bootstraps with
	# dnf; t0108 makes a signed test repository with rpmbuild (rpm),
	# createrepo_c and gpg, its shell a copy of busybox-static's busybox
	dnf rpm createrepo-c gpg busybox-static
	# OpenStack sites: a real Glance (SQLite, no Keystone) and its client
	glance-api python3-glanceclient
	# the stock clients against raind's own Keystone and Glance (t0127),
	# and OpenStack's interoperability suite (Tempest's image tests, t0128)
	python3-openstackclient tempest
	# raind's /metrics read by Prometheus' own parser (t0131)
	python3-prometheus-client
	# container sites: Charliecloud's ch-run (unprivileged containers)
	charliecloud-runtime
	# Slurm sites and runs: a real one-host Slurm (munged, slurmctld, two
	# slurmd) with node_features/helpers
	munge slurmctld slurmd slurm-client
	# object store blob backends: a real Swift (proxy with s3api and
	# tempauth, account/container/object servers, memcached) and the
	# clients that check what rain stored (swift, s3cmd)
	swift swift-proxy swift-account swift-container swift-object memcached
	python3-swiftclient s3cmd
	# the web catalog's test: a headless browser driven over the DevTools
	# protocol, and a font for its screenshots
	chromium python3-websocket fonts-dejavu-core
	# several raind behind a load balancer (t0182, bench/scale-out.sh)
	haproxy
	# benchmarks
	nginx-light wrk
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
