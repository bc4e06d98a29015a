#!/bin/bash
# rain generate on cached bases: recipe scripts in the sandbox (root inside,
# an unprivileged id range of the build's own on the host, no network, no host files), a
# failing script, two builds at once that never see each other, a build
# from the cached base, a clone of a repository image booted under qemu, and
# regenerating an image from its stored recipe.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null; then
	echo "ok 1 # SKIP needs root and mmdebstrap"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
cd "$TMP" || exit 1
# a cache under a private directory is refused with what to do
mkdir -p "$TMP/private/cache" && chmod 0700 "$TMP/private"
"$RAIN" generate --os debian --format tar -o "$TMP/private-out" --cache "$TMP/private/cache" 2>"$TMP/private.err"
check "a cache the sandbox cannot reach is refused" test $? -ne 0
check "the error says which directory and what to do" grep -q "$TMP/private is not searchable by others; chmod o+x it" "$TMP/private.err"
chmod 0711 "$TMP"   # the sandbox reaches the small cache below
echo "only the host has this" >"$TMP/host-secret"
echo "parent file" >"$TMP/parent-file"
cat >"$TMP/check.sh" <<SCRIPT
#!/bin/sh
set -e
echo "uid \$(id -u)" >/etc/rain-script-id
cat /proc/self/uid_map >/etc/rain-uid-map
grep -c : /proc/net/dev >/etc/rain-net-count
if [ -e "$TMP/host-secret" ]; then echo visible; else echo hidden; fi >/etc/rain-host-view
SCRIPT
cat >"$TMP/parent.recipe" <<RECIPE
[image]
name = t0101-parent
distribution = debian
[files]
copy = parent-file:/etc/rain-parent-file
[scripts]
run = check.sh
[output]
formats = qcow2
size = 2G
RECIPE

raind_start || exit 1
"$RAIN" generate "$TMP/parent.recipe" -o "$TMP/parent" --cache "$CACHE" --store --json \
	>"$TMP/parent.json" 2>"$TMP/parent.err"
check_eq "a recipe with a script builds and is stored" 0 $?
check_eq "the base came from the cache" true "$(json_get base.cached <"$TMP/parent.json")"
echo "# build from the cached base: $(json_get timings.total_s <"$TMP/parent.json") s"
qemu-img convert -f qcow2 -O raw "$TMP/parent/t0101-parent.qcow2" "$TMP/parent.raw"
rd() { # rd FILE: a file of the parent's root file system
	debugfs -R "cat $1" "$TMP/parent.raw?offset=1048576" 2>/dev/null
}
check_eq "the script ran as root inside the sandbox" "uid 0" "$(rd /etc/rain-script-id)"
map=$(rd /etc/rain-uid-map)
check "inside root is an id range of the build's own, not the host's root nor the bases' 100000" sh -c "echo '$map' | grep -Eq '^ *0 +[0-9]+ +65536' && id=\$(echo '$map' | awk '{print \$2}') && [ \$id -gt 100000 ] && [ \$(( (id - 100000) % 65536 )) -eq 0 ]"
check_eq "the script had no network but loopback" 1 "$(rd /etc/rain-net-count)"
check_eq "the script could not see the host's files" hidden "$(rd /etc/rain-host-view)"
check_eq "the copied file is in the image" "parent file" "$(rd /etc/rain-parent-file)"

call GET "/v2/images?name=t0101-parent"
parent=$(json_get images.0.id <<<"$BODY")
check "the stored image carries its recipe's files" sh -c "test -n \"\$1\"" _ "$(json_get images.0.rain_recipe_inputs <<<"$BODY")"

# a failing script fails the build with its name, leaving only the log
printf '#!/bin/sh\necho failing on purpose\nexit 3\n' >"$TMP/fail.sh"
chmod +x "$TMP/fail.sh"
printf '[image]\nname = failing\ndistribution = debian\n[scripts]\nrun = fail.sh\n[output]\nformats = tar\n' \
	>"$TMP/fail.recipe"
"$RAIN" generate "$TMP/fail.recipe" -o "$TMP/fail" --cache "$CACHE" --store >/dev/null 2>"$TMP/fail.err"
check "a failing script fails the build" test $? -ne 0
check "the error names the recipe, the script and its status" \
	grep -q "fail.recipe: \[scripts\] run = fail.sh: script fail.sh failed (exit status 3)" "$TMP/fail.err"
