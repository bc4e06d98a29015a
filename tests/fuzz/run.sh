#!/bin/bash
# Build the libFuzzer harnesses in tests/fuzz and run each for a bounded
# time.  Usage: tests/fuzz/run.sh [BUILD_DIR]   (default: build-fuzz)
# Environment: FUZZ_SECONDS per harness (default 30; the disk-format
# harnesses but fuzz-qcow2 take at most 20), FUZZ_JOBS harnesses at once
# (default: one per core), CC (default clang).
# Exits non-zero when a harness fails to build or finds a crash; crash
# artifacts and logs go to BUILD_DIR, never into the source tree.
set -u -o pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
root=$PWD
builddir=${1:-build-fuzz}
case $builddir in
/*) ;;
*) builddir=$root/$builddir ;;
esac
seconds=${FUZZ_SECONDS:-30}
short=$((seconds < 20 ? seconds : 20))
cc=${CC:-clang}
cflags=(-g -O1 "-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=undefined
	-D_GNU_SOURCE -std=gnu11 -Wall -Wextra -Wno-unused-parameter
	-Iinclude -Isrc)
common=(src/util/error.c src/util/strutil.c)

mkdir -p "$builddir" || exit 2

# the vulnerability feed: its sources and libraries, for each feed harness
vet_feed="src/lib/vet/feed.c src/lib/vet/feed-tracker.c src/lib/vet/feed-osv.c src/lib/vet/feed-mirror.c"
vet_feed+=" src/lib/vet/fetch.c src/lib/vet/pkg.c src/util/fsutil.c src/util/timeutil.c src/util/process.c"
vet_libs="-ljansson -larchive -lcurl -lcrypto -lrpm -lrpmio"

# name:sources:libs:seconds
harnesses=(
	"fuzz-qcow2:src/lib/repo/diskfmt.c::$seconds"
	"fuzz-vmdk:src/lib/repo/diskfmt.c::$short"
	"fuzz-vhd:src/lib/repo/diskfmt.c::$short"
	"fuzz-vhdx:src/lib/repo/diskfmt.c::$short"
	"fuzz-vdi:src/lib/repo/diskfmt.c::$short"
	"fuzz-iso:src/lib/repo/diskfmt.c::$short"
	"fuzz-ploop:src/lib/repo/diskfmt.c::$short"
	"fuzz-jsonpatch:src/lib/repo/jsonpatch.c:-ljansson:$seconds"
	"fuzz-vet-runtime:src/lib/vet/runtime-parse.c:-ljansson:$short"
	"fuzz-shellwords:src/util/shellwords.c::$short"
	"fuzz-jsonw:src/util/jsonw.c:-ljansson:$short"
	"fuzz-html:src/util/html.c::$short"
	"fuzz-import-url:src/daemon/import-url.c src/util/netaddr.c:-lcurl:$short"
	"fuzz-objstore-uri:src/lib/repo/backends/objstore.c src/util/ini.c src/util/fsutil.c src/util/base64.c:-lcurl -lcrypto -Isrc/lib:$short"
	"fuzz-recipe:src/lib/build/recipe.c src/lib/repo/image.c src/util/jsonw.c src/util/ini.c src/util/fsutil.c src/util/timeutil.c:-ljansson -lcrypto:$seconds"
	"fuzz-keyring:src/lib/build/keyring.c src/lib/build/recipe.c src/lib/repo/image.c src/util/jsonw.c src/util/ini.c src/util/fsutil.c src/util/timeutil.c:-lrpm -lrpmio -ljansson -lcrypto:$short"
	"fuzz-vet-parse:src/lib/vet/vet-parse.c::$seconds"
	"fuzz-adapt-boot:src/lib/target/adapt-boot.c::$short"
	"fuzz-netboot-modules:src/lib/target/netboot-modules.c::$short"
	"fuzz-netboot-run:src/lib/target/netboot-run.c src/util/base64.c:-lcrypto:$short"
	"fuzz-qga:src/lib/provision/qga.c src/util/base64.c:-ljansson -lcrypto:$short"
	"fuzz-libvirt-xml:src/lib/target/drivers/libvirt-xml.c:-lxml2 -larchive -I/usr/include/libxml2:$short"
	"fuzz-libvirt-instance:src/lib/target/drivers/libvirt-xml.c:-lxml2 -larchive -I/usr/include/libxml2:$short"
	"fuzz-opennebula:src/lib/target/drivers/opennebula-xmlrpc.c:-lxml2 -I/usr/include/libxml2:$short"
	"fuzz-dpkg-status:src/lib/vet/pkg.c:-lrpm -lrpmio:$short"
	"fuzz-vercmp:src/lib/vet/pkg.c:-lrpm -lrpmio:$short"
	"fuzz-rpmdb:src/lib/vet/pkg-rpmdb.c src/lib/vet/pkg.c:-lrpm -lrpmio -lsqlite3:$short"
	"fuzz-vet-tracker:$vet_feed:$vet_libs:$short"
	"fuzz-vet-osv:$vet_feed:$vet_libs:$short"
	"fuzz-vet-changelog:$vet_feed:$vet_libs:$short"
	"fuzz-vet-feed-file:$vet_feed:$vet_libs:$short"
	"fuzz-clouds-yaml:src/lib/client/clouds.c src/lib/client/client.c src/lib/client/identity.c src/util/fsutil.c src/util/uuid.c:-lyaml -ljansson -lcurl -lcrypto:$short"
)
# the image readers (rain/imgfs.h), one harness per format
imgfs_srcs="src/lib/imgfs/imgfs.c $(echo src/lib/imgfs/readers/*.c) src/lib/repo/diskfmt.c"
imgfs_libs="-larchive -lext2fs -lcom_err -lsquashfs -lz -lzstd"
for f in tar ext4 squashfs disk qcow2; do
	harnesses+=("fuzz-imgfs-$f:$imgfs_srcs:$imgfs_libs:$short")
done
# vetting's rules over a whole (tar) image
vet_srcs=$(printf '%s\n' src/lib/vet/vet.c src/lib/vet/vet-walk.c src/lib/vet/rules-*.c src/lib/vet/policy.c \
	src/lib/vet/report.c src/lib/vet/vet-map.c src/lib/vet/vet-parse.c src/lib/vet/pkg-rpmdb.c \
	$vet_feed $imgfs_srcs src/util/base64.c | sort -u | tr '\n' ' ')
harnesses+=("fuzz-vet-tar:$vet_srcs:$vet_libs $imgfs_libs -lsqlite3 -lpthread:$seconds")

# --- seed corpora, regenerated in the build dir on every run -------------

# write_hex FILE HEX...: write the bytes given as hex pairs
write_hex() {
	local f=$1
	shift
	printf '%s' "$*" | tr -d ' \n' | xxd -r -p >"$f"
}

be32() { printf '%08x' "$1"; }
be64() { printf '%016x' "$1"; }
zeros() { printf '%0*d' $(($1 * 2)) 0; }

# qcow2_header VERSION CLUSTER_BITS SIZE BACKING_OFF INCOMPAT: hex of a header
qcow2_header() {
	local v=$1 cb=$2 size=$3 boff=$4 incompat=$5
	printf '514649fb%s%s%s%s%s' "$(be32 "$v")" "$(be64 "$boff")" "$(be32 0)" \
		"$(be32 "$cb")" "$(be64 "$size")"
	# crypt_method l1_size l1_table_offset refcount_table_offset
	# refcount_table_clusters nb_snapshots snapshots_offset
	printf '%s%s%s%s%s%s%s' "$(be32 0)" "$(be32 1)" "$(be64 $((3 << cb)))" \
		"$(be64 $((1 << cb)))" "$(be32 1)" "$(be32 0)" "$(be64 0)"
	if [ "$v" = 3 ]; then
		# incompatible compatible autoclear refcount_order header_length
		printf '%s%s%s%s%s%s' "$(be64 "$incompat")" "$(be64 0)" "$(be64 0)" \
			"$(be32 4)" "$(be32 112)" "$(zeros 8)"
	fi
}

# ext TYPE STRING: hex of a header extension, padded to 8
ext() {
	local data len pad
	data=$(printf '%s' "$2" | xxd -p | tr -d '\n')
	len=${#2}
	pad=$(((8 - len % 8) % 8))
	printf '%s%s%s%s' "$(be32 "$1")" "$(be32 "$len")" "$data" "$(zeros "$pad")"
}

seed_qcow2() {
	local d=$1
	write_hex "$d/v2" "$(qcow2_header 2 16 $((1 << 30)) 0 0)" "$(zeros 8)"
	write_hex "$d/v3" "$(qcow2_header 3 16 $((3 << 30)) 0 0)" \
		"$(ext $((0xe2792aca)) qcow2)" "$(zeros 8)"
	write_hex "$d/v3-small-cluster" "$(qcow2_header 3 9 4096 0 0)" "$(zeros 8)"
	write_hex "$d/v3-backing" "$(qcow2_header 3 16 $((1 << 30)) 120 0)" \
		"$(zeros 8)" "$(printf '/etc/passwd' | xxd -p)"
	write_hex "$d/v3-datafile-bit" "$(qcow2_header 3 16 $((1 << 30)) 0 4)" \
		"$(ext $((0x44415441)) /tmp/d.raw)" "$(zeros 8)"
	write_hex "$d/v3-datafile-ext" "$(qcow2_header 3 16 $((1 << 30)) 0 0)" \
		"$(ext $((0x6803f857)) 'dirty bit')" "$(ext $((0x44415441)) x)" "$(zeros 8)"
	write_hex "$d/vmdk" "$(printf KDMV | xxd -p)" "$(zeros 60)"
	printf '# Disk DescriptorFile\nversion=1\nRW 2048 FLAT "x" 0\n' >"$d/vmdk-desc"
	write_hex "$d/vhdx" "$(printf vhdxfile | xxd -p)" "$(zeros 56)"
	write_hex "$d/vdi" "$(zeros 64)" 7f10dabe "$(zeros 60)"
	write_hex "$d/raw" "$(zeros 512)"
}

# seed_image DIR NAME FILE: a disk image as two seeds of the disk-format
# harnesses: its first 64 KiB as they are, and the whole of it in their
# sparse form (fuzz-diskfmt.h: size, then offset/length/bytes segments of
# its non-zero 512-byte blocks)
seed_image() {
	[ -f "$3" ] || return 0
	head -c 65536 "$3" >"$1/$2"
	python3 - "$3" "$1/$2.sparse" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
out = bytearray(struct.pack("<Q", len(d)))
segs = []
for i in range(0, min(len(d), 1 << 32), 512):
    blk = d[i:i + 512]
    if not blk.strip(b"\0"):
        continue
    if segs and segs[-1][0] + len(segs[-1][1]) == i and len(segs[-1][1]) + len(blk) <= 65535:
        segs[-1][1].extend(blk)
    else:
        segs.append([i, bytearray(blk)])
for off, blk in segs:
    if len(out) + 6 + len(blk) > 65536:
        break
    out += struct.pack("<IH", off, len(blk)) + blk
open(sys.argv[2], "wb").write(out)
PY
}

# seed_disk DIR FORMAT: seeds for the harness of one disk format, made by
# qemu-img where it is installed (each image also with data, converted)
seed_disk() {
	local d=$1 fmt=$2 w=$1/work
	mkdir -p "$w"
	head -c 4096 /dev/urandom >"$w/data.raw"
	truncate -s 3M "$w/data.raw"
	qimg() { command -v qemu-img >/dev/null && qemu-img "$@" >/dev/null 2>&1; }
	case $fmt in
	qcow2)
		seed_qcow2 "$d"
		qimg create -f qcow2 -o compat=0.10 "$w/v2" 1G && seed_image "$d" v2-qemu "$w/v2"
		qimg create -f qcow2 "$w/v3" 1G && seed_image "$d" v3-qemu "$w/v3"
		qimg convert -O qcow2 -o cluster_size=2M,extended_l2=on "$w/data.raw" "$w/l2" &&
			seed_image "$d" extl2 "$w/l2"
		qimg create -f qcow2 -b "$w/v3" -F qcow2 "$w/ov" && seed_image "$d" overlay "$w/ov"
		qimg create -f qcow2 -o data_file="$w/ext.raw" "$w/df" 1M && seed_image "$d" datafile "$w/df"
		;;
	vmdk)
		printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 2048 FLAT "/etc/passwd" 0\n' >"$d/passwd"
		for sub in monolithicSparse streamOptimized; do
			qimg convert -O vmdk -o subformat=$sub "$w/data.raw" "$w/$sub" && seed_image "$d" "$sub" "$w/$sub"
		done
		qimg create -f vmdk -o subformat=monolithicFlat "$w/flat" 1M && seed_image "$d" flat "$w/flat"
		qimg create -f vmdk -b "$w/monolithicSparse" -F vmdk "$w/delta" && seed_image "$d" delta "$w/delta"
		;;
	vhd)
		for sub in dynamic fixed; do
			qimg convert -O vpc -o subformat=$sub "$w/data.raw" "$w/$sub" && seed_image "$d" "$sub" "$w/$sub"
		done
		;;
	vhdx)
		for sub in dynamic fixed; do
			qimg convert -O vhdx -o subformat=$sub "$w/data.raw" "$w/$sub" && seed_image "$d" "$sub" "$w/$sub"
		done
		;;
	vdi)
		for st in off on; do
			qimg convert -O vdi -o static=$st "$w/data.raw" "$w/vdi-$st" && seed_image "$d" "static-$st" "$w/vdi-$st"
		done
		;;
	ploop)
		qimg convert -O parallels "$w/data.raw" "$w/p" && seed_image "$d" parallels "$w/p"
		;;
	iso)
		python3 - "$w/iso" <<'PY'
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
		seed_image "$d" hybrid "$w/iso"
		;;
	esac
	rm -rf "$w"
}

# seed_vet DIR: one seed per parser of fuzz-vet-parse (first byte: which),
# from the host's own files where they are (no secrets: shadow is a
# sample), else small samples
seed_vet() {
	local d=$1 i=0 f
	printf 'root::19000:0:99999:7:::\nalice:$y$j9T$salt$hash:19000::::::\nbin:*:1::::::\n' >"$d/shadow.sample"
	for f in /etc/passwd "$d/shadow.sample" /etc/ssh/sshd_config /var/lib/dpkg/info/dpkg.md5sums \
		/var/lib/dpkg/info/dpkg.list /etc/inetd.conf /var/lib/dpkg/status \
		/var/lib/dpkg/diversions /etc/dpkg/dpkg.cfg /etc/os-release; do
		{
			printf "\\$(printf '%03o' "$i")"
			if [ -r "$f" ]; then head -c 60000 "$f"; else printf 'root:x:0:0::/root:/bin/sh\n'; fi
		} >"$d/$i"
		i=$((i + 1))
	done
	{
		printf '\012'
		printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOx a@b\n'
		printf 'no-pty,command="x y" ssh-rsa AAAAB3NzaC1yc2E= c\n'
		printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n'
	} >"$d/keys"
	rm -f "$d/shadow.sample"
}

# seed_adapt_boot DIR: boot loader configurations (first byte: 0 grub,
# 1 extlinux, 2 /etc/default/grub) and module lists
seed_adapt_boot() {
	local d=$1
	printf '\000set default=0\nmenuentry x {\n  search --set=root x\n  linux /vmlinuz root=UUID=x ro console=tty0\n  initrd /initrd.img\n}\n' >"$d/grub"
	printf '\000menuentry a {\n\tlinux\t(hd0,msdos1)/boot/vmlinuz-6.1.0-28-amd64 root=PARTUUID=y ro console=ttyS0,115200\n\tinitrd\t/boot/initrd.img-6.1.0-28-amd64\n}\nsubmenu b {\n menuentry c {\n  linux16 /boot/vmlinuz-6.1.0-27-amd64\n }\n}' >"$d/grub-debian"
	printf '\001DEFAULT b\nLABEL a\n  LINUX /a\nLABEL b\n  KERNEL ../vmlinuz\n  INITRD initrd.img\n  APPEND root=/dev/sda1 ro\n' >"$d/extlinux"
	printf '\001linux /vmlinuz\ninitrd /initrd.img' >"$d/extlinux-global"
	printf '\001LABEL x\nLINUX /v\nAPPEND initrd=/i,/j console=ttyS0 quiet\n' >"$d/extlinux-initrd"
	printf '\002GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=tty0 net.ifnames=0"\n' >"$d/default-grub"
	printf '\000kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko\nkernel/fs/overlayfs/overlay.ko.zst:\n' >"$d/modules"
}

# seed_netboot_run DIR: a site's run settings (first byte: 0 a power
# program, 1 an ssh setting, 2 a public key line)
seed_netboot_run() {
	local d=$1
	printf '\000ipmitool -H %%n-bmc -P "a b" chassis power on --mac=%%m 100%%%%' >"$d/power"
	printf "\000'' x %%q 'open" >"$d/power-bad"
	printf '\001n1=127.0.0.1:2201, node-2=[::1]:2202' >"$d/ssh"
	printf '\001node-2=h:0 node-2=-oProxyCommand=x' >"$d/ssh-bad"
	printf '\002ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQ0rf+/n0d2Hd4gKkEBL0dEv7yvQq2f9sFhJ8Q8+w7v rain-run-1' >"$d/key"
}

# seed_qga DIR: qemu-ga replies as qemu-ga 7.2 gives them
seed_qga() {
	local d=$1
	printf '{"return": {}}' >"$d/ping"
	printf '{"return": {"pid": 1234}}' >"$d/exec"
	printf '{"return": {"exitcode": 3, "out-data": "aGVsbG8K", "err-data": "b29wcwo=", "exited": true}}' >"$d/status"
	printf '{"return": {"signal": 9, "exited": true, "out-truncated": true}}' >"$d/signal"
	printf '{"return": 1000}' >"$d/open"
	printf '{"return": {"count": 3, "buf-b64": "YQBi", "eof": false}}' >"$d/read"
	printf '{"error": {"class": "GenericError", "desc": "Guest agent command failed"}}' >"$d/error"
}

seed_opennebula() {
	local d=$1
	printf '<?xml version="1.0"?><methodResponse><params><param><value><array><data><value><boolean>1</boolean></value><value><string>&lt;IMAGE&gt;&lt;ID&gt;7&lt;/ID&gt;&lt;NAME&gt;rain-x-image&lt;/NAME&gt;&lt;STATE&gt;1&lt;/STATE&gt;&lt;/IMAGE&gt;</string></value><value><i4>0</i4></value></data></array></value></param></params></methodResponse>' >"$d/info"
	printf '<?xml version="1.0"?><methodResponse><params><param><value><array><data><value><boolean>0</boolean></value><value>[one.image.allocate] User couldn'"'"'t be authenticated</value><value><i4>256</i4></value></data></array></value></param></params></methodResponse>' >"$d/fault"
	printf '<IMAGE_POOL><IMAGE><ID>3</ID><NAME>rain-x-image</NAME></IMAGE><IMAGE><ID>4</ID><NAME>y</NAME></IMAGE></IMAGE_POOL>' >"$d/pool"
}

# seed_imgfs DIR FORMAT: small real images of one format, made from a tiny
# tree (a file, a setuid one, a hard link, links in and out, a folder)
seed_imgfs() {
	local d=$1 fmt=$2 w=$1/work t=$1/work/tree
	mkdir -p "$t/etc" "$t/usr/lib" "$t/usr/bin"
	printf 'root:x:0:0::/root:/bin/sh\n' >"$t/etc/passwd"
	printf 'ID=debian\n' >"$t/usr/lib/os-release"
	ln -s ../usr/lib/os-release "$t/etc/os-release"
	ln -s ../../../../etc/hostname "$t/escape"
	ln -s loop "$t/loop"
	head -c 3000 /dev/urandom >"$t/usr/bin/su" && chmod 4755 "$t/usr/bin/su"
	ln "$t/usr/bin/su" "$t/usr/bin/su2"
	case $fmt in
	tar)
		tar -C "$t" -cf "$d/plain.tar" .
		tar -C "$t" --zstd -cf "$d/t.tar.zst" .
		tar -C "$t" --gzip -cf "$d/t.tar.gz" .
		;;
	squashfs)
		mksquashfs "$t" "$d/t.sqfs" -noappend -quiet -no-progress >/dev/null 2>&1
		mksquashfs "$t" "$d/t-xz.sqfs" -noappend -quiet -no-progress -comp xz >/dev/null 2>&1
		;;
	ext4)
		mkfs.ext4 -q -F -b 1024 -N 32 -d "$t" "$w/e.ext4" 256K >/dev/null 2>&1 && seed_image "$d" ext4 "$w/e.ext4"
		mkfs.ext2 -q -F -b 1024 -N 32 -d "$t" "$w/e.ext2" 256K >/dev/null 2>&1 && seed_image "$d" ext2 "$w/e.ext2"
		;;
	disk | qcow2)
		mkfs.ext4 -q -F -b 1024 -N 32 -d "$t" "$w/e.ext4" 256K >/dev/null 2>&1
		truncate -s 2M "$w/disk" "$w/mbr"
		printf 'label: gpt\nstart=2048, size=512, type=L\n' | sfdisk -q "$w/disk" >/dev/null 2>&1
		printf 'label: dos\nstart=2048, size=512, type=83\n' | sfdisk -q "$w/mbr" >/dev/null 2>&1
		dd if="$w/e.ext4" of="$w/disk" bs=512 seek=2048 conv=notrunc status=none
		dd if="$w/e.ext4" of="$w/mbr" bs=512 seek=2048 conv=notrunc status=none
		if [ "$fmt" = disk ]; then
			seed_image "$d" gpt "$w/disk"
			seed_image "$d" mbr "$w/mbr"
		elif command -v qemu-img >/dev/null; then
			qemu-img convert -O qcow2 "$w/disk" "$w/q" && seed_image "$d" qcow2 "$w/q"
			qemu-img convert -c -O qcow2 -o cluster_size=4k "$w/mbr" "$w/qc" && seed_image "$d" qcow2-c "$w/qc"
			qemu-img convert -O qcow2 "$w/e.ext4" "$w/qe" && seed_image "$d" qcow2-ext4 "$w/qe"
		fi
		;;
	esac
	rm -rf "$w"
}

# seed_vet_tar DIR: small trees as tar archives, with every file the rules
# read (dpkg's database, accounts, sshd_config and its Include, enablement
# links, inetd.conf, keys, a kernel), links out of the image and a loop
seed_vet_tar() {
	local d=$1 t=$1/tree
	rm -rf "$t"
	mkdir -p "$t"/etc/ssh/sshd_config.d "$t"/usr/bin "$t"/usr/lib/systemd/system "$t"/var/lib/dpkg/info \
		"$t"/root/.ssh "$t"/etc/systemd/system/multi-user.target.wants "$t"/boot \
		"$t"/usr/lib/modules/6.1.0-1-amd64 "$t"/etc/dpkg/dpkg.cfg.d
	ln -s usr/bin "$t/bin"
	ln -s usr/lib "$t/lib"
	ln -s loop "$t/loop"
	ln -s /etc/shadow "$t/root/.ssh/authorized_keys2"
	printf 'ID=debian\nVERSION_ID="12"\n' >"$t/etc/os-release"
	printf 'root:x:0:0:root:/root:/bin/bash\nalice::1000:1000::/home/alice:/bin/sh\n' >"$t/etc/passwd"
	printf 'root::19000:0:99999:7:::\n' >"$t/etc/shadow"
	printf 'Include sshd_config.d/*.conf\nPermitRootLogin yes\nMatch User x\n PasswordAuthentication no\n' \
		>"$t/etc/ssh/sshd_config"
	printf 'Include /etc/ssh/sshd_config.d/*.conf\nAuthorizedKeysFile /loop/%%u .ssh/authorized_keys\nHostKey /loop\n' \
		>"$t/etc/ssh/sshd_config.d/a.conf"
	printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5vdC1kZWNsYXJlZC1tYWxsb3J5LWtleS0zMmJ5dGVz m\n' \
		>"$t/root/.ssh/authorized_keys"
	printf 'tool\n' >"$t/usr/bin/tool"
	chmod 4755 "$t/usr/bin/tool"
	printf 'Package: tool\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\nConffiles:\n /etc/x 0123\n\n' \
		>"$t/var/lib/dpkg/status"
	printf 'Package: tftpd-hpa\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n' \
		>>"$t/var/lib/dpkg/status"
	printf 'Package: openbsd-inetd\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n' \
		>>"$t/var/lib/dpkg/status"
	printf '/.\n/bin/tool\n/bin/../../../etc/shadow\n/loop/x\n' >"$t/var/lib/dpkg/info/tool.list"
	printf 'd41d8cd98f00b204e9800998ecf8427e  bin/tool\nd41d8cd98f00b204e9800998ecf8427e  loop/a/b\nd41d8cd98f00b204e9800998ecf8427e  ../../etc/shadow\n' \
		>"$t/var/lib/dpkg/info/tool.md5sums"
	printf '/lib/systemd/system/tftpd-hpa.service\n' >"$t/var/lib/dpkg/info/tftpd-hpa.list"
	printf '[Service]\n' >"$t/usr/lib/systemd/system/tftpd-hpa.service"
	ln -s /lib/systemd/system/tftpd-hpa.service "$t/etc/systemd/system/multi-user.target.wants/tftpd-hpa.service"
	printf '/usr/bin/tool\n/usr/bin/tool.real\n:\n' >"$t/var/lib/dpkg/diversions"
	printf 'path-exclude=/usr/share/doc/*\n' >"$t/etc/dpkg/dpkg.cfg.d/excludes"
	printf 'telnet stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.telnetd\n' >"$t/etc/inetd.conf"
	printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n' \
		>"$t/etc/ssh/ssh_host_ed25519_key"
	printf 'k' >"$t/boot/vmlinuz-6.1.0-1-amd64"
	mkdir -m 0777 "$t/srv"
	tar -C "$t" --numeric-owner -cf "$d/tree.tar" .
	tar -C "$t" --numeric-owner -cf "$d/small.tar" etc var/lib/dpkg
	rm -rf "$t"
}

# seed_clouds DIR: clouds.yaml files as openstacksdk's documentation
# writes them, each naming cloud "a"
seed_clouds() {
	local d=$1
	printf 'clouds:\n  a:\n    auth:\n      auth_url: http://k:5000/v3\n      username: u\n      password: "p: w"\n      project_name: p\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n    interface: internalURL\n    identity_api_version: 3\n    verify: false\n' >"$d/password"
	printf 'clouds:\n  b: {auth_type: none}\n  a:\n    auth_type: none\n    image_endpoint_override: http://127.0.0.1:9292/v2\n' >"$d/none"
	printf 'base: &b {auth_url: "https://k", user_id: x, password: y, domain_id: d}\nclouds:\n  a: {auth: *b, cacert: /c.pem}\n' >"$d/alias"
	printf 'clouds:\n  a: {auth: {auth_url: [1], username: {x: 1}}, auth_type: v3token}\n' >"$d/bad"
}

seed_jsonpatch() {
	local d=$1
	printf '%s' '[{"op":"replace","path":"/name","value":"x"}]' >"$d/replace"
	printf '%s' '[{"op":"add","path":"/tags","value":["a","b"]},{"op":"remove","path":"/os_distro"}]' >"$d/add-remove"
	printf '%s' '[{"op":"add","path":"/a~1b~0c","value":{"k":[1,2.5,null,true]}}]' >"$d/escapes"
	printf '%s' '[{"op":"move","from":"/a","path":"/b"}]' >"$d/move"
	printf '%s' '[{"replace":"/protected","value":false},{"remove":"/a~1b"}]' >"$d/draft4"
	printf '%s' '[]' >"$d/empty"
	printf '%s' '{"op":"replace"}' >"$d/not-array"
}

seed_vet_runtime() {
	local d=$1
	printf '%s\r\n' 'rain-vet: kernel' '6.1.0-50-amd64' 'rain-vet: tcp' \
		'   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 15957 1 00000000dbf0840d 100 0 0 10 0' \
		'rain-vet: tcp6' \
		'   0: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2267458 1 000000007a929686 100 0 0 10 0' \
		'rain-vet: udp' \
		' 2506: 0100007F:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2267454 2 000000003c545641 0' \
		'rain-vet: ss' 'udp UNCONN 0      0              *:123        *:* users:(("chronyd",pid=21435,fd=5))' \
		'rain-vet: fds' '/proc/269/fd:' "lrwx------ 1 root root 64 Dec  7 05:43 3 -> 'socket:[15957]'" \
		'rain-vet: comm' '==> /proc/269/comm <==' 'sshd' '' \
		'rain-vet: enabled' 'ssh.service                          enabled enabled' \
		'rain-vet: failed' 'broken.service loaded failed failed A unit that fails' 'rain-vet: end' >"$d/bookworm"
}

# seed_objstore_uri DIR: object store URIs (first byte: 0 s3, 1 swift)
seed_objstore_uri() {
	local d=$1
	printf '\0//127.0.0.1:8080/bucket?credentials=/etc/rain/s3.cred&region=us-east-1&tls=no&part_size=8M' >"$d/s3"
	printf '\1//swift.example.org/images?credentials=c&part_size=64M' >"$d/swift"
	printf '\0//[::1]:9000/b?secret_key=hunter22&x=y' >"$d/secret"
	printf '\0//AKIA:hunter2@host/b' >"$d/userinfo"
}

# seed_import_url DIR: web-download allow-lists, ranges, URLs, addresses
seed_import_url() {
	local d=$1
	printf 'http://127.0.0.1:8080/ok/ https://images.example.org/pub\n127.0.0.1/32\nhttp://127.0.0.1:8080/ok/a.raw\n\177\0\0\1' >"$d/allowed"
	printf 'https://Example.org:443/a/\n\nhttps://example.org/a/../../etc/passwd\n\n\n' >"$d/dots"
	printf 'http://h/p\nfc00::/7\nhttp://u:p@h/p/%%2e%%2e/x\n\xfe\x80\0\0\0\0\0\0\0\0\0\0\0\0\0\1' >"$d/userinfo"
}

# seed_shellwords DIR: rain shell lines (first byte: the first line number)
seed_shellwords() {
	local d=$1
	printf '\000image show "my image" --json # x' >"$d/quotes"
	printf "\001a 'b c'\\''d' \"e\\\"f\\\\\" g\\ h \\\n i" >"$d/escapes"
	printf "\002register 'un closed --site \"x" >"$d/open"
	printf '\003caf\303\251 $HOME `id` ; | \\' >"$d/tail"
}

# seed_jsonw DIR: writer programs (fuzz-jsonw.c): an object with hostile
# members and a nested array, a bare string, a misuse
seed_jsonw() {
	local d=$1
	printf '\000\010\001a\005q"\\\001\377\013\001t\004\003\342\202\254\005\200\000\000\000\000\000\000\000\007\003\001' >"$d/object"
	printf '\004\010\037\177/\355\240\200x' >"$d/string"
	printf '\002\010\001k\001v\003' >"$d/misuse"
}

# seed_pkg DIR: dpkg status files and version triples
seed_pkg() {
	local d=$1
	printf 'Package: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2+b1\nDescription: x\n y\n .\n\nPackage: b\nStatus: deinstall ok config-files\n' >"$d/status"
	[ -r /var/lib/dpkg/status ] && head -c 60000 /var/lib/dpkg/status >"$d/host-status"
	printf '1.0~rc1-1\n1:0.9\n1.0+dfsg-1~deb12u1\n' >"$d/versions"
	printf '2.36-9+deb12u4\n2.36-9+deb12u10\n009ab5\n' >"$d/versions2"
	printf '1:\n-1\n1.0-\n' >"$d/bad-versions"
}

# seed_keyring DIR: a keyring of two keys, binary and armored, made with
# gpg --batch in a GNUPGHOME of its own (none when gpg is missing), and a
# fingerprint as a recipe writes it
seed_keyring() {
	local d=$1 g
	printf 'F6EC B376 2474 EDA9 D21B  7022 8719 20D1 991B C93C' >"$d/fingerprint"
	command -v gpg >/dev/null || return 0
	g=$(mktemp -d) || return 0
	GNUPGHOME=$g gpg --batch --quiet --passphrase '' --quick-gen-key 'a <a@rain.invalid>' ed25519 sign never 2>/dev/null
	GNUPGHOME=$g gpg --batch --quiet --passphrase '' --quick-gen-key 'b <b@rain.invalid>' rsa1024 sign never 2>/dev/null
	GNUPGHOME=$g gpg --export >"$d/keys.gpg" 2>/dev/null
	GNUPGHOME=$g gpg --armor --export >"$d/keys.asc" 2>/dev/null
	rm -rf "$g"
}

# seed_rpmdb DIR: the Packages table of a real rpm database of two
# packages built here (when rpmbuild is installed; without rpm's indexes,
# to fit the harness's input size), and the real database's first 64 KiB
seed_rpmdb() {
	local d=$1 w=$1/work a
	command -v rpmbuild >/dev/null || return 0
	mkdir -p "$w/db"
	for a in a b; do
		printf 'Name: rain-fuzz-%s\nVersion: 1.%s~rc1\nRelease: 2.el9\nEpoch: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\n%%description\nt\n%%files\n' \
			"$a" "$a" >"$w/$a.spec"
		rpmbuild -bb --define "_topdir $w/top" "$w/$a.spec" >/dev/null 2>&1
	done
	rpm --dbpath "$w/db" --initdb >/dev/null 2>&1 &&
		rpm --dbpath "$w/db" -i --justdb --nodeps --ignorearch --ignoreos --nosignature \
			"$w"/top/RPMS/noarch/*.rpm >/dev/null 2>&1 &&
		head -c 65536 "$w/db/rpmdb.sqlite" >"$d/rpmdb-head" &&
		sqlite3 "$d/rpmdb" "ATTACH '$w/db/rpmdb.sqlite' AS o;
			CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);
			INSERT INTO Packages SELECT * FROM o.Packages;"
	rm -rf "$w"
}

# seed_feed DIR NAME: inputs of the feed importers
seed_feed() {
	local d=$1
	case $2 in
	fuzz-vet-tracker)
		printf '%s' '{"openssl": {"CVE-2023-5678": {"description": "x", "scope": "local", "releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.13-1~deb12u1", "urgency": "low", "nodsa": "Minor"}}}, "CVE-2024-2511": {"releases": {"bookworm": {"status": "open", "urgency": "low**"}}}}, "curl": {"CVE-1": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "0"}}}}}' >"$d/tracker" ;;
	fuzz-vet-osv)
		printf '%s' '[{"id": "DSA-1", "related": ["CVE-1"], "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"}, "ecosystem_specific": {"urgency": "high"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.14-1"}, {"introduced": "3.1"}]}]}]}, {"id": "X", "withdrawn": "2024-01-01T00:00:00Z"}]' >"$d/osv" ;;
	fuzz-vet-changelog)
		printf 'openssl (3.0.15-1~deb12u1) bookworm-security; urgency=medium\n\n  * Fix CVE-2024-9143, CVE-2024-6119.\n\n -- A <a@b>  Sun, 03 Nov 2024 00:00:00 +0100\n\nopenssl (3.0.11-1) unstable; urgency=high\n\n  * CVE-2023-4807\n\nOld Changelog:\n' >"$d/changelog"
		for f in /usr/share/doc/libssl3/changelog.Debian.gz /usr/share/doc/curl/changelog.Debian.gz; do
			[ -r "$f" ] && zcat "$f" | head -c 60000 >"$d/$(basename "$(dirname "$f")")"
		done ;;
	fuzz-vet-feed-file)
		printf 'rain-vet-feed 1\nrelease\tbookworm\nfamily\tdeb\nkind\tmirror\ndate\t2026-01-01T00:00:00Z\norigin\tx\ncount\t2\n\nopenssl\tCVE-1\tCVE-2 DSA-1\t\t1.0-1\tlow\tremote\tn\td\ncurl\tCVE-3\t\t1.0\t\tunknown\tunknown\t-\t\n' >"$d/feed" ;;
	esac
}

# --- build and run ---------------------------------------------------------

# run_harness NAME SOURCES LIBS SECONDS: build one harness, seed it, run it;
# its verdict line goes to BUILD_DIR/NAME.result, its exit status is 1 on
# a failure
run_harness() {
	local name=$1 srcs=$2 libs=$3 secs=$4 exe log corpus seeds rc runs crash
	exe=$builddir/$name
	log=$builddir/$name.log
	# shellcheck disable=SC2086
	if ! "$cc" "${cflags[@]}" -o "$exe" "tests/fuzz/$name.c" $srcs "${common[@]}" $libs \
		>"$builddir/$name.build.log" 2>&1; then
		echo "FAIL $name (build failed, see $builddir/$name.build.log)"
		return 1
	fi

	corpus=$builddir/corpus-${name#fuzz-}
	seeds=$builddir/seeds-${name#fuzz-}
	rm -rf "$seeds"
	mkdir -p "$corpus" "$seeds" "$builddir/artifacts-$name"
	case $name in
	fuzz-qcow2 | fuzz-vmdk | fuzz-vhd | fuzz-vhdx | fuzz-vdi | fuzz-iso | fuzz-ploop)
		seed_disk "$seeds" "${name#fuzz-}" ;;
	fuzz-imgfs-*) seed_imgfs "$seeds" "${name#fuzz-imgfs-}" ;;
	fuzz-jsonpatch) seed_jsonpatch "$seeds" ;;
	fuzz-clouds-yaml) seed_clouds "$seeds" ;;
	fuzz-recipe) cp examples/*.recipe "$seeds"/ ;;
	fuzz-vet-parse) seed_vet "$seeds" ;;
	fuzz-adapt-boot) seed_adapt_boot "$seeds" ;;
	fuzz-opennebula) seed_opennebula "$seeds" ;;
	fuzz-netboot-run) seed_netboot_run "$seeds" ;;
	fuzz-qga) seed_qga "$seeds" ;;
	fuzz-libvirt-xml) printf 'a<b>&amp;"\047]]><!--\n\001\303\251\377\357\277\276' >"$seeds/title" ;;
	fuzz-libvirt-instance)
		printf '%s\n' "<domain type='qemu'><name>rain-r</name><uuid>8a4c8453-53ab-4c0c-8b45-7d84b3a8ecd2</uuid>" \
			"<metadata><rain:registration xmlns:rain='urn:x-rain:registration:1' id='r'/></metadata>" \
			"<os><type arch='x86_64'>hvm</type><nvram>/x_VARS.fd</nvram></os><devices>" \
			"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/a'/>" \
			"<backingStore/><target dev='vda' bus='virtio'/></disk><disk type='volume' device='cdrom'>" \
			"<source pool='p' volume='s'/><readonly/></disk><interface type='user'><mac address='52:54:00:11:fc:f9'/>" \
			"</interface><serial type='pty'><log file='/l'/></serial></devices></domain>" >"$seeds/domain"
		printf '%s\n' "<volume type='file'><name>rain-r-1.qcow2</name><target><format type='qcow2'/></target>" \
			"<backingStore><path>/p/rain-r.qcow2</path><format type='qcow2'/></backingStore></volume>" >"$seeds/volume" ;;
	fuzz-vet-tar) seed_vet_tar "$seeds" ;;
	fuzz-dpkg-status | fuzz-vercmp) seed_pkg "$seeds" ;;
	fuzz-rpmdb) seed_rpmdb "$seeds" ;;
	fuzz-keyring) seed_keyring "$seeds" ;;
	fuzz-vet-tracker | fuzz-vet-osv | fuzz-vet-changelog | fuzz-vet-feed-file) seed_feed "$seeds" "$name" ;;
	fuzz-vet-runtime) seed_vet_runtime "$seeds" ;;
	fuzz-shellwords) seed_shellwords "$seeds" ;;
	fuzz-import-url) seed_import_url "$seeds" ;;
	fuzz-objstore-uri) seed_objstore_uri "$seeds" ;;
	fuzz-jsonw) seed_jsonw "$seeds" ;;
	fuzz-html)
		printf '<script>alert("x")</script> &amp; \047\303\251\355\240\200\364\220\200\200\001' >"$seeds/text"
		printf 'csrf=ab&a=x%%3Cy%%3E+z&password=p%%00q&a=second' >"$seeds/form" ;;
	esac

	"$exe" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
		-max_len=$((65536 + 1024)) -print_final_stats=1 \
		-artifact_prefix="$builddir/artifacts-$name/" \
		"$corpus" "$seeds" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "PASS $name (${runs:-?} runs)"
	else
		crash=$(find "$builddir/artifacts-$name" -type f -newer "$exe" | head -n 1)
		echo "FAIL $name (exit $rc after ${runs:-?} runs; log $log${crash:+, input $crash})"
		return 1
	fi
}

# the harnesses run side by side, one per core (FUZZ_JOBS), each for its
# own SECONDS; their verdicts are printed in the table's order
jobs=${FUZZ_JOBS:-$(nproc)}
for h in "${harnesses[@]}"; do
	IFS=: read -r name srcs libs secs <<<"$h"
	rm -f "$builddir/$name.result"
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	run_harness "$name" "$srcs" "$libs" "$secs" >"$builddir/$name.result" 2>&1 &
done
wait
status=0
for h in "${harnesses[@]}"; do
	name=${h%%:*}
	if [ -s "$builddir/$name.result" ]; then
		cat "$builddir/$name.result"
	else
		echo "FAIL $name (no verdict, see $builddir/$name.log)"
	fi
	grep -q '^PASS' "$builddir/$name.result" 2>/dev/null || status=1
done
exit "$status"
