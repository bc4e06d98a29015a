#!/bin/bash
# rain's CLI as a new user meets it, against a real raind: sharing an
# image by name (rain image member ..., list --shared/--member-status, a
# pending share shown by name, the owner column), rain whoami, errors that
# name 'rain login', a lock-out told with its end and lifted by an admin
# (rain user show/unlock), and the hints of rain user list/delete.
. "$(dirname "$0")/lib.sh"

if [ ! -x "$RAIN" ]; then
	skip "rain CLI tests" "$RAIN is not built"
	test_done
fi
raind_start || exit 1
ADMIN_TOKEN=$TOKEN
for u in alice bob carol; do
	call POST /rain/v1/users -H 'Content-Type: application/json' \
		-d "{\"name\":\"$u\",\"password\":\"$u-password-1\",\"role\":\"user\",\"status\":\"active\"}"
	check_status "admin creates $u" 201
done

# as USER ARGS...: rain with USER's own config file (logged in there)
# and no RAIN_TOKEN; output in $TMP/out and $TMP/err, exit status kept
as() {
	local u=$1; shift
	env -u RAIN_TOKEN XDG_CONFIG_HOME="$TMP/cfg-$u" "$RAIN" "$@" >"$TMP/out" 2>"$TMP/err"
}
# ok_as USER DESCRIPTION ARGS...: that succeeds
ok_as() {
	local u=$1 what=$2; shift 2
	if as "$u" "$@"; then ok "$what"; else
		not_ok "$what (exit $?)"; sed 's/^/#   /' "$TMP/err" | head -5
	fi
}
# fails_as USER DESCRIPTION REGEX ARGS...: that fails with REGEX on stderr
fails_as() {
	local u=$1 what=$2 re=$3; shift 3
	if as "$u" "$@"; then not_ok "$what (it succeeded)"
	elif grep -Eq -- "$re" "$TMP/err"; then ok "$what"
	else not_ok "$what"; echo "#   no /$re/ in:"; sed 's/^/#   /' "$TMP/err" | head -5; fi
}
login() { printf '%s\n' "$1-password-1" | as "$1" login --user "$1" --password-file -; }
for u in alice bob carol; do
	check "$u logs in with rain login" login $u
done

# ---- 1. sharing by name
head -c 65536 /dev/urandom >"$TMP/shared.raw"
ok_as alice "alice puts an image of visibility shared" image put "$TMP/shared.raw" \
	--name team-disk --disk-format raw --visibility shared
ID=$(api GET "/v2/images?name=team-disk" | head -n -1 | json_get images.0.id)
ok_as alice "rain image list has an Owner column" image list
check "... naming alice" grep -Eq "^$ID +team-disk .* alice " "$TMP/out"
check "... under its header" grep -Eq '^ID +Name .* Owner ' "$TMP/out"
ok_as alice "alice shares it with bob by name" image member add team-disk bob
check_eq "the API has bob's project as a pending member" "bob pending" \
	"$(api GET "/v2/images/$ID/members" | head -n -1 | python3 -c 'import json,sys
print(" ".join(m["member_id"] + " " + m["status"] for m in json.load(sys.stdin)["members"]))')"
fails_as alice "a name that is no project or user is refused clearly" "no project or user is named 'nobody'" \
	image member add team-disk nobody
ok_as alice "rain image member list" image member list team-disk
check "... shows bob pending" grep -Eq '^bob +pending ' "$TMP/out"
ok_as bob "bob's default list does not hold the pending share" image list
check "... (Glance lists accepted shares only)" sh -c "! grep -q team-disk '$TMP/out'"
ok_as bob "rain image list --shared --member-status pending" image list --shared --member-status pending
check "... finds it, owned by alice" grep -Eq "^$ID +team-disk .* alice " "$TMP/out"
fails_as bob "--member-status takes only the four answers" "pending, accepted, rejected or all" \
	image list --member-status maybe
ok_as bob "rain image show NAME finds a pending share" image show team-disk
check "... and shows it" grep -Eq "^id +$ID" "$TMP/out"
fails_as bob "bob cannot add members to alice's image" "only the owner shares" \
	image member add team-disk carol
