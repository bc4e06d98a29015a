#!/bin/bash
# The libvirt site (issue 12) against a real libvirtd (start_libvirtd: its
# own virtlogd and libvirtd as libvirt-qemu in session mode, a dir pool in
# the test's folder), driven by rain target publish|status|unpublish on a
# rain-built bookworm disk whose boot prints a marker, the host name and
# root's authorized_keys on the serial console. publish adapts a qcow2
# copy and creates the volume, the NoCloud seed and the domain: the
# volume holds exactly the adapted disk, the seed the key and host name,
# the domain is virtio with the seed as a cdrom and user networking;
# virsh start boots it to the marker with the key in root's
# authorized_keys; unpublish of a running domain removes everything.
# The faults are t0157's.
source "$(dirname "$0")/lib.sh"

for c in mmdebstrap qemu-system-x86_64 libvirtd virtlogd virsh setpriv isoinfo ssh-keygen; do
	command -v "$c" >/dev/null || { echo "ok 1 # SKIP needs $c"; test_done; }
done
if [ "$(id -u)" -ne 0 ]; then
	echo "ok 1 # SKIP needs root"
	test_done
fi
cd "$TMP" || exit 1

# ---- the image: boots, then prints a marker and root's keys on ttyS0 ----
cat >"$TMP/marker.sh" <<'EOF'
#!/bin/sh
{
	echo "T0152-BOOTED $(hostname)"
	[ -r /root/.ssh/authorized_keys ] && sed 's/^/T0152-KEY /' /root/.ssh/authorized_keys
	echo "T0152-END"
} >/dev/ttyS0 2>&1
systemctl --no-block poweroff
EOF
cat >"$TMP/t0152-marker.service" <<'EOF'
[Unit]
Description=t0152 boot marker
After=multi-user.target rain-firstboot.service cloud-final.service
[Service]
Type=oneshot
ExecStart=/bin/sh /usr/local/sbin/t0152-marker
[Install]
WantedBy=default.target
EOF
cat >"$TMP/t0152.recipe" <<'EOF'
[image]
name = t0152
distribution = debian
release = bookworm
[packages]
install = udev
install = dbus
[system]
services = t0152-marker.service
[files]
copy = marker.sh:/usr/local/sbin/t0152-marker
copy = t0152-marker.service:/etc/systemd/system/t0152-marker.service
[output]
formats = disk
size = 2G
EOF
build_disk "$TMP/t0152.recipe"

# ---- the daemon, a pool, the site ----
start=$(date +%s)
start_libvirtd
check_eq "libvirtd starts" 0 $?
[ -n "$LIBVIRTD_PID" ] || test_done
echo "# libvirtd up in $(($(date +%s) - start)) s"
libvirt_pool t0152
check_eq "a dir pool in the test's folder" 0 $?
install -d -o libvirt-qemu -m 0700 "$LIBVIRT_DIR/log"
ssh-keygen -q -t ed25519 -N '' -C t0152@test -f "$TMP/key"
KEY=$(cat "$TMP/key.pub")
cat >"$TMP/sites.ini" <<EOF
[site.lv]
uri = libvirt:$LIBVIRT_URI
pool = t0152
domain_type = qemu
memory = 1G
console_log = $LIBVIRT_DIR/log
EOF
target() { # target publish|unpublish|status ARGS...: on site lv
	local cmd=$1; shift
	"$RAIN" target "$cmd" --sites "$TMP/sites.ini" --site lv --state "$TMP/state.json" "$@"
}

# ---- publish ----
start=$(date +%s.%N)
target publish --work "$TMP/work" --ssh-key "$TMP/key.pub" --id t0152a --json "$IMG" \
	>"$TMP/pub.json" 2>"$TMP/pub.err"
rc=$?
echo "# adapt + upload + define: $(echo "$(date +%s.%N) - $start" | bc) s"
check_eq "rain target publish to the libvirt site" 0 "$rc"
[ "$rc" -eq 0 ] || sed 's/^/#   /' "$TMP/pub.err" | tail -20
check "the state names the volume, the seed and the domain" python3 -c '
import json,sys; s=json.load(open(sys.argv[1]))
assert s["volume"]=="rain-t0152a.qcow2" and s["seed"]=="rain-t0152a-seed.iso", s
assert s["domain"]=="rain-t0152a" and s["pool"]=="t0152", s
assert s["show"]["domain_type"]=="qemu", s' "$TMP/state.json"
check_eq "libvirt lists both volumes in the pool (and their files), and the domain" \
	"rain-t0152a-seed.iso rain-t0152a.qcow2 rain-t0152a-seed.iso rain-t0152a.qcow2 rain-t0152a " \
	"$(libvirt_left t0152)"
