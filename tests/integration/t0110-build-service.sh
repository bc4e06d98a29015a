#!/bin/bash
# raind's build service: validation before queueing, a real remote build
# (rain generate --remote) streaming its log, a stored qcow2 build, remote
# clones (base = image:REF) with the owner's rights through a token for
# the build only (never in argv or a log, revoked at success, failure,
# cancel and after kill -9), the queue with max_concurrent 1, cancel of
# queued and running builds (no process left), records surviving kill -9
# of raind, delete, and the service switched off.
#
# Builds that must stay running use a mirror that accepts connections and
# never answers, so they wait in apt-get update without load or network;
# clones (which use their parent's sources) wait in a recipe script.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null; then
	echo "ok 1 # SKIP needs root and mmdebstrap"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
cd "$TMP" || exit 1

# the program raind runs for builds: rain, after noting the token raind
# gave it and its arguments (the test's window on a build's token, which
# raind shows nowhere); named after the build, whose directory is its cwd.
# It lets the builds use the loopback mirrors below.
mkdir -p "$TMP/tokens"
cat >"$TMP/rain-wrapper" <<EOF
#!/bin/sh
t=$TMP/tokens/\$(basename "\$(pwd -P)")
printf '%s\n' "\$*" >"\$t.argv"
printf '%s\n' "\${RAIN_TOKEN:-}" >"\$t.tmp" && mv "\$t.tmp" "\$t"
case "\$1" in
generate) exec "$RAIN" "\$@" --limit allow_private_mirrors=yes ;;
*) exec "$RAIN" "\$@" ;;
esac
EOF
chmod 0755 "$TMP/rain-wrapper"
cat >"$TMP/raind.ini" <<EOF
[builds]
max_concurrent = 1
cache_dir = $CACHE
rain_command = $TMP/rain-wrapper
EOF
raind_start --config "$TMP/raind.ini" || exit 1

# a mirror that never answers
hang_mirror

