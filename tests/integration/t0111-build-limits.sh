#!/bin/bash
# The build service under load from its users: the cap on files per
# submission (a 40,000-file body is refused, a 2,000-file one accepted,
# other users answered meanwhile), a client that goes away mid-submission
# leaves nothing, per-user limits on queued, running and in-flight
# submissions (429), build inputs counted in the user's bytes_used and
# quota and given back on delete (also across kill -9 and a stale
# charge), the round-robin queue, and the environment a build child gets
# (an allow-list: no RAIN_ADMIN_PASSWORD, OS_*, raind's RAIN_TOKEN).
#
# Until the last part no image is built: [builds] rain_command is a
# stand-in that notes its environment and sleeps, so builds stay running
# until canceled. The last part runs one real build (with mmdebstrap and
# the shared cache) whose recipe script notes its environment too.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "ok 1 # SKIP the build service needs root"
	test_done
fi
cd "$TMP" || exit 1

mkdir -p "$TMP/env"
cat >"$TMP/fake-rain" <<EOF2
#!/bin/sh
# the environment this process got from raind, as given (not the shell's)
id=\$(basename "\$(pwd -P)")
tr '\0' '\n' </proc/\$\$/environ >"$TMP/env/\$id.tmp" && mv "$TMP/env/\$id.tmp" "$TMP/env/\$id"
echo "stand-in build \$id"
exec sleep 3600
EOF2
chmod 0755 "$TMP/fake-rain"
write_ini() { # write_ini MAX_FILES: the configuration
	cat >"$TMP/raind.ini" <<EOF2
[server]
threads = 1
[builds]
enabled = true
max_concurrent = 2
max_running_per_user = 1
max_queued_per_user = 5
max_files = $1
cache_dir = $TMP/cache
rain_command = $TMP/fake-rain
EOF2
}

# hostile values of the new keys: raind refuses to start, naming the key
for kv in "max_files = -1" "max_queued_per_user = lots" "max_running_per_user = 99999999999999999999" \
	"pids = 3" "memory = lots" "scratch_size = -1G" "cpus = 0" "allow_private_mirrors = maybe"; do
	printf '[builds]\n%s\n' "$kv" >"$TMP/bad.ini"
	"$RAIND" --data-dir "$TMP/bad" --listen 127.0.0.1:0 --config "$TMP/bad.ini" >"$TMP/bad.log" 2>&1
	rc=$?
	check "raind refuses [builds] $kv (status $rc)" test "$rc" -ne 0
	check "... and names the key" grep -q "${kv%% *}" "$TMP/bad.log"
done

write_ini 2000
export RAIN_ADMIN_PASSWORD=t0111-admin-secret OS_PASSWORD=t0111-os-secret
export RAIN_TOKEN=t0111-raind-token SOME_SECRET=t0111-other http_proxy=http://proxy.invalid:3128
export LC_TIME=C.UTF-8
raind_start --config "$TMP/raind.ini" || exit 1
unset RAIN_ADMIN_PASSWORD OS_PASSWORD SOME_SECRET http_proxy LC_TIME
export RAIN_TOKEN=$TOKEN

adduser() { # adduser NAME QUOTA_BYTES: an active user
	call POST /rain/v1/users -H 'Content-Type: application/json' \
		-d "{\"name\":\"$1\",\"password\":\"$1-password\",\"role\":\"user\",\"status\":\"active\",\"quota_bytes\":$2,\"quota_images\":0}"
	check_status "admin adds $1" 201
}
adduser alice 0
adduser bob 0
adduser carol 0
adduser dave 100000
ALICE=$(token_of alice alice-password)
BOB=$(token_of bob bob-password)
CAROL=$(token_of carol carol-password)
DAVE=$(token_of dave dave-password)

