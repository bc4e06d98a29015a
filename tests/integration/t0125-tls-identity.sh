#!/bin/bash
# TLS end to end for the identity flow: raind serves HTTPS with a given
# (throwaway, self-signed) certificate; a Keystone password login, token
# validation and revocation over HTTPS; the catalog points at https://; the
# CLI logs in, uploads and downloads with the user's token, verifying the
# certificate against --cacert, RAIN_CACERT or the system store (replaced
# through the environment, never by touching /etc); without them it refuses
# the certificate and says what to do; the stored token is in a 0600 file
# and never in raind's log.
source "$(dirname "$0")/lib.sh"
# the machine's environment may already name a CA store (CURL_CA_BUNDLE,
# SSL_CERT_FILE, SSL_CERT_DIR); each check below sets the one it tests
unset CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR

CA=$TMP/cert.pem
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$CA" \
	-days 2 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	2>/dev/null
check "made a test certificate" test -s "$CA"

export RAIN_ADMIN_PASSWORD='tls-admin-pw'
raind_start --tls-cert "$CA" --tls-key "$TMP/key.pem" || { not_ok "raind starts with TLS"; test_done; }
unset RAIN_ADMIN_PASSWORD
URL=https://127.0.0.1:$PORT
export RAIN_URL=$URL
ok "raind starts with --tls-cert/--tls-key"
check "raind says it listens on https://" grep -q "https://127.0.0.1:" "$TMP/raind.log"

