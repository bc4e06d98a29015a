#!/bin/bash
# Runs at a slurm site (issue 13) through a real one-host Slurm 22.05
# (lib.sh start_slurm: munged, slurmctld, slurmd node1 and node2 with
# node_features/helpers). A real bookworm image with a marker unit is
# registered there (rain target publish: its netboot files, its node
# feature in helpers.conf, the slurmds reloaded until both offer it); then
# rain provision run submits batch jobs with the feature as constraint and
# Slurm reimages the nodes it allocates: its RebootProgram is lib.sh's
# stand-in for a node's reboot, and this test's boot-machine (below) is
# the node's machine booting the image: a qemu VM netbooted (direct
# kernel, the root squashfs over HTTP, a key on the kernel command line
# for rain's initramfs to put in root's authorized_keys) from the
# registration's files, until the image's own marker is on its console
# and its sshd answers. The node's slurmd stays on the host, so the job's
# command reaches the machine through the site's node_exec (in-machine,
# below: ssh into the node's VM); its output and exit code come back
# through Slurm, result files (--out) from the node's machine. N = 2
# (--each) and N = 1 (a job script), a failing job, a walltime and an
# interrupt while the job runs (the command stopped in the machines too,
# their job folders gone), an interrupt while the nodes reboot (the job
# canceled, the nodes idle, not drained), a job submitted but never saved
# canceled by name, Slurm refusing a job (a bad partition), a job script
# too big for node_exec, the leak check (no job in Slurm, no rain
# process, the registration removed again).
# Prints submit-to-start with and without a reimage.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null ||
	! command -v mmdebstrap >/dev/null || ! command -v qemu-system-x86_64 >/dev/null ||
	[ ! -x /bin/busybox ] || ! command -v tar2sqfs >/dev/null; then
	echo "ok 1 # SKIP needs root, Slurm (slurmctld, slurmd, munge), mmdebstrap, qemu, busybox-static, squashfs-tools-ng"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
cd "$TMP" || exit 1

# the image: its own unit prints the marker when it reaches multi-user
marker_recipe t0164-node 'T0164-MARKER root=$(findmnt -n -o FSTYPE /)' "$TMP/node.recipe"
build_disk "$TMP/node.recipe"

# a reboot boots a VM under TCG: minutes on a loaded machine
SLURM_RESUME_TIMEOUT=600
start_slurm || { not_ok "Slurm starts"; test_done; }
ok "Slurm is up: two idle nodes"
BOOT=$TMP/boot
mkdir -p "$BOOT"
http_serve "$BOOT" || { not_ok "the boot folder is served"; test_done; }

slurm_machines "$BOOT" T0164-MARKER

site_conf() { # NAME [EXTRA LINES...]
	local name=$1; shift
	cat <<SITE
[site.$name]
uri = slurm:rain
publish_dir = $BOOT
publish_url = http://10.0.2.2:$HTTP_PORT
helpers_conf = $SLURM_DIR/etc/helpers.conf
helper = $SLURM_HELPER
reload = $SLURM_DIR/bin/reload
slurm_conf = $SLURM_CONF
kernel_args = console=ttyS0,115200 no_timer_check panic=-1
node_exec = $SLURM_DIR/bin/in-machine
SITE
	printf '%s\n' "$@"
}
{ site_conf hpc "partition = batch"; site_conf nopart "partition = nosuch"; } >"$TMP/sites.ini"

mkdir -m 0700 "$TMP/work"
start=$(date +%s)
"$RAIN" target publish --sites "$TMP/sites.ini" --site hpc --state "$TMP/reg.json" --work "$TMP/work" \
	"$IMG" >"$TMP/publish.out" 2>"$TMP/publish.err"
