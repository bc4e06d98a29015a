#!/bin/bash
# The basics of the Images API v2: health, versions, authentication,
# create/show/update/delete, tags, deactivate/reactivate and schemas.
source "$(dirname "$0")/lib.sh"

raind_start || { not_ok "raind starts"; test_done; }
ok "raind starts"

# --- public endpoints -------------------------------------------------------
call_noauth GET /healthz
check_status "GET /healthz without a token is 200" 200
check_json "/healthz says ok, catalog and store reachable" \
	'j == {"status": "ok", "catalog": "ok", "store": "ok"}'

call_noauth GET /
check_status "GET / is 300 Multiple Choices" 300
check_json "GET / lists versions with v2.x CURRENT and links" \
	'any(v["status"] == "CURRENT" and v["id"].startswith("v2.") for v in j["versions"]) and all(v["links"][0]["href"].endswith("/v2/") for v in j["versions"])'
check_json "GET / lists v2.0 as SUPPORTED" \
	'any(v["id"] == "v2.0" and v["status"] == "SUPPORTED" for v in j["versions"])'
call_noauth GET /versions
check_status "GET /versions is 300 too" 300

# --- authentication ----------------------------------------------------------
call_noauth GET /v2/images
check_error "GET /v2/images without a token is 401" 401
hdrs=$(curl -sS -D - -o /dev/null "$URL/v2/images")
check "401 carries a WWW-Authenticate header" grep -qi '^WWW-Authenticate:' <<<"$hdrs"
call_noauth GET /v2/images -H 'X-Auth-Token: not-the-token'
check_error "GET /v2/images with a wrong token is 401" 401
call_noauth GET /v2/images -H "X-Auth-Token: ${TOKEN}x"
check_error "a token with an extra character is 401" 401
call_noauth GET /v2/images -H "X-Auth-Token: ${TOKEN%?}"
check_error "a token missing its last character is 401" 401
call_noauth GET /v2/images -H 'X-Auth-Token;'
check_error "an empty token is 401" 401
call_noauth POST /v2/images -H 'Content-Type: application/json' -d '{"name":"x"}'
check_error "POST /v2/images without a token is 401" 401
call_noauth GET /v2/schemas/image
check_error "schemas need a token too (401)" 401
call GET /v2/images
check_status "GET /v2/images with the admin token is 200" 200
check_json "no images yet" 'j["images"] == [] and j["first"] == "/v2/images" and j["schema"] == "/v2/schemas/images" and "next" not in j'
check "admin-token file has mode 0600" test "$(stat -c %a "$DATA/admin-token")" = 600

# --- create ------------------------------------------------------------------
hdrs_file=$TMP/create.hdrs
call POST /v2/images -D "$hdrs_file" -H 'Content-Type: application/json' \
	-d '{"name":"basic-1","disk_format":"raw","container_format":"bare","min_ram":128,"os_distro":"debian","tags":["t1","t2"]}'
check_status "POST /v2/images is 201" 201
ID=$(printf '%s' "$BODY" | json_get id)
check "the new id is a UUID" grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' <<<"$ID"
check "Location header is /v2/images/ID" \
	grep -Eqi "^Location: (http://127\.0\.0\.1:$PORT)?/v2/images/$ID"$'\r?$' "$hdrs_file"
check_json "every Glance field is present" '
all(k in j for k in ("id","name","status","visibility","protected","os_hidden","checksum",
  "os_hash_algo","os_hash_value","size","virtual_size","disk_format","container_format",
  "min_disk","min_ram","owner","tags","created_at","updated_at","self","file","schema"))'
check_json "new image fields have Glance's values" '
j["name"] == "basic-1" and j["status"] == "queued" and j["visibility"] == "shared" and
j["protected"] is False and j["os_hidden"] is False and j["checksum"] is None and
j["os_hash_algo"] is None and j["os_hash_value"] is None and j["size"] is None and
j["virtual_size"] is None and j["disk_format"] == "raw" and j["container_format"] == "bare" and
j["min_disk"] == 0 and j["min_ram"] == 128 and sorted(j["tags"]) == ["t1","t2"]'
check_json "owner is admin" 'j["owner"] == "admin"'
check_json "custom property is a top-level string" 'j["os_distro"] == "debian"'
check_json "self/file/schema links" \
	'j["self"] == "/v2/images/"+j["id"] and j["file"] == "/v2/images/"+j["id"]+"/file" and j["schema"] == "/v2/schemas/image"'
