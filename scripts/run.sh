#!/bin/bash
# The main job, the whole life cycle on one machine: install the packages,
# build rain, start raind on its embedded defaults with one local site (a
# libvirt host: a private libvirtd of this script's), then
#   generate  a small Debian image from examples/debian-small.recipe,
#   store     it in the repository,
#   vet       it (the server keeps the verdict),
#   register  it at the local site (adapted: a qcow2 volume and a domain),
#   rain      a job on it: a VM booted from the image prints its
#             /etc/os-release and uname -r, and is taken down again,
# and show the catalog, the vetting verdict and the run's record, then say
# what to do next.
# Without --keep, the demo image this run made (and its registration) is
# removed again at the end; an image that was there before is left alone
# and reused. A second run reuses the caches, so it is much faster.
#
#   scripts/run.sh          run it, then clean up and stop raind and libvirtd
#   scripts/run.sh --keep   leave them and the image running for you to use
# Needs root (image builds, the VM host).
set -euo pipefail
cd "$(dirname "$0")/.."
keep=${1:-}
step() { printf '\n== %s\n' "$*"; }
[ "$(id -u)" -eq 0 ] || { echo "scripts/run.sh: run it as root (image builds and the VM host need it)" >&2; exit 1; }

step "installing what is needed, building rain"
bash scripts/install-deps.sh
[ -d build ] || meson setup build -Dbuildtype=release >/dev/null
ninja -C build >/dev/null
rain=$PWD/build/src/cli/rain
image=rain-demo

data_dir=/var/lib/rain
# the local site's files (its libvirtd runs as libvirt-qemu, which cannot
# enter raind's private data folder), the demo's configuration and logs
run=/var/lib/rain-local
mkdir -p -m 0711 "$run"
pids=()
stop() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
[ "$keep" = --keep ] || trap stop EXIT

# The local site's VM host: libvirtd as the libvirt-qemu user in its own
# folder (the machine's own libvirt, if any, is left alone), with a
# storage pool for the images registered there.
step "starting a private libvirtd for the local site"
lv=$run/libvirt
mkdir -p "$lv" && chown libvirt-qemu "$lv" && chmod 0700 "$lv"
as=(setpriv --reuid=libvirt-qemu --regid="$(id -g libvirt-qemu)" --init-groups env -i HOME="$lv"
	XDG_RUNTIME_DIR="$lv/run" XDG_CONFIG_HOME="$lv/config" XDG_CACHE_HOME="$lv/cache"
	XDG_DATA_HOME="$lv/data" PATH=/usr/sbin:/usr/bin:/sbin:/bin)
"${as[@]}" mkdir -p -m 0700 "$lv/run" "$lv/config" "$lv/cache" "$lv/data" "$lv/pool"
sock=$lv/run/libvirt/libvirt-sock
uri="qemu:///session?socket=$sock"
if ! virsh -c "$uri" version >/dev/null 2>&1; then
	"${as[@]}" virtlogd >>"$run/virtlogd.log" 2>&1 &
	pids+=($!)
	"${as[@]}" libvirtd >>"$run/libvirtd.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 150); do virsh -c "$uri" version >/dev/null 2>&1 && break; sleep 0.2; done
fi
virsh -q -c "$uri" pool-info local >/dev/null 2>&1 ||
	virsh -q -c "$uri" pool-define-as local dir --target "$lv/pool" >/dev/null
virsh -q -c "$uri" pool-start local >/dev/null 2>&1 || true
echo "libvirtd answers at $uri"

# raind: the embedded defaults (data in /var/lib/rain, port 9292, an admin
# token) and the local site; images must pass the default vetting policy
# before they are registered there.
step "starting raind"
# KVM when this machine really has it (a nested or broken /dev/kvm fails
# as soon as a vCPU starts); else qemu's emulation, much slower
domain_type=qemu
if [ -w /dev/kvm ]; then
	rc=0
	timeout 2 qemu-system-x86_64 -accel kvm -cpu host -nodefaults -display none -m 64 \
		-no-reboot -monitor none -serial none >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 124 ] && domain_type=kvm
fi
echo "VMs of the local site: domain type $domain_type"
cat >"$run/raind.conf" <<EOF
[site.local]
uri = libvirt:$uri
pool = local
policy = default
memory = 1G
domain_type = $domain_type
EOF
build/src/daemon/raind --config "$run/raind.conf" 2>>"$run/raind.log" &
pids+=($!)
for _ in $(seq 1 100); do
	curl -sf http://127.0.0.1:9292/healthz >/dev/null 2>&1 && break
	kill -0 "${pids[-1]}" 2>/dev/null || { tail -20 "$run/raind.log"; exit 1; }
	sleep 0.1
done
echo "raind is up on http://127.0.0.1:9292 (data in $data_dir, log $run/raind.log)"
export RAIN_URL=http://127.0.0.1:9292
RAIN_TOKEN=$(cat "$data_dir/admin-token")
export RAIN_TOKEN

created=
if $rain image show "$image" >/dev/null 2>&1; then
	step "generate: $image is stored already (rain image delete $image to build it again)"
else
	step "generate and store $image from examples/debian-small.recipe"
	rm -rf "$run/build"
	$rain generate examples/debian-small.recipe --name "$image" --store -o "$run/build"
	created=yes
fi

step "vet $image (the server keeps the verdict)"
$rain vet "$image" --remote || true

step "register $image at the local site"
if $rain register list --site local --image "$image" --status registered 2>/dev/null | grep -q registered; then
	echo "$image is registered there already"
else
	$rain register "$image" --site local
fi

step "rain a job on $image: a VM booted from it prints what it is"
$rain run "$image" --site local --walltime 10m -- sh -c 'cat /etc/os-release; echo "kernel: $(uname -r)"'

step "the catalog"
$rain image list
step "the vetting verdict"
$rain image show "$image" | grep -i -E "vet|verdict" || true
step "the run's record"
$rain ps --all | head -5

if [ "$keep" = --keep ]; then
	echo
	echo "raind and libvirtd keep running. Try:"
	echo "  export RAIN_URL=$RAIN_URL RAIN_TOKEN=\$(cat $data_dir/admin-token)"
	echo "  $rain run $image --site local -- uname -a"
	echo "  $rain image show $image --packages"
	echo "Stop them with: kill ${pids[*]:-(none started here)}"
	exit 0
fi

if [ -n "$created" ]; then
	step "removing $image (this run made it)"
	for reg in $($rain register list --site local --image "$image" -f value -c id 2>/dev/null); do
		$rain deregister "$reg" || echo "could not deregister $reg; see rain register show $reg"
	done
	$rain image delete "$image" || echo "could not delete $image; delete it with: rain image delete $image"
fi
echo
echo "Done: raind and libvirtd stop now; the caches ($data_dir, /var/cache/rain, $run) stay."
echo "Next:"
echo "  scripts/run.sh --keep     the same, leaving raind, libvirtd and $image up to try rain yourself"
echo "  man -l man/rain.1         rain's commands (rain-image.1, rain-generate.1, ...; README.md)"