ok_as bob "bob accepts it by name" image member accept team-disk
ok_as bob "now bob's default list holds it" image list
check "... with its owner" grep -Eq "^$ID +team-disk .* alice " "$TMP/out"
ok_as alice "alice sees bob's answer" image member list team-disk
check "... accepted" grep -Eq '^bob +accepted ' "$TMP/out"
ok_as bob "bob rejects it" image member reject team-disk
ok_as bob "rain image list --shared --member-status rejected" image list --shared --member-status rejected
check "... lists it" grep -q team-disk "$TMP/out"
ok_as alice "alice adds carol too" image member add team-disk carol
ok_as alice "and removes bob" image member remove team-disk bob
ok_as alice "rain image member list --json" image member list team-disk --json
check "... carol alone, pending" python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))["members"]
assert [(x["member_id"], x["status"]) for x in m] == [("carol", "pending")], m' "$TMP/out"
fails_as bob "bob no longer finds it" "no image is named 'team-disk'" image show team-disk
fails_as alice "removing a project that is no member says so" "not shared with bob" \
	image member remove team-disk bob

# ---- 2. who am I, tokens, lock-outs
ok_as alice "rain whoami" whoami
check "... user, project, roles, server, expiry" python3 -c 'import re,sys
t = open(sys.argv[1]).read()
for f in (r"^user +alice$", r"^project +alice$", r"^roles +member$", r"^server +" + re.escape(sys.argv[2]) + "$",
          r"^expires +\d{4}-\d\d-\d\dT[0-9:.]+Z \(in \d+h\d\dm\)$"):
    assert re.search(f, t, re.M), f' "$TMP/out" "$URL"
ok_as alice "rain whoami --json" whoami --json
check "... with the token's expiry" python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))
assert j["user"]["name"] == "alice" and j["project"]["id"] == "alice" and j["expires_at"], j' "$TMP/out"
check "rain whoami with the admin token says so" sh -c "'$RAIN' whoami | grep -q \"admin token\""
fails_as nobody "whoami without a token names rain login" "not logged in.*'rain login'" whoami
fails_as nobody "a command without a token names rain login" "'rain login'" image list
TOK=$(grep -E '^token *=' "$TMP/cfg-carol/rain/config" | sed 's/.*= *//')
curl -sS -o /dev/null -X DELETE -H "X-Auth-Token: $ADMIN_TOKEN" -H "X-Subject-Token: $TOK" "$URL/v3/auth/tokens"
fails_as carol "a revoked token: whoami names rain login" "expired or revoked.*'rain login'" whoami
fails_as carol "a revoked token: image list names rain login" "expired or revoked.*'rain login'" image list
for i in 1 2 3 4 5; do printf 'wrong\n' | as carol login --user carol --password-file -; done
check "wrong passwords say to check them" grep -q "check the user name and password" "$TMP/err"
fails_as carol "a locked-out user is told so and until when" \
	"locked until [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z.*'rain user unlock carol'" \
	login --user carol --password-file "$(printf 'carol-password-1\n' >"$TMP/pw"; echo "$TMP/pw")"
check "rain user show shows the lock-out to an admin" sh -c \
	"'$RAIN' user show carol | grep -Eq '^locked_until +[0-9]{4}-[0-9]{2}-[0-9]{2}T'"
fails_as bob "bob cannot unlock carol" "only admins lift lock-outs" user unlock carol
check "an admin lifts it with rain user unlock" "$RAIN" user unlock carol
check "rain user show: not locked any more" sh -c "'$RAIN' user show carol | grep -Eq '^locked_until +not locked'"
check "carol logs in again" login carol
fails_as bob "a user's rain user list says only admins list users" "only admins list users.*rain whoami" \
	user list
check "... and speaks of no image" sh -c "! grep -q 'image' '$TMP/err'"
check "rain user delete's help says owners of images or builds are refused" sh -c \
	"'$RAIN' user --help | grep -q 'refused while they own images or builds'"
"$RAIN" user delete alice 2>"$TMP/err"
check "deleting an owner of images names rain image list --owner" grep -q "'rain image list --owner alice' lists them" "$TMP/err"

test_done