check_json "created_at/updated_at are ISO 8601 UTC" \
	'__import__("re").match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", j["created_at"]) and __import__("re").match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", j["updated_at"])'
CREATED=$BODY

call POST /v2/images -H 'Content-Type: application/json' -d '{"name":"evil","owner":"mallory"}'
check_error "POST for an owner who is no user is 400" 400
call POST /v2/images -H 'Content-Type: application/json' -d '{"name":"evil","status":"active"}'
check_error "POST with a status in the body is 403" 403
call POST /v2/images -H 'Content-Type: application/json' \
	-d '{"id":"7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f","name":"chosen-id"}'
check_status "POST with a chosen id is 201" 201
check_json "the chosen id is kept" 'j["id"] == "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f" and j["disk_format"] is None'
call POST /v2/images -H 'Content-Type: application/json' \
	-d '{"id":"7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f","name":"dup-id"}'
check_error "POST with an id in use is 409" 409
call POST /v2/images -H 'Content-Type: application/json' -d '{}'
check_status "POST with an empty object is 201 (all fields optional)" 201
check_json "an image without name has name null" 'j["name"] is None and j["owner"] == "admin"'
EMPTY_ID=$(printf '%s' "$BODY" | json_get id)
call GET /v2/images
check_json "three images listed, none named evil" \
	'len(j["images"]) == 3 and not any(i["name"] in ("evil","dup-id") for i in j["images"])'

# --- show --------------------------------------------------------------------
call GET "/v2/images/$ID"
check_status "GET /v2/images/ID is 200" 200
check "GET returns what POST returned" python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); sys.exit(a != b)' "$CREATED" "$BODY"
call GET "/v2/images/$ID/"
check_status "GET /v2/images/ID/ (trailing slash) is 200" 200
call GET /v2/images/00000000-0000-4000-8000-000000000000
check_error "GET of an unknown id is 404" 404
call GET /v2/images/
check_error "GET of an empty id (/v2/images/) is 404, not the list" 404
call DELETE /v2/images/
check_error "DELETE of an empty id is 404" 404

# --- update (JSON patch) -----------------------------------------------------
PT='Content-Type: application/openstack-images-v2.1-json-patch'
sleep 1   # so that updated_at moves
patch_image "$ID" '[{"op":"replace","path":"/name","value":"basic-renamed"}]'
check_status "PATCH replace /name is 200" 200
check_json "name replaced" 'j["name"] == "basic-renamed"'
check_json "updated_at moved, created_at did not" \
	"j['updated_at'] > j['created_at'] and j['created_at'] == $(printf '%s' "$CREATED" | json_get created_at | python3 -c 'import sys; print(repr(sys.stdin.read().strip()))')"
