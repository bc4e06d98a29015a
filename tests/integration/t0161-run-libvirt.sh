#!/bin/bash
# Runs at a libvirt site (issue 13) against a real libvirtd (start_libvirtd)
# and a rain-built bookworm disk with openssh-server (ssh_recipe), published
# with rain target publish, through the plumbing rain provision: each
# instance is a qcow2 overlay of the registration's volume, a NoCloud seed
# with the run's key and a domain made from the registration's, reached by
# ssh on a forwarded port of 127.0.0.1, its console logged in the run's
# folder. Cases: up -n 1 kept, with the test's work folder shared in
# read-only over 9p (--share: a job reads it and cannot write to it),
# (its state, the overlay, the domain's disks, forwarded port and shared
# folder; then exec: a passing job's /etc/os-release and
# uname -r, a failing job's exit code, a walltime: 124, the domain
# destroyed mid-job: 125 saying it was lost) and down; run -n 2
# --each printing /etc/os-release, uname -r and each instance's own host
# name, then SIGINT mid-job: 130; an instance that does not answer within
# --ready-timeout: 125 with its console's last lines. After each: no
# domain, no volume of the run, no qemu process, no key left, the
# registration's domain and volumes intact (its volume never written).
# A run through raind (rain run, POST /rain/v1/runs) at the same site:
# the image registered there first, the job's output and exit code, rain
# ps showing it while its instance boots, its record, nothing left; the
# user's folder under raind's [runs] share_roots shared in writable
# (rain run --share --share-rw: what the job writes in work/ is on the
# host), folders outside the roots refused (403: another folder, a
# symlink out; '..': 400). Instance a's share (rain provision) is
# read-only: the job reads it and cannot write it.
# TCG boots are slow here: the four runs go side by side.
source "$(dirname "$0")/lib.sh"

for c in mmdebstrap qemu-system-x86_64 libvirtd virtlogd virsh setpriv ssh ssh-keygen; do
	command -v "$c" >/dev/null || { echo "ok 1 # SKIP needs $c"; test_done; }
done
if [ "$(id -u)" -ne 0 ]; then
	echo "ok 1 # SKIP needs root"
	test_done
fi
cd "$TMP" || exit 1
T0=$(date +%s)

ssh_recipe t0161 "$TMP/ssh.recipe"
build_disk "$TMP/ssh.recipe" "$TMP/img" "the bookworm disk with openssh-server"
start_libvirtd
check_eq "libvirtd starts" 0 $?
[ -n "$LIBVIRTD_PID" ] || test_done
libvirt_pool t0161
check_eq "a dir pool in the test's folder" 0 $?
cat >"$TMP/sites.ini" <<EOF
[site.lv]
uri = libvirt:$LIBVIRT_URI
pool = t0161
domain_type = qemu
memory = 768M
[site.bridged]
uri = libvirt:$LIBVIRT_URI
pool = t0161
network = bridge:br0
EOF
"$RAIN" target publish --sites "$TMP/sites.ini" --site lv --state "$TMP/reg.json" \
	--work "$TMP/reg" --id t0161 "$IMG" >/dev/null 2>"$TMP/pub.err"
check_eq "rain target publish to the libvirt site" 0 $?
REG_SHA=$(json_get adapted.disk_sha256 <"$TMP/reg.json")
KVER=$(json_get adapted.kernel_version <"$TMP/reg.json")
echo "# registered after $(($(date +%s) - T0)) s (kernel $KVER)"

