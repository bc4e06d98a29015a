#!/bin/bash
# Vetting against the tools it replaces, in one run on the same image (issue
# 11's benchmark): rain vet on a real image built by rain generate (a raw
# disk, and the same tree extracted to a folder), without and with a feed
# built from the real bookworm-security suite for the image's source
# packages, against debsums -s --root, debsecan (the same feed in its own
# format) and the two find -perm runs (setuid/setgid files, world-writable
# files and folders) on the extracted tree, separately and together; then
# the runtime check (rain vet --runtime, boot to power off) once. Wall
# time and CPU time (user + system: the machine may be shared) of each,
# median of RUNS (default 5) runs after one warm-up run (all of it in the
# page cache, as a second vetting would find it). The feed's import and
# matching at the tracker's full size are bench/vet-feed.sh; the runtime
# check alone, bench/vet-runtime.sh.
#
# On a shared machine the wall times are mostly waiting for the CPU:
# CHRT='chrt -f 50' (root) runs the measured commands but the runtime check
# at real-time priority, standing in for a quiet machine.
#
#   sudo bench/vet.sh            (builds with the shared cache /var/cache/rain)
#   IMAGE=x.raw TREE=dir bench/vet.sh   (an image and its extracted tree)
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
RUNS=${RUNS:-5}
CHRT=${CHRT:-}
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
		# shellcheck disable=SC2086
		$CHRT /usr/bin/time -f "$name %e %U %S" -a -o "$work/times" "$@" >/dev/null 2>&1 || true
	done
}
# the vulnerability half: a feed from the real bookworm-security suite for
# the image's source packages (those the mirror has), for rain vet and, in
# its own format, for debsecan
MIRROR=${MIRROR:-http://deb.debian.org/debian-security}
python3 - "$TREE/var/lib/dpkg/status" "$MIRROR" >"$work/sources" <<'PY'
import lzma, re, sys, urllib.request
srcs = set()
for stanza in open(sys.argv[1]).read().split("\n\n"):
    m = re.search(r"^Package: (\S+)", stanza, re.M)
    s = re.search(r"^Source: (\S+)", stanza, re.M)
    if m:
        srcs.add(s.group(1) if s else m.group(1))
url = sys.argv[2] + "/dists/bookworm-security/main/source/Sources.xz"
index = lzma.decompress(urllib.request.urlopen(url).read()).decode()
print("\n".join(sorted(srcs & set(re.findall(r"^Package: (\S+)", index, re.M)))))
PY
feedargs=()
while read -r src; do feedargs+=(--source "$src"); done <"$work/sources"
"$RAIN" -q vet feed build --mirror "$MIRROR" --suite bookworm-security "${feedargs[@]}" \
	-o "$work/feed" 2>/dev/null
"$RAIN" -q vet feed export --format debsecan "$work/feed" -o "$work/debsecan"
export work TREE
measure "rain-vet-disk" "$RAIN" -q vet "$IMAGE" --format disk
measure "rain-vet-disk+feed" "$RAIN" -q vet "$IMAGE" --format disk --feed "$work/feed"
measure "debsecan" /usr/bin/python3 /usr/bin/debsecan --suite bookworm --format detail \
	--status "$TREE/var/lib/dpkg/status" --source "file://$work/debsecan/"
measure "debsums+debsecan+find" bash -c 'debsums -s --root "$TREE" 2>/dev/null;
	/usr/bin/python3 /usr/bin/debsecan --suite bookworm --format detail \
		--status "$TREE/var/lib/dpkg/status" --source "file://$work/debsecan/" >/dev/null;
	find "$TREE" -xdev -type f -perm /6000 >/dev/null;
	find "$TREE" -xdev \( -type f -perm -0002 -o -type d -perm -0002 ! -perm -1000 \) >/dev/null'
# the runtime check: boot to power off, once (not in the median's runs)
if command -v qemu-system-x86_64 >/dev/null; then
	/usr/bin/time -f "rain-vet-runtime %e %U %S" -a -o "$work/times" \
		"$RAIN" -q vet "$IMAGE" --format disk --runtime >/dev/null 2>&1 || true
fi
measure "rain-vet-dir" "$RAIN" -q vet "$TREE" --format dir
measure "debsums" debsums -s --root "$TREE"
measure "debsums+find" bash -c 'debsums -s --root "$TREE" 2>/dev/null;
	find "$TREE" -xdev -type f -perm /6000 >/dev/null;
	find "$TREE" -xdev \( -type f -perm -0002 -o -type d -perm -0002 ! -perm -1000 \) >/dev/null'

echo "# feed: $(wc -l <"$work/sources") of the image's source packages are in bookworm-security"
echo "# goals (issue 11): static <= 1 s and no slower than debsums alone; runtime <= 40 s (TCG)"
echo "# $(date -u +%Y-%m-%d) $(uname -m), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)${CHRT:+, static runs under $CHRT}"
echo "# image: $packages packages, $files files, $((bytes / 1000000)) MB; median of $RUNS runs"
python3 - "$work/times" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 4:
        runs.setdefault(f[0], []).append((float(f[1]), float(f[2]) + float(f[3])))
med = {n: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for n, v in runs.items()}
print("%-24s %9s %9s" % ("", "wall s", "cpu s"))
for name, (w, c) in med.items():
    print("%-24s %9.2f %9.2f" % (name, w, c))
for a, b in (("rain-vet-disk", "debsums"), ("rain-vet-disk+feed", "debsums+debsecan+find")):
    if a in med and b in med and med[b][1] > 0:
        print("%-24s %9s %9.2f  (cpu, %s / %s)" % ("ratio", "", med[a][1] / med[b][1], a, b))
PY
