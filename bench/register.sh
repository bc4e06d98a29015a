#!/bin/bash
# Registration benchmark (issue 12), in one run on this machine, the same
# 1 GiB bootable bookworm disk (kernel, openssh-server and a unit printing
# a marker on the console; built through the shared cache) each time:
#   (a) Glance's own upload of the file (glance image-create --file, Debian's
#       client under /usr/bin/python3, a fresh HOME each call), the peer;
#   (b) rain target publish to an openstack site (disk_format = raw) on the
#       same Glance: cold (a new --work folder: adaptation included) and
#       warm (the adapted copy in --work reused);
#   (c) the same through raind: rain register then rain deregister, raind's
#       [register] cache_dir emptied before the cold one, so the next is warm;
#   (d) libvirt site preparation: publish to a dir pool of a test libvirtd
#       (a new --work folder: the qcow2 adaptation, volume, seed, domain);
#   (e) netboot site preparation: publish (kernel, initramfs, root squashfs,
#       iPXE scripts; a new --work folder);
#   (f) netboot to the running image: a diskless qemu VM (TCG, user
#       networking, iPXE) boots through raind's netboot serving; seconds from
#       qemu's start to the image's marker on the serial console;
#   (g) 4 registrations at once through raind (4 openstack sites on the same
#       Glance, so none is the earlier one of another; being of the same
#       disk_format they share one adapted copy), cold and warm, against
#       one ((c)'s medians).
# Glance runs GLANCE_WORKERS API processes (default 0: one process for
# everything, as the integration tests run it, which puts the CPU of 4
# concurrent uploads, ~3 s each, on one core whatever the client does;
# 2, one per core, shares it out, but with its SQLite database a worker
# answered an upload with HTTP 500 under 4 concurrent registrations).
# RUNS times each (medians), (g) once cold and once warm (the run stays
# within ~20 minutes at load 10). Wall seconds;
# CPU seconds of the client (user+sys of it and its children), of raind
# (with the rain target publish it runs) and of glance-api; the load average
# at each step (the machine is shared). Ends with the ratios against the
# issue's goals. Every daemon (glance-api, libvirtd and virtlogd, raind,
# qemu) runs on loopback in the run's own folder and is stopped by PID.
#
#   bench/register.sh [RUNS]     (default 3; needs root)
#   environment: RAIN_CACHE (default /var/cache/rain), GLANCE_WORKERS
#   (default 0); scratch in
#   ${TMPDIR:-/var/tmp}, which needs 10 GiB free (8.2 GiB used at the peak).
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
case $runs in '' | *[!0-9]* | 0) echo "bench/register.sh: RUNS must be a positive number" >&2; exit 2 ;; esac
me=bench/register.sh
[ "$(id -u)" -eq 0 ] || { echo "$me: needs root (the image build, libvirtd's user)" >&2; exit 1; }
for c in mmdebstrap qemu-system-x86_64 libvirtd virtlogd virsh setpriv /usr/bin/glance-api /usr/bin/glance; do
	command -v "$c" >/dev/null || { echo "$me: needs $c (scripts/install-deps.sh)" >&2; exit 1; }
