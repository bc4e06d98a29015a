#!/bin/bash
# raind over HTTPS with a given certificate, and its configuration file.
source "$(dirname "$0")/lib.sh"

# a throwaway CA-less self-signed certificate for 127.0.0.1
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
	-days 2 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	2>/dev/null
check "made a test certificate" test -s "$TMP/cert.pem"

raind_start --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" || exit 1
HTTPS=https://127.0.0.1:$PORT
check_eq "HTTPS healthz with the CA given" ok \
	"$(curl -s --cacert "$TMP/cert.pem" "$HTTPS/healthz" | json_get status)"
curl -s "$HTTPS/healthz" >/dev/null 2>&1
check_eq "an unverified certificate is refused by curl (exit 60)" 60 $?
code=$(curl -s --cacert "$TMP/cert.pem" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")
check "plain HTTP to the HTTPS port does not succeed" test "$code" != 200
id=$(curl -s --cacert "$TMP/cert.pem" -H "X-Auth-Token: $TOKEN" -X POST \
	-d '{"name":"tls","disk_format":"raw","container_format":"bare"}' "$HTTPS/v2/images" | json_get id)
head -c 3000000 /dev/urandom >"$TMP/data.raw"
code=$(curl -s --cacert "$TMP/cert.pem" -H "X-Auth-Token: $TOKEN" -X PUT \
	-H 'Content-Type: application/octet-stream' -T "$TMP/data.raw" -o /dev/null -w '%{http_code}' \
	"$HTTPS/v2/images/$id/file")
check_eq "upload over HTTPS" 204 "$code"
check_eq "download over HTTPS matches" "$(sha256sum <"$TMP/data.raw")" \
	"$(curl -s --cacert "$TMP/cert.pem" -H "X-Auth-Token: $TOKEN" "$HTTPS/v2/images/$id/file" | sha256sum)"
raind_stop

# configuration file: settings apply, flags override, errors name file:line
cat >"$TMP/raind.conf" <<CONF
# a comment
[server]
listen = 127.0.0.1:0
[storage]
max_image_size = 1000
[auth]
admin_token = a-configured-admin-token-123
CONF
DATA=$TMP/data2 TOKEN_OVERRIDE=a-configured-admin-token-123 raind_start --config "$TMP/raind.conf" || exit 1
check_eq "the configured admin token is accepted" 200 "$(status_of GET /v2/images)"
check "no admin-token file is generated when one is configured" test ! -e "$TMP/data2/admin-token"
id=$(create_image small)
head -c 2000 /dev/zero >"$TMP/2k"
check_eq "max_image_size from the file refuses a bigger upload (413)" 413 "$(upload "$id" "$TMP/2k")"
check_eq "...and the image stays queued" queued "$(api GET "/v2/images/$id" | head -n 1 | json_get status)"
raind_stop

printf '[server]\nlisten 127.0.0.1:0\n' >"$TMP/bad.conf"
out=$("$RAIND" --config "$TMP/bad.conf" --data-dir "$TMP/d3" 2>&1)
check_eq "a malformed config line fails with exit 1" 1 $?
check "the error names the file and line" grep -q "bad.conf:2" <<<"$out"
printf '[storage]\nmax_image_size = lots\n' >"$TMP/bad2.conf"
out=$("$RAIND" --config "$TMP/bad2.conf" --data-dir "$TMP/d3" 2>&1)
check "a bad value names file, line and key" grep -q "bad2.conf:2: max_image_size" <<<"$out"
printf '[storage]\nno_such_key = 1\n' >"$TMP/bad3.conf"
out=$("$RAIND" --config "$TMP/bad3.conf" --data-dir "$TMP/d3" 2>&1)
check "an unknown key is refused by name" grep -q "unknown setting 'no_such_key'" <<<"$out"
out=$("$RAIND" --listen nonsense --data-dir "$TMP/d3" 2>&1)
check "a bad --listen is refused" grep -q "bad listen address" <<<"$out"
check "--help works" "$RAIND" --help
test_done
