#!/bin/bash
# Two raind on one PostgreSQL catalog and one blob folder, behind haproxy
# (round robin, /healthz checks), each with its own data folder:
# - concurrent uploads and deletes through the balancer: both servers
#   list the same images and every one downloads intact from each;
# - quota pressure from both servers at once (chunked uploads of one
#   user's images, half to each server): the user's stored bytes never
#   pass the quota, and the refused uploads are 413 with their images
#   queued;
# - a token revoked through one server is refused by the other; a name
#   locked out by failures on one is refused on the other;
# - a blob held by another server's publish (its hold in the catalog) is
#   not removed by a delete or a start's collection on this one, and is
#   once the hold ends; a start's collection while the other server has
#   an upload in flight lets that upload finish intact;
# - raind killed (-9) mid-upload: nothing published, every finished image
#   intact through the other server (haproxy serves on through it), the
#   image saving (refused a second upload) until its lease (upload_lease
#   20 s) lapses and the other server sets it back to queued, its bytes
#   given back; then it uploads whole through the restarted server;
# - /healthz: 200 with catalog and store ok, and 503 naming the catalog
#   when PostgreSQL is stopped (haproxy then has no server up: 503).
source "$(dirname "$0")/lib.sh"
cd "$TMP" || exit 1

if [ "$(id -u)" != 0 ] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
	! command -v psql >/dev/null || ! command -v haproxy >/dev/null; then
	echo "ok 1 # SKIP needs root, PostgreSQL (postgresql) and haproxy"
	exit 0
fi
R1_PID= R2_PID= HAP_PID=
trap 'pid_stop HAP_PID; pid_stop R1_PID; pid_stop R2_PID; cleanup' EXIT
start_postgres || { not_ok "start PostgreSQL"; test_done; }
pg_sql postgres "CREATE DATABASE rain" >/dev/null
mkdir -p "$TMP/blobs"
head -c 24 /dev/urandom | base64 >"$TMP/admin-token"
chmod 600 "$TMP/admin-token"
printf '[storage]\ncatalog = %s\nblobs = file:%s/blobs\nupload_lease = 20\n[auth]\nadmin_token_file = %s/admin-token\n' \
	"${PG_URI_BASE/DB/rain}" "$TMP" "$TMP" >"$TMP/rain.ini"
export RAIN_ADMIN_PASSWORD=t0182-admin-password TOKEN_OVERRIDE
TOKEN_OVERRIDE=$(cat "$TMP/admin-token")
P1=$(free_port) P2=$(free_port)
R1=http://127.0.0.1:$P1 R2=http://127.0.0.1:$P2

# start_r N: (re)start server N (1 or 2) on its port, data in $TMP/dN
start_r() {
	local port=$P1
	[ "$1" = 2 ] && port=$P2
	DATA=$TMP/d$1 RAIND_PID=
	raind_start -c "$TMP/rain.ini" --listen "127.0.0.1:$port" || return 1
	printf -v "R$1_PID" '%s' "$RAIND_PID"
	RAIND_PID=
}
# hostile values of the two keys are refused by name, file and line
for bad in "upload_lease = 1" "upload_lease = 9999999999" "tmp_grace = -5" "tmp_grace = 1h"; do
	printf '[storage]\n%s\n' "$bad" >"$TMP/bad.ini"
	out=$("$RAIND" --config "$TMP/bad.ini" --data-dir "$TMP/bad" --listen 127.0.0.1:0 2>&1)
	check "'$bad' is refused with file, line and key" grep -q "bad.ini:2: ${bad%% *} must be" <<<"$out"
done
start_r 1 || { not_ok "raind 1 starts"; test_done; }
start_r 2 || { not_ok "raind 2 starts"; test_done; }
ok "two raind on one catalog and store"

HP=$(free_port)
cat >"$TMP/haproxy.cfg" <<EOF
global
	maxconn 512
defaults
	mode http
	timeout connect 5s
	timeout client 120s
	timeout server 120s
	retries 0
frontend rain
	bind 127.0.0.1:$HP
	default_backend raind
backend raind
	balance roundrobin
	option httpchk GET /healthz
	http-check expect status 200
	server r1 127.0.0.1:$P1 check inter 500ms fall 2 rise 1
	server r2 127.0.0.1:$P2 check inter 500ms fall 2 rise 1
