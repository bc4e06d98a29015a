#!/bin/bash
# Runs at a libvirt site with reach = agent (issue 13): instances without
# any network, reached through the QEMU guest agent on a virtio-serial
# channel, with the user's work folder shared in read-only over 9p.
# A real libvirtd (start_libvirtd) and a rain-built bookworm disk
# with qemu-guest-agent and no ssh server, published with rain target
# publish (its domain gets the channel org.qemu.guest_agent.0). One
# instance is started and kept (one TCG boot); then, through rain
# provision exec: the shared folder read and not written, a passing job (its /etc/os-release, stderr in order, the
# guest's only network interface is lo, no qemu -netdev), a result file
# fetched (--out), a job script, a failing job's exit code, a job whose
# first line arrives while it still runs (streamed), a walltime: 124 with
# the job's processes killed in the guest, SIGINT mid-job: 130; down, and
# no domain, volume, qemu or key of the run left, the registration's
# domain and volumes intact. A reach setting that is neither ssh nor
# agent is refused.
source "$(dirname "$0")/lib.sh"

for c in mmdebstrap qemu-system-x86_64 libvirtd virtlogd virsh setpriv ssh-keygen; do
	command -v "$c" >/dev/null || { echo "ok 1 # SKIP needs $c"; test_done; }
done
if [ "$(id -u)" -ne 0 ]; then
	echo "ok 1 # SKIP needs root"
	test_done
fi
cd "$TMP" || exit 1
T0=$(date +%s)

cat >"$TMP/qga.recipe" <<RECIPE
[image]
name = t0168
distribution = debian
release = bookworm
[packages]
install = qemu-guest-agent
[output]
formats = disk
size = 2G
RECIPE
build_disk "$TMP/qga.recipe" "$TMP/img" "the bookworm disk with qemu-guest-agent"
start_libvirtd
check_eq "libvirtd starts" 0 $?
[ -n "$LIBVIRTD_PID" ] || test_done
libvirt_pool t0168
check_eq "a dir pool in the test's folder" 0 $?
cat >"$TMP/sites.ini" <<EOF
[site.ag]
uri = libvirt:$LIBVIRT_URI
pool = t0168
domain_type = qemu
memory = 768M
reach = agent
EOF
printf '[site.bad]\nuri = libvirt:%s\nreach = telnet\n' "$LIBVIRT_URI" >"$TMP/bad.ini"

"$RAIN" target publish --sites "$TMP/bad.ini" --site bad --state "$TMP/bad.json" \
	--work "$TMP/bad" --id bad "$IMG" >/dev/null 2>"$TMP/bad.err"
check "reach = telnet is refused" test $? -ne 0
check "saying what reach takes" grep -q "reach: 'telnet': expected ssh .* or agent" "$TMP/bad.err"

"$RAIN" target publish --sites "$TMP/sites.ini" --site ag --state "$TMP/reg.json" \
	--work "$TMP/reg" --id t0168 "$IMG" >/dev/null 2>"$TMP/pub.err"
check_eq "rain target publish to the site with reach = agent" 0 $?
lv dumpxml --inactive rain-t0168 >"$TMP/reg.xml"
check "the registration's domain has the guest agent's channel" \
	grep -q "name=.org.qemu.guest_agent.0" "$TMP/reg.xml"
echo "# registered after $(($(date +%s) - T0)) s"

