#!/bin/bash
# The netboot site (issue 12): a real bookworm image whose own systemd
# unit prints a marker on the console. rain target publish adapts it and
# puts the kernel, rain's initramfs and the root squashfs in the site's
# folder with a per-MAC iPXE script, boot.ipxe and dnsmasq.conf (which
# dnsmasq accepts); a real raind serves the folder ([netboot]) without a
# token; a diskless qemu VM (user networking, iPXE ROM, the site's MAC)
# chains from boot.ipxe to its script, fetches the kernel, the initramfs
# (loading no NIC driver but virtio's, which brings up the interface)
# and the root, checks the root's sha256 and boots the image to the marker,
# printed from inside it with the root an overlay; busybox wget -c (as the
# init runs it) completes a broken fetch with a range. A script naming another
# sha256 makes the initramfs refuse the root, saying so on the console.
# raind serves single ranges, and nothing but the published names (a link
# planted in the folder, '..', other names: 404); a relative [netboot]
# folder stops raind naming it. unpublish leaves the folder empty and the
# image unchanged.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null || ! command -v qemu-system-x86_64 >/dev/null ||
	[ ! -f /usr/lib/ipxe/qemu/pxe-virtio.rom ] || [ ! -x /bin/busybox ] || ! command -v tar2sqfs >/dev/null; then
	echo "ok 1 # SKIP needs root, mmdebstrap, qemu, ipxe-qemu, busybox-static and squashfs-tools-ng"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
MAC=52:54:00:15:30:01
cd "$TMP" || exit 1

# the image: its own unit prints the marker when it reaches multi-user
marker_unit "$TMP/marker.service" 'T0153-MARKER host=$(hostname) root=$(findmnt -n -o FSTYPE /)'
cat >"$TMP/node.recipe" <<RECIPE
[image]
name = t0153-node
distribution = debian
release = bookworm
[packages]
kernel = yes
[system]
hostname = t0153-node
services = t0153-marker
[files]
copy = marker.service:/etc/systemd/system/t0153-marker.service
[output]
formats = disk
size = 2G
RECIPE
start=$(date +%s)
"$RAIN" generate "$TMP/node.recipe" -o "$TMP/img" --cache "$CACHE" >/dev/null 2>"$TMP/build.err"
rc=$?
echo "# build took $(( $(date +%s) - start )) s"
check_eq "the bookworm image is built" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -30 "$TMP/build.err" | sed 's/^/#   /'; test_done; }
IMG=$TMP/img/t0153-node.raw
before=$(sha256sum <"$IMG")

# raind serves the site's folder
SITE=$TMP/site
cat >"$TMP/raind.conf" <<CONF
[netboot]
lab = $SITE
CONF
raind_start --config "$TMP/raind.conf" || { not_ok "raind starts"; test_done; }
NB=http://10.0.2.2:$PORT/netboot/lab
# no_timer_check: TCG on a loaded host can miss the kernel's IO-APIC timer
# check (a panic at 0.03 s); panic=-1 with -no-reboot ends qemu on a panic
ARGS="console=ttyS0,115200 no_timer_check panic=-1"
cat >"$TMP/sites.ini" <<SITES
[site.lab]
uri = netboot:$SITE
url = $NB
nodes = node1=$MAC
kernel_args = $ARGS
SITES

mkdir -m 0700 "$TMP/work"
start=$(date +%s)
"$RAIN" target publish --sites "$TMP/sites.ini" --site lab --state "$TMP/state.json" --work "$TMP/work" \
	--json "$IMG" >"$TMP/publish.json" 2>"$TMP/publish.err"
rc=$?
echo "# adapt and publish took $(( $(date +%s) - start )) s"
check_eq "rain target publish succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -20 "$TMP/publish.err" | sed 's/^/#   /'; test_done; }
REG=$(python3 -c 'import json,sys,os; print(os.path.basename(json.load(open(sys.argv[1]))["dir"]))' "$TMP/state.json")
ROOT_SHA=$(sha256sum <"$SITE/$REG/root.squashfs" | cut -d' ' -f1)
check "the registration's folder has vmlinuz, initramfs and root.squashfs" \
	test -s "$SITE/$REG/vmlinuz" -a -s "$SITE/$REG/initramfs" -a -s "$SITE/$REG/root.squashfs"
