#!/bin/bash
# The ironic site (issue 12): a real Ironic (Debian's single-process
# ironic, noauth, SQLite, fake-hardware, iPXE boot, ramdisk deploy), a real
# raind serving publish_dir ([netboot]) and acting as the Keystone the
# site logs in to (clouds.yaml), and a real bookworm image. rain target
# publish puts the image's kernel, a netboot initramfs and the root
# squashfs in publish_dir/REGID and deploys the first available node of
# the site's list: checked through Ironic's API and its own CLI (active,
# instance_info), Ironic's per-MAC iPXE config names its copies of exactly
# the published kernel and initramfs and the root's URL and sha256; a
# diskless qemu VM with the node's MAC boots that config into the image,
# whose systemd runs rain's first-boot unit (rain-firstboot: done on the
# serial console). unpublish undeploys (the node available again,
# instance_info empty, the per-MAC config and the files gone). Refused
# without leaving anything: a node Ironic does not have, a node in the
# wrong state, a Keystone refusing the login, a deploy Ironic fails (the
# node undeployed again), an Ironic that does not answer.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null || ! command -v qemu-system-x86_64 >/dev/null ||
	[ ! -x /usr/bin/ironic ] || [ ! -f /usr/lib/ipxe/qemu/pxe-virtio.rom ]; then
	echo "ok 1 # SKIP needs root, mmdebstrap, qemu, ipxe-qemu and Debian's ironic"
	test_done
fi
MAC=52:54:00:12:34:56
REG=00000000-0000-4000-8000-000000000154
cd "$TMP" || exit 1

cat >"$TMP/bm.recipe" <<RECIPE
[image]
name = t0154-bm
distribution = debian
release = bookworm
[packages]
install = dbus
[output]
formats = disk
size = 2G
RECIPE
build_disk "$TMP/bm.recipe" "$TMP/img" "the bookworm image"

start=$(date +%s.%N)
start_ironic || { not_ok "Ironic starts"; test_done; }
echo "# Ironic's API answered after $(python3 -c "import time; print('%.1f' % (time.time() - $start))") s"
check "a fake-hardware node n1 with MAC $MAC is available" ironic_enroll n1 "$MAC"
check "a node n2 stays manageable" ironic_enroll n2 52:54:00:12:34:57 manageable

# raind serves publish_dir ([netboot] bm = publish_dir) and is the
# Keystone the site logs in to (clouds.yaml, password); Ironic's conductor
# fetches the kernel and initramfs on loopback, the VM the root as 10.0.2.2
mkdir -p "$TMP/pub"
printf '[netboot]\nbm = %s\n' "$TMP/pub" >"$TMP/raind.conf"
export RAIN_ADMIN_PASSWORD=t0154-admin-password
raind_start --config "$TMP/raind.conf" || { not_ok "raind starts"; test_done; }
unset RAIN_ADMIN_PASSWORD
cat >"$TMP/clouds.yaml" <<YAML
clouds:
  lab:
    auth:
      auth_url: $URL/v3
      username: admin
      password: t0154-admin-password
      user_domain_name: Default
  wrong:
    auth:
      auth_url: $URL/v3
      username: admin
      password: not-the-password
      user_domain_name: Default
YAML
site() { # NAME URI NODES CLOUD
	cat <<SITE
[site.$1]
uri = ironic:$2
nodes = $3
publish_dir = $TMP/pub
publish_url = http://10.0.2.2:$PORT/netboot/bm
conductor_url = $URL/netboot/bm
kernel_args = console=ttyS0
deploy_timeout = 300
cloud = $4
clouds_yaml = $TMP/clouds.yaml
SITE
}
# n2 is listed first but not available: n1 is taken. The refusals use
# the same site (its adapted copy is reused) with other nodes or cloud.
site bm "$IRONIC_URL" "n2, n1" lab >"$TMP/sites.ini"
site bm "$IRONIC_URL" nosuch lab >"$TMP/ghost.ini"
site bm "$IRONIC_URL" n2 lab >"$TMP/busy.ini"
site bm "$IRONIC_URL" n1 wrong >"$TMP/wrong.ini"

