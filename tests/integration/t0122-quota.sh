#!/bin/bash
# Quotas: a user's byte quota stops the upload that crosses it at that
# byte (413, nothing stored), the image-count quota stops creates, and
# /v2/info/usage reports both as Glance does.
source "$(dirname "$0")/lib.sh"

export RAIN_ADMIN_PASSWORD=t0122-admin-password
raind_start || exit 1
unset RAIN_ADMIN_PASSWORD

MIB=$((1 << 20))
call POST /rain/v1/users -H 'Content-Type: application/json' \
	-d "{\"name\":\"dora\",\"password\":\"dora-password\",\"role\":\"user\",\"status\":\"active\",\"quota_bytes\":$MIB,\"quota_images\":3}"
check_status "admin creates dora with 1 MiB and 3 images" 201
DORA=$(token_of dora dora-password)

mk() { # mk: a new image of dora's; prints its id
	curl -sS -H "X-Auth-Token: $DORA" -H 'Content-Type: application/json' "$URL/v2/images" \
		-d '{"name":"q","disk_format":"raw","container_format":"bare"}' |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
put() { # put ID FILE [chunked]: the upload's status
	local extra=()
	[ "${3:-}" = chunked ] && extra=(-H 'Transfer-Encoding: chunked')
	curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $DORA" \
		-H 'Content-Type: application/octet-stream' "${extra[@]}" --data-binary "@$2" "$URL/v2/images/$1/file"
}
status_of_img() {
	curl -sS -H "X-Auth-Token: $DORA" "$URL/v2/images/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'
}
head -c $((MIB + 1)) /dev/urandom >"$TMP/over"
head -c $MIB "$TMP/over" >"$TMP/exact"
head -c 1 /dev/urandom >"$TMP/one"

A=$(mk)
check_eq "one byte over the quota (Content-Length) is refused" 413 "$(put "$A" "$TMP/over")"
check_eq "and nothing is stored" queued "$(status_of_img "$A")"
check_eq "one byte over the quota (chunked, no length) is refused" 413 "$(put "$A" "$TMP/over" chunked)"
check_eq "and nothing is stored either" queued "$(status_of_img "$A")"
check_eq "exactly the quota is taken" 204 "$(put "$A" "$TMP/exact" chunked)"
check_eq "and stored" active "$(status_of_img "$A")"
B=$(mk)
check_eq "with the quota used up, one more byte is refused" 413 "$(put "$B" "$TMP/one")"
call GET /v2/images/"$B"
curl -sS -H "X-Auth-Token: $DORA" "$URL/v2/info/usage" >"$TMP/usage.json"
check "usage reports the bytes (MiB) and images as Glance does" python3 -c '
import json,sys; u=json.load(open(sys.argv[1]))["usage"]
assert u["image_size_total"] == {"limit": 1, "usage": 1}, u
assert u["image_count_total"] == {"limit": 3, "usage": 2}, u
assert u["image_count_uploading"]["usage"] == 0 and u["image_stage_total"]["limit"] == -1, u' "$TMP/usage.json"

C=$(mk)
check "a third image may be created" test -n "$C"
st=$(curl -sS -o "$TMP/fourth.json" -w '%{http_code}' -H "X-Auth-Token: $DORA" -H 'Content-Type: application/json' \
	"$URL/v2/images" -d '{"name":"q4"}')
check_eq "a fourth is over the image-count quota (413)" 413 "$st"
check "the message says which quota" grep -q "Image count quota exceeded" "$TMP/fourth.json"
check_eq "deleting one frees its bytes" 204 "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H "X-Auth-Token: $DORA" "$URL/v2/images/$A")"
check_eq "so the next upload fits again" 204 "$(put "$B" "$TMP/exact")"
check_eq "the admin token has no quota" 200 "$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $TOKEN" "$URL/v2/info/usage")"
test_done
