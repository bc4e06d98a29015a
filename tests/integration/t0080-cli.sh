#!/bin/bash
# The rain command-line client against a real raind: put, list, show, get,
# set, tag/untag, deactivate/reactivate, delete, errors, help and the
# config file. Results are checked through the API, not only the CLI.
source "$(dirname "$0")/lib.sh"

if [ ! -x "$RAIN" ]; then
	skip "rain CLI tests" "$RAIN is not built"
	test_done
fi

# rain_ok DESCRIPTION ARGS...: rain exits 0 (output in $TMP/out, $TMP/err)
rain_ok() {
	local what=$1; shift
	if "$RAIN" "$@" >"$TMP/out" 2>"$TMP/err"; then ok "$what"; else
		not_ok "$what (exit $?)"; sed 's/^/#   stderr: /' "$TMP/err" | head -10
	fi
}
# rain_fails DESCRIPTION EXPECTED-EXIT ARGS...: rain exits with that
# non-zero status (any non-zero for "x") with a message on stderr
rain_fails() {
	local what=$1 want=$2 rc; shift 2
	"$RAIN" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" -eq 0 ] || { [ "$want" != x ] && [ "$rc" -ne "$want" ]; }; then
		not_ok "$what (exit $rc, want ${want/x/non-zero})"; sed 's/^/#   /' "$TMP/out" "$TMP/err" | head -10
	elif [ ! -s "$TMP/err" ]; then
		not_ok "$what (exit $rc but nothing on stderr)"
	else
		ok "$what"
	fi
}
# by_name NAME: the images named NAME, as a JSON array from the API
by_name() { curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images?name=$1" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["images"]))'; }
field() { curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$1" | json_get "$2"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- help ------------------------------------------------------------------------
rain_ok "rain --help exits 0" --help
check "rain --help prints a usage on stdout" grep -q '^Usage: rain' "$TMP/out"
rain_ok "rain image --help exits 0" image --help
check "rain image --help lists put, list, get" grep -q 'put' "$TMP/out"
rain_ok "rain image put --help exits 0" image put --help
rain_ok "rain help image put exits 0" help image put
rain_ok "rain --version exits 0" --version
rain_fails "an unknown command exits 2" 2 bogus
rain_fails "an unknown image subcommand exits 2" 2 image bogus
rain_fails "an unknown option exits 2" 2 image list --no-such-option
rain_fails "image put without a file exits 2" 2 image put
# every command's help comes from its option table: exit 0, a usage line,
# the common options, and the command's own options where it has some
for c in "image list" "image show" "image create" "image upload" "image download" \
	"image put" "image get" "image set" "image unset" "image tag" "image untag" \
	"image delete" "image deactivate" "image reactivate" generate "build list" \
	"build show" "build log" "build cancel" "build delete" "config show" "config set" \
	"config unset" "user list" "user show" "user add" "user set" "user delete" \
	"history image" "history user" audit login logout vet "site list" \
	"site show" register "register list" "register show" "register cancel" deregister \
	"target publish" "target unpublish" "target status"; do
	# shellcheck disable=SC2086
	"$RAIN" $c --help >"$TMP/out" 2>"$TMP/err"
	echo "$c: $? $(grep -c '^Usage: rain ' "$TMP/out") $(grep -c -- '^  -h, --help ' "$TMP/out")"
done >"$TMP/helps"
check_eq "every command's --help exits 0 with its usage and the common options" "" \
	"$(grep -v ': 0 1 1$' "$TMP/helps")"
for c in image build config user history vet site register; do
	"$RAIN" "$c" --help 2>&1 | head -n 1
done >"$TMP/helps"
check_eq "every command group's usage names rain" "" "$(grep -v '^Usage: rain ' "$TMP/helps")"
"$RAIN" image download --help >"$TMP/out"
check "download --help lists -o and -c" grep -q -- '^  -o, --output FILE  .*' "$TMP/out"
check "... but not the old spelling --file" sh -c "! grep -q -- '--file' '$TMP/out'"
"$RAIN" image put --help >"$TMP/out"
check "put --help lists the create options" grep -q -- '--container-format FMT' "$TMP/out"
rain_fails "a missing option value exits 2" 2 image list --limit
check "... naming the option" grep -q "option '--limit' needs a value" "$TMP/err"
rain_fails "too many operands exit 2" 2 image show a b
check "... with the command's message" grep -q 'give one image id or name' "$TMP/err"

raind_start || { not_ok "raind starts"; test_done; }
ok "raind starts"
cd "$TMP" || exit 1
head -c 1234567 /dev/urandom >disk.img
SUM=$(sha disk.img)

# --- put -------------------------------------------------------------------------------
rain_ok "rain image put FILE --name N --property os_distro=debian" \
	image put disk.img --name cli-image --property os_distro=debian
J=$(by_name cli-image)
check_eq "one image named cli-image" 1 "$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$J")"
ID=$(json_get 0.id <<<"$J")
BODY=$(json_get 0 <<<"$J")
check_json "the put image is active with the file's size and SHA-256" \
	"j['status'] == 'active' and j['size'] == 1234567 and j['os_hash_value'] == '$SUM'"
check_json "the property was set" 'j["os_distro"] == "debian"'
check_json "formats default to raw and bare" 'j["disk_format"] == "raw" and j["container_format"] == "bare"'
rain_ok "rain image put - (stdin) --name piped" -q image put - --name piped --disk-format raw <disk.img
PIPED=$(by_name piped | json_get 0.id)
check_eq "the piped image has the right data" "$SUM" "$(field "$PIPED" os_hash_value)"
cp disk.img default-name.img
rain_ok "rain image put without --name" -q image put "$TMP/default-name.img"
check_eq "... names the image after the file" 1 "$(by_name default-name.img | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
qemu-img create -f qcow2 q.qcow2 64M >/dev/null 2>&1 &&
	rain_ok "rain image put of a qcow2 file" -q image put q.qcow2 --name qc &&
	check_eq "... guesses disk_format qcow2" qcow2 "$(by_name qc | json_get 0.disk_format)"
rain_fails "put of a missing file fails" x image put /nonexistent/file --name missing
check_eq "... and creates no image" 0 "$(by_name missing | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
qemu-img create -f qcow2 base.qcow2 64M >/dev/null 2>&1
qemu-img create -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2 >/dev/null 2>&1
if [ -s overlay.qcow2 ]; then
	rain_fails "put of a qcow2 with a backing file fails" x image put overlay.qcow2 --name overlay
	check_eq "... and the image it created is deleted again" 0 \
		"$(by_name overlay | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
fi

# --- list ------------------------------------------------------------------------
rain_ok "rain image list" image list
check "the table has a header" grep -q '^ID' "$TMP/out"
check "the table lists cli-image with its id" grep -q "^$ID  *cli-image  *active" "$TMP/out"
rain_ok "rain image list --json" image list --json
check "--json prints a JSON array with cli-image" python3 -c 'import json,sys
a=json.load(open(sys.argv[1])); assert isinstance(a,list); assert any(i["id"]==sys.argv[2] for i in a)' "$TMP/out" "$ID"
rain_ok "rain --json image list" --json image list
check "... prints JSON" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/out"
rain_ok "rain image --json list" image --json list
check "... prints JSON too" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/out"
check "the global --json prints a JSON array too" python3 -c 'import json,sys; assert isinstance(json.load(open(sys.argv[1])),list)' "$TMP/out"
rain_ok "rain image list --property os_distro=debian" image list --json --property os_distro=debian
check "the property filter finds only cli-image" python3 -c 'import json,sys
a=json.load(open(sys.argv[1])); assert [i["id"] for i in a]==[sys.argv[2]], a' "$TMP/out" "$ID"
# more than one page: the CLI follows next links
python3 - "$URL" "$TOKEN" <<'PY'
import http.client, json, sys
url, token = sys.argv[1], sys.argv[2]
c = http.client.HTTPConnection(url.split("//")[1])
for i in range(60):
    c.request("POST", "/v2/images", json.dumps({"name": "bulk-%02d" % i}),
              {"X-Auth-Token": token, "Content-Type": "application/json"})
    c.getresponse().read()
PY
TOTAL=$(image_count)
rain_ok "rain image list with more than one page of images" image list --json
check_eq "all $TOTAL images are listed" "$TOTAL" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")"
rain_ok "rain image list --limit 7" image list --json --limit 7
check_eq "--limit 7 lists 7" 7 "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")"
rain_ok "rain image list --sort name:asc --status queued" image list --json --sort name:asc --status queued
check "sorted by name, only queued" python3 -c 'import json,sys
a=json.load(open(sys.argv[1])); n=[i["name"] for i in a]
assert n==sorted(n) and len(n)==60 and all(i["status"]=="queued" for i in a), n[:5]' "$TMP/out"