done
export TMPDIR=${TMPDIR:-/var/tmp}
free=$(df -B1G --output=avail "$TMPDIR" | tail -n 1 | tr -d ' ')
[ "$free" -ge 10 ] || { echo "$me: $TMPDIR has $free GiB free; the run needs 10 GiB (8.2 GiB at its peak)" >&2; exit 1; }
[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release src/cli/rain src/daemon/raind >/dev/null || exit 1
export BUILD=$PWD/build-release
# the integration tests' helpers: $TMP (removed at exit), a fresh HOME,
# start_glance, start_libvirtd, raind_start, each daemon stopped by PID
# shellcheck source=../tests/integration/lib.sh
source tests/integration/lib.sh
VM_PID=
trap 'pid_stop VM_PID; cleanup' EXIT
trap 'exit 130' INT TERM
cd "$TMP" || exit 1

die() { echo "$me: $*" >&2; exit 1; }
load() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
# cpu PID: user+sys seconds of PID, the children it waited for and those
# still running (glance-api's workers)
cpu() {
	local p kids
	kids=$(cat /proc/"$1"/task/*/children 2>/dev/null)
	for p in "$1" $kids; do cat "/proc/$p/stat" 2>/dev/null; done |
		awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); t += $12 + $13 + $14 + $15 } END { print t / hz }'
}
# child_cpu VAR: VAR = user+sys seconds of the children this shell waited
# for (bash's times, run in this shell: a subshell's count from zero)
child_cpu() {
	local f=$TMP/times.$BASHPID
	times >"$f"
	printf -v "$1" '%s' "$(awk 'END { split($1, u, /[ms]/); split($2, s, /[ms]/)
		print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$f")"
}
# timed LOG CMD...: run CMD (a program or a function of this shell) with
# its output to LOG; sets WALL and CCPU (its user+sys and its children's)
timed() {
	local log=$1 c0 c1 t0
	shift
	child_cpu c0
	t0=$(now)
	"$@" >"$log" 2>&1 || { tail -20 "$log" >&2; return 1; }
	WALL=$(diff2 "$t0" "$(now)")
	child_cpu c1
	CCPU=$(diff2 "$c0" "$c1")
}
# rec STEP WALL CLIENT_CPU RAIND_CPU GLANCE_CPU: one measurement
rec() {
	printf '%-16s %8.2f %8s %8s %8s %6s\n' "$1" "$2" "$3" "$4" "$5" "$(load)"
	echo "$*" >>"$TMP/measures"
}
diff2() { python3 -c "print(f'{$2 - $1:.2f}')"; }
peak_disk() { # remember the largest size of $TMP seen
	local k
	k=$(du -s -B1M "$TMP" 2>/dev/null | cut -f1)
	[ "$k" -gt "${PEAK_MB:-0}" ] && PEAK_MB=$k
	return 0
}

# ---- the image ----
marker_unit "$TMP/marker.service" 'REGBENCH-MARKER host=$(hostname)'
cat >"$TMP/regbench.recipe" <<'RECIPE'
[image]
name = regbench
distribution = debian
release = bookworm
[packages]
kernel = yes
install = openssh-server
[system]
services = regbench-marker
[files]
copy = marker.service:/etc/systemd/system/regbench-marker.service
[output]
formats = disk
size = 1G
RECIPE
t0=$(now)
"$RAIN" generate "$TMP/regbench.recipe" -o "$TMP/img" --cache "${RAIN_CACHE:-/var/cache/rain}" --quiet \
	>"$TMP/build.log" 2>&1 || { tail -20 "$TMP/build.log"; die "the image build failed"; }
IMG=$TMP/img/regbench.raw
IMG_SHA=$(sha256sum <"$IMG" | cut -d' ' -f1)
echo "registration benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, rain $(git -C "$TOP" rev-parse --short HEAD), release build, RUNS=$runs"
echo "# glance-api: workers = $GLANCE_WORKERS"
echo "# image: bookworm, kernel, openssh-server; $(stat -c %s "$IMG") bytes raw ($(du -B1M "$IMG" | cut -f1) MiB allocated), built in $(diff2 "$t0" "$(now)") s, load $(load)"

# ---- the peers and raind ----
GLANCE_WORKERS=${GLANCE_WORKERS:-0}
start_glance "[DEFAULT]" "workers = $GLANCE_WORKERS" >"$TMP/glance-start.log" 2>&1 ||
	{ cat "$TMP/glance-start.log"; die "glance-api did not start"; }
start_libvirtd >"$TMP/libvirt-start.log" 2>&1 || { cat "$TMP/libvirt-start.log"; die "libvirtd did not start"; }
libvirt_pool bench || die "no libvirt pool"
cat >"$TMP/clouds.yaml" <<EOF
clouds:
  bench:
    auth_type: none
    image_endpoint_override: $GLANCE_URL
EOF
NBDIR=$TMP/netboot
mkdir -p "$NBDIR"
{
	for i in 1 2 3 4; do
		printf '[site.cloud%d]\nuri = openstack:bench\nclouds_yaml = %s\ndisk_format = raw\n' "$i" "$TMP/clouds.yaml"
	done
	printf '[register]\ncache_dir = %s\nmax_concurrent = 4\n' "$TMP/regcache"
	printf '[netboot]\nlab = %s\n' "$NBDIR"
} >"$TMP/raind.ini"
raind_start --config "$TMP/raind.ini" || die "raind did not start"
RIMG=$(curl -sS -X POST -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
	-d '{"name":"regbench","disk_format":"raw","container_format":"bare","os_distro":"debian","os_version":"12","architecture":"x86_64"}' \
	"$URL/v2/images" | json_get id)
[ -n "$RIMG" ] || die "raind did not create the image"
[ "$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $TOKEN" \
	-H 'Content-Type: application/octet-stream' -T "$IMG" "$URL/v2/images/$RIMG/file")" = 204 ] ||
	die "the upload to raind failed"

MAC=52:54:00:42:00:01
NB=http://10.0.2.2:$PORT/netboot/lab
# no_timer_check: TCG on a loaded host can miss the IO-APIC timer check
ARGS="console=ttyS0,115200 no_timer_check panic=-1"
install -d -o libvirt-qemu -m 0700 "$LIBVIRT_DIR/log"
cat >"$TMP/sites.ini" <<EOF
[site.os]
uri = openstack:bench
clouds_yaml = $TMP/clouds.yaml
disk_format = raw
[site.lv]
uri = libvirt:$LIBVIRT_URI
pool = bench
domain_type = qemu
memory = 1G
console_log = $LIBVIRT_DIR/log
[site.lab]
uri = netboot:$NBDIR
url = $NB
nodes = node1=$MAC
kernel_args = $ARGS
EOF
target() { # target publish|unpublish SITE STATE ARGS...
	local cmd=$1 site=$2 state=$3
	shift 3
	"$RAIN" target "$cmd" --sites "$TMP/sites.ini" --site "$site" --state "$state" "$@"
}
glance_count() {
	curl -sS "$GLANCE_URL/v2/images" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["images"]))'
}

printf '%-16s %8s %8s %8s %8s %6s\n' step wall_s client raind glance load
# ---- registrations through raind ----
# register LOG SITE: rain register --no-wait, then its record polled (every
# 0.2 s) until registered; sets WALL (to registered) and CCPU (the CLI's).
# Not the CLI's following of the log: with a quiet log (rain target
# publish --quiet) it gives up after 120 s without a byte (LOW_SPEED_TIME).
register() {
	local t id st gone=0
	t=$(now)
	timed "$1" "$RAIN" register "$RIMG" --site "$2" --json --quiet --no-wait || return 1
	id=$(json_get id <"$1") || return 1
	while :; do
		st=$(curl -sS -H "X-Auth-Token: $TOKEN" "$URL/rain/v1/registrations/$id" | json_get status)
		case $st in
		registered) break ;;
		queued | running | registering) sleep 0.2 ;;
		"")
			# raind gone: give up after 10 s rather than poll forever
			gone=$((gone + 1))
			[ "$gone" -lt 50 ] || { echo "registration $id: raind does not answer" >&2; return 1; }
			sleep 0.2
			;;
		*)
			echo "registration $id: $st: $(curl -sS -H "X-Auth-Token: $TOKEN" \
				"$URL/rain/v1/registrations/$id" | json_get error)" >&2
			return 1
			;;
		esac
	done
	WALL=$(diff2 "$t" "$(now)")
	echo "$id" >"$1.id"
}
deregister_all() {
	local f
	for f in "$TMP"/c-*.log.id; do
		[ -s "$f" ] || continue
		"$RAIN" deregister "$(cat "$f")" >/dev/null 2>&1 || die "rain deregister $(cat "$f") failed"
		rm -f "$f"
	done
	[ "$(glance_count)" = 0 ] || die "images left in Glance after deregister"
}
# ---- (a), (b), (c) in turn in each round (the load changes in minutes) ----
for i in $(seq 1 "$runs"); do
	# (a) Glance's own upload
	g0=$(cpu "$GLANCE_PID")
	timed "$TMP/a.log" glance_client image-create --name "peer-$i" --disk-format raw \
		--container-format bare --file "$IMG" || die "glance image-create failed"
	rec a.glance "$WALL" "$CCPU" - "$(diff2 "$g0" "$(cpu "$GLANCE_PID")")"
	id=$(awk '$2 == "id" {print $4}' "$TMP/a.log")
	[ "$(curl -sS "$GLANCE_URL/v2/images/$id" | json_get status)" = active ] || die "peer image $id not active"
	peak_disk
	glance_client image-delete "$id" >/dev/null 2>&1 || die "glance image-delete $id failed"

	# (b) rain target publish, a new --work folder, then the same again
	rm -rf "$TMP/wb"
	mkdir -m 0700 "$TMP/wb"
	for kind in cold warm; do
		g0=$(cpu "$GLANCE_PID")
		timed "$TMP/b.log" target publish os "$TMP/b.state" --work "$TMP/wb" --quiet "$IMG" ||
			die "publish ($kind) failed"
		rec "b.publish.$kind" "$WALL" "$CCPU" - "$(diff2 "$g0" "$(cpu "$GLANCE_PID")")"
		peak_disk
		{ target unpublish os "$TMP/b.state" >"$TMP/b-un.log" 2>&1 && rm "$TMP/b.state"; } || die "unpublish failed"
	done
	rm -rf "$TMP/wb"
	[ "$(glance_count)" = 0 ] || die "images left in Glance after unpublish"

	# (c) through raind, its cache emptied, then the same again
	rm -rf "${TMP:?}/regcache/"*
	for kind in cold warm; do
		r0=$(cpu "$RAIND_PID") g0=$(cpu "$GLANCE_PID")
		register "$TMP/c-1.log" cloud1 || die "rain register ($kind) failed"
		rec "c.register.$kind" "$WALL" "$CCPU" "$(diff2 "$r0" "$(cpu "$RAIND_PID")")" \
			"$(diff2 "$g0" "$(cpu "$GLANCE_PID")")"
		peak_disk
		deregister_all
	done
done

# ---- (g) 4 at once through raind ----
concurrent() { # concurrent KIND: 4 registrations at once, one per site
	local k pids=() t
	r0=$(cpu "$RAIND_PID") g0=$(cpu "$GLANCE_PID") t=$(now)
	for k in 1 2 3 4; do
		register "$TMP/c-$k.log" "cloud$k" 2>"$TMP/c-$k.out" &
		pids+=($!)
	done
	for k in 0 1 2 3; do
		wait "${pids[$k]}" && continue
		cat "$TMP/c-$((k + 1)).out"
		kill "${pids[@]}" 2>/dev/null
		die "a concurrent registration failed"
	done
	rec "g.register4.$1" "$(diff2 "$t" "$(now)")" - "$(diff2 "$r0" "$(cpu "$RAIND_PID")")" \
		"$(diff2 "$g0" "$(cpu "$GLANCE_PID")")"
	[ "$(sort -u "$TMP"/c-?.log.id | wc -l)" = 4 ] || die "the 4 registrations are not 4"
	peak_disk
	deregister_all
}
rm -rf "${TMP:?}/regcache/"*
concurrent cold
concurrent warm

# ---- (d) libvirt site preparation ----
for i in $(seq 1 "$runs"); do
	rm -rf "$TMP/wd"
	mkdir -m 0700 "$TMP/wd"
	timed "$TMP/d.log" target publish lv "$TMP/d.state" --work "$TMP/wd" --id "bench$i" --quiet "$IMG" ||
		die "publish to libvirt failed"
	rec d.libvirt "$WALL" "$CCPU" - -
	peak_disk
	{ target unpublish lv "$TMP/d.state" >"$TMP/d-un.log" 2>&1 && rm "$TMP/d.state"; } || die "unpublish from libvirt failed"
done
rm -rf "$TMP/wd"
[ -z "$(libvirt_left bench)" ] || die "left in libvirt: $(libvirt_left bench)"

# ---- (e) netboot site preparation, (f) a diskless VM to the marker ----
boot() { # boot LOG: qemu from its start to the marker; sets WALL
	local t
	rm -f "$1"
	t=$(now)
	qemu-system-x86_64 -machine accel=tcg -m 1536 -smp 1 -display none -monitor none -no-reboot \
		-netdev "user,id=n0,tftp=$NBDIR/tftp,bootfile=$NB/boot.ipxe" \
		-device "virtio-net-pci,netdev=n0,mac=$MAC" -serial "file:$1" -boot n 2>>"$TMP/qemu.err" &
	VM_PID=$!
	for _ in $(seq 1 1500); do
		grep -aq REGBENCH-MARKER "$1" 2>/dev/null && break
		kill -0 "$VM_PID" 2>/dev/null || break
		sleep 0.2
	done
	WALL=$(diff2 "$t" "$(now)")
	pid_stop VM_PID
	grep -aq "REGBENCH-MARKER" "$1" || { tail -20 "$1"; return 1; }
}
for i in $(seq 1 "$runs"); do
	rm -rf "$TMP/we"
	mkdir -m 0700 "$TMP/we"
	timed "$TMP/e.log" target publish lab "$TMP/e.state" --work "$TMP/we" --quiet "$IMG" ||
		die "publish to netboot failed"
	rec e.netboot.prep "$WALL" "$CCPU" - -
	peak_disk
	r0=$(cpu "$RAIND_PID")
	boot "$TMP/console-$i.log" || die "the diskless VM did not reach the marker"
	rec f.netboot.boot "$WALL" - "$(diff2 "$r0" "$(cpu "$RAIND_PID")")" -
	{ target unpublish lab "$TMP/e.state" >"$TMP/e-un.log" 2>&1 && rm "$TMP/e.state"; } || die "unpublish from netboot failed"
done
rm -rf "$TMP/we"
[ -z "$(ls -A "$NBDIR")" ] || die "left in the netboot folder: $(ls -A "$NBDIR")"
[ "$IMG_SHA" = "$(sha256sum <"$IMG" | cut -d' ' -f1)" ] || die "THE IMAGE CHANGED"
echo "# the image is unchanged (sha256); nothing left in Glance, libvirt or the netboot folder"
echo "# peak scratch space: $((PEAK_MB / 1024)).$(((PEAK_MB % 1024) * 10 / 1024)) GiB"

# ---- medians and goals ----
python3 - "$TMP/measures" "$runs" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    step, *vals = line.split()
    rows.setdefault(step, []).append(vals)
def med(step, col):
    v = [float(r[col]) for r in rows.get(step, []) if r[col] != "-"]
    return statistics.median(v) if v else None
def f(x):
    return "-" if x is None else "%.1f" % x
print()
print("medians (s)             wall   client    raind   glance   n")
for step in rows:
    print("%-20s %8s %8s %8s %8s %3d" % (step, f(med(step, 0)), f(med(step, 1)), f(med(step, 2)),
                                           f(med(step, 3)), len(rows[step])))
def per_round(step, peer):
    """median over the rounds of step's wall / peer's wall in the same round"""
    x, y = rows.get(step, []), rows.get(peer, [])
    return statistics.median(float(p[0]) / float(q[0]) for p, q in zip(x, y))
print()
print("goals (medians; a ratio is the median of each round's ratio)")
def goal(what, val, limit, unit):
    ok = "met" if val <= limit else "NOT met"
    print("  %-48s %7.2f%s (goal <= %g%s): %s" % (what, val, unit, limit, unit, ok))
goal("rain target publish cold / glance image-create", per_round("b.publish.cold", "a.glance"), 1.5, "x")
goal("rain target publish warm / glance image-create", per_round("b.publish.warm", "a.glance"), 1.5, "x")
goal("rain register cold / glance image-create", per_round("c.register.cold", "a.glance"), 1.5, "x")
goal("rain register warm / glance image-create", per_round("c.register.warm", "a.glance"), 1.5, "x")
goal("libvirt preparation", med("d.libvirt", 0), 10, " s")
goal("netboot preparation", med("e.netboot.prep", 0), 10, " s")
goal("netboot to the running image (TCG)", med("f.netboot.boot", 0), 25, " s")
goal("4 registrations at once / one (median), cold", med("g.register4.cold", 0) / med("c.register.cold", 0), 2, "x")
goal("4 registrations at once / one (median), warm", med("g.register4.warm", 0) / med("c.register.warm", 0), 2, "x")
PY
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
