#!/bin/bash
# Authentication on the hot path: GET /v2/images/{id} requests/s with a
# user's Keystone token (hashed, looked up in the catalog, the user's status
# checked) against the same requests with raind's static admin token (one
# constant-time compare, no lookup: the figure "without authentication"
# comes closest to), with wrk, 8 keep-alive connections, in 5 alternating
# rounds (this VM's throughput drifts by 20 % from one run to the next: the
# verdict is the median of the rounds' ratios); and the cost of a login
# (Argon2id) in ms. In one run on this machine; prints ratios.
#
#   bench/identity.sh [--quick]      (--quick: wrk 2 s per run instead of 6 s)
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
secs=6
rounds=5
[ "${1:-}" = --quick ] && secs=2
for tool in wrk curl python3 meson ninja; do
	command -v "$tool" >/dev/null || { echo "bench/identity.sh: needs $tool" >&2; exit 1; }
done
[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release src/daemon/raind >/dev/null
RAIND=$TOP/build-release/src/daemon/raind
work=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-idbench.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

RAIN_ADMIN_PASSWORD=bench-admin-password "$RAIND" --data-dir "$work/data" --listen 127.0.0.1:0 \
	--port-file "$work/port" >"$work/raind.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.05; done
url=http://127.0.0.1:$(cat "$work/port")
admin=$(cat "$work/data/admin-token")

login() { # login NAME PASSWORD: prints the token
	curl -sf -D - -o /dev/null -H 'Content-Type: application/json' "$url/v3/auth/tokens" -d \
		"{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$1\",\"domain\":{\"id\":\"default\"},\"password\":\"$2\"}}}}}" |
		tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p'
}
curl -sf -o /dev/null -H "X-Auth-Token: $admin" -H 'Content-Type: application/json' "$url/rain/v1/users" \
	-d '{"name":"alice","password":"alice-bench-password","role":"user","status":"active"}'
user=$(login alice alice-bench-password)
[ -n "$user" ] || { echo "bench/identity.sh: alice cannot log in" >&2; exit 1; }
id=$(curl -sf -H "X-Auth-Token: $user" -H 'Content-Type: application/json' "$url/v2/images" \
	-d '{"name":"bench","disk_format":"raw","container_format":"bare"}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

rps() { # rps TOKEN
	local out
	out=$(wrk -t2 -c8 -d"${secs}s" -H "X-Auth-Token: $1" "$url/v2/images/$id")
	if grep -q 'Non-2xx' <<<"$out"; then echo "$out" >&2; exit 1; fi
	awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out"
}
statics=() users=()
for r in $(seq 1 $rounds); do
	if [ $((r % 2)) = 1 ]; then
		statics+=("$(rps "$admin")"); users+=("$(rps "$user")")
	else
		users+=("$(rps "$user")"); statics+=("$(rps "$admin")")
	fi
done

# login cost: 20 logins one after another, over one connection per login
login_ms=$(python3 - "$url" <<'EOF'
import http.client, json, statistics, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "alice", "domain": {"id": "default"}, "password": "alice-bench-password"}}}}})
times = []
for _ in range(20):
    c = http.client.HTTPConnection(u.hostname, u.port)
    t = time.perf_counter()
    c.request("POST", "/v3/auth/tokens", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    times.append((time.perf_counter() - t) * 1000)
    assert r.status == 201, r.status
    c.close()
print(f"{statistics.median(times):.1f}")
EOF
)

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
echo "authentication benchmark, $(date -u +%FT%TZ), $(nproc) cores, rain $(git rev-parse --short HEAD), wrk ${secs}s x $rounds rounds"
printf '%-52s %10s %10s %8s  %s\n' metric "user token" "static" ratio goal
ratios=()
for i in $(seq 0 $((rounds - 1))); do
	ratios+=("$(ratio "${users[$i]}" "${statics[$i]}")")
	printf '%-52s %10s %10s %8s\n' "GET /v2/images/{id} requests/s, round $((i + 1))" "${users[$i]}" "${statics[$i]}" "${ratios[$i]}"
done
printf '%-52s %10s %10s %8s  %s\n' "GET /v2/images/{id}, median of the rounds' ratios" - - \
	"$(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")" ">= 0.9"
printf '%-52s %10s %10s %8s  %s\n' "login (POST /v3/auth/tokens, Argon2id), median ms" "$login_ms" "-" "-" "reported"
