#!/bin/bash
# Access control (rain/policy.h): every image endpoint x {anonymous, owner,
# other user, admin, inactive user} for a private, a community and a public
# image; every image endpoint for a shared image x those callers and a
# pending and an accepted member; the members API for pending, accepted and
# rejected members; and
# every other endpoint (users, history, audit, usage, tokens, builds) x the
# same callers, against a real raind with real users and Keystone tokens.
source "$(dirname "$0")/lib.sh"

export RAIN_ADMIN_PASSWORD=t0121-admin-password
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
# the builds below wait on a loopback mirror, which builds refuse unless allowed
printf '[builds]\ncache_dir = %s\nallow_private_mirrors = yes\n' "$CACHE" >"$TMP/raind.ini"
raind_start --config "$TMP/raind.ini" || exit 1
unset RAIN_ADMIN_PASSWORD

for u in alice bob carol dave; do
	call POST /rain/v1/users -H 'Content-Type: application/json' \
		-d "{\"name\":\"$u\",\"password\":\"$u-password\",\"role\":\"user\",\"status\":\"active\"}"
	check_status "admin creates $u" 201
done
ALICE=$(token_of alice alice-password)
BOB=$(token_of bob bob-password)
CAROL=$(token_of carol carol-password)
DAVE=$(token_of dave dave-password)
ADMIN=$(token_of admin t0121-admin-password)
check "every user has a token" test -n "$ALICE" -a -n "$BOB" -a -n "$CAROL" -a -n "$ADMIN"
# carol becomes inactive: her token stops working at once
call PATCH /rain/v1/users/carol -H 'Content-Type: application/json' -d '{"status":"inactive"}'
check_status "admin makes carol inactive" 200

st() { # st TOKEN METHOD PATH [CURL ARGS]: the status only ("-" for no token)
	local tok=$1 method=$2 path=$3; shift 3
	if [ "$tok" = - ]; then
		curl -sS -o /dev/null -w '%{http_code}' -X "$method" "$@" "$URL$path"
	else
		curl -sS -o /dev/null -w '%{http_code}' -X "$method" -H "X-Auth-Token: $tok" "$@" "$URL$path"
	fi
}
mkimg() { # mkimg VISIBILITY: alice's image with 4 KiB of data; prints its id
	local id
	id=$(curl -sS -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' "$URL/v2/images" \
		-d "{\"name\":\"t0121-$1\",\"disk_format\":\"raw\",\"container_format\":\"bare\",\"visibility\":\"$1\"}" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	head -c 4096 /dev/urandom | curl -sS -o /dev/null -X PUT -H "X-Auth-Token: $ALICE" \
		-H 'Content-Type: application/octet-stream' --data-binary @- "$URL/v2/images/$id/file"
	echo "$id"
}
patch='[{"op":"replace","path":"/name","value":"renamed"}]'
PJSON=(-H 'Content-Type: application/openstack-images-v2.1-json-patch' -d "$patch")

# who: anonymous, owner, other, admin, inactive; the expected status of
# each endpoint for each of them
matrix() { # matrix VISIBILITY ID EXPECT_SHOW EXPECT_DOWNLOAD EXPECT_CHANGE (for "other")
	local vis=$1 id=$2 show=$3 down=$4 change=$5 who tok
	for who in anonymous owner other admin inactive; do
		case $who in
		anonymous) tok=- ;; owner) tok=$ALICE ;; other) tok=$BOB ;; admin) tok=$ADMIN ;; inactive) tok=$CAROL ;;
		esac
		local e_show e_down e_patch e_tag e_put e_deact
		case $who in
		anonymous|inactive) e_show=401 e_down=401 e_patch=401 e_tag=401 e_put=401 e_deact=401 ;;
		owner|admin) e_show=200 e_down=200 e_patch=200 e_tag=204 e_put=409 e_deact=204 ;;
		other) e_show=$show e_down=$down e_patch=$change e_tag=$change e_put=$change e_deact=$change ;;
		esac
		check_eq "$vis image, $who: GET /v2/images/ID" "$e_show" "$(st "$tok" GET "/v2/images/$id")"
		check_eq "$vis image, $who: GET /v2/images/ID/file" "$e_down" "$(st "$tok" GET "/v2/images/$id/file")"
		check_eq "$vis image, $who: PATCH" "$e_patch" "$(st "$tok" PATCH "/v2/images/$id" "${PJSON[@]}")"
		check_eq "$vis image, $who: PUT tag" "$e_tag" "$(st "$tok" PUT "/v2/images/$id/tags/t-$who")"
		check_eq "$vis image, $who: PUT data" "$e_put" "$(st "$tok" PUT "/v2/images/$id/file" \
			-H 'Content-Type: application/octet-stream' --data-binary x)"
		check_eq "$vis image, $who: deactivate" "$e_deact" "$(st "$tok" POST "/v2/images/$id/actions/deactivate")"
		if [ "$e_deact" = 204 ]; then st "$tok" POST "/v2/images/$id/actions/reactivate" >/dev/null; fi
	done
}

