#!/bin/bash
# Hostile recipes against the build sandbox, each a real build on the
# shared cache: symlinks planted where the host side reads or writes
# (an output name, packages.json, /boot/vmlinuz-*), setuid programs in a
# dir output. Each check shows that the host's file is untouched and not
# leaked, and that the build failed or its output is clean.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null; then
	echo "ok 1 # SKIP needs root and mmdebstrap"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
cd "$TMP" || exit 1
chmod 0711 "$TMP"   # the sandbox's root may pass, as through a real cache's parents

# host files the attacks aim at: root's own (0600), and one the sandbox's
# ids own (standing for another build's tree or cloned base)
echo "root-only secret $RANDOM$RANDOM" >"$TMP/victim"
chmod 0600 "$TMP/victim"
echo '[{"name": "LEAKED-root-file", "version": "1", "architecture": "all"}]' >"$TMP/victim-json"
chmod 0600 "$TMP/victim-json"
echo "another build's shadow $RANDOM" >"$TMP/victim-tree"
chown 100000:100000 "$TMP/victim-tree"
chmod 0600 "$TMP/victim-tree"
sum() { sha256sum "$1" | cut -d' ' -f1; }
victim_sum=$(sum "$TMP/victim")
json_sum=$(sum "$TMP/victim-json")
tree_sum=$(sum "$TMP/victim-tree")

# recipe NAME FORMATS SCRIPT [EXTRA-INI]: a recipe on the cached base
# (kernel = yes: the base every test shares) running SCRIPT
recipe() {
	printf '%s\n' "$3" >"$TMP/$1.sh"
	chmod 0755 "$TMP/$1.sh"
	printf '[image]\nname = %s\ndistribution = debian\n[packages]\nkernel = yes\n[scripts]\nrun = %s.sh\n[output]\nformats = %s\n%s\n' \
		"$1" "$1" "$2" "${4:-}" >"$TMP/$1.recipe"
}
# gen NAME [ARGS...]: build NAME.recipe into $TMP/NAME (stderr in NAME.err)
gen() {
	local name=$1
	shift
	"$RAIN" generate "$TMP/$name.recipe" -o "$TMP/$name" --cache "$CACHE" --quiet "$@" \
		>"$TMP/$name.out" 2>"$TMP/$name.err"
}

# 1. symlinks where the outputs go, and setuid programs in a dir output
recipe out-link "tar, dir" "#!/bin/sh
set -e
mkdir -p /run/rain/out
for n in out-link.tar out-link.root root.tar vmlinuz initrd.img; do ln -sf '$TMP/victim' /run/rain/out/\$n; done
cp /bin/dash /usr/local/bin/suidsh
chmod 4755 /usr/local/bin/suidsh"
# 2. packages.json as a symlink to a root-only file
recipe pkg-link tar "#!/bin/sh
set -e
mkdir -p '$TMP'
echo '[]' >'$TMP/victim-json'
ln -sf '$TMP/victim-json' /run/rain/out/packages.json"
# 3. /boot/vmlinuz-* as a symlink to a file the sandbox's ids own
recipe boot-link tar "#!/bin/sh
set -e
rm -f /boot/vmlinuz-*
ln -s '$TMP/victim-tree' /boot/vmlinuz-9.9.9-rain"

# three at once on the one base
gen out-link &
p1=$!
gen pkg-link &
p2=$!
gen boot-link &
p3=$!
wait $p1 $p2 $p3

# 1: the build succeeds with real outputs; the host file is untouched
out=$TMP/out-link
check "a build planting symlinks in its output folder succeeds" test -s "$out/manifest.json"
[ -s "$out/manifest.json" ] || sed 's/^/#   /' "$TMP/out-link.err" | tail -20
check_eq "root's file keeps its mode" 600 "$(stat -c %a "$TMP/victim")"
check_eq "root's file keeps its content" "$victim_sum" "$(sum "$TMP/victim")"
check "the tar output is a real tar of the image" sh -c "tar -tf '$out/out-link.tar' | grep -q '^./etc/os-release$'"
check "the tar output is a regular file, not a link" test -f "$out/out-link.tar" -a ! -L "$out/out-link.tar"
check "no output holds root's file" sh -c "! grep -rqF \"\$(cat '$TMP/victim')\" '$out' --exclude-dir=out-link.root"
check "the manifest's hash is the output's" python3 -c '
import json, sys, hashlib
m = json.load(open(sys.argv[1] + "/manifest.json"))
o = [x for x in m["outputs"] if x["format"] == "tar"][0]
assert hashlib.sha256(open(sys.argv[1] + "/" + o["file"], "rb").read()).hexdigest() == o["sha256"]' "$out"
# the dir output keeps the image's setuid programs, behind a private top
check_eq "the dir output's top is root's and private" "700 0" "$(stat -c '%a %u' "$out/out-link.root")"
check_eq "its setuid program keeps its bits inside" 4755 "$(stat -c %a "$out/out-link.root/usr/local/bin/suidsh")"
check "an ordinary user cannot reach it" sh -c "! setpriv --reuid=65534 --regid=65534 --clear-groups test -e '$out/out-link.root/usr/local/bin/suidsh'"

# 2: host root never reads the file the symlink names
check "a packages.json symlink fails the build" test -s "$TMP/pkg-link.err" -a ! -e "$TMP/pkg-link/manifest.json"
check "the error says it was refused" grep -q "package list: packages.json is a symbolic link or leads out of its directory: refused" "$TMP/pkg-link.err"
check_eq "the root-only file is untouched" "$json_sum" "$(sum "$TMP/victim-json")"
check "and not in any output" sh -c "! grep -rq LEAKED-root-file '$TMP/pkg-link'"
check_eq "only the build log is left" build.log "$(ls -A "$TMP/pkg-link")"

# 3: the kernel copy refuses the symlink
check "a /boot/vmlinuz symlink fails the build" test ! -e "$TMP/boot-link/manifest.json"
check "the error names the kernel and says why" grep -q "the image's /boot/vmlinuz-9.9.9-rain: vmlinuz-9.9.9-rain is a symbolic link" "$TMP/boot-link.err"
check_eq "the other tree's file is untouched" "$tree_sum" "$(sum "$TMP/victim-tree")"
check "and not copied anywhere" sh -c "! grep -rqF \"\$(cat '$TMP/victim-tree')\" '$TMP/boot-link'"

test_done
