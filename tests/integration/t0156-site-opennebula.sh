#!/bin/bash
# The opennebula site driver through rain target, against a FAKE
# OpenNebula front-end (tests/integration/opennebula-fake.py: OpenNebula is
# not in Debian and cannot run here; the fake checks each XML-RPC call's
# documented parameters and the session, and fetches the image's PATH as a
# front-end does): the adapted disk published, the image allocated and
# READY, a template with the image, contextualization and the user's key;
# status; unpublish leaving nothing; bad credentials, a front-end that
# cannot fetch the image, a publish killed while the image is LOCKED, and
# bad site settings.
source "$(dirname "$0")/lib.sh"
cd "$TMP" || exit 1

small_disk "$TMP/disk.raw"
disk_sha=$(sha256sum <"$TMP/disk.raw" | cut -d' ' -f1)
mkdir -p "$TMP/pub" "$TMP/store"
printf 'oneadmin:opennebula\n' >"$TMP/one_auth"
printf 'oneadmin:wrong\n' >"$TMP/bad_auth"
ssh-keygen -q -t ed25519 -N '' -C t0156 -f "$TMP/key" >/dev/null

# the folder OpenNebula fetches from, over HTTP; and one that answers slowly
http_serve "$TMP/pub" || exit 1
PUB_PORT=$HTTP_PORT
SLOW_PORT=$(free_port)
/usr/bin/python3 -c '
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(600)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$SLOW_PORT" \
	>/dev/null 2>&1 &
SLOW_PID=$!
/usr/bin/python3 "$TOP/tests/integration/opennebula-fake.py" "$TMP/one.port" "$TMP/one.json" \
	"$TMP/store" oneadmin:opennebula >"$TMP/one.log" 2>&1 &
ONE_PID=$!
trap 'kill $SLOW_PID $ONE_PID 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 100); do [ -s "$TMP/one.port" ] && break; sleep 0.1; done
ONE=http://127.0.0.1:$(cat "$TMP/one.port")/RPC2

site() { # NAME URI AUTH PUBLISH_URL [MORE LINES]
	printf '[site.%s]\nuri = opennebula:%s\none_auth = %s\npublish_dir = %s\npublish_url = %s\n' \
		"$1" "$2" "$3" "$TMP/pub" "$4"
	shift 4
	for l in "$@"; do printf '%s\n' "$l"; done
}
{
	site one "$ONE" "$TMP/one_auth" "http://127.0.0.1:$PUB_PORT" "memory = 2G" "vcpu = 2"
	site badauth "$ONE" "$TMP/bad_auth" "http://127.0.0.1:$PUB_PORT"
	site nofetch "$ONE" "$TMP/one_auth" "http://127.0.0.1:1"
	site slow "$ONE" "$TMP/one_auth" "http://127.0.0.1:$SLOW_PORT" "image_timeout = 600"
	site typo "$ONE" "$TMP/one_auth" "http://127.0.0.1:$PUB_PORT" "datastore = 1"
	printf '[site.nourl]\nuri = opennebula:one.example.org\none_auth = %s\n' "$TMP/one_auth"
} >"$TMP/sites.ini"

one_state() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$TMP/one.json" "$1"; }

# ---- publish
"$RAIN" target publish --sites "$TMP/sites.ini" --site one --work "$TMP/work" \
	--state "$TMP/state.json" --ssh-key "$TMP/key.pub" --property architecture=x86_64 \
	"$TMP/disk.raw" >"$TMP/pub.out" 2>"$TMP/pub.err"
check_eq "rain target publish registers at the (fake) OpenNebula" 0 "$?"
check "it prints the image and template ids" grep -q "template_id" "$TMP/pub.out"
check_eq "one image, READY" "1 1" "$(one_state 'len(j["images"]), [i["state"] for i in j["images"].values()][0]' | tr -d '(),')"
check_eq "one template, booting that image" "1 True" \
	"$(one_state 'len(j["templates"]), [t["image_id"] for t in j["templates"].values()] == [int(k) for k in j["images"]]' | tr -d '(),')"
check_eq "the image is an OS disk in the default datastore, qcow2" "OS 1 qcow2" \
	"$(one_state '" ".join(str(x) for x in [[i["type"], i["datastore"], i["driver"]] for i in j["images"].values()][0])')"
check "the template has contextualization with the user's key" python3 -c '
import json, sys
c = list(json.load(open(sys.argv[1]))["templates"].values())[0]["context"]
k = open(sys.argv[2]).read().strip()
sys.exit(0 if c["NETWORK"] == "YES" and c["SSH_PUBLIC_KEY"] == k and c["SET_HOSTNAME"] == "$NAME" else 1)' \
	"$TMP/one.json" "$TMP/key.pub"
check_eq "and the site's memory and the image's architecture" "2048 x86_64" \
	"$(one_state '" ".join([list(j["templates"].values())[0]["memory"], list(j["templates"].values())[0]["os"]["ARCH"]])')"
reg=$(json_get registration <"$TMP/state.json")
check "the front-end fetched exactly what was published" sh -c \
	"cmp '$TMP/store/image-0' '$TMP/pub/$reg/disk.qcow2'"
check "the published disk is an adapted qcow2 copy" sh -c \
	"qemu-img info '$TMP/pub/$reg/disk.qcow2' | grep -q 'file format: qcow2'"
check_eq "the image file is unchanged" "$disk_sha" "$(sha256sum <"$TMP/disk.raw" | cut -d' ' -f1)"
check "the calls were the documented ones" one_state \
	'set(j["calls"]) == {"one.image.allocate", "one.image.info", "one.template.allocate"} or sys.exit(1)'

