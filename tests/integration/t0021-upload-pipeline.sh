#!/bin/bash
# Uploads through the blob writer's pipeline (a hasher thread fed by a
# ring of buffers, src/lib/repo/blob.c): bodies sent in odd pieces (chunked
# transfer encoding and a plain body, with pauses) store the right bytes
# under the right SHA-256 and MD5; a client that dies mid-upload, with the
# hasher running, leaves no blob, no temporary file, no open temporary and
# no thread behind, and the image can be uploaded again.
source "$(dirname "$0")/lib.sh"

printf '[storage]\nmd5_checksum = true\n' >"$TMP/raind.conf"
raind_start -c "$TMP/raind.conf" || { not_ok "raind starts"; test_done; }
ok "raind starts"

sha() { sha256sum "$1" | cut -d' ' -f1; }
field() { api GET "/v2/images/$1" | head -n 1 | json_get "$2"; }
blob_count() { find "$DATA/blobs/sha256" -mindepth 2 -maxdepth 2 -type f | wc -l; }
# open temporaries of raind (O_TMPFILE shows as "#inode (deleted)")
open_tmps() { find "/proc/$RAIND_PID/fd" -lname '*(deleted)' 2>/dev/null | wc -l; }
create_qcow2() {
	api POST /v2/images -H 'Content-Type: application/json' \
		-d "{\"name\":\"$1\",\"disk_format\":\"qcow2\",\"container_format\":\"bare\"}" |
		head -n 1 | json_get id
}
threads() { find "/proc/$RAIND_PID/task" -mindepth 1 -maxdepth 1 | wc -l; }

# odd_upload ID FILE MODE [STOP]: send FILE as the image's data in pieces
# of random odd sizes (1 byte to 300 KiB, with short pauses), MODE chunked
# (Transfer-Encoding) or length (Content-Length); prints the status. With
# STOP, the client dies after STOP bytes (prints "gone").
odd_upload() {
	python3 - "$PORT" "$TOKEN" "$1" "$2" "$3" "${4:-0}" <<'PY'
import os, random, socket, sys, time
port, token, iid, path, mode, stop = sys.argv[1:7]
data = open(path, "rb").read()
stop = int(stop)
rnd = random.Random(7)
s = socket.create_connection(("127.0.0.1", int(port)))
head = ("PUT /v2/images/%s/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: %s\r\n"
        "Content-Type: application/octet-stream\r\n" % (iid, token))
head += "Transfer-Encoding: chunked\r\n" if mode == "chunked" else "Content-Length: %d\r\n" % len(data)
s.sendall((head + "\r\n").encode())
off = 0
while off < len(data):
    n = rnd.choice([1, 3, 4093, 65537, 131071, 307200, rnd.randint(1, 307200)])
    piece = data[off:off + n]
    if stop and off + len(piece) >= stop:
        s.sendall(piece[:stop - off] if mode != "chunked" else
                  b"%x\r\n" % len(piece) + piece[:stop - off])
        time.sleep(0.3)
        s.close()
        print("gone")
        sys.exit(0)
    s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if mode == "chunked" else piece)
    off += len(piece)
    if rnd.random() < 0.05:
        time.sleep(0.01)
if mode == "chunked":
    s.sendall(b"0\r\n\r\n")
reply = b""
while b"\r\n\r\n" not in reply:
    more = s.recv(4096)
    if not more:
        break
    reply += more
print(reply.split(b" ")[1].decode() if reply else "none")
PY
}

head -c 23456789 /dev/urandom >"$TMP/big.bin"
SUM=$(sha "$TMP/big.bin")
MD5=$(md5sum "$TMP/big.bin" | cut -d' ' -f1)
T0=$(threads)

for mode in chunked length; do
	I=$(create_image "odd-$mode")
	check_eq "$mode: an upload in odd pieces is 204" 204 "$(odd_upload "$I" "$TMP/big.bin" "$mode")"
	check_eq "$mode: os_hash_value is the SHA-256 of the data" "$SUM" "$(field "$I" os_hash_value)"
	check_eq "$mode: checksum is its MD5" "$MD5" "$(field "$I" checksum)"
	check_eq "$mode: size is its length" 23456789 "$(field "$I" size)"
	curl -sS -H "X-Auth-Token: $TOKEN" -o "$TMP/back.bin" "$URL/v2/images/$I/file"
	check "$mode: the stored bytes are the data" cmp "$TMP/big.bin" "$TMP/back.bin"
	check "$mode: the blob is named by its SHA-256" test -f "$DATA/blobs/sha256/${SUM:0:2}/$SUM"
	api DELETE "/v2/images/$I" -o /dev/null >/dev/null
done

# the client dies mid-upload, after several buffers (the hasher is running)
n0=$(blob_count)
for mode in length chunked; do
	I=$(create_image "gone-$mode")
	check_eq "$mode: the client dies after 9 MB" gone "$(odd_upload "$I" "$TMP/big.bin" "$mode" 9000001)"
	for _ in $(seq 1 100); do [ "$(field "$I" status)" = queued ] && break; sleep 0.1; done
	check_eq "$mode: ... the image is queued again" queued "$(field "$I" status)"
	check_eq "$mode: ... no blob is added" "$n0" "$(blob_count)"
	check "$mode: ... no temporary file is left" test -z "$(ls -A "$DATA/blobs/tmp")"
	for _ in $(seq 1 50); do [ "$(open_tmps)" = 0 ] && [ "$(threads)" -le "$T0" ] && break; sleep 0.1; done
	check_eq "$mode: ... raind holds no temporary open" 0 "$(open_tmps)"
	check "$mode: ... and no hasher thread is left ($(threads) threads, $T0 before)" \
		test "$(threads)" -le "$T0"
	check_eq "$mode: ... and the image can be uploaded again" 204 "$(upload "$I" "$TMP/big.bin")"
	check_eq "$mode: ... with the right SHA-256" "$SUM" "$(field "$I" os_hash_value)"
	api DELETE "/v2/images/$I" -o /dev/null >/dev/null
done

# a qcow2 whose header is refused is still refused (inspection after the
# pipeline), and one that is fine is stored
if command -v qemu-img >/dev/null; then
	qemu-img create -q -f qcow2 "$TMP/ok.qcow2" 64M
	qemu-img create -q -f qcow2 -b /etc/hostname -F raw "$TMP/backing.qcow2" 64M
	head -c 3000000 /dev/urandom >>"$TMP/ok.qcow2"
	Q=$(create_qcow2 qok)
	check_eq "a qcow2 in odd pieces is 204" 204 "$(odd_upload "$Q" "$TMP/ok.qcow2" chunked)"
	check_eq "... its virtual size is read" 67108864 "$(field "$Q" virtual_size)"
	B=$(create_qcow2 qbad)
	check "a qcow2 with a backing file is refused" test "$(odd_upload "$B" "$TMP/backing.qcow2" length)" != 204
	check_eq "... and stays queued" queued "$(field "$B" status)"
else
	skip "qcow2 uploads" "qemu-img is not installed"
fi

check "raind is still healthy" raind_healthy
raind_stop
test_done
