#!/bin/bash
# Adaptation (rain/adapt.h, issue 12 item 2) of a real rain-built bookworm
# disk with openssh-server: the copy is sysprepped (machine-id empty, no
# host keys), labelled rain-root with /etc/fstab by label, has rain's
# first-boot unit and a serial getty, passes e2fsck, names the kernel the
# image boots; the stored disk is byte-identical afterwards. Then the
# adapted raw disk BOOTS under qemu with a NoCloud seed (an ext4 disk
# labelled cidata): the first-boot unit prints the given key and the
# seed's on the serial console (the kernel's console is the serial one)
# and sets the seed's hostname; after the boot root's authorized_keys
# holds both keys and new host keys were made. qcow2 output is checked by qemu-img.
# Driven by tests/tools/adapt (rain_adapt with the options on its command
# line) until `rain target publish` runs adaptation for a site.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null || ! command -v qemu-system-x86_64 >/dev/null; then
	echo "ok 1 # SKIP needs root, mmdebstrap and qemu"
	test_done
fi
ADAPT=$BUILD/tests/tools/adapt
cd "$TMP" || exit 1
ssh_recipe t0150-adapt "$TMP/ssh.recipe"
build_disk "$TMP/ssh.recipe" "$TMP/ssh" "the bookworm disk with openssh-server"
before=$IMG_SHA
kver=$(disk_kernel "$IMG")

ssh-keygen -q -t ed25519 -N '' -C given@t0150 -f "$TMP/given"
ssh-keygen -q -t ed25519 -N '' -C seed@t0150 -f "$TMP/seed"
mkdir -p "$TMP/work" "$TMP/cidata"
chmod 0700 "$TMP/work"
start=$(date +%s)
"$ADAPT" --context firstboot --ssh-key "$TMP/given.pub" --boot-files --module virtio_blk \
	--module virtio_net --kernels '6.1.0-*' "$IMG" raw "$TMP/work" >"$TMP/art.json" 2>"$TMP/adapt.err"
rc=$?
echo "# adaptation took $(($(date +%s) - start)) s"
check_eq "adaptation succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -20 "$TMP/adapt.err" | sed 's/^/#   /'; test_done; }
sed 's/^/#   /' "$TMP/adapt.err" | grep -v progress
check_eq "the stored disk is byte-identical" "$before" "$(sha256sum <"$IMG")"
DISK=$(json_get disk <"$TMP/art.json")
check_eq "the kernel is the one in the image's /boot" "$kver" "$(json_get kernel_version <"$TMP/art.json")"
check "the command line has the serial console" grep -q '"cmdline": ".*console=ttyS0,115200' "$TMP/art.json"
check_eq "the hash is the adapted disk's" "$(sha256sum "$DISK" | cut -d' ' -f1)" \
	"$(json_get disk_sha256 <"$TMP/art.json")"
check_eq "the kernel copied out is the image's" \
	"$(debugfs -R "cat /boot/vmlinuz-$kver" "$IMG?offset=1048576" 2>/dev/null | sha256sum)" \
	"$(sha256sum <"$TMP/work/kernel")"
check "e2fsck finds the adapted file system clean" e2fsck -fn "$DISK?offset=1048576"
dbg() { debugfs -R "$1" "$DISK?offset=1048576" 2>/dev/null; }
check_eq "the root is labelled rain-root" "rain-root" \
	"$(dumpe2fs -h "$DISK?offset=1048576" 2>/dev/null | sed -n 's/^Filesystem volume name: *//p')"
check "/etc/fstab mounts / by label" bash -c '[[ "$(debugfs -R "cat /etc/fstab" "$1?offset=1048576" 2>/dev/null)" == "LABEL=rain-root / "* ]]' _ "$DISK"
check_eq "/etc/machine-id is empty" "" "$(dbg 'cat /etc/machine-id')"
check_eq "no SSH host key is left" "" "$(dbg 'ls /etc/ssh' | tr -s ' \t' '\n' | grep ssh_host_)"
check "rain's first-boot unit is enabled" bash -c 'debugfs -R "stat /etc/systemd/system/multi-user.target.wants/rain-firstboot.service" "$1?offset=1048576" 2>/dev/null | grep -q "Fast link dest: \"/etc/systemd/system/rain-firstboot.service\""' _ "$DISK"

