#!/usr/bin/env bash
# Metadata requests/s with several raind (issue 14, item 3), in one run:
#
#   bench/scale-out.sh [--quick]
#
# Three set-ups side by side, all release builds of the work tree
# (BUILD, default build-release; built if missing):
#   sqlite   one raind on its SQLite catalog, straight (no balancer);
#   pg1      one raind on a PostgreSQL catalog, through haproxy;
#   pg2      two raind on the same PostgreSQL catalog, through haproxy
#            (round robin).
# 200 images with two properties in each catalog; then wrk (-t2 -c16) on
# GET /v2/images/{id} and GET /v2/images?limit=25, the set-ups interleaved
# per round; requests/s, medians and the ratios pg2/pg1 (issue goal:
# >= 1.7) and pg2/sqlite. With PIN=1, each raind is pinned to one CPU
# (taskset: pg1's and sqlite's to CPU 0, pg2's to CPUs 0 and 1), so that
# the second server brings a CPU of its own as a second machine would.
# PostgreSQL runs from initdb in a scratch folder as user postgres (needs
# root), on a unix socket, fsync on. The machine's load average is
# printed at the start and the end: on a shared machine the figures are
# noisy and pg2 shares its cores with PostgreSQL, haproxy and wrk.
# --quick: wrk 5 s, 2 rounds. Environment: RUNS (default 3), BUILD, PIN.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
PY="python3 $HERE/benchlib.py"
cd "$TOP"

QUICK=0
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	-h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "scale-out.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
	esac
done
if [ "$QUICK" = 1 ]; then WRK_SECS=5 RUNS=${RUNS:-2}; else WRK_SECS=10 RUNS=${RUNS:-3}; fi
PIN=${PIN:-0}
NMETA=200

say() { printf '%s\n' "$*" >&2; }
die() { say "scale-out.sh: $*"; exit 1; }
for tool in curl wrk haproxy python3 meson ninja psql setpriv taskset; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
[ "$(id -u)" = 0 ] || die "needs root (PostgreSQL runs as user postgres)"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PG_BIN/initdb" ] || die "no PostgreSQL server (install postgresql)"

BUILD=${BUILD:-build-release}
if [ ! -x "$BUILD/src/daemon/raind" ]; then
	say "== building the work tree in $BUILD"
	[ -d "$BUILD" ] || meson setup "$BUILD" -Dbuildtype=release >/dev/null
