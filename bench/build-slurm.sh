#!/bin/bash
# Builds on the cluster (issue 14): what the slurm build backend costs
# over raind's own children, in one run. Two raind on one real one-host
# Slurm 22.05 (tests/integration/lib.sh start_slurm): one with [builds]
# backend = local, one with backend = slurm (rain build-worker as a batch
# job, its log and outputs sent back through raind's worker API). The
# same two recipes on each, built through the shared cache:
#   tar:    a bookworm tar (no store): the dispatch and the log;
#   qcow2:  a 1G qcow2, stored: the upload of the output to raind too.
# Seconds from POST /rain/v1/builds to succeeded (the client polls every
# 0.2 s), and for slurm builds from the POST to the worker's first line in
# the build's log ("to worker": sbatch, Slurm's scheduling, the job's
# launch). Interleaved per round (local, then slurm, for each recipe),
# RUNS rounds, medians; the overhead is slurm minus local of the same
# round. The load average at each build (the machine is shared).
#
#   bench/build-slurm.sh [RUNS]     (default 3; needs root)
#   environment: RAIN_CACHE (default /var/cache/rain)
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
case $runs in '' | *[!0-9]* | 0) echo "bench/build-slurm.sh: RUNS must be a positive number" >&2; exit 2 ;; esac
me=bench/build-slurm.sh
[ "$(id -u)" -eq 0 ] || { echo "$me: needs root (image builds, slurmd)" >&2; exit 1; }
for c in mmdebstrap slurmctld slurmd munged curl python3; do
	command -v "$c" >/dev/null || { echo "$me: needs $c (scripts/install-deps.sh)" >&2; exit 1; }
done
export TMPDIR=${TMPDIR:-/var/tmp}
[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release src/cli/rain src/daemon/raind >/dev/null || { echo "$me: the release build failed" >&2; exit 1; }
rev=$(git rev-parse --short HEAD 2>/dev/null)
export BUILD=$PWD/build-release
CACHE=${RAIN_CACHE:-/var/cache/rain}
# the integration tests' helpers: $TMP (removed at exit), start_slurm,
# raind_start, each daemon stopped by PID
# shellcheck source=../tests/integration/lib.sh
source tests/integration/lib.sh
declare -A URLS PIDS
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	RAIND_PID=
	cleanup
}
trap stop_all EXIT
trap 'exit 130' INT TERM
cd "$TMP" || exit 1

now() { date +%s.%N; }
load() { cut -d' ' -f1 /proc/loadavg; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

for _ in $(seq 1 50); do
	SLURM_PORT_BASE=$((20000 + RANDOM % 20000))
	ss -ltn | grep -qE ":($((SLURM_PORT_BASE + 1))|$((SLURM_PORT_BASE + 2))) " || break
done
start_slurm || { echo "$me: Slurm did not start" >&2; exit 1; }

# two raind: local and slurm (raind_start's globals saved per backend)
for be in local slurm; do
	printf '[builds]\nbackend = %s\nslurm_conf = %s\nmax_concurrent = 1\ncache_dir = %s\n' \
		"$be" "$SLURM_CONF" "$CACHE" >"$TMP/$be.ini"
	DATA=$TMP/data-$be RAIND_PID=
	raind_start --config "$TMP/$be.ini" || exit 1
	URLS[$be]=$URL PIDS[$be]=$RAIND_PID
done

recipe_tar=$'[image]\nname = bench-tar\ndistribution = debian\nrelease = bookworm\n[output]\nformats = tar\n'
recipe_qcow2=$'[image]\nname = bench-qcow2\ndistribution = debian\nrelease = bookworm\n[output]\nformats = qcow2\nsize = 1G\n'

# build BACKEND KIND: submit, wait; records "BACKEND.KIND SECONDS LOAD"
# (and for slurm "slurm.KIND.worker SECONDS")
build() {
	local be=$1 kind=$2 url=${URLS[$1]} tok recipe t0 id st body i first=
	tok=$(cat "$TMP/data-$be/admin-token")
	recipe=recipe_$kind
	body=$(python3 -c 'import json,sys; print(json.dumps({"recipe": sys.argv[1]}))' "${!recipe}")
	t0=$(now)
	id=$(curl -sS -H "X-Auth-Token: $tok" -H 'Content-Type: application/json' -d "$body" \
		"$url/rain/v1/builds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	for i in $(seq 1 9000); do
		if [ "$be" = slurm ] && [ -z "$first" ] &&
			curl -sS -H "X-Auth-Token: $tok" "$url/rain/v1/builds/$id/log" | grep -q '^== worker: build'; then
			first=$(since "$t0" "$(now)")
		fi
		st=$(curl -sS -H "X-Auth-Token: $tok" "$url/rain/v1/builds/$id" |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
		case $st in succeeded | failed | canceled) break ;; esac
		sleep 0.2
	done
	[ "$st" = succeeded ] || { echo "$me: the $be $kind build $id $st" >&2; exit 1; }
	echo "$be.$kind $(since "$t0" "$(now)") $(load)" >>"$TMP/rec"
	[ -n "$first" ] && echo "slurm.$kind.worker $first $(load)" >>"$TMP/rec"
	# the next build starts from the same state: this one's files go
	curl -sS -o /dev/null -X DELETE -H "X-Auth-Token: $tok" "$url/rain/v1/builds/$id"
}

echo "# $(date -u +%FT%TZ), $(nproc) cores, load $(load), RUNS=$runs, rain ${rev:-?}"
# one build of each first, not counted: the cache holds their packages
build local tar >/dev/null; build local qcow2 >/dev/null
: >"$TMP/rec"
for r in $(seq 1 "$runs"); do
	for kind in tar qcow2; do
		build local "$kind"
		build slurm "$kind"
	done
done
python3 - "$TMP/rec" <<'PY'
import statistics, sys
rows = {}
loads = []
for line in open(sys.argv[1]):
    k, v, l = line.split()
    rows.setdefault(k, []).append(float(v))
    loads.append(float(l))
med = lambda k: statistics.median(rows[k])
print("%-8s %10s %10s %12s %14s" % ("build", "local s", "slurm s", "overhead s", "to worker s"))
for kind in ("tar", "qcow2"):
    over = statistics.median(s - l for l, s in zip(rows["local." + kind], rows["slurm." + kind]))
    print("%-8s %10.2f %10.2f %12.2f %14.2f" % (kind, med("local." + kind), med("slurm." + kind), over,
                                                 med("slurm.%s.worker" % kind)))
print("# medians of %d rounds; overhead: slurm minus local of the same round; load %.1f-%.1f"
      % (len(rows["local.tar"]), min(loads), max(loads)))
for k in sorted(rows):
    print("#   %-20s %s" % (k, " ".join("%.2f" % v for v in rows[k])))
PY
