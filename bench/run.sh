#!/usr/bin/env bash
# Benchmark raind against nginx on this machine, in one run.
#
#   bench/run.sh [--quick]
#
# 1. 1 GiB upload: raind PUT /v2/images/{id}/file (raind fsyncs before it
#    answers) vs nginx WebDAV PUT followed by an fsync of the written file.
# 2. 1 GiB download (warm page cache): raind GET .../file vs nginx GET.
# 3. raind peak VmRSS (sampled every 50 ms) during the uploads and downloads.
# 4. wrk, 8 keep-alive connections: GET /v2/images/{id} and
#    GET /v2/images?limit=25 vs nginx serving the same JSON as static files.
# 5. 10,000 creates through the API, then the latency of filtered lists.
#
# --quick: 256 MiB, 2,000 images, wrk 5 s. Environment: BUILD (a meson build
# directory; default build/, or build-bench/ when build/ is not an optimized,
# sanitizer-free build), TMPDIR (scratch space, default /var/tmp so that the
# fsyncs hit a disk, not a tmpfs), RUNS (default 3).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
PY="python3 $HERE/benchlib.py"

QUICK=0
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	-h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
	esac
done
if [ "$QUICK" = 1 ]; then
	SIZE_MIB=256 NIMAGES=2000 WRK_SECS=5
else
	SIZE_MIB=1024 NIMAGES=10000 WRK_SECS=10
fi
RUNS=${RUNS:-3}
NMETA=100          # images in the catalog for the wrk list test
NLAT=200           # requests per latency measurement
CREATE_THREADS=4
SIZE_BYTES=$((SIZE_MIB * 1024 * 1024))
if [ "$SIZE_MIB" -ge 1024 ]; then SIZE_LABEL="$((SIZE_MIB / 1024)) GiB"; else SIZE_LABEL="$SIZE_MIB MiB"; fi

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 1; }
for tool in curl wrk nginx python3 meson ninja; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