RECIPE=$'[image]\nname = t0111\ndistribution = debian\n[output]\nformats = tar\n'
# body FILE NFILES [BYTES-EACH]: a submission with NFILES files
body() {
	python3 - "$RECIPE" "$2" "${3:-0}" >"$1" <<'PY'
import base64, json, sys
recipe, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = base64.b64encode(b"x" * size).decode()
files = {"d%d/f%05d" % (i % 7, i): data for i in range(n)}
print(json.dumps({"recipe": recipe, "files": files}))
PY
}
# sub TOKEN FILE: submit; sets STATUS and BODY
sub() {
	_split_reply "$(curl -sS -X POST -H "X-Auth-Token: $1" -H 'Content-Type: application/json' \
		--data-binary "@$2" -w '\n%{http_code}' "$URL/rain/v1/builds"; echo x)"
}
as() { # as TOKEN METHOD PATH: sets STATUS and BODY
	_split_reply "$(curl -sS -X "$2" -H "X-Auth-Token: $1" -w '\n%{http_code}' "$URL$3"; echo x)"
}
field() { printf '%s' "$BODY" | head -n 1 | json_get "$1"; }
build_field() { # build_field ID FIELD
	curl -sS -H "X-Auth-Token: $TOKEN" "$URL/rain/v1/builds/$1" | json_get "$2"
}
wait_status() { # wait_status ID STATUS [SECONDS]: up to 60 s
	local i
	for i in $(seq 1 $((${3:-60} * 5))); do
		[ "$(build_field "$1" status)" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
used() { # used NAME: the user's bytes_used
	curl -sS -H "X-Auth-Token: $TOKEN" "$URL/rain/v1/users/$1" | json_get bytes_used
}
no_staging() { ! ls -a "$DATA/builds" | grep -q '^\.staging-'; }
lacks() { ! grep -q "$@"; }
# bob_meanwhile WHAT: bob lists his builds five times; slow=1 unless each
# is answered 200 within 10 s (a generous bound: the machine is shared).
# raind runs one connection worker ([server] threads = 1): a submission
# that held it would hold bob up.
bob_meanwhile() {
	local s
	slow=0
	for _ in 1 2 3 4 5; do
		s=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -H "X-Auth-Token: $BOB" "$URL/rain/v1/builds")
		case $s in 200\ *) ;; *) slow=1 ;; esac
		awk -v t="${s#* }" 'BEGIN { exit !(t > 10) }' && slow=1
		echo "# bob's list during $1: $s"
		sleep 0.2
	done
}

# ---- the cap on files, and linear-time checks
body "$TMP/many.json" 40000
check "the 40,000-file body is small ($(stat -c %s "$TMP/many.json") bytes)" test "$(stat -c %s "$TMP/many.json")" -lt 2000000
t0=$(date +%s%N)
sub "$CAROL" "$TMP/many.json" >/dev/null &
SUBPID=$!
bob_meanwhile "the 40,000-file submission"
wait "$SUBPID"
check_eq "other users are answered during a 40,000-file submission" 0 "$slow"
sub "$CAROL" "$TMP/many.json"
echo "# 40,000 files refused in $(( ($(date +%s%N) - t0) / 1000000 )) ms (both runs)"
check_error "40,000 files are refused by [builds] max_files" 413
check "the message gives the limit and what to do" grep -q "more than the 2000 one build may have (\[builds\] max_files); pack them" <<<"$BODY"

body "$TMP/two-k.json" 2000 3
t0=$(date +%s%N)
sub "$CAROL" "$TMP/two-k.json"
echo "# 2,000 files in 7 directories accepted in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check_status "2,000 files (the cap) are accepted" 202
C0=$(field id)
check "they are all there, nested" test "$(find "$DATA/builds/$C0/input" -type f -name 'f*' | wc -l)" -eq 2000
check_eq "with their content" xxx "$(cat "$DATA/builds/$C0/input/d3/f00003")"
check "carol's bytes_used counts them (>= 6,000)" test "$(used carol)" -ge 6000
check "no staging directory is left" no_staging

