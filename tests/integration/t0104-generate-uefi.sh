#!/bin/bash
# [output] firmware = uefi: GPT disks with an EFI system partition, made
# without loop mounts, booted by the real firmware to multi-user: amd64 with
# OVMF (and stored, with hw_firmware_type=uefi), arm64 with AAVMF under
# qemu-system-aarch64's software emulation; then the combinations refused.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null || ! command -v qemu-system-x86_64 >/dev/null ||
	! command -v sgdisk >/dev/null || ! command -v mcopy >/dev/null || [ ! -e /usr/share/OVMF/OVMF_CODE_4M.fd ]; then
	echo "ok 1 # SKIP needs root, mmdebstrap, qemu, gdisk, mtools and ovmf"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
cd "$TMP" || exit 1

# The machine type of the PE image at the removable-media path of disk $1's
# EFI system partition (which starts at 1 MiB), as hex.
pe_machine() {
	mcopy -n -i "$1@@1048576" "::/EFI/BOOT/$2" "$TMP/loader.efi" 2>/dev/null || return 1
	python3 -c '
import struct,sys; d=open(sys.argv[1],"rb").read()
assert d[:2]==b"MZ"; pe=struct.unpack_from("<I",d,0x3c)[0]; assert d[pe:pe+4]==b"PE\0\0"
print("%x" % struct.unpack_from("<H",d,pe+4)[0])' "$TMP/loader.efi"
}
# A file of the root partition (at 64 MiB) of disk $1.
root_cat() { debugfs -R "cat $2" "$1?offset=67108864" 2>/dev/null; }
# The boot in build log $1 mounted /boot/efi (before local-fs.target, so
# before multi-user, where the boot check stops).
efi_mount() { grep -a -q 'Mounted .*boot-efi.mount' "$1"; }
# sgdisk's line for partition $2 of disk $1: start, end, code.
part() { sgdisk -p "$1" | awk -v n="$2" '$1 == n { print $2, $3, $6 }'; }

cat >"$TMP/u64.recipe" <<RECIPE
[image]
name = t0104-uefi
distribution = debian
[output]
formats = disk, qcow2
firmware = uefi
[metadata]
os_distro = debian
RECIPE

raind_start || exit 1
start=$(date +%s)
"$RAIN" generate "$TMP/u64.recipe" -o "$TMP/u64" --cache "$CACHE" --boot-check --store >/dev/null 2>"$TMP/u64.err"
rc=$?
echo "# amd64 UEFI build + boot check + store took $(( $(date +%s) - start )) s"
check_eq "an amd64 UEFI disk builds, boots and is stored" 0 "$rc"
[ "$rc" -eq 0 ] || tail -30 "$TMP/u64.err" | sed 's/^/#   /'
M=$TMP/u64/manifest.json
D=$TMP/u64/t0104-uefi.raw
check_eq "the boot check passed" passed "$(json_get boot_check.result <"$M")"
check_eq "through UEFI firmware" uefi "$(json_get boot_check.firmware <"$M")"
echo "# amd64 UEFI boot check: $(json_get boot_check.seconds <"$M") s ($(json_get boot_check.accelerator <"$M"))"
check "OVMF started the disk's boot loader" grep -q 'BdsDxe: starting Boot.*HARDDISK' "$TMP/u64/build.log"
check "which was GRUB, which booted the kernel" sh -c "grep -a 'GNU GRUB' '$TMP/u64/build.log' >/dev/null && grep -a -q 'Linux version' '$TMP/u64/build.log'"
check "the booted system mounted its EFI system partition" efi_mount "$TMP/u64/build.log"
check_eq "partition 1 is the EFI system partition, 1 MiB to 64 MiB" "2048 131071 EF00" "$(part "$D" 1)"
check_eq "partition 2 is the x86-64 root, from 64 MiB" "131072 4325375 8304" "$(part "$D" 2)"
check "the GPT verifies" sh -c "sgdisk -v '$D' | grep -q 'No problems found'"
check_eq "the ESP is FAT32" vfat "$(blkid -p -O 1048576 -s TYPE -o value "$D")"
check_eq "BOOTX64.EFI is an x86-64 PE image" 8664 "$(pe_machine "$D" BOOTX64.EFI)"
check "the image's fstab mounts the ESP by its volume id" \
	grep -q "^UUID=$(blkid -p -O 1048576 -s UUID -o value "$D") /boot/efi vfat" <(root_cat "$D" /etc/fstab)
check "grub.cfg boots the kernel's link with the serial console" \
	grep -q 'linux /vmlinuz root=UUID=.* console=ttyS0' <(root_cat "$D" /boot/grub/grub.cfg)
check "rain vet reads the disk's tree from its root partition, not the ESP" \
	grep -q 'gpt partition 2 at byte 67108864 (ext4)' <("$RAIN" vet "$D" 2>&1)
