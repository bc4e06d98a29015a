#!/bin/bash
# Container runs (issue 13): the time from a command to the job's first
# output line, in one run on this machine, on the same tree each time (a
# bookworm disk with openssh-server, built through the shared cache and
# published with rain target publish to a container: site):
#   (a) plain ch-run on the published tree as nobody (the peer: what
#       Charliecloud itself takes);
#   (b) rain provision exec on instances already up (the container
#       provider's own cost: the CLI, the site and state files, the
#       instance's folder, ch-run's argument vector);
#   (c) rain provision run: up, exec, down in one command (the instance's
#       folder made and removed too), to the first line;
#   (d) the same with -n 2 --each, to the first line of either instance.
# RUNS rounds (default 10), the four interleaved in each round; medians
# and the largest, and (b) and (c) over (a). The issue's goal: the
# container provider's first output within 1 s. Also the publish itself
# (the tree made from the image), once. The load average is printed with
# each round (the machine is shared).
#
#   bench/run-container.sh [RUNS]     (needs root: the image build; the
#   containers run as nobody)
#   environment: RAIN_CACHE (default /var/cache/rain); scratch in
#   ${TMPDIR:-/var/tmp} (about 3 GiB)
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
case $runs in '' | *[!0-9]* | 0) echo "bench/run-container.sh: RUNS must be a positive number" >&2; exit 2 ;; esac
me=bench/run-container.sh
[ "$(id -u)" -eq 0 ] || { echo "$me: needs root (the image build)" >&2; exit 1; }
for c in mmdebstrap ch-run setpriv python3; do
	command -v "$c" >/dev/null || { echo "$me: needs $c (scripts/install-deps.sh)" >&2; exit 1; }
done
export TMPDIR=${TMPDIR:-/var/tmp}
[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release src/cli/rain >/dev/null || exit 1
export BUILD=$PWD/build-release
# shellcheck source=../tests/integration/lib.sh
source tests/integration/lib.sh
trap 'exit 130' INT TERM
cd "$TMP" || exit 1
chmod 755 "$TMP"        # nobody walks to the site's folder

die() { echo "$me: $*" >&2; exit 1; }
load() { cut -d' ' -f1 /proc/loadavg; }
# first MS_VAR CMD...: milliseconds from starting CMD to its first line
# of output (CMD's remaining output is read to its end)
first() {
	local var=$1 t0 ms
	shift
	t0=$(date +%s%N)
	ms=$("$@" 2>/dev/null | { read -r _; echo $((($(date +%s%N) - t0) / 1000000)); cat >/dev/null; })
	printf -v "$var" '%s' "${ms:-NaN}"
}
median() { python3 -c 'import statistics, sys; v = [float(x) for x in sys.argv[1:]]; print(f"{statistics.median(v):.0f} ms (max {max(v):.0f})")' "$@"; }
ratio() { python3 -c 'import statistics, sys; n = int(sys.argv[1]); v = [float(x) for x in sys.argv[2:]]; print(f"{statistics.median(v[:n]) / max(statistics.median(v[n:]), 1):.1f}x")' "$@"; }

ssh_recipe runbench "$TMP/runbench.recipe"
t0=$(date +%s)
"$RAIN" generate "$TMP/runbench.recipe" -o "$TMP/img" --cache "${RAIN_CACHE:-/var/cache/rain}" --quiet \
	>"$TMP/build.log" 2>&1 || { tail -20 "$TMP/build.log"; die "the image build failed"; }
IMG=$TMP/img/runbench.raw
SITE=$TMP/site
printf '[site.box]\nuri = container:%s\n' "$SITE" >"$TMP/sites.ini"
echo "container run benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, rain $(git -C "$TOP" rev-parse --short HEAD), release build, RUNS=$runs, ch-run $(USER=nobody ch-run --version 2>&1)"
echo "# image: bookworm, openssh-server; built in $(($(date +%s) - t0)) s, load $(load)"
t0=$(date +%s%N)
"$RAIN" target publish --sites "$TMP/sites.ini" --site box --work "$TMP/work" --state "$TMP/reg.json" "$IMG" \
	>"$TMP/pub.log" 2>&1 || { cat "$TMP/pub.log"; die "publish failed"; }
TREE=$SITE/$(json_get registration <"$TMP/reg.json")
echo "# publish (the tree made from the image): $((($(date +%s%N) - t0) / 1000000)) ms, $(du -s -B1M "$TREE" | cut -f1) MiB, load $(load)"

prov() { local step=$1; shift; "$RAIN" provision "$step" --sites "$TMP/sites.ini" --site box "$@"; }
prov up --registration "$TMP/reg.json" --state "$TMP/up.json" --id up >/dev/null 2>&1 || die "rain provision up failed"
plain=() exec=() run=() each=()
printf '%-6s %10s %10s %10s %10s %6s\n' round "ch-run" "exec" "run" "run -n 2" load
for r in $(seq 1 "$runs"); do
	first a setpriv --reuid=nobody --regid=nogroup --clear-groups env USER=nobody ch-run "$TREE" -- echo first
	first b prov exec --state "$TMP/up.json" -- echo first
	first c prov run --registration "$TMP/reg.json" --state "$TMP/run$r.json" --id "r$r" -- echo first
	first d prov run --registration "$TMP/reg.json" --state "$TMP/each$r.json" --id "e$r" -n 2 --each -- echo first
	printf '%-6s %10s %10s %10s %10s %6s\n' "$r" "$a" "$b" "$c" "$d" "$(load)"
	plain+=("$a") exec+=("$b") run+=("$c") each+=("$d")
done
prov down --state "$TMP/up.json" >/dev/null 2>&1 || die "rain provision down failed"
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site box --state "$TMP/reg.json" >/dev/null 2>&1 ||
	die "unpublish failed"
left=$(find "$SITE" -mindepth 1 | wc -l)

echo "median (a) plain ch-run:               $(median "${plain[@]}")"
echo "median (b) rain provision exec:        $(median "${exec[@]}"), $(ratio "$runs" "${exec[@]}" "${plain[@]}") of (a)"
echo "median (c) rain provision run:         $(median "${run[@]}"), $(ratio "$runs" "${run[@]}" "${plain[@]}") of (a)"
echo "median (d) rain provision run -n 2:    $(median "${each[@]}")"
echo "goal: the container provider's first output <= 1000 ms: (b) $(median "${exec[@]}"), (c) $(median "${run[@]}")"
echo "left in the site's folder afterwards: $left entries"
