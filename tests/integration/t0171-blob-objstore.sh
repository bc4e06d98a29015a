#!/bin/bash
# Blob stores on a real OpenStack Swift (issue 14): the proxy with s3api
# and tempauth, account/container/object servers on a directory device,
# memcached (swift_start). First the blob conformance cases of test-blob
# against both object store backends (s3: through s3api, swift: Swift's
# own API), then raind on each: a 64 MiB image in 8 MiB parts uploaded,
# seen by s3cmd or the swift CLI under its content address, downloaded
# whole and by Range, deleted with everything it stored; a client that
# drops mid-upload leaves nothing visible and no parts; raind killed
# mid-upload leaves parts that the sweep at its next start removes.
# Wrong credentials and an unreachable store stop raind with a message
# naming the store and bucket.
. "$(dirname "$0")/lib.sh"

swift_start || exit 1
echo "# swift up after ${SECONDS}s"
umask 077
printf 'access_key = test:tester\nsecret_key = testing\n' >"$TMP/s3.cred"
printf 'user = test:tester\nkey = testing\n' >"$TMP/swift.cred"
printf 'access_key = test:tester\nsecret_key = wrong\n' >"$TMP/bad.cred"
umask 022
S3=s3://$SWIFT_HOSTPORT
SW=swift://$SWIFT_HOSTPORT

# --- the conformance cases, once per backend (a bucket per case)
RAIN_TEST_BLOBS="$S3/t%s?credentials=$TMP/s3.cred&tls=no&part_size=5M $SW/t%s?credentials=$TMP/swift.cred&tls=no&part_size=5M" \
	"$BUILD/tests/unit/test-blob" >"$TMP/unit.log" 2>&1
check_eq "test-blob passes on file, s3 and swift stores" 0 $?
check_eq "test-blob ran its cases on all three stores" 3 "$(grep -c '^\[  PASSED  \]' "$TMP/unit.log")"
echo "# conformance cases done after ${SECONDS}s"
[ "$TEST_FAILED" -eq 0 ] || grep -v '^\[ *\(RUN\|OK\) ' "$TMP/unit.log" | head -30 | sed 's/^/#   /'

head -c $((64 << 20)) /dev/urandom >"$TMP/img"
SHA=$(sha256sum "$TMP/img" | cut -c1-64)
# a range across the first part boundary (8 MiB), and the last bytes
dd if="$TMP/img" of="$TMP/range1" bs=1 skip=$((8388608 - 100)) count=200 status=none
tail -c 1000 "$TMP/img" >"$TMP/range2"