PRIV=$(mkimg private)
COMM=$(mkimg community)
PUB=$(curl -sS -H "X-Auth-Token: $ADMIN" -H 'Content-Type: application/json' "$URL/v2/images" \
	-d '{"name":"t0121-public","disk_format":"raw","container_format":"bare","visibility":"public"}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
head -c 4096 /dev/urandom | curl -sS -o /dev/null -X PUT -H "X-Auth-Token: $ADMIN" \
	-H 'Content-Type: application/octet-stream' --data-binary @- "$URL/v2/images/$PUB/file"
# the public image belongs to admin: for this matrix alice is "other" there,
# so swap tokens around for it below

matrix private "$PRIV" 404 404 404
matrix community "$COMM" 200 200 403
ALICE_SAVED=$ALICE
ALICE=$ADMIN; matrix public "$PUB" 200 200 403; ALICE=$ALICE_SAVED

# publicizing is for admins only
check_eq "the owner may not publicize" 403 "$(st "$ALICE" PATCH "/v2/images/$PRIV" \
	-H 'Content-Type: application/openstack-images-v2.1-json-patch' -d '[{"op":"replace","path":"/visibility","value":"public"}]')"
check_eq "a user may not create a public image" 403 "$(st "$ALICE" POST /v2/images -H 'Content-Type: application/json' \
	-d '{"name":"x","visibility":"public"}')"
# deactivated: only admins download
st "$ALICE" POST "/v2/images/$PRIV/actions/deactivate" >/dev/null
check_eq "a deactivated image: the owner may not download" 403 "$(st "$ALICE" GET "/v2/images/$PRIV/file")"
check_eq "a deactivated image: an admin may" 200 "$(st "$ADMIN" GET "/v2/images/$PRIV/file")"
st "$ALICE" POST "/v2/images/$PRIV/actions/reactivate" >/dev/null

# listing shows what GET allows
ids() { curl -sS -H "X-Auth-Token: $1" "$URL/v2/images$2" | python3 -c 'import json,sys; print(" ".join(sorted(i["id"] for i in json.load(sys.stdin)["images"])))'; }
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }
check_eq "alice lists her images and the public one" "$(sorted "$PRIV" "$COMM" "$PUB")" "$(ids "$ALICE" "")"
check_eq "bob lists only the public one" "$PUB" "$(ids "$BOB" "")"
check_eq "bob finds the community one when he asks" "$COMM" "$(ids "$BOB" "?visibility=community")"
check_eq "admin lists every image but others' community ones" "$(sorted "$PRIV" "$PUB")" "$(ids "$ADMIN" "")"
check_eq "and all with visibility=all" "$(sorted "$PRIV" "$COMM" "$PUB")" "$(ids "$ADMIN" "?visibility=all")"