rc=$?
echo "# adapt and publish took $(( $(date +%s) - start )) s"
check_eq "rain target publish to the slurm site succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -20 "$TMP/publish.err" | sed 's/^/#   /'; test_done; }
FEATURE=$(json_get feature <"$TMP/reg.json")
check "the registration's feature is img_ and its id" bash -c "[[ '$FEATURE' =~ ^img_[0-9a-f_]{36}\$ ]]"
check "helpers.conf has its line" grep -qx "Feature=$FEATURE Helper=$SLURM_HELPER" "$SLURM_DIR/etc/helpers.conf"
check_eq "both nodes offer the feature" "node1 node2" \
	"$(sinfo -h -N -o '%N %f' | awk -v f="$FEATURE" '$2 ~ "(^|,)" f "(,|$)" {print $1}' | sort | xargs)"
check "the boot files and cmdline are published" test -s "$BOOT/$FEATURE/root.squashfs" -a -s "$BOOT/$FEATURE/cmdline"

# run [RAIN PROVISION RUN ARGS...] -- COMMAND: out/err/rc in $TMP/run.*
RUN_N=0
run() {
	RUN_N=$((RUN_N + 1))
	local w=$TMP/run$RUN_N
	mkdir -m 0700 "$w"
	"$RAIN" provision run --sites "$TMP/sites.ini" --registration "$TMP/reg.json" --state "$w/state.json" \
		--id "t0164-$RUN_N" "$@" >"$TMP/run.out" 2>"$TMP/run.err"
	RC=$?
	RUN_DIR=$w
}
started_after() { sed -n 's/.*running on .*, \([0-9.]*\) s after it was submitted.*/\1/p' "$TMP/run.err" | head -n 1; }
no_job() { [ -z "$(squeue -h -o %i)" ]; }

# in_machine NODE COMMAND...: the command in NODE's machine, as node_exec runs it
in_machine() { local node=$1; shift; SLURMD_NODENAME=$node "$SLURM_DIR/bin/in-machine" "$@"; }
# machine_procs PATTERN: how many processes of both machines have a command line (its words
# joined by blanks) that PATTERN matches
machine_procs() {
	local node
	for node in node1 node2; do
		in_machine "$node" sh -c 'for f in /proc/[0-9]*/cmdline; do tr "\0" " " <"$f"; echo; done 2>/dev/null'
	done | grep -c -- "$1"
}
# machine_job_dirs: the job folders left in both machines (node.sh removes its own)
machine_job_dirs() { for node in node1 node2; do in_machine "$node" sh -c 'ls -d rain-job-* 2>/dev/null; true'; done; }

# N = 2 on each node: Slurm reboots both into the image; the command runs
# in each node's machine (the image's hostname and kernel, not the host's),
# and the file it writes there comes back from each (--out)
KVER=$(disk_kernel "$IMG")
run --site hpc -n 2 --each --out res.txt --outdir "$TMP/out1" -- \
	sh -c 'echo "in $(hostname) $(uname -r)"; echo "from $(hostname) $(cat /proc/sys/kernel/random/boot_id)" >res.txt'
check_eq "N=2 --each: the job passes" 0 "$RC"
check_eq "N=2 --each: both nodes' machines answer from the image" \
	"[rain-t0164-1-1] in t0164-node $KVER|[rain-t0164-1-2] in t0164-node $KVER" "$(sort "$TMP/run.out" | paste -sd'|')"
T_REIMAGE=$(started_after)
for k in 1 2; do
	check "N=2 --each: res.txt comes back from machine $k" grep -q "^from t0164-node " "$TMP/out1/rain-t0164-1-$k/res.txt"
done
check_eq "the two files come from two machines, neither the host" 3 \
	"$(cat "$TMP/out1"/*/res.txt /proc/sys/kernel/random/boot_id | awk '{print $NF}' | sort -u | wc -l)"
