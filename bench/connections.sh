#!/usr/bin/env bash
# Connection handling of raind next to nginx, in one run:
#
#   bench/connections.sh [--quick]
#
# (a) Storm: STORM connections from 127.0.0.1 trickle a header byte every
#     ~2 s (never ending it) against each server in turn, while a client on
#     127.0.0.2 makes PROBES requests for /healthz, each on a new
#     connection: success rate and latency, with the storm and without.
#     raind runs its defaults (64 connections per address, 30 s header
#     timeout); nginx the defaults of a stock nginx.conf (auto workers,
#     1024 worker_connections, client_header_timeout 60 s per read).
# (b) Idle: IDLE keep-alive connections (from 127.0.1.1-200, each after
#     one GET /healthz) held open: raind's VmRSS before and after, and
#     nginx's (master + workers; worker_connections 16384 for this part),
#     for the same connections.
#
# --quick: STORM 1100, IDLE 2000, PROBES 100. Defaults: STORM 3000,
# IDLE 10000, PROBES 200. Environment: BUILD (an optimized meson build
# directory without sanitizers; default build-bench/), TMPDIR.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
NC="python3 $TOP/tests/integration/netclient.py"
STORM=3000 IDLE=10000 PROBES=200
for arg in "$@"; do
	case $arg in
	--quick) STORM=1100 IDLE=2000 PROBES=100 ;;
	-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "connections.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
	esac
done

say() { printf '%s\n' "$*"; }
die() { say "connections.sh: $*" >&2; exit 1; }
for tool in curl nginx python3 meson ninja; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
[ "$(id -u)" = 0 ] || die "run as root: $IDLE connections need a raised open-file limit"

BUILD=${BUILD:-$TOP/build-bench}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
[ -f "$BUILD/build.ninja" ] ||
	meson setup "$BUILD" "$TOP" --buildtype=debugoptimized -Db_sanitize=none >&2
grep -q "fsanitize" "$BUILD/build.ninja" && die "$BUILD is a sanitizer build"
ninja -C "$BUILD" src/daemon/raind >&2 || die "the build failed"
RAIND=$BUILD/src/daemon/raind

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-bench-conn.XXXXXX")
RAIND_PID='' NGINX_PID='' LOAD_PID=''
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	trap - EXIT INT TERM
	stop_pid "$LOAD_PID"; stop_pid "$NGINX_PID"; stop_pid "$RAIND_PID"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM
ulimit -n 65536 2>/dev/null || true

# ---------------------------------------------------------------- servers
mkdir -p "$WORK/raind"
"$RAIND" --data-dir "$WORK/raind" --listen 127.0.0.1:0 --port-file "$WORK/raind.port" \
	>"$WORK/raind.log" 2>&1 &
RAIND_PID=$!
for _ in $(seq 1 200); do [ -s "$WORK/raind.port" ] && break; sleep 0.05; done
[ -s "$WORK/raind.port" ] || { cat "$WORK/raind.log" >&2; die "raind did not start"; }
RPORT=$(cat "$WORK/raind.port")

