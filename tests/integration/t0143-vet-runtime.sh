#!/bin/bash
# The runtime check (issue 11, item 3): a real bookworm disk image with
# openssh-server (built through the shared cache) is booted under qemu by
# the runtime check: sshd is found listening on port 22 of 0.0.0.0 or ::,
# ssh.service enabled, the running kernel is the one in the image's /boot,
# and the image file is unchanged afterwards (snapshot); a time limit too
# short says how far the boot got; Ctrl-C stops the machine. An ext4 image
# without a kernel and a tar of the same tree are refused with what to do.
# Driven by rain vet --runtime, which adds the runtime rules' findings to
# the report; the short time limit by tests/tools/vet-runtime.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null || ! command -v qemu-system-x86_64 >/dev/null; then
	echo "ok 1 # SKIP needs root, mmdebstrap and qemu"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
VR=$BUILD/tests/tools/vet-runtime
cd "$TMP" || exit 1
ssh_recipe t0143-ssh "$TMP/ssh.recipe"
build_disk "$TMP/ssh.recipe" "$TMP/ssh" "the bookworm image with openssh-server"
before=$IMG_SHA
boot=$(disk_kernel "$IMG")

mkdir -m 0700 "$TMP/priv"
start=$(date +%s)
TMPDIR=$TMP/priv "$RAIN" vet "$IMG" --runtime -o "$TMP/report.json" >"$TMP/summary.txt" 2>"$TMP/runtime.err"
rc=$?
echo "# rain vet --runtime took $(( $(date +%s) - start )) s in all"
check "rain vet --runtime boots the image and reports (verdict passed/warned: 0, failed: 3)" \
	test "$rc" -eq 0 -o "$rc" -eq 3
[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || tail -20 "$TMP/runtime.err" | sed 's/^/#   /'
python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1])).get("runtime"), open(sys.argv[2], "w"))' \
	"$TMP/report.json" "$TMP/facts.json" 2>/dev/null
check "sshd listens on port 22 of 0.0.0.0 or ::" python3 -c '
import json,sys; f=json.load(open(sys.argv[1]))
l=[s for s in f["listening"] if s["proto"]=="tcp" and s["port"]==22 and s["address"] in ("0.0.0.0","::")]
assert l and all(s.get("process")=="sshd" for s in l), f["listening"]' "$TMP/facts.json"
check "ssh.service is enabled" python3 -c '
import json,sys; f=json.load(open(sys.argv[1])); assert "ssh.service" in f["enabled"], f["enabled"]' "$TMP/facts.json"
check "no unit failed" python3 -c '
import json,sys; f=json.load(open(sys.argv[1])); assert f["failed"]==[], f["failed"]' "$TMP/facts.json"
check_eq "the running kernel is the image's /boot/vmlinuz-$boot" "$boot" "$(json_get kernel <"$TMP/facts.json")"
check "the report has sshd's sockets as runtime-listening findings (medium, warn)" python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))
f=[x for x in r["findings"] if x["rule"]=="runtime-listening"]
assert len(f)>=1 and all(x["severity"]=="medium" and x["action"]=="warn" for x in f), f
assert any(x.get("process")=="sshd" and x["port"]==22 for x in f), f' "$TMP/report.json"
check "and the summary lists them" grep -q "sshd listens on tcp" "$TMP/summary.txt"
python3 -c 'import json,sys; f=json.load(open(sys.argv[1])); print("# boot and collect: %.1f s under %s" % (f["seconds"], f["accelerator"]))' \
	"$TMP/facts.json" 2>/dev/null
check_eq "the image file is unchanged (sha256)" "$before" "$(sha256sum <"$IMG")"
check "the console was followed" grep -q "Reached target" "$TMP/runtime.err"
check_eq "its private folder (kernel, initramfs, qemu's overlay) is removed" "" "$(ls -A "$TMP/priv")"

# a time limit too short for the boot (rain_vet_runtime through
# tests/tools/vet-runtime: the CLI keeps the default): what the console
# showed last
TMPDIR=$TMP/priv "$VR" "$IMG" 8 >/dev/null 2>"$TMP/short.err"
check "a boot that does not report in time fails" test $? -eq 1
check "saying so, with the last console lines" grep -q "did not report within 8 s .*the last console lines:" "$TMP/short.err"
check_eq "and leaving nothing behind" "" "$(ls -A "$TMP/priv")"
check_eq "the image is still unchanged" "$before" "$(sha256sum <"$IMG")"

# interrupted (Ctrl-C) while the machine boots: qemu is stopped, nothing
# is left behind
TMPDIR=$TMP/priv "$RAIN" vet "$IMG" --runtime >/dev/null 2>"$TMP/int.err" &
vet_pid=$!
for _ in $(seq 120); do grep -q "^| " "$TMP/int.err" && break; sleep 1; done
kill -INT "$vet_pid"
wait "$vet_pid"
check "an interrupted runtime check fails" test $? -ne 0
check "saying so" grep -q "runtime check: interrupted" "$TMP/int.err"
check "its qemu is gone" sh -c "! pgrep -f '[f]ile:$TMP/priv/' >/dev/null"
check_eq "and its private folder" "" "$(ls -A "$TMP/priv")"

# no kernel: an ext4 image, and a tar of the same tree
printf '[image]\nname = t0143-nokernel\ndistribution = debian\nrelease = bookworm\n[packages]\nkernel = no\n[output]\nformats = ext4, tar\n' \
	>"$TMP/nokernel.recipe"
"$RAIN" generate "$TMP/nokernel.recipe" -o "$TMP/nokernel" --cache "$CACHE" >/dev/null 2>"$TMP/nokernel.err"
check "the image without a kernel is built" test -s "$TMP/nokernel/t0143-nokernel.ext4"
"$RAIN" vet "$TMP/nokernel/t0143-nokernel.ext4" --runtime >/dev/null 2>"$TMP/nokernel-vet.err"
check "an image without a kernel is refused" test $? -eq 1
check "saying what to do" grep -q "the runtime check needs an image with a kernel: build it with \[packages\] kernel = yes or vet a disk image" "$TMP/nokernel-vet.err"
"$RAIN" vet "$TMP/nokernel/t0143-nokernel.tar" --runtime >/dev/null 2>"$TMP/tar-vet.err"
check "a tar is refused: not a disk" grep -q "is a tar tree, not a disk image" "$TMP/tar-vet.err"
test_done
