#!/bin/bash
# Runs through raind at a container site (Charliecloud's ch-run over the
# image's root tree): rain run registering the image first, then a
# passing job (its output on stdout, rain's progress on stderr, a result
# file fetched), a failing job's exit code, a walltime (124), two
# instances with --each, a --job script, vetting first where the site
# wants a policy, rain stop and Ctrl-C mid-run and a kill -9 of raind
# mid-run (each leaving no instance folder, no process and no key), a
# kept run taken down by rain stop, the instances quota, bad sites,
# images and counts, a user who may not use the site, another user's runs
# not visible, rain ps, the audit log and path traversal in the files API
# refused. A run's record keeps the instances it had (history: name,
# address, up or gone) after they are gone.
source "$(dirname "$0")/lib.sh"
cd "$TMP" || exit 1

if [ "$(id -u)" != 0 ] || ! command -v ch-run >/dev/null || [ ! -x /bin/busybox ] ||
	! file -L /bin/busybox | grep -q static; then
	echo "ok 1 # SKIP needs root, ch-run (charliecloud-runtime) and busybox-static"
	exit 0
fi

# ---- a small disk whose root tree has a static busybox
R=$TMP/tree
mkdir -p "$R/bin" "$R/etc" "$R/root" "$R/tmp"
cp /bin/busybox "$R/bin/busybox"
for c in sh echo cat sleep ls uname printf true false env id; do ln -s busybox "$R/bin/$c"; done
printf 'PRETTY_NAME="rain t0165 busybox"\nID=t0165\n' >"$R/etc/os-release"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
truncate -s 32M "$TMP/disk.raw"
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$TMP/disk.raw"
mke2fs -q -F -t ext4 -E offset=1048576 -d "$R" "$TMP/disk.raw" 30M

# the site's user (nobody) walks to the trees
chmod 711 "$TMP"
mkdir -p "$TMP/box" "$TMP/few" "$TMP/vetted"
cat >"$TMP/raind.ini" <<EOF
[site.box]
uri = container:$TMP/box
[site.few]
uri = container:$TMP/few
users = bob
[site.vetted]
uri = container:$TMP/vetted
policy = default
[runs]
max_instances = 3
max_per_run = 2
max_walltime = 3600
EOF
export RAIN_ADMIN_PASSWORD=t0165-admin-password
raind_start --config "$TMP/raind.ini" || exit 1
unset RAIN_ADMIN_PASSWORD
for u in alice bob; do
	call POST /rain/v1/users -H 'Content-Type: application/json' \
		-d '{"name":"'$u'","password":"'$u'-password","role":"user","status":"active"}'
done
check_status "admin creates the users" 201
ALICE=$(token_of alice alice-password)
BOB=$(token_of bob bob-password)
IMG=$(TOKEN=$ALICE create_image t0165)
check_eq "alice uploads her image" 204 "$(TOKEN=$ALICE upload "$IMG" "$TMP/disk.raw")"

# the container site's provider may not be built in yet
call_noauth POST /rain/v1/runs -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' \
	-d '{"image":"'$IMG'","site":"box","command":["true"]}'
if printf '%s' "$BODY" | grep -q "no provider"; then
	skip "runs at a container site" "rain has no container provider yet"
	test_done
fi
as_alice() { RAIN_TOKEN=$ALICE "$RAIN" "$@"; }
run_json() { curl -sS -H "X-Auth-Token: ${2:-$ALICE}" "$URL/rain/v1/runs/$1"; }
run_field() { run_json "$1" | json_get "$2"; }
# the instance folders of runs at the box site, and processes of ch-run
leftovers() { ls -A "$TMP/box" | grep '^\.rain-' ; pgrep -f "ch-run.*$TMP/box" ; true; }
wait_status() {   # RUN STATUS...: until the run has one of them (60 s)
	local id=$1 st; shift
	for _ in $(seq 1 240); do
		st=$(run_field "$id" status)
		for want in "$@"; do [ "$st" = "$want" ] && return 0; done
		sleep 0.25
	done
	echo "# run $id is $st"
	return 1
}
wait_instances() {   # RUN: until it runs with an instance up
	for _ in $(seq 1 240); do
		[ "$(run_json "$1" | json_get instances.0.name)" != "" ] &&
			[ "$(run_field "$1" status)" = running ] && return 0
		sleep 0.25
	done
	return 1
}

