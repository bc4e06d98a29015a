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
# (and a background process left holding the script's output)
recipe out-link "tar, dir" "#!/bin/sh
set -e
mkdir -p /run/rain/out
for n in out-link.tar out-link.root root.tar vmlinuz initrd.img; do ln -sf '$TMP/victim' /run/rain/out/\$n; done
cp /bin/dash /usr/local/bin/suidsh
chmod 4755 /usr/local/bin/suidsh
sleep 301 &"
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

# 4. a fork bomb, memory, a tmpfs and the image's tree over their limits
recipe forks tar "#!/bin/sh
i=0
while [ \$i -lt 10000 ]; do sleep 300 >/dev/null 2>&1 & i=\$((i + 1)); done
wait"
recipe memory tar "#!/bin/sh
exec awk 'BEGIN { s = \"x\"; while (1) s = s s }'"
recipe tmpfs-fill tar "#!/bin/sh
dd if=/dev/zero of=/tmp/fill bs=1M count=200"
# (a file in /tmp, on a tmpfs bigger than the scratch: the file size limit)
recipe big-file tar "#!/bin/sh
dd if=/dev/zero of=/tmp/big bs=1M count=300"
recipe many-files tar "#!/bin/sh
set -e
for i in 1 2 3; do dd if=/dev/zero of=/part\$i bs=1M count=60 2>/dev/null; done"

# all at once on the one base
gen out-link --timeout 200 &
p1=$!
gen pkg-link &
p2=$!
gen boot-link &
p3=$!
gen forks --limit pids=64 &
p4=$!
gen memory --limit memory=256M &
p5=$!
wait $p1 $p2 $p3 $p4 $p5
gen tmpfs-fill --limit tmpfs_size=64M &
p1=$!
gen big-file --limit scratch_size=128M &
p2=$!
gen many-files --limit scratch_size=128M &
p3=$!
wait $p1 $p2 $p3

# 1: the build succeeds with real outputs; the host file is untouched
out=$TMP/out-link
check "a build planting symlinks in its output folder succeeds" test -s "$out/manifest.json"
[ -s "$out/manifest.json" ] || sed 's/^/#   /' "$TMP/out-link.err" | tail -20
check "a script's background process (holding its output) did not hold the build" test -s "$out/manifest.json"
check "nor is it left running" sh -c "! pgrep -f 'sleep 30[1]' >/dev/null"
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

# 4: the limits hold and say so
check "the build log says which limits are in force" grep -q "^limits: cgroup v[12] .*processes 64, memory 4.0 GiB" "$TMP/forks/build.log"
check "a fork bomb fails the build" test ! -e "$TMP/forks/manifest.json"
check "stopped by the process limit, as the error says" grep -q "the build reached its limit of 64 processes and threads" "$TMP/forks.err"
check "the shell could not fork past it" grep -q "Cannot fork" "$TMP/forks/build.log"
check "none of its processes is left" sh -c "! pgrep -f 'sleep 30[0]' >/dev/null"
check "memory over the limit fails the build" test ! -e "$TMP/memory/manifest.json"
check "the error names the memory limit" grep -q "the build ran out of its memory limit (256 MiB" "$TMP/memory.err"
check "a full tmpfs fails the build" test ! -e "$TMP/tmpfs-fill/manifest.json"
check "the error says a file system of the build ran full, not the host's disk" grep -q "a file system of the build ran full (no space left on device): /tmp, /run and /dev/shm hold 64 MiB each" "$TMP/tmpfs-fill.err"
check "a file over the scratch limit fails the build" test ! -e "$TMP/big-file/manifest.json"
check "the error names the scratch limit" grep -q "a file the build wrote grew past its scratch limit (128 MiB" "$TMP/big-file.err"
# a scratch of its own stops the writes (t0107); else they are measured
# (t0107 too, without loop devices)
if grep -q "^scratch: .*, a file system of 128 MiB of its own" "$TMP/many-files/build.log"; then
	check "files over the scratch limit together fail the build" grep -q "the build reached its scratch_size limit: its scratch .* is a file system of 128 MiB and it is full" "$TMP/many-files.err"
else
	check "files over the scratch limit together fail the build" grep -Eq "the build's scratch \(the image's tree, downloads and reports\) takes 1[89][0-9] MiB, more than the build's scratch limit \(128 MiB|the build's scratch grew past its limit \(128 MiB" "$TMP/many-files.err"