EOF
haproxy -f "$TMP/haproxy.cfg" -db >"$TMP/haproxy.log" 2>&1 &
HAP_PID=$!
LB=http://127.0.0.1:$HP
wait_http "$LB/healthz" "$HAP_PID" haproxy "$TMP/haproxy.log" || { not_ok "haproxy starts"; test_done; }

# wait_jobs: wait for the background jobs but the servers and haproxy
wait_jobs() {
	local p
	for p in $(jobs -p); do
		case " $R1_PID $R2_PID $HAP_PID " in *" $p "*) ;; *) wait "$p" 2>/dev/null ;; esac
	done
	return 0
}

# to SERVER METHOD PATH [CURL ARGS...] with the admin token: body, then status
to() {
	local base=$1 method=$2 path=$3; shift 3
	curl -sS -X "$method" -H "X-Auth-Token: $TOKEN" -w '\n%{http_code}' "$@" "$base$path"
}
new_image() {  # new_image SERVER NAME [TOKEN]
	curl -sS -X POST -H "X-Auth-Token: ${3:-$TOKEN}" -H 'Content-Type: application/json' \
		-d "{\"name\":\"$2\",\"disk_format\":\"raw\",\"container_format\":\"bare\"}" "$1/v2/images" | json_get id
}
put_file() {  # put_file SERVER ID FILE [TOKEN] [chunked]: the status
	local te=()
	[ "${5:-}" = chunked ] && te=(-H 'Transfer-Encoding: chunked')
	curl -sS -o /dev/null -w '%{http_code}\n' -X PUT -H "X-Auth-Token: ${4:-$TOKEN}" "${te[@]}" \
		-H 'Content-Type: application/octet-stream' --data-binary @"$3" "$1/v2/images/$2/file"
}
sum_of() { sha256sum "$1" | cut -c1-64; }
ids_on() {  # the sorted ids every image list of SERVER gives
	curl -sS -H "X-Auth-Token: $TOKEN" "$1/v2/images?limit=1000" |
		python3 -c 'import json,sys; print(" ".join(sorted(i["id"] for i in json.load(sys.stdin)["images"])))'
}

call_h() { curl -sS -w '\n%{http_code}' "$1/healthz"; }
reply=$(call_h "$LB")
check_eq "/healthz through haproxy: 200" 200 "$(tail -n1 <<<"$reply")"
check_eq "... catalog and store ok" '{"status": "ok", "catalog": "ok", "store": "ok"}' \
	"$(head -n -1 <<<"$reply" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))')"

# ---- concurrent uploads and deletes through the balancer
for i in 1 2 3 4 5 6 7 8; do head -c $((300000 + i * 1000)) /dev/urandom >"$TMP/f$i"; done
for i in 1 2 3 4 5 6 7 8; do
	id=$(new_image "$LB" "c$i")
	echo "$id" >"$TMP/id$i"
	(put_file "$LB" "$id" "$TMP/f$i" >"$TMP/st$i") &
done
wait_jobs
codes=$(cat "$TMP"/st? | sort | uniq -c | tr -s ' ')
check_eq "8 concurrent uploads through haproxy: all 204" " 8 204" "$codes"
for i in 1 2 3; do (to "$LB" DELETE "/v2/images/$(cat "$TMP/id$i")" -o /dev/null | tail -n1 >"$TMP/del$i"; echo >>"$TMP/del$i") & done
for i in 9 10; do
	head -c 200000 /dev/urandom >"$TMP/f$i"
	id=$(new_image "$LB" "c$i"); echo "$id" >"$TMP/id$i"
	(put_file "$LB" "$id" "$TMP/f$i" >"$TMP/st$i") &
done
wait_jobs
check_eq "3 deletes beside 2 uploads: 204 each" "204 204 204 204 204" \
	"$(cat "$TMP/del1" "$TMP/del2" "$TMP/del3" "$TMP/st9" "$TMP/st10" | grep . | tr '\n' ' ' | sed 's/ $//')"