# --- show ------------------------------------------------------------------------
rain_ok "rain image show NAME" image show cli-image
check "show prints the id" grep -q "$ID" "$TMP/out"
check "show prints the property" grep -q 'os_distro' "$TMP/out"
check "show prints the SHA-256" grep -q "$SUM" "$TMP/out"
rain_ok "rain image show ID" image show "$ID"
rain_ok "rain image show --json" image show --json cli-image
check "show --json is the image object" python3 -c 'import json,sys
j=json.load(open(sys.argv[1])); assert j["id"]==sys.argv[2] and j["os_distro"]=="debian"' "$TMP/out" "$ID"
rain_fails "show of an unknown name fails" 1 image show no-such-image
check "... saying so" grep -q "no image is named 'no-such-image'; see 'rain image list'" "$TMP/err"
check "... with nothing on stdout" test ! -s "$TMP/out"
rain_fails "show of an unknown id fails" 1 image show 00000000-0000-4000-8000-000000000000
curl -sS -o /dev/null -X POST -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
	-d '{"name":"twin"}' "$URL/v2/images"
curl -sS -o /dev/null -X POST -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
	-d '{"name":"twin"}' "$URL/v2/images"
rain_fails "show of an ambiguous name fails" 1 image show twin
check "... saying how many" grep -q "2 images are named 'twin' (.*); give an id instead" "$TMP/err"
check "... listing the matching ids" test "$(grep -Eo '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' "$TMP/err" | sort -u | wc -l)" -ge 2

