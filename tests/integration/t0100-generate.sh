#!/bin/bash
# rain generate: a real Debian bookworm build from the mirror with a
# kernel, a user with an ssh key, an extra package and a file, booted under
# qemu to multi-user, stored in a real raind; then the failure cases.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null; then
	echo "ok 1 # SKIP needs root and mmdebstrap"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
cd "$TMP" || exit 1
ssh-keygen -q -t ed25519 -N '' -f "$TMP/key" >/dev/null
echo "hello from a rain recipe" >"$TMP/motd"
cat >"$TMP/node.recipe" <<RECIPE
[image]
name = t0100-node
distribution = debian
release = bookworm
[packages]
install = curl
[system]
hostname = rain-test
timezone = Europe/Berlin
[user alice]
sudo = yes
ssh_key = $(cat "$TMP/key.pub")
[files]
copy = motd:/etc/motd
[output]
formats = disk, qcow2, tar.zst
size = 2G
[metadata]
os_distro = debian
vm_type = kvm
RECIPE

raind_start || exit 1
start=$(date +%s)
"$RAIN" generate "$TMP/node.recipe" -o "$TMP/out" --cache "$CACHE" --boot-check --store \
	>"$TMP/gen.out" 2>"$TMP/gen.err"
rc=$?
echo "# build + boot check + store took $(( $(date +%s) - start )) s"
check_eq "rain generate --boot-check --store succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -40 "$TMP/gen.err" | sed 's/^/#   /'; test_done; }
M=$TMP/out/manifest.json
check "the manifest exists" test -s "$M"
check_eq "boot check passed" passed "$(json_get boot_check.result <"$M")"
check "the SBOM lists curl with its version" python3 -c '
import json,sys; m=json.load(open(sys.argv[1]))
p=[x for x in m["packages"] if x["name"]=="curl"]
assert p and p[0]["version"], p
assert any(x["name"].startswith("linux-image-") for x in m["packages"])' "$M"
check "the manifest records the recipe and timings" python3 -c '
import json,sys; m=json.load(open(sys.argv[1]))
assert "t0100-node" in m["recipe"] and m["timings"]["total_s"] > 0' "$M"
for f in t0100-node.raw t0100-node.qcow2 t0100-node.tar.zst vmlinuz initrd.img build.log; do
	check "output $f exists" test -s "$TMP/out/$f"
done
check "output hashes in the manifest match the files" python3 -c '
import json,sys,hashlib,os; m=json.load(open(sys.argv[1])); d=os.path.dirname(sys.argv[1])
for o in m["outputs"]:
    h=hashlib.sha256()
    with open(os.path.join(d,o["file"]),"rb") as f:
        for b in iter(lambda: f.read(1<<20), b""): h.update(b)
    assert h.hexdigest()==o["sha256"], o["file"]' "$M"
check "the qcow2 is valid" qemu-img check "$TMP/out/t0100-node.qcow2"
check "the raw disk has a bootable partition at 1 MiB" sh -c "sfdisk -d '$TMP/out/t0100-node.raw' | grep -q 'start= *2048.*bootable'"
T=$TMP/out/t0100-node.tar.zst
check_eq "the file was copied in" "hello from a rain recipe" "$(tar --zstd -xOf "$T" ./etc/motd)"
check_eq "the host name is set" rain-test "$(tar --zstd -xOf "$T" ./etc/hostname)"
check_eq "alice's key is authorized" "$(cat "$TMP/key.pub")" "$(tar --zstd -xOf "$T" ./home/alice/.ssh/authorized_keys)"
check "authorized_keys belongs to alice with mode 0600" sh -c "tar --zstd -tvf '$T' ./home/alice/.ssh/authorized_keys | grep -q '^-rw------- 1000/1000'"
check "alice may sudo" sh -c "tar --zstd -xOf '$T' ./etc/sudoers.d/90-rain-alice | grep -q 'alice ALL=(ALL) NOPASSWD:ALL'"
check "no ssh host keys are baked into the image" sh -c "! tar --zstd -tf '$T' | grep -q 'etc/ssh/ssh_host_'"
check "the time zone is set" sh -c "tar --zstd -tvf '$T' ./etc/localtime | grep -q 'Europe/Berlin'"
check "the initramfs was built once, small (MODULES=list)" test "$(stat -c %s "$TMP/out/initrd.img")" -lt 30000000

# stored in the repository with its recipe
call GET "/v2/images?name=t0100-node"
check_status "the image is in the repository" 200
id=$(json_get images.0.id <<<"$BODY")
check_eq "stored image is active" active "$(json_get images.0.status <<<"$BODY")"
check_eq "stored as qcow2" qcow2 "$(json_get images.0.disk_format <<<"$BODY")"
check_eq "recipe metadata became properties" kvm "$(json_get images.0.vm_type <<<"$BODY")"
check_eq "the boot check is recorded" passed "$(json_get images.0.rain_boot_check <<<"$BODY")"
check "the stored recipe parses again" sh -c "printf '%s' \"\$1\" | grep -q 'name = t0100-node'" _ "$(json_get images.0.rain_recipe <<<"$BODY")"
check_eq "stored data is the qcow2 output" "$(sha256sum <"$TMP/out/t0100-node.qcow2" | cut -c1-64)" \
	"$(json_get images.0.os_hash_value <<<"$BODY")"
