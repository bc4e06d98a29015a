#!/bin/bash
# Sharing an image with Debian's stock OpenStack clients against raind's
# Keystone v3 and Glance v2 endpoints: the token's catalog names an
# identity endpoint, /v3/projects and /v3/users resolve names, and
# /v2/schemas/member(s) let glanceclient print members. alice shares an
# image with bob's project by name, bob accepts it, sees and downloads it;
# glance member-create/list/delete work; an unknown name gives the
# client's clean error; bob lists no one but himself.
. "$(dirname "$0")/lib.sh"

for c in /usr/bin/openstack /usr/bin/glance; do
	if [ ! -x "$c" ]; then
		skip "OpenStack clients" "$c is missing (scripts/install-deps.sh installs it)"
		test_done
	fi
done

raind_start || exit 1
for u in alice bob carol; do
	call POST /rain/v1/users -H 'Content-Type: application/json' \
		-d "{\"name\":\"$u\",\"password\":\"$u-password-1\",\"role\":\"user\",\"status\":\"active\"}"
	check_status "admin creates $u" 201
done

# os USER ARGS...: the openstack CLI logged in as USER (Debian's Python)
os() {
	local u=$1; shift
	env OS_AUTH_URL="$URL/v3" OS_IDENTITY_API_VERSION=3 OS_USERNAME="$u" \
		OS_PASSWORD="$u-password-1" OS_PROJECT_NAME="$u" OS_USER_DOMAIN_NAME=Default \
		OS_PROJECT_DOMAIN_NAME=Default OS_INTERFACE=public \
		/usr/bin/python3 /usr/bin/openstack "$@"
}
# gl USER ARGS...: glance's CLI logged in as USER, a fresh HOME (schema cache)
gl() {
	local u=$1 h; shift
	h=$(mktemp -d "$TMP/glance-home.XXXXXX")
	env HOME="$h" OS_AUTH_URL="$URL/v3" OS_USERNAME="$u" OS_PASSWORD="$u-password-1" \
		OS_PROJECT_NAME="$u" OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
		/usr/bin/python3 /usr/bin/glance "$@"
	rm -rf "$h"
}
# no_traceback FILE: the client ended without a Python traceback
no_traceback() { ! grep -q "Traceback\|has no attribute" "$1"; }

# ---- the catalog and the look-ups
ALICE=$(token_of alice alice-password-1)
curl -sS -X POST -H 'Content-Type: application/json' "$URL/v3/auth/tokens" -d '{"auth":{"identity":
	{"methods":["password"],"password":{"user":{"name":"alice","domain":{"name":"Default"},
	"password":"alice-password-1"}}}}}' >"$TMP/token.json"
check "the catalog lists identity (public, internal, admin) in the image endpoint's region" \
	python3 -c 'import json,sys
c = json.load(open(sys.argv[1]))["token"]["catalog"]
img = [e for s in c if s["type"] == "image" for e in s["endpoints"]]
ids = [e for s in c if s["type"] == "identity" for e in s["endpoints"]]
assert sorted(e["interface"] for e in ids) == ["admin", "internal", "public"], ids
assert {e["region"] for e in ids} == {img[0]["region"]}, (ids, img)
assert all(e["url"] == sys.argv[2] + "/v3" for e in ids), ids' "$TMP/token.json" "$URL"

TOKEN=$ALICE call GET "/v3/projects?name=bob"
check_json "alice finds bob's project by name (id, name, domain only)" \
	"j['projects'] == [dict(id='bob', name='bob', domain_id='default', description='', parent_id='default', is_domain=False, tags=[], options={}, links=j['projects'][0]['links'])]"