SCRIPT=$SITE/ipxe/${MAC//:/-}.ipxe
check "the node's iPXE script boots them with rain.root and the root's sha256" \
	grep -q "^kernel $NB/$REG/vmlinuz initrd=initramfs $ARGS rain.root=$NB/$REG/root.squashfs rain.sha256=$ROOT_SHA BOOTIF=01-${MAC//:/-}\$" "$SCRIPT"
check "boot.ipxe chains to each node's script by MAC" grep -q "^chain $NB/ipxe/\${netX/mac:hexhyp}\$" "$SITE/boot.ipxe"
check "dnsmasq.conf names the node and iPXE's boot file" \
	grep -q "^dhcp-host=$MAC,set:rain-lab,node1\$" "$SITE/dnsmasq.conf"
check "dnsmasq accepts dnsmasq.conf" dnsmasq --test --conf-file="$SITE/dnsmasq.conf"
check "the squashfs root holds the image's marker unit" \
	bash -c "rdsquashfs -l /etc/systemd/system '$SITE/$REG/root.squashfs' | grep -q ' t0153-marker.service\$'"
check "with su setuid root" bash -c "rdsquashfs -s /usr/bin/su '$SITE/$REG/root.squashfs' | grep -q '^Access: 04755'"
check "and the netboot fstab (no local file systems)" \
	bash -c "rdsquashfs -c /etc/fstab '$SITE/$REG/root.squashfs' | grep -q 'RAM overlay'"

"$RAIN" target status --sites "$TMP/sites.ini" --site lab --state "$TMP/state.json" --json >"$TMP/status.json" 2>&1
check "rain target status: present, booted by the node" python3 -c '
import json,sys; s=json.load(open(sys.argv[1])); s=s.get("status", s)
assert s["present"] is True and s["nodes_booting_it"] == 1, s' "$TMP/status.json"

# raind: the scripts by MAC, ranges, nothing else
check_eq "raind serves the node's script by MAC" "$(cat "$SCRIPT")" "$(curl -s "$URL/netboot/lab/ipxe/${MAC//:/-}")"
check_eq "and as boot.ipxe?mac=" "$(cat "$SCRIPT")" "$(curl -s "$URL/netboot/lab/boot.ipxe?mac=$MAC")"
check_eq "a range of the root (206, the same bytes)" \
	"206 $(dd if="$SITE/$REG/root.squashfs" bs=1 skip=4096 count=1000 2>/dev/null | sha256sum)" \
	"$(curl -s -o "$TMP/part" -w '%{http_code}' -H 'Range: bytes=4096-5095' "$URL/netboot/lab/$REG/root.squashfs") $(sha256sum <"$TMP/part")"
# the initramfs's fetch resumes a broken transfer (busybox wget -c, as
# its init runs it) with a Range request to raind
head -c 50000000 "$SITE/$REG/root.squashfs" >"$TMP/partial.squashfs"
busybox wget -c -q -O "$TMP/partial.squashfs" "$URL/netboot/lab/$REG/root.squashfs"
check_eq "busybox wget -c completes a broken fetch of the root with a range" "$ROOT_SHA" \
	"$(sha256sum <"$TMP/partial.squashfs" | cut -d' ' -f1)"
check "raind answered it with 206 and the rest only" \
	grep -q "GET /netboot/lab/$REG/root.squashfs\" 206 in=0 out=$(( $(stat -c %s "$SITE/$REG/root.squashfs") - 50000000 )) " \
	"$TMP/raind.log"
rm -f "$TMP/partial.squashfs"
mkdir "$SITE/planted"
ln -s /etc/passwd "$SITE/planted/vmlinuz"
ln -s /etc "$SITE/up"
check_eq "a link planted in the folder is not followed" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$URL/netboot/lab/planted/vmlinuz")"
check_eq "nor a link to a folder" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/netboot/lab/up/passwd")"
check_eq "'..' (encoded) leads nowhere" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$URL/netboot/lab/$REG/..%2F..%2F..%2Fetc%2Fpasswd")"
check_eq "names other than the published ones are not served" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$URL/netboot/lab/$REG/dnsmasq.conf")"
check_eq "nor other sites" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/netboot/other/boot.ipxe")"
rm -rf "$SITE/planted" "$SITE/up"

# a diskless VM with the node's MAC: iPXE from boot.ipxe into the image
boot_vm() { # LOG QEMU-ARGS...
	local log=$1
	shift
	qemu-system-x86_64 -machine accel=tcg -m 1536 -smp 1 -display none -monitor none -no-reboot \
		-netdev "user,id=n0,tftp=$SITE/tftp,bootfile=$NB/boot.ipxe" \
		-device "virtio-net-pci,netdev=n0,mac=$MAC" -serial "file:$log" "$@" &
	VM_PID=$!
}
wait_console() { # LOG REGEX SECONDS
	for _ in $(seq 1 "$3"); do
		grep -aq "$2" "$1" 2>/dev/null && return 0
		kill -0 "$VM_PID" 2>/dev/null || { grep -aq "$2" "$1" 2>/dev/null; return; }
		sleep 1
	done
	return 1
}
start=$(date +%s)
boot_vm "$TMP/console.log" -boot n
wait_console "$TMP/console.log" "T0153-MARKER" 420
booted=$?
echo "# the diskless VM printed the marker after $(( $(date +%s) - start )) s"
pid_stop VM_PID
check "the VM fetched the root and checked its sha256" grep -aq "rain-netboot: root checked (sha256 $ROOT_SHA)" "$TMP/console.log"
check "its virtio NIC came up without the other NIC drivers (igb, ixgbe: not loaded)" \
	bash -c "grep -aq 'rain-netboot: eth0 has' '$TMP/console.log' && ! grep -aq 'igb: Intel\|ixgbe: Intel' '$TMP/console.log'"
check_eq "the image's own unit printed the marker, on an overlay root" 0 "$booted"
check "with the image's host name" grep -aq "T0153-MARKER host=t0153-node root=overlay" "$TMP/console.log"
[ "$booted" -eq 0 ] || tail -25 "$TMP/console.log" | sed 's/^/#   /'
check "no unit failed" bash -c "! grep -aq 'FAILED' '$TMP/console.log'"
check "raind's log has the node's fetches, without a token" grep -q "GET /netboot/lab/$REG/root.squashfs" "$TMP/raind.log"

# a script naming another sha256: the initramfs refuses the root (the
# same kernel and initramfs, booted directly)
BAD=0000000000000000000000000000000000000000000000000000000000000000
start=$(date +%s)
boot_vm "$TMP/bad.log" -kernel "$SITE/$REG/vmlinuz" -initrd "$SITE/$REG/initramfs" \
	-append "$ARGS rain.root=$NB/$REG/root.squashfs rain.sha256=$BAD"
wait_console "$TMP/bad.log" "refusing this root" 300
rc=$?
echo "# refused after $(( $(date +%s) - start )) s"
pid_stop VM_PID
check_eq "a root whose sha256 differs is refused" 0 "$rc"
check "saying which sha256 it has and which was asked" \
	grep -aq "has sha256 $ROOT_SHA, not $BAD (rain.sha256): refusing this root" "$TMP/bad.log"
check "and the image's init never ran" bash -c "! grep -aq 'T0153-MARKER\|systemd\[1\]' '$TMP/bad.log'"

# unpublish: nothing left
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site lab --state "$TMP/state.json" 2>"$TMP/unpublish.err"
check_eq "rain target unpublish succeeds" 0 "$?"
check_eq "the site's folder is empty" "" "$(ls -A "$SITE")"
check_eq "raind no longer serves the node's script" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$URL/netboot/lab/ipxe/${MAC//:/-}")"
check_eq "the image is unchanged" "$before" "$(sha256sum <"$IMG")"
raind_stop

# hostile configuration: a folder that is not absolute
printf '[netboot]\nlab = site\n' >"$TMP/bad.conf"
"$RAIND" --config "$TMP/bad.conf" --data-dir "$TMP/data2" --listen 127.0.0.1:0 >"$TMP/bad-raind.log" 2>&1
check "raind refuses a relative [netboot] folder" test $? -ne 0
check "naming the site and the value" grep -q "\[netboot\] lab: 'site' is not an absolute folder" "$TMP/bad-raind.log"
test_done
