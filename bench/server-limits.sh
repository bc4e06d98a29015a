#!/usr/bin/env bash
# One raind's own limits (issue 14, item 5), before and after, in one run.
#
#   bench/server-limits.sh [--quick] [OLD_REV]
#
# Builds OLD_REV (default: the parent of the first commit of item 5a, "issue
# 14, item 5a") from `git archive` in a scratch folder and the work tree in
# build-release/ (release builds, as bench/generate-compare.sh), and starts
# a raind of each, side by side.
# 1. Metadata: 100 images with two properties each in each raind; wrk -t2
#    -c8 on GET /v2/images/{id} and GET /v2/images?limit=25, old and new
#    interleaved per round; requests/s.
# 2. Upload throughput on the same disk, per round: `dd bs=1M conv=fsync`
#    of the file, `openssl dgst -sha256` of the file (hashing it, in the
#    page cache), the old raind's PUT and the new raind's PUT (raind fsyncs
#    before it answers); MiB/s and raind's CPU seconds per GiB. Done on
#    TMPDIR (default /var/tmp, a disk) and on /dev/shm (tmpfs: there the
#    disk is memory and the hash is the slower part), each raind with its
#    data folder on that file system. `openssl speed -evp sha256` (1 MiB
#    blocks) is printed once for reference.
# Goal (issue 14): an upload >= 0.8 x the slower of SHA-256 and dd.
# --quick: 256 MiB, wrk 5 s, 2 rounds. Environment: RUNS (rounds, default
# 3), TMPDIR, BUILD (a release build of the work tree, default build-release),
# OLD_RAIND (a raind built from OLD_REV already: no build of the old one).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
PY="python3 $HERE/benchlib.py"
cd "$TOP"

QUICK=0 OLD=
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	-h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "server-limits.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
	*) OLD=$arg ;;
	esac
done
if [ "$QUICK" = 1 ]; then
	SIZE_MIB=256 WRK_SECS=5 RUNS=${RUNS:-2}
else
	SIZE_MIB=1024 WRK_SECS=10 RUNS=${RUNS:-3}
fi
SIZE_BYTES=$((SIZE_MIB * 1048576))
NMETA=100

say() { printf '%s\n' "$*" >&2; }
die() { say "server-limits.sh: $*"; exit 1; }
for tool in curl wrk openssl dd python3 meson ninja git; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

if [ -z "$OLD" ]; then
	first=$(git log --reverse --format=%H --grep='issue 14, item 5a' | sed -n 1p)
	[ -n "$first" ] || die "no commit of issue 14 item 5a: name the old revision"
	OLD=$first^