# sharing: members of a shared image (Glance's members API)
SH=$(mkimg shared)
mem() { # mem TOKEN METHOD PATH [BODY]: status of a members call
	local tok=$1 method=$2 path=$3 body=${4:-}
	if [ -n "$body" ]; then
		st "$tok" "$method" "/v2/images/$SH/members$path" -H 'Content-Type: application/json' -d "$body"
	else
		st "$tok" "$method" "/v2/images/$SH/members$path"
	fi
}
check_eq "a shared image without members: bob gets 404" 404 "$(st "$BOB" GET "/v2/images/$SH")"
check_eq "bob may not add himself" 404 "$(mem "$BOB" POST "" '{"member":"bob"}')"
check_eq "alice adds bob as a member" 200 "$(mem "$ALICE" POST "" '{"member":"bob"}')"
check_eq "adding him twice is a conflict" 409 "$(mem "$ALICE" POST "" '{"member":"bob"}')"
check_eq "a private image has no members" 403 "$(st "$ADMIN" POST "/v2/images/$(mkimg private)/members" -H 'Content-Type: application/json' -d '{"member":"bob"}')"
for state in pending accepted rejected; do
	if [ "$state" != pending ]; then
		check_eq "bob answers $state" 200 "$(mem "$BOB" PUT /bob "{\"status\":\"$state\"}")"
	fi
	check_eq "$state member: GET the image" 200 "$(st "$BOB" GET "/v2/images/$SH")"
	check_eq "$state member: download" 200 "$(st "$BOB" GET "/v2/images/$SH/file")"
	check_eq "$state member: PATCH" 403 "$(st "$BOB" PATCH "/v2/images/$SH" "${PJSON[@]}")"
	check_eq "$state member: delete" 403 "$(st "$BOB" DELETE "/v2/images/$SH")"
	check_eq "$state member: add others" 403 "$(mem "$BOB" POST "" '{"member":"dave"}')"
	listed=$(ids "$BOB" "" | grep -c "$SH")
	check_eq "$state member: the image is listed only once accepted" "$([ "$state" = accepted ] && echo 1 || echo 0)" "$listed"
done
check_eq "a non-member still gets 404" 404 "$(st "$DAVE" GET "/v2/images/$SH")"
check_eq "the owner may not answer for bob" 403 "$(mem "$ALICE" PUT /bob '{"status":"accepted"}')"
check_eq "dave may not answer for bob" 403 "$(mem "$DAVE" PUT /bob '{"status":"accepted"}')"
check_eq "a bad answer is refused" 400 "$(mem "$BOB" PUT /bob '{"status":"maybe"}')"
check "alice lists the members" sh -c "curl -sS -H 'X-Auth-Token: $ALICE' '$URL/v2/images/$SH/members' | grep -q '\"member_id\": *\"bob\"'"
check_eq "bob sees his own membership" 200 "$(mem "$BOB" GET /bob)"
check_eq "dave sees nothing of it" 404 "$(mem "$DAVE" GET /bob)"
check_eq "alice removes bob" 204 "$(mem "$ALICE" DELETE /bob)"
check_eq "and he no longer sees the image" 404 "$(st "$BOB" GET "/v2/images/$SH")"

# ---- every image endpoint x every caller, for a shared image ---------------
# callers: anonymous, owner (alice), other (ot), pending member (pm),
# accepted member (am), admin, inactive (carol). A "." skips a caller.
# new-owner and new-admin: the users the owner and the admin add below
for u in ot pm am new-owner new-admin; do
	st "$ADMIN" POST /rain/v1/users -H 'Content-Type: application/json' \
		-d "{\"name\":\"$u\",\"password\":\"$u-password\"}" >/dev/null