# ---- a passing job: registered first, output, a result file
as_alice run t0165 --site box --out result.txt --outdir "$TMP/outs" -- \
	sh -c 'cat /etc/os-release; echo "result of $(id -u)" >result.txt; echo done' \
	>"$TMP/pass.out" 2>"$TMP/pass.err"
check_eq "rain run of a passing job exits 0" 0 "$?"
check "the image was registered at the site first" grep -q "registering t0165 at box" "$TMP/pass.err"
check "the job's output is on stdout" grep -q 'PRETTY_NAME="rain t0165 busybox"' "$TMP/pass.out"
check "and ends there" grep -qx done "$TMP/pass.out"
check "rain's progress is on stderr, not stdout" sh -c "grep -q '^rain: ' '$TMP/pass.err' && ! grep -q '^rain: ' '$TMP/pass.out'"
check "the result file was fetched into --outdir" grep -q "^result of " "$TMP/outs/result.txt"
call_noauth GET "/rain/v1/runs" -H "X-Auth-Token: $ALICE"
RUN1=$(printf '%s' "$BODY" | json_get runs.0.id)
check_json "the run is recorded: who, image, site, n, command, exit code" \
	'(r := j["runs"][0])["owner"] == "alice" and r["image_id"] == "'"$IMG"'" and r["site"] == "box" and r["n"] == 1 and r["command"][0] == "sh" and r["exit_code"] == 0 and r["status"] == "succeeded" and r["started_at"] and r["finished_at"] and r["files"] == ["result.txt"] and r["instances"] == []'
check_eq "nothing is left at the site" "" "$(leftovers)"
check_eq "the record keeps the instance it had, gone" "gone" \
	"$(run_json "$RUN1" | python3 -c 'import json,sys; h=json.load(sys.stdin)["history"]
assert len(h) == 1 and h[0]["name"].startswith("rain-") and "address" in h[0], h; print(h[0]["state"])')"
as_alice ps --all >"$TMP/ps-all.out" 2>&1
check "rain ps --all shows it with its instance gone" grep -q "^$RUN1 .*rain-.* (gone)" "$TMP/ps-all.out"
call_noauth GET "/rain/v1/jobs" -H "X-Auth-Token: $ALICE"
check_json "GET /rain/v1/jobs lists the run among alice's jobs" \
	'any(x["id"] == "'"$RUN1"'" and x["kind"] == "run" for x in j["jobs"])'
call_noauth GET "/rain/v1/runs/$RUN1/files/result.txt" -H "X-Auth-Token: $ALICE"
check_status "the result file is served" 200
for bad in "..%2Frun.json" "..%2F..%2Fadmin-token" "%2Fetc%2Fpasswd"; do
	call_noauth GET "/rain/v1/runs/$RUN1/files/$bad" -H "X-Auth-Token: $ALICE"
	check_error "a file name leaving the run's folder is refused: $bad" 404
done
call GET "/rain/v1/audit?target=$RUN1"
check_json "the run's start is in the audit log" \
	'any(e["method"] == "RUN" and "at site box" in e["path"] and e["actor"] == "alice" for e in j["events"])'

# ---- a failing job, a walltime
as_alice run t0165 --site box -- sh -c 'echo failing; exit 3' >"$TMP/fail.out" 2>"$TMP/fail.err"
check_eq "a failing job's exit code is rain run's" 3 "$?"
check "its output came" grep -qx failing "$TMP/fail.out"
as_alice run t0165 --site box --walltime 2 -- sleep 60 >"$TMP/wall.out" 2>"$TMP/wall.err"
check_eq "a job past its walltime ends with 124" 124 "$?"
check "the message says so" grep -qi "walltime\|time limit\|longer than" "$TMP/wall.err"
check_eq "nothing is left after the time limit" "" "$(leftovers)"

# ---- two instances, the job on each; a script
as_alice run t0165 --site box -n 2 --each -- sh -c 'echo "on $(pwd)"' \
	>"$TMP/each.out" 2>"$TMP/each.err"
