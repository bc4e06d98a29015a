#!/bin/bash
# Build benchmark before and after: rain generate of bench/ref.recipe (the
# reference image of bench/generate.sh: bookworm minbase, kernel, systemd,
# openssh-server, a 2 GiB BIOS disk) with rain built in release mode from
# two revisions, in one run, old and new in turn in each round:
#   warm      the shared cache (/var/cache/rain: its packages and cached
#             base), a fresh output folder
#   new base  every package at hand (a private cache holding a copy of the
#             shared cache's packages) and the base bootstrapped anew
# A build that fails ends the rounds; the summary covers the rounds done.
# Prints wall and CPU seconds of each build (user + system of rain and of
# every process it waited for: sandboxes, apt, mmdebstrap, mkfs, ...) with
# the load average, then medians, the stages' times from the manifests
# and the ratios new/old. On a shared machine compare CPU; what the
# kernel does in threads of its own (loop devices, writeback) is in
# neither figure.
#
#   bench/generate-compare.sh [OLD [NEW]]
#       OLD: by default the parent of the first commit of issue 9 (the
#       layout work); NEW: by default this tree (build-release)
#   ROUNDS=N bench/generate-compare.sh    rounds (default 5)
# Needs root. Scratch space: ${TMPDIR:-/var/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench/generate-compare.sh: run as root" >&2; exit 1; }
rounds=${ROUNDS:-5}
old=${1:-$(git log -E --grep='issue 9([^0-9]|$)' --reverse --format=%H | sed -n 1p)^}
old=$(git rev-parse --short=10 "$old")
new=${2:-}
shared=/var/cache/rain
work=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-gencmp.XXXXXX")
chmod 0711 "$work"   # the build sandbox's root passes through to the cache
trap 'rm -rf --one-file-system "$work"' EXIT
free_mib=$(( $(stat -f -c '%a * %S' "$work") / 1048576 ))
[ "$free_mib" -ge 3072 ] || {
	echo "bench/generate-compare.sh: $free_mib MiB free in ${work%/*}; a new base and its image want 3 GiB" >&2
	exit 1
}

build_rev() { # REV NAME: rain of that revision, release mode, in $work/NAME
	mkdir "$work/$2-src"
	git archive "$1" | tar -x -C "$work/$2-src"
	meson setup "$work/$2-build" "$work/$2-src" -Dbuildtype=release >"$work/$2-setup.log" 2>&1 &&
		ninja -C "$work/$2-build" src/cli/rain >"$work/$2-ninja.log" 2>&1 ||
		{ tail -20 "$work/$2-setup.log" "$work/$2-ninja.log"; echo "$1 does not build" >&2; exit 1; }
	ln -s "$work/$2-build/src/cli/rain" "$work/rain-$2"
}
echo "building $old (old) and ${new:-this tree} (new) in release mode"
build_rev "$old" old
if [ -n "$new" ]; then
	new=$(git rev-parse --short=10 "$new")
	build_rev "$new" new
else
	[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
	ninja -C build-release src/cli/rain >/dev/null
	ln -s "$PWD/build-release/src/cli/rain" "$work/rain-new"
	new="$(git rev-parse --short=10 HEAD)$(git diff --quiet HEAD -- src include || echo +changes)"
fi

mkdir -p "$work/private"
cp -al "$shared/packages" "$work/private/"   # links: builds never change cached packages
# the builds' id ranges are taken from a pool in the cache: share the
# shared cache's, or a build here would take the range a build there holds
ln -s "$shared/ids" "$work/private/ids"
echo "private cache: $(ls "$work/private/packages" | wc -l) packages linked from $shared"

run() { # SCENARIO VERSION ROUND CACHE: one build, a line of figures to $work/figures
	local out="$work/out-$1-$2" fig
	fig=$(python3 bench/benchlib.py timed "$out.log" "$work/rain-$2" generate bench/ref.recipe \
		-o "$out" --cache "$4" --quiet) || return 1
	read -r wall user sys <<<"$fig"
	stages=$(python3 -c 'import json, sys
t = json.load(open(sys.argv[1])).get("timings", {})
print(" ".join("%.2f" % t.get(k, float("nan")) for k in ("base_s", "image_s", "outputs_s")))' "$out/manifest.json")
	load=$(cut -d' ' -f1 /proc/loadavg)
	echo "$1 $2 $3 $wall $user $sys $stages $load" >>"$work/figures"
	printf '%-8s %-3s round %d: wall %6.1f s, cpu %6.1f s (user %.1f, sys %.1f) | load %s\n' \
		"$1" "$2" "$3" "$wall" "$(python3 -c "print($user + $sys)")" "$user" "$sys" "$(cut -d' ' -f1-3 /proc/loadavg)"
	rm -rf --one-file-system "$out"
}

# one build of each first (untimed): the shared base is there, and both
# binaries and the cache are read once
for v in old new; do
	python3 bench/benchlib.py timed "$work/warmup-$v.log" "$work/rain-$v" generate bench/ref.recipe \
		-o "$work/warmup-$v" --cache "$shared" --quiet >/dev/null || exit 1
	rm -rf --one-file-system "$work/warmup-$v"
done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $free_mib MiB free"
done_rounds=0
for round in $(seq 1 "$rounds"); do
	for v in old new; do run warm "$v" "$round" "$shared" || break 2; done
	for v in old new; do
		rm -rf --one-file-system "$work/private/bases" "$work/private/work"
		run new-base "$v" "$round" "$work/private" || break 2
	done
	done_rounds=$round
done
[ "$done_rounds" -eq "$rounds" ] ||
	echo "a build of round $((done_rounds + 1)) failed ($(df -h --output=avail "$work" | tail -1) free); the summary covers rounds 1-$done_rounds"
[ "$done_rounds" -gt 0 ] || exit 1

echo
echo "rain generate before/after, $(date -u +%FT%TZ), $(nproc) cores, old $old, new $new, $done_rounds rounds"
python3 - "$work/figures" "$done_rounds" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if int(l.split()[2]) <= int(sys.argv[2])]
cols = ("wall", "cpu", "user", "sys", "base", "image", "outputs")
def med(scen, ver, col):
    vals = []
    for r in rows:
        if r[0] == scen and r[1] == ver:
            wall, user, sys_, base, image, outputs = map(float, r[3:9])
            vals.append({"wall": wall, "cpu": user + sys_, "user": user, "sys": sys_,
                         "base": base, "image": image, "outputs": outputs}[col])
    return statistics.median(vals)
print("medians in seconds; base, image, outputs: the stages' times from the manifest (wall)")
print("%-9s %-10s" % ("build", "") + "".join("%9s" % c for c in cols))
for scen in ("warm", "new-base"):
    for ver in ("old", "new"):
        print("%-9s %-10s" % (scen, ver) + "".join("%9.2f" % med(scen, ver, c) for c in cols))
    print("%-9s %-10s" % (scen, "new/old") +
          "".join("%9.2f" % (med(scen, "new", c) / med(scen, "old", c)) if med(scen, "old", c) else "%9s" % "-"
                  for c in cols))
loads = [float(r[9]) for r in rows]
print("load average (1 min) after each build: %.2f to %.2f, median %.2f" %
      (min(loads), max(loads), statistics.median(loads)))
EOF
