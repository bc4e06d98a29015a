#!/bin/bash
# Users and Keystone v3 authentication: the login an OpenStack client does
# (raw HTTP), token validation, revocation, expiry, forgery, lock-out,
# inactive users, user administration, the CLI's login/logout, the
# first-start admin password, ownership of users' images, and no token in
# raind's log.
source "$(dirname "$0")/lib.sh"

ADMIN_PW='first-admin-pw'
export RAIN_ADMIN_PASSWORD=$ADMIN_PW
raind_start || { not_ok "raind starts"; test_done; }
unset RAIN_ADMIN_PASSWORD
ok "raind starts"

# login NAME PASSWORD [DOMAIN-JSON]: POST /v3/auth/tokens as keystoneauth
# sends it; sets STATUS, BODY and SUBJECT (the X-Subject-Token).
login() {
	local domain=${3:-'{"name":"Default"}'}
	local body
	body=$(python3 -c 'import json,sys
print(json.dumps({"auth":{"identity":{"methods":["password"],"password":{"user":{
 "name":sys.argv[1],"domain":json.loads(sys.argv[3]),"password":sys.argv[2]}}},
 "scope":{"project":{"name":sys.argv[1],"domain":{"id":"default"}}}}}))' "$1" "$2" "$domain")
	_split_reply "$(curl -sS -X POST -D "$TMP/login.hdrs" -H 'Content-Type: application/json' \
		-d "$body" -w '\n%{http_code}' "$URL/v3/auth/tokens"; echo x)"
	SUBJECT=$(sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: *\([^[:space:]]*\).*/\1/p' "$TMP/login.hdrs")
}

# as TOKEN METHOD PATH [CURL ARGS...]: a call with another token.
as() {
	local tok=$1 method=$2 path=$3; shift 3
	_split_reply "$(curl -sS -X "$method" -H "X-Auth-Token: $tok" -w '\n%{http_code}' "$@" "$URL$path"; echo x)"
}

is_keystone_401() {
	printf '%s' "$BODY" | python3 -c 'import json,sys
e=json.load(sys.stdin)["error"]
assert e["code"]==401 and e["title"]=="Unauthorized" and e["message"]' 
}

# --- version document ------------------------------------------------------
call_noauth GET /v3
check_status "GET /v3 needs no token (200)" 200
check_json "GET /v3 is Keystone's version document" \
	'j["version"]["id"].startswith("v3") and j["version"]["status"] == "stable" and j["version"]["links"][0]["href"].endswith("/v3/")'

# --- first-start admin -----------------------------------------------------
check "first start says where the admin password came from" grep -q "RAIN_ADMIN_PASSWORD" "$TMP/raind.log"
login admin "$ADMIN_PW"
check_status "admin logs in with the password from RAIN_ADMIN_PASSWORD (201)" 201
ADMIN_USER_TOKEN=$SUBJECT
check "the token comes in X-Subject-Token (64 hex)" grep -Eq '^[0-9a-f]{64}$' <<<"$SUBJECT"
check_json "the token body is Keystone's" '(lambda t:
t["methods"]==["password"] and t["user"]["name"]=="admin" and
t["user"]["domain"]=={"id":"default","name":"Default"} and
t["roles"][0]["name"]=="admin" and t["project"]["name"]=="admin" and
t["issued_at"].endswith("Z") and len(t["expires_at"])==27 and "." in t["expires_at"])(j["token"])'
check_json "the catalog's image endpoint is raind itself" "(lambda e:
e['interface']=='public' and e['region_id']=='RegionOne' and e['url']=='$URL')(
[c for c in j['token']['catalog'] if c['type']=='image'][0]['endpoints'][0])"

# --- user administration ---------------------------------------------------
call POST /rain/v1/users -H 'Content-Type: application/json' \
	-d '{"name":"alice","password":"alice-pw-1","quota_images":5}'
