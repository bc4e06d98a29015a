#!/bin/bash
# rain generate for the RPM family end to end, through the real RPM
# backend (the host's dnf --installroot) against a real, signed RPM
# repository made here with Debian's own tools: rpmbuild, rpmsign with a
# GPG key generated for the test, createrepo_c, served over HTTP on
# loopback. The distribution is this test repository (distribution =
# rpm), NOT Rocky, Alma or Fedora: no mirror of theirs is reachable from
# the test machines (t0105 shows that failure). Its three packages are a
# file system layout, a shell (a copy of the host's static busybox) and
# an os-release saying ID=rain-test.
# Checks: the tree, the repository file and key left in the image, the
# manifest's packages read from the rpm database, rain vet reading the
# same database; refused: a package signed with another key, an unsigned
# one, a keyring that is not the pinned key; clear errors for a missing
# package, an unreachable repository and a kernel the repository lacks.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "ok 1 # SKIP needs root"
	test_done
fi
for t in rpmbuild rpmsign createrepo_c gpg dnf; do
	if ! command -v "$t" >/dev/null; then
		echo "ok 1 # SKIP $t is not installed (scripts/install-deps.sh)"
		test_done
	fi
done
if ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
	echo "ok 1 # SKIP no static /bin/busybox (busybox-static) to package"
	test_done
fi
chmod 0711 "$TMP"
CACHE=$TMP/cache
cd "$TMP" || exit 1
start=$(date +%s)

# ---- the test repository ----
export GNUPGHOME=$TMP/gnupg
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'rain test repository <repo@rain.invalid>' \
	rsa2048 sign never 2>/dev/null
gpg --batch --quiet --passphrase '' --quick-gen-key 'someone else <other@rain.invalid>' \
	rsa2048 sign never 2>/dev/null
gpg --armor --export repo@rain.invalid >"$TMP/repo-key.asc"
gpg --armor --export other@rain.invalid >"$TMP/other-key.asc"
FP=$(gpg --with-colons --fingerprint repo@rain.invalid | awk -F: '/^fpr/ {print $10; exit}')

# spec NAME ARCH REQUIRES INSTALL FILES
spec() {
	cat >"$TMP/top/SPECS/$1.spec" <<SPEC
Name: rain-test-$1
Version: 1.0
Release: 1
Summary: rain test repository: $1
License: MIT
BuildArch: $2
$3
%description
Part of rain's test repository (t0108), not Rocky, Alma or Fedora.
%install
$4
%files
$5
SPEC
	rpmbuild -bb --quiet --define "_topdir $TMP/top" --define '__strip /bin/true' \
		--define 'debug_package %{nil}' --define '_build_id_links none' \
		"$TMP/top/SPECS/$1.spec" 2>>"$TMP/rpmbuild.log"
}
mkdir -p "$TMP/top/SPECS"
spec filesystem noarch "" \
	'cd %{buildroot}; mkdir -p etc usr/bin usr/sbin usr/lib var/lib tmp root proc dev run boot; ln -s usr/bin bin; ln -s usr/sbin sbin; ln -s usr/lib lib' \
	"$(printf '%s\n' /etc /usr /var /tmp /root /proc /dev /run /boot /bin /sbin /lib)"
spec shell x86_64 "Requires: rain-test-filesystem" \
	'mkdir -p %{buildroot}/usr/bin; cp /bin/busybox %{buildroot}/usr/bin/; for t in sh ls cat; do ln -s busybox %{buildroot}/usr/bin/$t; done' \
	'/usr/bin/*'
spec release noarch "Requires: rain-test-filesystem" \
	'mkdir -p %{buildroot}/etc; printf "NAME=\"rain test repository\"\nID=rain-test\nVERSION_ID=1\n" >%{buildroot}/etc/os-release' \
	/etc/os-release
check "rpmbuild made the three packages" test "$(ls "$TMP"/top/RPMS/*/*.rpm 2>/dev/null | wc -l)" -eq 3

