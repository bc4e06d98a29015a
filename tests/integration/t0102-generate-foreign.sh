#!/bin/bash
# rain generate for a foreign architecture: an arm64 Debian tree built on
# this amd64 machine through qemu-user (binfmt_misc), and the formats that
# cannot be made for it refused up front.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null || [ ! -e /usr/lib/binfmt.d/qemu-aarch64.conf ] ||
	[ "$(dpkg --print-architecture)" != amd64 ]; then
	echo "ok 1 # SKIP needs root, mmdebstrap, qemu-user-static on amd64"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
cd "$TMP" || exit 1

"$RAIN" generate --os debian --arch arm64 --format disk -o "$TMP/disk" --cache "$CACHE" 2>"$TMP/disk.err"
check_eq "a bootable arm64 disk is refused (BIOS boot loader)" 1 $?
check "the error names the formats that work" grep -q "for arm64 use the tar, tar.zst, ext4, squashfs or dir formats" "$TMP/disk.err"
check "nothing was made for it" test ! -e "$TMP/disk"

start=$(date +%s)
"$RAIN" generate --os debian --arch arm64 --format tar --packages less --name a64 -o "$TMP/a64" \
	--cache "$CACHE" --json >"$TMP/a64.json" 2>"$TMP/a64.err"
rc=$?
echo "# arm64 build took $(( $(date +%s) - start )) s"
check_eq "an arm64 image builds on amd64" 0 "$rc"
[ "$rc" -eq 0 ] || tail -20 "$TMP/a64.err" | sed 's/^/#   /'
check_eq "the manifest says arm64" arm64 "$(json_get architecture <"$TMP/a64.json")"
check "its packages are arm64" python3 -c '
import json,sys; m=json.load(open(sys.argv[1]))
less=[p for p in m["packages"] if p["name"]=="less"]
assert less and less[0]["architecture"]=="arm64", less' "$TMP/a64.json"
# ELF e_machine at offset 18: 0xb7 is AArch64
check_eq "its programs are AArch64 ELF files" b7 \
	"$(tar -xOf "$TMP/a64/a64.tar" ./usr/bin/less | od -An -tx1 -j18 -N1 | tr -d ' ')"
check "qemu-aarch64 is registered with binfmt_misc" grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64
test_done
