#!/bin/bash
# The libvirt site's UEFI domains, define_domain = no and faults (issue
# 12) against a real libvirtd (start_libvirtd) and a rain-built bookworm
# disk, through rain target: define_domain = no makes the volumes only; an
# image with hw_firmware_type=uefi gets <os firmware='efi'>, libvirt picks
# OVMF and makes its NVRAM when the domain starts, and unpublish removes
# the NVRAM with the domain. A missing pool and an unreachable daemon say
# so (the pool's name and how to create it; the URI) and make nothing; a
# volume of the registration's name that exists already is refused and
# left alone; Ctrl-C during the upload leaves nothing in the pool; a
# libvirtd killed during the upload fails the publish saying so, with the
# volume named in the state, and after a restart rain target unpublish
# removes it; unpublish refuses while a run's overlay is backed by the
# volume. The stored image is never written. Publishing that works is
# t0152's.
source "$(dirname "$0")/lib.sh"

for c in mmdebstrap libvirtd virtlogd virsh setpriv; do
	command -v "$c" >/dev/null || { echo "ok 1 # SKIP needs $c"; test_done; }
done
if [ "$(id -u)" -ne 0 ]; then
	echo "ok 1 # SKIP needs root"
	test_done
fi
cd "$TMP" || exit 1

cat >"$TMP/t0157.recipe" <<'EOF'
[image]
name = t0157
distribution = debian
release = bookworm
[output]
formats = disk
size = 2G
EOF
build_disk "$TMP/t0157.recipe"