check_eq "no job folder is left in the machines" "" "$(machine_job_dirs)"
sed 's/^/#   /' "$TMP/run.err"
# the nodes' reboots (lib.sh's node-reboot log: "TIME NODE: rebooting", "TIME NODE: up with F")
reboot_s() {
	awk '/: rebooting$/ {split($1, t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]}
	     / up with / && s {split($1, t, ":"); printf "%.1f\n", t[1] * 3600 + t[2] * 60 + t[3] - s; exit}' \
		"$SLURM_DIR/log/reboot-$1.log"
}
T_BOOT="node1 $(reboot_s node1) s, node2 $(reboot_s node2) s"
for node in node1 node2; do
	check "N=2: $node's machine booted the image (the marker on its console)" \
		grep -aq "T0164-MARKER root=overlay" "$SLURM_DIR/log/console-$node-$FEATURE.log"
done
check_eq "Slurm reports the image active on both nodes" "$FEATURE $FEATURE" "$(sinfo -h -N -o '%b' | xargs)"
check "N=2: no job left in Slurm" no_job

# N = 1, the nodes have the image: no reimage; a job script, copied into the machine
printf '%s\n' '. /etc/os-release' 'echo "hello from $(hostname): $PRETTY_NAME"' >"$TMP/hello.sh"
run --site hpc -n 1 --script "$TMP/hello.sh"
check_eq "N=1: the job script passes" 0 "$RC"
check "N=1: its output comes back through Slurm, from the image" \
	grep -q "^hello from t0164-node: Debian GNU/Linux 12 (bookworm)$" "$TMP/run.out"
T_WARM1=$(started_after)
check "N=1: no job left in Slurm" no_job

# no reimage now: a failing job, its exit code back
run --site hpc -n 2 --out nosuch --outdir "$TMP/out3" -- sh -c 'echo failing; exit 3'
check_eq "N=2: a failing job's exit code comes back" 3 "$RC"
check "and its output" grep -q "^failing$" "$TMP/run.out"
check "a result file the job did not write: named, with its machine" \
	grep -q "the job left no file nosuch in rain-t0164-3-1's machine (node node[12])" "$TMP/run.err"
T_WARM2=$(started_after)

# a time limit
run --site hpc -n 1 --walltime 5 -- sleep 1201
check_eq "a job past its walltime: 124" 124 "$RC"
check "the message says so" grep -q "walltime" "$TMP/run.err"
check "no job left in Slurm after the walltime" no_job
check_eq "the command is stopped in the node's machine too" 0 "$(machine_procs '^sleep 1201')"

# an interrupt while the job runs
w=$TMP/run-int
mkdir -m 0700 "$w"
"$RAIN" provision run --sites "$TMP/sites.ini" --site hpc --registration "$TMP/reg.json" --state "$w/state.json" \
	--id t0164-int -n 2 --each -- sleep 1202 >"$TMP/int.out" 2>"$TMP/int.err" &
pid=$!
for _ in $(seq 1 120); do [ "$(machine_procs '^sleep 1202')" = 2 ] && break; sleep 0.5; done
check_eq "the job runs in both machines" 2 "$(machine_procs '^sleep 1202')"
kill -INT "$pid"
wait "$pid"
check_eq "an interrupted run: 130" 130 "$?"
check "no job left in Slurm after the interrupt" no_job
check_eq "the nodes are idle again (none drained)" "idle idle" "$(sinfo -h -N -o '%t' | xargs)"
check_eq "the command is stopped in both machines" 0 "$(machine_procs '^sleep 1202')"
check_eq "and no job folder is left there" "" "$(machine_job_dirs)"

# killed between sbatch and saving the job's id: the state names the job
# by name only (up wrote it); down finds and cancels it
w=$TMP/run-orphan
mkdir -m 0700 "$w"
"$RAIN" provision up --sites "$TMP/sites.ini" --site hpc --registration "$TMP/reg.json" --state "$w/state.json" \
	--id t0164-orphan -n 1 >/dev/null 2>"$TMP/orphan.err"