# ---------------------------------------------------------------- build
# An optimized build without sanitizers: build/ if it is one, else build-bench/.
build_ok() {
	python3 - "$1/meson-info/intro-buildoptions.json" <<'EOF'
import json, sys
try:
    opts = {o["name"]: o["value"] for o in json.load(open(sys.argv[1]))}
except (OSError, ValueError):
    sys.exit(1)
san = opts.get("b_sanitize", "none")
ok = opts.get("buildtype") in ("debugoptimized", "release") and san in ("none", [], "")
sys.exit(0 if ok else 1)
EOF
}
if [ -n "${BUILD:-}" ]; then
	case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
	[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$TOP" --buildtype=debugoptimized -Db_sanitize=none >&2
	build_ok "$BUILD" || die "$BUILD is not an optimized build without sanitizers"
elif [ ! -f "$TOP/build/build.ninja" ]; then
	BUILD=$TOP/build
	meson setup "$BUILD" "$TOP" --buildtype=debugoptimized -Db_sanitize=none >&2
elif build_ok "$TOP/build"; then
	BUILD=$TOP/build
else
	BUILD=$TOP/build-bench
	say "build/ is not an optimized sanitizer-free build; using build-bench/"
	[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$TOP" --buildtype=debugoptimized -Db_sanitize=none >&2
fi
say "== building raind in ${BUILD#"$TOP"/}"
ninja -C "$BUILD" src/daemon/raind >&2 || die "the build failed"
RAIND=$BUILD/src/daemon/raind

# ---------------------------------------------------------------- scratch + cleanup
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-bench.XXXXXX")
RAIND_PID='' NGINX_PID='' SAMPLER_PID=''
stop_pid() {   # stop_pid PID: TERM, wait up to 5 s, then KILL
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	trap - EXIT INT TERM
	stop_pid "$SAMPLER_PID"
	stop_pid "$NGINX_PID"
	stop_pid "$RAIND_PID"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(loadavg)

# ---------------------------------------------------------------- helpers
mibps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1048576 / s }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
start_sampler() { $PY rss "$RAIND_PID" "$1" 50 & SAMPLER_PID=$!; }
stop_sampler() { stop_pid "$SAMPLER_PID"; SAMPLER_PID=; }
rss_mib() { awk '{ printf "%.1f", $1 / 1024 }' "$1"; }

# ---------------------------------------------------------------- raind
mkdir -p "$WORK/raind"
"$RAIND" --data-dir "$WORK/raind" --listen 127.0.0.1:0 --port-file "$WORK/raind.port" \
	>"$WORK/raind.log" 2>&1 &
RAIND_PID=$!
for _ in $(seq 1 200); do
	[ -s "$WORK/raind.port" ] && break
	kill -0 "$RAIND_PID" 2>/dev/null || break
	sleep 0.05
done
[ -s "$WORK/raind.port" ] || { cat "$WORK/raind.log" >&2; die "raind did not start"; }
URL=http://127.0.0.1:$(cat "$WORK/raind.port")
TOKEN=$(cat "$WORK/raind/admin-token")
AUTH="X-Auth-Token: $TOKEN"

create_image() {   # create_image NAME: prints the id
	curl -sS -f -X POST -H "$AUTH" -H 'Content-Type: application/json' \
		-d "{\"name\":\"$1\",\"disk_format\":\"raw\",\"container_format\":\"bare\"}" \
		"$URL/v2/images" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

# ---------------------------------------------------------------- nginx
NGX=$WORK/nginx
WWW=$NGX/www
mkdir -p "$NGX/body" "$NGX/proxy" "$NGX/fastcgi" "$NGX/uwsgi" "$NGX/scgi" "$WWW/dav"
NPORT=$($PY freeport)
NURL=http://127.0.0.1:$NPORT
USER_LINE=
[ "$(id -u)" = 0 ] && USER_LINE="user root;"
cat >"$NGX/nginx.conf" <<EOF
$USER_LINE
worker_processes auto;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 1024; }
http {
	types { application/json json; }
	default_type application/octet-stream;
	access_log $NGX/access.log;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000000;
	keepalive_timeout 300s;
	client_max_body_size 0;
	client_body_temp_path $NGX/body;
	proxy_temp_path $NGX/proxy;
	fastcgi_temp_path $NGX/fastcgi;
	uwsgi_temp_path $NGX/uwsgi;
	scgi_temp_path $NGX/scgi;
	server {
		listen 127.0.0.1:$NPORT;
		root $WWW;
		location /dav/ {
			dav_methods PUT;
			create_full_put_path on;
		}
	}
}
EOF
nginx -e "$NGX/error.log" -p "$NGX" -c "$NGX/nginx.conf" -g 'daemon off;' >"$NGX/stdout.log" 2>&1 &
NGINX_PID=$!
for _ in $(seq 1 100); do
	curl -s -o /dev/null "$NURL/" && break
	kill -0 "$NGINX_PID" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$NGINX_PID" 2>/dev/null || { cat "$NGX/error.log" "$NGX/stdout.log" >&2; die "nginx did not start"; }

say "== raind $URL (pid $RAIND_PID), nginx $NURL (pid $NGINX_PID), scratch $WORK"
say "== load average at start: $LOAD_START (2 cores: other work on the machine makes numbers noisy)"

# ---------------------------------------------------------------- 1. upload
SRC=$WORK/source.bin
say "== making a $SIZE_LABEL file from /dev/urandom"
head -c "$SIZE_BYTES" /dev/urandom >"$SRC"
cat "$SRC" >/dev/null   # in the page cache for every upload
sync

UP_R=() UP_N=() IDS=()
say "== 1. upload $SIZE_LABEL, $RUNS runs (raind PUT vs nginx WebDAV PUT + fsync)"
start_sampler "$WORK/rss-upload"
cpu0=$(cpu_ticks "$RAIND_PID")
for i in $(seq 1 "$RUNS"); do
	id=$(create_image "bench-upload-$i")
	IDS+=("$id")
	for who in raind nginx; do
		# alternate the order between runs so that drift hurts both alike
		[ $((i % 2)) = 0 ] && who=$([ "$who" = raind ] && echo nginx || echo raind)
		sync
		if [ "$who" = raind ]; then
			t0=$EPOCHREALTIME
			code=$(curl -sS -o "$WORK/up.out" -w '%{http_code}' -X PUT -H "$AUTH" \
				-H 'Content-Type: application/octet-stream' -T "$SRC" "$URL/v2/images/$id/file")
			t1=$EPOCHREALTIME
			[ "$code" = 204 ] || { cat "$WORK/up.out" >&2; die "raind upload: HTTP $code"; }
			UP_R+=("$(mibps "$SIZE_BYTES" "$(elapsed "$t0" "$t1")")")
			say "   run $i raind  $(elapsed "$t0" "$t1") s  ${UP_R[-1]} MiB/s"
		else
			t0=$EPOCHREALTIME
			code=$(curl -sS -o "$WORK/up.out" -w '%{http_code}' -X PUT \
				-H 'Content-Type: application/octet-stream' -T "$SRC" "$NURL/dav/image.bin")
			sync "$WWW/dav/image.bin"   # fsync(2) of the file, as raind does
			t1=$EPOCHREALTIME
			case $code in 201|204) ;; *) cat "$WORK/up.out" >&2; die "nginx PUT: HTTP $code" ;; esac
			UP_N+=("$(mibps "$SIZE_BYTES" "$(elapsed "$t0" "$t1")")")
			say "   run $i nginx  $(elapsed "$t0" "$t1") s  ${UP_N[-1]} MiB/s"
		fi
	done