check_status "admin creates user alice (201)" 201
check_json "alice has the defaults" 'j["role"]=="user" and j["status"]=="active" and j["quota_bytes"]==8*2**30 and j["quota_images"]==5 and j["last_login"] is None'
check_json "no password hash is ever returned" '"password" not in json.dumps(j) and "argon2" not in json.dumps(j)'
call POST /rain/v1/users -H 'Content-Type: application/json' -d '{"name":"alice","password":"x-long-password"}'
check_status "a second alice is 409" 409
call POST /rain/v1/users -H 'Content-Type: application/json' -d '{"name":"a/b","password":"x"}'
check_error "a name with '/' is 400" 400
call POST /rain/v1/users -H 'Content-Type: application/json' \
	-d "{\"name\":\"$(printf 'x%.0s' $(seq 65))\",\"password\":\"x\"}"
check_error "a 65-byte name is 400" 400
call POST /rain/v1/users -H 'Content-Type: application/json' -d '{"name":"bob","password":"bob-password","role":"boss"}'
check_error "an unknown role is 400" 400
call POST /rain/v1/users -H 'Content-Type: application/json' -d '{"name":"bob","password":"bob-password"}'
check_status "admin creates bob" 201
call GET /rain/v1/users
check_json "the list has admin, alice, bob" '[u["name"] for u in j["users"]]==["admin","alice","bob"]'
call GET /rain/v1/users/alice
check_json "GET /rain/v1/users/alice" 'j["name"]=="alice"'
call GET /rain/v1/users/nobody
check_error "an unknown user is 404" 404
call PATCH /rain/v1/users/bob -H 'Content-Type: application/json' -d '{"quota_bytes":1000,"status":"pending"}'
check_json "PATCH changes bob" 'j["quota_bytes"]==1000 and j["status"]=="pending"'
call PATCH /rain/v1/users/nobody -H 'Content-Type: application/json' -d '{"quota_bytes":1}'
check_error "PATCH of an unknown user is 404" 404
as "$ADMIN_USER_TOKEN" GET /rain/v1/users
check_status "the admin user's token manages users too" 200

# --- a user logs in as an OpenStack client does ------------------------------
login alice alice-pw-1 '{"id":"default"}'
check_status "alice logs in (domain by id)" 201
ALICE=$SUBJECT
check_json "alice is a member" 'j["token"]["roles"][0]["name"]=="member" and j["token"]["user"]["name"]=="alice"'
as "$ALICE" GET /v2/images
check_status "GET /v2/images with alice's token is 200" 200
as "$ALICE" GET /rain/v1/users
check_error "a non-admin on /rain/v1/users is 403" 403
as "$ALICE" POST /rain/v1/users -H 'Content-Type: application/json' -d '{"name":"eve","password":"x"}'
check_error "a non-admin cannot create users (403)" 403
as "$ALICE" POST /v2/images -H 'Content-Type: application/json' \
	-d '{"name":"alice-img","disk_format":"raw","container_format":"bare"}'
check_status "alice creates an image" 201
check_json "alice's image is owned by alice" 'j["owner"]=="alice"'
call GET /rain/v1/users/alice
check_json "alice's last login is recorded" 'j["last_login"] is not None'

# --- validate and revoke ---------------------------------------------------
as "$ALICE" GET /v3/auth/tokens -H "X-Subject-Token: $ALICE"
check_status "alice validates her own token (200)" 200
check_json "validation returns the token body" 'j["token"]["user"]["name"]=="alice"'
code=$(curl -sS -o "$TMP/head.out" -w '%{http_code}' -I -H "X-Auth-Token: $TOKEN" -H "X-Subject-Token: $ALICE" "$URL/v3/auth/tokens")
check_eq "HEAD /v3/auth/tokens is 200" 200 "$code"
call GET /v3/auth/tokens -H "X-Subject-Token: $(printf '0%.0s' $(seq 64))"
check_status "validating an unknown token is 404" 404
login alice alice-pw-1
ALICE2=$SUBJECT
as "$ALICE" DELETE /v3/auth/tokens -H "X-Subject-Token: $ALICE"
check_status "DELETE /v3/auth/tokens revokes (204)" 204
as "$ALICE" GET /v2/images
check_error "the revoked token is 401" 401
call GET /v3/auth/tokens -H "X-Subject-Token: $ALICE"
check_status "a revoked token no longer validates (404)" 404
as "$ALICE2" GET /v2/images
check_status "alice's other token still works" 200

