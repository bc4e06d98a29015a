#!/bin/bash
# Connection handling that one client cannot exhaust, against a real raind
# on loopback: 1,100 trickling connections from 127.0.0.1 while a client
# on 127.0.0.2 checks health, lists, uploads and downloads; the per-address
# limit; the request-header timeout (not reset by trickled bytes) and the
# body-progress timeout; X-Forwarded-For only from trusted proxies (the
# audit address and the login address lock-out); duplicate Content-Length
# refused; links never built from Host; a followed build log holding no
# worker; hostile [server] settings refused. Bounded in time and
# connections; no pass/fail on speed.
source "$(dirname "$0")/lib.sh"

NC="${PYTHON:-python3} $TOP/tests/integration/netclient.py"
cd "$TMP" || exit 1

# on2 METHOD PATH [CURL ARGS...]: like call, from 127.0.0.2
on2() {
	local method=$1 path=$2; shift 2
	_split_reply "$(curl -sS --interface 127.0.0.2 -m 30 -X "$method" -H "X-Auth-Token: $TOKEN" \
		-w '\n%{http_code}' "$@" "$URL$path"; echo x)"
}

# --- hostile settings --------------------------------------------------------
bad_config() {   # DESCRIPTION SETTING-LINE EXPECTED-IN-MESSAGE
	printf '[server]\n%s\n' "$2" >"$TMP/bad.ini"
	if "$RAIND" --config "$TMP/bad.ini" --data-dir "$TMP/bad" --listen 127.0.0.1:0 \
		>"$TMP/bad.out" 2>&1; then
		not_ok "$1 (raind started)"
	elif grep -q "bad.ini:2" "$TMP/bad.out" && grep -qF -- "$3" "$TMP/bad.out"; then
		ok "$1"
	else
		not_ok "$1"; sed 's/^/#   /' "$TMP/bad.out" | head -5
	fi
}
bad_config "trusted_proxies with a bad range is refused" "trusted_proxies = 10.0.0.0/8, 10.0.0.0/33" "10.0.0.0/33"
bad_config "trusted_proxies with a host name is refused" "trusted_proxies = proxy.example" "proxy.example"
bad_config "public_url that is not http(s) is refused" "public_url = javascript:alert(1)" "public_url"
bad_config "public_url with a quote is refused" 'public_url = http://x.example/"><script>' "public_url"
bad_config "public_url with user info is refused" "public_url = http://evil@x.example" "public_url"
bad_config "threads = 0 is refused" "threads = 0" "threads must be 1 to 1024"
bad_config "a negative header_timeout is refused" "header_timeout = -1" "header_timeout"
bad_config "a huge max_connections_per_address is refused" "max_connections_per_address = 99999999999" "max_connections_per_address"
bad_config "body_min_rate must be a number" "body_min_rate = fast" "body_min_rate"
bad_config "a tiny connection_memory is refused" "connection_memory = 100" "connection_memory must be 8192 to 1048576"

# --- 1: a storm of trickling connections -------------------------------------
cat >"$TMP/storm.ini" <<INI
[server]
max_connections = 4096
max_connections_per_address = 2000
header_timeout = 300
INI
raind_start --config "$TMP/storm.ini" || { not_ok "raind starts"; test_done; }
ok "raind starts (storm settings)"
check "raind says how many workers and connections" grep -q "worker threads, at most 4096 connections" "$TMP/raind.log"

$NC trickle 127.0.0.1 "$PORT" 1100 150 "$TMP/trickle.status" >"$TMP/trickle.out" 2>&1 &
TRICKLE=$!
for _ in $(seq 1 600); do
	grep -q "^connected=1100 " "$TMP/trickle.status" 2>/dev/null && break
	kill -0 $TRICKLE 2>/dev/null || break
	sleep 0.1
done
sleep 2
check_eq "1,100 trickling connections from 127.0.0.1 are open" "connected=1100 open=1100" "$(cat "$TMP/trickle.status" 2>/dev/null)"

