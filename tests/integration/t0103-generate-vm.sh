#!/bin/bash
# [scripts] isolation = vm: the recipe's scripts run in a qemu virtual
# machine booted from the image's own kernel, not on the host's kernel; a
# script failing there fails the build.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null || ! command -v qemu-system-x86_64 >/dev/null; then
	echo "ok 1 # SKIP needs root, mmdebstrap and qemu"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
cd "$TMP" || exit 1
cat >"$TMP/vm.sh" <<'SCRIPT'
#!/bin/sh
set -e
uname -r >/etc/rain-vm-kernel
cat /sys/class/dmi/id/sys_vendor >/etc/rain-vm-vendor
echo "made in the vm" >/root/vm-proof
SCRIPT
chmod +x "$TMP/vm.sh"
cat >"$TMP/vm.recipe" <<RECIPE
[image]
name = t0103-vm
distribution = debian
[scripts]
run = vm.sh
isolation = vm
[output]
formats = disk
RECIPE

start=$(date +%s)
"$RAIN" generate "$TMP/vm.recipe" -o "$TMP/vm" --cache "$CACHE" --json >"$TMP/vm.json" 2>"$TMP/vm.err"
rc=$?
echo "# build with scripts in a VM took $(( $(date +%s) - start )) s"
check_eq "a build with isolation = vm succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || tail -30 "$TMP/vm.err" | sed 's/^/#   /'
rd() { debugfs -R "cat $1" "$TMP/vm/t0103-vm.raw?offset=1048576" 2>/dev/null; }
kernel=$(debugfs -R "ls -p /lib/modules" "$TMP/vm/t0103-vm.raw?offset=1048576" 2>/dev/null | awk -F/ '$6 ~ /^[0-9]/ {print $6}' | head -n 1)
check_eq "the script ran on the image's kernel" "$kernel" "$(rd /etc/rain-vm-kernel)"
check "which is not the host's" test "$(rd /etc/rain-vm-kernel)" != "$(uname -r)"
check_eq "in a QEMU machine" QEMU "$(rd /etc/rain-vm-vendor)"
check_eq "what the script wrote is in the image" "made in the vm" "$(rd /root/vm-proof)"
check "the machine's init program is not left in the image" sh -c "! debugfs -R 'stat /usr/libexec/rain-vm-init' '$TMP/vm/t0103-vm.raw?offset=1048576' 2>&1 | grep -q 'Inode:'"
check "the manifest times the VM" python3 -c '
import json,sys; m=json.load(open(sys.argv[1])); assert m["timings"]["scripts_vm_s"] > 0' "$TMP/vm.json"

printf '#!/bin/sh\necho failing in the vm\nexit 4\n' >"$TMP/fail.sh"
chmod +x "$TMP/fail.sh"
sed 's/^run = vm.sh$/run = fail.sh/; s/^name = t0103-vm$/name = vmfail/' "$TMP/vm.recipe" >"$TMP/fail.recipe"
"$RAIN" generate "$TMP/fail.recipe" -o "$TMP/fail" --cache "$CACHE" >/dev/null 2>"$TMP/fail.err"
check "a script failing in the VM fails the build" test $? -ne 0
check "with its status" grep -q "a script failed in the virtual machine (exit status 4)" "$TMP/fail.err"
check "its output is in the log" grep -q "failing in the vm" "$TMP/fail/build.log"
check_eq "only the build log is left" build.log "$(ls -A "$TMP/fail")"

printf '[image]\ndistribution = debian\n[packages]\nkernel = no\n[scripts]\nrun = vm.sh\nisolation = vm\n[output]\nformats = tar\n' \
	>"$TMP/nokernel.recipe"
"$RAIN" generate "$TMP/nokernel.recipe" -o "$TMP/nokernel" --cache "$CACHE" 2>"$TMP/nokernel.err"
check "isolation = vm without a kernel is refused" grep -q "isolation = vm boots the image's own kernel" "$TMP/nokernel.err"
test_done
