#!/bin/bash
# rain generate for Ubuntu: the archive keyring a Debian host does not
# ship. First without the network: no keyring names the key rain pins,
# and a keyring without Ubuntu's keys (Debian's) is refused. Then, when
# archive.ubuntu.com answers, a real noble build: Ubuntu's keyring comes
# out of the archive's own ubuntu-keyring .deb, trusted because it holds
# the 2018 archive key rain pins (F6EC B376 2474 EDA9 D21B 7022 8719 20D1
# 991B C93C), with Ubuntu's kernel (linux-image-virtual) and
# initramfs-tools, systemd-networkd, one boot check; and a jammy tree with
# its kernel, not booted. Without the archive the builds SKIP, saying so.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null; then
	echo "ok 1 # SKIP needs root and mmdebstrap"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
MIRROR=http://archive.ubuntu.com/ubuntu
KEY2018=F6ECB3762474EDA9D21B7022871920D1991BC93C
cd "$TMP" || exit 1
start=$(date +%s)

gen() {
	timeout 900 "$RAIN" generate "$TMP/$1.recipe" -o "$TMP/$1" --cache "$CACHE" "${@:2}" \
		>"$TMP/$1.out" 2>"$TMP/$1.err"
}

# ---- the keyring, without the network ----
if [ -e /usr/share/keyrings/ubuntu-archive-keyring.gpg ]; then
	skip "no keyring names the missing key" "this host has an Ubuntu keyring, which rain uses"
else
	printf '[image]\ndistribution = ubuntu\nrelease = noble\nmirror = http://127.0.0.1:9/ubuntu\n[packages]\nkernel = no\n[output]\nformats = tar\n' \
		>"$TMP/nokey.recipe"
	gen nokey
	check "ubuntu without a keyring fails the build" test $? -ne 0
	check "the error names the key and what to do" grep -q "ubuntu noble is signed with the Ubuntu Archive Automatic Signing Key (2018) <ftpmaster@ubuntu.com>, fingerprint $KEY2018, and this machine has no keyring holding it (Debian ships none): set \[image\] keyring" \
		"$TMP/nokey.err"
fi
printf '[image]\ndistribution = ubuntu\nrelease = noble\nmirror = http://127.0.0.1:9/ubuntu\nkeyring = /usr/share/keyrings/debian-archive-keyring.gpg\n[packages]\nkernel = no\n[output]\nformats = tar\n' \
	>"$TMP/debkey.recipe"
gen debkey
check "a keyring without Ubuntu's archive keys fails the build" test $? -ne 0
check "the error says which keys it lacks" grep -q "holds none of ubuntu's archive keys (Ubuntu Archive Automatic Signing Key (2018) <ftpmaster@ubuntu.com> $KEY2018" \
	"$TMP/debkey.err"

# ---- a real noble build ----
if ! curl -sf -m 10 -o "$TMP/Release" "$MIRROR/dists/noble/Release"; then
	skip "a real Ubuntu noble build" "$MIRROR cannot be reached from this machine"
	test_done
fi
# the keyring from the archive's ubuntu-keyring package: what trusts it
# is the fingerprint rain pins, checked when the build starts
curl -sf -m 60 -o "$TMP/Packages.xz" "$MIRROR/dists/noble/main/binary-amd64/Packages.xz" &&
	deb=$(xz -dc "$TMP/Packages.xz" | awk '/^Package: ubuntu-keyring$/ {p = 1} p && /^Filename:/ {print $2; exit}') &&
	curl -sf -m 60 -o "$TMP/ubuntu-keyring.deb" "$MIRROR/$deb" &&
	dpkg-deb -x "$TMP/ubuntu-keyring.deb" "$TMP/uk"
K=$TMP/uk/usr/share/keyrings/ubuntu-archive-keyring.gpg
check "the archive's ubuntu-keyring package has the archive keyring" test -s "$K"
cp "$K" "$TMP/ubuntu-archive-keyring.gpg"
ssh-keygen -q -t ed25519 -N '' -f "$TMP/key" >/dev/null
cat >"$TMP/noble.recipe" <<RECIPE
[image]
name = t0109-noble
distribution = ubuntu
release = noble
keyring = ubuntu-archive-keyring.gpg
[packages]
install = openssh-server
[system]
hostname = noble-test
[user ubuntu]
sudo = yes
ssh_key = $(cat "$TMP/key.pub")
[output]
formats = disk, tar
size = 3G
boot_check = yes
RECIPE
t=$(date +%s)
gen noble
rc=$?
echo "# the noble build and its boot check took $(( $(date +%s) - t )) s"
check_eq "rain generate builds and boots Ubuntu noble" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -40 "$TMP/noble.err" | sed 's/^/#   /'; test_done; }
M=$TMP/noble/manifest.json
check_eq "the boot check reached multi-user" passed "$(json_get boot_check.result <"$M")"
check "the keyring was pinned to Ubuntu's 2018 key" grep -q "keyring .*ubuntu-archive-keyring.gpg: keys .*" "$TMP/noble/build.log"
check "Ubuntu's kernel, initramfs tools, systemd and the keyring are installed" python3 -c '
import json,sys; m=json.load(open(sys.argv[1]))
n={x["name"] for x in m["packages"]}
assert "linux-image-virtual" in n and any(x.startswith("linux-image-") and x.endswith("-generic") for x in n), n
for p in ("initramfs-tools", "systemd", "ubuntu-keyring", "openssh-server", "sudo"):
    assert p in n, p' "$M"
TAR=$TMP/noble/t0109-noble.tar
check "the tar says Ubuntu noble" sh -c "tar -xOf '$TAR' ./usr/lib/os-release | grep -qx 'VERSION_CODENAME=noble'"
check "the image's apt has the recipe's keyring" sh -c "tar -tf '$TAR' | grep -qx './etc/apt/trusted.gpg.d/rain-keyring.gpg'"
check "systemd-networkd does DHCP" sh -c "tar -tf '$TAR' | grep -q 'etc/systemd/system/.*/systemd-networkd.service'"
check "an initramfs was made" sh -c "tar -tf '$TAR' | grep -q '^./boot/initrd.img-.*-generic$'"

# jammy, signed with the same 2018 key: a tree with Ubuntu's kernel and
# initramfs, no boot (one boot check per test)
printf '[image]\nname = t0109-jammy\ndistribution = ubuntu\nrelease = jammy\nkeyring = ubuntu-archive-keyring.gpg\n[packages]\nkernel = yes\n[output]\nformats = tar\n' \
	>"$TMP/jammy.recipe"
t=$(date +%s)
gen jammy
rc=$?
echo "# the jammy build took $(( $(date +%s) - t )) s"
check_eq "rain generate builds Ubuntu jammy" 0 "$rc"
[ "$rc" -eq 0 ] || tail -20 "$TMP/jammy.err" | sed 's/^/#   /'
check "jammy has Ubuntu's kernel and an initramfs for it" sh -c "tar -tf '$TMP/jammy/t0109-jammy.tar' | grep -q '^./boot/initrd.img-5.15.*-generic$'"
check "the tar says jammy" sh -c "tar -xOf '$TMP/jammy/t0109-jammy.tar' ./usr/lib/os-release | grep -qx 'VERSION_CODENAME=jammy'"
echo "# t0109 took $(( $(date +%s) - start )) s"
test_done