done
OT=$(token_of ot ot-password) PM=$(token_of pm pm-password) AM=$(token_of am am-password)
S2=$(mkimg shared)
mem2() { st "$1" "$2" "/v2/images/$S2/members$3" "${@:4}"; }
mem2 "$ALICE" POST "" -H 'Content-Type: application/json' -d '{"member":"pm"}' >/dev/null
mem2 "$ALICE" POST "" -H 'Content-Type: application/json' -d '{"member":"am"}' >/dev/null
mem2 "$AM" PUT /am -H 'Content-Type: application/json' -d '{"status":"accepted"}' >/dev/null
callers7=(anonymous owner other pending accepted admin inactive)
token7() {
	case $1 in
	anonymous) echo - ;; owner) echo "$ALICE" ;; other) echo "$OT" ;; pending) echo "$PM" ;;
	accepted) echo "$AM" ;; admin) echo "$ADMIN" ;; inactive) echo "$CAROL" ;;
	esac
}
# expect7 DESCRIPTION METHOD PATH "7 STATUSES" [CURL ARGS]; CALLER in PATH
# and in the curl arguments is replaced by each caller's name
expect7() {
	local what=$1 method=$2 path=$3 want=($4) i=0 who; shift 4
	for who in "${callers7[@]}"; do
		if [ "${want[$i]}" != . ]; then
			check_eq "shared image, $who: $what" "${want[$i]}" \
				"$(st "$(token7 "$who")" "$method" "${path//CALLER/$who}" "${@//CALLER/$who}")"
		fi
		i=$((i + 1))
	done
}
I=/v2/images/$S2
JP=(-H 'Content-Type: application/openstack-images-v2.1-json-patch')
JS=(-H 'Content-Type: application/json')
#                                                  anon own oth pend acc adm inact
expect7 "GET the image" GET "$I"                  "401 200 404 200 200 200 401"
expect7 "download" GET "$I/file"                  "401 200 404 200 200 200 401"
expect7 "PATCH the name" PATCH "$I"               "401 200 404 403 403 200 401" "${JP[@]}" -d "$patch"
expect7 "PUT a tag" PUT "$I/tags/t-CALLER"        "401 204 404 403 403 204 401"
expect7 "DELETE the tag" DELETE "$I/tags/t-CALLER" "401 204 404 403 403 204 401"
expect7 "PUT data (active: 409)" PUT "$I/file"    "401 409 404 403 403 409 401" \
	-H 'Content-Type: application/octet-stream' --data-binary x
expect7 "deactivate" POST "$I/actions/deactivate" "401 . 404 403 403 . 401"
expect7 "reactivate" POST "$I/actions/reactivate" "401 . 404 403 403 . 401"
for who in owner admin; do
	check_eq "shared image, $who: deactivate" 204 "$(st "$(token7 $who)" POST "$I/actions/deactivate")"
	check_eq "shared image, $who: download while deactivated" "$([ $who = admin ] && echo 200 || echo 403)" \
		"$(st "$(token7 $who)" GET "$I/file")"
	check_eq "shared image, $who: reactivate" 204 "$(st "$(token7 $who)" POST "$I/actions/reactivate")"
done
expect7 "list the members" GET "$I/members"       "401 200 404 200 200 200 401"
expect7 "GET pm's membership" GET "$I/members/pm" "401 200 404 200 404 200 401"
expect7 "add a member" POST "$I/members"          "401 200 404 403 403 200 401" "${JS[@]}" -d '{"member":"new-CALLER"}'
expect7 "answer for pm" PUT "$I/members/pm"       "401 403 403 200 403 403 401" "${JS[@]}" -d '{"status":"pending"}'
expect7 "remove a member" DELETE "$I/members/new-CALLER" "401 204 404 403 403 204 401"
expect7 "the image's history" GET "/rain/v1/history/images/$S2" "401 200 404 403 403 200 401"
expect7 "DELETE the image" DELETE "$I"            "401 . 404 403 403 . 401"
check "a member's list shows what the answer allows" sh -c \
	"curl -sS -H 'X-Auth-Token: $AM' '$URL/v2/images' | grep -q '$S2' && ! curl -sS -H 'X-Auth-Token: $PM' '$URL/v2/images' | grep -q '$S2'"
listed() { curl -sS -H "X-Auth-Token: $1" "$URL/v2/images$2" | grep -c "$S2"; }
check_eq "member_status=pending lists it for the pending member" 1 "$(listed "$PM" "?member_status=pending")"
check_eq "member_status=all too" 1 "$(listed "$PM" "?member_status=all&visibility=shared")"
check_eq "member_status=accepted not" 0 "$(listed "$PM" "?member_status=accepted")"
check_eq "nor member_status=pending for the accepted member" 0 "$(listed "$AM" "?member_status=pending")"
check_eq "a bad member_status is 400" 400 "$(st "$PM" GET "/v2/images?member_status=maybe")"
check_eq "the owner deletes it" 204 "$(st "$ALICE" DELETE "$I")"

# ---- everything that is not an image -------------------------------------
# expect DESCRIPTION METHOD PATH "ANON OWNER OTHER ADMIN INACTIVE" [CURL ARGS]:
# the status for each caller; "owner" is alice (the account, the build),
# "other" is bob. A "." skips a caller (an action that cannot be repeated).
expect() {
	local what=$1 method=$2 path=$3 want=($4) i=0 who tok; shift 4
	for who in anonymous owner other admin inactive; do
		case $who in
		anonymous) tok=- ;; owner) tok=$ALICE ;; other) tok=$BOB ;; admin) tok=$ADMIN ;; inactive) tok=$CAROL ;;
		esac
		if [ "${want[$i]}" != . ]; then
			check_eq "$what, $who: $method ${path//$BUILD_ID/ID}" "${want[$i]}" "$(st "$tok" "$method" "$path" "$@")"
		fi
		i=$((i + 1))
	done
}
JSON=(-H 'Content-Type: application/json')
BUILD_ID=none
expect "list users" GET /rain/v1/users "401 403 403 200 401"
expect "create a user" POST /rain/v1/users "401 403 403 201 401" "${JSON[@]}" \
	-d '{"name":"erin","password":"erin-password"}'