# a qcow2 of the same, from the same stored disk
mkdir -m 0700 "$TMP/work2"
"$ADAPT" --context cloud-init --format qcow2 "$IMG" raw "$TMP/work2" >"$TMP/art2.json" 2>"$TMP/adapt2.err"
check_eq "qcow2 output is a qcow2 qemu-img checks clean" "qcow2 0" \
	"$(qemu-img info --output=json "$TMP/work2/disk.qcow2" | json_get format) $(qemu-img check -q "$TMP/work2/disk.qcow2"; echo $?)"
check_eq "a kernel outside the allow-list is refused" 1 \
	"$("$ADAPT" --kernels '5.10.*' "$IMG" raw "$TMP/work2" >/dev/null 2>"$TMP/k.err"; echo $?)"
check "... saying which" grep -q "kernel $kver is not allowed" "$TMP/k.err"
check_eq "the stored disk is still byte-identical" "$before" "$(sha256sum <"$IMG")"
rm -rf "$TMP/work2"

# the NoCloud seed: another key and a hostname
printf 'instance-id: t0150\nlocal-hostname: t0150-adapted\n' >"$TMP/cidata/meta-data"
printf '#cloud-config\nssh_authorized_keys:\n  - %s\n' "$(cat "$TMP/seed.pub")" >"$TMP/cidata/user-data"
mke2fs -q -t ext4 -L cidata -d "$TMP/cidata" "$TMP/seed.img" 8M

# KVM when it really runs a guest here (a nested machine's /dev/kvm may
# open and run nothing): the image's kernel must print within 10 s
accel=(-accel tcg)
if [ -r /dev/kvm ] && [ -w /dev/kvm ] &&
	timeout 10 qemu-system-x86_64 -accel kvm -m 256 -display none -monitor none -serial stdio -nic none \
		-no-reboot -kernel "$TMP/work/kernel" -append "console=ttyS0 panic=-1" 2>/dev/null | grep -q .; then
	accel=(-accel kvm)
fi
echo "# booting with ${accel[1]}"
start=$(date +%s)
qemu-system-x86_64 "${accel[@]}" -m 1024 -smp 2 -display none -monitor none \
	-serial "file:$TMP/console.log" -no-reboot -nic none \
	-drive "file=$DISK,format=raw,if=virtio" -drive "file=$TMP/seed.img,format=raw,if=virtio,readonly=on" &
QEMU=$!
# the first-boot unit's last line, printed from inside the booted image
for _ in $(seq 1 300); do
	grep -q 'rain-firstboot: done' "$TMP/console.log" 2>/dev/null && break
	kill -0 "$QEMU" 2>/dev/null || break
	sleep 1
done
echo "# boot to rain-firstboot's end took $(($(date +%s) - start)) s"
check "the adapted disk boots: rain-firstboot ends on the serial console" \
	grep -q 'rain-firstboot: done' "$TMP/console.log"
check "the first-boot unit installed the given key and the seed's" \
	test "$(grep -c 'rain-firstboot: key ssh-ed25519 for root' "$TMP/console.log")" -eq 2
check "... and set the seed's hostname" grep -q 'rain-firstboot: hostname t0150-adapted' "$TMP/console.log"
grep -q 'rain-firstboot: done' "$TMP/console.log" || tail -40 "$TMP/console.log" | sed 's/^/#   /'
# sshd starts after its new host keys are made (ssh-keygen -A is slow
# under emulation); then let ext4 commit what the boot wrote (every 5 s),
# stop the machine and replay its journal on the copy
for _ in $(seq 1 120); do
	grep -aq 'Started .*ssh.service' "$TMP/console.log" 2>/dev/null && break
	kill -0 "$QEMU" 2>/dev/null || break
	sleep 1
done
sleep 6
kill "$QEMU" 2>/dev/null
wait "$QEMU" 2>/dev/null
e2fsck -fy "$DISK?offset=1048576" >/dev/null 2>&1
check_eq "/etc/hostname is the seed's" "t0150-adapted" "$(dbg 'cat /etc/hostname')"
keys=$(dbg 'cat /root/.ssh/authorized_keys')
check "root's authorized_keys holds the given key" grep -qF "$(cut -d' ' -f1-2 "$TMP/given.pub")" <<<"$keys"
check "... and the seed's" grep -qF "$(cut -d' ' -f1-2 "$TMP/seed.pub")" <<<"$keys"
check "new SSH host keys were made at boot" bash -c '[ -n "$(debugfs -R "ls /etc/ssh" "$1?offset=1048576" 2>/dev/null | tr -s " \t" "\n" | grep ssh_host_ed25519_key)" ]' _ "$DISK"
check_eq "the stored disk is byte-identical after all" "$before" "$(sha256sum <"$IMG")"
test_done