# --- forged tokens ---------------------------------------------------------
as "$(printf 'a%.0s' $(seq 64))" GET /v2/images
check_error "a forged 64-hex token is 401" 401
last=${ALICE2: -1}
as "${ALICE2%?}$([ "$last" = 0 ] && echo 1 || echo 0)" GET /v2/images
check_error "a token with one character changed is 401" 401
HASHED=$(printf '%s' "$ALICE2" | sha256sum | cut -d' ' -f1)
as "$HASHED" GET /v2/images
check_error "the stored hash is not a token (401)" 401

# --- wrong passwords -------------------------------------------------------
login alice wrong-pw
check_status "a wrong password is 401" 401
check "the 401 has Keystone's error body" is_keystone_401
login nobody whatever
check_status "an unknown user is 401" 401
check "... with the same body" is_keystone_401
login bob bob-password
check_status "a pending user cannot log in (401)" 401
login alice alice-pw-1 '{"name":"Other"}'
check_status "another domain is 401" 401
# the same work whether or not the user exists
t0=$(date +%s%N); login alice wrong-pw; t1=$(date +%s%N); login nobody2 wrong-pw; t2=$(date +%s%N)
known=$(( (t1 - t0) / 1000000 )); unknown=$(( (t2 - t1) / 1000000 ))
check "a wrong password (${known} ms) and an unknown user (${unknown} ms) take about as long" \
	python3 -c "import sys; k,u=$known,$unknown; sys.exit(0 if u > k/3 and k > u/3 and min(k,u) >= 20 else 1)"

# --- lock-out --------------------------------------------------------------
call POST /rain/v1/users -H 'Content-Type: application/json' -d '{"name":"carol","password":"carol-pw"}'
for i in 1 2 3 4 5; do login carol "wrongpass$i"; done
check_status "the fifth failure is 401" 401
login carol carol-pw
check_status "after 5 failures the right password is refused (401)" 401
check "the lock-out is logged as a warning naming the user and address" \
	grep -Eq "warning.*carol.*127\.0\.0\.1" "$TMP/raind.log"
check "no password appears in the log" bash -c "! grep -Eq 'wrongpass[0-9]|carol-pw|alice-pw-1|$ADMIN_PW' '$TMP/raind.log'"
login alice alice-pw-1
check_status "other users are not locked out" 201

# --- inactive users lose access at once ----------------------------------------
check "rain user set --status inactive" "$RAIN" user set alice --status inactive
as "$ALICE2" GET /v2/images
check_error "an inactive user's existing token is 401 at once" 401
login alice alice-pw-1
check_status "an inactive user cannot log in" 401
check "rain user set --status active" "$RAIN" user set alice --status active
as "$ALICE2" GET /v2/images
check_error "reactivated, her old token stays revoked (401)" 401
login alice alice-pw-1
check_status "reactivated, she logs in again" 201
ALICE3=$SUBJECT

