#!/bin/bash
# A multi-GiB image (a sparse file with a few random blocks) goes through
# PUT and GET intact, and raind streams it: its resident memory stays small
# during the upload and the download; the stored blob is sparse too.
source "$(dirname "$0")/lib.sh"

GIB=$((1024 * 1024 * 1024))
SIZE_GIB=${BIG_GIB:-3}
SIZE=$((SIZE_GIB * GIB))
# what raind's resident memory may grow by while it streams the image (its
# idle size depends on the worker threads and the sanitizers, not on this)
RSS_GROWTH_KB=$((32 * 1024))

avail=$(df --output=avail -B1 "$TMP" | tail -n 1 | tr -d ' ')
if [ "${avail:-0}" -lt $((8 * GIB)) ]; then
	skip "big sparse image round trip" "only $((avail / GIB)) GiB free in $TMP, 8 needed"
	test_done
fi

raind_start || { not_ok "raind starts"; test_done; }
ok "raind starts"

field() { curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$1" | json_get "$2"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$RAIND_PID/status" 2>/dev/null; }
# watch_rss PID-OF-CLIENT: max VmRSS of raind (kB) while the client runs
watch_rss() {
	local max=0 r
	while kill -0 "$1" 2>/dev/null; do
		r=$(rss_kb)
		[ -n "$r" ] && [ "$r" -gt "$max" ] && max=$r
		sleep 0.2
	done
	echo "$max"
}
# judge_rss WHAT MAX_KB
judge_rss() {
	check "raind's RSS grew by less than 32 MiB during the $1 (idle $((BASE / 1024)) MiB, max $(($2 / 1024)) MiB)" \
		test "$2" -gt 0 -a $(($2 - BASE)) -lt "$RSS_GROWTH_KB"
}

# --- the sparse file -----------------------------------------------------------
F=$TMP/big.raw
truncate -s "$SIZE" "$F"
OFFS=(0 1 777 $((SIZE / 4096 / 2 + 3)) $((SIZE / 4096 - 256)))   # in 4 KiB blocks
for o in "${OFFS[@]}"; do
	dd if=/dev/urandom of="$F" bs=4096 seek="$o" count=256 conv=notrunc status=none
done
check_eq "the sparse file is $SIZE_GIB GiB" "$SIZE" "$(stat -c %s "$F")"
SUM=$(sha256sum "$F" | cut -d' ' -f1)

ID=$(create_image big)
BASE=$(rss_kb)
echo "# idle RSS: $((BASE / 1024)) MiB"
start=$(date +%s)
curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOKEN" \
	-H 'Content-Type: application/octet-stream' -T "$F" "$URL/v2/images/$ID/file" >"$TMP/put.status" &
CURL=$!
MAX=$(watch_rss "$CURL")
wait "$CURL"
echo "# upload took $(( $(date +%s) - start ))s"
check_eq "PUT of $SIZE_GIB GiB is 204" 204 "$(cat "$TMP/put.status")"
judge_rss upload "$MAX"

call GET "/v2/images/$ID"
check_json "the image is active with size $SIZE" "j['status'] == 'active' and j['size'] == $SIZE and j['virtual_size'] == $SIZE"
check_json "os_hash_value is the file's SHA-256" "j['os_hash_value'] == '$SUM'"
BLOB=$(find "$DATA/blobs/sha256" -type f -name "$SUM")
check_eq "the blob has the image's size" "$SIZE" "$(stat -c %s "${BLOB:-/dev/null}" 2>/dev/null)"
check "and is stored sparse: the blocks of zeros take no space (at most 8 MiB allocated for 5 MiB of data)" \
	test "$(du -k "${BLOB:-/dev/null}" | cut -f1)" -le 8192

start=$(date +%s)
curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$ID/file" | sha256sum | cut -d' ' -f1 >"$TMP/get.sum" &
CURL=$!
MAX=$(watch_rss "$CURL")
wait "$CURL"
echo "# download took $(( $(date +%s) - start ))s"
check_eq "the streamed download has the same SHA-256" "$SUM" "$(cat "$TMP/get.sum")"
judge_rss download "$MAX"

# ranges deep inside the file, at the random blocks
o=${OFFS[3]}
a=$((o * 4096 + 100))
b=$((a + 300000))
want=$(dd if="$F" bs=4096 skip="$o" count=256 status=none | tail -c +101 | head -c 300001 | sha256sum | cut -d' ' -f1)
got=$(curl -sS -H "X-Auth-Token: $TOKEN" -H "Range: bytes=$a-$b" "$URL/v2/images/$ID/file" | sha256sum | cut -d' ' -f1)
check_eq "a range past 1 GiB has the right bytes" "$want" "$got"
want=$(tail -c 1048576 "$F" | sha256sum | cut -d' ' -f1)
got=$(curl -sS -H "X-Auth-Token: $TOKEN" -H 'Range: bytes=-1048576' "$URL/v2/images/$ID/file" | sha256sum | cut -d' ' -f1)
check_eq "the last MiB (suffix range) has the right bytes" "$want" "$got"
hdr=$(curl -sS -D - -o /dev/null -H "X-Auth-Token: $TOKEN" -H "Range: bytes=$((SIZE - 10))-" "$URL/v2/images/$ID/file")
check "Content-Range of the last 10 bytes names the full size" grep -qi "^Content-Range: bytes $((SIZE - 10))-$((SIZE - 1))/$SIZE" <<<"$hdr"

call DELETE "/v2/images/$ID"
check_status "DELETE of the big image is 204" 204
check "its blob is gone" test -z "$(find "$DATA/blobs/sha256" -type f)"
check "raind is still healthy" raind_healthy
raind_stop
test_done
