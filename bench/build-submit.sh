#!/bin/bash
# Build submissions with many small files: for 1,000, 10,000 and 40,000
# empty files (no [builds] max_files cap), the wall time of
# POST /rain/v1/builds and the CPU time raind spends on it (its utime +
# stime from /proc), and the slowest of another user's GET /rain/v1/builds
# made meanwhile, and raind's own split: the checks (JSON to decision,
# which must grow linearly with the count) and the writing (files, record,
# one syncfs: the file system's cost, which varies with what else the
# machine writes; syncfs flushes the whole file system). Needs root (the
# build service); no image is built.
#
#   bench/build-submit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
[ "$(id -u)" -eq 0 ] || { echo "bench/build-submit.sh: needs root (the build service)" >&2; exit 1; }
for tool in curl python3 meson ninja; do
	command -v "$tool" >/dev/null || { echo "bench/build-submit.sh: needs $tool" >&2; exit 1; }
done
[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release src/daemon/raind >/dev/null
RAIND=$TOP/build-release/src/daemon/raind
work=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-buildbench.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT

# the builds wait (the first runs a sleeper, one per user runs), so that
# no build's work mixes into the figures; raind stops the sleeper at exit
printf '#!/bin/sh\nexec sleep 3600\n' >"$work/sleeper"
chmod 0755 "$work/sleeper"
printf '[builds]\nenabled = true\nmax_files = 0\nmax_queued_per_user = 0\nmax_running_per_user = 1\ncache_dir = %s\nrain_command = %s\n' \
	"$work/cache" "$work/sleeper" >"$work/raind.ini"
"$RAIND" --data-dir "$work/data" --listen 127.0.0.1:0 --port-file "$work/port" \
	--config "$work/raind.ini" >"$work/raind.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.05; done
url=http://127.0.0.1:$(cat "$work/port")
admin=$(cat "$work/data/admin-token")
ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

printf '%8s %10s %10s %14s %10s %12s %18s\n' files body_KiB wall_ms raind_cpu_ms check_ms written_ms others_max_ms
for n in 1000 10000 40000; do
	python3 - "$n" >"$work/body.json" <<'PY'
import json, sys
n = int(sys.argv[1])
print(json.dumps({"recipe": "[image]\nname = bench\ndistribution = debian\n[output]\nformats = tar\n",
                  "files": {"d%d/f%06d" % (i % 7, i): "" for i in range(n)}}))
PY
	c0=$(cpu)
	t0=$(date +%s%N)
	curl -sf -o /dev/null -X POST -H "X-Auth-Token: $admin" -H 'Content-Type: application/json' \
		--data-binary "@$work/body.json" "$url/rain/v1/builds" &
	sub=$!
	worst=0
	while kill -0 "$sub" 2>/dev/null; do
		t=$(curl -sf -o /dev/null -w '%{time_total}' -H "X-Auth-Token: $admin" "$url/rain/v1/builds")
		worst=$(awk -v a="$worst" -v b="$t" 'BEGIN { print (b * 1000 > a) ? b * 1000 : a }')
		sleep 0.1
	done
	wait "$sub"
	t1=$(date +%s%N)
	c1=$(cpu)
	# raind's own figures: the checks (parse to decision) and the writing
	# (files, record, syncfs) of this submission
	read -r chk wrt < <(sed -n "s/.*($n files, .*checked in \([0-9.]*\) ms, written in \([0-9.]*\) ms).*/\1 \2/p" \
		"$work/raind.log" | tail -n 1)
	printf '%8d %10d %10d %14d %10s %12s %18.1f\n' "$n" $(( $(stat -c %s "$work/body.json") / 1024 )) \
		$(( (t1 - t0) / 1000000 )) $(( (c1 - c0) * 1000 / ticks )) "$chk" "$wrt" "$worst"
done
