#!/bin/bash
# Runs at an ironic site (issue 13) against a real Ironic (lib.sh
# start_ironic: Debian's ironic 21.x, fake-hardware nodes, iPXE boot,
# ramdisk deploy) and a real bookworm image with openssh-server. rain
# target publish deploys the registration to n1; rain provision claims
# the site's other nodes (n2, n3) for a run, sets their instance_info to
# the registration's with the run's key on the kernel command line
# (rain.ssh_key=) and deploys them. Fake-hardware powers nothing, so
# ironic-bmc-qemu.sh plays the nodes' BMCs: a node Ironic made active gets
# a diskless qemu VM with its MAC, netbooted over qemu's user network from
# Ironic's own iPXE config for it, its sshd forwarded to the port the
# site's ssh setting names; undeployed, the VM is stopped. N = 1 (up, a
# passing job printing /etc/os-release and uname -r from inside, a failing
# job's exit code, a walltime (124), the node lost mid-job, down), more nodes than the site has
# (refused, nothing claimed), N = 2 with --each and an interrupt mid-job
# (130), rain killed -9 while a node deploys (down from the saved state),
# a node that never comes up (the ready timeout), and after each the leak
# check: the run's nodes available again without instance or
# instance_info, the registration's node untouched, no VM, no key left.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null || ! command -v qemu-system-x86_64 >/dev/null ||
	[ ! -x /usr/bin/ironic ] || [ ! -f /usr/lib/ipxe/qemu/pxe-virtio.rom ] || ! command -v ssh >/dev/null; then
	echo "ok 1 # SKIP needs root, mmdebstrap, qemu, ipxe-qemu, ssh and Debian's ironic"
	test_done
fi
cd "$TMP" || exit 1
BMC=$TMP/bmc
BMC_PID=
bmc_stop() {
	[ -n "$BMC_PID" ] || return 0
	kill "$BMC_PID" 2>/dev/null
	wait "$BMC_PID" 2>/dev/null
	BMC_PID=
}
trap 'bmc_stop; cleanup' EXIT

ssh_recipe t0167-node "$TMP/node.recipe"
build_disk "$TMP/node.recipe"
KVER=$(disk_kernel "$IMG")

start_ironic || { not_ok "Ironic starts"; test_done; }
MAC1=52:54:00:16:70:01 MAC2=52:54:00:16:70:02 MAC3=52:54:00:16:70:03
check "a fake-hardware node n1 is available" ironic_enroll n1 "$MAC1"
check "and n2" ironic_enroll n2 "$MAC2"
check "and n3" ironic_enroll n3 "$MAC3"
mkdir -p "$TMP/pub"
http_serve "$TMP/pub" || { not_ok "publish_dir is served"; test_done; }
PUB_PORT=$HTTP_PORT
SSH2=$(free_port) SSH3=$(free_port)
cat >"$TMP/sites.ini" <<SITE
[site.bm]
uri = ironic:$IRONIC_URL
nodes = n1 n2 n3
publish_dir = $TMP/pub
publish_url = http://10.0.2.2:$PUB_PORT
conductor_url = http://127.0.0.1:$PUB_PORT
kernel_args = console=ttyS0 no_timer_check
deploy_timeout = 120
ssh = n2=127.0.0.1:$SSH2 n3=127.0.0.1:$SSH3
console = $BMC/%n.log
SITE

start=$(date +%s)
"$RAIN" target publish --sites "$TMP/sites.ini" --site bm --work "$TMP/regwork" --state "$TMP/reg.json" \
	"$IMG" >"$TMP/publish.out" 2>"$TMP/publish.err"
rc=$?
echo "# adapt and publish took $(( $(date +%s) - start )) s"
check_eq "rain target publish deploys the registration at the ironic site" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -20 "$TMP/publish.err" | sed 's/^/#   /'; test_done; }
ironic_call GET /v1/nodes/n1
REG_IU=$(printf '%s' "$BODY" | json_get instance_uuid)
check_json "the registration holds n1 (active)" 'j["provision_state"] == "active" and j["instance_uuid"]'

# the BMCs of n2 and n3 (n1, the registration's, is not booted: its VM
# would only cost the machine)
mkdir -p "$BMC"
"$TOP/tests/integration/ironic-bmc-qemu.sh" "$IRONIC_URL" "$IRONIC_BOOT_URL" "$BMC" \
	"n2=$MAC2=$SSH2" "n3=$MAC3=$SSH3" &
BMC_PID=$!