patch_image "$ID" '[{"op":"add","path":"/name","value":"basic-2"}]'
check_json "PATCH add /name (core) sets it" 'j["name"] == "basic-2"'
patch_image "$ID" '[{"op":"replace","path":"/visibility","value":"public"}]'
check_status "PATCH replace /visibility public (admin) is 200" 200
check_json "visibility is public" 'j["visibility"] == "public"'
patch_image "$ID" '[{"op":"replace","path":"/visibility","value":"private"}]'
check_json "visibility back to private" 'j["visibility"] == "private"'
patch_image "$ID" '[{"op":"replace","path":"/visibility","value":"secret"}]'
check_error "PATCH visibility to an unknown value is 400" 400
patch_image "$ID" '[{"op":"replace","path":"/min_ram","value":1024}]'
check_status "PATCH replace /min_ram is 200" 200
check_json "min_ram is 1024" 'j["min_ram"] == 1024'
patch_image "$ID" '[{"op":"replace","path":"/min_ram","value":"1024"}]'
check_error "PATCH min_ram with a string is 400" 400
patch_image "$ID" '[{"op":"replace","path":"/min_disk","value":-1}]'
check_error "PATCH min_disk negative is 400" 400
patch_image "$ID" '[{"op":"add","path":"/hw_firmware_type","value":"uefi"}]'
check_status "PATCH add a custom property is 200" 200
check_json "custom property added" 'j["hw_firmware_type"] == "uefi"'
patch_image "$ID" '[{"op":"replace","path":"/hw_firmware_type","value":"bios"}]'
check_json "custom property replaced" 'j["hw_firmware_type"] == "bios"'
patch_image "$ID" '[{"op":"replace","path":"/no_such_prop","value":"x"}]'
check_error "PATCH replace of a missing property is 409 (Glance)" 409
patch_image "$ID" '[{"op":"remove","path":"/hw_firmware_type"}]'
check_status "PATCH remove a custom property is 200" 200
check_json "custom property removed" '"hw_firmware_type" not in j and j["os_distro"] == "debian"'
patch_image "$ID" '[{"op":"remove","path":"/hw_firmware_type"}]'
check_error "PATCH remove of a missing property is 409 (Glance)" 409
patch_image "$ID" '[{"op":"remove","path":"/name"}]'
check_error "PATCH remove of a base attribute is 403" 403
patch_image "$ID" '[{"op":"replace","path":"/tags","value":["x","y","z"]}]'
check_status "PATCH replace /tags is 200" 200
check_json "tags replaced" 'sorted(j["tags"]) == ["x","y","z"]'
patch_image "$ID" '[{"op":"replace","path":"/tags","value":[]}]'
check_json "tags emptied" 'j["tags"] == []'
patch_image "$ID" '[{"op":"add","path":"/a","value":"1"},{"op":"add","path":"/b","value":"2"},{"op":"replace","path":"/name","value":"multi"}]'
check_json "several operations in one PATCH all apply" 'j["a"] == "1" and j["b"] == "2" and j["name"] == "multi"'
patch_image "$ID" '[{"op":"add","path":"/c","value":"3"},{"op":"replace","path":"/min_ram","value":"bad"}]'
check_error "a PATCH with one bad operation is 400" 400
call GET "/v2/images/$ID"
check_json "... and none of its operations applied (atomic)" '"c" not in j and j["min_ram"] == 1024'
call PATCH "/v2/images/$ID" -H 'Content-Type: application/json' \
	--data-binary '[{"op":"replace","path":"/name","value":"nope"}]'
check_error "PATCH with Content-Type application/json is 415" 415
call PATCH "/v2/images/$ID" --data-binary '[{"op":"replace","path":"/name","value":"nope"}]'
check_error "PATCH with a form Content-Type is 415" 415
call GET "/v2/images/$ID"
check_json "415 PATCHes changed nothing" 'j["name"] == "multi"'
call PATCH "/v2/images/$ID" -H 'Content-Type: application/openstack-images-v2.0-json-patch' \
	--data-binary '[{"replace":"/name","value":"draft4"},{"add":"/d","value":"4"},{"remove":"/b"}]'
check_json "Glance's v2.0 media type takes its draft 4 patches (the op's name holds the path)" \
	'j["name"] == "draft4" and j["d"] == "4" and "b" not in j'
call PATCH "/v2/images/$ID" -H 'Content-Type: application/openstack-images-v2.0-json-patch' \
	--data-binary '[{"op":"replace","path":"/name","value":"nope"}]'
check_error "... and refuses an RFC 6902 one" 400
patch_image 00000000-0000-4000-8000-000000000000 '[{"op":"replace","path":"/name","value":"x"}]'
check_error "PATCH of an unknown image is 404" 404

# --- tags --------------------------------------------------------------------
call PUT "/v2/images/$ID/tags/blue"
check_status "PUT tag is 204" 204
check_eq "204 has an empty body" "" "$BODY"
call PUT "/v2/images/$ID/tags/blue"
check_status "PUT of an existing tag is 204 again" 204
call PUT "/v2/images/$ID/tags/with%20space"
check_status "PUT of a percent-encoded tag is 204" 204
call GET "/v2/images/$ID"
check_json "tags are blue and 'with space', once each" 'sorted(j["tags"]) == ["blue","with space"]'
call DELETE "/v2/images/$ID/tags/blue"
check_status "DELETE tag is 204" 204
call DELETE "/v2/images/$ID/tags/blue"
check_error "DELETE of a missing tag is 404" 404
call GET "/v2/images/$ID"
check_json "tag removed" 'j["tags"] == ["with space"]'
call PUT /v2/images/00000000-0000-4000-8000-000000000000/tags/x
check_error "PUT tag on an unknown image is 404" 404

