#!/bin/bash
# The runtime check's time (issue 11 goal: <= 40 s under TCG, boot
# included): a bookworm disk image with openssh-server (built through the
# package and base cache) is booted by the runtime check RUNS times in a
# row; for each run, the boot and collect time (qemu's start to its end,
# the "seconds" of the facts), the whole call's wall time (reading the
# kernel and initramfs from the image, the KVM probe, qemu), the
# accelerator, and the load average when it started (the machine is
# shared: TCG's speed follows the load). The image's sha256 is checked
# unchanged after all runs.
#
#   bench/vet-runtime.sh [RUNS]      (default 3; needs root for the build)
#   environment: RAIN_CACHE (default /var/cache/rain)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
[ "$(id -u)" -eq 0 ] || { echo "bench/vet-runtime.sh: needs root (the image build)" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "bench/vet-runtime.sh: needs qemu-system-x86_64" >&2; exit 1; }
[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release src/cli/rain tests/tools/vet-runtime >/dev/null
RAIN=$PWD/build-release/src/cli/rain
VR=$PWD/build-release/tests/tools/vet-runtime
work=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-vetbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat >"$work/ssh.recipe" <<'RECIPE'
[image]
name = vetbench
distribution = debian
release = bookworm
[packages]
install = openssh-server
[output]
formats = disk
size = 2G
RECIPE
"$RAIN" generate "$work/ssh.recipe" -o "$work/out" --cache "${RAIN_CACHE:-/var/cache/rain}" --quiet
img=$work/out/vetbench.raw
before=$(sha256sum <"$img")

echo "runtime check, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, rain $(git rev-parse --short HEAD), release build"
printf '%5s %12s %10s %12s %10s %10s\n' run boot_collect wall accelerator load_1m listening
for i in $(seq 1 "$runs"); do
	load=$(cut -d' ' -f1 /proc/loadavg)
	t0=$(date +%s.%N)
	"$VR" "$img" 300 >"$work/facts.json" 2>"$work/run.err" || { tail -5 "$work/run.err"; exit 1; }
	t1=$(date +%s.%N)
	python3 - "$work/facts.json" "$i" "$t0" "$t1" "$load" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
wall = float(sys.argv[4]) - float(sys.argv[3])
print("%5s %12.1f %10.1f %12s %10s %10d" % (sys.argv[2], f["seconds"], wall, f["accelerator"],
                                             sys.argv[5], len(f["listening"])))
PY
done
[ "$before" = "$(sha256sum <"$img")" ] && echo "# the image is unchanged (sha256)" || { echo "# THE IMAGE CHANGED"; exit 1; }