# ---- a client that goes away mid-submission
# partial_submit TOKEN FILE HOW: send the headers and half the body (HOW
# half) or all of it (HOW all), then close
partial_submit() {
	python3 - "$PORT" "$1" "$2" "$3" <<'PY'
import socket, sys, time
port, token, path, how = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
body = open(path, "rb").read()
s = socket.create_connection(("127.0.0.1", int(port)))
s.sendall(("POST /rain/v1/builds HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: %s\r\n"
           "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (token, len(body))).encode())
s.sendall(body if how == "all" else body[:len(body) // 2])
if how == "half":
    time.sleep(0.5)
s.close()
PY
}
nbuilds() { curl -sS -H "X-Auth-Token: $1" "$URL/rain/v1/builds" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["builds"]))'; }
body "$TMP/bob.json" 2000 100
partial_submit "$BOB" "$TMP/bob.json" half
sleep 1
check_eq "a client gone after half the body leaves no build" 0 "$(nbuilds "$BOB")"
partial_submit "$BOB" "$TMP/bob.json" all
sleep 3
check_eq "a client gone right after the whole body leaves no build" 0 "$(nbuilds "$BOB")"
check "... and no staging directory" no_staging
check_eq "... and no bytes counted" 0 "$(used bob)"
grep -q "submission of bob was dropped: the client went away" "$TMP/raind.log" &&
	echo "# raind dropped the abandoned submission itself (not only the connection)"

# ---- submissions in flight per user: two at once, a third is 429
python3 - "$PORT" "$BOB" "$TMP/bob.json" <<'PY' &
import socket, sys, time
port, token, path = sys.argv[1], sys.argv[2], sys.argv[3]
body = open(path, "rb").read()
socks = []
for _ in range(2):
    s = socket.create_connection(("127.0.0.1", int(port)))
    s.sendall(("POST /rain/v1/builds HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (token, len(body))).encode())
    s.sendall(body[:1000])
    socks.append(s)
time.sleep(4)
for s in socks:
    s.close()
PY
HOLD=$!
sleep 2
body "$TMP/small.json" 1 10
sub "$BOB" "$TMP/small.json"
check_error "a third submission while two of bob's are being received is refused" 429
check "the message says why and what to do" grep -q "build submissions being received already.*wait for their answers" <<<"$BODY"
wait "$HOLD"
sleep 1
sub "$BOB" "$TMP/small.json"
check_status "once they are gone, bob submits again" 202
B1=$(field id)
check "bob's build runs" wait_status "$B1" running
check "carol's build runs" wait_status "$C0" running
as "$BOB" POST "/rain/v1/builds/$B1/cancel" >/dev/null
as "$CAROL" POST "/rain/v1/builds/$C0/cancel" >/dev/null

# ---- per-user limits: 1 running, 5 queued
sub "$ALICE" "$TMP/small.json"
A1=$(field id)
check "alice's first build runs" wait_status "$A1" running
AQ=()
for i in 1 2 3 4 5; do
	sub "$ALICE" "$TMP/small.json"
	AQ+=("$(field id)")
done
check_status "alice queues five more" 202
sub "$ALICE" "$TMP/small.json"
check_error "a sixth queued build of alice is refused" 429
check "the message gives the limit and what to do" grep -q "alice has 5 builds queued.*max_queued_per_user = 5.*cancel some" <<<"$BODY"
sleep 2
check_eq "alice's second build waits though a worker is free: one running per user" queued \
	"$(build_field "${AQ[0]}" status)"

# ---- round robin: with alice's five queued, dave's one goes next
sub "$BOB" "$TMP/small.json"
B2=$(field id)
check "bob's build takes the other worker" wait_status "$B2" running
sub "$DAVE" "$TMP/small.json"
D1=$(field id)
check_status "dave submits one build after alice's five" 202
check_eq "dave's build is first in line" 1 "$(build_field "$D1" position)"
check_eq "alice's oldest queued build is second" 2 "$(build_field "${AQ[0]}" position)"
check_eq "alice's newest is sixth" 6 "$(build_field "${AQ[4]}" position)"
as "$ALICE" POST "/rain/v1/builds/$A1/cancel"
check_status "alice's running build is canceled (a worker frees)" 200
check "dave's build runs next, not alice's older one" wait_status "$D1" running
check_eq "alice's build still waits" queued "$(build_field "${AQ[0]}" status)"

# ---- the environment of a build child: an allow-list
ENVF=$TMP/env/$A1
check "the stand-in noted its environment" test -s "$ENVF"
check "no RAIN_ADMIN_PASSWORD" lacks -q "RAIN_ADMIN_PASSWORD\|t0111-admin-secret" "$ENVF"
check "no OS_*" lacks -q "^OS_\|t0111-os-secret" "$ENVF"
check "not raind's RAIN_TOKEN" lacks -q "t0111-raind-token" "$ENVF"
check "no other variable of raind's" lacks -q "SOME_SECRET\|t0111-other" "$ENVF"
check "the proxy and locale are passed on" grep -qx "http_proxy=http://proxy.invalid:3128" "$ENVF"
check "... and LC_TIME" grep -qx "LC_TIME=C.UTF-8" "$ENVF"
check "PATH is set" grep -q "^PATH=/" "$ENVF"
check "nothing outside the allow-list" python3 - "$ENVF" <<'PY'
import re, sys
allowed = re.compile(r"^(PATH|LANG|LANGUAGE|TZ|LC_[A-Z_]+|http_proxy|https_proxy|no_proxy|"
                     r"HTTP_PROXY|HTTPS_PROXY|NO_PROXY|RAIN_URL|RAIN_TOKEN|RAIN_CACERT)=")
bad = [l for l in open(sys.argv[1]).read().splitlines() if l and not allowed.match(l)]
print(bad)
sys.exit(1 if bad else 0)
PY

# ---- quota: dave has 100,000 bytes
body "$TMP/q60.json" 6 10000
sub "$DAVE" "$TMP/q60.json"
check_status "dave's 60,000 bytes of files are accepted" 202
D2=$(field id)
u=$(used dave)
check "they count in his bytes_used ($u)" test "$u" -ge 60000
as "$DAVE" GET /v2/info/usage
echo "# dave's usage: $(printf '%s' "$BODY" | head -n 1)"
sub "$DAVE" "$TMP/q60.json"
check_error "60,000 more do not fit in his quota" 413
check "the message names the quota and what to do" grep -q "do not fit in the storage quota.*delete images or finished builds" <<<"$BODY"
check "no staging directory is left" no_staging
check_eq "the refused one counts nothing" "$u" "$(used dave)"
as "$DAVE" POST "/rain/v1/builds/$D2/cancel" >/dev/null
as "$DAVE" DELETE "/rain/v1/builds/$D2"
check_status "dave deletes the queued build he canceled" 204
u2=$(used dave)
check "its bytes are given back ($u -> $u2)" test "$u2" -lt $((u - 60000 + 1))
sub "$DAVE" "$TMP/q60.json"
check_status "now 60,000 fit again" 202
D3=$(field id)
before=$(used dave)

# ---- kill -9: accepted builds, their charges and the queue survive
raind_stop KILL
mkdir -p "$DATA/builds/.staging-00000000-0000-4000-8000-000000000000/input"
python3 - "$DATA/catalog.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("INSERT INTO charges (key, owner, bytes) VALUES "
           "('build/00000000-0000-4000-8000-000000000001', 'dave', 12345)")
db.commit()
PY
raind_start --config "$TMP/raind.ini" || exit 1
check_eq "dave's bytes_used after the restart: the stale charge dropped" "$before" "$(used dave)"
check "the staging directory of a submission cut short is removed" no_staging
st=$(build_field "$D3" status)
check "dave's accepted build is still there ($st)" test "$st" = queued -o "$st" = running
st=$(for id in "${AQ[@]}"; do build_field "$id" status; done | sort | uniq -c | xargs)
check "alice's five are still there, queued or running ($st)" \
	test "$st" = "5 queued" -o "$st" = "1 running 4 queued" -o "$st" = "4 queued 1 running"
check_eq "those running at the kill failed" "failed failed" "$(build_field "$B2" status) $(build_field "$D1" status)"

# cancel everything left (the stand-ins sleep)
for id in "${AQ[@]}" "$D3"; do
	api POST "/rain/v1/builds/$id/cancel" -o /dev/null >/dev/null
done
# bob's build that was running at the kill is not counted as running any
# more, nor as less than nothing: one of his runs, the next waits
sub "$BOB" "$TMP/small.json"
B3=$(field id)
sub "$BOB" "$TMP/small.json"
B4=$(field id)
check "after the restart bob's build runs" wait_status "$B3" running
sleep 2
check_eq "and his next waits though a worker is free" queued "$(build_field "$B4" status)"
for id in "$B3" "$B4"; do
	api POST "/rain/v1/builds/$id/cancel" -o /dev/null >/dev/null
done

# ---- without the cap, 40,000 files are accepted in linear time
raind_stop
write_ini 0
raind_start --config "$TMP/raind.ini" || exit 1
t0=$(date +%s%N)
sub "$CAROL" "$TMP/many.json" >/dev/null &
SUBPID=$!
bob_meanwhile "the writing of 40,000 files"
wait "$SUBPID"
echo "# 40,000 files accepted (max_files = 0) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check_eq "other users are answered while 40,000 files are written" 0 "$slow"
n=$(curl -sS -H "X-Auth-Token: $CAROL" "$URL/rain/v1/builds" | python3 -c 'import json,sys; b=json.load(sys.stdin)["builds"]; print(sum(1 for x in b if x["status"] in ("queued", "running")))')
check_eq "with max_files = 0 the 40,000-file build is accepted" 1 "$n"
check "no staging directory is left" no_staging
api POST "/rain/v1/builds/$(curl -sS -H "X-Auth-Token: $CAROL" "$URL/rain/v1/builds" | json_get builds.0.id)/cancel" -o /dev/null >/dev/null

# ---- one real build: the environment reaches neither rain generate nor
# the recipe's scripts, and the allow-list is enough for a build
if ! command -v mmdebstrap >/dev/null; then
	skip "a real build sees no secret of raind's" "needs mmdebstrap"
	test_done
fi
raind_stop
cat >"$TMP/rain-wrapper" <<EOF2
#!/bin/sh
id=\$(basename "\$(pwd -P)")
tr '\0' '\n' </proc/\$\$/environ >"$TMP/env/\$id"
printf '%s\n' "\$@" >"$TMP/env/\$id.argv"
exec "$RAIN" "\$@"
EOF2
chmod 0755 "$TMP/rain-wrapper"
# the build limits of [builds] (given again: the last value counts)
printf '[builds]\ncache_dir = %s\nrain_command = %s\npids = 1024\nmemory = 3G\npids = 2048\n' \
	"${RAIN_TEST_CACHE:-/var/cache/rain}" "$TMP/rain-wrapper" >"$TMP/real.ini"
export RAIN_ADMIN_PASSWORD=t0111-admin-secret OS_PASSWORD=t0111-os-secret SOME_SECRET=t0111-other
raind_start --config "$TMP/real.ini" || exit 1
unset RAIN_ADMIN_PASSWORD OS_PASSWORD SOME_SECRET
SCRIPT=$(printf '#!/bin/sh\nenv >/root/build-env.txt\n' | base64 -w0)
RECIPE=$'[image]\nname = t0111-env\ndistribution = debian\nrelease = bookworm\n[scripts]\nrun = env.sh\n[output]\nformats = tar\n'
python3 - "$RECIPE" "$SCRIPT" >"$TMP/real.json" <<'PY'
import json, sys
print(json.dumps({"recipe": sys.argv[1], "files": {"env.sh": {"data": sys.argv[2], "mode": 493}}}))
PY
sub "$ALICE" "$TMP/real.json"
check_status "alice submits a real build whose script notes its environment" 202
R=$(field id)
# (a cold cache bootstraps the base system first: minutes)
for _ in $(seq 1 600); do
	case $(build_field "$R" status) in succeeded|failed|canceled) break ;; esac
	sleep 0.5
done
check_eq "it succeeds with the allow-listed environment" succeeded "$(build_field "$R" status)"
tar -xOf "$DATA/builds/$R/out/t0111-env.tar" ./root/build-env.txt >"$TMP/script-env" 2>/dev/null
check "the script's environment was noted" grep -q "^PATH=" "$TMP/script-env"
check "no secret of raind's reaches rain generate" lacks -q "t0111-admin-secret\|t0111-os-secret\|t0111-other\|RAIN_ADMIN_PASSWORD" "$TMP/env/$R"
check_eq "[builds] limits reach rain generate as --limit, the last value of a key counting" \
	"--limit pids=2048 --limit memory=3G" "$(grep -A1 -x -- --limit "$TMP/env/$R.argv" | grep -v -- '^--$' | tr '\n' ' ' | sed 's/ $//')"
check "... nor the recipe's script" lacks -q "t0111-admin-secret\|t0111-os-secret\|t0111-other\|RAIN_ADMIN_PASSWORD\|RAIN_TOKEN" "$TMP/script-env"
check "the build's bytes (log, outputs) count in alice's bytes_used" test "$(used alice)" -ge "$(stat -c %s "$DATA/builds/$R/out/t0111-env.tar")"
test_done