check_eq "the domain is shut off" "shut off" "$(lv domstate rain-t0152a)"
lv dumpxml rain-t0152a >"$TMP/dom.xml"
check "its disk is the volume, qcow2 on virtio; the seed a cdrom; user networking; a serial console" python3 -c '
import sys, xml.etree.ElementTree as E; d=E.parse(sys.argv[1]).getroot()
k=[x for x in d.iter("disk") if x.get("device")=="disk"][0]
assert k.find("source").get("volume")=="rain-t0152a.qcow2" and k.find("source").get("pool")=="t0152"
assert k.find("driver").get("type")=="qcow2" and k.find("target").get("bus")=="virtio"
c=[x for x in d.iter("disk") if x.get("device")=="cdrom"][0]
assert c.find("source").get("volume")=="rain-t0152a-seed.iso" and c.find("readonly") is not None
i=d.find("devices/interface"); assert i.get("type")=="user" and i.find("model").get("type")=="virtio"
assert d.find("devices/serial").get("type")=="pty" and d.find("devices/console") is not None' "$TMP/dom.xml"
lv vol-download --pool t0152 rain-t0152a.qcow2 "$TMP/down.qcow2"
check_eq "the volume holds exactly the adapted disk (sha256)" \
	"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["adapted"]["disk_sha256"])' "$TMP/state.json")" \
	"$(sha256sum <"$TMP/down.qcow2" | cut -d' ' -f1)"
check "and it is a qcow2" sh -c "qemu-img info '$TMP/down.qcow2' | grep -q 'file format: qcow2'"
rm -f "$TMP/down.qcow2"
lv vol-download --pool t0152 rain-t0152a-seed.iso "$TMP/seed.iso"
check_eq "the seed is an ISO labelled CIDATA" "Volume id: CIDATA" "$(isoinfo -d -i "$TMP/seed.iso" | grep '^Volume id:')"
check "its user-data gives the key" grep -qF "\"$KEY\"" <(isoinfo -R -i "$TMP/seed.iso" -x /user-data)
check "its meta-data the host name" grep -qx "local-hostname: rain-t0152a" <(isoinfo -R -i "$TMP/seed.iso" -x /meta-data)
target status --json >"$TMP/status.json" 2>&1
check "rain target status: present, shut off" python3 -c '
import json,sys; s=json.load(open(sys.argv[1]))
assert s["present"] is True and s["domain"]["state"]=="shut off", s
assert s["volume"]["present"] and s["seed"]["present"], s' "$TMP/status.json"
check_eq "the image file is unchanged" "$IMG_SHA" "$(sha256sum <"$IMG")"

# ---- boot it ----
LOG=$LIBVIRT_DIR/log/rain-t0152a.log
start=$(date +%s)
lv start rain-t0152a >/dev/null
check_eq "virsh start" 0 $?
for _ in $(seq 1 600); do
	grep -q T0152-END "$LOG" 2>/dev/null && break
	[ "$(lv domstate rain-t0152a)" = running ] || break
	sleep 1
done
echo "# boot to the marker: $(($(date +%s) - start)) s (TCG)"
check "the domain boots to the marker on its serial console" grep -q T0152-END "$LOG"
grep -q T0152-END "$LOG" || tail -20 "$LOG" | sed 's/^/#   /'
check_eq "with the seed's host name" "T0152-BOOTED rain-t0152a" "$(tr -d '\r' <"$LOG" | grep -a -m1 '^T0152-BOOTED')"
check "and the key in root's authorized_keys" grep -qxF "T0152-KEY $KEY" <(tr -d '\r' <"$LOG")
for _ in $(seq 1 120); do [ "$(lv domstate rain-t0152a)" = "shut off" ] && break; sleep 1; done

# ---- unpublish while it runs ----
lv start rain-t0152a >/dev/null
check_eq "started again" running "$(lv domstate rain-t0152a)"
target unpublish >"$TMP/unpub.out" 2>&1
check_eq "rain target unpublish of the running domain" 0 $?
check_eq "the domain, the volumes and their files are gone" "" "$(libvirt_left t0152)"
check_eq "no qemu left" "" "$(ls "$TMP"/libvirt/run/libvirt/qemu/*.pid 2>/dev/null)"
target status --json >"$TMP/status.json" 2>&1
check "status after unpublish: nothing present" python3 -c '
import json,sys; s=json.load(open(sys.argv[1])); assert s.get("present") is not True, s' "$TMP/status.json"

test_done
