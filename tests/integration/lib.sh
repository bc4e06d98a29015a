# Shared helpers of the integration tests (sourced, not run).
#
# Each test script tNNNN-*.sh sources this file, starts a real raind on an
# ephemeral loopback port with raind_start, checks things with the
# assertions below (one TAP-like line each: "ok N - what" / "not ok N -
# what") and ends with test_done, which exits non-zero on any failure.
#
# Environment: BUILD (default build) is the meson build directory whose
# src/daemon/raind and src/cli/rain are tested.

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$TOP/build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
RAIND=$BUILD/src/daemon/raind
RAIN=$BUILD/src/cli/rain
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rain-test.XXXXXX")
TEST_N=0
TEST_FAILED=0
RAIND_PID=
# LeakSanitizer reports at exit; tests judge behaviour, the unit tests leaks
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$TOP/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# resolve python3 once (before HOME changes): version-manager shims such
# as pyenv's cost ~0.5 s a call
PYTHON=$(command python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -x "${PYTHON:-}" ]; then
	python3() { "$PYTHON" "$@"; }
fi
# never read the developer's own client settings
export XDG_CONFIG_HOME=$TMP/config HOME=$TMP/home
mkdir -p "$XDG_CONFIG_HOME" "$HOME"
unset RAIN_URL RAIN_TOKEN RAIN_CACERT OS_IMAGE_URL OS_AUTH_TOKEN