want=$(for i in 4 5 6 7 8 9 10; do cat "$TMP/id$i"; done | sort | tr '\n' ' ' | sed 's/ $//')
check_eq "server 1 lists exactly the images left" "$want" "$(ids_on "$R1")"
check_eq "server 2 lists the same" "$want" "$(ids_on "$R2")"
bad=
for i in 4 5 6 7 8 9 10; do
	for s in "$R1" "$R2"; do
		curl -sS -H "X-Auth-Token: $TOKEN" -o "$TMP/back" "$s/v2/images/$(cat "$TMP/id$i")/file"
		[ "$(sum_of "$TMP/back")" = "$(sum_of "$TMP/f$i")" ] || bad="$bad $i@$s"
	done
done
check_eq "every image downloads intact from each server" "" "$bad"
check_eq "the deleted images' blobs are gone from the shared folder" 7 \
	"$(find "$TMP/blobs/sha256" -type f | wc -l)"

# ---- quota pressure from both servers at once
MIB=1048576
curl -sS -o /dev/null -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' "$LB/rain/v1/users" \
	-d "{\"name\":\"qa\",\"password\":\"qa-password-1\",\"role\":\"user\",\"status\":\"active\",\"quota_bytes\":$((3 * MIB))}"
login_tok() {  # login_tok SERVER NAME PASSWORD: the token, or "" (status in $TMP/login.code)
	local body hdr=$TMP/login.$$.$RANDOM
	body=$(python3 -c 'import json,sys
print(json.dumps({"auth":{"identity":{"methods":["password"],"password":{"user":{
 "name":sys.argv[1],"domain":{"name":"Default"},"password":sys.argv[2]}}}}}))' "$2" "$3")
	curl -sS -o /dev/null -D "$hdr" -w '%{http_code}' -H 'Content-Type: application/json' \
		-d "$body" "$1/v3/auth/tokens" >"$TMP/login.code"
	sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: *\([^[:space:]]*\).*/\1/p' "$hdr"
}
QA=$(login_tok "$LB" qa qa-password-1)
check "user qa logs in through haproxy" test -n "$QA"
head -c $((MIB - 4096)) /dev/urandom >"$TMP/q"
for i in 1 2 3 4 5 6 7 8; do
	s=$R1; [ $((i % 2)) = 0 ] && s=$R2
	id=$(new_image "$s" "q$i" "$QA"); echo "$id" >"$TMP/qid$i"
done
for i in 1 2 3 4 5 6 7 8; do
	s=$R1; [ $((i % 2)) = 0 ] && s=$R2
	mode=; [ $i -le 4 ] && mode=chunked
	(put_file "$s" "$(cat "$TMP/qid$i")" "$TMP/q" "$QA" "$mode" >"$TMP/qst$i") &
done
wait_jobs
n204=$(cat "$TMP"/qst? | grep -c '^204$')
n413=$(cat "$TMP"/qst? | grep -c '^413$')
check_eq "8 uploads of ~1 MiB under a 3 MiB quota, 4 to each server: only 204 or 413" 8 $((n204 + n413))
check "at most 3 stored, at least 5 refused ($n204 stored)" test "$n204" -le 3 -a "$n413" -ge 5
stored=$(pg_sql rain "SELECT COALESCE(sum(size), 0) FROM images WHERE owner = 'qa' AND status = 'active'")
check "qa's stored bytes ($stored) within the quota" test "$stored" -le $((3 * MIB))
check_eq "the refused images are queued, the stored ones active" "" \
	"$(for i in 1 2 3 4 5 6 7 8; do st=$(pg_sql rain "SELECT status FROM images WHERE id = '$(cat "$TMP/qid$i")'")
		c=$(cat "$TMP/qst$i"); { [ "$c" = 204 ] && [ "$st" = active ]; } || { [ "$c" = 413 ] && [ "$st" = queued ]; } || echo "$i:$c:$st"; done)"
check_eq "no upload charge is left in the catalog" 0 "$(pg_sql rain "SELECT count(*) FROM charges WHERE key LIKE 'upload/%'")"

# ---- a token revoked through one server is refused by the other
check_eq "qa's token works on server 2" 200 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $QA" "$R2/v2/images")"
code=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H "X-Auth-Token: $QA" -H "X-Subject-Token: $QA" \
	"$R1/v3/auth/tokens")