# --- the CLI ---------------------------------------------------------------
printf 'dave-password\n' >"$TMP/dave.pw"
check "rain user add dave" "$RAIN" user add dave --password-file "$TMP/dave.pw" --quota 2G --image-quota 3
"$RAIN" user show dave --json >"$TMP/dave.json" 2>&1
BODY=$(cat "$TMP/dave.json")
check_json "rain user show --json: quota 2G and 3 images, nothing used" 'j["quota_bytes"]==2*2**30 and j["quota_images"]==3 and j["role"]=="user" and j["bytes_used"]==0 and j["images"]==0'
check "rain user list shows dave" bash -c "'$RAIN' user list | grep -q '^dave '"
check "rain user list --json" bash -c "'$RAIN' user list --json | python3 -c 'import json,sys; assert \"dave\" in [u[\"name\"] for u in json.load(sys.stdin)[\"users\"]]'"
check "rain user --help lists set" bash -c "'$RAIN' user --help | grep -q set"
# log in as dave with no RAIN_TOKEN: the token goes to the config file
(
	unset RAIN_TOKEN
	"$RAIN" login --user dave --password-file "$TMP/dave.pw" >"$TMP/cli-login.out" 2>&1 || exit 1
	cfg=$XDG_CONFIG_HOME/rain/config
	[ "$(stat -c %a "$cfg")" = 600 ] || { echo "mode $(stat -c %a "$cfg")"; exit 1; }
	grep -Eq '^token *= *[0-9a-f]{64}$' "$cfg" || exit 1
	grep -E '^token *=' "$cfg" | sed 's/.*= *//' >"$TMP/dave.token"
	# the token is bound to the URL it came from: another name for the
	# server does not get it (raind says 401), and the CLI says why
	grep -Eq "^token_url *= *$URL\$" "$cfg" || { echo "no token_url"; exit 1; }
	! RAIN_URL=http://localhost:$PORT "$RAIN" image list >/dev/null 2>"$TMP/other.err" || exit 1
	grep -q "not sending the token in .* it is for $URL, not http://localhost:$PORT" "$TMP/other.err" ||
		{ cat "$TMP/other.err"; exit 1; }
	"$RAIN" image create --name dave-img --disk-format raw --container-format bare >/dev/null || exit 1
	"$RAIN" image list >"$TMP/cli-list.out" || exit 1
	grep -q dave-img "$TMP/cli-list.out" || exit 1
	# a user shows their own account and changes their own password, no more
	"$RAIN" user show dave >/dev/null || exit 1
	! "$RAIN" user show alice >/dev/null 2>&1 || exit 1
	printf 'dave-second-password\n' >"$TMP/dave2.pw"
	"$RAIN" user set dave --password-file "$TMP/dave2.pw" || exit 1
	! "$RAIN" user set dave --quota 100G 2>"$TMP/quota.err" || exit 1
	grep -q "Only admins change a user's role, status and quotas" "$TMP/quota.err" || exit 1
	cp "$TMP/dave2.pw" "$TMP/dave.pw"
	"$RAIN" logout || exit 1
	! grep -q '^token' "$cfg" || exit 1     # token and token_url
	! "$RAIN" image list >/dev/null 2>&1 || exit 1
) >"$TMP/cli.out" 2>&1
check_eq "rain login + image list + user show/set of oneself + logout" 0 "$?"
[ -s "$TMP/cli.out" ] && sed 's/^/#   /' "$TMP/cli.out" | tail -5
as "$(cat "$TMP/dave.token")" GET /v2/images
check_error "after rain logout the token is revoked (401)" 401
call GET "/v2/images?name=dave-img"
check_json "dave's image is owned by dave" 'j["images"][0]["owner"]=="dave"'
(unset RAIN_TOKEN; printf 'wrong\n' | "$RAIN" login --user dave >/dev/null 2>&1)
check_eq "rain login with a wrong password (stdin) fails" 1 "$?"
"$RAIN" user delete dave 2>"$TMP/del.err"
check_eq "rain user delete refuses a user who owns images" 1 "$?"
check "...and says how to find them" grep -q "owns 1 image: delete it first.*'rain image list --owner dave' lists them" "$TMP/del.err"
check "rain image delete dave-img" "$RAIN" image delete dave-img
check "rain user delete dave" "$RAIN" user delete dave
call GET /rain/v1/users/dave
check_error "a deleted user is gone (404)" 404