ERIN=$(token_of erin erin-password)
expect "show alice's account" GET /rain/v1/users/alice "401 200 403 200 401"
expect "set alice's quota" PATCH /rain/v1/users/alice "401 403 403 200 401" "${JSON[@]}" -d '{"quota_images":50}'
expect "make alice an admin" PATCH /rain/v1/users/alice "401 403 403 . 401" "${JSON[@]}" -d '{"role":"admin"}'
ALICE_OTHER=$(token_of alice alice-password)     # another session of hers
expect "change alice's password" PATCH /rain/v1/users/alice "401 200 403 . 401" "${JSON[@]}" \
	-d '{"password":"alice-new-password"}'
check_eq "the new password ends her other sessions" 401 "$(st "$ALICE_OTHER" GET /v2/images)"
check_eq "but not the one that changed it" 200 "$(st "$ALICE" GET /v2/images)"
ALICE_NEW=$(token_of alice alice-new-password)
check "alice logs in with her new password" test -n "$ALICE_NEW"
check_eq "and not with the old one" "" "$(token_of alice alice-password)"
check_eq "an admin sets erin's password" 200 "$(st "$ADMIN" PATCH /rain/v1/users/erin "${JSON[@]}" -d '{"password":"erin-2-password"}')"
check_eq "which ends all of erin's sessions" 401 "$(st "$ERIN" GET /v2/images)"
expect "delete a user" DELETE /rain/v1/users/erin "401 403 403 204 401"
expect "alice's history" GET /rain/v1/history/users/alice "401 200 403 200 401"
expect "a private image's history" GET "/rain/v1/history/images/$PRIV" "401 200 404 200 401"
expect "a community image's history" GET "/rain/v1/history/images/$COMM" "401 200 403 200 401"
expect "the audit log" GET /rain/v1/audit "401 403 403 200 401"
expect "usage" GET /v2/info/usage "401 200 200 200 401"
expect "the image schema" GET /v2/schemas/image "401 200 200 200 401"
expect "versions" GET /versions "300 300 300 300 300"
tokst() { curl -sS -o /dev/null -X "$1" -H "X-Auth-Token: $2" -H "X-Subject-Token: $3" -w '%{http_code}' "$URL/v3/auth/tokens"; }
check_eq "bob may not validate alice's token (404, as Keystone)" 404 "$(tokst GET "$BOB" "$ALICE")"
check_eq "alice validates her own token" 200 "$(tokst GET "$ALICE" "$ALICE")"
check_eq "the admin validates alice's token" 200 "$(tokst GET "$ADMIN" "$ALICE")"
check_eq "bob may not revoke alice's token" 404 "$(tokst DELETE "$BOB" "$ALICE")"

