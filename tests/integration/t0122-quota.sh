#!/bin/bash
# Quotas: a user's byte quota stops the upload that crosses it at that
# byte (413, nothing stored), the image-count quota stops creates, and
# /v2/info/usage reports both as Glance does. Both hold under
# concurrency: uploads in flight count against the quota together, and
# parallel creates never pass the image count.
source "$(dirname "$0")/lib.sh"

export RAIN_ADMIN_PASSWORD=t0122-admin-password
raind_start || exit 1
unset RAIN_ADMIN_PASSWORD

MIB=$((1 << 20))
call POST /rain/v1/users -H 'Content-Type: application/json' \
	-d "{\"name\":\"dora\",\"password\":\"dora-password\",\"role\":\"user\",\"status\":\"active\",\"quota_bytes\":$MIB,\"quota_images\":3}"
check_status "admin creates dora with 1 MiB and 3 images" 201
DORA=$(token_of dora dora-password)

mk() { # mk: a new image of dora's; prints its id
	curl -sS -H "X-Auth-Token: $DORA" -H 'Content-Type: application/json' "$URL/v2/images" \
		-d '{"name":"q","disk_format":"raw","container_format":"bare"}' |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
put() { # put ID FILE [chunked]: the upload's status
	local extra=()
	[ "${3:-}" = chunked ] && extra=(-H 'Transfer-Encoding: chunked')
	curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $DORA" \
		-H 'Content-Type: application/octet-stream' "${extra[@]}" --data-binary "@$2" "$URL/v2/images/$1/file"
}
status_of_img() {
	curl -sS -H "X-Auth-Token: $DORA" "$URL/v2/images/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'
}
head -c $((MIB + 1)) /dev/urandom >"$TMP/over"
head -c $MIB "$TMP/over" >"$TMP/exact"
head -c 1 /dev/urandom >"$TMP/one"

A=$(mk)
check_eq "one byte over the quota (Content-Length) is refused" 413 "$(put "$A" "$TMP/over")"
check_eq "and nothing is stored" queued "$(status_of_img "$A")"
check_eq "one byte over the quota (chunked, no length) is refused" 413 "$(put "$A" "$TMP/over" chunked)"
check_eq "and nothing is stored either" queued "$(status_of_img "$A")"
check_eq "exactly the quota is taken" 204 "$(put "$A" "$TMP/exact" chunked)"
check_eq "and stored" active "$(status_of_img "$A")"
B=$(mk)
check_eq "with the quota used up, one more byte is refused" 413 "$(put "$B" "$TMP/one")"
call GET /v2/images/"$B"
curl -sS -H "X-Auth-Token: $DORA" "$URL/v2/info/usage" >"$TMP/usage.json"
check "usage reports the bytes (MiB) and images as Glance does" python3 -c '
import json,sys; u=json.load(open(sys.argv[1]))["usage"]
assert u["image_size_total"] == {"limit": 1, "usage": 1}, u
assert u["image_count_total"] == {"limit": 3, "usage": 2}, u
assert u["image_count_uploading"]["usage"] == 0 and u["image_stage_total"]["limit"] == -1, u' "$TMP/usage.json"
call GET /rain/v1/users/dora
check_json "the account shows the same: 1 MiB used of 1 MiB, 2 images" \
	'j["bytes_used"] == 2**20 and j["quota_bytes"] == 2**20 and j["images"] == 2'

C=$(mk)
check "a third image may be created" test -n "$C"
st=$(curl -sS -o "$TMP/fourth.json" -w '%{http_code}' -H "X-Auth-Token: $DORA" -H 'Content-Type: application/json' \
	"$URL/v2/images" -d '{"name":"q4"}')
check_eq "a fourth is over the image-count quota (413)" 413 "$st"
check "the message says which quota" grep -q "Image count quota exceeded" "$TMP/fourth.json"
check_eq "deleting one frees its bytes" 204 "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H "X-Auth-Token: $DORA" "$URL/v2/images/$A")"
check_eq "so the next upload fits again" 204 "$(put "$B" "$TMP/exact")"
check_eq "the admin token has no quota" 200 "$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $TOKEN" "$URL/v2/info/usage")"