# --- deactivate / reactivate -------------------------------------------------
call POST "/v2/images/$ID/actions/deactivate"
check_error "deactivate a queued image is 403" 403
call POST "/v2/images/$ID/actions/reactivate"
check_error "reactivate a queued image is 403" 403
head -c 4096 /dev/urandom >"$TMP/small"
check_eq "upload data so the image is active (204)" 204 "$(upload "$ID" "$TMP/small")"
call POST "/v2/images/$ID/actions/deactivate"
check_status "deactivate an active image is 204" 204
call GET "/v2/images/$ID"
check_json "status is deactivated" 'j["status"] == "deactivated"'
call POST "/v2/images/$ID/actions/deactivate"
check_status "deactivate again is 204 (no-op)" 204
call POST "/v2/images/$ID/actions/reactivate"
check_status "reactivate is 204" 204
call GET "/v2/images/$ID"
check_json "status is active again" 'j["status"] == "active"'
call POST "/v2/images/$ID/actions/reactivate"
check_status "reactivate an active image is 204 (no-op)" 204
call POST /v2/images/00000000-0000-4000-8000-000000000000/actions/deactivate
check_error "deactivate an unknown image is 404" 404
call GET "/v2/images/$ID/actions/deactivate"
check_error "GET on an action is 405" 405

# --- concurrent writes ------------------------------------------------------
# twenty PATCHes and twenty tag PUTs at once: none may be lost
for i in $(seq 1 20); do
	api PATCH "/v2/images/$ID" -H 'Content-Type: application/openstack-images-v2.1-json-patch' \
		--data-binary "[{\"op\":\"add\",\"path\":\"/conc_$i\",\"value\":\"$i\"}]" -o /dev/null >"$TMP/p.$i" &
	api PUT "/v2/images/$ID/tags/conc-$i" -o /dev/null >"$TMP/t.$i" &
done
wait_bg
check_eq "twenty concurrent PATCHes all return 200" 20 "$(cat "$TMP"/p.* | grep -c '^200$')"
check_eq "twenty concurrent tag PUTs all return 204" 20 "$(cat "$TMP"/t.* | grep -c '^204$')"
call GET "/v2/images/$ID"
check_json "all twenty properties are there" 'all(j.get("conc_%d" % i) == str(i) for i in range(1, 21))'
check_json "all twenty tags are there" 'all("conc-%d" % i in j["tags"] for i in range(1, 21))'

# --- protected ---------------------------------------------------------------
patch_image "$EMPTY_ID" '[{"op":"replace","path":"/protected","value":true}]'
check_json "image made protected" 'j["protected"] is True'
call DELETE "/v2/images/$EMPTY_ID"
check_error "DELETE of a protected image is 403" 403
patch_image "$EMPTY_ID" '[{"op":"replace","path":"/protected","value":false}]'
call DELETE "/v2/images/$EMPTY_ID"
check_status "DELETE once unprotected is 204" 204

# --- delete ------------------------------------------------------------------
call DELETE "/v2/images/$ID"
check_status "DELETE is 204" 204
check_eq "DELETE 204 has an empty body" "" "$BODY"
call GET "/v2/images/$ID"
check_error "GET after DELETE is 404" 404
call DELETE "/v2/images/$ID"
check_error "DELETE again is 404" 404
call GET /v2/images
check_json "one image left" 'len(j["images"]) == 1 and j["images"][0]["name"] == "chosen-id"'

# --- schemas -----------------------------------------------------------------
call GET /v2/schemas/image
check_status "GET /v2/schemas/image is 200" 200
check_json "image schema is named image with properties" \
	'j["name"] == "image" and "properties" in j and "name" in j["properties"] and j["properties"]["status"]["readOnly"] is True'
call GET /v2/schemas/images
check_status "GET /v2/schemas/images is 200" 200
check_json "images schema is named images" \
	'j["name"] == "images" and j["properties"]["images"]["items"]["name"] == "image"'

# --- misc routing ------------------------------------------------------------
call GET /v2/nothing-here
check_error "an unknown path is 404" 404
call PUT /v2/images
check_error "PUT /v2/images is 405" 405
check "raind is still healthy" raind_healthy

raind_stop
test_done
