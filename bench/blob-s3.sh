#!/usr/bin/env bash
# raind on the S3 blob backend against s3cmd straight to the same store
# (issue 14), in one run, on a real Swift with s3api (tests/integration/
# lib.sh's swift_start, on this machine's loopback).
#
#   bench/blob-s3.sh [--quick]
#
# 1. Per round, interleaved: s3cmd put of a 1 GiB file (8 MiB parts, as
#    raind's), raind's PUT of the same file (an image on the s3: store,
#    part_size=8M; raind answers once the blob is under its content
#    address), s3cmd get, raind's GET; the image and the object are
#    deleted after each round (identical data would be stored once).
#    MiB/s, and raind's throughput as a ratio of s3cmd's (goal >= 0.9).
# 2. 16 concurrent downloads of a 256 MiB image through raind, each
#    piped through sha256sum and compared with the image's hash: failures
#    (goal 0), wall time and total MiB/s.
# --quick: 256 MiB and 4 concurrent downloads of 64 MiB, 1 round.
# Environment: RUNS (rounds, default 2), BUILD (default build-release: a
# release build of the work tree, made when missing).
set -uo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
QUICK=0
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "blob-s3.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
	esac
done
if [ "$QUICK" = 1 ]; then
	SIZE_MIB=256 CONC=4 CONC_MIB=64 RUNS=${RUNS:-1}
else
	SIZE_MIB=1024 CONC=16 CONC_MIB=256 RUNS=${RUNS:-2}
fi
export BUILD=${BUILD:-build-release}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
if [ ! -x "$BUILD/src/daemon/raind" ]; then
	(cd "$TOP" && meson setup "$BUILD" -Dbuildtype=release >/dev/null && ninja -C "$BUILD" >/dev/null) ||
		{ echo "blob-s3.sh: cannot build $BUILD" >&2; exit 1; }
fi
# lib.sh: swift_start, raind_start, s3cmd_cli and a scratch $TMP removed at exit
. "$TOP/tests/integration/lib.sh"

now() { date +%s.%N; }
mibs() { python3 -c "import sys; print('%.1f' % ($1 / ($3 - $2)))"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

swift_start || exit 1
umask 077
printf 'access_key = test:tester\nsecret_key = testing\n' >"$TMP/s3.cred"
umask 022
printf '[storage]\nblobs = s3://%s/rain-bench?credentials=%s/s3.cred&tls=no&part_size=8M\n' \
	"$SWIFT_HOSTPORT" "$TMP" >"$TMP/raind.conf"
raind_start -c "$TMP/raind.conf" || exit 1
s3cmd_cli mb s3://s3cmd-bench >/dev/null

head -c $((SIZE_MIB << 20)) /dev/urandom >"$TMP/img"
SHA=$(sha256sum "$TMP/img" | cut -c1-64)
echo "# $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $SIZE_MIB MiB, $RUNS round(s); raind: $BUILD"
printf '%-6s %12s %12s %12s %12s\n' round s3cmd-put raind-put s3cmd-get raind-get
sum_sp=0 sum_rp=0 sum_sg=0 sum_rg=0
for round in $(seq 1 "$RUNS"); do
	t0=$(now)
	s3cmd_cli put --multipart-chunk-size-mb=8 "$TMP/img" s3://s3cmd-bench/img >/dev/null 2>&1 ||
		echo "# s3cmd put failed"
	t1=$(now)
	id=$(create_image "bench-$round")
	st=$(upload "$id" "$TMP/img")
	t2=$(now)
	[ "$st" = 204 ] || echo "# raind PUT answered $st"
	s3cmd_cli get --force s3://s3cmd-bench/img "$TMP/back" >/dev/null 2>&1 || echo "# s3cmd get failed"
	t3=$(now)
	got=$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$id/file" | sha256sum | cut -c1-64)
	t4=$(now)
	[ "$got" = "$SHA" ] || echo "# raind GET returned other data"
	[ "$(sha256sum <"$TMP/back" | cut -c1-64)" = "$SHA" ] || echo "# s3cmd get returned other data"
	rm -f "$TMP/back"
	sp=$(mibs "$SIZE_MIB" "$t0" "$t1") rp=$(mibs "$SIZE_MIB" "$t1" "$t2")
	sg=$(mibs "$SIZE_MIB" "$t2" "$t3") rg=$(mibs "$SIZE_MIB" "$t3" "$t4")
	printf '%-6s %9s MiB/s %6s MiB/s %6s MiB/s %6s MiB/s\n' "$round" "$sp" "$rp" "$sg" "$rg" |
		sed 's/ MiB\/s/M\/s/g'
	sum_sp=$(python3 -c "print($sum_sp + $sp)") sum_rp=$(python3 -c "print($sum_rp + $rp)")
	sum_sg=$(python3 -c "print($sum_sg + $sg)") sum_rg=$(python3 -c "print($sum_rg + $rg)")
	curl -sS -X DELETE -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$id" >/dev/null
	s3cmd_cli del s3://s3cmd-bench/img >/dev/null 2>&1
done
echo "upload:   raind $(ratio "$sum_rp" "$sum_sp") x s3cmd's throughput (goal >= 0.9)"
echo "download: raind $(ratio "$sum_rg" "$sum_sg") x s3cmd's throughput (goal >= 0.9)"

# concurrent downloads, every checksum verified
head -c $((CONC_MIB << 20)) /dev/urandom >"$TMP/img"
SHA=$(sha256sum "$TMP/img" | cut -c1-64)
id=$(create_image conc)
st=$(upload "$id" "$TMP/img")
[ "$st" = 204 ] || echo "# raind PUT answered $st"
t0=$(now)
pids=
for i in $(seq 1 "$CONC"); do
	(curl -sS --max-time 600 -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$id/file" |
		sha256sum | cut -c1-64 >"$TMP/conc.$i") &
	pids="$pids $!"
done
for p in $pids; do wait "$p"; done
t1=$(now)
fails=0
for i in $(seq 1 "$CONC"); do
	[ "$(cat "$TMP/conc.$i")" = "$SHA" ] || fails=$((fails + 1))
done
echo "concurrent: $CONC downloads of $CONC_MIB MiB, $fails failed (goal 0), $(python3 -c "print('%.1f' % ($t1 - $t0))") s, $(mibs $((CONC * CONC_MIB)) "$t0" "$t1") MiB/s in all"
raind_stop