# ---- concurrency ----
# Every assertion below holds for any interleaving of the requests: the
# helpers only make sure the uploads are in flight at the same time.
mkuser() { # mkuser NAME QUOTA_BYTES QUOTA_IMAGES: prints the user's token
	curl -sS -o /dev/null -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' "$URL/rain/v1/users" \
		-d "{\"name\":\"$1\",\"password\":\"$1-password\",\"role\":\"user\",\"status\":\"active\",\"quota_bytes\":$2,\"quota_images\":$3}"
	token_of "$1" "$1-password"
}
mk_as() { # mk_as TOKEN: a new raw image; prints its id
	curl -sS -H "X-Auth-Token: $1" -H 'Content-Type: application/json' "$URL/v2/images" \
		-d '{"name":"c","disk_format":"raw","container_format":"bare"}' | json_get id
}
put_as() { # put_as TOKEN ID FILE: an upload with Content-Length; its status
	curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $1" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$3" "$URL/v2/images/$2/file"
}
# pair MODE TOKEN ID_A ID_B SIZE: two uploads of SIZE random bytes over
# raw sockets, both started before either ends. chunked: each sends half,
# then (once both images are saving) the rest, interleaved. length
# (Content-Length): A sends half; once A is saving, B is sent whole; then
# the rest of A. Prints "STATUS_A STATUS_B"; fails if no overlap.
pair() {
	python3 - "$PORT" "$@" <<'PY'
import json, os, socket, sys, time, urllib.request
port, mode, token, ida, idb, size = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
def status(iid):
    req = urllib.request.Request("http://127.0.0.1:%d/v2/images/%s" % (port, iid), headers={"X-Auth-Token": token})
    return json.load(urllib.request.urlopen(req))["status"]
def wait_saving(*ids):
    deadline = time.time() + 30
    while not all(status(i) == "saving" for i in ids):
        if time.time() > deadline:
            sys.exit("the uploads did not overlap")
        time.sleep(0.02)
class Up:
    def __init__(self, iid, chunked):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.settimeout(60)
        self.chunked, self.data, self.off, self.ok = chunked, os.urandom(size), 0, True
        framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: %d" % size
        self.s.sendall(("PUT /v2/images/%s/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: %s\r\n"
                        "Content-Type: application/octet-stream\r\n%s\r\n\r\n" % (iid, token, framing)).encode())
    def send(self, n):  # the next n bytes (the server may stop reading after its answer)
        while self.ok and n > 0 and self.off < size:
            k = min(n, 65536, size - self.off)
            part = self.data[self.off:self.off + k]
            try:
                self.s.sendall(b"%x\r\n%s\r\n" % (k, part) if self.chunked else part)
            except OSError:
                self.ok = False
            self.off += k
            n -= k
        if self.ok and self.off == size and self.chunked:
            try:
                self.s.sendall(b"0\r\n\r\n")
            except OSError:
                self.ok = False
            self.chunked = False
    def status(self):
        buf = b""
        try:
            while b"\r\n" not in buf:
                got = self.s.recv(4096)
                if not got:
                    break
                buf += got
        except OSError:
            pass
        self.s.close()
        return buf.split(b" ")[1].decode() if buf.startswith(b"HTTP/") else "none"
half = size // 2
if mode == "chunked":
    a, b = Up(ida, True), Up(idb, True)
    a.send(half); b.send(half)
    wait_saving(ida, idb)
    while a.off < size or b.off < size:
        a.send(65536); b.send(65536)
    a.send(0); b.send(0)
    print(a.status(), b.status())
else:
    a = Up(ida, False)
    a.send(half)
    wait_saving(ida)
    b = Up(idb, False)
    b.send(size)
    sb = b.status()
    a.send(size)
    print(a.status(), sb)
PY
}
usage_of() { curl -sS -H "X-Auth-Token: $1" "$URL/v2/info/usage"; }
# stored_bytes TOKEN: the exact bytes of the user's active images
stored_bytes() {
	curl -sS -H "X-Auth-Token: $1" "$URL/v2/images?limit=1000" | python3 -c '
import json,sys; print(sum(i["size"] or 0 for i in json.load(sys.stdin)["images"] if i["status"] == "active"))'
}
no_data() { # no_data TOKEN ID: queued, no size, no hash
	curl -sS -H "X-Auth-Token: $1" "$URL/v2/images/$2" | python3 -c '
import json,sys; j=json.load(sys.stdin)
assert j["status"] == "queued" and j["size"] is None and j["os_hash_value"] is None, j'
}
blob_count() { find "$DATA/blobs" -type f | wc -l; }
tally() { sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? " " : ""), $1, $2}'; }