# builds: a build that waits on a mirror that never answers stays running
if [ "$(id -u)" -eq 0 ] && command -v mmdebstrap >/dev/null; then
	hang_mirror
	recipe=$(printf '[image]\nname = t0121\ndistribution = debian\nmirror = http://127.0.0.1:%s/debian\n[output]\nformats = tar\n' \
		"$HPORT")
	body=$(python3 -c 'import json,sys; print(json.dumps({"recipe": sys.argv[1], "store": False}))' "$recipe")
	expect "submit a build" POST /rain/v1/builds "401 . . . 401" "${JSON[@]}" -d "$body"
	BUILD_ID=$(curl -sS -H "X-Auth-Token: $ALICE" "${JSON[@]}" -d "$body" "$URL/rain/v1/builds" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	check "alice submits a build" test -n "$BUILD_ID"
	expect "show alice's build" GET "/rain/v1/builds/$BUILD_ID" "401 200 404 200 401"
	expect "alice's build log" GET "/rain/v1/builds/$BUILD_ID/log" "401 200 404 200 401"
	lists() { curl -sS -H "X-Auth-Token: $1" "$URL/rain/v1/builds" | grep -c "$BUILD_ID"; }
	check_eq "alice's list has her build" 1 "$(lists "$ALICE")"
	check_eq "bob's list does not" 0 "$(lists "$BOB")"
	check_eq "the admin's list does" 1 "$(lists "$ADMIN")"
	# the same build as a job of kind build, with the same visibility
	expect "list the jobs" GET /rain/v1/jobs "401 200 200 200 401"
	expect "show alice's build as a job" GET "/rain/v1/jobs/$BUILD_ID" "401 200 404 200 401"
	jobs() { curl -sS -H "X-Auth-Token: $1" "$URL/rain/v1/jobs" | python3 -c 'import json, sys; print(sum(1 for j in json.load(sys.stdin)["jobs"] if j["id"] == sys.argv[1] and j["kind"] == "build"))' "$BUILD_ID"; }
	check_eq "alice's jobs have her build" 1 "$(jobs "$ALICE")"
	check_eq "bob's jobs do not" 0 "$(jobs "$BOB")"
	check_eq "the admin's jobs do" 1 "$(jobs "$ADMIN")"
	check_eq "a job nobody has is 404" 404 "$(st "$ADMIN" GET /rain/v1/jobs/00000000-0000-4000-8000-000000000000)"
	expect "delete a running build" DELETE "/rain/v1/builds/$BUILD_ID" "401 409 404 409 401"
	expect "cancel alice's build" POST "/rain/v1/builds/$BUILD_ID/cancel" "401 . 404 . 401"
	check_eq "alice cancels her build" 200 "$(st "$ALICE" POST "/rain/v1/builds/$BUILD_ID/cancel")"
	expect "delete alice's finished build" DELETE "/rain/v1/builds/$BUILD_ID" "401 . 404 . 401"
	check_eq "alice deletes it" 204 "$(st "$ALICE" DELETE "/rain/v1/builds/$BUILD_ID")"
	# a user with builds is not deleted either (a later user of the name
	# would see them)
	st "$ADMIN" POST /rain/v1/users "${JSON[@]}" -d '{"name":"frank","password":"frank-password"}' >/dev/null
	FRANK=$(token_of frank frank-password)
	FB=$(curl -sS -H "X-Auth-Token: $FRANK" "${JSON[@]}" -d "$body" "$URL/rain/v1/builds" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	call DELETE /rain/v1/users/frank
	check_status "a user with a build cannot be deleted (409)" 409
	check "the message says what to do" grep -q "has 1 build: delete it first" <<<"$BODY"
	st "$FRANK" POST "/rain/v1/builds/$FB/cancel" >/dev/null
	st "$FRANK" DELETE "/rain/v1/builds/$FB" >/dev/null
	check_eq "once it is deleted, so is frank" 204 "$(st "$ADMIN" DELETE /rain/v1/users/frank)"
	kill "$HANG_PID" 2>/dev/null
	wait "$HANG_PID" 2>/dev/null
else
	skip "the build endpoints" "needs root and mmdebstrap"
fi

# deleting a user: names are ids, so a user who owns images stays, and a
# later user of a deleted one's name inherits nothing
call DELETE /rain/v1/users/alice
check_status "a user who owns images cannot be deleted (409)" 409
check "the message says what to do" grep -q "owns [0-9]* images: delete them first, or make the user inactive" <<<"$BODY"
check_eq "alice shares her image with dave again" 200 "$(mem "$ALICE" POST "" '{"member":"dave"}')"
check_eq "dave accepts" 200 "$(mem "$DAVE" PUT /dave '{"status":"accepted"}')"
check_eq "dave sees it" 200 "$(st "$DAVE" GET "/v2/images/$SH")"
check_eq "the admin deletes dave" 204 "$(st "$ADMIN" DELETE /rain/v1/users/dave)"
check_eq "dave's token is gone with him" 401 "$(st "$DAVE" GET "/v2/images/$SH")"
check_eq "a new dave is made" 201 "$(st "$ADMIN" POST /rain/v1/users "${JSON[@]}" -d '{"name":"dave","password":"dave-2-password"}')"
check_eq "the new dave does not see the old one's shared image" 404 "$(st "$(token_of dave dave-2-password)" GET "/v2/images/$SH")"
check_eq "nor is he listed as its member" 404 "$(mem "$ALICE" GET /dave)"

# giving an image to another user: admins only, to users who exist
G=$(mkimg private)
owner_patch() { st "$1" PATCH "/v2/images/$G" "${JP[@]}" -d "[{\"op\":\"$2\",\"path\":\"/owner\"${3:+,\"value\":\"$3\"}}]"; }
check_eq "the owner may not give her image away (403)" 403 "$(owner_patch "$ALICE" replace ot)"
check_eq "naming herself as its owner changes nothing (200)" 200 "$(owner_patch "$ALICE" replace alice)"
check_eq "another user finds nothing to take (404)" 404 "$(owner_patch "$OT" replace ot)"
check_eq "the admin may not give it to nobody (400)" 400 "$(owner_patch "$ADMIN" replace no-such-user)"
check_eq "the owner cannot be removed (403)" 403 "$(owner_patch "$ADMIN" remove)"
check_eq "the admin gives alice's image to ot" 200 "$(owner_patch "$ADMIN" replace ot)"
check_eq "ot sees it now" 200 "$(st "$OT" GET "/v2/images/$G")"
check_eq "alice no longer does" 404 "$(st "$ALICE" GET "/v2/images/$G")"
check "ot's usage counts it" sh -c "curl -sS -H 'X-Auth-Token: $OT' '$URL/rain/v1/users/ot' | grep -q '\"bytes_used\":4096'"
check_eq "so ot cannot be deleted" 409 "$(st "$ADMIN" DELETE /rain/v1/users/ot)"
check "rain image set --owner gives it back" env RAIN_TOKEN="$ADMIN" "$RAIN" image set "$G" --owner alice
check_eq "alice has it again" 200 "$(st "$ALICE" GET "/v2/images/$G")"
mkfor() { # mkfor TOKEN OWNER: create an image for OWNER; prints the status
	curl -sS -o "$TMP/mkfor.json" -w '%{http_code}' -H "X-Auth-Token: $1" "${JS[@]}" "$URL/v2/images" \
		-d "{\"name\":\"for-$2\",\"owner\":\"$2\"}"
}
check_eq "an admin creates an image for ot" 201 "$(mkfor "$ADMIN" ot)"
check "...owned by ot" grep -q '"owner":"ot"' "$TMP/mkfor.json"
check_eq "ot may delete it" 204 "$(st "$OT" DELETE "/v2/images/$(json_get id <"$TMP/mkfor.json")")"
check_eq "alice may not create one for ot (403)" 403 "$(mkfor "$ALICE" ot)"
check_eq "alice may name herself" 201 "$(mkfor "$ALICE" alice)"
check_eq "nor the admin for nobody (400)" 400 "$(mkfor "$ADMIN" no-such-user)"
check "rain image create --owner, by an admin" sh -c \
	"RAIN_TOKEN='$ADMIN' '$RAIN' image create --name cli-for-ot --owner ot --json | grep -q '\"owner\": *\"ot\"'"
check_eq "ot deletes it" 204 "$(st "$OT" DELETE "/v2/images/$(curl -sS -H "X-Auth-Token: $OT" "$URL/v2/images?name=cli-for-ot" | python3 -c 'import json,sys; print(json.load(sys.stdin)["images"][0]["id"])')")"
check_eq "and ot, owning nothing, can be deleted" 204 "$(st "$ADMIN" DELETE /rain/v1/users/ot)"

# delete last: other -> 404/403, owner -> 204
check_eq "bob cannot delete alice's private image (404)" 404 "$(st "$BOB" DELETE "/v2/images/$PRIV")"
check_eq "bob cannot delete alice's community image (403)" 403 "$(st "$BOB" DELETE "/v2/images/$COMM")"
check_eq "carol (inactive) cannot delete (401)" 401 "$(st "$CAROL" DELETE "/v2/images/$COMM")"
check_eq "alice deletes her private image" 204 "$(st "$ALICE" DELETE "/v2/images/$PRIV")"
check_eq "admin deletes alice's community image" 204 "$(st "$ADMIN" DELETE "/v2/images/$COMM")"
test_done