check_eq "a run on each of 2 instances exits 0" 0 "$?"
check_eq "each instance's output came, prefixed with its name" 2 "$(grep -c '^\[rain-.*-[12]\] on /rain/work$' "$TMP/each.out")"
printf '#!/bin/sh\necho "script says $1hello"\nexit 7\n' >"$TMP/job.sh"
as_alice run t0165 --site box --job "$TMP/job.sh" >"$TMP/script.out" 2>"$TMP/script.err"
check_eq "a --job script runs and its exit code is rain run's" 7 "$?"
check "its output came" grep -qx "script says hello" "$TMP/script.out"
check_eq "nothing is left after both" "" "$(leftovers)"

# ---- rain stop mid-run: nothing left, no key
RUN2=$(as_alice run t0165 --site box --no-wait -- sleep 300)
check "a run submitted without waiting comes up" wait_instances "$RUN2"
RAIN_TOKEN=$ALICE "$RAIN" ps >"$TMP/ps.out" 2>&1
check "rain ps shows it running with its instance" grep -q "$RUN2.*running.*rain-" "$TMP/ps.out"
RAIN_TOKEN=$BOB "$RAIN" ps --all >"$TMP/ps-bob.out" 2>&1
check "bob's rain ps does not show alice's runs" sh -c "! grep -q '$RUN2\|$RUN1' '$TMP/ps-bob.out'"
call_noauth GET "/rain/v1/runs/$RUN2" -H "X-Auth-Token: $BOB"
check_error "nor does GET of her run by id" 404
call_noauth POST "/rain/v1/runs/$RUN2/stop" -H "X-Auth-Token: $BOB"
check_error "bob cannot stop it" 404
RAIN_TOKEN=$ALICE "$RAIN" stop "$RUN2" >"$TMP/stop.out" 2>&1
check_eq "rain stop stops it" 0 "$?"
check_eq "the run is canceled" canceled "$(run_field "$RUN2" status)"
check_eq "with exit code 130" 130 "$(run_field "$RUN2" exit_code)"
check_eq "no instance or process is left" "" "$(leftovers)"
check_eq "and no key of the run" "" "$(ls "$DATA/runs/$RUN2/" | grep '^key' || true)"

# ---- Ctrl-C of rain run: the run is stopped and taken down
# (rain itself in the background, not a function's subshell: the signal goes to rain)
RAIN_TOKEN=$ALICE "$RAIN" run t0165 --site box -- sh -c 'echo started; sleep 300' >"$TMP/int.out" 2>"$TMP/int.err" &
RPID=$!
for _ in $(seq 1 240); do grep -q started "$TMP/int.out" 2>/dev/null && break; sleep 0.25; done
kill -INT "$RPID"
wait "$RPID"
check_eq "rain run interrupted exits 130" 130 "$?"
check "it says the run was stopped" grep -q "was stopped" "$TMP/int.err"
check_eq "nothing is left after the interrupt" "" "$(leftovers)"

# ---- raind killed mid-run and restarted: the run fails, its instance goes
RUN3=$(as_alice run t0165 --site box --no-wait -- sleep 300)
check "another run comes up" wait_instances "$RUN3"
raind_stop KILL
raind_start --config "$TMP/raind.ini" || exit 1
check_eq "after the restart the run has failed" failed "$(run_field "$RUN3" status)"
check "its error says raind stopped" sh -c "curl -sS -H 'X-Auth-Token: $ALICE' '$URL/rain/v1/runs/$RUN3' | grep -q 'raind stopped'"
check_eq "its instance and processes are gone" "" "$(leftovers)"
check_eq "the record names no instance up" "[]" "$(run_field "$RUN3" instances)"
check_eq "but the one it had, gone" "gone" "$(run_field "$RUN3" history.0.state)"

# ---- the quota: max_instances = 3, max_per_run = 2
RUN4=$(as_alice run t0165 --site box -n 2 --keep --no-wait -- true)
check "a kept run ends" wait_status "$RUN4" succeeded
check_eq "and keeps its 2 instances" 2 "$(run_json "$RUN4" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["instances"]))')"
check_eq "its history: both up" "up up" "$(run_json "$RUN4" | python3 -c 'import json,sys; print(*[h["state"] for h in json.load(sys.stdin)["history"]])')"
call_noauth POST /rain/v1/runs -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' \
	-d '{"image":"'$IMG'","site":"box","n":2,"command":["true"]}'