KIB=1024
S=$((768 * KIB))                    # two of these do not fit in 1 MiB
CORA=$(mkuser cora $MIB 0)
check "cora has a token" test -n "$CORA"
blobs0=$(blob_count)
A=$(mk_as "$CORA"); B=$(mk_as "$CORA")
res=$(pair chunked "$CORA" "$A" "$B" $S)
case $res in
"204 413") won=$A lost=$B ;;
"413 204") won=$B lost=$A ;;
*) won=none lost=none ;;
esac
check "two overlapping chunked uploads over the quota: one stored, the crossing one 413 ($res)" test "$won" != none
check "the refused one stays queued with no data" no_data "$CORA" "$lost"
check_eq "the stored one is active" active "$(curl -sS -H "X-Auth-Token: $CORA" "$URL/v2/images/$won" | json_get status)"
check_eq "the user stores exactly one upload's bytes" $S "$(stored_bytes "$CORA")"
check "usage stays within the quota" python3 -c '
import json,sys; u=json.load(sys.stdin)["usage"]["image_size_total"]
assert u["usage"] <= u["limit"] == 1, u' <<<"$(usage_of "$CORA")"
check_eq "only the stored upload left a blob" $((blobs0 + 1)) "$(blob_count)"

# declared lengths: the second is refused at its start while the first
# holds its bytes, and the first completes
C=$(mk_as "$CORA")
check_eq "cora deletes the stored image" 204 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H "X-Auth-Token: $CORA" "$URL/v2/images/$won")"
check_eq "with Content-Length, the upload that starts second is refused" "204 413" "$(pair length "$CORA" "$lost" "$C" $S)"
check "and stores nothing" no_data "$CORA" "$C"
check_eq "the first one is stored" $S "$(stored_bytes "$CORA")"
check_eq "one blob again" $((blobs0 + 1)) "$(blob_count)"

# many uploads at once through curl, chunked and with a length mixed,
# interleaved as the scheduler likes: of N uploads of S bytes under a
# quota Q, exactly min(N, Q / S) are stored, whatever the order
S=$((300 * KIB))                    # 3 of these fit in 1 MiB
CODY=$(mkuser cody $MIB 0)
ids=()
for i in 0 1 2 3 4 5; do
	ids+=("$(mk_as "$CODY")")
	head -c $S /dev/urandom >"$TMP/s$i"
done
for i in 0 1 2 3 4 5; do
	extra=()
	[ $((i % 2)) = 0 ] && extra=(-H 'Transfer-Encoding: chunked')
	curl -sS -o /dev/null -w '%{http_code}\n' -X PUT -H "X-Auth-Token: $CODY" --limit-rate 1M \
		-H 'Content-Type: application/octet-stream' "${extra[@]}" --data-binary "@$TMP/s$i" \
		"$URL/v2/images/${ids[$i]}/file" >"$TMP/st$i" &
done
wait_bg
check_eq "six parallel uploads where three fit: 3 stored, 3 refused" "3 204 3 413" "$(cat "$TMP"/st[0-5] | tally)"
check_eq "the user stores exactly three uploads" $((3 * S)) "$(stored_bytes "$CODY")"
bad=
for i in 0 1 2 3 4 5; do
	[ "$(cat "$TMP/st$i")" = 413 ] && { no_data "$CODY" "${ids[$i]}" >/dev/null 2>&1 || bad="$bad ${ids[$i]}"; }
done
check_eq "every refused image is queued without data" "" "$bad"
P=$(mk_as "$CODY")
head -c $((MIB - 3 * S + 1)) /dev/urandom >"$TMP/rest1"
head -c $((MIB - 3 * S)) "$TMP/rest1" >"$TMP/rest"
check_eq "nothing stays reserved: one byte more than what is left is refused" 413 "$(put_as "$CODY" "$P" "$TMP/rest1")"
check_eq "and exactly what is left is taken" 204 "$(put_as "$CODY" "$P" "$TMP/rest")"

# parallel creates never pass the image-count quota
IVY=$(mkuser ivy $MIB 4)
for i in $(seq 1 12); do
	curl -sS -o /dev/null -w '%{http_code}\n' -H "X-Auth-Token: $IVY" -H 'Content-Type: application/json' \
		"$URL/v2/images" -d '{"name":"i"}' >"$TMP/c$i" &
done
wait_bg
check_eq "twelve parallel creates under a quota of four: 4 created, 8 refused" "4 201 8 413" \
	"$(cat "$TMP"/c[0-9]* | tally)"
check "and the user has four images" python3 -c '
import json,sys; u=json.load(sys.stdin)["usage"]["image_count_total"]
assert u == {"limit": 4, "usage": 4}, u' <<<"$(usage_of "$IVY")"
test_done
