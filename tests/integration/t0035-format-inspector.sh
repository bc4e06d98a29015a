#!/bin/bash
# The disk-format inspector against a real raind (issue 10): a VMDK whose
# extent is a host file is refused and nothing of it is stored; data must
# be what its disk_format says; every format made by qemu-img uploads with
# the virtual size qemu-img reports; disk_format cannot change once an
# image has data.
source "$(dirname "$0")/lib.sh"

if ! command -v qemu-img >/dev/null; then
	skip "format inspector tests" "qemu-img is not installed"
	test_done
fi
raind_start || { not_ok "raind starts"; test_done; }
ok "raind starts"

field() { curl -sS -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$1" | json_get "$2"; }
blobs() { find "$DATA/blobs/sha256" -type f | wc -l; }
qemu_vsize() { qemu-img info -f "$1" --output=json "$2" | json_get virtual-size; }
# refused_queued WHAT ID: the last upload was 400 and the image kept no data
# (BODY stays the error's)
refused_queued() {
	local err
	check_error "$1 is 400" 400
	err=$BODY
	call GET "/v2/images/$2"
	check_json "... the image stays queued without data" \
		'j["status"] == "queued" and j["size"] is None and j["os_hash_value"] is None'
	BODY=$err
}

cd "$TMP" || exit 1
head -c 1048576 /dev/urandom >data.raw
truncate -s 5M data.raw

# --- the finding: a monolithicFlat descriptor whose extent is /etc/passwd ----
cat >passwd.vmdk <<'EOF'
# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="monolithicFlat"

# Extent description
RW 2048 FLAT "/etc/passwd" 0

ddb.adapterType = "ide"
EOF
n0=$(blobs)
V=$(image_new passwd vmdk)
image_put "$V" passwd.vmdk
refused_queued "a VMDK descriptor with the extent /etc/passwd" "$V"
check "... the message names the extent and says why" \
	grep -q 'extent \\"/etc/passwd\\".*another file.*OSSA-2024-001' <<<"$BODY"
image_put_chunked "$V" passwd.vmdk
check_error "... sent chunked, 400 too" 400
check_eq "... no blob was stored" "$n0" "$(blobs)"
check "... and no temporary upload file is left" test -z "$(ls -A "$DATA/blobs/tmp")"
A=$(image_new passwd-as-ami ami ami)
image_put "$A" passwd.vmdk
refused_queued "the same declared ami" "$A"
check "... the message names both formats" grep -q 'disk_format is ami, but the data is a vmdk image' <<<"$BODY"
qemu_img create -f vmdk -o subformat=monolithicFlat flat.vmdk 8M
qemu_img create -f vmdk -o subformat=twoGbMaxExtentSparse split.vmdk 8M
F=$(image_new flat vmdk)
image_put "$F" flat.vmdk
refused_queued "a monolithicFlat VMDK made by qemu-img" "$F"
image_put "$F" split.vmdk
check_error "a twoGbMaxExtentSparse VMDK made by qemu-img is 400" 400
qemu_img create -f vmdk base.vmdk 8M
qemu_img create -f vmdk -b "$TMP/base.vmdk" -F vmdk delta.vmdk
image_put "$F" delta.vmdk
check_error "a VMDK delta naming its parent is 400" 400
check "... the message names the parent" grep -q 'parentFileNameHint' <<<"$BODY"

# --- every format qemu-img makes uploads, with qemu-img's virtual size -------
# QEMU_FORMAT OPTIONS DISK_FORMAT
while read -r qfmt opts dfmt; do
	qemu_img convert -f raw -O "$qfmt" -o "$opts" data.raw "img.$qfmt.$opts"
	I=$(image_new "$qfmt-$opts" "$dfmt")
	image_put_chunked "$I" "img.$qfmt.$opts"
	check_status "$qfmt ($opts) declared $dfmt uploads (204)" 204
	check_eq "... virtual_size is qemu-img's" "$(qemu_vsize "$qfmt" "img.$qfmt.$opts")" \
		"$(field "$I" virtual_size)"
	if [ "$dfmt" != raw ]; then
		R=$(image_new "$qfmt-as-raw" raw)
		image_put "$R" "img.$qfmt.$opts"
		check_error "... declared raw instead is 400" 400
		check "... the message names both formats" \
			grep -q "disk_format is raw, but the data is a $dfmt image" <<<"$BODY"
	fi
done <<'EOF'
qcow2 compat=1.1 qcow2
vmdk subformat=streamOptimized vmdk
vmdk subformat=monolithicSparse vmdk
vpc subformat=dynamic vhd
vpc subformat=fixed vhd
vhdx subformat=dynamic vhdx
vdi static=off vdi
parallels cluster_size=1M ploop
raw preallocation=off raw
EOF

# an ISO 9660 image with an MBR (a hybrid ISO) is iso, and raw too
python3 - iso.img <<'PY'
import struct, sys
blocks = 40
b = bytearray(blocks * 2048)
b[510:512] = b"\x55\xaa"
pvd = 16 * 2048
b[pvd:pvd + 7] = b"\x01CD001\x01"
b[pvd + 80:pvd + 88] = struct.pack("<I", blocks) + struct.pack(">I", blocks)
b[pvd + 128:pvd + 132] = struct.pack("<H", 2048) + struct.pack(">H", 2048)
b[pvd + 2048:pvd + 2055] = b"\xffCD001\x01"
open(sys.argv[1], "wb").write(b)
PY
I=$(image_new iso iso)
image_put "$I" iso.img
check_status "a hybrid ISO declared iso uploads (204)" 204
check_eq "... virtual_size is its volume size" 81920 "$(field "$I" virtual_size)"
R=$(image_new raw-disk raw)
image_put "$R" data.raw
check_status "raw data declared raw uploads (204)" 204

# --- declared format and data disagree -----------------------------------
qemu_img create -f qcow2 q.qcow2 64M
M=$(image_new qcow2-as-vmdk vmdk)
image_put "$M" q.qcow2
refused_queued "a qcow2 declared vmdk" "$M"
check "... the message names both formats and what to do" \
	grep -q 'disk_format is vmdk, but the data is a qcow2 image.*--disk-format qcow2' <<<"$BODY"
X=$(image_new raw-as-vhdx vhdx)
image_put "$X" data.raw
refused_queued "raw data declared vhdx" "$X"
check "... the message says what is missing" grep -q 'no \\"vhdxfile\\" at offset 0' <<<"$BODY"
I2=$(image_new raw-as-iso iso)
image_put "$I2" data.raw
check_error "raw data declared iso is 400" 400

# --- disk_format cannot change once there is data -------------------------
P=$(image_new relabel ami ami)
patch_image "$P" '[{"op":"replace","path":"/disk_format","value":"raw"}]'
check_status "disk_format of a queued image can change (200)" 200
patch_image "$P" '[{"op":"replace","path":"/disk_format","value":"ami"}]'
image_put "$P" data.raw
check_status "raw data uploads as ami (204)" 204
patch_image "$P" '[{"op":"replace","path":"/disk_format","value":"vmdk"}]'
check_error "relabelling the active ami image vmdk is 403 (as Glance)" 403
check "... the message says why" grep -q 'Attribute disk_format can be only replaced for a queued image' <<<"$BODY"
check_eq "... it is still ami" ami "$(field "$P" disk_format)"
patch_image "$P" '[{"op":"replace","path":"/container_format","value":"ova"}]'
check_error "changing its container_format is 403 too" 403
patch_image "$P" '[{"op":"replace","path":"/name","value":"renamed"}]'
check_status "other attributes still change (200)" 200
out=$(RAIN_URL=$URL RAIN_TOKEN=$TOKEN "$RAIN" image set "$P" --disk-format vmdk 2>&1)
check "rain image set --disk-format on it fails and says why" \
	grep -q 'can be only replaced for a queued image' <<<"$out"

check "no temporary upload file is left behind" test -z "$(ls -A "$DATA/blobs/tmp")"
check "raind is still healthy" raind_healthy

raind_stop
test_done
