#!/bin/bash
# Glance's interoperable import and /metrics against a real raind, with
# Debian's stock clients: `openstack image create --import` (glance-direct:
# stage, then import), `glance image-create-via-import --import-method
# web-download` from a loopback HTTP server on the allow-list,
# `glance import-info` and `glance stores-info`. Web-download refuses a URL
# off the allow-list, a redirect to a private address (checked at connect
# time) or off the list, and data over its size limit, each leaving the
# image queued with the error recorded; staged data counts against the
# quota and goes with its image; raind killed with -9 mid-stage and
# mid-import comes back with no partial data and the images in a state
# they can be imported from. /metrics parses with prometheus_client,
# its counters move, a non-admin is refused, [metrics] listen serves it.
. "$(dirname "$0")/lib.sh"

for c in /usr/bin/openstack /usr/bin/glance; do
	if [ ! -x "$c" ]; then
		skip "OpenStack clients" "$c is missing (scripts/install-deps.sh installs it)"
		test_done
	fi
done

# ---- a loopback web server: files under /ok/, redirects, a slow file
WWW=$TMP/www
mkdir -p "$WWW/ok" "$WWW/no"
head -c 3145728 /dev/urandom >"$WWW/ok/disk.raw"
head -c 5242880 /dev/urandom >"$WWW/ok/big.raw"
cp "$WWW/ok/disk.raw" "$WWW/no/disk.raw"
WEB_PORT=$(free_port)
cat >"$TMP/web.py" <<'PY'
import functools, http.server, sys, time
port, root = int(sys.argv[1]), sys.argv[2]
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def redirect(self, to):
        self.send_response(302); self.send_header("Location", to)
        self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        if self.path == "/ok/to-private":
            return self.redirect("http://127.0.0.2:%d/ok/disk.raw" % port)
        if self.path == "/ok/to-elsewhere":
            return self.redirect("/no/disk.raw")
        if self.path == "/ok/to-good":
            return self.redirect("/ok/disk.raw")
        if self.path == "/ok/slow.raw":
            self.send_response(200); self.send_header("Content-Length", str(2 << 20))
            self.end_headers(); self.wfile.write(b"\0" * (1 << 20)); self.wfile.flush()
            time.sleep(120); return
        return super().do_GET()
http.server.ThreadingHTTPServer(("127.0.0.1", port),
    functools.partial(H, directory=root)).serve_forever()
PY
/usr/bin/python3 "$TMP/web.py" "$WEB_PORT" "$WWW" >"$TMP/web.log" 2>&1 &
HTTP_PIDS="$HTTP_PIDS $!"
wait_http "http://127.0.0.1:$WEB_PORT/ok/disk.raw" "$!" "the test's web server" "$TMP/web.log" || exit 1
WEB=http://127.0.0.1:$WEB_PORT

METRICS_PORT=$(free_port)
cat >"$TMP/raind.conf" <<CONF
[import]
web_download_allow = $WEB/ok/, http://127.0.0.2:$WEB_PORT/ok/
web_download_private = 127.0.0.1/32
web_download_max_size = 4194304
[metrics]
listen = 127.0.0.1:$METRICS_PORT
CONF
raind_start -c "$TMP/raind.conf" || exit 1
for u in alice bob; do
	call POST /rain/v1/users -H 'Content-Type: application/json' \
		-d "{\"name\":\"$u\",\"password\":\"$u-password-1\",\"role\":\"user\",\"status\":\"active\"}"
	check_status "admin creates $u" 201
done
ALICE=$(token_of alice alice-password-1)
BOB=$(token_of bob bob-password-1)

