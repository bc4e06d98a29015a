#!/bin/bash
# Image readers benchmark (rain/imgfs.h): a walk that reads every regular
# file of an image and hashes it (MD5, as debsums does), through each
# reader, against `find -type f | xargs md5sum` on the same tree extracted
# to a folder. The image is a real one built here by rain generate (a
# bookworm with openssh-server, python3 and curl: about 120 packages) in
# every format rain reads. Three rounds; wall and CPU (user+sys) seconds of
# each, the CPU figure being the one to compare on a loaded machine.
#
#   bench/imgfs.sh [IMAGE_DIR]   IMAGE_DIR: outputs of an earlier run to reuse
# Needs root (rain generate). Scratch space: ${TMPDIR:-/var/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench/imgfs.sh: run as root" >&2; exit 1; }
[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release >/dev/null
work=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-imgfsbench.XXXXXX")
chmod 0711 "$work"
trap 'rm -rf --one-file-system "$work"' EXIT
cc -O2 -D_GNU_SOURCE -Iinclude -Isrc bench/imgfs-walk.c -o "$work/walk" \
	build-release/src/lib/librain.a build-release/src/util/librainutil.a \
	$(pkg-config --libs libarchive ext2fs com_err libsquashfs1 zlib libzstd jansson sqlite3 libcrypto \
		libcurl libargon2 ldap rpm) -lpthread

out=${1:-}
if [ -z "$out" ]; then
	out=$work/out
	cat >"$work/bench.recipe" <<'RECIPE'
[image]
name = imgfs-bench
distribution = debian
release = bookworm
[packages]
install = curl, openssh-server, python3
[output]
formats = disk, ext4, tar.zst, qcow2, squashfs
size = 2G
RECIPE
	build-release/src/cli/rain generate "$work/bench.recipe" -o "$out" --cache /var/cache/rain \
		>"$work/gen.log" 2>&1 || { tail -20 "$work/gen.log"; exit 1; }
fi
mkdir "$work/tree"
tar --zstd -xf "$out"/*.tar.zst -C "$work/tree" --numeric-owner

timed() { # LABEL CMD...: one line, wall and cpu seconds
	local label=$1 t
	shift
	t=$( { /usr/bin/time -f '%e %U %S' "$@" >/dev/null; } 2>&1 | tail -1)
	read -r wall user sys <<<"$t"
	printf '%-34s wall %6.2f s  cpu %5.2f s\n' "$label" "$wall" "$(echo "$user + $sys" | bc)"
}

echo "# $(date -u +%F) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for f in "$out"/*.raw "$out"/*.ext4 "$out"/*.qcow2 "$out"/*.tar.zst "$out"/*.squashfs "$work/tree"; do
	[ -e "$f" ] && echo "# $(basename "$f"): $("$work/walk" "$f")"
done
for round in 1 2 3; do
	echo "## round $round"
	timed "find | xargs md5sum (extracted)" sh -c "cd '$work/tree' && find . -type f -print0 | xargs -0 md5sum"
	for f in "$out"/*.raw "$out"/*.ext4 "$out"/*.qcow2 "$out"/*.tar.zst "$out"/*.squashfs "$work/tree"; do
		[ -e "$f" ] && timed "imgfs $(basename "$f")" "$work/walk" "$f"
	done
done
