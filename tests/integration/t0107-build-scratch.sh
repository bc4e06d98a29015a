#!/bin/bash
# A build's scratch is a file system of exactly scratch_size bytes on a loop
# device of its own, mounted in the build's own mount namespace: a script
# writing many small files past the limit fails at once with a message
# naming the limit, and nothing is left afterwards (mount, loop device, disk
# file) whether the build succeeds, fails, is cancelled or is killed with
# SIGKILL (its mount and loop device go with its namespace, the next
# build's sweep removes its files). Builds at once get a loop device each. Where loop devices cannot be used
# (here: /dev/loop-control hidden in a mount namespace), the build says so
# and its scratch is measured every 2 s as before. Real builds on the shared
# cache's base.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null || ! command -v losetup >/dev/null ||
	[ ! -e /dev/loop-control ]; then
	echo "ok 1 # SKIP needs root, mmdebstrap and loop devices"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
cd "$TMP" || exit 1
chmod 0711 "$TMP"

# recipe NAME SCRIPT: a tar of the shared base (kernel = yes) running SCRIPT
recipe() {
	printf '%s\n' "$2" >"$TMP/$1.sh"
	chmod 0755 "$TMP/$1.sh"
	printf '[image]\nname = %s\ndistribution = debian\n[packages]\nkernel = yes\n[scripts]\nrun = %s.sh\n[output]\nformats = tar\n' \
		"$1" "$1" >"$TMP/$1.recipe"
}
# gen NAME [ARGS...]: build NAME.recipe into $TMP/NAME (stderr in NAME.err)
gen() {
	local name=$1
	shift
	"$RAIN" generate "$TMP/$name.recipe" -o "$TMP/$name" --cache "$CACHE" --quiet "$@" \
		>"$TMP/$name.out" 2>"$TMP/$name.err"
}
# dir_of NAME: the build's directory in the work dir (from its log)
dir_of() { sed -n 's|^scratch: \([^,]*\)/scratch, .*|\1|p' "$TMP/$1/build.log" 2>/dev/null | head -n 1; }
# loop_of NAME: its loop device
loop_of() { sed -n 's|^scratch: .* of its own on \(/dev/loop[0-9]*\) .*|\1|p' "$TMP/$1/build.log" 2>/dev/null; }
# left NAME: what is left of the build's scratch: mounts, loop devices, files
left() {
	local d
	d=$(dir_of "$1")
	[ -n "$d" ] || { echo "no scratch line in $1's log"; return; }
	grep -F " $d/" /proc/self/mountinfo
	losetup -a | grep -F "$d/"
	[ -e "$d" ] && ls -la "$d"
}
# wait_for NAME PATTERN: until the build's log has a line matching PATTERN (60 s)
wait_for() {
	for _ in $(seq 1 240); do
		grep -q "$2" "$TMP/$1/build.log" 2>/dev/null && return 0
		sleep 0.25
	done
	return 1
}

# 1. many small files past a small scratch_size
recipe small-files '#!/bin/sh
mkdir /fill
i=0
while head -c 8192 /dev/zero >/fill/f$i; do i=$((i + 1)); done
echo "wrote $i files of 8 KiB"
exit 1'
start=$(date +%s)
gen small-files --limit scratch_size=64M
rc=$?
echo "# the small-files build failed after $(($(date +%s) - start)) s"
check "a build writing small files past its scratch fails" test "$rc" -ne 0 -a ! -e "$TMP/small-files/manifest.json"
check "its log says the scratch is a file system of its own" \
	grep -q "^scratch: .*, a file system of 64 MiB of its own on /dev/loop[0-9]* (writes past it fail at once)" \
	"$TMP/small-files/build.log"
check "the limits line says so too" grep -q "^limits: .*scratch 64 MiB, a file system of its own" "$TMP/small-files/build.log"
check "the script's write failed with no space left" grep -q "No space left on device" "$TMP/small-files/build.log"
check "the script wrote no more than 64 MiB" sh -c "n=\$(sed -n 's/^  wrote \([0-9]*\) files.*/\1/p' '$TMP/small-files/build.log'); [ -n \"\$n\" ] && [ \"\$n\" -gt 100 ] && [ \"\$n\" -lt 8192 ]"
check "the error says the scratch_size limit was reached" grep -q "the build reached its scratch_size limit: its scratch (the image's tree, downloads, inputs and outputs) is a file system of 64 MiB and it is full" "$TMP/small-files.err"
check "and how to raise it" grep -q "raise the limit with --limit scratch_size=SIZE (rain generate) or scratch_size in raind's \[builds\] section" "$TMP/small-files.err"
check_eq "nothing is left of its scratch" "" "$(left small-files)"
check_eq "only the build log is left of it" build.log "$(ls -A "$TMP/small-files")"

# 2. two builds at once: a loop device each; both succeed; nothing left
recipe pair-a '#!/bin/sh
echo a >/root/a
sleep 6'
recipe pair-b '#!/bin/sh
echo b >/root/b
sleep 6'
"$RAIN" generate "$TMP/pair-a.recipe" -o "$TMP/pair-a" --cache "$CACHE" --quiet --limit scratch_size=3G \
	>/dev/null 2>"$TMP/pair-a.err" &