# prov_args CMD ID ARGS...: PROV, rain's arguments for rain provision CMD
# of run ID (its folder $TMP/ID); prov runs them (rain runs in the
# background itself where a signal must reach it)
prov_args() {
	local cmd=$1 id=$2; shift 2
	mkdir -p -m 0700 "$TMP/$id"
	PROV=(provision "$cmd" --sites "$TMP/sites.ini" --site lv --state "$TMP/$id/state.json"
		--work "$TMP/$id" "$@")
}
prov() { prov_args "$@"; "$RAIN" "${PROV[@]}"; }
# up_args ID: the options of a command that starts run ID
up_args() { echo "--registration $TMP/reg.json --id $1"; }
# leaks ID: what is left of run ID: its domains and volumes as libvirt
# lists them, its volumes' files, its qemu processes, its key pair
leaks() { libvirt_run_leaks t0161 "$1" "$TMP/$1"; }
# check_clean ID WHAT: nothing of run ID is left, and the registration's
# domain and volumes are as published
check_clean() {
	check_eq "$2: no domain, volume, qemu or key of the run is left" "" "$(leaks "$1")"
	check_eq "$2: the registration's domain and volumes are there" \
		"rain-t0161-seed.iso rain-t0161.qcow2 rain-t0161-seed.iso rain-t0161.qcow2 rain-t0161 " \
		"$(libvirt_left t0161 | tr ' ' '\n' | grep '^rain-t0161' | tr '\n' ' ')"
}
# wait_for FILE PID PATTERN...: until FILE holds every PATTERN or PID ends
wait_for() {
	local f=$1 pid=$2 p ok; shift 2
	for _ in $(seq 1 1800); do
		ok=1
		for p in "$@"; do grep -q "$p" "$f" 2>/dev/null || ok=0; done
		[ "$ok" = 1 ] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}

# ---- refused before anything is made ----
mkdir -p -m 0700 "$TMP/nb"
"$RAIN" provision up --sites "$TMP/sites.ini" --site bridged --state "$TMP/nb/state.json" \
	--work "$TMP/nb" $(up_args nb) >/dev/null 2>"$TMP/nb.err"
check_eq "a site with network = bridge:NAME is refused for runs" 125 $?
check "saying to use network = user" grep -q "network = bridge:br0: .*set network = user" "$TMP/nb.err"
check_clean nb "refused"

# ---- all at once (TCG boots are slow): a, up -n 1 and kept for exec;
# d, run -n 2 --each interrupted mid-job; c, an instance that does not
# answer within its ready timeout; r, a run through raind (rain run:
# POST /rain/v1/runs) that registers the image at the site first, and
# whose registration cannot be removed while the run is up ----
# a's: the test's work folder shared in read-only over 9p (qemu runs as
# the daemon's user, which must read it); r's: the user's folder under
# raind's share_roots (admin's), writable
mkdir -p "$TMP/work" && echo "from the host" >"$TMP/work/in.txt"
chown -R libvirt-qemu "$TMP/work"
mkdir -p "$TMP/rshare/admin/job" && echo "from raind's host" >"$TMP/rshare/admin/job/in.txt"
ln -s "$TMP/work" "$TMP/rshare/admin/out"
chown -R libvirt-qemu "$TMP/rshare"
start=$(date +%s)
cat >"$TMP/raind.ini" <<EOF
[site.lv]
uri = libvirt:$LIBVIRT_URI
pool = t0161
domain_type = qemu
memory = 768M
[runs]
share_roots = $TMP/rshare/%u
EOF
raind_start --config "$TMP/raind.ini"
check_eq "raind starts with the libvirt site" 0 $?
RIMG=$(create_image t0161r)
check_eq "the image is uploaded to raind" 204 "$(upload "$RIMG" "$IMG")"
# shares raind refuses, before anything is made (no registration needed)
share_post() { api POST /rain/v1/runs -H 'Content-Type: application/json' \
	-d "{\"image\": \"t0161r\", \"site\": \"lv\", \"command\": [\"true\"], \"share\": \"$1\"}"; }
share_post "$TMP/work" >"$TMP/share-out.txt"
check_eq "a folder outside share_roots: 403" 403 "$(tail -n 1 "$TMP/share-out.txt")"
check "saying which folders the user may share" \
	grep -qF "is not under a folder this server lets admin share ($TMP/rshare/admin)" "$TMP/share-out.txt"
share_post "$TMP/rshare/admin/out" >"$TMP/share-link.txt"
check_eq "a symlink from the user's folder out of it: 403" 403 "$(tail -n 1 "$TMP/share-link.txt")"
check "naming where it leads" grep -qF "really $TMP/work" "$TMP/share-link.txt"
share_post "$TMP/rshare/admin/job/../../other" >"$TMP/share-dots.txt"
check_eq "a path with '..': 400" 400 "$(tail -n 1 "$TMP/share-dots.txt")"
"$RAIN" run t0161r --site lv --share "$TMP/rshare/admin/job" --share-rw -- sh -c \
	'echo "raind job on $(hostname)"; cat work/in.txt; echo "from the raind guest" >work/out.txt; uname -r; exit 7' \
	>"$TMP/r.out" 2>"$TMP/r.err" &