fi
check_eq "only the build log is left of it" build.log "$(ls -A "$TMP/many-files")"
left=
for n in forks memory tmpfs-fill big-file many-files; do
	cg=$(sed -n 's/^limits: [^;]*rain\/\(build\.[A-Za-z0-9]*\);.*/\1/p' "$TMP/$n/build.log")
	[ -n "$cg" ] || left="$left $n:unnamed"
	for d in /sys/fs/cgroup/rain/"$cg" /sys/fs/cgroup/*/rain/"$cg"; do [ -e "$d" ] && left="$left $d"; done
done
check_eq "no cgroup of these builds is left" "" "$left"

# 5. two builds at once: each has its own ids, so neither (nor any build)
# can read the other's tree or the cached bases' files
recipe iso-a tar "#!/bin/sh
echo 'tree of a' >/root/a-secret
chmod 0600 /root/a-secret
sleep 25"
recipe iso-b tar "#!/bin/sh
echo 'tree of b' >/root/b-secret
chmod 0600 /root/b-secret
sleep 25"
"$RAIN" generate "$TMP/iso-a.recipe" -o "$TMP/iso-a" --cache "$CACHE" --quiet --limit cpus=1.5 \
	--limit io_bps=50M >/dev/null 2>"$TMP/iso-a.err" &
pa=$!
"$RAIN" generate "$TMP/iso-b.recipe" -o "$TMP/iso-b" --cache "$CACHE" --quiet >/dev/null 2>"$TMP/iso-b.err" &
pb=$!
# id_of NAME: the host uid of the build's root; upper_of NAME: its upper
# layer, seen in the build's own mount namespace (where its scratch is
# mounted) through in_a or in_b CMD...
id_of() { sed -n 's/^ids: the sandbox.s root is host uid \([0-9]*\) .*/\1/p' "$TMP/$1/build.log" 2>/dev/null; }
upper_of() { echo "$(sed -n 's|^scratch: \([^,]*\), .*|\1|p' "$TMP/$1/build.log")/upper"; }
in_a() { nsenter -t "$pa" -m -- "$@"; }
in_b() { nsenter -t "$pb" -m -- "$@"; }
for _ in $(seq 1 120); do
	[ -s "$TMP/iso-a/build.log" ] && [ -s "$TMP/iso-b/build.log" ] &&
	in_a test -e "$(upper_of iso-a)/root/a-secret" && in_b test -e "$(upper_of iso-b)/root/b-secret" && break
	sleep 0.5
done
ida=$(id_of iso-a)
idb=$(id_of iso-b)
check "each build has an id range of its own" sh -c "[ -n '$ida' ] && [ -n '$idb' ] && [ '$ida' != '$idb' ] && [ '$ida' != 100000 ] && [ '$idb' != 100000 ]"
check_eq "the first build's file belongs to its ids" "$ida" "$(in_a stat -c %u "$(upper_of iso-a)/root/a-secret")"
if grep -q "^scratch: .* of its own on /dev/loop" "$TMP/iso-a/build.log"; then
	check "the second build does not even see the first's scratch (not in its mount namespace)" \
		sh -c "! nsenter -t $pb -m -- test -e '$(upper_of iso-a)/root/a-secret'"
fi
# its CPU and I/O caps are in its cgroup while it runs
cga=$(basename "$(dirname "$(dirname "$(upper_of iso-a)")")")
if [ -e /sys/fs/cgroup/cgroup.controllers ] && [ -d "/sys/fs/cgroup/rain/$cga" ]; then
	check_eq "the CPU cap is in force (v2)" "150000 100000" "$(cat "/sys/fs/cgroup/rain/$cga/cpu.max")"
	check "the I/O cap is in force (v2)" grep -q "wbps=52428800" "/sys/fs/cgroup/rain/$cga/io.max"
else
	check_eq "the CPU cap is in force (v1)" 150000 "$(cat "/sys/fs/cgroup/cpu/rain/$cga/cpu.cfs_quota_us")"
	check "the I/O cap is in force (v1)" grep -q " 52428800$" "/sys/fs/cgroup/blkio/rain/$cga/blkio.throttle.write_bps_device"