pa=$!
gen pair-b --limit scratch_size=3G &
pb=$!
wait_for pair-a "^== installing" && wait_for pair-b "^== installing"
la=$(loop_of pair-a)
lb=$(loop_of pair-b)
check "each build has a loop device of its own" sh -c "[ -n '$la' ] && [ -n '$lb' ] && [ '$la' != '$lb' ]"
check "the first's is backed by its disk" sh -c "losetup -a | grep -F '$la:' | grep -qF '$(dir_of pair-a)/disk'"
check "the second's by its own" sh -c "losetup -a | grep -F '$lb:' | grep -qF '$(dir_of pair-b)/disk'"
check "the first's scratch is mounted in its own mount namespace" grep -qF " $(dir_of pair-a)/scratch " /proc/$pa/mountinfo
check "and not in the host's" sh -c "! grep -qF ' $(dir_of pair-a)/scratch ' /proc/self/mountinfo"
wait $pa
check_eq "the first build succeeds" 0 $?
wait $pb
check_eq "the second build succeeds" 0 $?
check "its tar holds the script's file" sh -c "tar -tf '$TMP/pair-a/pair-a.tar' | grep -qx './root/a'"
check_eq "nothing is left of the first's scratch" "" "$(left pair-a)"
check_eq "nor of the second's" "" "$(left pair-b)"

# 3. cancelled (SIGTERM, as rain generate's Ctrl-C) while its script runs
recipe cancel '#!/bin/sh
sleep 302'
"$RAIN" generate "$TMP/cancel.recipe" -o "$TMP/cancel" --cache "$CACHE" --quiet >/dev/null 2>"$TMP/cancel.err" &
pc=$!
wait_for cancel "^== installing"
sleep 2
kill -TERM $pc
wait $pc
check "a cancelled build fails" test $? -ne 0 -a ! -e "$TMP/cancel/manifest.json"
check "saying it was interrupted" grep -q "interrupted" "$TMP/cancel.err"
check_eq "nothing is left of its scratch" "" "$(left cancel)"

# 4. killed with SIGKILL: its mount and loop device go with its mount
# namespace, its directory stays until the next build's sweep
recipe killed '#!/bin/sh
sleep 303'
"$RAIN" generate "$TMP/killed.recipe" -o "$TMP/killed" --cache "$CACHE" --quiet >/dev/null 2>&1 &
pk=$!
wait_for killed "^== installing"
sleep 2
kd=$(dir_of killed)
kl=$(loop_of killed)
check "the killed build's scratch was mounted" grep -qF " $kd/scratch " /proc/$pk/mountinfo
kill -KILL $pk
wait $pk 2>/dev/null
for _ in $(seq 1 120); do losetup -a | grep -qF "$kd/" || break; sleep 0.25; done
check "its loop device $kl is detached without it" sh -c "! losetup -a | grep -F '$kd/'"
check "its directory is left for the next build" test -d "$kd"
recipe after '#!/bin/sh
echo after >/root/after'
gen after
check_eq "the next build succeeds" 0 $?
check "its sweep removed the dead build's scratch" grep -qF "removing the scratch and cgroup of a build that died: $kd" "$TMP/after/build.log"
check_eq "nothing is left of the killed build's scratch" "" "$(left killed)"
check_eq "nor of the next build's" "" "$(left after)"
check "no process of the killed build is left" sh -c "! pgrep -f 'sleep 30[3]' >/dev/null"

# 5. no loop device here (/dev/loop-control hidden): measured, and said so
recipe no-loop '#!/bin/sh
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do dd if=/dev/zero of=/var/cache/apt/archives/f$i bs=1M count=10 2>/dev/null; done
sleep 150'
unshare -m --propagation private sh -c 'mount --bind /dev/null /dev/loop-control && exec "$@"' sh \
	"$RAIN" generate "$TMP/no-loop.recipe" -o "$TMP/no-loop" --cache "$CACHE" --quiet \
	--limit scratch_size=128M --timeout 120 >/dev/null 2>"$TMP/no-loop.err"
check "a build without loop devices fails over its limit" test $? -ne 0 -a ! -e "$TMP/no-loop/manifest.json"
check "its log says the scratch is measured, and why" \
	grep -q "^scratch: .*/scratch, measured every 2 s against its limit of 128 MiB (no file system of its own: " \
	"$TMP/no-loop/build.log"
check "the limits line says so too" grep -q "^limits: .*scratch 128 MiB, measured every 2 s" "$TMP/no-loop/build.log"
check "the build is stopped while it runs" grep -q "the build's scratch grew past its limit (128 MiB; --limit scratch_size, \[builds\] scratch_size) and the build was stopped during installing and customizing" "$TMP/no-loop.err"
check "nothing is left of its scratch" test ! -e "$(dir_of no-loop)"

test_done