TOKEN=$ALICE call GET "/v3/projects?name=bob&domain_id=other"
check_json "but not in another domain" "j['projects'] == []"
TOKEN=$ALICE call GET "/v3/domains?name=Default"
check_json "the domain Default is found by name" "[d['id'] for d in j['domains']] == ['default']"
TOKEN=$ALICE call GET /v3/domains/other
check_status "and no other" 404
TOKEN=$ALICE call GET "/v3/users?name=nobody"
check_json "a name nobody has finds nothing" "j['users'] == []"
TOKEN=$ALICE call GET /v3/users
check_json "alice's user list is alice alone" "[u['name'] for u in j['users']] == ['alice'] and j['users'][0]['enabled'] is True"
TOKEN=$ALICE call GET /v3/projects/alice
check_json "alice reads her own project" "j['project']['id'] == 'alice' and j['project']['enabled'] is True"
TOKEN=$ALICE call GET /v3/users/bob
check_status "alice cannot read bob's account by id" 403
TOKEN=$ALICE call GET /v3/users/nobody
check_status "nor learn from a 404 whether an id exists" 403
call GET /v3/users
check_json "admins list every user" "{'alice', 'bob', 'carol'} <= {u['name'] for u in j['users']}"
call GET /v3/users/nobody
check_status "an admin gets 404 for an unknown id" 404
call GET /v2/schemas/member
check_json "/v2/schemas/member is Glance's" "j['name'] == 'member' and j['properties']['status']['enum'] == ['pending', 'accepted', 'rejected'] and j['additionalProperties'] is False"
call GET /v2/schemas/members
check_json "/v2/schemas/members is Glance's" "j['name'] == 'members' and j['properties']['members']['items']['name'] == 'member'"

# ---- openstack: create, upload, share by name, accept, download
head -c 1048576 /dev/urandom >"$TMP/disk.raw"
os alice image create --disk-format raw --container-format bare --file "$TMP/disk.raw" \
	-f value -c id shared-disk >"$TMP/id" 2>"$TMP/create.err"
ID=$(tail -n 1 "$TMP/id")
check "alice creates and uploads an image with openstack image create" test -n "$ID"
os alice image set --shared "$ID" >"$TMP/set.out" 2>&1
check "alice makes it shared" no_traceback "$TMP/set.out"
check "alice shares it with bob's project by name (openstack image add project, its domain by name)" \
	os alice image add project --project-domain Default "$ID" bob
os alice image member list -f value -c "Member ID" -c Status "$ID" >"$TMP/members" 2>&1
check_eq "openstack image member list shows bob pending" "bob pending" "$(cat "$TMP/members")"
os alice image add project "$ID" nobody >"$TMP/nobody.out" 2>&1
check "an unknown project name fails" test $? -ne 0
check "with the client's clean 'No project' error" grep -q "No project with a name or ID of 'nobody' exists" "$TMP/nobody.out"
check "and no traceback" no_traceback "$TMP/nobody.out"
check "bob accepts with openstack image set --accept" os bob image set --accept "$ID"
os bob image list -f value -c ID >"$TMP/bob-list" 2>&1
check "bob now sees it in his list" grep -qx "$ID" "$TMP/bob-list"
check "bob downloads it" os bob image save --file "$TMP/got.raw" "$ID"
check "the same bytes" cmp "$TMP/disk.raw" "$TMP/got.raw"
os bob user list -f value -c Name >"$TMP/bob-users" 2>&1
check_eq "bob's openstack user list is bob alone" "bob" "$(cat "$TMP/bob-users")"
os alice user show nobody >"$TMP/nouser.out" 2>&1
check "an unknown user name gives the client's clean 'No user' error" \
	grep -q "No user with a name or ID of 'nobody' exists" "$TMP/nouser.out"

# ---- glance: member-create, member-list, member-delete
gl alice member-create "$ID" carol >"$TMP/gcreate.out" 2>&1
check "glance member-create adds carol" grep -q "carol.*pending" "$TMP/gcreate.out"
check "without a traceback" no_traceback "$TMP/gcreate.out"
gl alice member-list --image-id "$ID" >"$TMP/glist.out" 2>&1
check "glance member-list lists bob (accepted) and carol (pending)" \
	sh -c "grep -q 'bob.*accepted' '$TMP/glist.out' && grep -q 'carol.*pending' '$TMP/glist.out'"
gl alice member-delete "$ID" carol >"$TMP/gdel.out" 2>&1
check "glance member-delete removes carol" no_traceback "$TMP/gdel.out"
gl alice member-list --image-id "$ID" >"$TMP/glist2.out" 2>&1
check "and she is gone from the list" sh -c "! grep -q carol '$TMP/glist2.out' && grep -q bob '$TMP/glist2.out'"

test_done