os() {
	env OS_AUTH_URL="$URL/v3" OS_IDENTITY_API_VERSION=3 OS_USERNAME=alice \
		OS_PASSWORD=alice-password-1 OS_PROJECT_NAME=alice OS_USER_DOMAIN_NAME=Default \
		OS_PROJECT_DOMAIN_NAME=Default OS_INTERFACE=public \
		/usr/bin/python3 /usr/bin/openstack "$@"
}
# glance's CLI as alice; stdin closed, or it takes stdin for image data
gl() {
	local h
	h=$(mktemp -d "$TMP/glance-home.XXXXXX")
	env HOME="$h" OS_AUTH_URL="$URL/v3" OS_USERNAME=alice OS_PASSWORD=alice-password-1 \
		OS_PROJECT_NAME=alice OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
		/usr/bin/python3 /usr/bin/glance "$@" <&-
	rm -rf "$h"
}
# image_status ID: as alice sees it
image_status() { TOKEN=$ALICE call GET "/v2/images/$1"; printf '%s' "$BODY" | json_get status; }
# wait_status ID STATUS...: until the image has one of them (2 minutes)
wait_status() {
	local id=$1 s; shift
	for _ in $(seq 1 240); do
		s=$(image_status "$id")
		for want in "$@"; do [ "$s" = "$want" ] && return 0; done
		sleep 0.5
	done
	echo "# image $id is still $s"
	return 1
}
# id_of NAME: alice's image of that name
id_of() { TOKEN=$ALICE call GET "/v2/images?name=$1"; printf '%s' "$BODY" | json_get images.0.id; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---- what is offered
# the table wraps long values: compare without blanks and borders
gl import-info 2>&1 | tr -d ' |\n' >"$TMP/info.out"
check "glance import-info lists glance-direct and web-download" \
	grep -q '"value":\["glance-direct","web-download"\]' "$TMP/info.out"
TOKEN=$ALICE call GET /v2/info/import
check_json "/v2/info/import offers both methods" \
	"j['import-methods']['value'] == ['glance-direct', 'web-download']"
gl stores-info 2>&1 | tr -d ' |\n' >"$TMP/stores.out"
check "glance stores-info shows the one default store" grep -q '\[{"id":"local",.*"default":true}\]' "$TMP/stores.out"

# ---- glance-direct with the openstack CLI
os image create --import --disk-format raw --container-format bare \
	--file "$WWW/ok/disk.raw" direct1 >"$TMP/direct.out" 2>&1
check "openstack image create --import succeeds" grep -q direct1 "$TMP/direct.out"
ID=$(id_of direct1)
check "the glance-direct import makes the image active" wait_status "$ID" active
TOKEN=$ALICE call GET "/v2/images/$ID"
check_json "its data is the file's, checked as an upload's (sha256, size)" \
	"j['os_hash_value'] == '$(sha "$WWW/ok/disk.raw")' and j['size'] == 3145728 and j['os_glance_import_task']"
check "no staged data is left" test -z "$(ls -A "$DATA/staging")"
TOKEN=$ALICE call GET "/v2/images/$ID/tasks"
check_json "its task reports success for glance-direct" \
	"j['tasks'][0]['status'] == 'success' and j['tasks'][0]['input']['import_req']['method']['name'] == 'glance-direct' and j['tasks'][0]['type'] == 'api_image_import'"
call PATCH "/v2/images/$ID" -H 'Content-Type: application/openstack-images-v2.1-json-patch' \
	--data-binary '[{"op": "replace", "path": "/visibility", "value": "public"}]'
check_status "the admin makes it public" 200
TOKEN=$BOB call GET "/v2/images/$ID/tasks"
check_error "bob sees the public image but not its tasks" 403
os image save --file "$TMP/direct.back" direct1
check_eq "the image downloads as the file" "$(sha "$WWW/ok/disk.raw")" "$(sha "$TMP/direct.back")"

# staging by hand: uploading, counted in the usage, removed with the image
ID2=$(TOKEN=$ALICE image_new staged raw)
TOKEN=$ALICE call PUT "/v2/images/$ID2/stage" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$WWW/ok/disk.raw"
check_status "staging data answers 204" 204
check_eq "a staged image is uploading" uploading "$(image_status "$ID2")"
TOKEN=$ALICE call GET "/rain/v1/users/alice"
check_json "its staged bytes count in alice's usage" "j['bytes_used'] == 2 * 3145728"
TOKEN=$ALICE call GET /v2/info/usage
check_json "Glance's usage shows them staged (MiB)" "j['usage']['image_stage_total']['usage'] == 3"
TOKEN=$ALICE call PUT "/v2/images/$ID2/file" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$WWW/ok/disk.raw"
check_status "an uploading image takes no upload" 409
TOKEN=$ALICE call PUT "/v2/images/$ID2/stage" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$WWW/ok/disk.raw"
check_status "nor a second stage" 409
TOKEN=$BOB call POST "/v2/images/$ID2/import" -H 'Content-Type: application/json' \
	-d '{"method": {"name": "glance-direct"}}'
check_status "bob cannot import alice's image" 404
TOKEN=$ALICE call DELETE "/v2/images/$ID2"
check_status "alice deletes the staged image" 204
check "its staged data is gone" test ! -e "$DATA/staging/$ID2"
TOKEN=$ALICE call GET "/rain/v1/users/alice"
check_json "and so are its bytes from the usage" "j['bytes_used'] == 3145728"
ID3=$(TOKEN=$ALICE image_new notstaged raw)
TOKEN=$ALICE call POST "/v2/images/$ID3/import" -H 'Content-Type: application/json' \
	-d '{"method": {"name": "glance-direct"}}'
check_error "importing an image without staged data is a conflict" 409
check_json "that says to stage it first" "'stage it first' in j['message']"

# the quota: staged data that would not fit is refused, and nothing is left
call PATCH /rain/v1/users/bob -H 'Content-Type: application/json' -d '{"quota_bytes": 4000000}'
check_status "bob's quota is 4 MB" 200
BOB=$(token_of bob bob-password-1)
IDB=$(TOKEN=$BOB image_new bobs raw)
TOKEN=$BOB call PUT "/v2/images/$IDB/stage" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$WWW/ok/big.raw"
check_error "staging 5 MB over bob's 4 MB quota is refused" 413
check_eq "the image is back to queued" queued "$(TOKEN=$BOB call GET "/v2/images/$IDB"; printf '%s' "$BODY" | json_get status)"
check "and no partial staged file is left" test -z "$(ls -A "$DATA/staging")"

# ---- web-download with glance's CLI
gl image-create-via-import --import-method web-download --uri "$WEB/ok/disk.raw" \
	--disk-format raw --container-format bare --name web1 >"$TMP/web1.out" 2>&1
check "glance image-create-via-import --import-method web-download succeeds" \
	grep -q 'os_glance_import_task' "$TMP/web1.out"
ID=$(id_of web1)
check "the web-download makes the image active" wait_status "$ID" active
TOKEN=$ALICE call GET "/v2/images/$ID"
check_json "with the URL's data" "j['os_hash_value'] == '$(sha "$WWW/ok/disk.raw")'"
gl image-create-via-import --import-method web-download --uri "$WEB/ok/to-good" \
	--disk-format raw --container-format bare --name web2 >"$TMP/web2.out" 2>&1
ID=$(id_of web2)
check "a redirect within the allow-list is followed" wait_status "$ID" active

# failures: each leaves the image queued with the error recorded
# web_fail NAME URI WHAT MESSAGE-PART
web_fail() {
	local id
	gl image-create-via-import --import-method web-download --uri "$2" \
		--disk-format raw --container-format bare --name "$1" >"$TMP/$1.out" 2>&1
	id=$(id_of "$1")
	check "$3: the image goes back to queued" wait_status "$id" queued
	TOKEN=$ALICE call GET "/v2/images/$id"
	check_json "$3: the failure is recorded on the image" \
		"j['os_glance_failed_import'] == 'local' and '$4' in j['rain_import_error']"
	TOKEN=$ALICE call GET "/v2/images/$id/tasks"
	check_json "$3: its task failed saying why" \
		"j['tasks'][0]['status'] == 'failure' and '$4' in j['tasks'][0]['message']"
}
web_fail redir-private "$WEB/ok/to-private" "a redirect to a loopback address not allowed" \
	"private, loopback or link-local"
web_fail redir-out "$WEB/ok/to-elsewhere" "a redirect off the allow-list" "is not allowed"
web_fail too-big "$WEB/ok/big.raw" "data over web_download_max_size" "larger than the 4194304 bytes"
web_fail missing "$WEB/ok/nothing.raw" "a URL that answers 404" "HTTP 404"
ID=$(TOKEN=$ALICE image_new offlist raw)
TOKEN=$ALICE call POST "/v2/images/$ID/import" -H 'Content-Type: application/json' \
	-d "{\"method\": {\"name\": \"web-download\", \"uri\": \"$WEB/no/disk.raw\"}}"
check_error "a URI off the allow-list is refused at once" 403
TOKEN=$ALICE call POST "/v2/images/$ID/import" -H 'Content-Type: application/json' \
	-d "{\"method\": {\"name\": \"web-download\", \"uri\": \"http://user:pw@127.0.0.1:$WEB_PORT/ok/disk.raw\"}}"
check_error "a URI with credentials is refused" 400
TOKEN=$ALICE call POST "/v2/images/$ID/import" -H 'Content-Type: application/json' \
	-d "{\"method\": {\"name\": \"web-download\", \"uri\": \"$WEB/ok/%2e%2e/no/disk.raw\"}}"
check_error "a URI with an encoded dot segment is refused" 400
TOKEN=$ALICE call POST "/v2/images/$ID/import" -H 'Content-Type: application/json' \
	-d '{"method": {"name": "copy-image"}}'
check_error "a method not offered is refused" 400
check_eq "the image is still queued" queued "$(image_status "$ID")"

# ---- kill -9 mid-stage and mid-import
IDS=$(TOKEN=$ALICE image_new cut-stage raw)
(head -c 1048576 /dev/zero; sleep 60) | curl -sS -o /dev/null -X PUT -H "X-Auth-Token: $ALICE" \
	-H 'Content-Type: application/octet-stream' -T - "$URL/v2/images/$IDS/stage" 2>/dev/null &
STAGE_PID=$!
IDW=$(TOKEN=$ALICE image_new cut-import raw)
TOKEN=$ALICE call POST "/v2/images/$IDW/import" -H 'Content-Type: application/json' \
	-d "{\"method\": {\"name\": \"web-download\", \"uri\": \"$WEB/ok/slow.raw\"}}"
check_status "a slow web-download starts" 202
IDK=$(TOKEN=$ALICE image_new staged-kept raw)
TOKEN=$ALICE call PUT "/v2/images/$IDK/stage" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$WWW/ok/disk.raw"
check "the stage is under way" wait_status "$IDS" uploading
check "the web-download is under way" wait_status "$IDW" importing
for _ in $(seq 1 100); do [ -s "$DATA/staging/$IDS.part" ] && break; sleep 0.1; done
raind_stop KILL
kill "$STAGE_PID" 2>/dev/null
wait "$STAGE_PID" 2>/dev/null
raind_start -c "$TMP/raind.conf" || exit 1
check "raind says what it recovered" grep -q "interrupted import(s) or stage(s) reset" "$TMP/raind.log"
check_eq "the cut stage's image is queued" queued "$(image_status "$IDS")"
check "and its partial file is gone" test ! -e "$DATA/staging/$IDS.part"
check_eq "the cut import's image is queued" queued "$(image_status "$IDW")"
TOKEN=$ALICE call GET "/v2/images/$IDW"
check_json "with the failure recorded" "j['os_glance_failed_import'] == 'local' and 'stopped during the import' in j['rain_import_error']"
check_eq "the complete stage survives: still uploading" uploading "$(image_status "$IDK")"
TOKEN=$ALICE call POST "/v2/images/$IDK/import" -H 'Content-Type: application/json' \
	-d '{"method": {"name": "glance-direct"}}'
check_status "and imports after the restart" 202
check "to active" wait_status "$IDK" active
TOKEN=$ALICE call POST "/v2/images/$IDW/import" -H 'Content-Type: application/json' \
	-d "{\"method\": {\"name\": \"web-download\", \"uri\": \"$WEB/ok/disk.raw\"}}"
check_status "the cut import can be asked again" 202
check "and completes" wait_status "$IDW" active

# ---- /metrics
metrics_check() {
	/usr/bin/python3 - "$@" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
def families(path):
    return {f.name: f for f in text_string_to_metric_families(open(path).read())}
def value(fams, name, sample, **labels):
    for s in fams[name].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0
a, b = families(sys.argv[1]), families(sys.argv[2])
stage = dict(route="/v2/images/{}/stage", method="PUT", code="204")
assert value(b, "raind_http_requests", "raind_http_requests_total", **stage) >= 1, "stages"
imp = dict(route="/v2/images/{}/import", method="POST", code="202")
assert value(b, "raind_http_requests", "raind_http_requests_total", **imp) == \
    value(a, "raind_http_requests", "raind_http_requests_total", **imp) + 1, "import counted"
tasks = dict(route="/v2/images/{}/tasks", method="GET")
ca = value(a, "raind_http_request_duration_seconds", "raind_http_request_duration_seconds_count", **tasks)
cb = value(b, "raind_http_request_duration_seconds", "raind_http_request_duration_seconds_count", **tasks)
assert cb == ca + 2, ("latency count", ca, cb)
inf = value(b, "raind_http_request_duration_seconds", "raind_http_request_duration_seconds_bucket", le="+Inf", **tasks)
assert inf == cb, "+Inf bucket"
bi = dict(route="/v2/images/{}/stage", method="PUT")
assert value(b, "raind_http_request_bytes", "raind_http_request_bytes_total", **bi) >= 3145728, "bytes in"
assert value(b, "raind_http_response_bytes", "raind_http_response_bytes_total", route="/v2/images/{}/tasks", method="GET") > \
    value(a, "raind_http_response_bytes", "raind_http_response_bytes_total", route="/v2/images/{}/tasks", method="GET"), "bytes out"
assert b["raind_uploads_in_flight"].type == "gauge" and value(b, "raind_uploads_in_flight", "raind_uploads_in_flight") == 0
assert "raind_imports_running" in b and "raind_jobs" in b and "raind_errors" in b
assert all(s.labels["route"] != "/v2/images/" + "x" for s in b["raind_http_requests"].samples)
PY
}
call GET /metrics
check_status "an admin reads /metrics" 200
printf '%s' "$BODY" >"$TMP/m1"
check "it is Prometheus text (content type)" \
	sh -c "curl -sS -D - -o /dev/null -H 'X-Auth-Token: $TOKEN' $URL/metrics | grep -qi 'text/plain; version=0.0.4'"
ID=$(TOKEN=$ALICE image_new metered raw)
TOKEN=$ALICE call PUT "/v2/images/$ID/stage" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$WWW/ok/disk.raw"
TOKEN=$ALICE call POST "/v2/images/$ID/import" -H 'Content-Type: application/json' \
	-d '{"method": {"name": "glance-direct"}}'
wait_status "$ID" active
TOKEN=$ALICE call GET "/v2/images/$ID/tasks"
TOKEN=$ALICE call GET "/v2/images/$ID/tasks"
call GET /metrics
printf '%s' "$BODY" >"$TMP/m2"
check "prometheus_client parses it; counters, histogram and bytes moved by route" \
	metrics_check "$TMP/m1" "$TMP/m2"
TOKEN=$ALICE call GET /metrics
check_error "a user's token is refused" 403
call_noauth GET /metrics
check_status "so is no token" 401
curl -sS "http://127.0.0.1:$METRICS_PORT/metrics" >"$TMP/m3"
check "[metrics] listen serves them without a token" \
	/usr/bin/python3 -c 'import sys
from prometheus_client.parser import text_string_to_metric_families as p
assert "raind_http_requests" in {f.name for f in p(open(sys.argv[1]).read())}' "$TMP/m3"

test_done