fi
OLD=$(git rev-parse --short=10 "$OLD")
NEW="$(git rev-parse --short=10 HEAD)$(git diff --quiet HEAD -- src include || echo +changes)"

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-limits.XXXXXX")
SHM=$(mktemp -d /dev/shm/rain-limits.XXXXXX)
PIDS=()
cleanup() {
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

BUILD=${BUILD:-build-release}
say "== building $OLD (old) in $WORK and the work tree ($NEW) in $BUILD"
if [ -z "${OLD_RAIND:-}" ]; then
	mkdir -p "$WORK/old-src"
	git archive "$OLD" | tar -x -C "$WORK/old-src"
	meson setup "$WORK/old-build" "$WORK/old-src" -Dbuildtype=release >"$WORK/old-setup.log" 2>&1 &&
		ninja -C "$WORK/old-build" src/daemon/raind >"$WORK/old-ninja.log" 2>&1 ||
		{ tail -20 "$WORK/old-setup.log" "$WORK/old-ninja.log" >&2; die "$OLD does not build"; }
	OLD_RAIND=$WORK/old-build/src/daemon/raind
fi
[ -d "$BUILD" ] || meson setup "$BUILD" -Dbuildtype=release >/dev/null
ninja -C "$BUILD" src/daemon/raind >/dev/null || die "the work tree does not build"
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
declare -A RAIND=([old]=$OLD_RAIND [new]=$BUILD/src/daemon/raind)

# start NAME DIR: a raind with its data in DIR; sets URL_NAME, TOKEN_NAME, PID_NAME
start() {
	local name=$1 dir=$2
	mkdir -p "$dir"
	"${RAIND[${name%%-*}]}" --data-dir "$dir/data" --listen 127.0.0.1:0 --port-file "$dir/port" \
		>"$dir/raind.log" 2>&1 &
	PIDS+=($!)
	printf -v "PID_${name//-/_}" '%s' "$!"
	for _ in $(seq 1 200); do
		[ -s "$dir/port" ] && break
		sleep 0.05
	done
	[ -s "$dir/port" ] || { cat "$dir/raind.log" >&2; die "raind $name did not start"; }
	printf -v "URL_${name//-/_}" '%s' "http://127.0.0.1:$(cat "$dir/port")"
	printf -v "TOKEN_${name//-/_}" '%s' "$(cat "$dir/data/admin-token")"
}
var() { local v="${1}_${2//-/_}"; printf '%s' "${!v}"; }
create_image() {   # create_image NAME DESCRIPTION: prints the id
	curl -sS -f -X POST -H "X-Auth-Token: $(var TOKEN "$1")" -H 'Content-Type: application/json' \
		-d "{\"name\":\"$2\",\"disk_format\":\"raw\",\"container_format\":\"bare\",\"os_distro\":\"debian\",\"hw_disk_bus\":\"virtio\"}" \
		"$(var URL "$1")/v2/images" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
mibps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1048576 / s }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(loadavg)

start old "$WORK/old"
start new "$WORK/new"
start old-shm "$SHM/old"
start new-shm "$SHM/new"
say "== load average at start: $LOAD_START (2 cores shared with other work: numbers are noisy)"

# ---------------------------------------------------------------- 1. metadata
declare -A ONE LIST BYTES_ONE BYTES_LIST
for v in old new; do
	$PY create "$(var URL $v)" "$(var TOKEN $v)" "$NMETA" 4 meta >/dev/null || die "creating images in $v failed"
	ONE[$v]=$(create_image $v single)
	BYTES_ONE[$v]=$(curl -sS -H "X-Auth-Token: $(var TOKEN $v)" "$(var URL $v)/v2/images/${ONE[$v]}" | wc -c)
	BYTES_LIST[$v]=$(curl -sS -H "X-Auth-Token: $(var TOKEN $v)" "$(var URL $v)/v2/images?limit=25" | wc -c)
done
wrk_rps() {   # wrk_rps VERSION PATH: requests/s (dies on non-2xx answers)
	local out
	out=$(wrk -t2 -c8 -d"${WRK_SECS}s" -H "X-Auth-Token: $(var TOKEN "$1")" "$(var URL "$1")$2") ||
		die "wrk $2 failed"
	if grep -q 'Non-2xx' <<<"$out"; then say "$out"; die "wrk $1 $2: non-2xx answers"; fi
	awk '/^Requests\/sec:/ { print $2 }' <<<"$out"
}
declare -A R_ONE R_LIST
say "== 1. wrk -t2 -c8 -d${WRK_SECS}s, $RUNS rounds, old and new interleaved"
for i in $(seq 1 "$RUNS"); do
	for v in old new; do
		[ $((i % 2)) = 0 ] && v=$([ "$v" = old ] && echo new || echo old)
		r=$(wrk_rps "$v" "/v2/images/${ONE[$v]}")
		R_ONE[$v]="${R_ONE[$v]:-} $r"
		l=$(wrk_rps "$v" "/v2/images?limit=25")
		R_LIST[$v]="${R_LIST[$v]:-} $l"
		say "   round $i $v: single $r req/s, list of 25 $l req/s"
	done
done

# ---------------------------------------------------------------- 2. uploads
SRC=$WORK/source.bin
say "== 2. making a $SIZE_MIB MiB file from /dev/urandom"
head -c "$SIZE_BYTES" /dev/urandom >"$SRC"
cat "$SRC" >/dev/null
SPEED=$(openssl speed -seconds 3 -bytes 1048576 -evp sha256 2>/dev/null |
	awk '/^sha256/ { sub(/k$/, "", $2); printf "%.1f", $2 * 1000 / 1048576 }')
say "   openssl speed -evp sha256 (1 MiB blocks): $SPEED MiB/s"
declare -A UP CPU
for fs in disk shm; do
	if [ $fs = disk ]; then dir=$WORK; else dir=$SHM; fi
	for i in $(seq 1 "$RUNS"); do
		sync
		t0=$EPOCHREALTIME
		dd if="$SRC" of="$dir/dd.out" bs=1M conv=fsync status=none
		t1=$EPOCHREALTIME
		rm -f "$dir/dd.out"
		UP[dd-$fs]="${UP[dd-$fs]:-} $(mibps "$SIZE_BYTES" "$(elapsed "$t0" "$t1")")"
		t0=$EPOCHREALTIME
		openssl dgst -sha256 "$SRC" >/dev/null
		t1=$EPOCHREALTIME
		UP[sha-$fs]="${UP[sha-$fs]:-} $(mibps "$SIZE_BYTES" "$(elapsed "$t0" "$t1")")"
		for v in old new; do
			[ $((i % 2)) = 0 ] && v=$([ "$v" = old ] && echo new || echo old)
			name=$v; [ $fs = shm ] && name=$v-shm
			id=$(create_image "$name" "upload-$i")
			pid=$(var PID "$name")
			sync
			c0=$(cpu_ticks "$pid")
			t0=$EPOCHREALTIME
			code=$(curl -sS -o "$WORK/up.out" -w '%{http_code}' -X PUT -H "X-Auth-Token: $(var TOKEN "$name")" \
				-H 'Content-Type: application/octet-stream' -T "$SRC" "$(var URL "$name")/v2/images/$id/file")
			t1=$EPOCHREALTIME
			c1=$(cpu_ticks "$pid")
			[ "$code" = 204 ] || { cat "$WORK/up.out" >&2; die "$name upload: HTTP $code"; }
			UP[$v-$fs]="${UP[$v-$fs]:-} $(mibps "$SIZE_BYTES" "$(elapsed "$t0" "$t1")")"
			CPU[$v-$fs]="${CPU[$v-$fs]:-} $(awk -v c=$((c1 - c0)) -v t="$(getconf CLK_TCK)" -v b="$SIZE_BYTES" \
				'BEGIN { printf "%.2f", c / t / (b / 1073741824) }')"
			# the blob goes, so that the next round stores it anew
			curl -sS -o /dev/null -X DELETE -H "X-Auth-Token: $(var TOKEN "$name")" "$(var URL "$name")/v2/images/$id"
		done
		say "   round $i $fs: dd${UP[dd-$fs]##* } sha256${UP[sha-$fs]##* } old${UP[old-$fs]##* } new${UP[new-$fs]##* } MiB/s"
	done
done
LOAD_END=$(loadavg)

# ---------------------------------------------------------------- summary
echo "# bench/server-limits.sh: one raind's limits, old $OLD vs new $NEW, same run"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $LOAD_START at start, $LOAD_END at end"
echo "# medians of $RUNS rounds; wrk -t2 -c8 -d${WRK_SECS}s; $NMETA images with 2 properties each"
echo
printf '%-36s %12s %12s %8s\n' "metadata (requests/s)" old new new/old
for what in one list; do
	if [ $what = one ]; then
		label="GET /v2/images/{id} (${BYTES_ONE[new]} B)"
		o=$(median ${R_ONE[old]}) n=$(median ${R_ONE[new]})
	else
		label="GET /v2/images?limit=25 (${BYTES_LIST[new]} B)"
		o=$(median ${R_LIST[old]}) n=$(median ${R_LIST[new]})
	fi
	printf '%-36s %12s %12s %8s\n' "$label" "$o" "$n" "$(ratio "$n" "$o")"
	eval "MED_$what"_old="$o" "MED_$what"_new="$n"
done
printf '%-36s %12s %12s\n' "list of 25 / single" "$(ratio "$MED_list_old" "$MED_one_old")" \
	"$(ratio "$MED_list_new" "$MED_one_new")"
echo
echo "upload of $SIZE_MIB MiB (MiB/s; raind CPU s per GiB)  openssl speed -evp sha256: $SPEED MiB/s"
printf '%-8s %9s %9s %9s %9s %10s %10s %9s %9s\n' fs dd sha256 old new old-cpu new-cpu "new/slower" "old/slower"
for fs in disk shm; do
	dd=$(median ${UP[dd-$fs]}) sha=$(median ${UP[sha-$fs]})
	o=$(median ${UP[old-$fs]}) n=$(median ${UP[new-$fs]})
	slower=$(awk -v a="$dd" -v b="$sha" 'BEGIN { print (a < b) ? a : b }')
	printf '%-8s %9s %9s %9s %9s %10s %10s %9s %9s\n' "$fs" "$dd" "$sha" "$o" "$n" \
		"$(median ${CPU[old-$fs]})" "$(median ${CPU[new-$fs]})" "$(ratio "$n" "$slower")" "$(ratio "$o" "$slower")"
done
echo "# disk: TMPDIR (${TMPDIR:-/var/tmp}); shm: /dev/shm. Each round: dd, sha256, old and new (order alternating)."
echo "# per round (MiB/s):"
for k in dd-disk sha-disk old-disk new-disk dd-shm sha-shm old-shm new-shm; do
	echo "#   $k:${UP[$k]}"
done