done
cpu1=$(cpu_ticks "$RAIND_PID")
stop_sampler
RSS_UP=$(rss_mib "$WORK/rss-upload")
CPU_UP=$(awk -v a="$cpu0" -v b="$cpu1" -v r="$RUNS" -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / t / r }')
say "   raind CPU per upload: $CPU_UP s; peak RSS $RSS_UP MiB"
[ "$(stat -c %s "$WWW/dav/image.bin")" = "$SIZE_BYTES" ] || die "nginx stored a file of the wrong size"

# ---------------------------------------------------------------- 2. download
DL_R=() DL_N=()
ID=${IDS[0]}
say "== 2. download $SIZE_LABEL, warm cache, $RUNS runs (raind GET vs nginx GET)"
get() {   # get URL [CURL ARGS]: prints "CODE BYTES SECONDS"
	local u=$1 t0 t1 out; shift
	t0=$EPOCHREALTIME
	out=$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' "$@" "$u")
	t1=$EPOCHREALTIME
	echo "$out $(elapsed "$t0" "$t1")"
}
check_get() {   # check_get WHO "CODE BYTES SECONDS"
	local code bytes
	read -r code bytes _ <<<"$2"
	if [ "$code" != 200 ] || [ "$bytes" != "$SIZE_BYTES" ]; then
		die "$1 download: HTTP $code, $bytes bytes"
	fi
}
check_get raind "$(get "$URL/v2/images/$ID/file" -H "$AUTH")"   # warm-up
check_get nginx "$(get "$NURL/dav/image.bin")"
start_sampler "$WORK/rss-download"
cpu0=$(cpu_ticks "$RAIND_PID")
for i in $(seq 1 "$RUNS"); do
	for who in raind nginx; do
		[ $((i % 2)) = 0 ] && who=$([ "$who" = raind ] && echo nginx || echo raind)
		if [ "$who" = raind ]; then
			res=$(get "$URL/v2/images/$ID/file" -H "$AUTH")
			check_get raind "$res"
			DL_R+=("$(mibps "$SIZE_BYTES" "${res##* }")")
			say "   run $i raind  ${res##* } s  ${DL_R[-1]} MiB/s"
		else
			res=$(get "$NURL/dav/image.bin")
			check_get nginx "$res"
			DL_N+=("$(mibps "$SIZE_BYTES" "${res##* }")")
			say "   run $i nginx  ${res##* } s  ${DL_N[-1]} MiB/s"
		fi
	done
done
cpu1=$(cpu_ticks "$RAIND_PID")
stop_sampler
RSS_DL=$(rss_mib "$WORK/rss-download")
CPU_DL=$(awk -v a="$cpu0" -v b="$cpu1" -v r="$RUNS" -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / t / r }')
say "   raind CPU per download: $CPU_DL s; peak RSS $RSS_DL MiB"

# ---------------------------------------------------------------- 4. metadata (wrk)
say "== 4. metadata: $NMETA more images, then wrk -t2 -c8 -d${WRK_SECS}s"
$PY create "$URL" "$TOKEN" "$NMETA" "$CREATE_THREADS" meta >/dev/null || die "creating $NMETA images failed"
curl -sS -f -H "$AUTH" "$URL/v2/images/$ID" -o "$WWW/image.json"
curl -sS -f -H "$AUTH" "$URL/v2/images?limit=25" -o "$WWW/list.json"
ONE_BYTES=$(stat -c %s "$WWW/image.json")
LIST_BYTES=$(stat -c %s "$WWW/list.json")
wrk_rps() {   # wrk_rps URL [WRK ARGS]: prints requests/s (dies on non-2xx answers)
	local u=$1 out; shift
	out=$(wrk -t2 -c8 -d"${WRK_SECS}s" "$@" "$u") || die "wrk $u failed"
	if grep -q 'Non-2xx' <<<"$out"; then say "$out"; die "wrk $u: non-2xx answers"; fi
	awk '/^Requests\/sec:/ { print $2 }' <<<"$out"
}
RPS_ONE_R=$(wrk_rps "$URL/v2/images/$ID" -H "$AUTH")
say "   raind GET /v2/images/{id}        $RPS_ONE_R req/s ($ONE_BYTES bytes)"
RPS_ONE_N=$(wrk_rps "$NURL/image.json")
say "   nginx GET /image.json            $RPS_ONE_N req/s"
RPS_LIST_R=$(wrk_rps "$URL/v2/images?limit=25" -H "$AUTH")
say "   raind GET /v2/images?limit=25    $RPS_LIST_R req/s ($LIST_BYTES bytes)"
RPS_LIST_N=$(wrk_rps "$NURL/list.json")
say "   nginx GET /list.json             $RPS_LIST_N req/s"

# ---------------------------------------------------------------- 5. many images, filtered lists
say "== 5. creating $NIMAGES images ($CREATE_THREADS keep-alive connections)"
read -r CREATE_S _ < <($PY create "$URL" "$TOKEN" "$NIMAGES" "$CREATE_THREADS" bulk) ||
	die "creating $NIMAGES images failed"
CREATE_RATE=$(awk -v n="$NIMAGES" -v s="$CREATE_S" 'BEGIN { printf "%.0f", n / s }')
GLANCE_RATE=22   # 1,000 creates one by one in 45 s (design/PRODUCT.md)
say "   $NIMAGES creates in $CREATE_S s ($CREATE_RATE/s)"
TOTAL=$((RUNS + NMETA + NIMAGES))
latency() {   # latency NAME PATH: sets NAME_MED NAME_P95 NAME_N
	local med p95 n
	read -r med p95 n < <($PY latency "$URL" "$TOKEN" "$NLAT" "$2") || die "GET $2 failed"
	printf -v "${1}_MED" '%s' "$med"
	printf -v "${1}_P95" '%s' "$p95"
	printf -v "${1}_N" '%s' "$n"
	say "   GET $2: median $med ms, p95 $p95 ms ($n images)"
}
say "== 5. list latency over $TOTAL images, $NLAT requests each, one keep-alive connection"
latency DISTRO '/v2/images?os_distro=rocky&limit=25'
latency XB '/v2/images?x_bench=value-1234'
latency ALL '/v2/images?limit=25'
[ "$XB_N" = 1 ] || say "   warning: x_bench=value-1234 matched $XB_N images, expected 1"

LOAD_END=$(loadavg)

# ---------------------------------------------------------------- summary
UP_RM=$(median "${UP_R[@]}") UP_NM=$(median "${UP_N[@]}")
DL_RM=$(median "${DL_R[@]}") DL_NM=$(median "${DL_N[@]}")
row() { printf '%-34s %-13s %-13s %-7s %s\n' "$@"; }
echo
echo "rain benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, raind $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$TOP" diff --quiet HEAD -- src include 2>/dev/null || echo '+dirty'), build ${BUILD#"$TOP"/}"
echo "median of $RUNS runs for MiB/s; load average start $LOAD_START, end $LOAD_END"
if awk -v a="${LOAD_START%% *}" -v b="${LOAD_END%% *}" -v n="$(nproc)" 'BEGIN { exit !(a > n - 0.5 || b > n + 1) }'; then
	echo "warning: the machine was busy (load average above its $(nproc) cores, counting this"
	echo "benchmark's own processes); other work competes for CPU and disk, so the numbers are noisy"
fi
echo
row metric raind peer ratio goal
row "upload $SIZE_LABEL (MiB/s)" "$UP_RM" "$UP_NM" "$(ratio "$UP_RM" "$UP_NM")" ">= 0.8 x nginx PUT+fsync"
row "download $SIZE_LABEL (MiB/s)" "$DL_RM" "$DL_NM" "$(ratio "$DL_RM" "$DL_NM")" ">= 0.9 x nginx GET (warm)"
row "raind peak RSS upload (MiB)" "$RSS_UP" "-" "-" "< 64 MiB"
row "raind peak RSS download (MiB)" "$RSS_DL" "-" "-" "< 64 MiB"
row "GET one image (req/s)" "$RPS_ONE_R" "$RPS_ONE_N" "$(ratio "$RPS_ONE_R" "$RPS_ONE_N")" ">= 10000 req/s (peer: nginx static ${ONE_BYTES} B)"
row "GET ?limit=25 (req/s)" "$RPS_LIST_R" "$RPS_LIST_N" "$(ratio "$RPS_LIST_R" "$RPS_LIST_N")" "(peer: nginx static ${LIST_BYTES} B)"
row "create $NIMAGES images (s)" "$CREATE_S" "-" "-" "(Glance: 1,000 in 45 s)"
row "creates/s" "$CREATE_RATE" "$GLANCE_RATE" "$(ratio "$CREATE_RATE" "$GLANCE_RATE")" "(peer: Glance, PRODUCT.md)"
row "?os_distro=rocky&limit=25 med (ms)" "$DISTRO_MED" "-" "-" "< 5 ms ($TOTAL images)"
row "?os_distro=rocky&limit=25 p95 (ms)" "$DISTRO_P95" "-" "-" ""
row "?x_bench=value-1234 med (ms)" "$XB_MED" "-" "-" "< 5 ms"
row "?x_bench=value-1234 p95 (ms)" "$XB_P95" "-" "-" ""
row "?limit=25 (no filter) med (ms)" "$ALL_MED" "-" "-" "(reference)"
row "?limit=25 (no filter) p95 (ms)" "$ALL_P95" "-" "-" ""
echo
echo "runs: upload raind ${UP_R[*]} / nginx ${UP_N[*]}; download raind ${DL_R[*]} / nginx ${DL_N[*]} (MiB/s)"
echo "raind CPU time per upload $CPU_UP s, per download $CPU_DL s"