fi
# and on the scratch's own loop device, which the build writes through
loopa=$(sed -n 's|^scratch: .* of its own on \(/dev/loop[0-9]*\) .*|\1|p' "$TMP/iso-a/build.log")
if [ -n "$loopa" ]; then
	mm=$(printf '%d:%d' "0x$(stat -c %t "$loopa")" "0x$(stat -c %T "$loopa")")
	check "the I/O cap covers the scratch's loop device $loopa ($mm)" grep -q "^$mm .*52428800" \
		/sys/fs/cgroup/rain/"$cga"/io.max /sys/fs/cgroup/blkio/rain/"$cga"/blkio.throttle.write_bps_device
fi
check "the build log says so" grep -q "CPU 1.50 CPUs, I/O 50 MiB/s;" "$TMP/iso-a/build.log"
# denied_to_b CMD...: CMD fails as the second build's root on the host
# (in the first build's mount namespace, where its tree is)
denied_to_b() { ! in_a setpriv --reuid="$idb" --regid="$idb" --clear-groups "$@"; }
check "the second build's ids cannot read the first's tree" denied_to_b cat "$(upper_of iso-a)/root/a-secret"
check "nor write into it" denied_to_b touch "$(upper_of iso-a)/root/planted"
check "while the first's own ids can (the checks above test the ids)" \
	in_a setpriv --reuid="$ida" --regid="$ida" --clear-groups cat "$(upper_of iso-a)/root/a-secret"
base=$(ls -d "$CACHE"/bases/*/root | head -n 1)
check_eq "the cached base belongs to the bases' ids, not a build's" 100000 "$(stat -c %u "$base/etc")"
check "a build's ids cannot read the base's private files" denied_to_b cat "$base/etc/shadow"
check "nor change the base" denied_to_b touch "$base/etc/planted"
wait $pa
check_eq "the first build succeeds" 0 $?
wait $pb
check_eq "the second build succeeds" 0 $?
check_eq "its tar holds its own file with the image's owner" "-rw------- 0/0" "$(tar -tvf "$TMP/iso-a/iso-a.tar" ./root/a-secret | cut -c1-14)"
check "and not the other's" sh -c "! tar -tf '$TMP/iso-a/iso-a.tar' | grep -q b-secret"

# 6. mirrors on loopback, link-local or private addresses are refused
for m in http://127.0.0.1:9/debian http://localhost/debian "http://[::1]/debian" http://10.1.2.3/debian \
	http://169.254.169.254/latest http://user@192.168.1.1:8080/debian file:///etc; do
	printf '[image]\nname = private-mirror\ndistribution = debian\nmirror = %s\n[output]\nformats = tar\n' "$m" \
		>"$TMP/pm.recipe"
	rm -rf "$TMP/pm"
	"$RAIN" generate "$TMP/pm.recipe" -o "$TMP/pm" --cache "$CACHE" --quiet >/dev/null 2>"$TMP/pm.err"
	rc=$?
	check "the mirror $m is refused" test "$rc" -ne 0
	check "the error names it and says how to allow it" sh -c 'grep -qF "$1" "$2" && grep -q "allow_private_mirrors=yes" "$2"' _ "$m" "$TMP/pm.err"
	check_eq "only the build log is left for $m" build.log "$(ls -A "$TMP/pm")"
done
check "the refusal is in the build log" grep -q "is refused: localhost is 127.0.0.1\|is refused: localhost is ::1" <(
	printf '[image]\nname = pm\ndistribution = debian\nmirror = http://localhost/debian\n[output]\nformats = tar\n' >"$TMP/pm.recipe"
	rm -rf "$TMP/pm"; "$RAIN" generate "$TMP/pm.recipe" -o "$TMP/pm" --cache "$CACHE" --quiet 2>&1; cat "$TMP/pm/build.log")

# hostile limits are refused before anything runs
for l in pids=-1 pids=10 pids=1e9 memory=abc memory=0 memory=-4G cpus=0 cpus=nan tmpfs_size=1k \
	scratch_size=99999999T allow_private_mirrors=maybe bogus=1 pids; do
	"$RAIN" generate --os debian --format tar -o "$TMP/bad-limit" --cache "$CACHE" --limit "$l" >/dev/null 2>"$TMP/bl.err"
	rc=$?
	check_eq "--limit $l is a usage error" 2 "$rc"
	check "its message names the limit" grep -q -- "--limit $l" "$TMP/bl.err"
done
check "nothing was built for them" test ! -e "$TMP/bad-limit"

test_done
