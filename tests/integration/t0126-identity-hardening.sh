#!/bin/bash
# Identity hardening (issue 10), against a real raind on loopback:
# - concurrent password checks: one per account and two per address at
#   once (429 beyond), a short global queue with a bounded wait (503 with
#   Retry-After beyond); a flood of one account's logins does not keep
#   another user out. Password checks are held for a known time by a
#   directory that accepts connections and never answers (LDAP first
#   logins wait on it), so the limits are tested without timing races;
#   the source addresses are other loopback addresses (127.0.0.x);
# - deactivation revokes a user's tokens for good (reactivation, restart);
# - members only for existing users;
# - user names: one rule (lower case, [a-z0-9][a-z0-9._-]{0,63}) at
#   create, login, members, image owners and the CLI; older names stay
#   usable (login, delete);
# - [auth] min_password_length at create, change and the first admin's;
#   hostile values refused;
# - a list marker the caller may not see answers exactly as an unknown one.
source "$(dirname "$0")/lib.sh"

# --- a directory that never answers ---------------------------------------
SPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# (the interpreter itself in the background, not lib.sh's python3
# function, so that $! is its pid and the trap ends it)
"${PYTHON:-python3}" - "$SPORT" "$TMP/silent.count" <<'PY' &
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
held = []
while True:
    c, _ = s.accept()
    held.append(c)           # read nothing, answer nothing
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write("%d\n" % len(held))
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
PY
SILENT_PID=$!
trap 'kill "$SILENT_PID" 2>/dev/null; cleanup' EXIT
silent_count() { cat "$TMP/silent.count" 2>/dev/null || echo 0; }
# wait_silent N: until N logins have reached the directory (at most 20 s)
wait_silent() {
	for _ in $(seq 1 200); do
		[ "$(silent_count)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

printf '[auth]\nldap_url = ldap://127.0.0.1:%s\nldap_user_dn = uid={user},ou=people,dc=rain,dc=test\n' \
	"$SPORT" >"$TMP/raind.ini"
ADMIN_PW=t0126-admin-password
export RAIN_ADMIN_PASSWORD=$ADMIN_PW
raind_start --config "$TMP/raind.ini" || { not_ok "raind starts"; test_done; }
unset RAIN_ADMIN_PASSWORD
ok "raind starts"
JS=(-H 'Content-Type: application/json')

login_body() {
	printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","domain":{"id":"default"},"password":"%s"}}}}}' "$1" "$2"
}
# login_from ADDR NAME PASSWORD [OUT-PREFIX]: the status of a login sent
# from ADDR; OUT-PREFIX.hdrs and OUT-PREFIX.body keep the reply
login_from() {
	local out=${4:-$TMP/lf}
	curl -sS --interface "$1" -o "$out.body" -D "$out.hdrs" -w '%{http_code}\n' "${JS[@]}" \
		"$URL/v3/auth/tokens" -d "$(login_body "$2" "$3")"
}
subject_of() { tr -d '\r' <"$1.hdrs" | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p'; }
has_retry_after() { tr -d '\r' <"$1.hdrs" | grep -qi '^Retry-After: [0-9]'; }
st() { # st TOKEN METHOD PATH [CURL ARGS]: the status
	local tok=$1 method=$2 path=$3; shift 3
	curl -sS -o /dev/null -w '%{http_code}' -X "$method" -H "X-Auth-Token: $tok" "$@" "$URL$path"
}
adduser() { # adduser NAME PASSWORD: the status
	st "$TOKEN" POST /rain/v1/users "${JS[@]}" -d "{\"name\":\"$1\",\"password\":\"$2\"}"
}
check_eq "admin creates alice" 201 "$(adduser alice alice-password)"
check_eq "admin creates bob" 201 "$(adduser bob bob-password)"

# --- 1. concurrent password checks -------------------------------------------
# lena1's first login waits on the silent directory: her account's one
# place and one of 127.0.0.1's two are taken while it does
login_from 127.0.0.1 lena1 lena-password "$TMP/lena1" >"$TMP/lena1.code" &
LENA1=$!
check "a login waits on the silent directory" wait_silent 1
check_eq "a second login of that account is 429 at once" 429 "$(login_from 127.0.0.1 lena1 lena-password "$TMP/a")"
check "...with Retry-After" has_retry_after "$TMP/a"
check "...saying the user's login is being checked" grep -q "A login of this user is being checked" "$TMP/a.body"
check_eq "...from another address and in upper case too (one account)" 429 \
	"$(login_from 127.0.0.2 LENA1 lena-password "$TMP/a")"
check_eq "alice logs in from the same address meanwhile (its second place)" 201 \
	"$(login_from 127.0.0.1 alice alice-password "$TMP/a")"
login_from 127.0.0.1 lena2 lena-password "$TMP/lena2" >"$TMP/lena2.code" &
LENA2=$!
check "a second login waits on the directory" wait_silent 2
check_eq "with two checks in flight from 127.0.0.1, a third from it is 429" 429 \
	"$(login_from 127.0.0.1 alice alice-password "$TMP/a")"
check "...with Retry-After, saying why" sh -c "grep -q 'from this address' '$TMP/a.body' && tr -d '\r' <'$TMP/a.hdrs' | grep -qi '^Retry-After:'"
check_eq "alice logs in from 127.0.0.2 meanwhile" 201 "$(login_from 127.0.0.2 alice alice-password "$TMP/a")"
wait "$LENA1" "$LENA2"
check_eq "the waiting logins end with 401 when the directory times out" "401 401" \
	"$(cat "$TMP/lena1.code") $(cat "$TMP/lena2.code")"

# the global places: 4 checks run, 4 wait for at most 3 s; a ninth login
# is 503 at once, with Retry-After; nothing waits without end
base=$(silent_count)
pids=()
for a in 11 12 13 14; do
	for k in 1 2; do
		login_from "127.0.0.$a" "lena$a$k" lena-password "$TMP/g$a$k" >"$TMP/g$a$k.code" &
		pids+=($!)
	done
done
check "four logins wait on the directory" wait_silent $((base + 4))
sleep 1   # the other four reach the queue
check_eq "with 4 checks running and 4 waiting, a login from a fifth address is 503" 503 \
	"$(login_from 127.0.0.20 alice alice-password "$TMP/a")"
check "...with Retry-After" has_retry_after "$TMP/a"
check "...and raind says so" grep -q "login of 'alice' from 127.0.0.20 refused: 4 password checks running and 4 waiting" "$TMP/raind.log"
wait "${pids[@]}"
# a waiter gets a place when a check ends within its 3 s: on a loaded
# machine the last ones may queue late enough for that, so more than 4
# may be checked; every one is answered either way
n401=$(cat "$TMP"/g1[1-4][12].code | grep -cx 401)
n503=$(cat "$TMP"/g1[1-4][12].code | grep -cx 503)
check "the 8 are all answered: 4 or more checked (401), the rest given up after the bounded wait (503) ($n401 x 401, $n503 x 503)" \
	test "$n401" -ge 4 -a $((n401 + n503)) -eq 8
check_eq "then alice logs in from there" 201 "$(login_from 127.0.0.20 alice alice-password "$TMP/a")"

# a flood of one account's logins (right password) does not keep another
# user out: bob's take one place at a time, the rest are 429 at once
pids=()
for i in $(seq 1 30); do
	login_from 127.0.0.30 bob bob-password "$TMP/b$i" >"$TMP/b$i.code" &
	pids+=($!)
done
check_eq "alice logs in during bob's flood" 201 "$(login_from 127.0.0.31 alice alice-password "$TMP/a")"
wait "${pids[@]}"
bob=$(cat "$TMP"/b*.code | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
echo "# bob's 30 logins at once: $bob"
check_eq "bob's flood gets only 201 or 429 (no 503, no failure)" "" \
	"$(cat "$TMP"/b*.code | grep -v '^201$' | grep -v '^429$')"
check "raind is healthy" raind_healthy

# --- 2. deactivation revokes tokens for good -----------------------------------
check_eq "admin creates carol" 201 "$(adduser carol carol-password)"
login_from 127.0.0.1 carol carol-password "$TMP/c" >/dev/null
C1=$(subject_of "$TMP/c")
check_eq "carol's token works" 200 "$(st "$C1" GET /v2/images)"
for status in inactive pending; do
	check_eq "carol made $status" 200 "$(st "$TOKEN" PATCH /rain/v1/users/carol "${JS[@]}" -d "{\"status\":\"$status\"}")"
	check_eq "carol reactivated" 200 "$(st "$TOKEN" PATCH /rain/v1/users/carol "${JS[@]}" -d '{"status":"active"}')"
	check_eq "her token from before ($status) stays revoked" 401 "$(st "$C1" GET /v2/images)"
	login_from 127.0.0.1 carol carol-password "$TMP/c" >/dev/null
	C1=$(subject_of "$TMP/c")
	check_eq "a new login works" 200 "$(st "$C1" GET /v2/images)"
done
check "rain user set carol --status inactive" "$RAIN" user set carol --status inactive
raind_stop
raind_start --config "$TMP/raind.ini" || not_ok "raind restarts"
check "rain user set carol --status active (after a restart)" "$RAIN" user set carol --status active
check_eq "her token from before stays revoked across the restart" 401 "$(st "$C1" GET /v2/images)"

# --- 3. members only for existing users ------------------------------------------
ALICE=$(login_from 127.0.0.1 alice alice-password "$TMP/a" >/dev/null; subject_of "$TMP/a")
BOB=$(login_from 127.0.0.1 bob bob-password "$TMP/a" >/dev/null; subject_of "$TMP/a")
SH=$(curl -sS -H "X-Auth-Token: $ALICE" "${JS[@]}" "$URL/v2/images" \
	-d '{"name":"shared","visibility":"shared","disk_format":"raw","container_format":"bare"}' | json_get id)
call POST "/v2/images/$SH/members" "${JS[@]}" -d '{"member":"ghost"}'
check_error "a member that is no user is 404" 404
check_json "...saying so" '"no user ghost" in j["message"] and "existing users" in j["message"]'
check_eq "then a user ghost is made" 201 "$(adduser ghost ghost-password)"
GHOST=$(login_from 127.0.0.1 ghost ghost-password "$TMP/a" >/dev/null; subject_of "$TMP/a")
check_eq "and ghost has no access to the image" 404 "$(st "$GHOST" GET "/v2/images/$SH")"
call GET "/v2/images/$SH/members"
check_json "nor a membership" 'j["members"] == []'
call POST "/v2/images/$SH/members" "${JS[@]}" -d '{"member":"BOB"}'
check_status "a member named in upper case is added" 200
check_json "...as the user (bob)" 'j["member_id"] == "bob"'
check_eq "bob answers under his name" 200 "$(st "$BOB" PUT "/v2/images/$SH/members/bob" "${JS[@]}" -d '{"status":"accepted"}')"
check_eq "bob sees the image" 200 "$(st "$BOB" GET "/v2/images/$SH")"
check_eq "the owner removes him as Bob" 204 "$(st "$ALICE" DELETE "/v2/images/$SH/members/Bob")"

# --- 4. user names -----------------------------------------------------------------
name_status() { # name_status JSON: the status of a user create; the body in n.body
	curl -sS -o "$TMP/n.body" -w '%{http_code}' -X POST -H "X-Auth-Token: $TOKEN" "${JS[@]}" \
		"$URL/rain/v1/users" -d "$1"
}
check_eq "ADMIN is admin: 409" 409 "$(name_status '{"name":"ADMIN","password":"some-password"}')"
check_eq "Alice is alice: 409" 409 "$(name_status '{"name":"Alice","password":"some-password"}')"
for bad in 'admin ' ' admin' '.' '..' '.hidden' '-x' 'a b' 'a/b' 'zo\u00eb' '\u0130nci' \
	'tab\there' "$(printf 'x%.0s' $(seq 65))" ''; do
	check_eq "the name \"$bad\" is 400" 400 "$(name_status "{\"name\":\"$bad\",\"password\":\"some-password\"}")"
done
check "...with the rule in the message" grep -q "a-z, 0-9, '.', '_' and '-', starting with a letter or a digit" "$TMP/n.body"
call POST /rain/v1/users "${JS[@]}" -d '{"name":"Zed.Smith_2","password":"zed-password"}'
check_status "Zed.Smith_2 is made" 201
check_json "...as zed.smith_2" 'j["name"] == "zed.smith_2"'
check_eq "a 64-character name is fine" 201 "$(name_status "{\"name\":\"$(printf 'y%.0s' $(seq 64))\",\"password\":\"some-password\"}")"
login_from 127.0.0.1 ZED.SMITH_2 zed-password "$TMP/z" >/dev/null
check "ZED.SMITH_2 logs in as zed.smith_2" python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["token"]["user"]["name"] == "zed.smith_2"' "$TMP/z.body"
check_eq "alice reads her own account as ALICE" 200 "$(st "$ALICE" GET /rain/v1/users/ALICE)"
check_eq "...and her history" 200 "$(st "$ALICE" GET /rain/v1/history/users/ALICE)"
check_eq "but not bob's as BOB" 403 "$(st "$ALICE" GET /rain/v1/users/BOB)"
call GET /rain/v1/users/ZED.SMITH_2
check_json "GET /rain/v1/users/ZED.SMITH_2 finds zed.smith_2" 'j["name"] == "zed.smith_2"'
call GET /rain/v1/history/users/ZED.SMITH_2
check_json "so does GET /rain/v1/history/users/ZED.SMITH_2, with zed's login in it" \
	'j["user"]["name"] == "zed.smith_2" and any(e["actor"] == "zed.smith_2" for e in j["events"])'
check_eq "'admin ' does not log in as admin" 401 "$(login_from 127.0.0.1 'admin ' "$ADMIN_PW")"
call POST /v2/images "${JS[@]}" -d '{"name":"for-bob","owner":"BOB","disk_format":"raw","container_format":"bare"}'
check_json "an image made for BOB is bob's" 'j["owner"] == "bob"'
OWNED=$(json_get id <<<"$BODY")
call PATCH "/v2/images/$OWNED" -H 'Content-Type: application/openstack-images-v2.1-json-patch' \
	-d '[{"op":"replace","path":"/owner","value":"ALICE"}]'
check_json "given to ALICE, it is alice's" 'j["owner"] == "alice"'
printf 'yann-password\n' >"$TMP/yann.pw"
check "rain user add Yann" "$RAIN" user add Yann --password-file "$TMP/yann.pw"
check "...makes yann" sh -c "'$RAIN' user show yann --json | grep -q '\"name\": *\"yann\"'"
"$RAIN" user add 'bad name' --password-file "$TMP/yann.pw" >"$TMP/cli.out" 2>&1
check_eq "rain user add 'bad name' is a usage error" 2 "$?"
check "...saying the rule" grep -q "user name 'bad name': use 1 to 64 of a-z" "$TMP/cli.out"
check "rain user delete YANN" "$RAIN" user delete YANN
# names of an older catalog: still log in and can be deleted; no new
# name beside one of them that differs only in case
raind_stop
python3 - "$DATA/catalog.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for name in ("Old Timer", "Mixed"):
    db.execute("INSERT INTO users (name, role, status, quota_bytes, quota_images, created_at, last_login, "
               "password_hash) SELECT ?, 'user', 'active', quota_bytes, 0, created_at, NULL, password_hash "
               "FROM users WHERE name = 'alice'", (name,))
db.commit()
PY
raind_start --config "$TMP/raind.ini" || not_ok "raind restarts"
check_eq "an older name with a space logs in" 201 "$(login_from 127.0.0.1 'Old Timer' alice-password)"
check_eq "an older name in mixed case logs in" 201 "$(login_from 127.0.0.1 Mixed alice-password)"
check_eq "no new mixed beside Mixed (409)" 409 "$(name_status '{"name":"mixed","password":"some-password"}')"
check "...saying which" grep -q "exists already, as Mixed" "$TMP/n.body"
check_eq "the older name is deleted" 204 "$(st "$TOKEN" DELETE '/rain/v1/users/Old%20Timer')"
check_eq "and so is Mixed" 204 "$(st "$TOKEN" DELETE /rain/v1/users/Mixed)"

# --- 5. minimum password length ----------------------------------------------------
check_eq "a one-character password is 400" 400 "$(name_status '{"name":"dora","password":"x"}')"
check "...saying how long it must be" grep -q "too short: 1 character, at least 8 wanted (\[auth\] min_password_length)" "$TMP/n.body"
check_eq "7 characters are too few" 400 "$(name_status '{"name":"dora","password":"1234567"}')"
check_eq "8 characters (in 16 bytes) are enough" 201 "$(name_status '{"name":"dora","password":"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"}')"
check_eq "a change to a short password is 400" 400 \
	"$(st "$TOKEN" PATCH /rain/v1/users/dora "${JS[@]}" -d '{"password":"short"}')"
DORA=$(login_from 127.0.0.1 dora 'éééééééé' "$TMP/a" >/dev/null; subject_of "$TMP/a")
check_eq "...by the user herself too" 400 "$(st "$DORA" PATCH /rain/v1/users/dora "${JS[@]}" -d '{"password":"short"}')"
check_eq "the old password still works" 201 "$(login_from 127.0.0.1 dora 'éééééééé')"
raind_stop
for bad in 0 -1 7x abc 1025 99999999999999999999 ''; do
	printf '[auth]\nmin_password_length = %s\n' "$bad" >"$TMP/bad.ini"
	timeout 30 "$RAIND" --config "$TMP/bad.ini" --data-dir "$TMP/data-bad" --listen 127.0.0.1:0 >"$TMP/bad.out" 2>&1
	check "min_password_length = '$bad' is refused by name" grep -q "min_password_length must be 1 to 1024" "$TMP/bad.out"
done
RAIN_ADMIN_PASSWORD=short timeout 30 "$RAIND" --data-dir "$TMP/data-short" --listen 127.0.0.1:0 >"$TMP/short.out" 2>&1
check_eq "a short RAIN_ADMIN_PASSWORD stops the first start" 1 "$?"
check "...saying why" grep -q "the admin password from RAIN_ADMIN_PASSWORD: the password is too short: 5 characters, at least 8" "$TMP/short.out"
printf '[auth]\nmin_password_length = 12\n' >"$TMP/twelve.ini"
RAIN_ADMIN_PASSWORD=twelve-chars DATA=$TMP/data12 raind_start --config "$TMP/twelve.ini" ||
	not_ok "raind starts with min_password_length = 12"
check_eq "with min_password_length = 12, 11 characters are too few" 400 \
	"$(name_status '{"name":"erin","password":"eleven-char"}')"
check_eq "and 12 are enough" 201 "$(name_status '{"name":"erin","password":"twelve-chars"}')"
raind_stop
DATA=$TMP/data raind_start --config "$TMP/raind.ini" || not_ok "raind restarts"

# --- 6. the list marker ------------------------------------------------------------------
ALICE=$(login_from 127.0.0.1 alice alice-password "$TMP/a" >/dev/null; subject_of "$TMP/a")
BOB=$(login_from 127.0.0.1 bob bob-password "$TMP/a" >/dev/null; subject_of "$TMP/a")
PRIV=$(curl -sS -H "X-Auth-Token: $BOB" "${JS[@]}" "$URL/v2/images" \
	-d '{"name":"bobs-secret","disk_format":"raw","container_format":"bare"}' | json_get id)
RANDOM_ID=$(python3 -c 'import uuid; print(uuid.uuid4())')
list_as() { curl -sS -o "$TMP/list.body" -w '%{http_code}' -H "X-Auth-Token: $1" "$URL/v2/images?marker=$2"; }
s1=$(list_as "$ALICE" "$PRIV"); b1=$(sed "s/$PRIV/ID/g" "$TMP/list.body")
s2=$(list_as "$ALICE" "$RANDOM_ID"); b2=$(sed "s/$RANDOM_ID/ID/g" "$TMP/list.body")
check_eq "a marker of bob's private image is 400 for alice" 400 "$s1"
check_eq "an unknown marker is 400" 400 "$s2"
check_eq "the two bodies are the same (but for the id)" "$b2" "$b1"
check_eq "bob pages from his own image" 200 "$(list_as "$BOB" "$PRIV")"
check_eq "an admin pages from it" 200 "$(list_as "$TOKEN" "$PRIV")"
check_eq "alice pages from the image shared with her" 200 "$(list_as "$ALICE" "$SH")"
check_eq "bob, no longer a member, may not" 400 "$(list_as "$BOB" "$SH")"

test_done
