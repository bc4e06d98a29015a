#!/bin/bash
# Disk-format checks on upload: qcow2 virtual size, qcow2 images that
# would make QEMU open other files (backing file, external data file:
# OSSA-2024-001) are refused, and data must match its declared format.
source "$(dirname "$0")/lib.sh"

if ! command -v qemu-img >/dev/null; then
	skip "qcow2 tests" "qemu-img is not installed"
	test_done
fi
raind_start || { not_ok "raind starts"; test_done; }
ok "raind starts"

field() { curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$1" | json_get "$2"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

cd "$TMP" || exit 1
qemu_img create -f qcow2 base.qcow2 2G
qemu_img create -f qcow2 -o compat=0.10 v2.qcow2 1G
qemu_img create -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2
qemu_img create -f qcow2 -b base.qcow2 -F qcow2 -o compat=0.10 overlay-v2.qcow2
qemu_img create -f raw ext.raw 1G
qemu_img create -f qcow2 -o data_file=ext.raw ext.qcow2 1G
head -c 1048576 /dev/urandom >data.raw
qemu_img convert -f raw -O qcow2 data.raw data.qcow2
check "qemu-img made the test images" test -s base.qcow2 -a -s overlay.qcow2 -a -s ext.qcow2 -a -s data.qcow2 -a -s v2.qcow2

# --- a plain qcow2 ------------------------------------------------------------
A=$(image_new base qcow2)
image_put "$A" base.qcow2
check_status "a 2G qcow2 declared qcow2 uploads (204)" 204
call GET "/v2/images/$A"
check_json "it is active with virtual_size 2147483648" 'j["status"] == "active" and j["virtual_size"] == 2147483648'
check_json "size is the file size, hash its SHA-256" \
	"j['size'] == $(stat -c %s base.qcow2) and j['os_hash_value'] == '$(sha base.qcow2)'"
V2=$(image_new v2 qcow2)
image_put "$V2" v2.qcow2
check_status "a version 2 (compat=0.10) qcow2 uploads (204)" 204
check_eq "... with virtual_size 1073741824" 1073741824 "$(field "$V2" virtual_size)"
D=$(image_new data qcow2)
image_put_chunked "$D" data.qcow2
check_status "a qcow2 with data uploads chunked (204)" 204
check_eq "... virtual_size 1048576" 1048576 "$(field "$D" virtual_size)"
check_eq "... and downloads unchanged" "$(sha data.qcow2)" \
	"$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$D/file" | sha256sum | cut -d' ' -f1)"

# --- refused qcow2 images -----------------------------------------------------
B=$(image_new overlay qcow2)
image_put "$B" overlay.qcow2
check_error "a qcow2 with a backing file is 400" 400
check "... the message names the backing file" grep -qi 'backing' <<<"$BODY"
call GET "/v2/images/$B"
check_json "... and the image stays queued without data" \
	'j["status"] == "queued" and j["size"] is None and j["os_hash_value"] is None'
image_put_chunked "$B" overlay.qcow2
check_error "the same sent chunked is 400" 400
check_eq "... still queued" queued "$(field "$B" status)"
B2=$(image_new overlay-v2 qcow2)
image_put "$B2" overlay-v2.qcow2
check_error "a version 2 qcow2 with a backing file is 400" 400
X=$(image_new ext qcow2)
image_put "$X" ext.qcow2
check_error "a qcow2 with an external data_file is 400" 400
check "... the message names the data file" grep -qi 'data file' <<<"$BODY"
check_eq "... and the image stays queued" queued "$(field "$X" status)"
image_put "$B" base.qcow2
check_status "the refused image can then take a good qcow2 (204)" 204
check_eq "... and is active" active "$(field "$B" status)"

# --- declared format and data disagree --------------------------------------
R=$(image_new raw-as-qcow2 qcow2)
image_put "$R" data.raw
check_error "raw data declared qcow2 is 400" 400
check_eq "... stays queued" queued "$(field "$R" status)"
printf 'QF' >tiny
image_put "$R" tiny
check_error "two bytes declared qcow2 is 400" 400
: >empty
image_put "$R" empty
check_error "no data declared qcow2 is 400" 400
check_eq "... stays queued" queued "$(field "$R" status)"
Q=$(image_new qcow2-as-raw raw)
image_put "$Q" base.qcow2
check_error "qcow2 data declared raw is 400" 400
check_eq "... stays queued" queued "$(field "$Q" status)"
image_put_chunked "$Q" overlay.qcow2
check_error "a qcow2 overlay declared raw, chunked, is 400" 400
I=$(image_new qcow2-as-iso iso)
image_put "$I" base.qcow2
check_error "qcow2 data declared iso is 400" 400
image_put "$Q" data.raw
check_status "real raw data into the raw image is 204" 204
check_eq "... virtual_size of raw is its size" 1048576 "$(field "$Q" virtual_size)"

# a corrupted qcow2 header: cluster_bits (offset 20) out of range
cp base.qcow2 bad.qcow2
printf '\x00\x00\x00\x40' | dd of=bad.qcow2 bs=1 seek=20 conv=notrunc 2>/dev/null
C=$(image_new bad qcow2)
image_put "$C" bad.qcow2
check_error "a qcow2 with a bad header declared qcow2 is 400" 400

check "no temporary upload file is left behind" test -z "$(ls -A "$DATA/blobs/tmp")"
n=$(find "$DATA/blobs/sha256" -type f | wc -l)
check_eq "only the 4 accepted uploads have blobs (base, v2, data.qcow2, data.raw)" 4 "$n"
check "raind is still healthy" raind_healthy

raind_stop
test_done