check_error "2 more instances are past alice's quota" 403
check_json "the refusal names the limit and what to do" '"max_instances" in j["message"] and "rain stop" in j["message"]'
RAIN_TOKEN=$ALICE "$RAIN" stop "$RUN4" >"$TMP/stop4.out" 2>&1
check_eq "rain stop takes the kept instances down" 0 "$?"
check_eq "nothing is left of the kept run" "" "$(leftovers)"
check_eq "its history: both gone, by name" "gone gone 2" "$(run_json "$RUN4" | python3 -c 'import json,sys; h=json.load(sys.stdin)["history"]
print(*[x["state"] for x in h], len(set(x["name"] for x in h)))')"
call_noauth POST /rain/v1/runs -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' \
	-d '{"image":"'$IMG'","site":"box","n":2,"command":["true"]}'
check_status "then 2 instances are within the quota" 202
RUN5=$(printf '%s' "$BODY" | json_get id)
wait_status "$RUN5" succeeded >/dev/null
call_noauth POST "/rain/v1/runs/$RUN5/stop" -H "X-Auth-Token: $ALICE"
check_error "stopping an ended run with nothing up is 409" 409

# ---- bad requests
post_run() { call_noauth POST /rain/v1/runs -H "X-Auth-Token: ${2:-$ALICE}" -H 'Content-Type: application/json' -d "$1"; }
post_run '{"image":"'$IMG'","site":"box","n":3,"command":["true"]}'
check_error "n past max_per_run is 413" 413
post_run '{"image":"'$IMG'","site":"box","n":0,"command":["true"]}'
check_error "n = 0 is 400" 400
post_run '{"image":"'$IMG'","site":"nowhere","command":["true"]}'
check_error "an unknown site is 404" 404
check_json "naming the sites there are" '"box" in j["message"]'
post_run '{"image":"no-such-image","site":"box","command":["true"]}'
check_error "an unknown image is 404" 404
post_run '{"image":"'$IMG'","site":"few","command":["true"]}'
check_error "alice may not use bob's site" 403
post_run '{"image":"'$IMG'","site":"box","command":["true"]}' "$BOB"
check_error "bob cannot run alice's private image" 404
for body in '{}' '{"image":"'$IMG'","site":"box"}' '{"image":"'$IMG'","site":"box","command":"true"}' \
	'{"image":"'$IMG'","site":"box","command":["true"],"extra":1}' \
	'{"image":"'$IMG'","site":"box","command":["true"],"n":"2"}' \
	'{"image":"'$IMG'","site":"box","command":["true"],"script":"true"}'; do
	post_run "$body"
	check_error "a bad run is 400: $body" 400
done
# an image registered nowhere: the API says to register first
IMG2=$(TOKEN=$ALICE create_image t0165-other)
TOKEN=$ALICE upload "$IMG2" "$TMP/disk.raw" >/dev/null
post_run '{"image":"'$IMG2'","site":"box","command":["true"]}'
check_error "an image not registered at the site is 404" 404
check_json "saying to register it first" '"register it first" in j["message"]'
as_alice run t0165 --site nowhere -- true >/dev/null 2>"$TMP/bad.err"
check "rain run at an unknown site fails with a message" sh -c "grep -q 'nowhere' '$TMP/bad.err'"

# a site with a vetting policy: rain run vets the image with it first
as_alice run t0165 --site vetted -- true >/dev/null 2>"$TMP/vetted.err"
check "rain run vets the image first where the site wants a policy" grep -q "requires vetting policy default: vetting t0165" "$TMP/vetted.err"
check "the image has the policy's verdict" sh -c "curl -sS -H 'X-Auth-Token: $ALICE' '$URL/v2/images/$IMG' | grep -q '\"rain_vetting_policy\": *\"default\"'"

RAIN_TOKEN=$ALICE "$RAIN" ps --all --json >"$TMP/ps.json" 2>&1
check "rain ps --all --json lists alice's runs" python3 -c '
import json,sys; runs=json.load(open(sys.argv[1]))
assert len(runs) >= 7 and all(r["owner"] == "alice" for r in runs), runs' "$TMP/ps.json"
check_eq "nothing at all is left at the site" "" "$(leftovers)"

test_done