check "the script's output is in the log" grep -q "failing on purpose" "$TMP/fail/build.log"
check_eq "only the build log is left" build.log "$(ls -A "$TMP/fail")"
check_eq "nothing was stored" 0 "$(api GET '/v2/images?name=failing' | head -n 1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["images"]))')"
# scratch_of NAME: the scratch directory of the build whose output was $TMP/NAME
# (other builds may share the cache: only this one's is looked for)
scratch_of() { sed -n 's/^limits: [^;]*rain\/\(build\.[A-Za-z0-9]*\);.*/\1/p' "$TMP/$1/build.log"; }
failed_scratch=$(scratch_of fail)
check "no build directory is left in the cache" sh -c "[ -n '$failed_scratch' ] && [ ! -e '$CACHE/work/$failed_scratch' ]"

# a time limit stops the build; kill -9 leaves nothing running, and the
# next build removes what it left
printf '#!/bin/sh\nexec sleep 301\n' >"$TMP/sleep.sh"
chmod +x "$TMP/sleep.sh"
printf '[image]\nname = slow\ndistribution = debian\n[scripts]\nrun = sleep.sh\n[output]\nformats = tar\n' \
	>"$TMP/slow.recipe"
start=$(date +%s)
"$RAIN" generate "$TMP/slow.recipe" -o "$TMP/slow" --cache "$CACHE" --timeout 20 >/dev/null 2>"$TMP/slow.err"
check "a build over its time limit fails" test $? -ne 0
check "within moments of the limit" test $(( $(date +%s) - start )) -lt 45
check "the error says it ran out of time" grep -q "took longer than its time limit (20 s)" "$TMP/slow.err"
check_eq "only the build log is left after the time limit" build.log "$(ls -A "$TMP/slow")"
check "no script is left running" sh -c "! pgrep -f 'sleep 30[1]' >/dev/null"
"$RAIN" generate "$TMP/slow.recipe" -o "$TMP/killed" --cache "$CACHE" >/dev/null 2>&1 &
gpid=$!
for _ in $(seq 1 120); do grep -q '^+ script' "$TMP/killed/build.log" 2>/dev/null && break; sleep 0.5; done
kill -9 "$gpid"
wait "$gpid" 2>/dev/null
sleep 1
check "kill -9 of rain generate leaves no process of its sandbox" sh -c "! pgrep -f 'sleep 30[1]' >/dev/null"
check "and no mount on the host" sh -c "! grep -q '$CACHE/work' /proc/mounts"
# (other builds may share the cache: look for this one's scratch and cgroup)
dead=$(scratch_of killed)
check "the next build removes the dead build's scratch and cgroup" sh -c "[ -n '$dead' ] && '$RAIN' generate --os debian --format tar --name after-kill -o '$TMP/after-kill' --cache '$CACHE' --quiet && [ ! -e '$CACHE/work/$dead' ] && ! ls -d /sys/fs/cgroup/rain/'$dead' /sys/fs/cgroup/*/rain/'$dead' 2>/dev/null | grep -q ."

# a full disk: a clear error, only the log, and the same cache works after
mkdir "$TMP/small" && mount -t tmpfs -o size=64m tmpfs "$TMP/small" && chmod 0755 "$TMP/small"
"$RAIN" generate --os debian --format tar --name full -o "$TMP/full" --cache "$TMP/small" >/dev/null 2>"$TMP/full.err"
check "a build on a full disk fails" test $? -ne 0
check "the error says the disk is full" grep -q "the disk is full (no space left on device) under $TMP/small" "$TMP/full.err"
check_eq "only the build log is left after it" build.log "$(ls -A "$TMP/full")"
check_eq "no half-made base or build directory stays in the cache" "" "$(ls -A "$TMP/small/work"; find "$TMP/small/bases" -mindepth 1 -not -name '*.lock')"
mount -o remount,size=3g "$TMP/small"
check "with space again, the same cache builds" "$RAIN" generate --os debian --format tar --name full \
	-o "$TMP/full2" --cache "$TMP/small" --quiet