check_eq "qcow2 virtual size is the disk size" "$(stat -c %s "$TMP/out/t0100-node.raw")" \
	"$(json_get images.0.virtual_size <<<"$BODY")"
"$RAIN" image show t0100-node --packages -f value -c package -c version >"$TMP/pkgs.txt"
check "rain image show --packages lists every package of the manifest with its version" python3 -c '
import json,sys; m=json.load(open(sys.argv[1]))
got=[l.split() for l in open(sys.argv[2]).read().splitlines()]
assert got == [[p["name"], p["version"]] for p in m["packages"]], (len(got), len(m["packages"]))' "$M" "$TMP/pkgs.txt"
"$RAIN" image show t0100-node >"$TMP/show.txt"
check "rain image show prints the stored recipe as its lines" grep -Eq '^ +name = t0100-node$' "$TMP/show.txt"

# an unknown package fails the build with its name, leaving only the log
sed 's/^install = curl$/install = curl, rain-no-such-package/; s/^name = t0100-node$/name = bad/' \
	"$TMP/node.recipe" >"$TMP/bad.recipe"
"$RAIN" generate "$TMP/bad.recipe" -o "$TMP/bad" --cache "$CACHE" --store >/dev/null 2>"$TMP/bad.err"
check "an unknown package fails the build" test $? -ne 0
check "the error names the package" grep -q "package 'rain-no-such-package' does not exist" "$TMP/bad.err"
check_eq "only the build log is left" build.log "$(ls -A "$TMP/bad")"
check_eq "nothing was stored" 0 "$(api GET '/v2/images?name=bad' | head -n 1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["images"]))')"

# an unreachable mirror fails quickly with a clear error, leaving only the log
# (a loopback mirror: allowed for this build)
printf '[image]\nname = nomirror\ndistribution = debian\nmirror = http://127.0.0.1:9/debian\n[output]\nformats = tar\n' \
	>"$TMP/nomirror.recipe"
"$RAIN" generate "$TMP/nomirror.recipe" -o "$TMP/nomirror" --cache "$CACHE" --limit allow_private_mirrors=yes \
	>/dev/null 2>"$TMP/nomirror.err"
check "an unreachable mirror fails the build" test $? -ne 0
check "the error names the mirror" grep -q "the mirror http://127.0.0.1:9/debian cannot be reached" "$TMP/nomirror.err"
check_eq "only the build log is left after it" build.log "$(ls -A "$TMP/nomirror")"
"$RAIN" generate "$TMP/nomirror.recipe" -o "$TMP/nomirror" --cache "$CACHE" --limit allow_private_mirrors=yes \
	>/dev/null 2>"$TMP/nomirror2.err"
check "the retry stops at the folder the failed build left, naming --force" grep -q "exists already; give --force" "$TMP/nomirror2.err"
"$RAIN" generate "$TMP/nomirror.recipe" -o "$TMP/nomirror" --cache "$CACHE" --limit allow_private_mirrors=yes \
	--force >/dev/null 2>"$TMP/nomirror2.err"
check "with --force it builds again (and fails on the mirror again)" grep -q "the mirror http://127.0.0.1:9/debian cannot be reached" "$TMP/nomirror2.err"

# a malformed recipe names file, line and key
printf '[image]\ndistribution = debian\n[packages]\ninstall = ok, b@d\n' >"$TMP/malformed.recipe"
"$RAIN" generate "$TMP/malformed.recipe" -o "$TMP/m" 2>"$TMP/m.err"
check_eq "a malformed recipe exits 1" 1 $?
check "the error says where" grep -q "malformed.recipe:4: \[packages\] install: 'b@d' is not a package name" "$TMP/m.err"
check "nothing was created for it" test ! -e "$TMP/m"

# Ctrl-C: the build stops, only its log stays, no process is left
# (the cache may be shared with other builds: only what appears now counts)
leftovers() { ls -d "$CACHE"/bases/*.new "$CACHE"/work/build.* 2>/dev/null | sort; }
leftovers >"$TMP/before.left"
"$RAIN" generate "$TMP/node.recipe" -o "$TMP/int" --cache "$CACHE" >/dev/null 2>&1 &
gpid=$!
sleep 8
kill -INT "$gpid"
wait "$gpid"
check "an interrupted build exits non-zero" test $? -ne 0
check_eq "an interrupted build leaves only its log" build.log "$(ls -A "$TMP/int")"
check "no mmdebstrap is left running" sh -c "! pgrep -f '[/]usr/bin/mmdebstrap' >/dev/null"
leftovers >"$TMP/after.left"
check_eq "no half-made base and no build directory are left" "" "$(comm -13 "$TMP/before.left" "$TMP/after.left")"
check "the next build still works with the same cache" "$RAIN" generate --os debian --format tar \
	--name after-cancel -o "$TMP/after" --cache "$CACHE" --quiet
test_done