# login NAME PASSWORD [CURL ARGS...]: POST /v3/auth/tokens over HTTPS as
# keystoneauth sends it; sets STATUS, BODY, SUBJECT (the X-Subject-Token)
# and the headers in $TMP/login.hdrs.
login() {
	local name=$1 pw=$2 body; shift 2
	body=$(python3 -c 'import json,sys
print(json.dumps({"auth":{"identity":{"methods":["password"],"password":{"user":{
 "name":sys.argv[1],"domain":{"name":"Default"},"password":sys.argv[2]}}},
 "scope":{"project":{"name":sys.argv[1],"domain":{"id":"default"}}}}}))' "$name" "$pw")
	_split_reply "$(curl -sS --cacert "$CA" -X POST -D "$TMP/login.hdrs" \
		-H 'Content-Type: application/json' -d "$body" -w '\n%{http_code}' "$@" \
		"$URL/v3/auth/tokens"; echo x)"
	SUBJECT=$(tr -d '\r' <"$TMP/login.hdrs" | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: *//p')
}

# as TOKEN METHOD PATH [CURL ARGS...]: a call over HTTPS with that token.
as() {
	local tok=$1 method=$2 path=$3; shift 3
	_split_reply "$(curl -sS --cacert "$CA" -X "$method" -H "X-Auth-Token: $tok" \
		-w '\n%{http_code}' "$@" "$URL$path"; echo x)"
}

# the image endpoint of the last login's catalog
catalog_url() {
	printf '%s' "$BODY" | python3 -c 'import json,sys
print([c for c in json.load(sys.stdin)["token"]["catalog"] if c["type"]=="image"][0]["endpoints"][0]["url"])'
}

# --- raw Keystone over HTTPS -------------------------------------------------
call GET /v3 --cacert "$CA"
check_status "GET /v3 over HTTPS (200)" 200
check_json "the version document links to https://" "j['version']['links'][0]['href']=='$URL/v3/'"
call POST /rain/v1/users --cacert "$CA" -H 'Content-Type: application/json' \
	-d '{"name":"alice","password":"alice-tls-pw"}'
check_status "admin creates alice over HTTPS (201)" 201

login alice alice-tls-pw
check_status "alice logs in over HTTPS, password method (201)" 201
ALICE=$SUBJECT
check "the token comes in X-Subject-Token (64 hex)" grep -Eq '^[0-9a-f]{64}$' <<<"$ALICE"
check_json "the token body is alice's" 'j["token"]["user"]["name"]=="alice" and j["token"]["methods"]==["password"]'
check_eq "the catalog's image endpoint is raind's https:// URL" "$URL" "$(catalog_url)"
# reached by another name, the endpoint is still raind's own URL: links
# never come from the Host header ([server] public_url sets a name)
_split_reply "$(curl -sS --cacert "$CA" --resolve "localhost:$PORT:127.0.0.1" -X POST \
	-D "$TMP/login.hdrs" -H 'Content-Type: application/json' -w '\n%{http_code}' \
	-d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"alice","domain":{"id":"default"},"password":"alice-tls-pw"}}}}}' \
	"https://localhost:$PORT/v3/auth/tokens"; echo x)"
check_status "login through https://localhost (201)" 201
ALICE_BYNAME=$(tr -d '\r' <"$TMP/login.hdrs" | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: *//p')
check_eq "...and the catalog still says raind's URL, not the Host header" "$URL" "$(catalog_url)"

login alice wrong-pw
check_status "a wrong password over HTTPS is 401" 401
check "the 401's WWW-Authenticate names the https:// Keystone URI" \
	grep -qi "^www-authenticate: Keystone uri=\"$URL/v3\"" "$TMP/login.hdrs"

as "$ALICE" GET /v3/auth/tokens -H "X-Subject-Token: $ALICE"
check_status "alice validates her token over HTTPS (200)" 200
check_json "validation returns alice's token with the https:// catalog" \
	"j['token']['user']['name']=='alice' and [c for c in j['token']['catalog'] if c['type']=='image'][0]['endpoints'][0]['url']=='$URL'"
as "$TOKEN" GET /v3/auth/tokens -H "X-Subject-Token: $ALICE"
check_status "the admin token validates alice's token too (200)" 200
as "$ALICE" GET /v2/images
check_status "alice's token works on the image API over HTTPS" 200

login alice alice-tls-pw
ALICE_TMP=$SUBJECT
as "$ALICE_TMP" DELETE /v3/auth/tokens -H "X-Subject-Token: $ALICE_TMP"
check_status "DELETE /v3/auth/tokens over HTTPS revokes (204)" 204
as "$ALICE_TMP" GET /v2/images
check_error "the revoked token is 401" 401
as "$ALICE" GET /v3/auth/tokens -H "X-Subject-Token: $ALICE_TMP"
check_status "the revoked token no longer validates (404)" 404
as "$ALICE" GET /v2/images
check_status "alice's other token still works" 200
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $ALICE" "http://127.0.0.1:$PORT/v2/images")
check "plain HTTP with a token to the HTTPS port does not succeed" test "$code" != 200

# --- the CLI with --cacert ---------------------------------------------------
unset RAIN_TOKEN
CFG=$XDG_CONFIG_HOME/rain/config
printf 'alice-tls-pw\n' >"$TMP/alice.pw"
"$RAIN" --cacert "$CA" login --user alice --password-file "$TMP/alice.pw" >"$TMP/cli-login.out" 2>&1
check_eq "rain --cacert login over HTTPS" 0 "$?"
sed 's/^/#   /' "$TMP/cli-login.out" | head -5
check_eq "the config file is mode 0600" 600 "$(stat -c %a "$CFG" 2>&1)"
check_eq "...in a private directory (0700)" 700 "$(stat -c %a "$(dirname "$CFG")" 2>&1)"
CLI_TOKEN=$(sed -n 's/^token *= *//p' "$CFG")
check "the stored token is a 64-hex token" grep -Eq '^[0-9a-f]{64}$' <<<"$CLI_TOKEN"
check "rain login does not print the token" bash -c '! grep -qF "$1" "$2"' _ "$CLI_TOKEN" "$TMP/cli-login.out"
as "$CLI_TOKEN" GET /v3/auth/tokens -H "X-Subject-Token: $CLI_TOKEN"
check_json "the stored token is alice's" 'j["token"]["user"]["name"]=="alice"'

head -c 2500000 /dev/urandom >"$TMP/data.raw"
"$RAIN" --cacert "$CA" --json image create --name tls-img --disk-format raw \
	--container-format bare >"$TMP/create.json" 2>"$TMP/create.err"
check_eq "rain image create over HTTPS with the stored token" 0 "$?"
ID=$(json_get id <"$TMP/create.json" 2>/dev/null)
check "...prints the new image's id" grep -Eq '^[0-9a-f-]{36}$' <<<"$ID"
check "rain image upload over HTTPS" "$RAIN" --cacert "$CA" -q image upload "$ID" "$TMP/data.raw"
as "$TOKEN" GET "/v2/images/$ID"
check_json "the image is active and owned by alice" 'j["status"]=="active" and j["owner"]=="alice"'
check "rain image download over HTTPS" "$RAIN" --cacert "$CA" -q image download "$ID" -o "$TMP/copy.raw"
check "the downloaded bytes match the uploaded ones" cmp "$TMP/data.raw" "$TMP/copy.raw"
rm -f "$TMP/copy2.raw"
check "RAIN_CACERT works like --cacert (download)" \
	env RAIN_CACERT="$CA" "$RAIN" -q image download tls-img -o "$TMP/copy2.raw"
check "...with the same bytes" cmp "$TMP/data.raw" "$TMP/copy2.raw"

# --- without the CA: refused, with a message that says what to do -------------
logins_before=$(grep -c "user 'alice' logged in" "$TMP/raind.log")
"$RAIN" login --user alice --password-file "$TMP/alice.pw" >"$TMP/nocacert.out" 2>&1
check_eq "rain login without --cacert refuses the self-signed certificate (exit 1)" 1 "$?"
check "the error says the certificate is the problem" grep -q "certificate" "$TMP/nocacert.out"
check "...and tells to give --cacert" grep -q -- "--cacert" "$TMP/nocacert.out"
sed 's/^/#   /' "$TMP/nocacert.out" | head -3
check_eq "the refused login reached no login on raind" "$logins_before" \
	"$(grep -c "user 'alice' logged in" "$TMP/raind.log")"
check_eq "the refused login left the stored token alone" "$CLI_TOKEN" "$(sed -n 's/^token *= *//p' "$CFG")"
"$RAIN" image list >"$TMP/nocacert2.out" 2>&1
check_eq "rain image list without --cacert fails (exit 1)" 1 "$?"
check "...naming --cacert" grep -q -- "--cacert" "$TMP/nocacert2.out"
"$RAIN" --cacert "$TMP/key.pem" image list >"$TMP/badca.out" 2>&1
check_eq "a --cacert that is not a certificate fails" 1 "$?"

# --- the system store, as replaced through the environment ---------------------
SYS_BUNDLE=
for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
	[ -r "$f" ] && { SYS_BUNDLE=$f; break; }
done
{ [ -n "$SYS_BUNDLE" ] && cat "$SYS_BUNDLE"; cat "$CA"; } >"$TMP/bundle.pem"
check "SSL_CERT_FILE with a bundle holding the certificate: no --cacert needed" \
	env SSL_CERT_FILE="$TMP/bundle.pem" "$RAIN" image list
check "CURL_CA_BUNDLE with that bundle: no --cacert needed" \
	env CURL_CA_BUNDLE="$TMP/bundle.pem" "$RAIN" image show tls-img
mkdir -p "$TMP/certs"
cp "$CA" "$TMP/certs/rain-test.pem"
openssl rehash "$TMP/certs" >/dev/null 2>&1 || c_rehash "$TMP/certs" >/dev/null 2>&1
check "SSL_CERT_DIR with the certificate hashed: no --cacert needed" \
	env SSL_CERT_DIR="$TMP/certs" "$RAIN" image list
rm -f "$TMP/copy3.raw"
check "a download trusting the system store (SSL_CERT_FILE)" \
	env SSL_CERT_FILE="$TMP/bundle.pem" "$RAIN" -q image download "$ID" -o "$TMP/copy3.raw"
check "...with the same bytes" cmp "$TMP/data.raw" "$TMP/copy3.raw"
if [ -n "$SYS_BUNDLE" ]; then
	env SSL_CERT_FILE="$SYS_BUNDLE" "$RAIN" image list >"$TMP/sysonly.out" 2>&1
	check_eq "the system bundle alone does not trust the test certificate" 1 "$?"
else
	skip "the system bundle alone does not trust the test certificate" "no system CA bundle"
fi
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/other-key.pem" -out "$TMP/other.pem" \
	-days 2 -subj "/CN=other" 2>/dev/null
env SSL_CERT_FILE="$TMP/bundle.pem" "$RAIN" --cacert "$TMP/other.pem" image list >/dev/null 2>&1
check_eq "--cacert (another CA) wins over SSL_CERT_FILE: refused" 1 "$?"
printf 'alice-tls-pw\n' | env SSL_CERT_FILE="$TMP/bundle.pem" "$RAIN" login --user alice \
	>"$TMP/syslogin.out" 2>&1
check_eq "rain login trusting the system store (SSL_CERT_FILE)" 0 "$?"
CLI_TOKEN2=$(sed -n 's/^token *= *//p' "$CFG")
check "...stored a new token" test -n "$CLI_TOKEN2" -a "$CLI_TOKEN2" != "$CLI_TOKEN"
check_eq "...still in a 0600 file" 600 "$(stat -c %a "$CFG" 2>&1)"
check "rain logout over HTTPS" "$RAIN" --cacert "$CA" logout
as "$CLI_TOKEN2" GET /v2/images
check_error "the logged-out token is revoked (401)" 401

check "rain --help documents --cacert and the CA environment" \
	bash -c '"$1" --help | grep -q -- "--cacert FILE" && "$1" --help | grep -q SSL_CERT_FILE' _ "$RAIN"

# --- no token in raind's log ---------------------------------------------------
leak=0
for t in "$ALICE" "$ALICE_BYNAME" "$ALICE_TMP" "$CLI_TOKEN" "$CLI_TOKEN2" "$TOKEN"; do
	[ -n "$t" ] && grep -qF "$t" "$TMP/raind.log" && leak=1
done
check_eq "no token appears in raind's log" 0 "$leak"
check "the log has no X-Auth-Token or X-Subject-Token" \
	bash -c '! grep -qi "x-auth-token\|x-subject-token" "$1"' _ "$TMP/raind.log"
check "no password appears in raind's log" \
	bash -c '! grep -qE "alice-tls-pw|tls-admin-pw|wrong-pw" "$1"' _ "$TMP/raind.log"

test_done