NGX=$WORK/nginx
mkdir -p "$NGX/www" "$NGX/tmp"
printf '{"status": "ok"}' >"$NGX/www/healthz"
NPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nginx_conf() {   # nginx_conf WORKER_CONNECTIONS
	cat >"$NGX/nginx.conf" <<NGINX
$([ "$(id -u)" = 0 ] && echo "user root;")
worker_processes auto;
worker_rlimit_nofile 65536;
pid $NGX/nginx.pid;
error_log $NGX/error.log crit;
events { worker_connections $1; }
http {
	access_log off;
	default_type application/json;
	client_body_temp_path $NGX/tmp;
	proxy_temp_path $NGX/tmp;
	fastcgi_temp_path $NGX/tmp;
	uwsgi_temp_path $NGX/tmp;
	scgi_temp_path $NGX/tmp;
	keepalive_timeout 300s;
	server { listen 127.0.0.1:$NPORT backlog=4096; root $NGX/www; }
}
NGINX
}
nginx_start() {
	nginx_conf "$1"
	nginx -e "$NGX/error.log" -p "$NGX" -c "$NGX/nginx.conf" -g 'daemon off;' >"$NGX/out.log" 2>&1 &
	NGINX_PID=$!
	for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$NPORT/healthz" && return 0; sleep 0.05; done
	cat "$NGX/error.log" "$NGX/out.log" >&2; die "nginx did not start"
}
rss_kib() {   # rss_kib PID...: VmRSS summed
	local sum=0 pid v
	for pid in "$@"; do
		v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
nginx_pids() { echo "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true); }
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

say "== rain connections benchmark $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
say "== raind (defaults) on $RPORT, nginx (auto workers, 1024 worker_connections) on $NPORT"
say "== raind: $(grep -o 'raised the open-file limit.*\|[0-9]* worker threads.*address' "$WORK/raind.log" | tr '\n' ' ')"
nginx_start 1024

# ---------------------------------------------------------------- (a) storm
storm() {   # storm PORT NAME: sets BASE_<NAME> and STORM_<NAME>
	local port=$1 name=$2 base res st
	base=$($NC probe 127.0.0.1 "$port" "$PROBES" 127.0.0.2 /healthz)
	rm -f "$WORK/storm.status" "$WORK/storm.status.stop"
	$NC trickle 127.0.0.1 "$port" "$STORM" 600 "$WORK/storm.status" >"$WORK/storm.out" 2>&1 &
	LOAD_PID=$!
	for _ in $(seq 1 1200); do
		grep -q "^connected=$STORM " "$WORK/storm.status" 2>/dev/null && break
		sleep 0.1
	done
	sleep 3
	st=$(cat "$WORK/storm.status" 2>/dev/null || echo "none")
	res=$($NC probe 127.0.0.1 "$port" "$PROBES" 127.0.0.2 /healthz)
	touch "$WORK/storm.status.stop"
	wait "$LOAD_PID" 2>/dev/null || true
	LOAD_PID=
	say "   $name without storm: $base"
	say "   $name with storm:    $res   (trickler: $st)"
	printf -v "BASE_$name" '%s' "$base"
	printf -v "STORM_$name" '%s' "$res"
}
say "== (a) storm: $STORM trickling connections from 127.0.0.1, $PROBES probes of /healthz from 127.0.0.2"
storm "$RPORT" raind
storm "$NPORT" nginx

# ---------------------------------------------------------------- (b) idle
say "== (b) $IDLE idle keep-alive connections from 127.0.1.1-200"
stop_pid "$NGINX_PID"
nginx_start 16384
sleep 1
idle() {   # idle PORT NAME PIDS...: sets IDLE_<NAME> "before after open"
	local port=$1 name=$2 before after st; shift 2
	before=$(rss_kib "$@")
	rm -f "$WORK/idle.status" "$WORK/idle.status.stop"
	$NC idle 127.0.0.1 "$port" "$IDLE" 127.0.1 300 "$WORK/idle.status" >"$WORK/idle.out" 2>&1 &
	LOAD_PID=$!
	for _ in $(seq 1 3000); do [ -s "$WORK/idle.status" ] && break; sleep 0.1; done
	sleep 2
	after=$(rss_kib "$@")
	st=$(cat "$WORK/idle.status" 2>/dev/null || echo none)
	touch "$WORK/idle.status.stop"
	wait "$LOAD_PID" 2>/dev/null || true
	LOAD_PID=
	say "   $name: VmRSS $((before / 1024)) MiB before, $((after / 1024)) MiB with them ($st): $(( (after - before) * 1024 / IDLE )) bytes each"
	printf -v "IDLE_$name" '%s %s %s' "$before" "$after" "$(field open "$st")"
}
sleep 2
idle "$RPORT" raind "$RAIND_PID"
idle "$NPORT" nginx $(nginx_pids)

# ---------------------------------------------------------------- summary
say ""
say "== summary (raind / nginx)"
for name in raind nginx; do
	b=BASE_$name s=STORM_$name
	printf '   %-6s storm: %s of %s probes ok, p50 %s ms, p99 %s ms (without: %s of %s, p50 %s ms)\n' "$name" \
		"$(field ok "${!s}")" "$(( $(field ok "${!s}") + $(field fail "${!s}") ))" \
		"$(field p50_ms "${!s}")" "$(field p99_ms "${!s}")" \
		"$(field ok "${!b}")" "$(( $(field ok "${!b}") + $(field fail "${!b}") ))" "$(field p50_ms "${!b}")"
done
printf '   storm success ratio:   %s\n' "$(ratio "$(field ok "$STORM_raind")" "$(field ok "$STORM_nginx")")"
printf '   storm p50 ratio:       %s\n' "$(ratio "$(field p50_ms "$STORM_raind")" "$(field p50_ms "$STORM_nginx")")"
read -r rb ra ro <<<"$IDLE_raind"
read -r nb na no <<<"$IDLE_nginx"
printf '   idle: raind %s MiB -> %s MiB for %s connections (%s KiB each); nginx %s MiB -> %s MiB for %s (%s KiB each)\n' \
	"$((rb / 1024))" "$((ra / 1024))" "$ro" "$(awk -v a="$ra" -v b="$rb" -v n="$ro" 'BEGIN { printf "%.1f", n ? (a - b) / n : 0 }')" \
	"$((nb / 1024))" "$((na / 1024))" "$no" "$(awk -v a="$na" -v b="$nb" -v n="$no" 'BEGIN { printf "%.1f", n ? (a - b) / n : 0 }')"
printf '   idle memory ratio (growth): %s\n' "$(ratio "$((ra - rb))" "$((na - nb))")"