check "the image keeps the GRUB it was made from" python3 -c '
import json,sys; m=json.load(open(sys.argv[1]))
assert any(p["name"] == "grub-efi-amd64-bin" for p in m["packages"])' "$M"
BODY=$(api GET '/v2/images?name=t0104-uefi' | head -n 1)
check_eq "the stored image says hw_firmware_type=uefi" uefi "$(json_get images.0.hw_firmware_type <<<"$BODY")"
check_eq "and its architecture" x86_64 "$(json_get images.0.architecture <<<"$BODY")"
stored_recipe=$(json_get images.0.rain_recipe <<<"$BODY")
check "its stored recipe keeps firmware = uefi" grep -q '^firmware = uefi$' <<<"$stored_recipe"

if command -v qemu-system-aarch64 >/dev/null && [ -e /usr/share/AAVMF/AAVMF_CODE.fd ] &&
	[ -e /usr/lib/binfmt.d/qemu-aarch64.conf ] && [ "$(dpkg --print-architecture)" = amd64 ]; then
	start=$(date +%s)
	"$RAIN" generate --os debian --arch arm64 --firmware uefi --format disk --name t0104-a64 --boot-check \
		-o "$TMP/a64" --cache "$CACHE" --json >"$TMP/a64.json" 2>"$TMP/a64.err"
	rc=$?
	echo "# arm64 UEFI build + boot check under emulation took $(( $(date +%s) - start )) s"
	check_eq "an arm64 UEFI disk builds and boots under software emulation" 0 "$rc"
	[ "$rc" -eq 0 ] || tail -30 "$TMP/a64.err" | sed 's/^/#   /'
	A=$TMP/a64/t0104-a64.raw
	check_eq "the arm64 boot check passed" passed "$(json_get boot_check.result <"$TMP/a64.json")"
	check_eq "on qemu-system-aarch64" qemu-system-aarch64 "$(json_get boot_check.machine <"$TMP/a64.json")"
	echo "# arm64 UEFI boot check: $(json_get boot_check.seconds <"$TMP/a64.json") s ($(json_get boot_check.accelerator <"$TMP/a64.json"))"
	check "AAVMF ran the disk's GRUB, which started the kernel's EFI stub" \
		sh -c "grep -a -q 'GNU GRUB' '$TMP/a64/build.log' && grep -a -q 'EFI stub: Booting Linux Kernel' '$TMP/a64/build.log'"
	check_eq "BOOTAA64.EFI is an AArch64 PE image" aa64 "$(pe_machine "$A" BOOTAA64.EFI)"
	check_eq "partition 2 is the AArch64 root" "131072 4325375 8305" "$(part "$A" 2)"
	check "the arm64 kernel's console is the PL011" \
		grep -q 'console=ttyAMA0' <(root_cat "$A" /boot/grub/grub.cfg)
	check "the booted system mounted its EFI system partition" efi_mount "$TMP/a64/build.log"
else
	skip "arm64 UEFI disk" "needs qemu-system-aarch64, qemu-efi-aarch64 and qemu-user-static on amd64"
fi

# combinations without firmware: refused before anything is built
refused() {
	local what=$1 want=$2; shift 2
	"$RAIN" generate "$@" -o "$TMP/refused" --cache "$CACHE" >/dev/null 2>"$TMP/refused.err"
	check "$what" sh -c "[ \$1 -ne 0 ] && grep -q -- \"\$2\" '$TMP/refused.err'" _ $? "$want"
	[ ! -e "$TMP/refused" ] || { not_ok "$what: nothing is made"; rm -rf "$TMP/refused"; }
}
refused "a BIOS arm64 disk is refused, saying firmware = uefi" "set firmware = uefi, or for arm64 use the tar" \
	--os debian --arch arm64 --format disk
refused "UEFI riscv64 is refused: no firmware known" "no UEFI firmware is known for riscv64 images" \
	--os debian --arch riscv64 --firmware uefi
refused "UEFI i386 is refused" "no UEFI firmware is known for i386" --os debian --arch i386 --firmware uefi
refused "firmware = uefi without a bootable format is refused" "is how the disk and qcow2 formats boot" \
	--os debian --firmware uefi --format tar
refused "an unknown firmware is refused" "firmware: say bios" --os debian --firmware efi
refused "UEFI is refused for RPM distributions so far" "made for Debian and Ubuntu images so far" \
	--os rocky --firmware uefi
# the firmware is looked for before the build, not after it
unshare -m sh -c 'mount -t tmpfs none /usr/share/OVMF && exec "$@"' _ "$RAIN" generate "$TMP/u64.recipe" \
	--boot-check -o "$TMP/refused" --cache "$CACHE" >/dev/null 2>"$TMP/refused.err"
check "a UEFI boot check without OVMF is refused up front, naming the package" grep -q \
	"boots the firmware /usr/share/OVMF/OVMF_CODE_4M.fd, which is not here: install ovmf" "$TMP/refused.err"
check "before anything was built" test ! -e "$TMP/refused/t0104-uefi.raw"
rm -rf "$TMP/refused"
"$RAIN" generate "$TMP/u64.recipe" --firmware bios -o "$TMP/refused" --cache "$CACHE" >/dev/null 2>"$TMP/refused.err"
check "--firmware is for the --os shortcut only" grep -q "give a recipe file, or --os with its options" "$TMP/refused.err"
test_done