check_eq "rain provision up (nothing made at the site yet)" 0 "$?"
sbatch -Q --job-name=rain-t0164-orphan -N 1 -C "$FEATURE" -o /dev/null --wrap 'sleep 300'
check "the job that rain did not see submitted is there" test -n "$(squeue -h -n rain-t0164-orphan -o %i)"
"$RAIN" provision down --sites "$TMP/sites.ini" --site hpc --state "$w/state.json" >/dev/null 2>>"$TMP/orphan.err"
check_eq "rain provision down" 0 "$?"
check "it canceled the job by its name" no_job

# Slurm refusing the job
run --site nopart -n 1 -- true
check_eq "a job Slurm refuses: 125" 125 "$RC"
check "the message is Slurm's, naming the partition" grep -q "Slurm refused the job.*partition nosuch.*Invalid partition" "$TMP/run.err"
check "nothing queued" no_job

# a job script too big to go into the machine through node_exec (an argument)
head -c 30000 /dev/zero | tr '\0' '#' >"$TMP/big.sh"
run --site hpc -n 1 --script "$TMP/big.sh"
check_eq "a job script past node_exec's limit: 125" 125 "$RC"
check "saying so" grep -q "through the site's node_exec a script may have at most" "$TMP/run.err"
check "nothing queued for it" no_job

# an interrupt while Slurm reimages a node (a second registration of the
# image: another feature); the reboot goes on and the node comes back
# idle with it, not drained
"$RAIN" target publish --sites "$TMP/sites.ini" --site hpc --state "$TMP/reg2.json" --work "$TMP/work" \
	"$IMG" >/dev/null 2>"$TMP/publish2.err"
check_eq "a second registration of the image" 0 "$?"
FEATURE2=$(json_get feature <"$TMP/reg2.json")
w=$TMP/run-int2
mkdir -m 0700 "$w"
"$RAIN" provision run --sites "$TMP/sites.ini" --site hpc --registration "$TMP/reg2.json" --state "$w/state.json" \
	--id t0164-int2 -n 1 -- true >"$TMP/int2.out" 2>"$TMP/int2.err" &
pid=$!
for _ in $(seq 1 120); do [ "$(squeue -h -t CF -n rain-t0164-int2 -o %i)" ] && break; sleep 0.5; done
check "the job waits for its node's reboot (CONFIGURING)" test -n "$(squeue -h -t CF -n rain-t0164-int2 -o %i)"
kill -INT "$pid"
wait "$pid"
check_eq "interrupted while the node reboots: 130" 130 "$?"
check "no job left in Slurm" no_job
nodes_after() { sinfo -h -N -o '%t %b' | sed "s/ $FEATURE2\$/ new/; s/ $FEATURE\$/ old/" | sort | xargs; }
for _ in $(seq 1 600); do [ "$(nodes_after)" = "idle new idle old" ] && break; sleep 0.5; done
check_eq "the node comes back idle with the image it was rebooting into, the other idle as it was" \
	"idle new idle old" "$(nodes_after)"
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site hpc --state "$TMP/reg2.json" >/dev/null 2>"$TMP/unpub2.err"
check_eq "the second registration is removed" 0 "$?"

# leaks: no job, no rain, the registration removed again
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site hpc --state "$TMP/reg.json" >/dev/null 2>"$TMP/unpub.err"
check_eq "rain target unpublish succeeds" 0 "$?"
check_eq "helpers.conf is the site's own again" "Feature=img_base Helper=$SLURM_HELPER" "$(cat "$SLURM_DIR/etc/helpers.conf")"
check_eq "the boot folder is empty" "" "$(ls -A "$BOOT")"
check "no job in Slurm" no_job
# this test's rain (its last letter bracketed: the pattern does not match itself)
check "no rain process left" bash -c "! pgrep -f '${RAIN%?}[${RAIN: -1}] provision' >/dev/null"
echo "# submit to start: N=2 reimaged ${T_REIMAGE:-?} s (the reboots into the image: $T_BOOT);" \
	"without a reimage N=1 ${T_WARM1:-?} s, N=2 ${T_WARM2:-?} s"
test_done