start=$(date +%s.%N)
"$RAIN" target publish --sites "$TMP/sites.ini" --site bm --id "$REG" --work "$TMP/work" \
	--state "$TMP/state.json" --json "$IMG" >"$TMP/publish.json" 2>"$TMP/publish.err"
rc=$?
echo "# rain target publish (adapt + publish) took $(python3 -c "import time; print('%.1f' % (time.time() - $start))") s"
check_eq "rain target publish to the ironic site succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || tail -20 "$TMP/publish.err" | sed 's/^/#   /'
check_eq "the stored image is unchanged" "$IMG_SHA" "$(sha256sum <"$IMG")"

# Ironic's view
ironic_call GET /v1/nodes/n1
check_json "n1 is active, with no last_error" 'j["provision_state"] == "active" and not j["last_error"]'
check_json "its deploy_interface is ramdisk" 'j["deploy_interface"] == "ramdisk"'
UUID=$(printf '%s' "$BODY" | json_get uuid)
ii=$(printf '%s' "$BODY" | json_get instance_info)
check_eq "instance_info kernel is the published kernel (as the conductor fetches it)" \
	"$URL/netboot/bm/$REG/vmlinuz" "$(printf '%s' "$ii" | json_get kernel)"
check_eq "instance_info ramdisk is the published initramfs" \
	"$URL/netboot/bm/$REG/initramfs" "$(printf '%s' "$ii" | json_get ramdisk)"
ROOT_SHA=$(sha256sum "$TMP/pub/$REG/root.squashfs" | cut -d' ' -f1)
check_eq "image_source is the root squashfs, as the node fetches it" \
	"http://10.0.2.2:$PORT/netboot/bm/$REG/root.squashfs" "$(printf '%s' "$ii" | json_get image_source)"
check_eq "its sha256 is the published file's" "$ROOT_SHA" "$(printf '%s' "$ii" | json_get image_os_hash_value)"
check_eq "kernel_append_params name the root and its sha256" \
	"rain.root=http://10.0.2.2:$PORT/netboot/bm/$REG/root.squashfs rain.sha256=$ROOT_SHA console=ttyS0" \
	"$(printf '%s' "$ii" | json_get kernel_append_params)"
baremetal node show n1 -f json -c provision_state -c instance_info >"$TMP/bm.json" 2>&1
check "Ironic's own CLI shows n1 active with that instance_info" python3 -c '
import json,sys; j=json.load(open(sys.argv[1]))
assert j["provision_state"] == "active", j
assert j["instance_info"]["kernel"] == sys.argv[2], j' "$TMP/bm.json" "$URL/netboot/bm/$REG/vmlinuz"
check "rain target status says the node is active" sh -c \
	"'$RAIN' target status --sites '$TMP/sites.ini' --site bm --state '$TMP/state.json' --json |
	 python3 -c 'import json,sys; j=json.load(sys.stdin); assert j[\"present\"] and j[\"provision_state\"] == \"active\", j'"

