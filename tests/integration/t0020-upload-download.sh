#!/bin/bash
# Image data: upload and download round trips, chunked uploads, range
# requests, HEAD, state conflicts, content types, blob sharing between
# images with identical data, download counting.
source "$(dirname "$0")/lib.sh"

raind_start || { not_ok "raind starts"; test_done; }
ok "raind starts"

sha() { sha256sum "$1" | cut -d' ' -f1; }
blob_count() { find "$DATA/blobs/sha256" -mindepth 2 -maxdepth 2 -type f | wc -l; }
# status_field ID FIELD
field() { curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$1" | json_get "$2"; }

head -c 1048577 /dev/urandom >"$TMP/a.bin"     # 1 MiB + 1: not a round size
SIZE=$(stat -c %s "$TMP/a.bin")
SUM=$(sha "$TMP/a.bin")

# --- round trip --------------------------------------------------------------
A=$(create_image a)
check "image a created" test -n "$A"
check_eq "PUT /file is 204" 204 "$(upload "$A" "$TMP/a.bin")"
call GET "/v2/images/$A"
check_json "image a is active" 'j["status"] == "active"'
check_json "size is the file size" "j['size'] == $SIZE"
check_json "virtual_size of raw data is its size" "j['virtual_size'] == $SIZE"
check_json "os_hash_algo is sha256 and os_hash_value the file's SHA-256" \
	"j['os_hash_algo'] == 'sha256' and j['os_hash_value'] == '$SUM'"
check_json "checksum is null without md5_checksum" 'j["checksum"] is None'
curl -sS -D "$TMP/get.hdrs" -H "X-Auth-Token: $TOKEN" -o "$TMP/a.out" "$URL/v2/images/$A/file"
check "GET /file is 200" grep -q '^HTTP/1.1 200' "$TMP/get.hdrs"
check_eq "downloaded data has the same SHA-256" "$SUM" "$(sha "$TMP/a.out")"
check "Content-Type is application/octet-stream" grep -qi '^Content-Type: application/octet-stream' "$TMP/get.hdrs"
check "Content-Length is the size" grep -qi "^Content-Length: $SIZE"$'\r' "$TMP/get.hdrs"
check_json "download_count was 0 before" 'j["download_count"] == 0 and j["last_accessed_at"] is None'
call GET "/v2/images/$A"
check_json "download_count is 1 after a download" 'j["download_count"] == 1 and j["last_accessed_at"] is not None'
curl -sS -H "X-Auth-Token: $TOKEN" -o /dev/null "$URL/v2/images/$A/file"
call GET "/v2/images/$A"
check_json "download_count is 2 after another" 'j["download_count"] == 2'

# --- chunked upload ----------------------------------------------------------
B=$(create_image b)
head -c 3000000 /dev/urandom >"$TMP/b.bin"
st=$(cat "$TMP/b.bin" | curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOKEN" \
	-H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' -T - \
	"$URL/v2/images/$B/file")
check_eq "chunked upload from a pipe is 204" 204 "$st"
call GET "/v2/images/$B"
check_json "chunked upload: active with the right size and hash" \
	"j['status'] == 'active' and j['size'] == 3000000 and j['os_hash_value'] == '$(sha "$TMP/b.bin")'"
check_eq "chunked upload: download matches" "$(sha "$TMP/b.bin")" \
	"$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$B/file" | sha256sum | cut -d' ' -f1)"

# --- ranges ------------------------------------------------------------------
# range_check DESC RANGE START LEN: 206, Content-Range and the bytes
range_check() {
	local desc=$1 range=$2 start=$3 len=$4 st
	st=$(curl -sS -D "$TMP/r.hdrs" -o "$TMP/r.out" -w '%{http_code}' -H "X-Auth-Token: $TOKEN" \
		-H "Range: $range" "$URL/v2/images/$A/file")
	check_eq "$desc: 206" 206 "$st"
	check "$desc: Content-Range bytes $start-$((start + len - 1))/$SIZE" \
		grep -qi "^Content-Range: bytes $start-$((start + len - 1))/$SIZE"$'\r' "$TMP/r.hdrs"
	check "$desc: Content-Length $len" grep -qi "^Content-Length: $len"$'\r' "$TMP/r.hdrs"
	tail -c +$((start + 1)) "$TMP/a.bin" | head -c "$len" >"$TMP/r.want"
	check "$desc: the right bytes" cmp "$TMP/r.want" "$TMP/r.out"
}
range_check "bytes=100-199" "bytes=100-199" 100 100
range_check "bytes=0-0" "bytes=0-0" 0 1
range_check "bytes=1048000-" "bytes=1048000-" 1048000 $((SIZE - 1048000))
range_check "bytes=-4096" "bytes=-4096" $((SIZE - 4096)) 4096
range_check "bytes=1000-99999999 (end past size)" "bytes=1000-99999999" 1000 $((SIZE - 1000))
range_check "bytes=-99999999 (suffix longer than data)" "bytes=-99999999" 0 "$SIZE"
call GET "/v2/images/$A/file" -H "Range: bytes=$SIZE-"
check_error "bytes=SIZE- is 416" 416
call GET "/v2/images/$A/file" -H "Range: bytes=$((SIZE + 10))-$((SIZE + 20))"
check_error "a range past the end is 416" 416
call GET "/v2/images/$A/file" -H 'Range: bytes=500-100'
check_error "a backwards range is 416" 416
call GET "/v2/images/$A/file" -H 'Range: bytes=-0'
check_error "bytes=-0 is 416" 416
curl -sS -D "$TMP/ar.hdrs" -o /dev/null -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$A/file"
check "downloads advertise Accept-Ranges: bytes" grep -qi '^Accept-Ranges: bytes' "$TMP/ar.hdrs"

# --- HEAD --------------------------------------------------------------------
curl -sS -I -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$A/file" -o "$TMP/head.hdrs" -w '%{size_download}' >"$TMP/head.size"
check "HEAD /file is 200" grep -q '^HTTP/1.1 200' "$TMP/head.hdrs"
check "HEAD /file has Content-Length of the data" grep -qi "^Content-Length: $SIZE"$'\r' "$TMP/head.hdrs"
check_eq "HEAD /file sends no body" 0 "$(cat "$TMP/head.size")"
st=$(curl -sS -I -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$A")
check_eq "HEAD /v2/images/ID is 200" 200 "$st"

# --- conflicts and bad requests ----------------------------------------------
call PUT "/v2/images/$A/file" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/b.bin"
check_error "upload to an active image is 409" 409
call GET "/v2/images/$A"
check_json "... the image keeps its data" "j['status'] == 'active' and j['os_hash_value'] == '$SUM'"
Q=$(create_image queued-one)
call GET "/v2/images/$Q/file"
check_status "download of a queued image is 204, no data (as Glance answers)" 204
call GET "/v2/images/$Q/file" -H 'Range: bytes=0-10'
check_status "so is a ranged one" 204

call_noauth GET "/v2/images/$A/file"
check_error "download without a token is 401" 401
call_noauth PUT "/v2/images/$Q/file" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/a.bin"
check_error "upload without a token is 401" 401
check_eq "... and the image stays queued" queued "$(field "$Q" status)"

call POST /v2/images -H 'Content-Type: application/json' -d '{"name":"noformat"}'
NF=$(printf '%s' "$BODY" | json_get id)
call PUT "/v2/images/$NF/file" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/a.bin"
check_error "upload without disk_format/container_format is 400" 400
check_eq "... and the image stays queued" queued "$(field "$NF" status)"
call POST /v2/images -H 'Content-Type: application/json' -d '{"name":"nocontainer","disk_format":"raw"}'
NC=$(printf '%s' "$BODY" | json_get id)
call PUT "/v2/images/$NC/file" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/a.bin"
check_error "upload without container_format is 400" 400

call PUT "/v2/images/$Q/file" -H 'Content-Type: application/json' --data-binary @"$TMP/a.bin"
check_error "upload with Content-Type application/json is 415" 415
call PUT "/v2/images/$Q/file" --data-binary @"$TMP/a.bin"
check_error "upload with a form Content-Type is 415" 415
check_eq "... and the image stays queued" queued "$(field "$Q" status)"
call PUT /v2/images/00000000-0000-4000-8000-000000000000/file \
	-H 'Content-Type: application/octet-stream' --data-binary @"$TMP/a.bin"
check_error "upload to an unknown image is 404" 404
call GET /v2/images/00000000-0000-4000-8000-000000000000/file
check_error "download of an unknown image is 404" 404

# an upload the client gives up on: back to queued, and can be redone
partial_upload "$Q" 5000000 2000000
for _ in $(seq 1 50); do [ "$(field "$Q" status)" = queued ] && break; sleep 0.1; done
check_eq "an upload dropped by the client mid-way leaves the image queued" queued "$(field "$Q" status)"
check_eq "... and the image can then be uploaded (204)" 204 "$(upload "$Q" "$TMP/b.bin")"
check_eq "... with the right data" "$(sha "$TMP/b.bin")" "$(field "$Q" os_hash_value)"
# the client announces more than it sends, then stalls: the image must
# not become active (it is saving while the server waits)
Z=$(create_image short)
head -c 1000 /dev/urandom >"$TMP/k.bin"
st=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOKEN" \
	-H 'Content-Type: application/octet-stream' -H 'Content-Length: 5000' --max-time 3 \
	--data-binary @"$TMP/k.bin" "$URL/v2/images/$Z/file" 2>/dev/null)
check "a body shorter than its Content-Length does not activate the image (got $st)" test "$st" != 204
for _ in $(seq 1 50); do [ "$(field "$Z" status)" = queued ] && break; sleep 0.1; done
check_eq "... and once the client is gone the image is queued" queued "$(field "$Z" status)"

# --- empty data --------------------------------------------------------------
E=$(create_image empty)
: >"$TMP/empty"
check_eq "a zero-byte upload is 204" 204 "$(upload "$E" "$TMP/empty")"
call GET "/v2/images/$E"
check_json "zero-byte image is active with size 0 and the empty SHA-256" \
	"j['status'] == 'active' and j['size'] == 0 and j['os_hash_value'] == '$(sha "$TMP/empty")'"
st=$(curl -sS -o "$TMP/e.out" -w '%{http_code}' -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$E/file")
check_eq "zero-byte download is 200" 200 "$st"
check_eq "... with no data" 0 "$(stat -c %s "$TMP/e.out")"

# --- identical data is stored once -------------------------------------------
n0=$(blob_count)
head -c 500000 /dev/urandom >"$TMP/d.bin"
D1=$(create_image dup-1)
D2=$(create_image dup-2)
check_eq "dup-1 upload 204" 204 "$(upload "$D1" "$TMP/d.bin")"
check_eq "dup-2 upload (same data) 204" 204 "$(upload "$D2" "$TMP/d.bin")"
check_eq "two images with the same data add one blob file" $((n0 + 1)) "$(blob_count)"
DSUM=$(sha "$TMP/d.bin")
check "the blob file is named by the SHA-256" test -f "$DATA/blobs/sha256/${DSUM:0:2}/$DSUM"
check_eq "both images have the same os_hash_value" "$(field "$D1" os_hash_value)" "$(field "$D2" os_hash_value)"
call DELETE "/v2/images/$D1"
check_status "delete dup-1 is 204" 204
check "the blob is kept while dup-2 uses it" test -f "$DATA/blobs/sha256/${DSUM:0:2}/$DSUM"
check_eq "dup-2 still downloads" "$DSUM" \
	"$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$D2/file" | sha256sum | cut -d' ' -f1)"
call DELETE "/v2/images/$D2"
check_status "delete dup-2 is 204" 204
check "deleting both removes the blob file" test ! -e "$DATA/blobs/sha256/${DSUM:0:2}/$DSUM"
check_eq "blob count is back" "$n0" "$(blob_count)"
D3=$(create_image dup-3)
check_eq "the same data can be uploaded again afterwards" 204 "$(upload "$D3" "$TMP/d.bin")"
check_eq "... and downloads" "$DSUM" \
	"$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$D3/file" | sha256sum | cut -d' ' -f1)"
call DELETE "/v2/images/$Q"
check "deleting an image whose data another image shares (b) keeps it" \
	test -f "$DATA/blobs/sha256/$(sha "$TMP/b.bin" | cut -c1-2)/$(sha "$TMP/b.bin")"

# --- concurrency ----------------------------------------------------------------
# a second upload while the first is running is 409
S=$(create_image slow)
head -c 30000000 /dev/urandom >"$TMP/slow.bin"
curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOKEN" \
	-H 'Content-Type: application/octet-stream' --limit-rate 10M -T "$TMP/slow.bin" \
	"$URL/v2/images/$S/file" >"$TMP/slow.status" 2>/dev/null &
SLOW=$!
for _ in $(seq 1 100); do [ "$(field "$S" status)" = saving ] && break; sleep 0.05; done
check_eq "a slow upload is saving" saving "$(field "$S" status)"
call PUT "/v2/images/$S/file" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/a.bin"
check_error "an upload to a saving image is 409" 409
call GET "/v2/images/$S/file"
check_status "a download of a saving image is 204, no data yet" 204
call DELETE "/v2/images/$S"
check_status "deleting an image while it uploads is 204" 204
wait "$SLOW"
check "... the upload then fails (got $(cat "$TMP/slow.status"))" test "$(cat "$TMP/slow.status")" != 204
call GET "/v2/images/$S"
check_error "... the image stays deleted" 404
check "... its data is not stored" test ! -e "$DATA/blobs/sha256/$(sha "$TMP/slow.bin" | cut -c1-2)/$(sha "$TMP/slow.bin")"
check "... and no temporary file is left" test -z "$(ls -A "$DATA/blobs/tmp")"

# identical data uploaded to ten images at once: one blob; deleted at once: none
head -c 2000000 /dev/urandom >"$TMP/par.bin"
PSUM=$(sha "$TMP/par.bin")
PIDS=()
for i in $(seq 1 10); do PIDS+=("$(create_image "par-$i")"); done
for id in "${PIDS[@]}"; do upload "$id" "$TMP/par.bin" >"$TMP/par.$id" & done
wait_bg
n=0
for id in "${PIDS[@]}"; do
	[ "$(cat "$TMP/par.$id")" = 204 ] && [ "$(field "$id" os_hash_value)" = "$PSUM" ] && n=$((n + 1))
done
check_eq "ten parallel uploads of the same data all succeed" 10 "$n"
check_eq "... and share one blob file" 1 "$(find "$DATA/blobs/sha256" -name "$PSUM" | wc -l)"
for id in "${PIDS[@]:0:5}"; do api DELETE "/v2/images/$id" -o /dev/null >/dev/null & done
for id in "${PIDS[@]:5:5}"; do
	curl -sS -H "X-Auth-Token: $TOKEN" -o "$TMP/pardl.$id" "$URL/v2/images/$id/file" &
done
wait_bg
n=0
for id in "${PIDS[@]:5:5}"; do [ "$(sha "$TMP/pardl.$id")" = "$PSUM" ] && n=$((n + 1)); done
check_eq "downloads of the same data during deletes of other images all succeed" 5 "$n"
check "... and the blob is kept" test -e "$DATA/blobs/sha256/${PSUM:0:2}/$PSUM"
for id in "${PIDS[@]:5:5}"; do api DELETE "/v2/images/$id" -o /dev/null >/dev/null & done
wait_bg
check "deleting the last five at once removes the blob" test ! -e "$DATA/blobs/sha256/${PSUM:0:2}/$PSUM"

# --- deactivated images ------------------------------------------------------
call POST "/v2/images/$A/actions/deactivate"
check_status "deactivate a" 204
st=$(curl -sS -o "$TMP/a2.out" -w '%{http_code}' -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$A/file")
check_eq "admin can still download a deactivated image (200)" 200 "$st"
check_eq "... with the right data" "$SUM" "$(sha "$TMP/a2.out")"
call POST "/v2/images/$A/actions/reactivate"
call GET "/v2/images/$A"
check_json "download_count counts every download (3 full + 1 after deactivation + ranges)" \
	'j["download_count"] >= 4'

# --- md5 checksum and the size limit (config file) ---------------------------
raind_stop
cat >"$TMP/raind.conf" <<EOF
[storage]
md5_checksum = true
max_image_size = 2000000
EOF
raind_start -c "$TMP/raind.conf" || { not_ok "raind restarts with a config file"; test_done; }
call GET "/v2/images/$A"
check_json "data survives a restart" "j['status'] == 'active' and j['os_hash_value'] == '$SUM'"
M=$(create_image md5)
check_eq "upload with md5_checksum on is 204" 204 "$(upload "$M" "$TMP/a.bin")"
check_eq "checksum is the MD5 of the data" "$(md5sum "$TMP/a.bin" | cut -d' ' -f1)" "$(field "$M" checksum)"
curl -sS -D "$TMP/md5.hdrs" -o /dev/null -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$M/file"
check "download sends Content-MD5" grep -qi "^Content-MD5: $(md5sum "$TMP/a.bin" | cut -d' ' -f1)" "$TMP/md5.hdrs"
L=$(create_image too-big)
call PUT "/v2/images/$L/file" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/b.bin"
check_error "upload larger than max_image_size (Content-Length) is 413" 413
check_eq "... image stays queued" queued "$(field "$L" status)"
st=$(cat "$TMP/b.bin" | curl -sS -o "$TMP/big.out" -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOKEN" \
	-H 'Content-Type: application/octet-stream' -T - --max-time 30 "$URL/v2/images/$L/file")
check_eq "chunked upload larger than max_image_size is 413" 413 "$st"
for _ in $(seq 1 50); do [ "$(field "$L" status)" = queued ] && break; sleep 0.1; done
check_eq "... image stays queued" queued "$(field "$L" status)"
check "no temporary upload file is left behind" test -z "$(ls -A "$DATA/blobs/tmp")"
check "raind is still healthy" raind_healthy

raind_stop
test_done