on2 GET /healthz
check_eq "meanwhile /healthz from 127.0.0.2 answers 200" 200 "$STATUS"
on2 GET /v2/images
check_eq "meanwhile listing images from 127.0.0.2 answers 200" 200 "$STATUS"
head -c 3000000 /dev/urandom >"$TMP/img.raw"
on2 POST /v2/images -H 'Content-Type: application/json' \
	-d '{"name":"storm","disk_format":"raw","container_format":"bare"}'
ID=$(printf '%s' "$BODY" | json_get id)
check_eq "meanwhile an image is created from 127.0.0.2" 201 "$STATUS"
on2 PUT "/v2/images/$ID/file" -H 'Content-Type: application/octet-stream' -T "$TMP/img.raw"
check_eq "meanwhile its data is uploaded from 127.0.0.2 (204)" 204 "$STATUS"
curl -sS --interface 127.0.0.2 -m 60 -H "X-Auth-Token: $TOKEN" -o "$TMP/img.back" "$URL/v2/images/$ID/file"
check "meanwhile it downloads from 127.0.0.2, the same bytes" cmp -s "$TMP/img.raw" "$TMP/img.back"
sleep 1.5   # the trickler looks at every connection each second
check "the trickler is still at work" kill -0 $TRICKLE
check_eq "the 1,100 were held all along" "connected=1100 open=1100" "$(cat "$TMP/trickle.status" 2>/dev/null)"
touch "$TMP/trickle.status.stop"
wait $TRICKLE
check_eq "the trickler ends well, none of its connections closed" "connected=1100 open=1100 closed=0" "$(cat "$TMP/trickle.out")"

# duplicate Content-Length: 400, not first-wins
printf 'POST /v2/images HTTP/1.1\r\nHost: t\r\nX-Auth-Token: %s\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}' "$TOKEN" >"$TMP/dup.req"
out=$($NC raw 127.0.0.1 "$PORT" "$TMP/dup.req")
check_eq "two differing Content-Length headers: 400" "status=400" "${out%% *}"
check "... saying why" grep -q "Content-Length headers" <<<"$out"
printf 'POST /v2/images HTTP/1.1\r\nHost: t\r\nX-Auth-Token: %s\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}' "$TOKEN" >"$TMP/dup.req"
out=$($NC raw 127.0.0.1 "$PORT" "$TMP/dup.req")
check_eq "two equal Content-Length headers: 400 too" "status=400" "${out%% *}"
printf 'POST /v2/images HTTP/1.1\r\nHost: t\r\nX-Auth-Token: %s\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n' "$TOKEN" >"$TMP/dup.req"
out=$($NC raw 127.0.0.1 "$PORT" "$TMP/dup.req")
check_eq "Content-Length with Transfer-Encoding: 400" "status=400" "${out%% *}"

# Host is not echoed: no public_url, so the address bound
call_noauth GET / -H 'Host: evil.example'
check "GET / links use the address bound, not Host" grep -q "\"$URL/v2/\"" <<<"$BODY"
check "GET / has no trace of Host" test "$(grep -c evil <<<"$BODY")" = 0
call_noauth GET /v3 -H 'Host: evil.example'
check "GET /v3 links use the address bound, not Host" grep -q "\"$URL/v3/\"" <<<"$BODY"
check "GET /v3 has no trace of Host" test "$(grep -c evil <<<"$BODY")" = 0
raind_stop

# --- 2: limits and timeouts ----------------------------------------------------
cat >"$TMP/limits.ini" <<INI
[server]
threads = 2
max_connections_per_address = 20
header_timeout = 6
idle_timeout = 30
body_timeout = 4
body_min_rate = 1000
trusted_proxies = 127.0.0.2, 10.9.0.0/16
public_url = http://rain.example.org:9292/
[auth]
login_address_limit = 3
INI
DATA=$TMP/data2 RAIN_ADMIN_PASSWORD=admin-pw-0130 raind_start --config "$TMP/limits.ini" ||
	{ not_ok "raind starts"; test_done; }