# --- get / download ----------------------------------------------------------------
rain_ok "rain image get NAME -o OUT" image get cli-image -o out.img
check_eq "the downloaded file has the same SHA-256" "$SUM" "$(sha out.img)"
check "no .part file is left" test ! -e out.img.part
echo old >existing.img
rain_fails "get -o onto an existing file without --force fails" x image get cli-image -o existing.img
check_eq "... and leaves the file alone" "$(echo old | sha256sum | cut -d' ' -f1)" "$(sha existing.img)"
rain_ok "get -o onto an existing file with --force" image get cli-image -o existing.img --force
check_eq "... replaces it" "$SUM" "$(sha existing.img)"
mkdir -p dl && cd dl || exit 1
rain_ok "rain image get NAME (default output file)" -q image get cli-image
check_eq "the default output file is the image's name with its format's extension" "$SUM" \
	"$(sha cli-image.raw 2>/dev/null)"
rain_fails "get again to the same default file without --force fails" x -q image get cli-image
rain_ok "... and with -f succeeds" -q image get cli-image -f
cd "$TMP" || exit 1
rain_ok "rain image download ID -o FILE" -q image download "$ID" -o dl2.img
check_eq "download writes the same data" "$SUM" "$(sha dl2.img)"
rain_ok "download --file (the old spelling of --output)" -q image download "$ID" --file dl4.img
check_eq "... writes the same data" "$SUM" "$(sha dl4.img)"
"$RAIN" -q image download "$ID" -o - >dl3.img 2>"$TMP/err"
check_eq "download -o - writes to stdout" "$SUM" "$(sha dl3.img)"
rain_fails "get of a queued image fails" 1 -q image get bulk-00 -o bulk.img
check "... and leaves no file" test ! -e bulk.img -a ! -e bulk.img.part
curl -sS -o /dev/null -X POST -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
	-d '{"name":"../evil"}' "$URL/v2/images"   # raind refuses this name anyway
curl -sS -o /dev/null -X POST -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
	-d '{"name":"sub/dir","disk_format":"raw","container_format":"bare"}' "$URL/v2/images"
SLASH=$(by_name sub%2Fdir | json_get 0.id)
if [ -n "$SLASH" ]; then
	upload "$SLASH" disk.img >/dev/null
	mkdir -p dl4 && cd dl4 || exit 1
	rain_fails "get to a default file name containing / is refused" x -q image get "$SLASH"
	check "... and writes nothing" test -z "$(find . -mindepth 1)"
	cd "$TMP" || exit 1
fi

# --- set ------------------------------------------------------------------------------
rain_ok "rain image set --name" image set cli-image --name cli-renamed
check_eq "the image is renamed" cli-renamed "$(field "$ID" name)"
rain_ok "rain image set --property --min-ram" image set cli-renamed --property os_version=12 --min-ram 512
call GET "/v2/images/$ID"
check_json "property and min_ram changed, others kept" \
	'j["os_version"] == "12" and j["min_ram"] == 512 and j["os_distro"] == "debian"'
