#!/bin/bash
# Builds on the cluster: raind's build service with [builds] backend =
# slurm, through a real one-host Slurm 22.05 (lib.sh start_slurm: munged,
# slurmctld, slurmd node1 and node2). A build is a batch job running
# `rain build-worker` on a node, which streams the log back, uploads the
# outputs and reports with a token of that build only; raind stores the
# image. Checked: a qcow2 build stored through Slurm (the job in Slurm's
# records, the log followed as it is written, the stored data the
# uploaded output, the packages those of a local build of the same
# recipe), the worker token good for nothing else, cancel through the API
# ending the Slurm job, a failing recipe, a worker killed (the job's end
# reported as the failure), a node lost (the controller takes it down:
# NODE_FAIL), raind kill -9 during a Slurm build (the build failed at
# restart, its job canceled, no image stored), and a hostile [builds]
# setting refused.
#
# Builds that must stay running use a mirror that accepts connections and
# never answers, so they wait in apt-get update without load or network.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null ||
	! command -v mmdebstrap >/dev/null; then
	echo "ok 1 # SKIP needs root, Slurm (slurmctld, slurmd, munge) and mmdebstrap"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
cd "$TMP" || exit 1

# slurmd ports of its own: another test's Slurm may be up beside this one
for _ in $(seq 1 50); do
	SLURM_PORT_BASE=$((20000 + RANDOM % 20000))
	ss -ltn | grep -qE ":($((SLURM_PORT_BASE + 1))|$((SLURM_PORT_BASE + 2))) " || break
done
start_slurm || { not_ok "Slurm starts"; test_done; }
ok "Slurm is up: two idle nodes"

# a hostile setting: raind refuses to start, naming it
printf '[builds]\nbackend = slurm\nslurm_partition = batch,--wrap=id\n' >"$TMP/bad.ini"
"$RAIND" --data-dir "$TMP/bad" --listen 127.0.0.1:0 --config "$TMP/bad.ini" >"$TMP/bad.out" 2>&1 &
BAD_PID=$!
for _ in $(seq 1 100); do kill -0 "$BAD_PID" 2>/dev/null || break; sleep 0.1; done
pid_stop BAD_PID
check "a partition with ',' and '=' is refused at start" grep -q "slurm_partition: 'batch,--wrap=id' is not a Slurm name" "$TMP/bad.out"

cat >"$TMP/raind.ini" <<EOF
[builds]
backend = slurm
slurm_partition = batch
slurm_time_limit = 900
slurm_conf = $SLURM_CONF
max_concurrent = 2
cache_dir = $CACHE
allow_private_mirrors = yes
EOF
raind_start --config "$TMP/raind.ini" || exit 1

hang_mirror