"$RAIN" target status --sites "$TMP/sites.ini" --site one --state "$TMP/state.json" --json >"$TMP/status.json" 2>&1
check_eq "status: the image is there, READY" "true 1" \
	"$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(str(s["present"]).lower(), s["image_state"])' "$TMP/status.json")"

"$RAIN" target unpublish --sites "$TMP/sites.ini" --site one --state "$TMP/state.json" >"$TMP/unpub.out" 2>&1
check_eq "unpublish" 0 "$?"
check_eq "the fake holds nothing" "0 0" "$(one_state 'len(j["images"]), len(j["templates"])' | tr -d '(),')"
check "the published folder is gone" test ! -e "$TMP/pub/$reg"

# ---- bad credentials: a clear error, nothing made
"$RAIN" target publish --sites "$TMP/sites.ini" --site badauth --work "$TMP/work2" \
	--state "$TMP/state2.json" "$TMP/disk.raw" >/dev/null 2>"$TMP/badauth.err"
check_eq "bad credentials fail" 1 "$?"
check "the error says so and names one_auth" grep -q "authenticated.*one_auth" "$TMP/badauth.err"
check_eq "nothing in the fake" "0 0" "$(one_state 'len(j["images"]), len(j["templates"])' | tr -d '(),')"
check_eq "nothing published" "" "$(ls "$TMP/pub")"

# ---- the front-end cannot fetch the image: ERROR, removed again
"$RAIN" target publish --sites "$TMP/sites.ini" --site nofetch --work "$TMP/work3" \
	--state "$TMP/state3.json" "$TMP/disk.raw" >/dev/null 2>"$TMP/nofetch.err"
check_eq "an image the front-end cannot fetch fails" 1 "$?"
check "with OpenNebula's reason" grep -q "could not make image.*Error copying image" "$TMP/nofetch.err"
check_eq "the failed image was deleted" "0 0" "$(one_state 'len(j["images"]), len(j["templates"])' | tr -d '(),')"
check "and the state file, which names nothing now" test ! -e "$TMP/state3.json"

# ---- a publish killed while the image is LOCKED: unpublish cleans up
"$RAIN" target publish --sites "$TMP/sites.ini" --site slow --work "$TMP/work4" \
	--state "$TMP/state4.json" "$TMP/disk.raw" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 300); do
	[ "$(one_state 'len(j["images"])')" = 1 ] && grep -q image_id "$TMP/state4.json" 2>/dev/null && break
	sleep 0.2
done
kill -9 $pid
wait $pid 2>/dev/null
check_eq "the killed publish left a LOCKED image" 4 "$(one_state '[i["state"] for i in j["images"].values()][0]')"
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site slow --state "$TMP/state4.json" >/dev/null 2>&1
check_eq "unpublish with its state removes it" "0 0" "$(one_state 'len(j["images"]), len(j["templates"])' | tr -d '(),')"
check_eq "and its files" "" "$(ls "$TMP/pub")"

# ---- Ctrl-C during a publish: it removes what it made itself
"$RAIN" target publish --sites "$TMP/sites.ini" --site slow --work "$TMP/work6" \
	--state "$TMP/state6.json" "$TMP/disk.raw" >/dev/null 2>"$TMP/int.err" &
pid=$!
for _ in $(seq 1 300); do
	[ "$(one_state 'len(j["images"])')" = 1 ] && grep -q image_id "$TMP/state6.json" 2>/dev/null && break
	sleep 0.2
done
kill -INT $pid
wait $pid
check_eq "an interrupted publish fails" 1 "$?"
check "saying it was canceled" grep -q "canceled" "$TMP/int.err"
check_eq "and leaves no image" 0 "$(one_state 'len(j["images"])')"
check_eq "nor files" "" "$(ls "$TMP/pub")"

# a state that names the image only by name (killed between allocate and
# the id being saved): found in the pool and removed
python3 - "$ONE" <<'EOF'
import sys, xmlrpc.client
s = xmlrpc.client.ServerProxy(sys.argv[1])
print(s.one.image.allocate("oneadmin:opennebula", 'NAME = "rain-x-image"\nPATH = "http://127.0.0.1:1/x"\n', 1, False))
EOF
printf '{"site": "one", "registration": "x", "image_name": "rain-x-image"}\n' >"$TMP/state5.json"
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site one --state "$TMP/state5.json" >/dev/null 2>&1
check_eq "an image named in the state but without its id is found and removed" 0 \
	"$(one_state 'len(j["images"])')"

# ---- bad settings and options
"$RAIN" target publish --sites "$TMP/sites.ini" --site one --sha256 xyz "$TMP/disk.raw" >/dev/null 2>"$TMP/sha.err"
check_eq "a --sha256 that is no hash is a usage error" 2 "$?"
check "naming the option" grep -q "sha256 takes 64 hex digits" "$TMP/sha.err"

"$RAIN" target publish --sites "$TMP/sites.ini" --site typo "$TMP/disk.raw" >/dev/null 2>"$TMP/typo.err"
check "an unknown key is named" grep -q "unknown key 'datastore'" "$TMP/typo.err"
"$RAIN" target publish --sites "$TMP/sites.ini" --site nourl "$TMP/disk.raw" >/dev/null 2>"$TMP/nourl.err"
check "a uri without an endpoint URL is refused" grep -q "XML-RPC endpoint" "$TMP/nourl.err"

test_done