rain_ok "rain image unset --property" image unset cli-renamed --property os_version
call GET "/v2/images/$ID"
check_json "property removed" '"os_version" not in j and j["os_distro"] == "debian"'
rain_fails "set with a bad visibility fails" x image set cli-renamed --visibility everyone
rain_fails "set of an unknown image fails" 1 image set no-such-image --name x

# --- tag / untag -----------------------------------------------------------------
rain_ok "rain image tag NAME a b" image tag cli-renamed alpha beta
call GET "/v2/images/$ID"
check_json "tags alpha and beta" 'sorted(j["tags"]) == ["alpha","beta"]'
rain_ok "rain image untag NAME alpha" image untag cli-renamed alpha
call GET "/v2/images/$ID"
check_json "tag alpha removed" 'j["tags"] == ["beta"]'
rain_fails "untag of a missing tag fails" 1 image untag cli-renamed nope

# --- deactivate / reactivate -----------------------------------------------------
rain_ok "rain image deactivate" image deactivate cli-renamed
check_eq "the image is deactivated" deactivated "$(field "$ID" status)"
rain_ok "rain image reactivate" image reactivate cli-renamed
check_eq "the image is active again" active "$(field "$ID" status)"
rain_fails "deactivate of a queued image fails" 1 image deactivate bulk-01

# --- create / upload -------------------------------------------------------------
rain_ok "rain image create --name --disk-format" -q image create --name two-step --disk-format raw --container-format bare
TWO=$(tr -d '[:space:]' <"$TMP/out")
check_eq "create -q prints the new id" two-step "$(field "$TWO" name)"
rain_ok "rain image upload NAME FILE" -q image upload two-step disk.img
check_eq "the uploaded image is active" active "$(field "$TWO" status)"
rain_fails "upload to an active image fails" 1 -q image upload two-step disk.img

# --- delete ----------------------------------------------------------------------
rain_ok "rain image set --protected" image set cli-renamed --protected
rain_fails "delete of a protected image fails" 1 image delete cli-renamed
check_eq "... and the image is still there" active "$(field "$ID" status)"
rain_ok "rain image set --unprotected" image set cli-renamed --unprotected
rain_ok "rain image delete NAME" image delete cli-renamed
check_eq "the image is gone (404)" 404 "$(status_of GET "/v2/images/$ID")"
rain_fails "delete of a missing and an existing image fails" 1 image delete no-such-image two-step
check_eq "... but still deletes the existing one" 404 "$(status_of GET "/v2/images/$TWO")"

# --- server and auth errors -----------------------------------------------------------
RAIN_TOKEN=wrong-token-wrong-token rain_fails "a wrong token fails" 1 image list
check "... mentioning the authorization" grep -Eqi '401|auth|token' "$TMP/err"
RAIN_URL=http://127.0.0.1:1 rain_fails "an unreachable server fails" 1 image list
check "... naming the server" grep -q '127.0.0.1:1' "$TMP/err"
rain_fails "--url without a server fails" 1 --url http://127.0.0.1:1 image show x

# --- config file -------------------------------------------------------------------
rain_ok "rain config set url" config set url "$URL"
rain_ok "rain config set token - (stdin)" config set token - <<<"$TOKEN"
CONF=$XDG_CONFIG_HOME/rain/config
check "the config file exists" test -f "$CONF"
check_eq "the config file has mode 0600" 600 "$(stat -c %a "$CONF")"
check_eq "its directory has mode 0700" 700 "$(stat -c %a "$(dirname "$CONF")")"
check "it holds the url" grep -q "$URL" "$CONF"
(unset RAIN_URL RAIN_TOKEN; "$RAIN" image list --json >"$TMP/out" 2>"$TMP/err")
check "with RAIN_URL/RAIN_TOKEN unset, the config file is used" python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))) > 0' "$TMP/out"
rain_ok "rain config show" config show
check "config show does not print the token" test -z "$(grep -F "$TOKEN" "$TMP/out")"
rain_ok "rain config unset url" config unset url
check "the url is gone from the file" test -z "$(grep -F "$URL" "$CONF")"
check_eq "the config file still has mode 0600" 600 "$(stat -c %a "$CONF")"
rain_ok "rain --config FILE config set url" --config "$TMP/other.conf" config set url "$URL"
check_eq "a config file given with --config has mode 0600" 600 "$(stat -c %a "$TMP/other.conf")"

raind_stop
test_done