check_eq "revoked through server 1 (204)" 204 "$code"
check_eq "server 2 refuses it (401)" 401 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $QA" "$R2/v2/images")"

# ---- a lock-out on one server holds on the other
curl -sS -o /dev/null -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' "$LB/rain/v1/users" \
	-d '{"name":"lo","password":"lo-password-1","role":"user","status":"active"}'
for i in 1 2 3 4 5; do login_tok "$R1" lo "wrong-$i" >/dev/null; done
check_eq "the fifth failure on server 1 is 401" 401 "$(cat "$TMP/login.code")"
tok=$(login_tok "$R2" lo lo-password-1)
check_eq "server 2 refuses the right password while locked out (401)" "401:" "$(cat "$TMP/login.code"):$tok"

# ---- blobs another server holds are not removed
head -c 250000 /dev/urandom >"$TMP/g"
G=$(new_image "$R1" g)
check_eq "upload G" 204 "$(put_file "$R1" "$G" "$TMP/g")"
GH=$(sum_of "$TMP/g")
# what server 2 writes while it publishes an image of the same data
pg_sql rain "INSERT INTO blob_holds VALUES ('$GH', 'other-server', 0, \
	(extract(epoch from now()) * 1000000)::bigint + 600000000)"
check_eq "delete G through server 1" 204 "$(to "$R1" DELETE "/v2/images/$G" -o /dev/null | tail -n1)"
check "its blob stays while another server holds it" test -f "$TMP/blobs/sha256/${GH:0:2}/$GH"
pid_stop R1_PID
start_r 1 || not_ok "raind 1 restarts"
check "...also through server 1's collection at start" test -f "$TMP/blobs/sha256/${GH:0:2}/$GH"
pg_sql rain "DELETE FROM blob_holds WHERE holder = 'other-server'"
pid_stop R1_PID
start_r 1 || not_ok "raind 1 restarts"
check "once released, the next collection removes it" test ! -f "$TMP/blobs/sha256/${GH:0:2}/$GH"

# slow_put SERVER ID FILE GO: send half of FILE, wait for file GO, send the
# rest; prints the status (or "dropped")
slow_put() {
	python3 - "$1" "$TOKEN" "$2" "$3" "$4" <<'PY'
import os, socket, sys, time, urllib.parse
url, token, iid, path, go = sys.argv[1:6]
u = urllib.parse.urlparse(url)
data = open(path, "rb").read()
s = socket.create_connection((u.hostname, u.port))
s.sendall(("PUT /v2/images/%s/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\n"
           "Content-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
           % (iid, token, len(data))).encode())
half = len(data) // 2
s.sendall(data[:half])
for _ in range(1200):
    if os.path.exists(go):
        break
    time.sleep(0.1)
try:
    s.sendall(data[half:])
    reply = s.recv(4096).decode(errors="replace")
    print(reply.split(" ")[1] if reply.startswith("HTTP/") else "dropped")
except OSError:
    print("dropped")
PY
}
# a start's collection on server 1 while server 2 has an upload in flight
head -c 3000000 /dev/urandom >"$TMP/u"
U=$(new_image "$R2" u)
slow_put "$R2" "$U" "$TMP/u" "$TMP/go-u" >"$TMP/u.code" &
SLOW=$!
for _ in $(seq 1 100); do
	[ "$(pg_sql rain "SELECT status FROM images WHERE id = '$U'")" = saving ] && break; sleep 0.1
done
pid_stop R1_PID
start_r 1 || not_ok "raind 1 restarts"
check_eq "server 1's start leaves server 2's upload saving" saving \
	"$(pg_sql rain "SELECT status FROM images WHERE id = '$U'")"
touch "$TMP/go-u"
wait "$SLOW"
check_eq "that upload then finishes (204)" 204 "$(cat "$TMP/u.code")"
curl -sS -H "X-Auth-Token: $TOKEN" -o "$TMP/back" "$R1/v2/images/$U/file"
check_eq "and downloads intact from server 1" "$(sum_of "$TMP/u")" "$(sum_of "$TMP/back")"

