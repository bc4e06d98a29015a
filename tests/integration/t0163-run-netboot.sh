#!/bin/bash
# Runs on a netboot site (issue 13): a real bookworm image with
# openssh-server registered at a netboot site whose files a real raind
# serves; its two "nodes" are diskless qemu VMs netbooted over qemu user
# networking (sshd forwarded to 127.0.0.1), powered on and off by
# netboot-power-qemu.sh, a test stand-in for their BMCs. rain provision
# run claims a free node, writes its iPXE script with the run's key on the
# kernel command line (rain's initramfs puts it in root's
# authorized_keys), powers it on, runs the job over ssh and takes it all
# down: a passing job prints /etc/os-release and uname -r from inside
# (the image's kernel), the node kept (--keep: the run's claim and script
# in place) for a failing job whose exit code comes back, then rain
# provision down; a node that does not answer within --ready-timeout is
# 125 (with its console's last lines); a node another run claimed is not
# taken; with N=2 and --each both nodes run the job, and SIGINT mid-job is
# 130. After each: no qemu left, no claim, the iPXE scripts as the
# registration wrote them, no key anywhere.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null || ! command -v qemu-system-x86_64 >/dev/null ||
	[ ! -f /usr/lib/ipxe/qemu/pxe-virtio.rom ] || [ ! -x /bin/busybox ] || ! command -v tar2sqfs >/dev/null ||
	! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
	echo "ok 1 # SKIP needs root, mmdebstrap, qemu, ipxe-qemu, busybox-static, squashfs-tools-ng and ssh"
	test_done
fi
MAC1=52:54:00:16:30:01
MAC2=52:54:00:16:30:02
cd "$TMP" || exit 1

ssh_recipe t0163-node "$TMP/node.recipe"
build_disk "$TMP/node.recipe"
KVER=$(disk_kernel "$IMG")

# raind serves the site's folder; nodes powered by the "BMC" in $BMC
netboot_run_site "$MAC1" "$MAC2" || { not_ok "raind starts"; test_done; }

mkdir -m 0700 "$TMP/reg"
start=$(date +%s)
"$RAIN" target publish --sites "$TMP/sites.ini" --site lab --state "$TMP/reg/state.json" --work "$TMP/reg" \
	"$IMG" >/dev/null 2>"$TMP/publish.err"