ok "raind starts (limit settings)"

out=$($NC limit 127.0.0.1 "$PORT" 20 127.0.0.1 127.0.0.2)
check_eq "20 connections from 127.0.0.1 are held, the 21st is closed, 127.0.0.2 is not" \
	"held=20 extra=closed other=open" "$out"
check "the refusal is in the log, with the setting's name" grep -q "max_connections_per_address" "$TMP/raind.log"
sleep 7   # the held ones end by the header timeout
call GET /healthz
check_eq "127.0.0.1 is served again once its connections are gone" 200 "$STATUS"

out=$($NC slowheader 127.0.0.1 "$PORT" 0.5 25)
check "a header trickled a byte every 0.5 s is cut (header_timeout 6 s) though bytes keep coming" \
	grep -Eq "^closed_after=[0-9]" <<<"$out"
echo "# slow header: $out"
check "the log says why" grep -q "request header was not complete within 6s" "$TMP/raind.log"

ID=$(create_image slowbody)
out=$($NC slowbody 127.0.0.1 "$PORT" "/v2/images/$ID/file" "$TOKEN" 25)
check "a body that stalls after 1000 of 1,000,000 bytes is cut (body_timeout 4 s)" \
	grep -Eq "^closed_after=[0-9]" <<<"$out"
echo "# stalled body: $out"
check "the log says why" grep -q "request body came slower than 1000 bytes/s" "$TMP/raind.log"
for _ in $(seq 1 100); do   # raind ends the upload as its worker sees the close
	call GET "/v2/images/$ID"
	[ "$(printf '%s' "$BODY" | json_get status)" = queued ] && break
	sleep 0.1
done
check_eq "the cut upload left the image queued" queued "$(printf '%s' "$BODY" | json_get status)"

# X-Forwarded-For: honoured from 127.0.0.2 (trusted), not from 127.0.0.1
login_from() {   # SRC XFF USER PASSWORD: sets STATUS
	STATUS=$(curl -sS --interface "$1" -o /dev/null -w '%{http_code}' -m 60 \
		-H 'Content-Type: application/json' -H "X-Forwarded-For: $2" \
		-d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$3\",\"domain\":{\"id\":\"default\"},\"password\":\"$4\"}}}}}" \
		"$URL/v3/auth/tokens")
}
login_from 127.0.0.1 198.51.100.7 nobody-a wrong
login_from 127.0.0.2 "1.2.3.4, 198.51.100.7, 10.9.3.3" nobody-b wrong
call GET "/rain/v1/audit?limit=10"
check_json "from an untrusted peer, X-Forwarded-For is ignored (audit address 127.0.0.1)" \
	'[e["address"] for e in j["events"] if e["target"] == "nobody-a"] == ["127.0.0.1"]'
check_json "from a trusted proxy, the rightmost untrusted X-Forwarded-For entry is the client" \
	'[e["address"] for e in j["events"] if e["target"] == "nobody-b"] == ["198.51.100.7"]'
login_from 127.0.0.2 198.51.100.7 nobody-c wrong
login_from 127.0.0.2 198.51.100.7 nobody-d wrong
check_eq "the third failure from 198.51.100.7 through the proxy is still checked (401)" 401 "$STATUS"
login_from 127.0.0.2 198.51.100.7 nobody-e wrong
check_eq "then 198.51.100.7 is locked out through the proxy (429)" 429 "$STATUS"
login_from 127.0.0.2 198.51.100.99 nobody-f wrong
check_eq "another client behind the same proxy is not (401)" 401 "$STATUS"
login_from 127.0.0.1 198.51.100.7 nobody-g wrong
check_eq "nor is an untrusted peer that names the locked address (401)" 401 "$STATUS"