# ---- kill -9 of a raind mid-upload
K=$(new_image "$LB" killed)
blobs_before=$(find "$TMP/blobs" -type f | sort)
slow_put "$R2" "$K" "$TMP/u" "$TMP/go-k" >"$TMP/k.code" &
SLOW=$!
for _ in $(seq 1 100); do
	[ "$(pg_sql rain "SELECT status FROM images WHERE id = '$K'")" = saving ] && break; sleep 0.1
done
pid_stop R2_PID KILL
touch "$TMP/go-k"
wait "$SLOW"
check_eq "the upload to the killed server fails" dropped "$(cat "$TMP/k.code")"
check_eq "no object is left or published in the shared store" "$blobs_before" "$(find "$TMP/blobs" -type f | sort)"
call_k=$(to "$R1" GET "/v2/images/$K")
check_eq "server 1 shows the image saving, without data" "saving|None" \
	"$(head -n -1 <<<"$call_k" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["status"] + "|" + str(j["os_hash_value"]))')"
bad=
for i in 4 5 6 7 8 9 10; do
	curl -sS -H "X-Auth-Token: $TOKEN" -o "$TMP/back" "$R1/v2/images/$(cat "$TMP/id$i")/file"
	[ "$(sum_of "$TMP/back")" = "$(sum_of "$TMP/f$i")" ] || bad="$bad $i"
done
check_eq "every finished image is intact through server 1" "" "$bad"
check_eq "a second upload of it is refused while the lease holds (409)" 409 "$(put_file "$R1" "$K" "$TMP/u")"
# haproxy's checks find server 2 down within a few seconds
for _ in $(seq 1 40); do
	n=0
	for _ in 1 2 3 4; do [ "$(curl -s -o /dev/null -w '%{http_code}' "$LB/healthz")" = 200 ] && n=$((n + 1)); done
	[ $n = 4 ] && break
	sleep 0.25
done
check_eq "haproxy serves on through server 1" "200 200" \
	"$(for _ in 1 2; do to "$LB" GET /v2/images -o /dev/null | tail -n1; echo; done | tr '\n' ' ' | sed 's/ $//')"
# server 1 checks every half lease (10 s) for lapsed uploads
for _ in $(seq 1 120); do
	[ "$(pg_sql rain "SELECT status FROM images WHERE id = '$K'")" = queued ] && break
	sleep 0.5
done
check_eq "once its lease lapsed, server 1 sets the image back to queued" queued \
	"$(pg_sql rain "SELECT status FROM images WHERE id = '$K'")"
check "... and says so in its log" grep -q "upload(s) whose server stopped (lease lapsed) back to queued" \
	"$TMP/raind.log"
check_eq "... and gives the bytes back: no upload charge left" 0 \
	"$(pg_sql rain "SELECT count(*) FROM charges WHERE key LIKE 'upload/%'")"
start_r 2 || not_ok "raind 2 restarts"
check_eq "and it uploads whole through server 2 now" 204 "$(put_file "$R2" "$K" "$TMP/u")"
curl -sS -H "X-Auth-Token: $TOKEN" -o "$TMP/back" "$R1/v2/images/$K/file"
check_eq "... intact from server 1" "$(sum_of "$TMP/u")" "$(sum_of "$TMP/back")"

# ---- /healthz with PostgreSQL stopped
stop_postgres
reply=$(call_h "$R1")
check_eq "server 1's /healthz is 503 with PostgreSQL down" 503 "$(tail -n1 <<<"$reply")"
check_eq "... naming the catalog, the store ok" "unavailable|unreachable|ok" \
	"$(head -n -1 <<<"$reply" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["status"] + "|" + j["catalog"] + "|" + j["store"])')"
check "... and the error says PostgreSQL" bash -c "grep -q PostgreSQL <<<'$(head -n -1 <<<"$reply")'"
check_eq "server 2 says so too" 503 "$(call_h "$R2" | tail -n1)"
# haproxy's own 503 (no server left) once its checks saw both fail
for _ in $(seq 1 40); do
	curl -s -o "$TMP/lb.out" "$LB/v2/images"
	grep -q 'No server is available' "$TMP/lb.out" && break
	sleep 0.25
done
check "haproxy takes both out (its 503: no server is available)" grep -q 'No server is available' "$TMP/lb.out"
test_done