body() {
	python3 - "$1" >"$TMP/body.json" <<'PY'
import json, sys
print(json.dumps({"recipe": sys.argv[1]}))
PY
}
submit() { # RECIPE-TEXT: sets ID
	body "$1"
	call POST /rain/v1/builds -H 'Content-Type: application/json' --data-binary "@$TMP/body.json"
	ID=$(json_get id <<<"$BODY")
}
build_status() { api GET "/rain/v1/builds/$1" | head -n 1 | json_get status; }
wait_status() { # ID STATUS [SECONDS]
	local i
	for i in $(seq 1 $((${3:-120} * 5))); do
		[ "$(build_status "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
slow_recipe() { printf '[image]\nname = %s\ndistribution = debian\nmirror = http://127.0.0.1:%s/debian\n[output]\nformats = tar\n' "$1" "$HPORT"; }
# job_of ID: the Slurm job id of build ID (from Slurm, by its name)
job_of() { squeue -h --name "rain-build-$1" -o %i 2>/dev/null | head -n 1; }
# worker_pid ID: the build-worker process of build ID on the node
worker_pid() { pgrep -f -- "build-worker $1" | head -n 1; }
# wait_worker ID: until the build's worker runs (sets WPID)
wait_worker() {
	local i
	WPID=
	for i in $(seq 1 600); do
		WPID=$(worker_pid "$1")
		[ -n "$WPID" ] && return 0
		sleep 0.1
	done
	return 1
}
# slurm_state JOB: its JobState as scontrol shows it
slurm_state() { scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n 's/^JobState=//p'; }

# ---- a stored qcow2 build through Slurm, log followed
mkdir -p "$TMP/r"
cat >"$TMP/r/vm.recipe" <<'RECIPE'
[image]
name = t0112-vm
distribution = debian
release = bookworm
[packages]
install = less
[output]
formats = qcow2
size = 1G
RECIPE
start=$(date +%s)
"$RAIN" generate "$TMP/r/vm.recipe" --remote --store --json >"$TMP/vm.json" 2>"$TMP/vm.err" &
GEN_PID=$!
# the job shows in Slurm while it runs
JOB=
for _ in $(seq 1 600); do
	JOB=$(squeue -h -o '%i %j' | awk '$2 ~ /^rain-build-/ {print $1; exit}')
	[ -n "$JOB" ] && break
	sleep 0.1
done
check "squeue shows the build's job" test -n "$JOB"
wait "$GEN_PID"
rc=$?
echo "# Slurm qcow2 build + store took $(( $(date +%s) - start )) s"
check_eq "rain generate --remote --store through Slurm succeeds" 0 "$rc"
[ "$rc" -eq 0 ] || tail -20 "$TMP/vm.err" | sed 's/^/#   /'
VMB=$(json_get id <"$TMP/vm.json" 2>/dev/null)
IMG=$(json_get image_id <"$TMP/vm.json" 2>/dev/null)
check "the followed log says where it ran" grep -q "== raind: Slurm job $JOB running on node" "$TMP/vm.err"
check "the followed log has the worker's and generate's lines" \
	bash -c "grep -q '== worker: build $VMB on' '$TMP/vm.err' && grep -q '^== building\|^+ mmdebstrap' '$TMP/vm.err'"
check_eq "Slurm's record of the job: the build's name, completed" "JobName=rain-build-$VMB COMPLETED" \
	"$(scontrol show job -o "$JOB" | tr ' ' '\n' | grep '^JobName=') $(slurm_state "$JOB")"
call GET "/v2/images/$IMG"
check_json "the stored image is an active qcow2 with the build's figures" 'j["status"] == "active" and j["disk_format"] == "qcow2" and int(j["rain_packages"]) > 50'
check_eq "the stored data is the output the worker uploaded" \
	"$(sha256sum <"$DATA/builds/$VMB/out/t0112-vm.qcow2" 2>/dev/null | cut -c1-64)" \
	"$(json_get os_hash_value <<<"$BODY")"
check "no upload is left half-written" bash -c "! ls -A '$DATA/builds/$VMB/out' | grep -q '^\.upload-'"
check "the token is in no log or record" bash -c "! grep -rq 'RAIN_WORKER_TOKEN=' '$DATA/builds/$VMB' '$TMP/raind.log'"
# the same recipe built locally installs the same packages
start=$(date +%s)
"$RAIN" generate "$TMP/r/vm.recipe" -o "$TMP/local" --cache "$CACHE" >/dev/null 2>"$TMP/local.err"
echo "# the local build took $(( $(date +%s) - start )) s"
pkgs() { python3 -c 'import json,sys; print("\n".join(sorted(p["name"] + "=" + p["version"] for p in json.load(open(sys.argv[1]))["packages"])))' "$1"; }
check "the Slurm build's packages are a local build's" \
	diff <(pkgs "$TMP/local/manifest.json") <(pkgs "$DATA/builds/$VMB/out/manifest.json")

# ---- the worker token: this build's reports only
submit "$(slow_recipe t0112-slow)"
SLOW=$ID
check "a slow build's worker runs on a node" wait_worker "$SLOW"
check "the worker's lines are in the build's log while it runs" bash -c "
	for i in \$(seq 1 100); do
		curl -sS -H 'X-Auth-Token: $TOKEN' '$URL/rain/v1/builds/$SLOW/log' | grep -q '== worker: build $SLOW on' && break
		sleep 0.2
	done
	curl -sS -H 'X-Auth-Token: $TOKEN' '$URL/rain/v1/builds/$SLOW/log' | grep -q '== worker: build $SLOW on' &&
		curl -sS -H 'X-Auth-Token: $TOKEN' '$URL/rain/v1/builds/$SLOW' | grep -q '\"status\": *\"running\"'"
WTOK=$(tr '\0' '\n' <"/proc/$WPID/environ" | sed -n 's/^RAIN_WORKER_TOKEN=//p')
check "the worker got a token (from its environment)" test -n "$WTOK"
check "the token is not in the worker's command line" bash -c "! tr '\0' ' ' </proc/$WPID/cmdline | grep -qF -- '$WTOK'"
check_eq "the token is no user token: GET /v2/images is 401" 401 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $WTOK" "$URL/v2/images")"
check_eq "... nor for its own build's record" 401 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $WTOK" "$URL/rain/v1/builds/$SLOW")"
check_eq "... nor for another build's worker calls" 401 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Rain-Worker-Token: $WTOK" -H 'Content-Type: application/json' \
		-d '{"text":"x"}' "$URL/rain/v1/builds/$VMB/worker/log")"
check_eq "a worker call without the token is 401" 401 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"text":"x"}' \
		"$URL/rain/v1/builds/$SLOW/worker/log")"
check_eq "the token writes its own build's log" 204 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Rain-Worker-Token: $WTOK" -H 'Content-Type: application/json' \
		-d '{"text":"T0112-FROM-THE-TOKEN"}' "$URL/rain/v1/builds/$SLOW/worker/log")"
check "... which the log API shows" bash -c "curl -sS -H 'X-Auth-Token: $TOKEN' '$URL/rain/v1/builds/$SLOW/log' | grep -qx T0112-FROM-THE-TOKEN"
check_eq "an output named .x is refused" 400 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Rain-Worker-Token: $WTOK" --data-binary x \
		"$URL/rain/v1/builds/$SLOW/worker/outputs/.x")"
check_eq "an output named ..%2Fbuild.json is refused" 400 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Rain-Worker-Token: $WTOK" --data-binary x \
		"$URL/rain/v1/builds/$SLOW/worker/outputs/..%2Fbuild.json")"

# ---- cancel through the API ends the Slurm job
SJOB=$(job_of "$SLOW")
call POST "/rain/v1/builds/$SLOW/cancel"
check_status "cancel of the running Slurm build" 200
check "the build is canceled" wait_status "$SLOW" canceled 60
check_eq "its Slurm job is cancelled" CANCELLED "$(slurm_state "$SJOB")"
check_eq "squeue has no job of it" "" "$(job_of "$SLOW")"
check "the log says so" bash -c "curl -sS -H 'X-Auth-Token: $TOKEN' '$URL/rain/v1/builds/$SLOW/log' | grep -q 'canceling Slurm job $SJOB'"
check_eq "the token is dead once the build ended" 401 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Rain-Worker-Token: $WTOK" -H 'Content-Type: application/json' \
		-d '{"ok":true}' "$URL/rain/v1/builds/$SLOW/worker/done")"

# ---- a failing recipe
submit $'[image]\nname = t0112-bad\ndistribution = debian\nrelease = bookworm\n[packages]\ninstall = t0112-no-such-package\n[output]\nformats = tar\n'
BAD=$ID
check "a recipe with an unknown package fails" wait_status "$BAD" failed 300
call GET "/rain/v1/builds/$BAD"
check_json "the error names the package" '"t0112-no-such-package" in j["error"]'

# ---- a worker that dies: the job's end is the failure, with Slurm's words
submit "$(slow_recipe t0112-killed)"
KB=$ID
check "another slow build's worker runs" wait_worker "$KB"
KJOB=$(job_of "$KB")
kill -9 "$WPID"
check "the build whose worker was killed fails" wait_status "$KB" failed 120
call GET "/rain/v1/builds/$KB"
check_json "the error names the Slurm job, its state and that the worker never reported" \
	'"Slurm job '"$KJOB"' ended" in j["error"] and "without the worker'"'"'s report" in j["error"]'

# ---- a node lost (the controller takes it down): the build fails with
# Slurm's state and reason
submit "$(slow_recipe t0112-lost)"
LB=$ID
check "a slow build's worker runs before its node is lost" wait_worker "$LB"
LJOB=$(job_of "$LB")
LNODE=$(squeue -h -j "$LJOB" -o %N)
scontrol update nodename="$LNODE" state=down reason=t0112-node-lost
check "the build on the lost node fails" wait_status "$LB" failed 120
call GET "/rain/v1/builds/$LB"
check_json "the error says the Slurm job ended NODE_FAIL and its node was lost" \
	'"Slurm job '"$LJOB"' ended NODE_FAIL" in j["error"] and "its node was lost" in j["error"]'
# (ReturnToService=2 may have taken it back already)
scontrol update nodename="$LNODE" state=resume 2>/dev/null
for _ in $(seq 1 100); do
	[ "$(sinfo -h -N -o '%N %t' | grep -c ' idle$')" -eq 2 ] && break
	sleep 0.2
done

# ---- raind kill -9 during a Slurm build
IMAGES_BEFORE=$(api GET /v2/images | head -n 1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["images"]))')
submit "$(slow_recipe t0112-crash)"
CB=$ID
check "a slow build's worker runs before the crash" wait_worker "$CB"
CJOB=$(job_of "$CB")
raind_stop KILL
check_eq "its Slurm job outlives raind" RUNNING "$(slurm_state "$CJOB")"
raind_start --config "$TMP/raind.ini" || exit 1
check_eq "after the restart the build is failed" failed "$(build_status "$CB")"
call GET "/rain/v1/builds/$CB"
check_json "... as stopped during the build" '"raind stopped during the build" in j["error"]'
check "its Slurm job was canceled at start" bash -c "s=\$(scontrol show job -o $CJOB | tr ' ' '\n' | sed -n 's/^JobState=//p'); [ \"\$s\" = CANCELLED ]"
check_eq "squeue has no job of it" "" "$(job_of "$CB")"
for _ in $(seq 1 50); do [ -z "$(worker_pid "$CB")" ] && break; sleep 0.2; done
check_eq "no worker of it is left" "" "$(worker_pid "$CB")"
check_eq "no image was stored" "$IMAGES_BEFORE" \
	"$(api GET /v2/images | head -n 1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["images"]))')"
check "raind logged the Slurm job it stopped" \
	grep -q "1 stopped during the build (now failed; 1 leftover process(es) or Slurm job(s) stopped)" "$TMP/raind.log"
check "raind says where builds run" grep -q "build service: .* on the slurm backend" "$TMP/raind.log"

pid_stop HANG_PID
raind_stop
check_eq "no job is left in Slurm" "" "$(squeue -h -o %i)"
test_done