# the per-MAC iPXE config Ironic wrote, and its copies of the boot files
CFG=$IRONIC_DIR/http/pxelinux.cfg/${MAC//:/-}
check "Ironic wrote an iPXE config for $MAC" test -f "$CFG"
check "it boots the kernel Ironic serves, with rain.root and rain.sha256" \
	grep -q "^kernel http://10.0.2.2:$IRONIC_HTTP_PORT/$UUID/kernel .*rain.root=http://10.0.2.2:$PORT/netboot/bm/$REG/root.squashfs rain.sha256=$ROOT_SHA" "$CFG"
check "and its initrd" grep -q "^initrd http://10.0.2.2:$IRONIC_HTTP_PORT/$UUID/ramdisk" "$CFG"
check "Ironic's kernel is the published kernel" cmp "$IRONIC_DIR/http/$UUID/kernel" "$TMP/pub/$REG/vmlinuz"
check "Ironic's ramdisk is the published initramfs" cmp "$IRONIC_DIR/http/$UUID/ramdisk" "$TMP/pub/$REG/initramfs"

# a diskless VM with n1's MAC boots from Ironic's iPXE config into the image
start=$(date +%s)
qemu-system-x86_64 -machine accel=tcg -m 1536 -smp 1 -display none -monitor none -no-reboot \
	-boot n -netdev "user,id=n0,bootfile=$IRONIC_BOOT_URL" \
	-device "virtio-net-pci,netdev=n0,mac=$MAC" -serial "file:$TMP/console.log" &
QEMU_PID=$!
booted=
for _ in $(seq 1 300); do
	# rain's first-boot unit (rain/adapt.h), run by the image's systemd
	if grep -q "rain-firstboot: done" "$TMP/console.log" 2>/dev/null; then booted=1; break; fi
	kill -0 "$QEMU_PID" 2>/dev/null || break
	sleep 1
done
echo "# the VM ran the image's first-boot unit after $(( $(date +%s) - start )) s"
kill "$QEMU_PID" 2>/dev/null
wait "$QEMU_PID" 2>/dev/null
check "the VM fetched the root and checked its sha256" grep -q "rain-netboot: root checked (sha256 $ROOT_SHA)" "$TMP/console.log"
check "the image's systemd started on the serial console" grep -q "Welcome to .*Debian GNU/Linux 12" "$TMP/console.log"
check_eq "and ran rain's first-boot unit from inside the image" 1 "$booted"
[ -n "$booted" ] || tail -25 "$TMP/console.log" | sed 's/^/#   /'

# unpublish: the node back to available, nothing of the registration left
start=$(date +%s.%N)
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site bm --state "$TMP/state.json" 2>"$TMP/unpublish.err"
rc=$?
echo "# rain target unpublish took $(python3 -c "import time; print('%.1f' % (time.time() - $start))") s"
check_eq "rain target unpublish succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || tail -20 "$TMP/unpublish.err" | sed 's/^/#   /'
ironic_call GET /v1/nodes/n1
check_json "n1 is available again, without an instance" \
	'j["provision_state"] == "available" and j["instance_info"] == {} and not j["instance_uuid"]'
check "Ironic removed the iPXE config" test ! -e "$CFG"
check_eq "the published files are gone" "" "$(ls -A "$TMP/pub")"

# refusals: nothing written, nothing claimed
refused() { # SITES-FILE NEEDLE DESCRIPTION
	local state
	state=$(mktemp -u "$TMP/state-refused.XXXXXX")
	"$RAIN" target publish --sites "$1" --site bm --id "$REG" --work "$TMP/work" \
		--state "$state" "$IMG" >/dev/null 2>"$TMP/refused.err"
	check "$3 is refused" test $? -ne 0
	if grep -q "$2" "$TMP/refused.err"; then ok "saying so"; else
		not_ok "saying so"; sed 's/^/#   /' "$TMP/refused.err" | tail -5; fi
	check_eq "and nothing is left in publish_dir" "" "$(ls -A "$TMP/pub")"
	check "nor named in the state" python3 -c '
import json,sys; j=json.load(open(sys.argv[1])) if __import__("os").path.exists(sys.argv[1]) else {}
assert not j.get("node") and not j.get("publish_dir"), j' "$state"
}
refused "$TMP/ghost.ini" "names node 'nosuch', which Ironic does not have" "a node Ironic does not have"
refused "$TMP/busy.ini" "n2 is not available (manageable" "a node in the wrong state"
refused "$TMP/wrong.ini" "cloud 'wrong': Keystone at $URL/v3 refused the login" "a Keystone refusing the login"
# Ironic takes the node and fails the deploy (its conductor cannot fetch
# the kernel): the error is Ironic's last_error, and the rollback
# undeploys the node and removes the files
site bm "$IRONIC_URL" n1 lab |
	sed "s|^conductor_url = .*|conductor_url = http://127.0.0.1:$(free_port)/netboot/bm|" >"$TMP/nofetch.ini"
refused "$TMP/nofetch.ini" "node n1 is in state 'deploy failed': .*vmlinuz" "a deploy that Ironic fails"
ironic_call GET /v1/nodes/n2
check_json "n2 is untouched" 'j["provision_state"] == "manageable" and not j["instance_uuid"] and j["instance_info"] == {}'
ironic_call GET /v1/nodes/n1
check_json "n1 is available and free" 'j["provision_state"] == "available" and not j["instance_uuid"]'
ironic_stop
refused "$TMP/sites.ini" "ironic at $IRONIC_URL: GET /v1/nodes/n2: cannot talk to" "an Ironic that does not answer"

test_done
