#!/bin/bash
# The audit log and usage history: every change through raind (who, what,
# when, from where, its status) in an append-only log that admins query;
# an image's history for its owner, a user's for that user; both through
# the CLI too.
source "$(dirname "$0")/lib.sh"

export RAIN_ADMIN_PASSWORD=t0123-admin-password
raind_start || exit 1
unset RAIN_ADMIN_PASSWORD
for u in alice bob; do
	call POST /rain/v1/users -H 'Content-Type: application/json' \
		-d "{\"name\":\"$u\",\"password\":\"$u-password\",\"role\":\"user\",\"status\":\"active\"}"
done
ALICE=$(token_of alice alice-password)
BOB=$(token_of bob bob-password)
token_of bob wrong-password >/dev/null
ID=$(curl -sS -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' "$URL/v2/images" \
	-d '{"name":"audited","disk_format":"raw","container_format":"bare"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo data | curl -sS -o /dev/null -X PUT -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/octet-stream' \
	--data-binary @- "$URL/v2/images/$ID/file"
curl -sS -o /dev/null -H "X-Auth-Token: $ALICE" "$URL/v2/images/$ID/file"
curl -sS -o /dev/null -X PATCH -H "X-Auth-Token: $BOB" -H 'Content-Type: application/openstack-images-v2.1-json-patch' \
	-d '[]' "$URL/v2/images/$ID"

call GET "/rain/v1/audit?actor=alice"
check_status "admins read the audit log" 200
check_json "alice's create, upload and login are there, with her address" '
[e["method"] + " " + e["path"].split("/")[1] + " " + str(e["status"]) for e in j["events"]] ==
["POST v3 201", "POST v2 201", "PUT v2 204"] and
all(e["actor"] == "alice" and e["address"] == "127.0.0.1" and e["at"].endswith("Z") for e in j["events"])'
call GET "/rain/v1/audit?target=bob"
check_json "bob's failed login is recorded, without his password" '
any(e["path"] == "/v3/auth/tokens" and e["status"] == 401 for e in j["events"]) and "wrong-password" not in json.dumps(j)'
call GET "/rain/v1/audit?target=$ID"
check_json "bob's refused change to alice's image is recorded" 'any(e["actor"] == "bob" and e["status"] == 404 for e in j["events"])'
check_eq "a user may not read the audit log" 403 "$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $BOB" "$URL/rain/v1/audit")"
check_eq "a bad time is refused" 400 "$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $TOKEN" "$URL/rain/v1/audit?since=yesterday")"
call GET "/rain/v1/audit?since=2999-01-01T00:00:00Z"
check_json "since filters" 'j["events"] == []'

check "the log cannot be changed behind raind's back" sh -c "! sqlite3 '$DATA/catalog.db' 'UPDATE audit SET actor = \"x\"' 2>/dev/null"
check "nor shortened" sh -c "! sqlite3 '$DATA/catalog.db' 'DELETE FROM audit' 2>/dev/null"

h=$(curl -sS -H "X-Auth-Token: $ALICE" "$URL/rain/v1/history/images/$ID")
check "alice reads her image's history: one download, two changes" python3 -c '
import json,sys; j=json.loads(sys.argv[1])
assert j["image"]["download_count"] == 1 and j["image"]["last_accessed_at"], j["image"]
assert [e["method"] for e in j["events"] if e["actor"] == "alice"] == ["PUT"], j["events"]' "$h"
check_eq "bob cannot see the history of alice's private image" 404 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $BOB" "$URL/rain/v1/history/images/$ID")"
h=$(curl -sS -H "X-Auth-Token: $ALICE" "$URL/rain/v1/history/users/alice")
check "alice reads her own history with her usage" python3 -c '
import json,sys; j=json.loads(sys.argv[1])
assert j["user"]["name"] == "alice" and j["user"]["last_login"] and j["usage"]["images"] == 1, j' "$h"
h=$(curl -sS -H "X-Auth-Token: $BOB" "$URL/rain/v1/history/users/bob")
check "bob's history has his account's creation, his login and the failed one" python3 -c '
import json,sys; j=json.loads(sys.argv[1])
seen = [(e["actor"], e["method"], e["path"], e["status"]) for e in j["events"]]
assert seen[:3] == [("admin", "POST", "/rain/v1/users", 201), ("bob", "POST", "/v3/auth/tokens", 201),
                    ("", "POST", "/v3/auth/tokens", 401)], seen' "$h"
check_eq "bob cannot read alice's history" 403 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $BOB" "$URL/rain/v1/history/users/alice")"

check "rain audit --user alice prints her changes" sh -c "'$RAIN' audit --user alice | grep -q 'POST /v2/images'"
check "rain history image prints the download count" sh -c "RAIN_TOKEN='$ALICE' '$RAIN' history image audited | grep -q 'download_count *1'"
check "rain history user alice --json" sh -c "'$RAIN' history user alice --json | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"user\"][\"name\"] == \"alice\"'"
check "rain audit --help" sh -c "'$RAIN' audit --help | grep -q -- --since"

raind_stop KILL
raind_start || exit 1
call GET "/rain/v1/audit?actor=alice"
check_json "the log survives kill -9 of raind" 'len(j["events"]) == 3'
test_done
