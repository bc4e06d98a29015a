#!/bin/bash
# Static vetting against the tools it replaces, on the same image: rain
# vet (no feed: the static rules) on a real image built by rain generate
# (a raw disk, and the same tree extracted to a folder) against debsums -s
# --root plus the two find -perm runs (setuid/setgid files, world-writable
# files and folders) on the extracted tree. Wall time and CPU time (user +
# system: the machine may be shared) of each, median of RUNS (default 5)
# runs after one warm-up run (all of it in the page cache, as a second
# vetting would find it). The vulnerability half (rain's matcher against
# debsecan) is bench/vet-feed.sh.
#
#   sudo bench/vet.sh            (builds with the shared cache /var/cache/rain)
#   IMAGE=x.raw TREE=dir bench/vet.sh   (an image and its extracted tree)
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
RUNS=${RUNS:-5}
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
for tool in python3 meson ninja debsums; do
	command -v "$tool" >/dev/null || { echo "bench/vet.sh: needs $tool" >&2; exit 1; }
done
[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release src/cli/rain >/dev/null
RAIN=$TOP/build-release/src/cli/rain
work=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-vetbench.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -z "${IMAGE:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "bench/vet.sh: building an image needs root (or give IMAGE and TREE)" >&2; exit 1; }
	cat >"$work/node.recipe" <<'RECIPE'
[image]
name = vetbench
distribution = debian
release = bookworm
[packages]
install = openssh-server, curl
[output]
formats = disk, tar
size = 2G
RECIPE
	"$RAIN" generate "$work/node.recipe" -o "$work/out" --cache "$CACHE" --quiet
	IMAGE=$work/out/vetbench.raw
	TREE=$work/tree
	mkdir "$TREE"
	tar -xpf "$work/out/vetbench.tar" -C "$TREE" --numeric-owner
fi
packages=$(grep -c '^Package: ' "$TREE/var/lib/dpkg/status")
files=$(find "$TREE" -xdev -type f | wc -l)
bytes=$(du -sb --apparent-size "$TREE" | cut -f1)

# measure NAME COMMAND...: RUNS timed runs (after one warm-up), as
# "NAME wall cpu" lines in $work/times
measure() {
	local name=$1
	shift
	"$@" >/dev/null 2>&1 || true
	for _ in $(seq "$RUNS"); do
		/usr/bin/time -f "$name %e %U %S" -a -o "$work/times" "$@" >/dev/null 2>&1 || true
	done
}
measure "rain-vet-disk" "$RAIN" -q vet "$IMAGE" --format disk
measure "rain-vet-dir" "$RAIN" -q vet "$TREE" --format dir
measure "debsums" debsums -s --root "$TREE"
export TREE
measure "debsums+find" bash -c 'debsums -s --root "$TREE" 2>/dev/null;
	find "$TREE" -xdev -type f -perm /6000 >/dev/null;
	find "$TREE" -xdev \( -type f -perm -0002 -o -type d -perm -0002 ! -perm -1000 \) >/dev/null'

echo "# $(date -u +%Y-%m-%d) $(uname -m), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# image: $packages packages, $files files, $((bytes / 1000000)) MB; median of $RUNS runs"
python3 - "$work/times" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 4:
        runs.setdefault(f[0], []).append((float(f[1]), float(f[2]) + float(f[3])))
print("%-16s %9s %9s" % ("", "wall s", "cpu s"))
for name, v in runs.items():
    print("%-16s %9.2f %9.2f" % (name, statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)))
PY