# sign KEY FILES...
sign() {
	local key=$1; shift
	rpmsign --addsign --define '__gpg /usr/bin/gpg' --define "_gpg_name $key" \
		--define "_gpg_path $GNUPGHOME" "$@" </dev/null >>"$TMP/rpmsign.log" 2>&1
}
# repo DIR: the three packages in DIR signed with the repository's key,
# then what the caller changes, then createrepo_c
mkdir -p "$TMP/www/good" "$TMP/www/other" "$TMP/www/unsigned"
for d in good other unsigned; do cp "$TMP"/top/RPMS/*/*.rpm "$TMP/www/$d/"; done
sign repo@rain.invalid "$TMP"/www/good/*.rpm
sign repo@rain.invalid "$TMP"/www/other/rain-test-{filesystem,shell}-*.rpm
sign other@rain.invalid "$TMP"/www/other/rain-test-release-*.rpm
sign repo@rain.invalid "$TMP"/www/unsigned/rain-test-{filesystem,release}-*.rpm
for d in good other unsigned; do createrepo_c -q "$TMP/www/$d"; done
check "the good repository's packages carry the key's signature" \
	sh -c "rpm -Kv '$TMP'/www/good/rain-test-shell-*.rpm | grep -qi 'Signature, key ID ${FP: -8}'" 2>/dev/null ||
	rpm -Kv "$TMP"/www/good/rain-test-shell-*.rpm | sed 's/^/#   /'
http_serve "$TMP/www" || exit 1
URL=http://127.0.0.1:$HTTP_PORT
echo "# the test repository took $(( $(date +%s) - start )) s"

# recipe NAME REPO [EXTRA IMAGE LINES] [PACKAGES] [OUTPUT LINES]
recipe() {
	printf '[image]\nname = %s\ndistribution = rpm\nrelease = 1\nmirror = %s/%s\nkeyring = repo-key.asc\n%s\n' \
		"$1" "$URL" "$2" "${3:-}" >"$TMP/$1.recipe"
	printf '[packages]\nkernel = no\ninstall = %s\n[system]\nhostname = rpm-test\n[output]\n%s\n' \
		"${4:-rain-test-release rain-test-shell}" "${5:-formats = tar dir}" >>"$TMP/$1.recipe"
}
# gen NAME: rain generate it into $TMP/NAME, stderr in $TMP/NAME.err
gen() {
	timeout 300 "$RAIN" generate "$TMP/$1.recipe" -o "$TMP/$1" --cache "$CACHE" \
		--limit allow_private_mirrors=yes >"$TMP/$1.out" 2>"$TMP/$1.err"
}

# ---- the build ----
recipe ok good "key_fingerprint = $FP"
t=$(date +%s)
gen ok
rc=$?
echo "# the build took $(( $(date +%s) - t )) s"
check_eq "rain generate against the signed test repository succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -30 "$TMP/ok.err" | sed 's/^/#   /'; test_done; }
T=$TMP/ok/root
[ -d "$T" ] || T=$(find "$TMP/ok" -maxdepth 1 -mindepth 1 -type d | head -n 1)
check "the tree has the shell from the repository" test -x "$T/usr/bin/busybox"
check "and the test repository's os-release" grep -qx 'ID=rain-test' "$T/etc/os-release"
check "rain's hostname" grep -qx rpm-test "$T/etc/hostname"
check "the rpm database is where rpm looks" test -s "$T/var/lib/rpm/rpmdb.sqlite"
check "the repository's key is kept for the image's dnf" cmp -s "$TMP/repo-key.asc" \
	"$T/etc/pki/rpm-gpg/RPM-GPG-KEY-rain-keyring"
check "the build log shows the pinned key" grep -q "keyring .*repo-key.asc: keys $FP" "$TMP/ok/build.log"
check "dnf imported the key and checked the packages" grep -q "Importing GPG key" "$TMP/ok/build.log"
check "the repository file names the repository" grep -q "rain.repo: baseurl=$URL/good/$" "$TMP/ok/build.log"
check "with gpgcheck on" grep -q "rain.repo: gpgcheck=1$" "$TMP/ok/build.log"
check "and the recipe's key" grep -q "rain.repo: gpgkey=file:///.*/rain-keyring.asc$" "$TMP/ok/build.log"
check "no network service without systemd, said so" grep -q "no systemd in the image" "$TMP/ok/build.log"
M=$TMP/ok/manifest.json
check "the manifest lists the three packages from the rpm database" python3 -c '
import json,sys; m=json.load(open(sys.argv[1]))
p={x["name"]: x for x in m["packages"]}
assert set(p) == {"rain-test-filesystem", "rain-test-shell", "rain-test-release"}, p
assert p["rain-test-shell"]["version"] == "1.0-1" and p["rain-test-shell"]["architecture"] == "x86_64", p
assert p["rain-test-release"]["architecture"] == "noarch", p' "$M"
TAR=$(ls "$TMP"/ok/*.tar 2>/dev/null | head -n 1)
check "the tar output holds the tree" sh -c "tar -tf '$TAR' | grep -qx './usr/bin/busybox'"

# rain vet reads the same rpm database out of the tar
"$RAIN" -q vet "$TAR" -o "$TMP/vet.json" >/dev/null 2>"$TMP/vet.err"
check "rain vet reads the rpm-built image" test -s "$TMP/vet.json"
check "its package list comes from the rpm database" python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))
assert r["packages"] == {"count": 3, "family": "rpm"}, r["packages"]
assert r["packages_from"] == "/var/lib/rpm/rpmdb.sqlite", r["packages_from"]
assert r["os"]["id"] == "rain-test", r["os"]' "$TMP/vet.json"
check_eq "the image passed" 0 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counts"]["action"]["fail"])' "$TMP/vet.json")"

# ---- refused signatures ----
recipe other other
gen other
check "a package signed with another key fails the build" test $? -ne 0
check "the error names the package and says it was refused" \
	grep -q "package rain-test-release-1.0-1.noarch.rpm from $URL/other is signed with a key that is not the key of \[image\] keyring repo-key.asc: refused" "$TMP/other.err"
check "and what to do" grep -q "sign it with the repository's key" "$TMP/other.err"
check "nothing but the log is left" test "$(ls -A "$TMP/other")" = build.log
recipe unsigned unsigned
gen unsigned
check "an unsigned package fails the build" test $? -ne 0
check "the error names it" grep -q "package rain-test-shell-1.0-1.x86_64.rpm from $URL/unsigned is not signed: refused" \
	"$TMP/unsigned.err"
# a keyring that is not the pinned key: refused before anything is fetched
cp "$TMP/other-key.asc" "$TMP/repo-key-wrong.asc"
recipe pin good "key_fingerprint = $FP"
sed -i 's/^keyring = .*/keyring = repo-key-wrong.asc/' "$TMP/pin.recipe"
gen pin
check "a keyring without the pinned key fails the build" test $? -ne 0
check "the error names the pinned fingerprint" grep -q "holds no key with the fingerprint $FP" "$TMP/pin.err"

# ---- missing package, unreachable repository, no kernel ----
recipe missing good "" "rain-test-release rain-test-nope"
gen missing
check "a missing package fails the build" test $? -ne 0
check "the error names the package and the repository" \
	grep -q "package 'rain-test-nope' does not exist in rpm 1 ($URL/good): check its name" "$TMP/missing.err"
printf '[image]\ndistribution = rpm\nmirror = http://127.0.0.1:9/repo\nkeyring = repo-key.asc\n[packages]\nkernel = no\ninstall = x\n[output]\nformats = tar\n' \
	>"$TMP/down.recipe"
gen down
check "an unreachable repository fails the build" test $? -ne 0
check "the error names the repository" grep -q "the mirror http://127.0.0.1:9/repo cannot be reached" "$TMP/down.err"
recipe disk good "" "" "formats = disk"
gen disk
check "a bootable disk without a kernel is refused" test $? -ne 0
check "the error asks for a kernel" grep -q "a bootable disk or qcow2 needs \[packages\] kernel = yes" "$TMP/disk.err"
recipe kernel good "" "" "formats = disk"
sed -i 's/^kernel = no/kernel = yes/' "$TMP/kernel.recipe"
gen kernel
check "a kernel the repository lacks fails the build" test $? -ne 0
check "the error says the repository must provide kernel and dracut" \
	grep -q "package 'kernel' does not exist in rpm 1 .*a bootable image needs the repository to provide kernel and dracut" \
	"$TMP/kernel.err"
echo "# t0108 took $(( $(date +%s) - start )) s"
http_stop
test_done
