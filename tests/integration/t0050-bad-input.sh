#!/bin/bash
# Bad input of every kind is refused with the right 4xx status and a JSON
# error body {"code", "title", "message"}, changes nothing, and leaves raind
# healthy.
source "$(dirname "$0")/lib.sh"

raind_start || { not_ok "raind starts"; test_done; }
ok "raind starts"

post() { call POST /v2/images -H 'Content-Type: application/json' --data-binary "$1"; }
field() { curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$1" | json_get "$2"; }

ID=$(create_image victim '"os_distro":"debian","tags":["keep"]')
check "a victim image exists" test -n "$ID"
call GET "/v2/images/$ID"
BEFORE=$BODY
# unchanged: the victim image is exactly as before
unchanged() {
	call GET "/v2/images/$ID"
	python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' "$BEFORE" "$BODY"
}
COUNT0=$(image_count)
check_eq "one image to start with" 1 "$COUNT0"

# --- malformed JSON bodies --------------------------------------------------
post '{"name": "broken"'
check_error "truncated JSON is 400" 400
post '{"name": "x",}'
check_error "trailing comma is 400" 400
post "{'name': 'x'}"
check_error "single quotes are 400" 400
post '{"name": "a", "name": "b"}'
check_error "duplicate keys are 400" 400
post $'{"name": "\xff\xfe"}'
check_error "invalid UTF-8 is 400" 400
post '{"name": "x"} trailing'
check_error "garbage after the object is 400" 400
call POST /v2/images -H 'Content-Type: application/json'
check_error "an empty body is 400" 400
for body in '[]' '"string"' '42' 'null' 'true' '[{"name":"x"}]'; do
	post "$body"
	check_error "a JSON body that is not an object ($body) is 400" 400
done
check_eq "nothing was created by malformed bodies" "$COUNT0" "$(image_count)"

# --- wrong types and values ------------------------------------------------
post '{"name": 5}'
check_error "name that is a number is 400" 400
post '{"name": "x", "os_distro": 5}'
check_error "a property that is not a string is 400" 400
post '{"name": "x", "os_distro": {"a":1}}'
check_error "a property that is an object is 400" 400
post '{"name": "x", "min_ram": "lots"}'
check_error "min_ram as a string is 400" 400
post '{"name": "x", "min_disk": -5}'
check_error "negative min_disk is 400" 400
post '{"name": "x", "min_disk": 1.5}'
check_error "fractional min_disk is 400" 400
post '{"name": "x", "protected": "yes"}'
check_error "protected as a string is 400" 400
post '{"name": "x", "tags": "a,b"}'
check_error "tags as a string is 400" 400
post '{"name": "x", "tags": ["a", 7]}'
check_error "a tag that is a number is 400" 400
post '{"name": "x", "visibility": "everyone"}'
check_error "unknown visibility is 400" 400
post '{"name": "x", "disk_format": "exe"}'
check_error "unknown disk_format is 400" 400
post '{"name": "x", "container_format": "zip"}'
check_error "unknown container_format is 400" 400
post '{"name": "x", "disk_format": "QCOW2"}'
check_error "disk_format in the wrong case is 400" 400
post "{\"name\": \"x\", \"os_distro\": \"$(head -c 65536 /dev/zero | tr '\0' a)\"}"
check_error "a property value over 65535 bytes is 400" 400
post "{\"name\": \"x\", \"$(head -c 256 /dev/zero | tr '\0' p)\": \"v\"}"
check_error "a property name over 255 characters is 400" 400
props=$(python3 -c 'import json; print(json.dumps(dict({"name":"x"}, **{"p%d" % i: "v" for i in range(129)})))')
post "$props"
check_error "129 properties is 413 (quota of 128)" 413
tags=$(python3 -c 'import json; print(json.dumps({"name":"x","tags":["t%d" % i for i in range(129)]}))')
post "$tags"
check_error "129 tags is 413 (quota of 128)" 413
post '{"name": "x", "tags": [""]}'
check_error "an empty tag is 400" 400
check_eq "nothing was created by bad values" "$COUNT0" "$(image_count)"

# --- ids in the body ---------------------------------------------------------
post '{"id": "abc", "name": "x"}'
check_error "id that is not a UUID is 400" 400
post '{"id": 12345, "name": "x"}'
check_error "id that is a number is 400" 400
post '{"id": "../../../etc/passwd", "name": "x"}'
check_error "id that is a path is 400" 400
post '{"id": "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f0", "name": "x"}'
check_error "id with an extra digit is 400" 400
post '{"id": "7d5c3a6e2b1f4e0a9c3d1a2b3c4d5e6f-", "name": "x"}'
check_error "id with misplaced dashes is 400" 400
post '{"id": "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6g", "name": "x"}'
check_error "id with a non-hex digit is 400" 400

# --- names -------------------------------------------------------------------
post '{"name": "../../etc/passwd"}'
check_error "name with ../ is 400" 400
post '{"name": ".."}'
check_error "name .. is 400" 400
post '{"name": "a/.."}'
check_error "name ending in /.. is 400" 400
post '{"name": "bad\u0001name"}'
check_error "name with a control character is 400" 400
post '{"name": "bad\nname"}'
check_error "name with a newline is 400" 400
post '{"name": "bad\u0000name"}'
check_error "name with an escaped NUL is 400" 400
post '{"name": "bad\u007fname"}'
check_error "name with DEL is 400" 400
post "{\"name\": \"$(head -c 256 /dev/zero | tr '\0' n)\"}"
check_error "a 256-character name is 400" 400
check_eq "nothing was created by bad names" "$COUNT0" "$(image_count)"
post "{\"name\": \"$(head -c 255 /dev/zero | tr '\0' n)\"}"
check_status "a 255-character name is fine (201)" 201
OK255=$(printf '%s' "$BODY" | json_get id)
post '{"name": "Débian 12 «bookworm» ✓"}'
check_status "a UTF-8 name is fine (201)" 201
check_json "... and kept as sent" 'j["name"] == "Débian 12 «bookworm» ✓"'
UTF=$(printf '%s' "$BODY" | json_get id)
post '{"name": "dots...in.name"}'
check_status "dots that are not ../ are fine (201)" 201
DOTS=$(printf '%s' "$BODY" | json_get id)
for i in "$OK255" "$UTF" "$DOTS"; do api DELETE "/v2/images/$i" >/dev/null; done

# --- oversized bodies --------------------------------------------------------
python3 -c 'import json; print(json.dumps({"name": "big", "description": "d" * 60000, **{"p%d" % i: "v" * 10000 for i in range(110)}}))' >"$TMP/big.json"
check "the big JSON body is over 1 MiB" test "$(stat -c %s "$TMP/big.json")" -gt 1048576
call POST /v2/images -H 'Content-Type: application/json' --data-binary @"$TMP/big.json"
check_error "a POST body over 1 MiB is 413" 413
st=$(cat "$TMP/big.json" | curl -sS -o "$TMP/big.out" -w '%{http_code}' --max-time 30 -X POST \
	-H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' -T - "$URL/v2/images")
check_eq "a chunked POST body over 1 MiB is 413" 413 "$st"
head -c $((8 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$TMP/spaces.json"
call POST /v2/images -H 'Content-Type: application/json' --data-binary @"$TMP/spaces.json"
check_error "8 MiB of whitespace is 413" 413
python3 -c 'import json; print(json.dumps([{"op":"add","path":"/p%d" % i,"value":"v"*5000} for i in range(250)]))' >"$TMP/bigpatch.json"
call PATCH "/v2/images/$ID" -H 'Content-Type: application/openstack-images-v2.1-json-patch' --data-binary @"$TMP/bigpatch.json"
check_error "a PATCH body over 1 MiB is 413" 413
check "the image is unchanged" unchanged
check_eq "nothing was created by oversized bodies" "$COUNT0" "$(image_count)"
check "raind is healthy after oversized bodies" raind_healthy

# --- bad JSON patches --------------------------------------------------------
for p in '/a/b' 'name' '' '/' '/~2' '/a~' '/name/0' '/tags/0'; do
	patch_image "$ID" "[{\"op\":\"replace\",\"path\":\"$p\",\"value\":\"x\"}]"
	check_error "patch path '$p' is 400" 400
done
patch_image "$ID" '[{"op":"add","path":"/ok_first","value":"x"},{"op":"add","path":"/a/b","value":"x"}]'
check_error "a bad path after a good operation is 400" 400
patch_image "$ID" '[{"op":"move","from":"/name","path":"/x"}]'
check_error "op move is 400" 400
patch_image "$ID" '[{"op":"test","path":"/name","value":"victim"}]'
check_error "op test is 400" 400
patch_image "$ID" '[{"op":"replace","path":"/name"}]'
check_error "replace without a value is 400" 400
patch_image "$ID" '[{"op":"remove","path":"/os_distro","value":"x"}]'
check_error "remove with a value is 400" 400
patch_image "$ID" '[{"path":"/name","value":"x"}]'
check_error "an operation without op is 400" 400
patch_image "$ID" '[{"op":"replace","path":"/name","value":"x","extra":1}]'
check_error "an operation with an unknown member is 400" 400
patch_image "$ID" '{"op":"replace","path":"/name","value":"x"}'
check_error "a patch that is not an array is 400" 400
patch_image "$ID" '[{"op":"replace","path":"/name","value":"x"'
check_error "a malformed patch is 400" 400
patch_image "$ID" '["replace /name x"]'
check_error "an operation that is not an object is 400" 400
patch_image "$ID" ''
check_error "an empty patch body is 400" 400
patch_image "$ID" '[{"op":"replace","path":"/name","value":"../x"}]'
check_error "patching the name to ../x is 400" 400
patch_image "$ID" '[{"op":"replace","path":"/disk_format","value":"exe"}]'
check_error "patching an unknown disk_format is 400" 400
patch_image "$ID" "$(python3 -c 'import json; print(json.dumps([{"op":"add","path":"/p","value":"v"}] * 257))')"
check "257 operations are refused with 400 or 413 ($STATUS)" test "$STATUS" = 400 -o "$STATUS" = 413
check "the image is unchanged by bad patches" unchanged

# --- read-only attributes ------------------------------------------------------
for a in status size id checksum os_hash_value virtual_size created_at updated_at self file schema; do
	patch_image "$ID" "[{\"op\":\"replace\",\"path\":\"/$a\",\"value\":\"x\"}]"
	check_error "replace /$a is 403" 403
done
# the owner is writable by admins, but only to a user who exists
patch_image "$ID" '[{"op":"replace","path":"/owner","value":"x"}]'
check_error "replace /owner with no such user is 400" 400
check "...and the message says so" grep -q "there is no user x" <<<"$BODY"
patch_image "$ID" '[{"op":"remove","path":"/owner"}]'
check_error "remove /owner is 403" 403
patch_image "$ID" '[{"op":"add","path":"/status","value":"active"}]'
check_error "add /status is 403" 403
patch_image "$ID" '[{"op":"remove","path":"/id"}]'
check_error "remove /id is 403" 403
patch_image "$ID" '[{"op":"replace","path":"/size","value":123}]'
check_error "replace /size with a number is 403" 403
patch_image "$ID" '[{"op":"add","path":"/new_prop","value":"x"},{"op":"replace","path":"/status","value":"active"}]'
check_error "a read-only operation after a good one is 403" 403
check "the image is unchanged by read-only patches" unchanged

# --- bad ids in paths ---------------------------------------------------------
for p in not-a-uuid 1234 7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6 7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6fa \
	"$ID%00" "%2e%2e" "..%2f..%2fetc%2fpasswd" "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6g" \
	"$(head -c 300 /dev/zero | tr '\0' a)"; do
	call GET "/v2/images/$p"
	case $p in
	*%00*)	check "GET /v2/images/${p:0:40} is 400 or 404 ($STATUS)" \
			test "$STATUS" = 400 -o "$STATUS" = 404 ;;
	*)	check_error "GET /v2/images/${p:0:40} is 404" 404 ;;
	esac
done
call GET "/v2/images/%zz"
check_error "a bad percent-escape in the path is 400" 400
call DELETE /v2/images/not-a-uuid
check_error "DELETE of a bad id is 404" 404
patch_image not-a-uuid '[{"op":"replace","path":"/name","value":"x"}]'
check_error "PATCH of a bad id is 404" 404
call PUT /v2/images/not-a-uuid/file -H 'Content-Type: application/octet-stream' --data-binary x
check_error "upload to a bad id is 404" 404
call GET /v2/images/not-a-uuid/file
check_error "download of a bad id is 404" 404
call PUT /v2/images/not-a-uuid/tags/x
check_error "tag on a bad id is 404" 404
call POST /v2/images/not-a-uuid/actions/deactivate
check_error "deactivate of a bad id is 404" 404
call GET "/v2/images?name=%zz"
check_error "a bad percent-escape in the query is 400" 400

# --- bad tags in paths ----------------------------------------------------------
call PUT "/v2/images/$ID/tags/bad%00tag"
check_error "a tag with %00 is 400" 400
call PUT "/v2/images/$ID/tags/bad%01tag"
check_error "a tag with a control character is 400" 400
call PUT "/v2/images/$ID/tags/bad%0atag"
check_error "a tag with a newline is 400" 400
call PUT "/v2/images/$ID/tags/$(head -c 256 /dev/zero | tr '\0' t)"
check_error "a 256-character tag is 400" 400
call DELETE "/v2/images/$ID/tags/bad%00tag"
check_error "DELETE of a tag with %00 is 400" 400
call PUT "/v2/images/$ID/tags/%zz"
check_error "a tag with a bad escape is 400" 400
check "the image is unchanged by bad tags" unchanged

# --- state conflicts ----------------------------------------------------------
call GET "/v2/images/$ID/file"
check_status "download of a queued image is 204, no data" 204
head -c 1000 /dev/urandom >"$TMP/d"
check_eq "upload to the victim" 204 "$(upload "$ID" "$TMP/d")"
call PUT "/v2/images/$ID/file" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/d"
check_error "a second upload to an active image is 409" 409
st=$(cat "$TMP/d" | curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOKEN" \
	-H 'Content-Type: application/octet-stream' -T - --max-time 30 "$URL/v2/images/$ID/file")
check_eq "a chunked upload to an active image is 409" 409 "$st"
call POST "/v2/images/$ID/actions/deactivate"
call PUT "/v2/images/$ID/file" -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/d"
check_error "an upload to a deactivated image is 409" 409
call PUT "/v2/images/$ID/file" -H 'Content-Type: application/octet-stream' -H 'Content-Length: -5' --data-binary @"$TMP/d"
check "a negative Content-Length is refused with 4xx ($STATUS)" test "${STATUS:0:1}" = 4

# --- oversized headers and URLs -------------------------------------------------
# raw_status KIND: send an oversized request over a raw socket (curl gives
# up when the server answers before it has sent everything); prints the
# status the server answered, or 000.
raw_status() {
	python3 - "$PORT" "$TOKEN" "$1" <<'PY'
import socket, sys
port, token, kind = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
auth = b"X-Auth-Token: " + token + b"\r\n"
if kind == "header":
    req = b"GET /v2/images HTTP/1.1\r\nHost: x\r\n" + auth + b"X-Big: " + b"h" * 2000000 + b"\r\n\r\n"
elif kind == "headers":
    req = (b"GET /v2/images HTTP/1.1\r\nHost: x\r\n" + auth +
           b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(20000)) + b"\r\n")
else:
    req = b"GET /v2/images?name=" + b"u" * 2000000 + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"
s = socket.create_connection(("127.0.0.1", port), timeout=30)
try:
    s.sendall(req)
except OSError:
    pass
data = b""
try:
    while b"\r\n" not in data:
        d = s.recv(4096)
        if not d:
            break
        data += d
except OSError:
    pass
parts = data.split(b" ")
print(parts[1].decode() if len(parts) > 1 and data.startswith(b"HTTP/1.") else "000")
PY
}
st=$(raw_status header)
check "a 2 MB header is refused with 431 or 413 (got $st)" test "$st" = 431 -o "$st" = 413
check "raind is healthy after a 2 MB header" raind_healthy
st=$(raw_status headers)
check "20000 headers of 100 bytes are refused with 431 or 413 (got $st)" test "$st" = 431 -o "$st" = 413
st=$(raw_status url)
check "a 2 MB URL is refused with 414, 431 or 413 (got $st)" test "$st" = 414 -o "$st" = 431 -o "$st" = 413
check "raind is healthy after oversized requests" raind_healthy

# --- every error so far was JSON; a last sweep of endpoints ------------------
call GET /v2/images/00000000-0000-4000-8000-000000000000
check_error "unknown image is a JSON 404" 404
call_noauth GET "/v2/images/$ID"
check_error "no token is a JSON 401" 401
call DELETE /v2/images
check_error "DELETE /v2/images is a JSON 405" 405
call GET /v3/images
check_error "unknown API version path is a JSON 404" 404
check_eq "image count at the end" "$COUNT0" "$(image_count)"
check "raind is still healthy" raind_healthy

raind_stop
test_done
