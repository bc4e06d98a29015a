#!/bin/bash
# rain generate for an RPM distribution (Rocky): only Debian's mirror is
# reachable from the test machines, so this proves the failure path: the
# mirror probe fails fast, names the mirror, leaves only the log and
# stores nothing. The RPM builder's command lines and repository files are
# unit-tested (tests/unit/test-builder-rpm.c); the backend runs end to end
# through real dnf against a signed test repository in t0108.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "ok 1 # SKIP needs root"
	test_done
fi
# a cache of its own, to see exactly what a failed build leaves; the
# sandbox's root must pass through $TMP to reach it
chmod 0711 "$TMP"
CACHE=$TMP/cache
cd "$TMP" || exit 1

raind_start || exit 1
start=$(date +%s)
timeout 120 "$RAIN" generate --os rocky --release 9 --format tar -o "$TMP/rocky" --cache "$CACHE" --store \
	>"$TMP/rocky.out" 2>"$TMP/rocky.err"
rc=$?
took=$(( $(date +%s) - start ))
echo "# rocky 9 with an unreachable mirror failed after $took s"
check "an unreachable RPM mirror fails the build" test "$rc" -ne 0 -a "$rc" -ne 124
check "it fails within 60 s" test "$took" -lt 60
check "the error names the mirror" grep -q "the mirror https://dl.rockylinux.org/pub/rocky cannot be reached" "$TMP/rocky.err"
check "the error says what to do" grep -q "RPM builds need a reachable mirror; set \[image\] mirror" "$TMP/rocky.err"
check "the log says it too" grep -q "cannot be reached" "$TMP/rocky/build.log"
check_eq "only the build log is left" build.log "$(ls -A "$TMP/rocky")"
check_eq "no base was kept" "" "$(ls -A "$CACHE/bases" 2>/dev/null | grep -v '\.lock$')"
check_eq "no scratch was left" "" "$(ls -A "$CACHE/work" 2>/dev/null)"
check_eq "nothing was stored" 0 "$(api GET '/v2/images' | head -n 1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["images"]))')"

# a mirror of one's own that is down: named as it was written
printf '[image]\nname = r8\ndistribution = alma\nrelease = 8\nmirror = http://127.0.0.1:9/alma\n[output]\nformats = tar\n' \
	>"$TMP/alma.recipe"
"$RAIN" generate "$TMP/alma.recipe" -o "$TMP/alma" --cache "$CACHE" --limit allow_private_mirrors=yes \
	>/dev/null 2>"$TMP/alma.err"
check "a local mirror that is down fails the build" test $? -ne 0
check "the error names that mirror" grep -q "the mirror http://127.0.0.1:9/alma cannot be reached" "$TMP/alma.err"
check_eq "only the build log is left for it" build.log "$(ls -A "$TMP/alma")"

raind_stop
test_done