# --- no token in the log -----------------------------------------------------
leak=0
for t in "$ADMIN_USER_TOKEN" "$ALICE" "$ALICE2" "$ALICE3" "$(cat "$TMP/dave.token")" "$TOKEN"; do
	grep -qF "$t" "$TMP/raind.log" && leak=1
done
check_eq "no token appears in raind's log" 0 "$leak"
check "the log has no X-Auth-Token or X-Subject-Token" bash -c "! grep -qi 'x-auth-token\|x-subject-token' '$TMP/raind.log'"

# --- expiry, restart, one-time password ---------------------------------------
raind_stop
# (more than the 64 connections one address may have by default)
printf '[server]\nmax_connections_per_address = 200\n[auth]\ntoken_lifetime = 2\n' >"$TMP/short.ini"
raind_start --config "$TMP/short.ini" || not_ok "raind restarts"
check "a restart keeps the users (no new admin)" bash -c "[ \$(grep -c 'first start' '$TMP/raind.log') = 1 ]"
login carol carol-pw
check_status "a restart keeps carol locked out (401)" 401
login alice alice-pw-1
check_status "alice logs in with a 2 s token lifetime" 201
SHORT=$SUBJECT
as "$SHORT" GET /v2/images
check_status "the fresh token works" 200
sleep 2.5
as "$SHORT" GET /v2/images
check_error "the expired token is 401" 401
# many logins at once: at most 4 password checks run and 4 wait, one per
# account and two per address (429 beyond, t0126 tests these limits); and
# after 30 failures from one address ([auth] login_address_limit) it gets
# 429 at once. Every one is answered.
pids=()
for i in $(seq 1 100); do
	curl -sS -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' "$URL/v3/auth/tokens" -d \
		"{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"nobody$((i % 3))\",\"domain\":{\"id\":\"default\"},\"password\":\"x\"}}}}}" &
	pids+=($!)
done >"$TMP/flood.codes"
wait "${pids[@]}"
check_eq "100 logins at once are all answered" 100 "$(grep -c . "$TMP/flood.codes")"
check_eq "...with 401, 503 beyond the queue or 429 beyond the account's or address's limit" "" \
	"$(grep -v '^401$' "$TMP/flood.codes" | grep -v '^503$' | grep -v '^429$')"
check "raind is healthy after the flood" raind_healthy
# failures one at a time until the address is locked (the flood's 429s
# were no password checks and count for nothing)
for i in $(seq 1 30); do
	[ "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' "$URL/v3/auth/tokens" -d \
		"{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"seq$i\",\"domain\":{\"id\":\"default\"},\"password\":\"x\"}}}}}")" = 429 ] && break
done
login alice alice-pw-1
check_status "now even a right password from this address is refused (429)" 429
check "the log says the address is refused" grep -q "address 127.0.0.1 refused logins for 15 minutes after 30 failed" "$TMP/raind.log"
raind_stop

DATA=$TMP/data2 raind_start || not_ok "raind starts on an empty catalog"
pw=$(sed -n "s/.*one-time password \([A-Za-z0-9]*\).*/\1/p" "$TMP/raind.log" | tail -1)
check "an empty catalog without a password prints a one-time one" test -n "$pw"
login admin "$pw"
check_status "the one-time password works" 201
check "the one-time password is printed once" test "$(grep -c "$pw" "$TMP/raind.log")" = 1
raind_stop
printf 'from-a-file\n' >"$TMP/admin.pw"
DATA=$TMP/data3 raind_start --admin-password-file "$TMP/admin.pw" || not_ok "raind starts with --admin-password-file"
login admin from-a-file
check_status "--admin-password-file sets the first admin's password" 201
printf '[auth]\nlogin_address_limit = -1\n' >"$TMP/bad-limit.ini"
"$RAIND" --config "$TMP/bad-limit.ini" --data-dir "$TMP/data4" >"$TMP/bad-limit.out" 2>&1
check "a bad login_address_limit is refused by name" grep -q "login_address_limit must be 0" "$TMP/bad-limit.out"

test_done