pid_r=$!
prov up a $(up_args a) --share "$TMP/work" >/dev/null 2>"$TMP/a-up.err" &
pid_a=$!
prov_args run d $(up_args d) -n 2 --each -- \
	sh -c 'grep ^PRETTY_NAME /etc/os-release; uname -r; hostname; echo job-started; exec sleep 600'
"$RAIN" "${PROV[@]}" >"$TMP/d.out" 2>"$TMP/d.err" &
pid_d=$!
prov_args run c $(up_args c) --ready-timeout 60 -- true
"$RAIN" "${PROV[@]}" >/dev/null 2>"$TMP/c.err" &
pid_c=$!

# rain ps while r's instance boots: the run, its site and its domain
for _ in $(seq 1 1200); do
	"$RAIN" ps --json >"$TMP/ps.json" 2>/dev/null
	RRUN=$(python3 -c 'import json,sys
for r in json.load(open(sys.argv[1])):
    if r["site"] == "lv" and r["instances"]: print(r["id"])' "$TMP/ps.json" 2>/dev/null)
	[ -n "$RRUN" ] && break
	kill -0 "$pid_r" 2>/dev/null || break
	sleep 0.5
done
"$RAIN" ps >"$TMP/ps.out" 2>&1
check "rain ps shows the raind run at the libvirt site with its instance" \
	grep -q "^${RRUN:-no-run} .*t0161r .*lv .*rain-${RRUN:-no-run}-1" "$TMP/ps.out"
# (started paused until its console is open, then resumed)
for _ in $(seq 1 120); do
	[ "$(lv domstate "rain-${RRUN:-no-run}-1" 2>&1)" = running ] && break
	sleep 0.5
done
check_eq "its domain runs at the site" running "$(lv domstate "rain-${RRUN:-no-run}-1" 2>&1)"
# deregistering while the run's disk is an overlay of the registration's
# volume: refused, nothing removed, the registration as it was
REG=$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/rain/v1/registrations?site=lv" | python3 -c '
import json,sys; print(json.load(sys.stdin)["registrations"][0]["id"])' 2>/dev/null)
call DELETE "/rain/v1/registrations/${REG:-none}"
check_status "deregistering while a run uses the registration is refused (409)" 409
check "naming the run's disk and what to do" \
	grep -q "rain-${RRUN:-no-run}-1.qcow2.*stop those runs" <<<"$BODY"
call GET "/rain/v1/registrations/${REG:-none}"
check_json "the registration stays registered" "j['status'] == 'registered'"

wait "$pid_c"
check_eq "an instance that does not answer within --ready-timeout: 125" 125 $?
check "saying which" grep -q "rain-c-1 did not answer ssh within 60 s" "$TMP/c.err"
# (how far the boot got in 60 s depends on the load: kernel lines, systemd's
# or the firmware's, so any line of the guest's after the heading)
check "with the last lines of its console (the guest booting)" \
	sh -c "sed -n '/the last lines of its console/,\$p' '$TMP/c.err' | sed 1d | grep -q '[[:alnum:]]' || { cat '$TMP/c.err'; exit 1; }"
check_clean c "after the ready timeout"

check "run -n 2 prints the job's first line" wait_for "$TMP/d.out" "$pid_d" '^\[rain-d-'
echo "# run -n 2: the job's first line after $(($(date +%s) - start)) s"
check "the job runs on both instances" wait_for "$TMP/d.out" "$pid_d" \
	'^\[rain-d-1\] job-started' '^\[rain-d-2\] job-started'
kill -INT "$pid_d"
wait "$pid_d"
check_eq "SIGINT to rain provision run -n 2 mid-job: 130" 130 $?
for k in 1 2; do
	check "instance $k printed its /etc/os-release" \
		grep -qx "\[rain-d-$k\] PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"" "$TMP/d.out"
	check_eq "instance $k: uname -r is the registered kernel" "[rain-d-$k] $KVER" \
		"$(grep -x "\[rain-d-$k\] $KVER" "$TMP/d.out")"
	check_eq "instance $k: its own host name" "[rain-d-$k] rain-d-$k" \
		"$(grep -x "\[rain-d-$k\] rain-d-$k" "$TMP/d.out")"
	check "instance $k's console was logged in the run's folder" \
		grep -aq "Linux version" "$TMP/d/rain-d-$k.console"
done
check_clean d "after the interrupt"

wait "$pid_r"
check_eq "rain run through raind: the job's exit code" 7 $?
echo "# run through raind: $(($(date +%s) - start)) s"
check "it registered the image at the site first" grep -q "registering t0161r at lv" "$TMP/r.err"
check "the job's output came back from the domain" grep -qx "raind job on rain-${RRUN:-x}-1" "$TMP/r.out"
check "it read the shared folder (rain run --share)" grep -qx "from raind's host" "$TMP/r.out"
check_eq "what it wrote in work/ is in the user's folder on the host (--share-rw)" "from the raind guest" \
	"$(cat "$TMP/rshare/admin/job/out.txt" 2>/dev/null)"
check_eq "the record names the share" "$TMP/rshare/admin/job True" \
	"$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/rain/v1/runs/${RRUN:-x}" | python3 -c '
import json,sys; r=json.load(sys.stdin); print(r["share"], r["share_rw"])')"
# (now that the image is registered there, rain run asks raind at once)
"$RAIN" run t0161r --site lv --share /etc -- true >/dev/null 2>"$TMP/share-cli.err"
check "rain run --share /etc is refused with raind's reason" grep -q "/etc is not under a folder" "$TMP/share-cli.err"
check_eq "uname -r is the registered kernel" "$KVER" "$(tail -n 1 "$TMP/r.out")"
check_eq "the run's record: failed, exit code 7, at lv, its instance's ssh address kept, gone" \
	"failed 7 lv rain-${RRUN:-x}-1 127.0.0.1 gone" \
	"$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/rain/v1/runs/${RRUN:-x}" | python3 -c '
import json,sys; r=json.load(sys.stdin); h=r["history"][0]
print(r["status"], r["exit_code"], r["site"], h["name"], h["address"].split(":")[0], h["state"])')"
"$RAIN" ps >"$TMP/ps-after.out" 2>&1
check "rain ps lists it no longer" sh -c "! grep -q '^${RRUN:-x} ' '$TMP/ps-after.out'"
check_eq "nothing of the raind run is left (domain, volumes, qemu)" "" "$(leaks "${RRUN:-x}")"
check_eq "and no key of the run" "" "$(ls "$DATA/runs/${RRUN:-x}/" 2>/dev/null | grep '^key')"

wait "$pid_a"
rc=$?
echo "# up -n 1: $(($(date +%s) - start)) s"
check_eq "rain provision up -n 1" 0 "$rc"
[ "$rc" -eq 0 ] || tail -20 "$TMP/a-up.err" | sed 's/^/#   /'
check_eq "its domain runs" running "$(lv domstate rain-a-1)"
check "the state names its domain, volume, seed, console and ssh port" python3 -c '
import json,sys; s=json.load(open(sys.argv[1])); i=s["instances"][0]
assert i["domain"]=="rain-a-1" and i["volume"]=="rain-a-1.qcow2" and i["seed"]=="rain-a-1-seed.iso", i
assert i["ssh"]["host"]=="127.0.0.1" and i["ssh"]["port"]>0 and i["ssh"]["user"]=="root", i
assert i["console"].endswith("/rain-a-1.console") and s["pool"]=="t0161", s' "$TMP/a/state.json"
check "its disk is a qcow2 overlay backed by the registration's volume" python3 -c '
import sys, xml.etree.ElementTree as E; v=E.fromstring(sys.stdin.read())
assert v.find("target/format").get("type")=="qcow2"
assert v.find("backingStore/path").text.endswith("/t0161/rain-t0161.qcow2")' \
	< <(lv vol-dumpxml --pool t0161 rain-a-1.qcow2)
lv dumpxml rain-a-1 >"$TMP/a.xml"
check "its domain: the overlay, its seed, no interface of its own, ssh forwarded on 127.0.0.1" python3 -c '
import json, sys, xml.etree.ElementTree as E; d=E.parse(sys.argv[1]).getroot()
port=json.load(open(sys.argv[2]))["instances"][0]["ssh"]["port"]
v=[x.find("source").get("volume") for x in d.iter("disk")]
assert v==["rain-a-1.qcow2", "rain-a-1-seed.iso"], v
assert d.find("devices/interface") is None
Q="{http://libvirt.org/schemas/domain/qemu/1.0}"
a=[x.get("value") for x in d.iter(Q+"arg")]
assert "user,id=rainnet0,hostfwd=tcp:127.0.0.1:%d-:22" % port in a, a' "$TMP/a.xml" "$TMP/a/state.json"
check "its qemu runs" pgrep -f -- "guest=rain-a-1"
check "the work folder is shared in over 9p, read-only" python3 -c '
import sys, xml.etree.ElementTree as E; f=E.parse(sys.argv[1]).getroot().find("devices/filesystem")
assert f.get("accessmode")=="mapped" and f.find("target").get("dir")=="rain-work", f
assert f.find("source").get("dir")==sys.argv[2] and f.find("readonly") is not None' "$TMP/a.xml" "$(realpath "$TMP/work")"
prov exec a -- sh -c 'cat work/in.txt; echo "from the guest" >work/out.txt' \
	>"$TMP/a-share.out" 2>"$TMP/a-share.err"
check "writing into the read-only share fails the job" test $? -ne 0
check_eq "the job reads the host's file in work/ (ssh, --share)" "from the host" "$(head -n 1 "$TMP/a-share.out")"
check "the write is refused: a read-only file system" grep -q "Read-only file system" "$TMP/a-share.out" "$TMP/a-share.err"
check "and nothing is written on the host" test ! -e "$TMP/work/out.txt"

prov exec a -- sh -c 'cat /etc/os-release; uname -r' >"$TMP/a-pass.out" 2>"$TMP/a-pass.err"
check_eq "a passing job: 0" 0 $?
check "prints the image's /etc/os-release" grep -qx 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' "$TMP/a-pass.out"
check_eq "and uname -r, the registered kernel" "$KVER" "$(tail -n 1 "$TMP/a-pass.out")"
prov exec a -- sh -c 'echo to-stdout; echo to-stderr >&2; exit 3' >"$TMP/a-fail.out" 2>"$TMP/a-fail.err"
check_eq "a failing job: its exit code" 3 $?
check "its output came first" grep -qx to-stdout "$TMP/a-fail.out"
check "its stderr too" grep -q to-stderr "$TMP/a-fail.out" "$TMP/a-fail.err"
wstart=$(date +%s)
prov exec a --walltime 5 -- sleep 300 >/dev/null 2>"$TMP/a-wall.err"
check_eq "a job past its walltime: 124" 124 $?
echo "# walltime 5 s ended after $(($(date +%s) - wstart)) s"
prov exec a -- hostname >"$TMP/a-host.out" 2>/dev/null
check_eq "the instance lives on after both, with the seed's host name" rain-a-1 "$(cat "$TMP/a-host.out")"
prov_args exec a -- sh -c 'echo lost-started; exec sleep 300'
"$RAIN" "${PROV[@]}" >"$TMP/a-lost.out" 2>"$TMP/a-lost.err" &
pid=$!
check "a job runs" wait_for "$TMP/a-lost.out" "$pid" lost-started
lv destroy rain-a-1 >/dev/null
wait "$pid"
check_eq "the instance lost mid-job (its domain destroyed): 125" 125 $?
check "saying it was lost" grep -q "rain-a-1.*\(lost during the job\|destroyed\|shut off\)" "$TMP/a-lost.err"
grep -q "rain-a-1 was lost during the job: .*it was destroyed" "$TMP/a-lost.err" ||
	grep -a 'error' "$TMP/a-lost.err" | head -3 | sed 's/^/#   /'

prov down a >/dev/null 2>"$TMP/a-down.err"
check_eq "rain provision down (of the shut-off domain)" 0 $?
check_clean a "after down"
check_eq "the registration's volume was never written" "$REG_SHA" \
	"$(sha256sum <"$LIBVIRT_DIR/t0161/rain-t0161.qcow2" | cut -d' ' -f1)"
prov down a >/dev/null 2>&1
check_eq "down again: nothing to do" 0 $?
echo "# t0161 took $(($(date +%s) - T0)) s"
test_done