fi
ninja -C "$BUILD" src/daemon/raind >/dev/null || die "build failed"
RAIND=$TOP/$BUILD/src/daemon/raind
case $BUILD in /*) RAIND=$BUILD/src/daemon/raind ;; esac

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-scale.XXXXXX")
chmod 0711 "$WORK"
PIDS=()
PG_UP=0
cleanup() {
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "$PG_UP" = 1 ]; then
		setpriv --reuid=postgres --regid="$(id -g postgres)" --init-groups \
			"$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(loadavg)

# ---- PostgreSQL
mkdir -p "$WORK/pg/sock"
chown -R postgres "$WORK/pg"
AS_PG=(setpriv --reuid=postgres --regid="$(id -g postgres)" --init-groups env -i HOME="$WORK/pg"
	PATH=/usr/bin:/bin LC_ALL=C.UTF-8)
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$WORK/pg/data" -U rain --auth=trust -E UTF8 >"$WORK/pg.log" 2>&1 ||
	{ cat "$WORK/pg.log" >&2; die "initdb failed"; }
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w -t 60 \
	-o "-k $WORK/pg/sock -c listen_addresses='' -c max_connections=100" start >>"$WORK/pg.log" 2>&1 ||
	{ cat "$WORK/pg/server.log" >&2; die "PostgreSQL did not start"; }
PG_UP=1
psql -X -q -h "$WORK/pg/sock" -U rain -d postgres -c "CREATE DATABASE rain" >/dev/null
PG_URI="postgresql:///rain?host=$WORK/pg/sock&user=rain"

# ---- the servers
TOKEN_PG=$(head -c 24 /dev/urandom | base64)
printf '%s\n' "$TOKEN_PG" >"$WORK/admin-token"
chmod 600 "$WORK/admin-token"
printf '[storage]\ncatalog = %s\n[auth]\nadmin_token_file = %s/admin-token\n' "$PG_URI" "$WORK" >"$WORK/pg.ini"
start() {   # start NAME CPU [RAIND ARGS...]: sets PORT_NAME
	local name=$1 cpu=$2 dir=$WORK/$1 pin=()
	shift 2
	[ "$PIN" = 1 ] && pin=(taskset -c "$cpu")
	mkdir -p "$dir"
	"${pin[@]}" "$RAIND" --data-dir "$dir/data" --listen 127.0.0.1:0 --port-file "$dir/port" "$@" \
		>"$dir/raind.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1 200); do
		[ -s "$dir/port" ] && break
		sleep 0.05
	done
	[ -s "$dir/port" ] || { cat "$dir/raind.log" >&2; die "raind $name did not start"; }
	printf -v "PORT_$name" '%s' "$(cat "$dir/port")"
}
start sqlite 0
TOKEN_SQLITE=$(cat "$WORK/sqlite/data/admin-token")
start pga 0 -c "$WORK/pg.ini"
start pgb 1 -c "$WORK/pg.ini"
LB1=$($PY freeport) LB2=$($PY freeport)
cat >"$WORK/haproxy.cfg" <<EOF
global
	maxconn 4096
	nbthread 2
defaults
	mode http
	timeout connect 5s
	timeout client 60s
	timeout server 60s
	option http-keep-alive
frontend one
	bind 127.0.0.1:$LB1
	default_backend one
frontend two
	bind 127.0.0.1:$LB2
	default_backend two
backend one
	server a 127.0.0.1:$PORT_pga
backend two
	balance roundrobin
	server a 127.0.0.1:$PORT_pga
	server b 127.0.0.1:$PORT_pgb
EOF
haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
	curl -s -o /dev/null "http://127.0.0.1:$LB2/healthz" && break
	sleep 0.1
done

declare -A URL TOKEN
URL[sqlite]=http://127.0.0.1:$PORT_sqlite TOKEN[sqlite]=$TOKEN_SQLITE
URL[pg1]=http://127.0.0.1:$LB1 TOKEN[pg1]=$TOKEN_PG
URL[pg2]=http://127.0.0.1:$LB2 TOKEN[pg2]=$TOKEN_PG
SETUPS=(sqlite pg1 pg2)

say "== rain scale-out benchmark $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load at start $LOAD_START"
say "== $(haproxy -v | head -1 | cut -d' ' -f1-3), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), PIN=$PIN"
declare -A ONE
for v in sqlite pg1; do
	$PY create "${URL[$v]}" "${TOKEN[$v]}" "$NMETA" 4 meta >/dev/null || die "creating images in $v failed"
	ONE[$v]=$(curl -sS -f -X POST -H "X-Auth-Token: ${TOKEN[$v]}" -H 'Content-Type: application/json' \
		-d '{"name":"single","disk_format":"raw","container_format":"bare","os_distro":"debian"}' \
		"${URL[$v]}/v2/images" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
done
ONE[pg2]=${ONE[pg1]}

wrk_rps() {   # wrk_rps SETUP PATH: requests/s (dies on non-2xx answers)
	local out
	out=$(wrk -t2 -c16 -d"${WRK_SECS}s" -H "X-Auth-Token: ${TOKEN[$1]}" "${URL[$1]}$2") || die "wrk $1 $2 failed"
	if grep -q 'Non-2xx' <<<"$out"; then say "$out"; die "wrk $1 $2: non-2xx answers"; fi
	awk '/^Requests\/sec:/ { print $2 }' <<<"$out"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
declare -A R_ONE R_LIST
say "== wrk -t2 -c16 -d${WRK_SECS}s, $RUNS rounds, set-ups interleaved (order rotates per round)"
for i in $(seq 1 "$RUNS"); do
	for k in 0 1 2; do
		v=${SETUPS[$(( (k + i) % 3 ))]}
		r=$(wrk_rps "$v" "/v2/images/${ONE[$v]}")
		l=$(wrk_rps "$v" "/v2/images?limit=25")
		R_ONE[$v]="${R_ONE[$v]:-} $r"
		R_LIST[$v]="${R_LIST[$v]:-} $l"
		say "   round $i $v: single $r req/s, list of 25 $l req/s (load $(loadavg))"
	done
done
LOAD_END=$(loadavg)

say ""
say "== summary (medians of $RUNS rounds; load at start $LOAD_START, at end $LOAD_END)"
for v in "${SETUPS[@]}"; do
	# shellcheck disable=SC2086
	printf -v "M1_$v" '%s' "$(median ${R_ONE[$v]})"
	# shellcheck disable=SC2086
	printf -v "ML_$v" '%s' "$(median ${R_LIST[$v]})"
done
say "   single image:  sqlite $M1_sqlite  pg1 $M1_pg1  pg2 $M1_pg2 req/s"
say "   list of 25:    sqlite $ML_sqlite  pg1 $ML_pg1  pg2 $ML_pg2 req/s"
say "   ratio pg2/pg1 (goal >= 1.7): single $(ratio "$M1_pg2" "$M1_pg1"), list $(ratio "$ML_pg2" "$ML_pg1")"
say "   ratio pg1/sqlite:            single $(ratio "$M1_pg1" "$M1_sqlite"), list $(ratio "$ML_pg1" "$ML_sqlite")"
say "   ratio pg2/sqlite:            single $(ratio "$M1_pg2" "$M1_sqlite"), list $(ratio "$ML_pg2" "$ML_sqlite")"