rc=$?
echo "# adapt and publish took $(( $(date +%s) - start )) s"
check_eq "the image is registered at the netboot site" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -20 "$TMP/publish.err" | sed 's/^/#   /'; test_done; }
S1=$SITE/ipxe/${MAC1//:/-}.ipxe
S2=$SITE/ipxe/${MAC2//:/-}.ipxe
cp "$S1" "$TMP/s1.before"
cp "$S2" "$TMP/s2.before"

# nothing of a run is left: no node VM, no claim, the scripts as the
# registration wrote them, no key
no_leaks() { # WHAT WORKDIR
	check "$1: no node VM is left" bash -c "! ps -eo args | grep -q '[q]emu-system.*hostfwd=tcp:127.0.0.1:\($P1\|$P2\)-'"
	check "$1: no claim is left" test ! -e "$SITE/claims"
	check "$1: the nodes' iPXE scripts are the registration's again" \
		bash -c "cmp '$TMP/s1.before' '$S1' && cmp '$TMP/s2.before' '$S2'"
	check "$1: no key is left (site, work folder)" \
		bash -c "! grep -rqs 'rain.ssh_key\|rain run' '$SITE' && [ ! -e '$2/key' ] && [ ! -e '$2/key.pub' ]"
}

# prun DIR ARGS...: rain provision run with its state in DIR; stdout to
# DIR/out, stderr to DIR/err, the seconds to the first output line in
# DIR/first; sets RC
prun() {
	local d=$1 t0
	shift
	mkdir -m 0700 "$d"
	t0=$(date +%s.%N)
	"$RAIN" provision run --sites "$TMP/sites.ini" --site lab --registration "$TMP/reg/state.json" \
		--state "$d/state.json" "$@" 2>"$d/err" |
		{ IFS= read -r line && { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' >"$d/first"; printf '%s\n' "$line"; cat; }; } \
		>"$d/out"
	RC=${PIPESTATUS[0]}
}
show_err() { tail -15 "$1/err" | sed 's/^/#   /'; }

# a passing job, the node kept for a failing one
prun "$TMP/pass" -n 1 --keep --ready-timeout 400 -- sh -c 'cat /etc/os-release; uname -r'
check_eq "a passing job on a node: rain provision run exits 0" 0 "$RC"
[ "$RC" -eq 0 ] || show_err "$TMP/pass"
echo "# first output line after $(cat "$TMP/pass/first" 2>/dev/null) s"
check "it printed the image's /etc/os-release from inside" \
	grep -q '^PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"$' "$TMP/pass/out"
check_eq "and uname -r: the image's own kernel" "$KVER" "$(tail -n 1 "$TMP/pass/out")"
check "on node1" grep -q "node node1 (${MAC1//:/-}) powered on" "$TMP/pass/err"
check "the node's console shows the key put in place by rain's initramfs" \
	grep -aq "rain-netboot: the run's key is in /root/.ssh/authorized_keys" "$BMC/node1.console"
RUN_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run"])' "$TMP/pass/state.json" 2>/dev/null)
check_eq "while the run lasts, node1 is claimed by it" "$RUN_ID" "$(cat "$SITE/claims/node1" 2>/dev/null)"
check "and its iPXE script boots the registration with the run's key" \
	bash -c "grep -q '^# rain run $RUN_ID\$' '$S1' && grep -q ' rain.ssh_key=[A-Za-z0-9_-]* ' '$S1' && \
		grep -q \"\$(sed -n 3p '$TMP/s1.before' | cut -d' ' -f2)\" '$S1'"
"$RAIN" provision exec --sites "$TMP/sites.ini" --site lab --state "$TMP/pass/state.json" -- \
	sh -c 'echo failing; exit 3' >"$TMP/pass/out2" 2>"$TMP/pass/err2"
check_eq "a failing job's exit code comes back" 3 "$?"
check_eq "after its output" failing "$(cat "$TMP/pass/out2")"
"$RAIN" provision down --sites "$TMP/sites.ini" --site lab --state "$TMP/pass/state.json" 2>"$TMP/pass/err3"
check_eq "rain provision down" 0 "$?"
check "powered node1 off" grep -q "node node1 powered off and released" "$TMP/pass/err3"
no_leaks "after a passing and a failing job" "$TMP/pass"

# a node that does not answer in time
prun "$TMP/slow" -n 1 --ready-timeout 5 -- true
check_eq "a node not ready within --ready-timeout: 125" 125 "$RC"
check "saying so, with the last lines of the node's console (the BMC's line at least)" \
	bash -c "grep -q 'did not answer ssh within 5 s' '$TMP/slow/err' && grep -q 'last lines of its console' '$TMP/slow/err' && \
		grep -q 'netboot-power-qemu: node1 (${MAC1}) powered on' '$TMP/slow/err'"
grep -q 'last lines of its console' "$TMP/slow/err" || show_err "$TMP/slow"
no_leaks "after the ready timeout" "$TMP/slow"

# a node claimed by another run is not taken
mkdir "$SITE/claims"
echo other-run >"$SITE/claims/node1"
prun "$TMP/busy" -n 2 -- true
check_eq "two nodes asked for, one free: 125" 125 "$RC"
check "saying how many are free" grep -q "1 of its 2 nodes are free" "$TMP/busy/err"
check_eq "the other run's claim is left alone" other-run "$(cat "$SITE/claims/node1")"
check "node2's claim was released" test ! -e "$SITE/claims/node2"
rm -r "$SITE/claims"
no_leaks "after the refusal" "$TMP/busy"

# two nodes, the job on each, SIGINT mid-job
mkdir -m 0700 "$TMP/int"
"$RAIN" provision run --sites "$TMP/sites.ini" --site lab --registration "$TMP/reg/state.json" \
	--state "$TMP/int/state.json" -n 2 --each --ready-timeout 400 -- \
	sh -c 'echo "kernel $(uname -r)"; sleep 600' >"$TMP/int/out" 2>"$TMP/int/err" &
RUN_PID=$!
for _ in $(seq 1 600); do
	[ "$(grep -c "kernel $KVER\$" "$TMP/int/out" 2>/dev/null)" -eq 2 ] && break
	kill -0 "$RUN_PID" 2>/dev/null || break
	sleep 1
done
check_eq "N=2 --each: both nodes run the job with the image's kernel" 2 "$(grep -c "kernel $KVER\$" "$TMP/int/out")"
check "each line prefixed with its instance" bash -c "grep -q '^\[rain-.*-1\] kernel' '$TMP/int/out' && \
	grep -q '^\[rain-.*-2\] kernel' '$TMP/int/out'"
kill -INT "$RUN_PID"
wait "$RUN_PID"
check_eq "SIGINT mid-job: 130" 130 "$?"
no_leaks "after SIGINT" "$TMP/int"

"$RAIN" target unpublish --sites "$TMP/sites.ini" --site lab --state "$TMP/reg/state.json" 2>"$TMP/unpublish.err"
check_eq "the registration is removed" 0 "$?"
check_eq "the site's folder is empty" "" "$(ls -A "$SITE" | grep -v '^tftp$')"
check_eq "the image is unchanged" "$IMG_SHA" "$(sha256sum <"$IMG")"
test_done