umount "$TMP/small"

# two builds at once on one base, each with its own package
"$RAIN" generate --os debian --format tar --packages jq --name two-a -o "$TMP/two-a" --cache "$CACHE" \
	--quiet 2>"$TMP/two-a.err" &
a=$!
"$RAIN" generate --os debian --format tar --packages less --name two-b -o "$TMP/two-b" --cache "$CACHE" \
	--quiet 2>"$TMP/two-b.err" &
b=$!
wait $a
check_eq "the first of two concurrent builds succeeds" 0 $?
wait $b
check_eq "the second of two concurrent builds succeeds" 0 $?
check "the first has jq" sh -c "tar -tf '$TMP/two-a/two-a.tar' | grep -q '^./usr/bin/jq$'"
check "the first has not the second's less" sh -c "! tar -tf '$TMP/two-a/two-a.tar' | grep -q '^./usr/bin/less$'"
check "the second has less but not jq" sh -c "tar -tf '$TMP/two-b/two-b.tar' | grep -q '^./usr/bin/less$' && ! tar -tf '$TMP/two-b/two-b.tar' | grep -q '^./usr/bin/jq$'"
check_eq "an image without a host name is not named after the build host" localhost \
	"$(tar -xOf "$TMP/two-a/two-a.tar" ./etc/hostname)"
check "the tar keeps the image's owners and setuid bits" sh -c "tar -tvf '$TMP/two-a/two-a.tar' ./usr/bin/passwd | grep -q '^-rwsr-xr-x 0/0'"

# a clone of the stored image, with one more package, booted
cat >"$TMP/clone.recipe" <<RECIPE
[image]
name = t0101-clone
distribution = debian
base = image:t0101-parent
[packages]
install = less
[output]
formats = disk, qcow2
boot_check = yes
RECIPE
"$RAIN" generate "$TMP/clone.recipe" -o "$TMP/clone" --cache "$CACHE" --store --json \
	>"$TMP/clone.json" 2>"$TMP/clone.err"
rc=$?
check_eq "a clone of a repository image builds, boots and is stored" 0 "$rc"
[ "$rc" -eq 0 ] || tail -20 "$TMP/clone.err" | sed 's/^/#   /'
check_eq "the clone booted" passed "$(json_get boot_check.result <"$TMP/clone.json")"
check_eq "the manifest names the parent" "$parent" "$(json_get base.image <"$TMP/clone.json")"
check "the clone has the parent's packages and its own" python3 -c '
import json,sys; m=json.load(open(sys.argv[1])); names={p["name"] for p in m["packages"]}
assert "less" in names and any(n.startswith("linux-image-") for n in names), names' "$TMP/clone.json"
rc() { debugfs -R "cat $1" "$TMP/clone/t0101-clone.raw?offset=1048576" 2>/dev/null; }
check_eq "the clone keeps the parent's files" "parent file" "$(rc /etc/rain-parent-file)"
call GET "/v2/images?name=t0101-clone"
check_eq "the stored clone records its parent" "$parent" "$(json_get images.0.rain_parent_image <<<"$BODY")"
"$RAIN" generate "$TMP/clone.recipe" -o "$TMP/clone2" --cache "$CACHE" --format tar >/dev/null 2>&1
check_eq "a recipe file and --format do not mix" 2 $?

# regenerate the parent from its stored recipe and files
"$RAIN" generate --from-image t0101-parent --name regen -o "$TMP/regen" --cache "$CACHE" --json \
	>"$TMP/regen.json" 2>"$TMP/regen.err"
check_eq "--from-image regenerates the image" 0 $?
check "the regenerated image has the stored file" sh -c "qemu-img convert -f qcow2 -O raw '$TMP/regen/regen.qcow2' '$TMP/regen.raw' && debugfs -R 'cat /etc/rain-parent-file' '$TMP/regen.raw?offset=1048576' 2>/dev/null | grep -qx 'parent file'"
"$RAIN" generate --from-image no-such-image -o "$TMP/none" --cache "$CACHE" 2>"$TMP/none.err"
check "--from-image of an unknown image fails" test $? -ne 0
check "and says so" grep -qi "no-such-image" "$TMP/none.err"
test_done
