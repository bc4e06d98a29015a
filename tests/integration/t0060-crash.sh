#!/bin/bash
# Crash safety: kill -9 during uploads, then restart on the same data
# directory: interrupted images are queued again, no temporary or
# unreferenced blob is left, every other image is intact. SIGTERM during an
# upload stops raind cleanly. A second raind cannot open a data directory
# in use.
source "$(dirname "$0")/lib.sh"

raind_start || { not_ok "raind starts"; test_done; }
ok "raind starts"

field() { curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$1" | json_get "$2"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# wait_status ID STATUS [TRIES]: poll until the image has that status
wait_status() {
	for _ in $(seq 1 "${3:-100}"); do
		[ "$(field "$1" status 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# blobs_match: the blob files are exactly the data of the images
blobs_match() {
	local files hashes
	files=$(find "$DATA/blobs/sha256" -type f -printf '%f\n' | sort)
	hashes=$(python3 - "$URL" "$TOKEN" <<'PY' | sort -u
import json, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
path = "/v2/images?limit=1000"
while path:
    j = json.load(urllib.request.urlopen(urllib.request.Request(url + path, headers={"X-Auth-Token": token})))
    for i in j["images"]:
        if i["os_hash_value"]:
            print(i["os_hash_value"])
    path = j.get("next")
PY
)
	if [ "$files" != "$hashes" ]; then
		echo "blob files:"; echo "$files"; echo "image hashes:"; echo "$hashes"
		return 1
	fi
}
tmp_empty() {
	local left
	left=$(find "$DATA/blobs/tmp" -mindepth 1)
	[ -z "$left" ] || { echo "left in tmp: $left"; return 1; }
}

# --- some complete images ------------------------------------------------------
declare -A SUMS
for i in 1 2 3 4 5; do
	head -c $((i * 700000 + 13)) /dev/urandom >"$TMP/img$i"
	id=$(create_image "done-$i")
	[ "$(upload "$id" "$TMP/img$i")" = 204 ] || not_ok "upload done-$i"
	SUMS[$id]=$(sha "$TMP/img$i")
done
check_eq "five images uploaded" 5 "${#SUMS[@]}"
# one image deactivated and one protected: their state must survive too
ids=("${!SUMS[@]}")
call POST "/v2/images/${ids[0]}/actions/deactivate"
patch_image "${ids[1]}" '[{"op":"replace","path":"/protected","value":true},{"op":"add","path":"/keep","value":"me"}]'

# --- kill -9 during two uploads ---------------------------------------------------
truncate -s 1G "$TMP/big"
BIG=$(create_image interrupted-cl)
BIG2=$(create_image interrupted-chunked)
curl -sS -o /dev/null -X PUT -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/octet-stream' \
	--limit-rate 20M -T "$TMP/big" "$URL/v2/images/$BIG/file" 2>/dev/null &
CURL1=$!
head -c 1G /dev/urandom | curl -sS -o /dev/null -X PUT -H "X-Auth-Token: $TOKEN" \
	-H 'Content-Type: application/octet-stream' --limit-rate 20M -T - \
	"$URL/v2/images/$BIG2/file" 2>/dev/null &
CURL2=$!
check "upload with Content-Length is saving" wait_status "$BIG" saving
check "chunked upload is saving" wait_status "$BIG2" saving
sleep 1.5
check "both uploads are still running" kill -0 "$CURL1" "$CURL2"
KILLED_PID=$RAIND_PID
raind_stop KILL
wait "$CURL1" "$CURL2" 2>/dev/null
check "raind is gone after kill -9" test ! -d "/proc/$KILLED_PID"

# plant what a crash on a system without O_TMPFILE leaves (older than
# [storage] tmp_grace: a younger one may be another server's upload in a
# shared store), a young one, and an orphan blob
echo partial >"$DATA/blobs/tmp/upload.AbC123"
touch -d '2 hours ago' "$DATA/blobs/tmp/upload.AbC123"
echo partial >"$DATA/blobs/tmp/upload.Young1"
ORPHAN=$(printf 'orphan' | sha256sum | cut -d' ' -f1)
mkdir -p "$DATA/blobs/sha256/${ORPHAN:0:2}"
printf 'orphan' >"$DATA/blobs/sha256/${ORPHAN:0:2}/$ORPHAN"

raind_start || { not_ok "raind restarts after kill -9"; test_done; }
ok "raind restarts on the same data directory after kill -9"
check "the restart logs the recovery" grep -q 'recovered from an unclean stop: 2 interrupted upload' "$TMP/raind.log"
call GET "/v2/images/$BIG"
check_json "the interrupted upload (Content-Length) is queued with no data" \
	'j["status"] == "queued" and j["size"] is None and j["os_hash_value"] is None'
call GET "/v2/images/$BIG2"
check_json "the interrupted upload (chunked) is queued with no data" \
	'j["status"] == "queued" and j["size"] is None and j["os_hash_value"] is None'
check "the old leftover under blobs/tmp is removed" test ! -e "$DATA/blobs/tmp/upload.AbC123"
check "a young one is kept (it may be another server's upload)" test -e "$DATA/blobs/tmp/upload.Young1"
rm -f "$DATA/blobs/tmp/upload.Young1"
check "no file is left under blobs/tmp" tmp_empty
check "the orphan blob was removed" test ! -e "$DATA/blobs/sha256/${ORPHAN:0:2}/$ORPHAN"
check "blob files are exactly the images' data" blobs_match
for id in "${!SUMS[@]}"; do
	st=$(field "$id" status)
	check "image $id survived ($st)" test "$st" = active -o "$st" = deactivated
	check_eq "image $id downloads with its SHA-256" "${SUMS[$id]}" \
		"$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$id/file" | sha256sum | cut -d' ' -f1)"
done
check_eq "the deactivated image is still deactivated" deactivated "$(field "${ids[0]}" status)"
call GET "/v2/images/${ids[1]}"
check_json "the patched image kept its changes" 'j["protected"] is True and j["keep"] == "me"'
head -c 5000000 /dev/urandom >"$TMP/redo"
check_eq "the interrupted image can be uploaded again (204)" 204 "$(upload "$BIG" "$TMP/redo")"
call GET "/v2/images/$BIG"
check_json "... and is active with the new data" "j['status'] == 'active' and j['os_hash_value'] == '$(sha "$TMP/redo")' and j['size'] == 5000000"
check_eq "... which downloads intact" "$(sha "$TMP/redo")" \
	"$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$BIG/file" | sha256sum | cut -d' ' -f1)"
check_eq "the chunked one too (204)" 204 "$(upload "$BIG2" "$TMP/img3")"
check "blob files still match the images" blobs_match

# --- kill -9 right after uploads finish ----------------------------------------
# whatever was acknowledged with 204 must be there after a crash
declare -A LATE
for i in 1 2 3; do
	head -c $((i * 300000)) /dev/urandom >"$TMP/late$i"
	id=$(create_image "late-$i")
	[ "$(upload "$id" "$TMP/late$i")" = 204 ] && LATE[$id]=$(sha "$TMP/late$i")
done
raind_stop KILL
raind_start || { not_ok "raind restarts after the second kill -9"; test_done; }
n=0
for id in "${!LATE[@]}"; do
	[ "$(field "$id" status)" = active ] &&
		[ "$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$id/file" | sha256sum | cut -d' ' -f1)" = "${LATE[$id]}" ] &&
		n=$((n + 1))
done
check_eq "uploads acknowledged just before kill -9 are all there" 3 "$n"
check "blob files match after the second crash" blobs_match

# --- SIGTERM during an upload ------------------------------------------------------
TERMED=$(create_image sigterm)
curl -sS -o /dev/null -X PUT -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/octet-stream' \
	--limit-rate 20M -T "$TMP/big" "$URL/v2/images/$TERMED/file" 2>/dev/null &
CURL3=$!
check "upload to be interrupted by SIGTERM is saving" wait_status "$TERMED" saving
sleep 1
start=$(date +%s)
kill -TERM "$RAIND_PID"
( sleep 60; kill -KILL "$RAIND_PID" 2>/dev/null ) &
WATCHDOG=$!
wait "$RAIND_PID"
rc=$?
kill "$WATCHDOG" 2>/dev/null
wait "$WATCHDOG" 2>/dev/null
RAIND_PID=
check_eq "raind exits with status 0 on SIGTERM during an upload" 0 "$rc"
check "... within 20 seconds ($(( $(date +%s) - start ))s)" test $(( $(date +%s) - start )) -le 20
check "... and logs that it stopped" grep -q 'raind info: stopped' "$TMP/raind.log"
wait "$CURL3" 2>/dev/null
raind_start || { not_ok "raind restarts after SIGTERM"; test_done; }
check_eq "the upload cut by SIGTERM left the image queued" queued "$(field "$TERMED" status)"
check "no file is left under blobs/tmp after SIGTERM" tmp_empty
check "blob files match after SIGTERM" blobs_match
check_eq "the image can be uploaded after SIGTERM (204)" 204 "$(upload "$TERMED" "$TMP/img1")"

# --- two raind on one data directory --------------------------------------------------
set +e
timeout 20 "$RAIND" --data-dir "$DATA" --listen 127.0.0.1:0 --port-file "$TMP/port2" \
	>"$TMP/second.log" 2>&1
rc=$?
check "a second raind on the same data directory fails (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "... saying the data directory is in use" grep -qi 'in use' "$TMP/second.log"
sed 's/^/#   /' "$TMP/second.log" | tail -3
check "... and never wrote a port file" test ! -e "$TMP/port2"
check "the first raind is still healthy" raind_healthy
check_eq "... and still serves its images" "${SUMS[${ids[2]}]}" \
	"$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/${ids[2]}/file" | sha256sum | cut -d' ' -f1)"
OLDPID=$RAIND_PID
raind_stop
check "once the first raind is stopped, a new one starts" raind_start

raind_stop
test_done