out=$($NC forwarded 127.0.0.1 "$PORT" 20 127.0.0.2 "$TOKEN" 198.51.100.50 198.51.100.51)
check_eq "through the proxy, 20 requests of one client are in flight, its 21st is 429, another client's is not" \
	"held=20 extra=429 other=200" "$out"

# Host is not echoed: public_url wins
call_noauth GET / -H 'Host: evil.example'
check "GET / links use public_url" grep -q '"http://rain.example.org:9292/v2/"' <<<"$BODY"
_split_reply "$(curl -sS -H 'Host: evil.example' -w '\n%{http_code}' "$URL/v3"; echo x)"
check "GET /v3 links use public_url" grep -q '"http://rain.example.org:9292/v3/"' <<<"$BODY"
check "GET /v3 has no trace of Host" test "$(grep -c evil <<<"$BODY")" = 0
_split_reply "$(curl -sS -H 'Host: evil.example' -H 'Content-Type: application/json' -w '\n%{http_code}' \
	-d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"admin-pw-0130"}}}}}' \
	"$URL/v3/auth/tokens"; echo x)"
check_eq "admin logs in with Host: evil.example (201)" 201 "$STATUS"
check_json "the login catalog's image endpoint is public_url" \
	'[c for c in j["token"]["catalog"] if c["type"] == "image"][0]["endpoints"][0]["url"] == "http://rain.example.org:9292"'
check "the login reply has no trace of Host" test "$(grep -c evil <<<"$BODY")" = 0
raind_stop

# --- 3: a followed build log holds no worker --------------------------------------
if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null; then
	ok "followed log # SKIP needs root and mmdebstrap"
	test_done
fi
$NC hang 127.0.0.1 0 "$TMP/hang.port" &
HANG_PID=$!
for _ in $(seq 1 100); do [ -s "$TMP/hang.port" ] && break; sleep 0.05; done
# rain, allowed the loopback mirror above
printf '#!/bin/sh\nexec "%s" "$@" --limit allow_private_mirrors=yes\n' "$RAIN" >"$TMP/rain-wrapper"
chmod 0755 "$TMP/rain-wrapper"
cat >"$TMP/follow.ini" <<INI
[server]
threads = 2
[builds]
max_concurrent = 1
cache_dir = ${RAIN_TEST_CACHE:-/var/cache/rain}
rain_command = $TMP/rain-wrapper
INI
raind_start --config "$TMP/follow.ini" || { not_ok "raind starts"; kill $HANG_PID; test_done; }
python3 -c 'import json,sys; print(json.dumps({"recipe": "[image]\nname = hang\ndistribution = debian\nmirror = http://127.0.0.1:%s/debian\n[output]\nformats = tar\n" % sys.argv[1], "files": {}}))' \
	"$(cat "$TMP/hang.port")" >"$TMP/build.json"
call POST /rain/v1/builds -H 'Content-Type: application/json' --data-binary "@$TMP/build.json"
BID=$(printf '%s' "$BODY" | json_get id)
check_eq "a build that waits on a silent mirror is accepted" 202 "$STATUS"
for i in 1 2 3 4 5 6; do
	curl -sS -N -m 120 -H "X-Auth-Token: $TOKEN" -o "$TMP/follow.$i" \
		"$URL/rain/v1/builds/$BID/log?follow=1" &
	eval "F$i=\$!"
done
sleep 3
call GET /healthz
check_eq "with 6 followed logs and 2 workers, /healthz answers" 200 "$STATUS"
call GET "/rain/v1/builds/$BID"
check_eq "... and so does the build's record" 200 "$STATUS"
check "the followers are still streaming" kill -0 $F1 $F6
call POST "/rain/v1/builds/$BID/cancel"
check_eq "cancel answers" 200 "$STATUS"
ended=0
for i in 1 2 3 4 5 6; do
	eval "wait \$F$i" && ended=$((ended + 1))
done
check_eq "every followed log ends when the build does" 6 "$ended"
check "the followers got the log" test -s "$TMP/follow.1"
raind_stop
kill $HANG_PID 2>/dev/null
test_done