cleanup() {
	raind_stop 2>/dev/null
	glance_stop 2>/dev/null
	ironic_stop 2>/dev/null
	http_stop 2>/dev/null
	stop_libvirtd 2>/dev/null
	stop_slurm 2>/dev/null
	stop_postgres 2>/dev/null
	swift_stop 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

ok() { TEST_N=$((TEST_N + 1)); echo "ok $TEST_N - $*"; }
not_ok() { TEST_N=$((TEST_N + 1)); TEST_FAILED=$((TEST_FAILED + 1)); echo "not ok $TEST_N - $*"; }

# check DESCRIPTION COMMAND...: passes when the command succeeds
check() {
	local what=$1; shift
	if "$@" >"$TMP/check.out" 2>&1; then ok "$what"; else not_ok "$what"; sed 's/^/#   /' "$TMP/check.out" | head -20; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "#   expected: $2"; echo "#   actual:   $3"; fi
}

# raind_start [EXTRA RAIND ARGS...]: start raind on a free port with data
# in $DATA (default $TMP/data); sets PORT, URL, TOKEN, RAIND_PID.
raind_start() {
	DATA=${DATA:-$TMP/data}
	rm -f "$TMP/port"
	"$RAIND" --data-dir "$DATA" --listen 127.0.0.1:0 --port-file "$TMP/port" "$@" \
		>>"$TMP/raind.log" 2>&1 &
	RAIND_PID=$!
	for _ in $(seq 1 200); do
		[ -s "$TMP/port" ] && break
		kill -0 "$RAIND_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -s "$TMP/port" ]; then
		echo "# raind did not start:"; sed 's/^/#   /' "$TMP/raind.log" | tail -20
		return 1
	fi
	PORT=$(cat "$TMP/port")
	URL=http://127.0.0.1:$PORT
	TOKEN=${TOKEN_OVERRIDE:-$(cat "$DATA/admin-token" 2>/dev/null)}
	export RAIN_URL=$URL RAIN_TOKEN=$TOKEN
}

# raind_stop [SIGNAL]: stop raind (TERM by default) and wait for it.
raind_stop() { pid_stop RAIND_PID "$@"; }

# pid_stop VAR [SIGNAL]: stop the process whose PID variable VAR holds
# (TERM by default), wait for it and clear VAR; nothing when VAR is empty.
pid_stop() {
	local pid=${!1:-}
	[ -n "$pid" ] || return 0
	kill "-${2:-TERM}" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	printf -v "$1" '%s' ''
}

# api METHOD PATH [CURL ARGS...]: prints the body, then a last line with
# the HTTP status. Sends the admin token.
api() {
	local method=$1 path=$2; shift 2
	curl -sS -X "$method" -H "X-Auth-Token: $TOKEN" -w '\n%{http_code}' "$@" "$URL$path"
}

# status_of METHOD PATH [CURL ARGS...]: just the HTTP status.
status_of() {
	api "$@" -o /dev/null | tail -n 1
}

# json_get FIELD < json: one field of a JSON object ("" for null).
json_get() {
	python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v=v[int(k)] if isinstance(v,list) else v.get(k)
print("" if v is None else (json.dumps(v) if isinstance(v,(list,dict,bool)) else v))' "$1"
}

# create_image NAME [JSON FIELDS...]: prints the new image's id.
create_image() {
	local name=$1; shift
	local extra=""
	[ $# -gt 0 ] && extra=",$*"
	curl -sS -X POST -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
		-d "{\"name\":\"$name\",\"disk_format\":\"raw\",\"container_format\":\"bare\"$extra}" \
		"$URL/v2/images" | json_get id
}

# upload ID FILE: PUT the file as the image's data; prints the status.
upload() {
	curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOKEN" \
		-H 'Content-Type: application/octet-stream' -T "$2" "$URL/v2/images/$1/file"
}

# call METHOD PATH [CURL ARGS...]: like api, but sets STATUS and BODY
# (the body as text; use it for JSON, not for image data).
call() {
	_split_reply "$(api "$@"; echo x)"
}

# call_noauth METHOD PATH [CURL ARGS...]: like call, without the token.
call_noauth() {
	local method=$1 path=$2; shift 2
	_split_reply "$(curl -sS -X "$method" -w '\n%{http_code}' "$@" "$URL$path"; echo x)"
}

_split_reply() {
	local out=${1%x}
	STATUS=${out##*$'\n'}
	BODY=${out%$'\n'*}
	[ "$BODY" = "$out" ] && BODY=
	return 0
}

# image_new NAME DISK_FORMAT [CONTAINER_FORMAT]: a new image's id
image_new() {
	curl -sS -X POST -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
		-d "{\"name\":\"$1\",\"disk_format\":\"$2\",\"container_format\":\"${3:-bare}\"}" \
		"$URL/v2/images" | json_get id
}

# image_put ID FILE: upload with a Content-Length; image_put_chunked ID
# FILE: from a pipe (chunked). Both set STATUS and BODY.
image_put() { call PUT "/v2/images/$1/file" -H 'Content-Type: application/octet-stream' --data-binary @"$2"; }
image_put_chunked() {
	_split_reply "$(cat "$2" | curl -sS -X PUT -H "X-Auth-Token: $TOKEN" --max-time 60 \
		-H 'Content-Type: application/octet-stream' -T - -w '\n%{http_code}' \
		"$URL/v2/images/$1/file"; echo x)"
}

# qemu_img ARGS...: run qemu-img quietly; on failure its output as comments
qemu_img() {
	qemu-img "$@" >"$TMP/qemu-img.log" 2>&1 || { echo "# qemu-img $*:"; sed 's/^/#   /' "$TMP/qemu-img.log"; }
}

# patch_image ID JSON-PATCH: a PATCH with the right Content-Type; sets
# STATUS and BODY.
patch_image() {
	call PATCH "/v2/images/$1" -H 'Content-Type: application/openstack-images-v2.1-json-patch' \
		--data-binary "$2"
}

# is_error_body STATUS: BODY is Glance-style JSON {"code": STATUS,
# "title": "...", "message": "..."} (code may also be nested under
# "error" as some servers do; rain must use the flat form).
is_error_body() {
	printf '%s' "$BODY" | python3 -c 'import json,sys
j=json.load(sys.stdin)
assert isinstance(j,dict), "not an object"
assert j.get("code")==int(sys.argv[1]), "code %r" % (j.get("code"),)
for k in ("title","message"):
    assert isinstance(j.get(k),str) and j[k], "no %s" % k' "$1"
}

# token_of NAME PASSWORD: a Keystone token of a raind user (empty on failure)
token_of() {
	curl -sS -D - -o /dev/null -H 'Content-Type: application/json' "$URL/v3/auth/tokens" -d \
		"{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$1\",\"domain\":{\"id\":\"default\"},\"password\":\"$2\"}}}}}" |
		tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p'
}

# check_status DESCRIPTION EXPECTED: the last call's STATUS.
check_status() {
	if [ "$STATUS" = "$2" ]; then ok "$1"; else
		not_ok "$1"; echo "#   expected status $2, got $STATUS"
		printf '%s\n' "$BODY" | head -c 600 | sed 's/^/#   body: /'; echo
	fi
}

# check_error DESCRIPTION EXPECTED-STATUS: the last call failed with that
# status and a JSON error body (one check).
check_error() {
	if [ "$STATUS" != "$2" ]; then
		not_ok "$1"; echo "#   expected status $2, got $STATUS"
		printf '%s\n' "$BODY" | head -c 600 | sed 's/^/#   body: /'; echo
	elif ! is_error_body "$2" >"$TMP/check.out" 2>&1; then
		not_ok "$1 (JSON error body)"; tail -3 "$TMP/check.out" | sed 's/^/#   /'
		printf '%s\n' "$BODY" | head -c 600 | sed 's/^/#   body: /'; echo
	else
		ok "$1"
	fi
}

# check_json DESCRIPTION PYTHON-EXPR: the expression is true of j, the
# last call's BODY parsed as JSON.
check_json() {
	if printf '%s' "$BODY" | python3 -c 'import json,sys
j=json.load(sys.stdin)
sys.exit(0 if eval("(" + sys.argv[1] + "\n)") else 1)' "$2" >"$TMP/check.out" 2>&1; then ok "$1"; else
		not_ok "$1"; echo "#   false: $2"; tail -3 "$TMP/check.out" | sed 's/^/#   /'
		printf '%s\n' "$BODY" | head -c 600 | sed 's/^/#   body: /'; echo
	fi
}

# image_count: how many images the server lists (all pages, any status).
image_count() {
	python3 - "$URL" "$TOKEN" <<'PY'
import json, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
path, n = "/v2/images?limit=1000", 0
while path:
    req = urllib.request.Request(url + path, headers={"X-Auth-Token": token})
    j = json.load(urllib.request.urlopen(req))
    n += len(j["images"])
    path = j.get("next")
print(n)
PY
}

# partial_upload ID TOTAL SEND: start an upload announcing TOTAL bytes
# (Content-Length), send only SEND bytes of random data, then drop the
# connection, as a client that crashes would.
partial_upload() {
	python3 - "$PORT" "$TOKEN" "$1" "$2" "$3" <<'PY'
import os, socket, sys, time
port, token, iid, total, send = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
s = socket.create_connection(("127.0.0.1", int(port)))
s.sendall(("PUT /v2/images/%s/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: %s\r\n"
           "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
           % (iid, token, total)).encode())
while send > 0:
    n = min(send, 65536)
    s.sendall(os.urandom(n))
    send -= n
time.sleep(0.3)
s.close()
PY
}

# wait_bg: wait for the script's background jobs except raind (a bare
# "wait" would wait for raind too).
wait_bg() {
	local p
	for p in $(jobs -p); do
		[ "$p" = "$RAIND_PID" ] || wait "$p" 2>/dev/null
	done
	return 0
}

# job_wait ID: wait (at most 60 s) until job ID ends; prints its last status.
job_wait() {
	local st=
	for _ in $(seq 1 300); do
		st=$(api GET "/rain/v1/jobs/$1" | head -n 1 | json_get status)
		case "$st" in succeeded|failed|canceled) break ;; esac
		sleep 0.2
	done
	echo "$st"
}

# raind_healthy: /healthz answers 200.
raind_healthy() {
	[ "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$URL/healthz")" = 200 ]
}

# skip DESCRIPTION REASON: a check that was not run.
skip() { TEST_N=$((TEST_N + 1)); echo "ok $TEST_N - $1 # SKIP $2"; }

# marker_unit FILE TEXT: write to FILE a systemd unit that prints TEXT
# (a shell word list: $(...) is run in the image) on the console when the
# image reaches multi-user, the boot marker tests and benchmarks wait for
marker_unit() {
	cat >"$1" <<UNIT
[Unit]
Description=boot marker
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "$2" >/dev/console'

[Install]
WantedBy=multi-user.target
UNIT
}

# marker_recipe NAME TEXT FILE: write to FILE the recipe of a bookworm
# disk image (2G) named NAME, with that host name, a kernel and
# openssh-server, whose boot prints TEXT on its console (marker_unit, the
# unit written beside FILE)
marker_recipe() {
	marker_unit "$(dirname "$3")/marker.service" "$2"
	cat >"$3" <<RECIPE
[image]
name = $1
distribution = debian
release = bookworm
[packages]
kernel = yes
install = openssh-server
[system]
hostname = $1
services = rain-test-marker
[files]
copy = marker.service:/etc/systemd/system/rain-test-marker.service
[output]
formats = disk
size = 2G
RECIPE
}

# libvirt_run_leaks POOL ID WORK: what is left of the run ID at a libvirt
# site: its domains and volumes as libvirt lists them, its volumes' files
# in $LIBVIRT_DIR/POOL, its qemu processes, its key pair in WORK (one line)
libvirt_run_leaks() {
	{
		lv list --all --name | grep -- "^rain-$2-"
		lv vol-list "$1" | awk '{print $1}' | grep -- "^rain-$2-"
		ls -A "$LIBVIRT_DIR/$1" | grep -- "^rain-$2-"
		# this test's qemu only (its disks are under $TMP): another test
		# running at the same time names its domains alike
		local p
		for p in $(pgrep -f -- "guest=rain-$2-"); do
			tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$TMP/" && echo "qemu pid $p"
		done
		ls "$3/key" "$3/key.pub" 2>/dev/null
	} | tr '\n' ' '
}

# ssh_recipe NAME FILE: write the recipe of a bookworm disk image (2G)
# named NAME with openssh-server to FILE (for build_disk)
ssh_recipe() {
	cat >"$2" <<RECIPE
[image]
name = $1
distribution = debian
release = bookworm
[packages]
install = openssh-server
[output]
formats = disk
size = 2G
RECIPE
}

# disk_kernel DISK: the version of the newest /boot/vmlinuz-VERSION in a
# rain disk's root file system (its partition at 1 MiB)
disk_kernel() {
	debugfs -R "ls -p /boot" "$1?offset=1048576" 2>/dev/null |
		awk -F/ '$6 ~ /^vmlinuz-/ {print substr($6, 9)}' | sort -V | tail -n 1
}

# debsecan_pairs STATUS: "CVE package version" lines (sorted) of what
# debsecan, the reference, finds in the dpkg status STATUS with the feed in
# $TMP/debsecan (rain vet feed export --format debsecan); its --format
# detail gives "CVE (notes)" then "  installed: PACKAGE VERSION"
debsecan_pairs() {
	/usr/bin/python3 /usr/bin/debsecan --source "file://$TMP/debsecan" --suite bookworm \
		--status "$1" --format detail | python3 -c '
import re, sys
cve = None
for line in sys.stdin:
    m = re.match(r"^(\S+)( \(.*\))?$", line.rstrip("\n"))
    if m and not line.startswith(" "):
        cve = m.group(1)
    m = re.match(r"^  installed: (\S+) (\S+)$", line.rstrip("\n"))
    if m:
        print(cve, m.group(1), m.group(2))
' | sort -u
}

# build_disk RECIPE [DIR [WHAT]]: rain generate RECIPE into DIR (default
# $TMP/img) through the shared build cache ($RAIN_TEST_CACHE, default
# /var/cache/rain), one check (WHAT, default the recipe's file, is built);
# on failure the build's last lines and the test ends. Sets IMG to
# DIR/NAME.raw (the recipe's name) and IMG_SHA to its sha256, to show
# later that the image was not written.
build_disk() {
	local start rc name dir=${2:-$TMP/img} what=${3:-the image of $(basename "$1")}
	start=$(date +%s)
	"$RAIN" generate "$1" -o "$dir" --cache "${RAIN_TEST_CACHE:-/var/cache/rain}" >/dev/null \
		2>"$dir.err"
	rc=$?
	echo "# build took $(( $(date +%s) - start )) s"
	check_eq "$what is built" 0 "$rc"
	[ "$rc" -eq 0 ] || { tail -30 "$dir.err" | sed 's/^/#   /'; test_done; }
	name=$(sed -n 's/^name *= *//p' "$1" | head -n 1)
	IMG=$dir/$name.raw
	IMG_SHA=$(sha256sum <"$IMG")
}

# netboot_run_site MAC1 MAC2: a netboot site lab in $TMP/site, served by
# a raind started here ([netboot]), with nodes node1 and node2 that are
# diskless qemu VMs powered by tests/integration/netboot-power-qemu.sh (a
# stand-in for their BMCs, its files in $TMP/bmc: the boot URL, the TFTP
# folder, each node's forwarded sshd port P1, P2 and console); the site's
# section in $TMP/sites.ini. Sets SITE, BMC, P1, P2 (and raind_start's).
netboot_run_site() {
	local power=$TOP/tests/integration/netboot-power-qemu.sh nb
	SITE=$TMP/site
	BMC=$TMP/bmc
	mkdir -p "$BMC" "$SITE/tftp"
	printf '[netboot]\nlab = %s\n' "$SITE" >"$TMP/raind.conf"
	raind_start --config "$TMP/raind.conf" || return 1
	nb=http://10.0.2.2:$PORT/netboot/lab
	echo "$nb/boot.ipxe" >"$BMC/boot_url"
	echo "$SITE/tftp" >"$BMC/tftp"
	P1=$(free_port)
	P2=$(free_port)
	echo "$P1" >"$BMC/node1.port"
	echo "$P2" >"$BMC/node2.port"
	cat >"$TMP/sites.ini" <<SITES
[site.lab]
uri = netboot:$SITE
url = $nb
nodes = node1=$1 node2=$2
kernel_args = console=ttyS0,115200 no_timer_check panic=-1
power_on = $power on $BMC %n %m
power_off = $power off $BMC %n %m
power_status = $power status $BMC %n %m
ssh = node1=127.0.0.1:$P1 node2=127.0.0.1:$P2
console = $BMC/%n.console
SITES
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL PID WHAT [LOG...]: wait (up to 2 minutes) until URL
# answers while PID lives; else say that WHAT did not start, with the
# tails of the logs, and fail.
wait_http() {
	local url=$1 pid=$2 what=$3; shift 3
	for _ in $(seq 1 480); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url")" != 000 ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.25
	done
	echo "# $what did not start:"; tail -20 "$@" 2>/dev/null | sed 's/^/#   /'
	return 1
}

# start_glance [CONFIG LINES...]: a real Glance (Debian's glance-api) for
# the test: one process (workers = 0), SQLite, no Keystone (anyone is
# admin), a filesystem store, everything in $GLANCE_DIR (default
# $TMP/glance), on a free loopback port. Extra lines ("[DEFAULT]" then
# "user_storage_quota = 1MB") are appended to glance-api.conf. Sets GLANCE_URL and GLANCE_PID; a
# second call restarts it on the same port, database and store. Debian's
# Python tools run with /usr/bin/python3 (an earlier python3 in PATH may
# lack their modules).
start_glance() {
	GLANCE_DIR=${GLANCE_DIR:-$TMP/glance}
	local d=$GLANCE_DIR port line
	glance_stop
	mkdir -p "$d/images" "$d/staging" "$d/tasks" "$d/lock"
	GLANCE_PORT=${GLANCE_PORT:-$(free_port)}
	port=$GLANCE_PORT
	cat >"$d/glance-api.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $port
workers = 0
enabled_backends = fs:file
log_file = $d/glance-api.log
use_stderr = false
[database]
connection = sqlite:///$d/glance.sqlite
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $d/images
[os_glance_staging_store]
filesystem_store_datadir = $d/staging
[os_glance_tasks_store]
filesystem_store_datadir = $d/tasks
[paste_deploy]
flavor =
config_file = /etc/glance/glance-api-paste.ini
[oslo_policy]
enforce_scope = false
enforce_new_defaults = false
[oslo_concurrency]
lock_path = $d/lock
CONF
	for line in "$@"; do printf '%s\n' "$line" >>"$d/glance-api.conf"; done
	if [ ! -f "$d/glance.sqlite" ] &&
		! /usr/bin/python3 /usr/bin/glance-manage --config-file "$d/glance-api.conf" db_sync \
			>"$d/db_sync.log" 2>&1; then
		echo "# glance-manage db_sync failed:"; sed 's/^/#   /' "$d/db_sync.log" | tail -10
		return 1
	fi
	/usr/bin/python3 /usr/bin/glance-api --config-file "$d/glance-api.conf" >>"$d/glance-api.out" 2>&1 &
	GLANCE_PID=$!
	GLANCE_URL=http://127.0.0.1:$port
	wait_http "$GLANCE_URL/versions" "$GLANCE_PID" glance-api "$d/glance-api.out" "$d/glance-api.log"
}

# glance_stop [SIGNAL]: stop the test's glance-api (TERM by default).
glance_stop() { pid_stop GLANCE_PID "$@"; }

# glance_client ARGS...: Glance's own CLI against the test's Glance, with a
# fresh HOME each call (its schema cache is shared between servers
# otherwise)
glance_client() {
	local h
	h=$(mktemp -d "$TMP/glance-home.XXXXXX")
	HOME=$h /usr/bin/python3 /usr/bin/glance --os-image-url "$GLANCE_URL" --os-auth-token none "$@"
	rm -rf "$h"
}

# hang_mirror: a loopback server that accepts connections and never
# answers, for builds that must stay running (they wait in apt-get update
# without load or network); sets HANG_PID (stop it with pid_stop HANG_PID;
# the test's end does not) and HPORT.
hang_mirror() {
	"${PYTHON:-python3}" - "$TMP/hang.port" <<'PY' &   # not the wrapper function: $! must be python
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    held.append(s.accept()[0])
PY
	HANG_PID=$!
	for _ in $(seq 1 100); do [ -s "$TMP/hang.port" ] && break; sleep 0.05; done
	HPORT=$(cat "$TMP/hang.port")
}

# http_serve DIR: serve DIR over HTTP on a free loopback port (Python's
# http.server, /usr/bin/python3); sets HTTP_PORT. Every such server is
# stopped by http_stop (at the test's end at the latest).
HTTP_PIDS=
http_serve() {
	local port pid
	port=$(free_port)
	/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$1" "$port" \
		>>"$TMP/http-$port.log" 2>&1 &
	pid=$!
	HTTP_PIDS="$HTTP_PIDS $pid"
	wait_http "http://127.0.0.1:$port/" "$pid" "http.server on $1" "$TMP/http-$port.log" &&
		HTTP_PORT=$port
}

http_stop() {
	local pid
	for pid in $HTTP_PIDS; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
	HTTP_PIDS=
}

# start_ironic [CONFIG LINES...]: a real Ironic (Debian's single-process
# `ironic`, 21.x) for the test: noauth, rpc_transport none, SQLite
# (ironic-dbsync), fake-hardware nodes that boot with iPXE and deploy with
# the ramdisk interface, everything in $IRONIC_DIR (default $TMP/ironic),
# the API on a free loopback port. Its HTTP root ($IRONIC_DIR/http:
# boot.ipxe, a config per MAC in pxelinux.cfg/, its copies of the kernels
# and ramdisks) is served on IRONIC_HTTP_PORT and named to nodes as
# http://10.0.2.2:IRONIC_HTTP_PORT (the host as qemu's user network shows
# it), so a qemu VM boots with bootfile=$IRONIC_BOOT_URL. Extra lines
# ("[conductor]" then "deploy_callback_timeout = 60") are appended to
# ironic.conf. Sets IRONIC_URL, IRONIC_PID, IRONIC_HTTP_PORT,
# IRONIC_BOOT_URL.
start_ironic() {
	IRONIC_DIR=${IRONIC_DIR:-$TMP/ironic}
	local d=$IRONIC_DIR line
	ironic_stop
	mkdir -p "$d/http" "$d/tftp" "$d/images" "$d/master" "$d/instance-master"
	IRONIC_PORT=${IRONIC_PORT:-$(free_port)}
	if [ -z "${IRONIC_HTTP_PORT:-}" ]; then
		http_serve "$d/http" || return 1
		IRONIC_HTTP_PORT=$HTTP_PORT
	fi
	IRONIC_BOOT_URL=http://10.0.2.2:$IRONIC_HTTP_PORT/boot.ipxe
	cat >"$d/ironic.conf" <<CONF
[DEFAULT]
auth_strategy = noauth
rpc_transport = none
host = rain-test
enabled_hardware_types = fake-hardware
enabled_boot_interfaces = fake,ipxe
enabled_deploy_interfaces = fake,ramdisk
enabled_power_interfaces = fake
enabled_management_interfaces = fake
enabled_network_interfaces = noop
enabled_console_interfaces = no-console
enabled_inspect_interfaces = no-inspect
enabled_raid_interfaces = no-raid
enabled_rescue_interfaces = no-rescue
enabled_vendor_interfaces = no-vendor
enabled_bios_interfaces = no-bios
enabled_storage_interfaces = noop
default_boot_interface = ipxe
default_deploy_interface = ramdisk
log_file = $d/ironic.log
use_stderr = false
[api]
host_ip = 127.0.0.1
port = $IRONIC_PORT
[database]
connection = sqlite:///$d/ironic.sqlite
[dhcp]
dhcp_provider = none
[conductor]
automated_clean = false
[deploy]
http_url = http://10.0.2.2:$IRONIC_HTTP_PORT
http_root = $d/http
[pxe]
tftp_root = $d/tftp
tftp_master_path = $d/master
images_path = $d/images
instance_master_path = $d/instance-master
[oslo_policy]
enforce_scope = false
enforce_new_defaults = false
CONF
	for line in "$@"; do printf '%s\n' "$line" >>"$d/ironic.conf"; done
	if [ ! -f "$d/ironic.sqlite" ] &&
		! /usr/bin/python3 /usr/bin/ironic-dbsync --config-file "$d/ironic.conf" create_schema \
			>"$d/dbsync.log" 2>&1; then
		echo "# ironic-dbsync failed:"; sed 's/^/#   /' "$d/dbsync.log" | tail -10
		return 1
	fi
	/usr/bin/python3 /usr/bin/ironic --config-file "$d/ironic.conf" >>"$d/ironic.out" 2>&1 &
	IRONIC_PID=$!
	IRONIC_URL=http://127.0.0.1:$IRONIC_PORT
	wait_http "$IRONIC_URL/v1" "$IRONIC_PID" ironic "$d/ironic.out" "$d/ironic.log"
}

# ironic_stop [SIGNAL]: stop the test's Ironic (TERM by default).
ironic_stop() { pid_stop IRONIC_PID "$@"; }

# ironic_call METHOD PATH [JSON]: a call to the test's Ironic API (the
# microversion rain uses); sets STATUS and BODY.
ironic_call() {
	local method=$1 path=$2
	_split_reply "$(curl -sS -X "$method" -H 'X-OpenStack-Ironic-API-Version: 1.31' \
		-H 'Content-Type: application/json' ${3:+-d "$3"} -w '\n%{http_code}' \
		"$IRONIC_URL$path"; echo x)"
}

# ironic_wait NODE STATE: wait (up to 120 s) until the node's
# provision_state is STATE; fails saying the last one.
ironic_wait() {
	local st=
	for _ in $(seq 1 240); do
		ironic_call GET "/v1/nodes/$1"
		st=$(printf '%s' "$BODY" | json_get provision_state 2>/dev/null)
		[ "$st" = "$2" ] && return 0
		sleep 0.5
	done
	echo "# node $1 is $st, not $2"
	return 1
}

# ironic_enroll NAME MAC [manageable|available]: a fake-hardware node
# with a port of that MAC, moved to the state asked (default available).
ironic_enroll() {
	local uuid
	ironic_call POST /v1/nodes "{\"name\": \"$1\", \"driver\": \"fake-hardware\"}"
	uuid=$(printf '%s' "$BODY" | json_get uuid 2>/dev/null)
	[ "$STATUS" = 201 ] && [ -n "$uuid" ] || { echo "# cannot enroll $1: $STATUS $BODY"; return 1; }
	ironic_call POST /v1/ports "{\"address\": \"$2\", \"node_uuid\": \"$uuid\"}"
	[ "$STATUS" = 201 ] || { echo "# cannot add port $2 to $1: $STATUS $BODY"; return 1; }
	ironic_call PUT "/v1/nodes/$1/states/provision" '{"target": "manage"}'
	ironic_wait "$1" manageable || return 1
	[ "${3:-available}" = manageable ] && return 0
	ironic_call PUT "/v1/nodes/$1/states/provision" '{"target": "provide"}'
	ironic_wait "$1" available
}

# baremetal ARGS...: Ironic's own CLI (python3-ironicclient) against the
# test's Ironic.
baremetal() {
	OS_ENDPOINT=$IRONIC_URL OS_AUTH_TYPE=none /usr/bin/python3 /usr/bin/baremetal "$@"
}

# start_libvirtd: a private libvirtd and virtlogd for this test. They run
# as the libvirt-qemu user (Debian's libvirt-daemon-system makes it) in
# libvirt's session mode, with every folder (sockets, domains, pools, logs)
# under $TMP/libvirt, so they share nothing with the host's daemon or
# another test's. Sets LIBVIRT_URI (qemu:///session?socket=...), LIBVIRT_DIR
# (a folder the daemon's user may write: pools and console logs go there),
# LIBVIRTD_PID and VIRTLOGD_PID; stop_libvirtd (run by cleanup) stops them
# and the domains' qemu by PID. Returns 1 with the daemon's log when it
# does not come up; restart with stop_libvirtd + start_libvirtd (the
# domains and pools defined persist).
LIBVIRTD_PID= VIRTLOGD_PID= LIBVIRT_URI= LIBVIRT_DIR=
start_libvirtd() {
	local d=$TMP/libvirt user=libvirt-qemu
	id -u "$user" >/dev/null 2>&1 || { echo "# no user $user (install libvirt-daemon-system)"; return 1; }
	# the daemon's user must get through $TMP to its folder
	chmod 0711 "$TMP"
	mkdir -p "$d" && chown "$user" "$d" && chmod 0700 "$d"
	LIBVIRT_DIR=$d/data
	local as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups env -i
		HOME="$d" XDG_RUNTIME_DIR="$d/run" XDG_CONFIG_HOME="$d/config"
		XDG_CACHE_HOME="$d/cache" XDG_DATA_HOME="$d/data" PATH=/usr/sbin:/usr/bin:/sbin:/bin)
	"${as[@]}" mkdir -p -m 0700 "$d/run" "$d/config" "$d/cache" "$d/data"
	# setpriv and env exec: $! is the daemon's PID
	"${as[@]}" virtlogd >>"$TMP/virtlogd.log" 2>&1 &
	VIRTLOGD_PID=$!
	_libvirt_wait_sock "$d/run/libvirt/virtlogd-sock" "$VIRTLOGD_PID" || {
		echo "# virtlogd did not start:"; tail -5 "$TMP/virtlogd.log" | sed 's/^/#   /'; return 1; }
	"${as[@]}" libvirtd >>"$TMP/libvirtd.log" 2>&1 &
	LIBVIRTD_PID=$!
	_libvirt_wait_sock "$d/run/libvirt/libvirt-sock" "$LIBVIRTD_PID" || {
		echo "# libvirtd did not start:"; tail -5 "$TMP/libvirtd.log" | sed 's/^/#   /'
		tail -5 "$d/cache/libvirt/libvirtd.log" 2>/dev/null | sed 's/^/#   /'; return 1; }
	LIBVIRT_URI="qemu:///session?socket=$d/run/libvirt/libvirt-sock"
	for _ in $(seq 1 100); do
		virsh -c "$LIBVIRT_URI" version >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "# libvirtd does not answer at $LIBVIRT_URI"
	return 1
}

_libvirt_wait_sock() {
	for _ in $(seq 1 300); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# lv ARGS...: virsh on the test's libvirtd.
lv() { virsh -q -c "$LIBVIRT_URI" "$@"; }

# libvirt_pool NAME: a dir pool NAME in $LIBVIRT_DIR/NAME, built and started.
libvirt_pool() {
	lv pool-define-as "$1" dir --target "$LIBVIRT_DIR/$1" >/dev/null &&
		lv pool-build "$1" >/dev/null && lv pool-start "$1" >/dev/null
}

# libvirt_left POOL: what is in the pool, as libvirt lists it and as files
# in its folder ("" when empty), then the domains defined.
libvirt_left() {
	{ lv vol-list "$1" | awk '{print $1}'; ls -A "$LIBVIRT_DIR/$1"; lv list --all --name; } |
		sed '/^$/d' | tr '\n' ' '
}

# stop_libvirtd: stop the running domains' qemu (their PID files, in
# qemu/run/ with libvirt 9.0's session daemon; driver.pid is libvirtd's),
# then libvirtd and virtlogd, by PID.
stop_libvirtd() {
	local f p
	for f in "$TMP"/libvirt/run/libvirt/qemu/run/*.pid "$TMP"/libvirt/run/libvirt/qemu/*.pid; do
		case $f in */driver.pid) continue ;; esac
		[ -s "$f" ] || continue
		p=$(cat "$f")
		kill "$p" 2>/dev/null
	done
	pid_stop LIBVIRTD_PID
	pid_stop VIRTLOGD_PID
}

# small_disk FILE: a 64 MiB raw disk for registration tests that need no
# boot: MBR, one ext4 partition (label rain-root) holding a Debian-like tree
# with a kernel file, the virtio modules a cloud needs (as built in),
# systemd's folders, per-instance state to remove (machine-id, a host key,
# a log) and an empty root password (the default vetting policy fails it).
small_disk() {
	local R=$TMP/small-disk-tree
	rm -rf "$R"
	mkdir -p "$R/etc/ssh" "$R/boot" "$R/var/log" "$R/root" "$R/lib/modules/6.1.0-99-amd64" \
		"$R/etc/systemd/system/multi-user.target.wants" "$R/usr/lib/systemd/system"
	printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' >"$R/etc/os-release"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
	printf 'root::19000:0:99999:7:::\n' >"$R/etc/shadow"
	printf '0123456789abcdef0123456789abcdef\n' >"$R/etc/machine-id"
	printf 'hostkey\n' >"$R/etc/ssh/ssh_host_ed25519_key"
	printf 'UUID=x / ext4 defaults 0 1\n' >"$R/etc/fstab"
	head -c 300000 /dev/urandom >"$R/boot/vmlinuz-6.1.0-99-amd64"
	head -c 100000 /dev/urandom >"$R/boot/initrd.img-6.1.0-99-amd64"
	touch "$R/lib/modules/6.1.0-99-amd64/modules.dep"
	printf 'kernel/drivers/block/virtio_blk.ko\nkernel/drivers/net/virtio_net.ko\n' \
		>"$R/lib/modules/6.1.0-99-amd64/modules.builtin"
	printf 'log line\n' >"$R/var/log/syslog"
	rm -f "$1"
	truncate -s 64M "$1"
	printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$1"
	mke2fs -q -F -t ext4 -L rain-root -E offset=1048576 -d "$R" "$1" 62M
}

# start_slurm: a real one-host Slurm 22.05 in $SLURM_DIR ($TMP/slurm):
# munged with its own key and socket, slurmctld on a free port, and two
# nodes, `slurmd -N node1` and `-N node2` on ports 17001 and 17002 (or
# SLURM_PORT_BASE + 1 and + 2, for tests that may run beside another) with
# NodeAddr=127.0.0.1 (one CPU each, partition "batch"), each with its own
# spool, log and PID file. Per-job images the way sites do it:
# NodeFeaturesPlugins=node_features/helpers, $SLURM_DIR/etc/helpers.conf
# (Slurm 22.05: one "Feature=NAME Helper=PATH" line per feature; it starts
# with the base feature img_base, which the nodes boot) and RebootProgram.
# A node's image is its file $SLURM_DIR/nodes/NODE/current; the Helper
# ($SLURM_HELPER) prints it (no argument) or writes the feature to set
# into .../next (one argument). RebootProgram ($SLURM_REBOOT, default
# $SLURM_DIR/bin/reboot) stands in for a node's reboot into its next
# image: it stops the node's slurmd, makes next current, runs
# $SLURM_DIR/bin/boot-machine NODE FEATURE when a test wrote one (the
# node's machine booting that image), and starts the node's slurmd again
# with -b (it reports that it rebooted). slurmd runs with RAIN_SLURM_NODE
# set to its node, which the helper and RebootProgram read. Slurm 22.05's
# slurmd reads helpers.conf only when it starts (scontrol reconfigure does
# not make it): $SLURM_DIR/bin/reload restarts both slurmds, then has
# slurmctld reconfigure, as a site's own reload would. Exports
# SLURM_CONF (the Slurm commands read it); sets SLURMCTLD_PORT. Everything
# is stopped by PID (stop_slurm; at the test's end at the latest).
# KillWait leaves a canceled job's batch script time to stop its command
# in the node's machine (rain's node.sh does it through node_exec).
SLURM_DIR= MUNGED_PID=
start_slurm() {
	SLURM_DIR=$TMP/slurm
	local d=$SLURM_DIR node port=${SLURM_PORT_BASE:-17000} i=0
	mkdir -p "$d/etc" "$d/bin" "$d/state" "$d/log" "$d/run" "$d/nodes/node1" "$d/nodes/node2"
	mkdir -m 0700 -p "$d/munge"
	head -c 1024 /dev/urandom >"$d/munge/munge.key"
	chmod 0400 "$d/munge/munge.key"
	munged -F --force --socket="$d/munge/munge.sock" --key-file="$d/munge/munge.key" \
		--log-file="$d/log/munged.log" --pid-file="$d/run/munged.pid" \
		--seed-file="$d/munge/seed" >>"$d/log/munged.out" 2>&1 &
	MUNGED_PID=$!
	for _ in $(seq 1 100); do [ -S "$d/munge/munge.sock" ] && break; sleep 0.05; done
	[ -S "$d/munge/munge.sock" ] || { echo "# munged did not start:"; tail -5 "$d/log/munged.log" "$d/log/munged.out" | sed 's/^/#   /'; return 1; }
	SLURM_HELPER=$d/bin/helper
	SLURM_REBOOT=${SLURM_REBOOT:-$d/bin/reboot}
	cat >"$SLURM_HELPER" <<HELPER
#!/bin/sh
# node_features/helpers' Helper of the test's nodes: no argument, print
# the node's active image feature; one, set it for the node's next boot.
n=$d/nodes/\$RAIN_SLURM_NODE
[ \$# -eq 0 ] && exec cat "\$n/current"
printf '%s\n' "\$1" >"\$n/next"
HELPER
	cat >"$d/bin/reboot" <<REBOOT
#!/bin/sh
# RebootProgram: the stand-in for rebooting node \$RAIN_SLURM_NODE into its
# next image; slurmd waits for it, so the reboot goes on in the background.
setsid $d/bin/node-reboot "\$RAIN_SLURM_NODE" </dev/null >>$d/log/reboot-\$RAIN_SLURM_NODE.log 2>&1 &
echo \$! >$d/run/reboot-\$RAIN_SLURM_NODE.pid
exit 0
REBOOT
	cat >"$d/bin/node-reboot" <<REBOOT
#!/bin/sh
# a node's reboot: its slurmd stops, its machine boots the next image,
# its slurmd starts again and reports the boot (-b)
node=\$1 n=$d/nodes/\$1
echo "\$(date +%T.%N) \$node: rebooting"
pid=\$(cat $d/run/slurmd-\$node.pid 2>/dev/null)
if [ -n "\$pid" ]; then
	kill "\$pid" 2>/dev/null
	while kill -0 "\$pid" 2>/dev/null; do sleep 0.1; done
fi
[ -s "\$n/next" ] && mv "\$n/next" "\$n/current"
feature=\$(cat "\$n/current")
if [ -x $d/bin/boot-machine ]; then
	$d/bin/boot-machine "\$node" "\$feature" || { echo "\$node: the machine did not boot \$feature"; exit 1; }
fi
echo "\$(date +%T.%N) \$node: up with \$feature"
exec env RAIN_SLURM_NODE=\$node slurmd -b -N \$node
REBOOT
	cat >"$d/bin/reload" <<RELOAD
#!/bin/sh
# Slurm 22.05's slurmd reads helpers.conf only when it starts (scontrol
# reconfigure does not make it): restart each node's slurmd, as a site
# would, then have slurmctld read it too.
for node in node1 node2; do
	pid=\$(cat $d/run/slurmd-\$node.pid 2>/dev/null)
	[ -n "\$pid" ] && kill "\$pid" 2>/dev/null
	while [ -n "\$pid" ] && kill -0 "\$pid" 2>/dev/null; do sleep 0.05; done
	RAIN_SLURM_NODE=\$node slurmd -N \$node || exit 1
done
exec scontrol reconfigure
RELOAD
	chmod 0755 "$SLURM_HELPER" "$d/bin/reboot" "$d/bin/node-reboot" "$d/bin/reload"
	printf 'Feature=img_base Helper=%s\n' "$SLURM_HELPER" >"$d/etc/helpers.conf"
	SLURMCTLD_PORT=$(free_port)
	cat >"$d/etc/slurm.conf" <<CONF
ClusterName=rain
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$SLURMCTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.sock
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/%n
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd-%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
ResumeTimeout=${SLURM_RESUME_TIMEOUT:-180}
RebootProgram=$SLURM_REBOOT
NodeFeaturesPlugins=node_features/helpers
KillWait=30
InactiveLimit=0
SlurmdTimeout=60
MinJobAge=600
NodeName=node1 NodeAddr=127.0.0.1 Port=$((port + 1)) CPUs=1 RealMemory=64 State=UNKNOWN
NodeName=node2 NodeAddr=127.0.0.1 Port=$((port + 2)) CPUs=1 RealMemory=64 State=UNKNOWN
PartitionName=batch Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP
CONF
	export SLURM_CONF=$d/etc/slurm.conf
	for node in node1 node2; do
		echo img_base >"$d/nodes/$node/current"
		mkdir -p "$d/spool/$node"
	done
	slurmctld -c -i >>"$d/log/slurmctld.out" 2>&1 || {
		echo "# slurmctld did not start:"; tail -10 "$d/log/slurmctld.log" "$d/log/slurmctld.out" | sed 's/^/#   /'; return 1; }
	for node in node1 node2; do
		RAIN_SLURM_NODE=$node slurmd -N "$node" >>"$d/log/slurmd-$node.out" 2>&1 || {
			echo "# slurmd $node did not start:"; tail -10 "$d/log/slurmd-$node.log" | sed 's/^/#   /'; return 1; }
	done
	for i in $(seq 1 200); do
		[ "$(sinfo -h -N -o '%N %t' 2>/dev/null | grep -c ' idle$')" -eq 2 ] && return 0
		sleep 0.1
	done
	echo "# the Slurm nodes are not idle:"; sinfo -N 2>&1 | sed 's/^/#   /'
	tail -5 "$d/log/slurmctld.log" | sed 's/^/#   /'
	return 1
}

# slurm_machines BOOT MARKER: the nodes' machines of start_slurm's Slurm.
# $SLURM_DIR/bin/boot-machine NODE FEATURE (run by node-reboot, the
# stand-in for a node's reboot): the VM of the node's last image stops;
# the base image (img_base) is the host itself; any other is netbooted
# from the registration's files in BOOT/FEATURE (vmlinuz, initramfs, its
# cmdline) with the machines' key on the kernel command line, its ssh on
# 127.0.0.1:1710K (K: the node's number), until MARKER is on its console
# ($SLURM_DIR/log/console-NODE-FEATURE.log) and its sshd answers; it
# prints "NODE: up at SECONDS" (since its qemu started). BOOT must be
# served at http://10.0.2.2:PORT as the site's publish_url says.
# $SLURM_DIR/bin/in-machine COMMAND...: a site's node_exec: the command
# on the node's machine (ssh into its VM; the base image: here), as the
# node's slurmd is not in the image.
slurm_machines() {
	local boot=$1 marker=$2 d=$SLURM_DIR mkey opts
	ssh-keygen -q -t ed25519 -N '' -C rain-test-machines -f "$d/machine-key" </dev/null >/dev/null
	mkey=$(tr -d '\n' <"$d/machine-key.pub" | base64 -w0 | tr '+/' '-_' | tr -d '=')
	opts="-i $d/machine-key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes"
	cat >"$d/bin/boot-machine" <<MACHINE
#!/bin/sh
node=\$1 feature=\$2
pidf=$d/run/machine-\$node.pid
rm -f $d/run/machine-\$node.port
if [ -s "\$pidf" ]; then
	pid=\$(cat "\$pidf")
	kill "\$pid" 2>/dev/null
	while kill -0 "\$pid" 2>/dev/null; do sleep 0.1; done
	rm -f "\$pidf"
fi
[ "\$feature" = img_base ] && exit 0
b=$boot/\$feature
[ -s "\$b/cmdline" ] || { echo "no boot files for \$feature"; exit 1; }
port=1710\${node#node}
log=$d/log/console-\$node-\$feature.log
: >"\$log"
t0=\$(date +%s.%N)
qemu-system-x86_64 -machine accel=tcg -m 1024 -smp 1 -display none -monitor none -no-reboot \\
	-kernel "\$b/vmlinuz" -initrd "\$b/initramfs" -append "\$(cat "\$b/cmdline") rain.ssh_key=$mkey" \\
	-netdev user,id=n0,hostfwd=tcp:127.0.0.1:\$port-:22 -device virtio-net-pci,netdev=n0 \\
	-serial "file:\$log" </dev/null >/dev/null 2>&1 &
echo \$! >"\$pidf"
for _ in \$(seq 1 1200); do
	if grep -aq '$marker' "\$log" && ssh $opts -o ConnectTimeout=5 -p \$port root@127.0.0.1 true </dev/null; then
		echo \$port >$d/run/machine-\$node.port
		awk -v n="\$node" -v a="\$t0" -v b="\$(date +%s.%N)" 'BEGIN {printf "%s: up at %.1f s\\n", n, b - a}'
		exit 0
	fi
	kill -0 \$! 2>/dev/null || break
	sleep 0.2
done
echo "\$node: \$feature did not boot"; tail -5 "\$log"
exit 1
MACHINE
	cat >"$d/bin/in-machine" <<'INMACHINE'
#!/bin/bash
port=$(cat "${0%/bin/*}/run/machine-$SLURMD_NODENAME.port" 2>/dev/null)
[ -n "$port" ] || exec "$@"
INMACHINE
	cat >>"$d/bin/in-machine" <<INMACHINE
exec ssh $opts -n -p "\$port" root@127.0.0.1 -- "\$(printf '%q ' "\$@")"
INMACHINE
	chmod 0755 "$d/bin/in-machine" "$d/bin/boot-machine"
}

# stop_slurm: stop the test's Slurm by PID: the nodes' reboots in
# progress and their machines (PID files in $SLURM_DIR/run), the slurmds,
# slurmctld, munged.
stop_slurm() {
	local f pid
	[ -n "$SLURM_DIR" ] || return 0
	for f in "$SLURM_DIR"/run/reboot-*.pid "$SLURM_DIR"/run/machine-*.pid "$SLURM_DIR"/run/slurmd-*.pid \
		"$SLURM_DIR"/run/slurmctld.pid; do
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
		rm -f "$f"
	done
	pid_stop MUNGED_PID
	SLURM_DIR=
}

# swift_start: a real OpenStack Swift (Debian's 2.30) for the test: a proxy
# with s3api and tempauth, account, container and object servers on one
# directory device (one replica), memcached, all on free loopback ports
# with everything in $SWIFT_DIR (default $TMP/swift). One user, test:tester
# with key testing (an admin of account AUTH_test); its S3 access key is
# test:tester, the secret testing, the region us-east-1. Sets SWIFT_URL (the
# proxy), SWIFT_AUTH ($SWIFT_URL/auth/v1.0), SWIFT_HOSTPORT and
# SWIFT_PIDS. Healthy in ~3-4 s.
swift_start() {
	SWIFT_DIR=${SWIFT_DIR:-$TMP/swift}
	local d=$SWIFT_DIR kind port mport pport conf
	swift_stop
	mkdir -p "$d/srv/d1"
	rm -f "$d/ports"
	mport=$(free_port)
	pport=$(free_port)
	cat >"$d/swift.conf" <<CONF
[swift-hash]
swift_hash_path_suffix = rain-test
swift_hash_path_prefix = rain-test
[storage-policy:0]
name = Policy-0
default = yes
CONF
	SWIFT_PIDS=
	memcached -l 127.0.0.1 -p "$mport" -U 0 -u root -m 64 >"$d/memcached.log" 2>&1 &
	SWIFT_PIDS="$SWIFT_PIDS $!"
	for kind in account container object; do
		port=$(free_port)
		conf=$d/$kind-server.conf
		cat >"$conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
swift_dir = $d
devices = $d/srv
mount_check = false
log_facility = LOG_LOCAL0
log_level = WARNING
[pipeline:main]
pipeline = $kind-server
[app:$kind-server]
use = egg:swift#$kind
CONF
		printf "%s %s\n" "$kind" "$port" >>"$d/ports"
	done
	# the three rings in one Python process (swift-ring-builder takes ~1 s a call)
	(cd "$d" && /usr/bin/python3 -c '
import sys
from swift.common.ring import RingBuilder
for line in open("ports"):
    kind, port = line.split()
    b = RingBuilder(6, 1, 1)
    b.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
               "device": "d1", "weight": 1})
    b.rebalance()
    b.get_ring().save(kind + ".ring.gz")
') >"$d/rings.log" 2>&1 || { echo "# swift rings:"; sed 's/^/#   /' "$d/rings.log"; return 1; }
	for kind in account container object; do
		/usr/bin/python3 /usr/bin/swift-$kind-server "$d/$kind-server.conf" >"$d/$kind.log" 2>&1 &
		SWIFT_PIDS="$SWIFT_PIDS $!"
	done
	cat >"$d/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $pport
workers = 0
swift_dir = $d
log_level = WARNING
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mport
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
CONF
	/usr/bin/python3 /usr/bin/swift-proxy-server "$d/proxy-server.conf" >"$d/proxy.log" 2>&1 &
	SWIFT_PIDS="$SWIFT_PIDS $!"
	SWIFT_HOSTPORT=127.0.0.1:$pport
	SWIFT_URL=http://$SWIFT_HOSTPORT
	SWIFT_AUTH=$SWIFT_URL/auth/v1.0
	wait_http "$SWIFT_URL/healthcheck" "${SWIFT_PIDS##* }" swift-proxy-server "$d"/*.log || return 1
	# ready once tempauth answers and a container can be made (curl: the
	# swift client takes seconds to start on a loaded machine)
	for _ in $(seq 1 240); do
		local token
		token=$(curl -sS -D - -o /dev/null -H 'X-Auth-User: test:tester' \
			-H 'X-Auth-Key: testing' "$SWIFT_AUTH" 2>/dev/null |
			tr -d '\r' | sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p')
		[ -n "$token" ] && case $(curl -sS -o /dev/null -w '%{http_code}' -X PUT \
			-H "X-Auth-Token: $token" "$SWIFT_URL/v1/AUTH_test/rain-probe") in
			20?) return 0 ;;
		esac
		sleep 0.25
	done
	echo "# swift did not come up:"; tail -5 "$d"/*.log | sed 's/^/#   /'
	return 1
}

# swift_cli ARGS...: Debian's swift client as test:tester on the test's Swift.
swift_cli() {
	/usr/bin/python3 /usr/bin/swift -A "$SWIFT_AUTH" -U test:tester -K testing "$@"
}

# s3cmd_cli ARGS...: s3cmd (SigV4, path-style, plain HTTP) on the test's Swift.
s3cmd_cli() {
	/usr/bin/python3 /usr/bin/s3cmd --no-ssl --host="$SWIFT_HOSTPORT" \
		--host-bucket="$SWIFT_HOSTPORT" --access_key=test:tester --secret_key=testing \
		--region=us-east-1 -c /dev/null "$@"
}

# swift_stop: stop the test's Swift daemons and memcached by their PIDs.
swift_stop() {
	local pid
	for pid in ${SWIFT_PIDS:-}; do kill "$pid" 2>/dev/null; done
	for pid in ${SWIFT_PIDS:-}; do wait "$pid" 2>/dev/null; done
	SWIFT_PIDS=
}

test_done() {
	if [ "$TEST_FAILED" -gt 0 ]; then
		echo "# $TEST_FAILED of $TEST_N failed; raind log tail:"
		sed 's/^/#   /' "$TMP/raind.log" 2>/dev/null | tail -30
		exit 1
	fi
	echo "# all $TEST_N passed"
	exit 0
}

# start_postgres [SERVER OPTIONS]: a throwaway PostgreSQL (initdb + pg_ctl) in $TMP/pg,
# listening only on a unix socket in $TMP/pg/sock, run by user postgres
# (the server refuses root), with trust for the local superuser "rain".
# Sets PG_SOCK, PG_BIN and PG_URI_BASE ("postgresql:///DB?host=...&user=rain"
# with DB to fill in: ${PG_URI_BASE/DB/name}). Returns 1 with the log when
# it does not come up; stop_postgres stops it (cleanup does too).
PG_DIR= PG_BIN= PG_SOCK= PG_URI_BASE=
start_postgres() {
	local user=postgres
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -x "$PG_BIN/initdb" ] || { echo "# no PostgreSQL server (install postgresql)"; return 1; }
	id -u "$user" >/dev/null 2>&1 || { echo "# no user $user"; return 1; }
	PG_DIR=$TMP/pg PG_SOCK=$TMP/pg/sock
	# the server's user must get through $TMP to its folder
	chmod 0711 "$TMP"
	mkdir -p "$PG_SOCK" && chown -R "$user" "$PG_DIR" && chmod 0700 "$PG_DIR"
	local as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups env -i
		HOME="$PG_DIR" PATH=/usr/bin:/bin LC_ALL=C.UTF-8)
	"${as[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U rain --auth=trust -E UTF8 --no-sync \
		>>"$TMP/postgres.log" 2>&1 || {
		echo "# initdb failed:"; tail -5 "$TMP/postgres.log" | sed 's/^/#   /'; return 1; }
	"${as[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
		-o "-k $PG_SOCK -c listen_addresses='' -c max_connections=200 $*" start \
		>>"$TMP/postgres.log" 2>&1 || {
		echo "# pg_ctl start failed:"; tail -5 "$PG_DIR/server.log" | sed 's/^/#   /'; return 1; }
	PG_URI_BASE="postgresql:///DB?host=$PG_SOCK&user=rain"
}

stop_postgres() {
	[ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
	setpriv --reuid=postgres --regid="$(id -g postgres)" --init-groups \
		"$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
}

# pg_sql DB SQL: run SQL in database DB of start_postgres's server; prints
# the rows unaligned, fields separated by |.
pg_sql() { psql -X -q -At -h "$PG_SOCK" -U rain -d "$1" -c "$2"; }