# leaked WHAT: the leak check after a run whose state is $1
leak_check() { # STATE-FILE WHAT
	local node vm
	for node in n2 n3; do
		ironic_call GET "/v1/nodes/$node"
		check_json "$2: $node is available, without instance or instance_info" \
			'j["provision_state"] == "available" and not j["instance_uuid"] and j["instance_info"] == {} and not j["maintenance"]'
	done
	ironic_call GET /v1/nodes/n1
	check_json "$2: the registration's n1 is untouched" \
		"j['provision_state'] == 'active' and j['instance_uuid'] == '$REG_IU'"
	# the BMC stops a VM within a poll of the undeploy
	for _ in $(seq 1 20); do
		vm=$(cat "$BMC"/*.pid 2>/dev/null)
		[ -z "$vm" ] && break
		sleep 0.5
	done
	check_eq "$2: no VM is left" "" "$vm"
	check_eq "$2: no qemu with a node's MAC runs" "" \
		"$(pgrep -f "mac=52:54:00:16:70:0[23]" || true)"
	# (rain provision run removes its state file once everything is down)
	check "$2: the state names no instance" python3 -c '
import json, os, sys
j = json.load(open(sys.argv[1])) if os.path.exists(sys.argv[1]) else {}
assert not j.get("instances"), j' "$1"
	check_eq "$2: no key of the run is left" "" "$(ls "$(dirname "$1")" | grep -x 'key\|key.pub' || true)"
}

# N = 1, step by step: up, two jobs, down
W=$TMP/run1
mkdir -m 0700 "$W"
start=$(date +%s)
"$RAIN" provision up --sites "$TMP/sites.ini" --site bm --registration "$TMP/reg.json" --state "$W/state.json" \
	--id t0167-1 -n 1 --ready-timeout 400 >"$TMP/up.out" 2>"$TMP/up.err"
rc=$?
T_UP=$(( $(date +%s) - start ))
check_eq "N=1: rain provision up" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -20 "$TMP/up.err" | sed 's/^/#   /'; tail -20 "$BMC/bmc.log" | sed 's/^/#   /'; }
sed 's/^/#   /' "$TMP/up.err"
NODE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["instances"][0]["node"]["name"])' \
	"$W/state.json" 2>/dev/null)
check "N=1: the instance is on n2 or n3" test "$NODE" = n2 -o "$NODE" = n3
ironic_call GET "/v1/nodes/$NODE"
check_json "N=1: $NODE is active with the registration's boot files and the run's key" \
	'j["provision_state"] == "active" and "rain.root=" in j["instance_info"]["kernel_append_params"] and "rain.ssh_key=" in j["instance_info"]["kernel_append_params"]'
check "N=1: the VM booted Ironic's config with the run's key on its command line" \
	grep -aq "Command line: .*rain.ssh_key=" "$BMC/$NODE.log"
check "N=1: and the root fetched and checked" grep -aq "rain-netboot: root checked" "$BMC/$NODE.log"
"$RAIN" provision status --sites "$TMP/sites.ini" --site bm --state "$W/state.json" --json >"$TMP/status.json" 2>&1
check "N=1: status says the instance is alive" python3 -c '
import json, sys; j = json.load(open(sys.argv[1])); assert j["instances"][0]["alive"] is True, j' "$TMP/status.json"

"$RAIN" provision exec --sites "$TMP/sites.ini" --site bm --state "$W/state.json" -- \
	sh -c 'cat /etc/os-release; uname -r' >"$TMP/exec.out" 2>"$TMP/exec.err"
check_eq "N=1: a passing job: 0" 0 "$?"
check "N=1: it prints the image's /etc/os-release from inside" \
	grep -qx 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' "$TMP/exec.out"
check_eq "N=1: and uname -r is the image's kernel" "$KVER" "$(tail -n 1 "$TMP/exec.out")"
sed 's/^/#   /' "$TMP/exec.out" | grep -E 'PRETTY|^#   [0-9]'
"$RAIN" provision exec --sites "$TMP/sites.ini" --site bm --state "$W/state.json" -- \
	sh -c 'echo failing; exit 3' >"$TMP/exec.out" 2>"$TMP/exec.err"
check_eq "N=1: a failing job's exit code comes back" 3 "$?"
check "N=1: with its output" grep -qx failing "$TMP/exec.out"
"$RAIN" provision exec --sites "$TMP/sites.ini" --site bm --state "$W/state.json" --walltime 5 -- \
	sleep 120 >"$TMP/exec.out" 2>"$TMP/exec.err"
check_eq "N=1: a job past its walltime: 124" 124 "$?"
check "N=1: saying so" grep -q "did not end within its time limit" "$TMP/exec.err"
# the node lost mid-job: powered off through Ironic, its BMC cuts it
"$RAIN" provision exec --sites "$TMP/sites.ini" --site bm --state "$W/state.json" -- \
	sh -c 'echo started; sleep 120' >"$TMP/exec.out" 2>"$TMP/exec.err" &
pid=$!
for _ in $(seq 1 120); do grep -q started "$TMP/exec.out" && break; sleep 0.5; done
ironic_call PUT "/v1/nodes/$NODE/states/power" '{"target": "power off"}'
wait "$pid"
check_eq "N=1: a node lost mid-job: rain failed (125)" 125 "$?"
check "N=1: saying it was lost and that it is off" \
	grep -q "rain-t0167-1-1 was lost during the job: .*node $NODE is active, power off" "$TMP/exec.err"
"$RAIN" provision down --sites "$TMP/sites.ini" --site bm --state "$W/state.json" 2>"$TMP/down.err"
check_eq "N=1: rain provision down" 0 "$?"
leak_check "$W/state.json" "N=1"

# more nodes than the site can give: refused before anything is claimed
W=$TMP/run-many
mkdir -m 0700 "$W"
"$RAIN" provision run --sites "$TMP/sites.ini" --site bm --registration "$TMP/reg.json" --state "$W/state.json" \
	--id t0167-many -n 3 -- true >/dev/null 2>"$TMP/many.err"
check_eq "N=3 with two free nodes: rain failed (125)" 125 "$?"
check "saying how many the site has" grep -q "site bm has 2 available nodes, the run asks for 3" "$TMP/many.err"
leak_check "$W/state.json" "N=3 refused"

# N = 2, the job on each, interrupted while it runs
W=$TMP/run2
mkdir -m 0700 "$W"
start=$(date +%s)
"$RAIN" provision run --sites "$TMP/sites.ini" --site bm --registration "$TMP/reg.json" --state "$W/state.json" \
	--id t0167-2 -n 2 --each --ready-timeout 400 -- sh -c 'echo "up: $(uname -r)"; sleep 600' \
	>"$TMP/run2.out" 2>"$TMP/run2.err" &
pid=$!
for _ in $(seq 1 900); do
	[ "$(grep -c '] up: ' "$TMP/run2.out")" -ge 2 ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.5
done
T_UP2=$(( $(date +%s) - start ))
check_eq "N=2 --each: the job runs on both nodes" 2 "$(grep -c "^\[rain-t0167-2-[12]\] up: $KVER\$" "$TMP/run2.out")"
[ "$(grep -c '] up: ' "$TMP/run2.out")" -ge 2 ] || { tail -20 "$TMP/run2.err" | sed 's/^/#   /'; }
kill -INT "$pid"
wait "$pid"
check_eq "N=2: an interrupt mid-job: 130" 130 "$?"
leak_check "$W/state.json" "N=2 interrupted"

# rain killed (-9) while the node deploys: down from the saved state
W=$TMP/run-kill
mkdir -m 0700 "$W"
"$RAIN" provision up --sites "$TMP/sites.ini" --site bm --registration "$TMP/reg.json" --state "$W/state.json" \
	--id t0167-kill -n 1 >/dev/null 2>"$TMP/kill.err" &
pid=$!
for _ in $(seq 1 240); do grep -q "deploying node" "$TMP/kill.err" && break; sleep 0.25; done
kill -9 "$pid"
wait "$pid" 2>/dev/null
check "killed while deploying: the state names the node" python3 -c '
import json, sys; j = json.load(open(sys.argv[1])); assert j["instances"][0]["node"]["instance_uuid"], j' "$W/state.json"
"$RAIN" provision down --sites "$TMP/sites.ini" --site bm --state "$W/state.json" 2>"$TMP/down.err"
check_eq "killed while deploying: rain provision down" 0 "$?"
[ -s "$TMP/down.err" ] && sed 's/^/#   /' "$TMP/down.err"
leak_check "$W/state.json" "killed while deploying"

# a node that never comes up (its BMC gone): the ready timeout, its
# console's last lines, nothing left
pid=$BMC_PID
bmc_stop
check "the BMC stand-in ended" test ! -d "/proc/$pid"
W=$TMP/run-dead
mkdir -m 0700 "$W"
"$RAIN" provision run --sites "$TMP/sites.ini" --site bm --registration "$TMP/reg.json" --state "$W/state.json" \
	--id t0167-dead -n 1 --ready-timeout 15 -- true >/dev/null 2>"$TMP/dead.err"
check_eq "a node that does not come up: rain failed (125)" 125 "$?"
check "saying it did not answer within the ready timeout" grep -q "did not answer ssh within 15 s" "$TMP/dead.err"
leak_check "$W/state.json" "not up"
echo "# up to ready: N=1 $T_UP s, N=2 up to both jobs' first line $T_UP2 s (TCG, load $(cut -d' ' -f1 /proc/loadavg))"
test_done