# objects KIND BUCKET PREFIX: the names under PREFIX, one a line, sorted,
# through Swift's own listing (s3api keeps an S3 bucket as a container of
# the same account; the clients' checks are below)
SW_TOKEN=$(curl -sS -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
	"$SWIFT_AUTH" | tr -d '\r' | sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p')
objects() {
	curl -sS -H "X-Auth-Token: $SW_TOKEN" "$SWIFT_URL/v1/AUTH_test/$2?prefix=$3" | sort
}

# hold_upload ID SEND: send SEND bytes of a 64 MiB upload and keep the
# connection open (background; its PID in HOLD_PID)
hold_upload() {
	# the interpreter itself in the background (not lib.sh's python3
	# function, whose subshell would hide its PID)
	"${PYTHON:-python3}" - "$PORT" "$TOKEN" "$1" "$2" <<'PY' &
import os, socket, sys, time
port, token, iid, send = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = socket.create_connection(("127.0.0.1", int(port)))
s.sendall(("PUT /v2/images/%s/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: %s\r\n"
           "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
           % (iid, token, 64 << 20)).encode())
while send > 0:
    n = min(send, 65536)
    s.sendall(os.urandom(n))
    send -= n
time.sleep(120)
PY
	HOLD_PID=$!
}

# wait_objects KIND BUCKET PREFIX N: until N objects are under PREFIX (30 s)
wait_objects() {
	for _ in $(seq 1 60); do
		[ "$(objects "$1" "$2" "$3" | grep -c .)" = "$4" ] && return 0
		sleep 0.5
	done
	return 1
}

for kind in s3 swift; do
	bucket=rain-$kind
	if [ $kind = s3 ]; then base=$S3; else base=$SW; fi
	uri="$base/$bucket?credentials=$TMP/$kind.cred&tls=no&part_size=8M"
	if [ $kind = s3 ]; then tmp=tmp/; else tmp=segments/; fi
	printf '[storage]\nblobs = %s\n' "$uri" >"$TMP/$kind.conf"
	DATA=$TMP/data-$kind
	raind_start -c "$TMP/$kind.conf" || { not_ok "$kind: raind starts"; continue; }

	id=$(create_image "$kind-64m")
	t0=$SECONDS
	image_put "$id" "$TMP/img"
	check_status "$kind: 64 MiB upload" 204
	echo "# upload: $((SECONDS - t0))s"
	call GET "/v2/images/$id"
	check_json "$kind: active with the data's SHA-256 and size" \
		"j['status'] == 'active' and j['os_hash_value'] == '$SHA' and j['size'] == 64 << 20"
	check_eq "$kind: the store holds the blob under its content address" "sha256/$SHA" \
		"$(objects $kind $bucket sha256/)"
	if [ $kind = s3 ]; then
		check_eq "$kind: no temporary parts left" "" "$(objects $kind $bucket tmp/)"
		s3cmd_cli get "s3://$bucket/sha256/$SHA" "$TMP/via-cli" >/dev/null 2>&1
		check_eq "$kind: s3cmd reads the same bytes" "$SHA" "$(sha256sum <"$TMP/via-cli" | cut -c1-64)"
		check_eq "$kind: the native Swift API sees it too (Swift's s3api stores in the account)" \
			"sha256/$SHA" "$(swift_cli list $bucket --prefix sha256/)"
	else
		check_eq "$kind: 8 segments and the publish marker" \
			"9 segments/.*/of-$SHA" \
			"$(objects $kind $bucket segments/ | grep -c .) $(objects $kind $bucket segments/ | grep of- | sed 's|/[0-9a-f]*/|/.*/|')"
		check "$kind: an SLO manifest (swift stat)" \
			sh -c "/usr/bin/python3 /usr/bin/swift -A '$SWIFT_AUTH' -U test:tester -K testing stat $bucket sha256/$SHA | grep -q 'Manifest:\|X-Static-Large-Object: True'"
		rm -f "$TMP/via-cli"
		swift_cli download $bucket "sha256/$SHA" -o "$TMP/via-cli" >/dev/null 2>&1
		check_eq "$kind: the swift CLI reads the same bytes" "$SHA" "$(sha256sum <"$TMP/via-cli" | cut -c1-64)"
	fi
	api GET "/v2/images/$id/file" -o "$TMP/back" >/dev/null
	check_eq "$kind: download matches" "$SHA" "$(sha256sum <"$TMP/back" | cut -c1-64)"
	api GET "/v2/images/$id/file" -H "Range: bytes=$((8388608 - 100))-$((8388608 + 99))" \
		-o "$TMP/back1" >"$TMP/st"
	check_eq "$kind: a Range across a part boundary: 206" 206 "$(tail -n 1 "$TMP/st")"
	check "$kind: ... with those bytes" cmp "$TMP/range1" "$TMP/back1"
	api GET "/v2/images/$id/file" -H "Range: bytes=-1000" -o "$TMP/back2" >/dev/null
	check "$kind: the last 1000 bytes" cmp "$TMP/range2" "$TMP/back2"

	# a client that drops after 20 MiB: raind throws the parts away
	id2=$(create_image "$kind-dropped")
	partial_upload "$id2" $((64 << 20)) $((20 << 20))
	check "$kind: the dropped upload's stored parts are removed" wait_objects $kind $bucket $tmp \
		"$([ $kind = s3 ] && echo 0 || echo 9)"
	check_eq "$kind: and nothing new is visible" "sha256/$SHA" "$(objects $kind $bucket sha256/)"

	# raind killed mid-upload: the parts stay until the sweep at its next start
	hold_upload "$id2" $((20 << 20))
	check "$kind: a held upload stores its first parts" wait_objects $kind $bucket $tmp \
		"$([ $kind = s3 ] && echo 2 || echo 11)"
	raind_stop KILL
	kill "$HOLD_PID" 2>/dev/null; wait "$HOLD_PID" 2>/dev/null
	check_eq "$kind: after kill -9 the parts are still there" \
		"$([ $kind = s3 ] && echo 2 || echo 11)" "$(objects $kind $bucket $tmp | grep -c .)"
	check_eq "$kind: nothing of them is visible" "sha256/$SHA" "$(objects $kind $bucket sha256/)"
	# another raind on the same store may own young parts: with the
	# default tmp_grace (an hour) a start keeps them; with 0 it sweeps
	raind_start -c "$TMP/$kind.conf" || not_ok "$kind: raind restarts"
	check_eq "$kind: a start keeps parts younger than tmp_grace" \
		"$([ $kind = s3 ] && echo 2 || echo 11)" "$(objects $kind $bucket $tmp | grep -c .)"
	raind_stop
	printf 'tmp_grace = 0\n' >>"$TMP/$kind.conf"
	raind_start -c "$TMP/$kind.conf" || not_ok "$kind: raind restarts with tmp_grace = 0"
	check_eq "$kind: the sweep at start removes them (published segments stay)" \
		"$([ $kind = s3 ] && echo 0 || echo 9)" "$(objects $kind $bucket $tmp | grep -c .)"
	api GET "/v2/images/$id/file" -o "$TMP/back" >/dev/null
	check_eq "$kind: the image still downloads whole" "$SHA" "$(sha256sum <"$TMP/back" | cut -c1-64)"

	call DELETE "/v2/images/$id"
	check_status "$kind: delete" 204
	check_eq "$kind: the blob is gone" "" "$(objects $kind $bucket sha256/)"
	check_eq "$kind: with its parts or segments" "" "$(objects $kind $bucket $tmp)"
	raind_stop
	echo "# $kind done after ${SECONDS}s"
done

# --- errors: named store and bucket, what to do
DATA=$TMP/data-bad
printf '[storage]\nblobs = %s/rain-s3?credentials=%s/bad.cred&tls=no\n' "$S3" "$TMP" >"$TMP/bad.conf"
"$RAIND" --data-dir "$DATA" --listen 127.0.0.1:0 -c "$TMP/bad.conf" >"$TMP/bad.log" 2>&1
check_eq "wrong S3 secret: raind does not start" 1 "$([ $? -ne 0 ] && echo 1)"
check "... saying access denied for the store and bucket" \
	grep -q "s3 store $SWIFT_HOSTPORT, bucket 'rain-s3'.*HTTP 403 (access denied: check the credentials)" "$TMP/bad.log"
check "... and never the secret" sh -c "! grep -q wrong '$TMP/bad.log'"
chmod 644 "$TMP/swift.cred"
printf '[storage]\nblobs = %s/rain-swift?credentials=%s/swift.cred&tls=no\n' "$SW" "$TMP" >"$TMP/bad.conf"
"$RAIND" --data-dir "$DATA" --listen 127.0.0.1:0 -c "$TMP/bad.conf" >"$TMP/bad.log" 2>&1
check "a credentials file others can read is refused" \
	grep -q "swift.cred has mode 0644: make it readable by its owner only" "$TMP/bad.log"
chmod 600 "$TMP/swift.cred"
echo "# errors: ${SECONDS}s"
swift_stop
echo "# swift stopped: ${SECONDS}s"
printf '[storage]\nblobs = %s/rain-swift?credentials=%s/swift.cred&tls=no\n' "$SW" "$TMP" >"$TMP/bad.conf"
"$RAIND" --data-dir "$DATA" --listen 127.0.0.1:0 -c "$TMP/bad.conf" >"$TMP/bad.log" 2>&1
check "a store that is down: raind says it cannot reach it" \
	grep -q "swift store $SWIFT_HOSTPORT, authentication at .*: GET failed" "$TMP/bad.log"
echo "# ${SECONDS}s"
test_done