start_libvirtd
check_eq "libvirtd starts" 0 $?
[ -n "$LIBVIRTD_PID" ] || test_done
libvirt_pool t0157
check_eq "a dir pool in the test's folder" 0 $?
cat >"$TMP/sites.ini" <<EOF
[site.lv]
uri = libvirt:$LIBVIRT_URI
pool = t0157
domain_type = qemu
[site.novm]
uri = libvirt:$LIBVIRT_URI
pool = t0157
define_domain = no
[site.nopool]
uri = libvirt:$LIBVIRT_URI
pool = nosuch
[site.down]
uri = libvirt:qemu:///session?socket=$TMP/no-such.sock
EOF
# pub_args ID SITE: PUB, rain's arguments to publish $IMG as registration
# ID at SITE (rain runs in the background itself where a signal must
# reach it)
pub_args() {
	PUB=(target publish --sites "$TMP/sites.ini" --site "$2" --state "$TMP/$1.state"
		--work "$TMP/w-$1" --id "$1" "$IMG")
}
publish() { pub_args "$@"; "$RAIN" "${PUB[@]}"; }
# wait_volume NAME PID: until the volume's file appears in the pool's
# folder (the upload began) or PID ends
wait_volume() {
	for _ in $(seq 1 2400); do
		[ -e "$LIBVIRT_DIR/t0157/$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# UEFI: OVMF chosen by libvirt at start, its NVRAM removed by unpublish
pub_args u1 lv
"$RAIN" "${PUB[@]}" --property hw_firmware_type=uefi >/dev/null 2>"$TMP/uefi.err"
check_eq "publish an image with hw_firmware_type=uefi" 0 $?
check_eq "its domain asks for EFI firmware" efi "$(lv dumpxml rain-u1 | python3 -c '
import sys, xml.etree.ElementTree as E; print(E.parse(sys.stdin).getroot().find("os").get("firmware"))')"
lv start rain-u1 >/dev/null
check "it starts with OVMF" sh -c "virsh -q -c '$LIBVIRT_URI' dumpxml rain-u1 | grep -q '<loader.*OVMF'"
check "and NVRAM of its own" test -s "$TMP/libvirt/config/libvirt/qemu/nvram/rain-u1_VARS.fd"
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site lv --state "$TMP/u1.state" >/dev/null 2>&1
check_eq "unpublish of the running UEFI domain" 0 $?
check_eq "removes the domain, its volumes and its NVRAM" "" \
	"$(libvirt_left t0157)$(ls -A "$TMP/libvirt/config/libvirt/qemu/nvram" 2>/dev/null)"

# define_domain = no: the volumes only
publish v1 novm >/dev/null 2>"$TMP/novm.err"
check_eq "publish with define_domain = no" 0 $?
check_eq "makes the volumes and no domain" "rain-v1-seed.iso rain-v1.qcow2 rain-v1-seed.iso rain-v1.qcow2 " \
	"$(libvirt_left t0157)"
# a run's overlay on the registration's volume (as the libvirt provider
# makes one per instance): unpublish refuses, and removes nothing
lv vol-create-as t0157 rain-r9-1.qcow2 2G --format qcow2 --backing-vol rain-v1.qcow2 \
	--backing-vol-format qcow2 >/dev/null
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site novm --state "$TMP/v1.state" >/dev/null 2>"$TMP/inuse.err"
check "unpublish while a run's disk is an overlay of the volume fails" test $? -ne 0
check "naming the overlay and what to do" \
	grep -q "volume rain-v1.qcow2 is the backing file of rain-r9-1.qcow2.*stop those runs" "$TMP/inuse.err"
check_eq "and removes nothing" "rain-r9-1.qcow2 rain-v1-seed.iso rain-v1.qcow2 rain-r9-1.qcow2 rain-v1-seed.iso rain-v1.qcow2 " \
	"$(libvirt_left t0157)"
lv vol-delete --pool t0157 rain-r9-1.qcow2 >/dev/null
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site novm --state "$TMP/v1.state" >/dev/null 2>&1
check_eq "once the run is gone, unpublish removes them" "" "$(libvirt_left t0157)"

publish b1 nopool >/dev/null 2>"$TMP/nopool.err"
check "a missing pool fails" test $? -ne 0
check "naming the pool and how to create it" grep -q "no storage pool 'nosuch'.*virsh pool-define-as" "$TMP/nopool.err"
check_eq "nothing was made" "" "$(libvirt_left t0157)"

publish b2 down >/dev/null 2>"$TMP/down.err"
check "an unreachable libvirtd fails" test $? -ne 0
check "saying it cannot connect, and where" grep -q "no-such.sock: cannot connect" "$TMP/down.err"

lv vol-create-as t0157 rain-b3.qcow2 1M >/dev/null
publish b3 lv >/dev/null 2>"$TMP/exists.err"
check "a volume of that name already there fails" test $? -ne 0
check "saying so" grep -q "already has a volume rain-b3.qcow2" "$TMP/exists.err"
check_eq "and leaves it alone (nothing else made)" "rain-b3.qcow2 rain-b3.qcow2 " "$(libvirt_left t0157)"
lv vol-delete --pool t0157 rain-b3.qcow2 >/dev/null

# Ctrl-C while the disk uploads: the publish removes what it made
pub_args b4 lv
"$RAIN" "${PUB[@]}" >/dev/null 2>"$TMP/cancel.err" &
pid=$!
wait_volume rain-b4.qcow2 "$pid"
kill -INT "$pid"
wait "$pid"
check "Ctrl-C during the upload fails the publish" test $? -ne 0
check "saying it was canceled" grep -q "upload of .* to volume rain-b4.qcow2 canceled at" "$TMP/cancel.err"
check_eq "nothing is left in the pool, no domain" "" "$(libvirt_left t0157)"

# libvirtd killed during the upload: the state names the volume; after a
# restart, unpublish removes it
pub_args b5 lv
"$RAIN" "${PUB[@]}" >/dev/null 2>"$TMP/kill.err" &
pid=$!
wait_volume rain-b5.qcow2 "$pid"
kill -9 "$LIBVIRTD_PID"
wait "$LIBVIRTD_PID" 2>/dev/null
LIBVIRTD_PID=
wait "$pid"
check "a libvirtd killed during the upload fails the publish" test $? -ne 0
check "saying the upload was interrupted" grep -q "upload of .* to volume rain-b5.qcow2 interrupted at" "$TMP/kill.err"
check "the state names the volume" grep -q '"volume": "rain-b5.qcow2"' "$TMP/b5.state"
stop_libvirtd
start_libvirtd >/dev/null
check_eq "libvirtd restarts" 0 $?
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site lv --state "$TMP/b5.state" >/dev/null 2>"$TMP/unpub.err"
check_eq "rain target unpublish" 0 $?
check_eq "leaves nothing in the pool" "" "$(libvirt_left t0157)"
check_eq "the image file is unchanged" "$IMG_SHA" "$(sha256sum <"$IMG")"

test_done