mkdir -p -m 0700 "$TMP/a"
P=(--sites "$TMP/sites.ini" --site ag --state "$TMP/a/state.json")
# leaks: what is left of run a: domains, volumes and their files, qemu
# processes, the key pair
leaks() { libvirt_run_leaks t0168 g "$TMP/a"; }
# wait_for FILE PID PATTERN: until FILE holds PATTERN or PID ends
wait_for() {
	for _ in $(seq 1 600); do
		grep -q "$3" "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

# the user's work folder, shared in read-only (9p); qemu runs as the
# daemon's user, which must read it
mkdir -p "$TMP/work"
echo "from the host" >"$TMP/work/in.txt"
chmod 0755 "$TMP/work" && chmod 0644 "$TMP/work/in.txt"
# (run id g, not t0161's a: its checks find qemu by domain name; and short:
# the channel's socket, which libvirt makes under this daemon's deep
# XDG_CONFIG_HOME, has at most 107 characters)
start=$(date +%s)
"$RAIN" provision up "${P[@]}" --work "$TMP/a" --registration "$TMP/reg.json" --id g \
	--ready-timeout 400 --share "$TMP/work" >/dev/null 2>"$TMP/a-up.err"
rc=$?
check_eq "provision up: the instance's agent answers" 0 "$rc"
echo "# ready after $(($(date +%s) - start)) s"
if [ "$rc" -ne 0 ]; then
	tail -20 "$TMP/a-up.err" | sed 's/^/#   /'
	"$RAIN" provision down "${P[@]}" >/dev/null 2>&1
	test_done
fi
check "the state names the instance reached by agent, without ssh" \
	python3 -c 'import json,sys; i=json.load(open(sys.argv[1]))["instances"][0]; sys.exit(not ("agent" in i and "ssh" not in i))' "$TMP/a/state.json"
lv dumpxml rain-g-1 >"$TMP/a.xml"
check "the instance's domain has no network interface" test "$(grep -c "<interface" "$TMP/a.xml")" = 0
check "and the agent's channel" grep -q "name=.org.qemu.guest_agent.0" "$TMP/a.xml"
check "the work folder is shared in read-only (9p)" \
	grep -q "<filesystem type=.mount. accessmode=.mapped." "$TMP/a.xml"
pgrep -af -- "guest=rain-g-1" >"$TMP/a.qemu"
check "its qemu runs" grep -q qemu "$TMP/a.qemu"
check "with no network device" test "$(grep -c -- "-netdev" "$TMP/a.qemu")" = 0

# a passing job: its output in order, the guest sees only lo
"$RAIN" provision exec "${P[@]}" --out result.txt --outdir "$TMP/a-out" -- sh -c \
	'grep ^PRETTY_NAME /etc/os-release; echo to-stderr >&2; echo "nets: $(ls /sys/class/net)";
	 pwd; echo "made in the guest" > result.txt' >"$TMP/a1.out" 2>"$TMP/a1.err"
check_eq "a passing job exits 0" 0 $?
check "its output: the image's os-release" grep -q '^PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' "$TMP/a1.out"
check "its stderr, in order" test "$(sed -n 2p "$TMP/a1.out")" = to-stderr
check_eq "the guest's only network interface is lo" "nets: lo" "$(grep '^nets:' "$TMP/a1.out")"
check_eq "it ran in the job's folder" /root/rain-job "$(sed -n 4p "$TMP/a1.out")"
check_eq "the result file is fetched (--out)" "made in the guest" "$(cat "$TMP/a-out/result.txt" 2>/dev/null)"
check "a result file is private" test "$(stat -c %a "$TMP/a-out/result.txt")" = 600

# the shared work folder, mounted at the job folder's work/
"$RAIN" provision exec "${P[@]}" -- sh -c 'cat work/in.txt
	if touch work/new 2>/dev/null; then echo writable; else echo read-only; fi' \
	>"$TMP/share.out" 2>"$TMP/share.err"
check_eq "the job reads the host's file in work/" "from the host" "$(head -1 "$TMP/share.out")"
check_eq "and cannot write there (read-only)" read-only "$(sed -n 2p "$TMP/share.out")"
check "nothing was written to the host's folder" test ! -e "$TMP/work/new"

# a missing result file: a clear error
"$RAIN" provision exec "${P[@]}" --out missing.txt --outdir "$TMP/a-out" -- true \
	>/dev/null 2>"$TMP/a2.err"
check "a missing result file fails the step" test $? -ne 0
check "naming it" grep -q "cannot fetch missing.txt of rain-g-1" "$TMP/a2.err"

# a job script, its words with quotes and spaces kept
printf '#!/bin/sh\necho "script: $0 $#"\nprintf "%%s|" "$@"\necho\nexit 3\n' >"$TMP/job.sh"
"$RAIN" provision exec "${P[@]}" --script "$TMP/job.sh" >"$TMP/a3.out" 2>"$TMP/a3.err"
check_eq "a job script's exit code" 3 $?
check_eq "the script ran as ./job" "script: ./job 0" "$(head -1 "$TMP/a3.out")"
"$RAIN" provision exec "${P[@]}" -- printf '%s|' "it's" 'a "b"' '$HOME' '' >"$TMP/a4.out" 2>&1
check_eq "words reach the job as they are" "it's|a \"b\"|\$HOME||" "$(cat "$TMP/a4.out")"

# a failing job
"$RAIN" provision exec "${P[@]}" -- sh -c 'echo failing; exit 7' >"$TMP/a5.out" 2>"$TMP/a5.err"
check_eq "a failing job's exit code" 7 $?
check_eq "its output" failing "$(cat "$TMP/a5.out")"

# streamed: the first line arrives while the job still runs
"$RAIN" provision exec "${P[@]}" -- sh -c 'echo first; sleep 8; echo second' \
	>"$TMP/a6.out" 2>"$TMP/a6.err" &
pid=$!
wait_for "$TMP/a6.out" "$pid" '^first$'
check "the first line arrives while the job runs" kill -0 "$pid"
check "before the second" test "$(grep -c second "$TMP/a6.out")" = 0
wait "$pid"
check_eq "the streamed job exits 0" 0 $?
check_eq "with both lines" "first second" "$(tr '\n' ' ' <"$TMP/a6.out" | sed 's/ $//')"

# walltime: 124, the job's processes killed in the guest
"$RAIN" provision exec "${P[@]}" --walltime 8 -- sh -c 'echo started; sleep 611 & sleep 612' \
	>"$TMP/a7.out" 2>"$TMP/a7.err"
check_eq "a job over its walltime: 124" 124 $?
check "saying so" grep -q "did not end within its time limit (8 s) on rain-g-1" "$TMP/a7.err"
check_eq "its output up to then" started "$(cat "$TMP/a7.out")"

# SIGINT mid-job: 130
"$RAIN" provision exec "${P[@]}" -- sh -c 'echo started; sleep 613' >"$TMP/a8.out" 2>"$TMP/a8.err" &
pid=$!
wait_for "$TMP/a8.out" "$pid" '^started$'
kill -INT "$pid"
wait "$pid"
check_eq "SIGINT mid-job: 130" 130 $?
# (the image has no procps: the guest's processes as /proc lists them)
# (a process may end between the glob and the read: that error is not the answer)
"$RAIN" provision exec "${P[@]}" -- sh -c 'for c in /proc/[0-9]*/cmdline; do
	{ tr "\000" " " <"$c"; } 2>/dev/null; echo; done | grep -c "^sleep 61[123]"' >"$TMP/a9.out" 2>&1
check_eq "the walltime's and the interrupted job's processes are gone from the guest" 0 \
	"$(head -1 "$TMP/a9.out")"

"$RAIN" provision down "${P[@]}" >/dev/null 2>"$TMP/a-down.err"
check_eq "provision down" 0 $?
check_eq "no domain, volume, qemu or key of the run is left" "" "$(leaks)"
check_eq "the registration's domain and volumes are there" \
	"rain-t0168-seed.iso rain-t0168.qcow2 rain-t0168-seed.iso rain-t0168.qcow2 rain-t0168 " \
	"$(libvirt_left t0168 | tr ' ' '\n' | grep '^rain-t0168' | tr '\n' ' ')"
check_eq "the image file was not written" "$IMG_SHA" "$(sha256sum <"$IMG")"
echo "# $(($(date +%s) - T0)) s in all"
test_done