# submit JSON-FILE: POST it; sets STATUS and BODY
submit() { call POST /rain/v1/builds -H 'Content-Type: application/json' --data-binary "@$1"; }
# body RECIPE-TEXT [FILES-JSON] [EXTRA-JSON]: a request body in $TMP/body.json
body() {
	python3 - "$1" "${2:-{\}}" "${3:-{\}}" >"$TMP/body.json" <<'PY'
import json, sys
b = {"recipe": sys.argv[1], "files": json.loads(sys.argv[2])}
b.update(json.loads(sys.argv[3]))
print(json.dumps(b))
PY
}
# status_of_build ID: its status
build_status() { api GET "/rain/v1/builds/$1" | head -n 1 | json_get status; }
# wait_status ID STATUS [SECONDS]: poll until the build has that status
wait_status() {
	local i
	for i in $(seq 1 $((${3:-60} * 5))); do
		[ "$(build_status "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
# procs_of PATTERN: processes whose command line has PATTERN (not this test's)
procs_of() { pgrep -f -- "$1" | grep -v "^$$\$" | grep -c .; }
slow_recipe() { printf '[image]\nname = %s\ndistribution = debian\nmirror = http://127.0.0.1:%s/debian\n[output]\nformats = tar\n' "$1" "$HPORT"; }

# ---- validation before anything is queued
body $'[image]\ndistribution = debian\n[packages]\ninstall = ok, b@d\n'
submit "$TMP/body.json"
check_error "a malformed recipe is refused" 400
check "the message names the line and key" grep -q "recipe:4: \[packages\] install: 'b@d' is not a package name" <<<"$BODY"
body $'[image]\ndistribution = debian\n[output]\nformats = tar\n' '{"../etc/passwd": "aGk="}'
submit "$TMP/body.json"
check_error "a file name with .. is refused" 400
check "the message names the file" grep -q "'../etc/passwd'" <<<"$BODY"
body $'[image]\ndistribution = debian\n[output]\nformats = tar\n' '{"/etc/passwd": "aGk="}'
submit "$TMP/body.json"
check_error "an absolute file name is refused" 400
body $'[image]\ndistribution = debian\n[files]\ncopy = /etc/shadow:/etc/x\n[output]\nformats = tar\n'
submit "$TMP/body.json"
check_error "a recipe copying an absolute server path is refused" 400
body $'[image]\ndistribution = debian\n[files]\ncopy = motd:/etc/motd\n[output]\nformats = tar\n'
submit "$TMP/body.json"
check_error "a recipe naming a file that was not sent is refused" 400
check "the message names the file" grep -q "'motd' was not sent" <<<"$BODY"
body $'[image]\ndistribution = debian\n[output]\nformats = tar\n' '{"a": "aGk=", "./a/b": "aGk="}'
submit "$TMP/body.json"
check_error "a name that is both a file and a directory is refused" 400
body $'[image]\ndistribution = debian\n[output]\nformats = tar\n' '{"a": "not base64!"}'
submit "$TMP/body.json"
check_error "bad base64 is refused" 400
body $'[image]\ndistribution = debian\n[output]\nformats = tar\n' '{}' '{"store": true}'
submit "$TMP/body.json"
check_error "store without a disk or qcow2 output is refused" 400
python3 - >"$TMP/big.json" <<'PY'
import base64, json
print(json.dumps({"recipe": "[image]\ndistribution = debian\n[output]\nformats = tar\n",
                  "files": {"big": base64.b64encode(bytes(65 << 20)).decode()}}))
PY
submit "$TMP/big.json"
check_error "more than 64 MiB of files is refused" 413
call_noauth POST /rain/v1/builds -H 'Content-Type: application/json' -d '{"recipe": ""}'
check_error "no token, no build" 401
call GET /rain/v1/builds
check_json "nothing was queued by the refused submissions" 'j["builds"] == []'
check_eq "no build directory was left" "" "$(ls "$DATA/builds")"

# ---- a real remote build through the CLI, log streamed
mkdir -p "$TMP/r/files"
echo "hello from a remote build" >"$TMP/r/files/motd"
cat >"$TMP/r/small.recipe" <<'RECIPE'
[image]
name = t0110-small
distribution = debian
release = bookworm
[files]
copy = files/motd:/etc/motd
[output]
formats = tar
RECIPE
start=$(date +%s)
"$RAIN" generate "$TMP/r/small.recipe" --remote >"$TMP/gen.out" 2>"$TMP/gen.err"
rc=$?
echo "# remote tar build took $(( $(date +%s) - start )) s"
check_eq "rain generate --remote succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || tail -20 "$TMP/gen.err" | sed 's/^/#   /'
check "the log was streamed to stderr" grep -q "== raind: build .* started" "$TMP/gen.err"
check "the streamed log has the build's own lines" grep -q "^+ mmdebstrap\|== building" "$TMP/gen.err"
check "the result names the tar output" grep -q "^tar .*t0110-small.tar" "$TMP/gen.out"
SMALL=$(sed -n 's/^build *\([0-9a-f-]*\) succeeded$/\1/p' "$TMP/gen.out")
call GET "/rain/v1/builds/$SMALL"
check_status "the build's record" 200
check_json "it succeeded, with times and its manifest" 'j["status"] == "succeeded" and j["started_at"] and j["finished_at"] and any(o["format"] == "tar" for o in j["manifest"]["outputs"])'
check_json "a tar build is not stored" 'j["store"] is False and j["image_id"] is None'
call GET "/rain/v1/builds/$SMALL/log"
check_status "its log" 200
check "the log has lines" test "$(grep -c . <<<"$BODY")" -gt 5
check "the log ends with the outcome" grep -q "== raind: build $SMALL succeeded" <<<"$BODY"
check_eq "the file went into the image" "hello from a remote build" \
	"$(tar -xOf "$DATA/builds/$SMALL/out/t0110-small.tar" ./etc/motd)"
check "rain build list shows it" sh -c "'$RAIN' build list | grep -q '$SMALL  t0110-small  succeeded'"
check "rain build show takes a prefix of the id" sh -c "'$RAIN' build show '${SMALL:0:8}' | grep -q 'tar t0110-small.tar'"
check "rain build log prints the log" sh -c "'$RAIN' build log '$SMALL' | grep -q 'succeeded after'"
"$RAIN" build cancel "$SMALL" 2>"$TMP/cancel.err"
check "canceling a finished build fails" test $? -ne 0
check "... with 409" grep -q "409" "$TMP/cancel.err"
"$RAIN" build delete ffffffff 00000000-0000-4000-8000-000000000000 2>"$TMP/delete.err"
check "rain build delete of an unknown prefix and an unknown id fails" test $? -eq 1
check "... naming the prefix" grep -q "no build id starts with 'ffffffff'" "$TMP/delete.err"
check "... and still trying the id" grep -q "cannot delete build 00000000-0000-4000-8000-000000000000" "$TMP/delete.err"

# ---- store: a qcow2 build becomes an image owned by the submitter
cat >"$TMP/r/vm.recipe" <<'RECIPE'
[image]
name = t0110-vm
distribution = debian
release = bookworm
[files]
copy = files/motd:/etc/motd
[output]
formats = qcow2
size = 1G
[metadata]
vm_type = kvm
RECIPE
start=$(date +%s)
"$RAIN" generate "$TMP/r/vm.recipe" --remote --store --json >"$TMP/vm.json" 2>"$TMP/vm.err"
rc=$?
echo "# remote qcow2 build + store took $(( $(date +%s) - start )) s"
check_eq "a remote build with --store succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || tail -20 "$TMP/vm.err" | sed 's/^/#   /'
IMG=$(json_get image_id <"$TMP/vm.json" 2>/dev/null)
check "the build record names the stored image" test -n "$IMG"
call GET "/v2/images/$IMG"
check_status "the stored image exists" 200
check_json "it is an active qcow2 owned by the submitter" 'j["status"] == "active" and j["disk_format"] == "qcow2" and j["owner"] == "admin"'
check_json "it carries the recipe, its metadata and the build figures" '"name = t0110-vm" in j["rain_recipe"] and j["vm_type"] == "kvm" and j["os_distro"] == "debian" and j["rain_boot_check"] == "not run" and int(j["rain_packages"]) > 50'
VMB=$(json_get id <"$TMP/vm.json" 2>/dev/null)
check_eq "the stored data is the build's qcow2" \
	"$(sha256sum <"$DATA/builds/$VMB/out/t0110-vm.qcow2" 2>/dev/null | cut -c1-64)" \
	"$(json_get os_hash_value <<<"$BODY")"
# the kernel, initramfs and manifest of a remote build can be fetched
"$RAIN" build get "$VMB" -o "$TMP/vmget" 2>"$TMP/get.err" || sed 's/^/#   /' "$TMP/get.err"
for f in vmlinuz initrd.img manifest.json; do
	check_eq "rain build get fetches $f as the build wrote it" \
		"$(sha256sum <"$DATA/builds/$VMB/out/$f" 2>/dev/null | cut -c1-64)" \
		"$(sha256sum <"$TMP/vmget/$f" 2>/dev/null | cut -c1-64)"
done
check "the package list stored with the image is the manifest's" python3 -c '
import json,sys,urllib.request
m = json.load(open(sys.argv[1]))
req = urllib.request.Request(sys.argv[2], headers={"X-Auth-Token": sys.argv[3]})
img = json.load(urllib.request.urlopen(req))
lines = "".join(img.get(k, "") for k in ["rain_package_list"] + ["rain_package_list_%d" % i for i in range(2, 17)]).splitlines()
assert lines == ["%s %s %s" % (p["name"], p["version"], p.get("architecture", "?")) for p in m["packages"]], len(lines)' \
	"$TMP/vmget/manifest.json" "$URL/v2/images/$IMG" "$TOKEN"
# [vet] auto (the default): raind vets what its builds store, as the owner,
# with the build's manifest
for _ in $(seq 1 300); do
	call GET "/v2/images/$IMG"
	[ -n "$(json_get rain_vetting <<<"$BODY")" ] && break
	sleep 0.2
done
check_json "the stored image is vetted by itself" 'j["rain_vetting"] in ("passed", "warned", "failed") and j["rain_vetting_sha256"] == j["os_hash_value"]'
call GET "/rain/v1/images/$IMG/vetting"
check_json "its report compared the build's manifest with the image" '"manifest" in j["packages_from"] and j["packages"]["count"] > 50'

# ---- base = image:REF: a remote clone runs with its owner's rights
printf 'alice-pw-1\n' >"$TMP/alice.pw"
printf 'bob-pw-1\n' >"$TMP/bob.pw"
"$RAIN" user add alice --password-file "$TMP/alice.pw" >/dev/null 2>&1 &&
	"$RAIN" user add bob --password-file "$TMP/bob.pw" >/dev/null 2>&1
check "users alice and bob" test $? -eq 0
ALICE=$(token_of alice alice-pw-1)
BOB=$(token_of bob bob-pw-1)
# put_image TOKEN NAME VISIBILITY FILE: a qcow2 image of the token's user; prints its id
put_image() {
	local id
	id=$(curl -sS -X POST -H "X-Auth-Token: $1" -H 'Content-Type: application/json' -d \
		"{\"name\":\"$2\",\"disk_format\":\"qcow2\",\"container_format\":\"bare\",\"visibility\":\"$3\"}" \
		"$URL/v2/images" | json_get id)
	curl -sS -o /dev/null -X PUT -H "X-Auth-Token: $1" -H 'Content-Type: application/octet-stream' \
		-T "$4" "$URL/v2/images/$id/file"
	echo "$id"
}
# as TOKEN METHOD PATH [CURL ARGS...]: call with another token
as() { local TOKEN=$1; shift; call "$@"; }
# wait_token ID: BUILD_TOKEN, the RAIN_TOKEN the build's rain generate got
# (empty if none), and BUILD_CMDLINES, its arguments and every command line
# of the machine at that time
wait_token() {
	local i
	BUILD_TOKEN= BUILD_CMDLINES=
	for i in $(seq 1 600); do
		[ -e "$TMP/tokens/$1" ] && break
		sleep 0.1
	done
	BUILD_TOKEN=$(cat "$TMP/tokens/$1" 2>/dev/null)
	BUILD_CMDLINES=$(cat "$TMP/tokens/$1.argv" 2>/dev/null
		for p in /proc/[0-9]*; do tr '\0' ' ' 2>/dev/null <"$p/cmdline"; echo; done)
	[ -n "$BUILD_TOKEN" ]
}
# holders TOKEN: how many processes show the token in their environment
holders() { grep -lsF -- "$1" /proc/[0-9]*/environ | grep -c .; }
# token_alive TOKEN USER: the token validates, as USER's
token_alive() {
	call GET /v3/auth/tokens -H "X-Subject-Token: $1"
	[ "$STATUS" = 200 ] && [ "$(json_get token.user.name <<<"$BODY")" = "$2" ]
}
# token_dead TOKEN: the token no longer authenticates, nor validates as a subject
token_dead() {
	[ "$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $TOKEN" -H "X-Subject-Token: $1" \
		"$URL/v3/auth/tokens")" = 404 ] &&
	[ "$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $1" "$URL/v2/images")" = 401 ]
}
# token_secret TOKEN BUILD: the token is in no log, record or command line
token_secret() {
	[ -n "$1" ] && ! grep -rqF -- "$1" "$DATA/builds/$2" "$TMP/raind.log" &&
		! grep -qF -- "$1" <<<"$BUILD_CMDLINES"
}
CLONED=()   # every build token seen, for the end
VMQ=$DATA/builds/$VMB/out/t0110-vm.qcow2
AIMG=$(put_image "$ALICE" t0110-alice-base private "$VMQ")
BIMG=$(put_image "$BOB" t0110-bob-private private "$VMQ")
as "$ALICE" GET "/v2/images/$AIMG"
check_json "alice has an active private image" 'j["status"] == "active" and j["owner"] == "alice"'
as "$ALICE" GET "/v2/images/$BIMG"
check_error "bob's private image is not found for alice" 404
mkdir -p "$TMP/c"
cat >"$TMP/c/clone.recipe" <<RECIPE
[image]
name = t0110-clone
distribution = debian
release = bookworm
base = image:$AIMG
[output]
formats = qcow2
size = 1G
RECIPE
start=$(date +%s)
RAIN_TOKEN=$ALICE "$RAIN" generate "$TMP/c/clone.recipe" --remote --store --json \
	>"$TMP/clone.json" 2>"$TMP/clone.err" &
gpid=$!
for _ in $(seq 1 100); do grep -q "^rain: build .* queued" "$TMP/clone.err" && break; sleep 0.1; done
CL=$(sed -n 's/^rain: build \([0-9a-f-]*\) queued.*/\1/p' "$TMP/clone.err")
wait_token "$CL"
check "the clone's rain generate got a token in its environment" test -n "$BUILD_TOKEN"
CLONED+=("$BUILD_TOKEN")
check "... alice's, valid while the build runs" token_alive "$BUILD_TOKEN" alice
check "... not the submitter's own token" test "$BUILD_TOKEN" != "$ALICE"
check "... never in a command line" token_secret "$BUILD_TOKEN" "$CL"
wait "$gpid"
rc=$?
echo "# remote clone + store took $(( $(date +%s) - start )) s"
check_eq "alice's remote build with base = image:ID of her image succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || tail -20 "$TMP/clone.err" | sed 's/^/#   /'
check "its log says where the base came from, without a secret" \
	grep -q "== raind: the base image comes from http://127.0.0.1:$PORT, read with alice's rights" "$DATA/builds/$CL/log"
CIMG=$(json_get image_id <"$TMP/clone.json" 2>/dev/null)
as "$ALICE" GET "/v2/images/$CIMG"
check_json "the clone is stored as alice's, with its parent" 'j["status"] == "active" and j["owner"] == "alice" and j["rain_parent_image"] == "'"$AIMG"'"'
check "the clone's token is revoked after the build" token_dead "$BUILD_TOKEN"
check "... and in no log or record" token_secret "$BUILD_TOKEN" "$CL"
check "no token hash is left in the build's directory" test ! -e "$DATA/builds/$CL/token.sha256"
check "the submitter's token still works" test "$(as "$ALICE" GET /v2/images; echo "$STATUS")" = 200

# another user's private image: not found, and nothing is stored
n_before=$(as "$ALICE" GET /v2/images; json_get images <<<"$BODY" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
for ref in "$BIMG" t0110-bob-private; do
	sed "s/^base = .*/base = image:$ref/" "$TMP/c/clone.recipe" >"$TMP/c/steal.recipe"
	RAIN_TOKEN=$ALICE "$RAIN" generate "$TMP/c/steal.recipe" --remote --store --json \
		>"$TMP/steal.json" 2>"$TMP/steal.err"
	check "cloning bob's private image (image:$ref) fails for alice" test $? -ne 0
	SB=$(sed -n 's/^rain: build \([0-9a-f-]*\) queued.*/\1/p' "$TMP/steal.err")
	as "$ALICE" GET "/rain/v1/builds/$SB"
	check_json "... the record says the image was not found ($ref)" 'j["status"] == "failed" and j["image_id"] is None and "no image" in j["error"] and "'"$ref"'" in j["error"]'
	echo "# the error: $(json_get error <<<"$BODY")"
	check "... and so does the build log" grep -q "^rain: error: no image.*$ref" "$DATA/builds/$SB/log"
	wait_token "$SB"
	CLONED+=("$BUILD_TOKEN")
	check "... its token was revoked when it failed" token_dead "$BUILD_TOKEN"
	check "... and no hash of it is left" test ! -e "$DATA/builds/$SB/token.sha256"
done
as "$ALICE" GET /v2/images
check_eq "nothing was stored for alice" "$n_before" "$(json_get images <<<"$BODY" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"

# cancel: the running clone's token dies with it
SLEEPER=$(printf '#!/bin/sh\nsleep 997\n' | base64 -w0)
clone_slow() {
	printf '[image]\nname = %s\ndistribution = debian\nrelease = bookworm\nbase = image:%s\n[scripts]\nrun = sleep.sh\n[output]\nformats = tar\n' "$1" "$AIMG"
}
body "$(clone_slow clone-cancel)" "{\"sleep.sh\": {\"data\": \"$SLEEPER\", \"mode\": 493}}"
as "$ALICE" POST /rain/v1/builds -H 'Content-Type: application/json' --data-binary "@$TMP/body.json"
check_status "alice submits a clone that waits in its script" 202
CX=$(json_get id <<<"$BODY")
wait_token "$CX"
check "the running clone has a token" test -n "$BUILD_TOKEN"
CLONED+=("$BUILD_TOKEN")
check "it is alice's, valid while the build runs" token_alive "$BUILD_TOKEN" alice
check "it is in no log, record or command line" token_secret "$BUILD_TOKEN" "$CX"
for _ in $(seq 1 300); do [ "$(procs_of "sleep 997")" -gt 0 ] && break; sleep 0.1; done
check "the recipe's script runs" test "$(procs_of "sleep 997")" -gt 0
check_eq "no process shows the token in its environment once building (rain generate wiped it)" 0 "$(holders "$BUILD_TOKEN")"
as "$ALICE" POST "/rain/v1/builds/$CX/cancel"
check_json "canceling it" 'j["status"] == "canceled"'
check "its token is revoked once the cancel returns" token_dead "$BUILD_TOKEN"
sleep 1
check_eq "no process of its script is left" 0 "$(procs_of "sleep 997")"

# ---- the queue: with max_concurrent 1 the second build waits
body "$(slow_recipe slow-a)"
submit "$TMP/body.json"
check_status "a build is accepted with 202" 202
A=$(json_get id <<<"$BODY")
check_json "it starts queued" 'j["status"] == "queued" and j["owner"] == "admin"'
check "it runs" wait_status "$A" running 30
body "$(slow_recipe slow-b)"
submit "$TMP/body.json"
B=$(json_get id <<<"$BODY")
sleep 1
call GET "/rain/v1/builds/$B"
check_json "the second one stays queued, first in line" 'j["status"] == "queued" and j["position"] == 1'
call POST "/rain/v1/builds/$B/cancel"
check_status "canceling a queued build" 200
check_json "it is canceled at once" 'j["status"] == "canceled"'
check_eq "the first is still running" running "$(build_status "$A")"
call DELETE "/rain/v1/builds/$A"
check_error "a running build cannot be deleted" 409
check "the running build has its processes" test "$(procs_of "127.0.0.1:$HPORT")" -gt 0
call POST "/rain/v1/builds/$A/cancel"
check_status "canceling a running build" 200
check_json "it is canceled" 'j["status"] == "canceled"'
sleep 1
check_eq "no rain generate or mmdebstrap of it is left" 0 "$(procs_of "127.0.0.1:$HPORT")"
check_eq "nor any process working in its directory" "" \
	"$(for p in /proc/[0-9]*; do [ "$(readlink "$p/cwd" 2>/dev/null)" = "$DATA/builds/$A" ] && echo "$p"; done)"
call DELETE "/rain/v1/builds/$B"
check_status "a finished build can be deleted" 204
check "its directory is gone" test ! -e "$DATA/builds/$B"
call GET "/rain/v1/builds/$B"
check_error "it is gone" 404

# ---- kill -9: committed records survive; the interrupted build fails
# (a clone: its token is revoked at the next start)
body "$(clone_slow crash-a)" "{\"sleep.sh\": {\"data\": \"$SLEEPER\", \"mode\": 493}}"
as "$ALICE" POST /rain/v1/builds -H 'Content-Type: application/json' --data-binary "@$TMP/body.json"
CA=$(json_get id <<<"$BODY")
check "a build runs before the crash" wait_status "$CA" running 30
wait_token "$CA"
check "the crashing clone has a valid token" token_alive "$BUILD_TOKEN" alice
CRASH_TOKEN=$BUILD_TOKEN
CLONED+=("$BUILD_TOKEN")
body "$(slow_recipe crash-b)"
submit "$TMP/body.json"
CB=$(json_get id <<<"$BODY")
raind_stop KILL
check "its rain generate outlived raind" test "$(procs_of "$DATA/builds/$CA")" -gt 0
raind_start --config "$TMP/raind.ini" || exit 1
check_eq "the finished build is still there" succeeded "$(build_status "$SMALL")"
call GET "/rain/v1/builds/$CA"
check_json "the running one failed: raind stopped during it" 'j["status"] == "failed" and j["error"] == "raind stopped during the build"'
st=$(build_status "$CB")
check "the queued one was queued again and runs ($st)" test "$st" = queued -o "$st" = running
grep -q "1 stopped during the build" "$TMP/raind.log"
check "raind logged the recovery" test $? -eq 0
check "the crashed clone's token was revoked at the start" token_dead "$CRASH_TOKEN"
check "raind logged that" grep -q "revoked 1 token(s) of builds from the previous run" "$TMP/raind.log"
check "no token hash is left" test ! -e "$DATA/builds/$CA/token.sha256"
"$RAIN" build cancel "$CB" >/dev/null 2>&1
check_eq "... and it can be canceled" canceled "$(build_status "$CB")"
sleep 1
check_eq "no build process is left after the restart" 0 "$(procs_of "127.0.0.1:$HPORT")"
check_eq "the interrupted build's rain generate was stopped" 0 "$(procs_of "$DATA/builds/$CA")"
check_eq "... with its script" 0 "$(procs_of "sleep 997")"
leaked=0
for t in "${CLONED[@]}"; do grep -rqF -- "$t" "$TMP/raind.log" "$DATA/builds" && leaked=$((leaked + 1)); done
check_eq "no build token is in raind's log or any build's files" 0 "$leaked"

# ---- Ctrl-C of rain generate --remote cancels the build on the server
slow_recipe ctrl-c >"$TMP/r/ctrlc.recipe"
"$RAIN" generate "$TMP/r/ctrlc.recipe" --remote >/dev/null 2>"$TMP/ctrlc.err" &
gpid=$!
for _ in $(seq 1 100); do grep -q "apt-get update\|mmdebstrap" "$TMP/ctrlc.err" && break; sleep 0.2; done
kill -INT "$gpid"
wait "$gpid"
check "interrupted rain generate --remote exits non-zero" test $? -ne 0
check "it says the build was canceled" grep -q "was canceled" "$TMP/ctrlc.err"
CC=$(sed -n 's/^rain: build \([0-9a-f-]*\) queued.*/\1/p' "$TMP/ctrlc.err")
check_eq "the server's build is canceled" canceled "$(build_status "$CC")"

# ---- over TLS the child reaches raind at https://127.0.0.1:PORT, checking
# its certificate; the service token's builds (no user admin) get that token
raind_stop
DATA=$TMP/data-tls
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
	-days 2 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
printf '[builds]\nmax_concurrent = 1\ncache_dir = %s\n' "$CACHE" >"$TMP/tls.ini"   # the rain next to raind
raind_start --config "$TMP/tls.ini" --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" || exit 1
URL=https://127.0.0.1:$PORT
export RAIN_URL=$URL RAIN_CACERT=$TMP/cert.pem CURL_CA_BUNDLE=$TMP/cert.pem
call DELETE /rain/v1/users/admin
check_status "without a user admin" 204
TIMG=$(put_image "$TOKEN" tls-base private "$VMQ")
body "$(printf '[image]\nname = tls-clone\ndistribution = debian\nrelease = bookworm\nbase = image:%s\n[output]\nformats = tar\n' "$TIMG")"
submit "$TMP/body.json"
TB=$(json_get id <<<"$BODY")
wait_status "$TB" succeeded 120
check_eq "a clone built by the service token succeeds over HTTPS" succeeded "$(build_status "$TB")"
[ "$(build_status "$TB")" = succeeded ] || tail -5 "$DATA/builds/$TB/log" | sed 's/^/#   /'
check "it read the base image at https://127.0.0.1:$PORT with the service token" \
	grep -qx "== raind: the base image comes from https://127.0.0.1:$PORT, read with admin's rights" "$DATA/builds/$TB/log"
check "the service token is in no log or record" sh -c "! grep -rqF -- '$TOKEN' '$DATA/builds' '$TMP/raind.log'"
unset RAIN_CACERT CURL_CA_BUNDLE
printf '[builds]\nrepository_url = ftp://rain.example.org/\n' >"$TMP/bad.ini"
"$RAIND" --data-dir "$TMP/data-bad" --listen 127.0.0.1:0 --config "$TMP/bad.ini" 2>"$TMP/bad.err"
check "[builds] repository_url must be http(s)" test $? -ne 0
check "... and raind says so" grep -q "repository_url must be an http:// or https:// URL" "$TMP/bad.err"

# ---- switched off
raind_stop
DATA=$TMP/data-off
printf '[builds]\nenabled = false\n' >"$TMP/off.ini"
raind_start --config "$TMP/off.ini" || exit 1
body $'[image]\ndistribution = debian\n[output]\nformats = tar\n'
submit "$TMP/body.json"
check_error "with the service off, submissions get 503" 503
check "the message says why" grep -q "disabled" <<<"$BODY"

kill "$HANG_PID" 2>/dev/null
test_done
