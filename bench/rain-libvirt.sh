#!/bin/bash
# Run benchmark for the libvirt provider (issue 13), in one run on this
# machine, with one bookworm disk (kernel, openssh-server; built through
# the shared cache) registered once at a libvirt site of a test libvirtd:
#   (a) the bare boot, the peer: plain qemu (the same emulation: TCG here,
#       1 GiB, virtio disk and user network with ssh forwarded, -snapshot on
#       the registered volume), seconds from qemu's start until the guest's
#       sshd sends its banner (the guest's own boot; its login prompt on
#       the serial console is reported too); N = 1 and N = 2 at once (until
#       both answer);
#   (b) rain provision run at the site (what raind runs for a run): seconds
#       from its start to the job's first output line, N = 1 and N = 2
#       (--each: until both instances have printed), then until the run has
#       ended (everything taken down); raind's runs run this command, so a
#       run through raind adds only its job's start.
# (a) and (b) run side by side, started together, so that both see the
# same load: on this shared 2-core machine the load swings between 2 and
# 20 within minutes, and boots measured one after the other differed by
# tens of seconds either way. rain's own part is also timed inside (b)
# from its stderr: "pre", from its start until the last instance's domain
# is resumed (the overlay, the seed, the definition), and "post", from
# the moment the last instance's sshd first sends its banner (polled from
# outside as in (a)) until the job's first output line (rain's readiness
# poll, its login, the job's start).
# RUNS times each (medians). Ends with what rain adds over the bare boot
# against the issue's goal (<= 2 s). Every daemon (libvirtd, virtlogd,
# raind, qemu) runs on loopback in the run's own folder, stopped by PID.
#
#   bench/rain-libvirt.sh [RUNS]     (default 3; needs root)
#   BENCH_KEEP=DIR keeps the serial consoles of the boots in DIR
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
case $runs in '' | *[!0-9]* | 0) echo "bench/rain-libvirt.sh: RUNS must be a positive number" >&2; exit 2 ;; esac
me=bench/rain-libvirt.sh
[ "$(id -u)" -eq 0 ] || { echo "$me: needs root (the image build, libvirtd's user)" >&2; exit 1; }
for c in mmdebstrap qemu-system-x86_64 libvirtd virtlogd virsh setpriv ssh; do
	command -v "$c" >/dev/null || { echo "$me: needs $c (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release src/cli/rain src/daemon/raind >/dev/null || exit 1
export BUILD=$PWD/build-release
# shellcheck source=../tests/integration/lib.sh
source tests/integration/lib.sh
QEMU_PIDS=()
stop_qemus() {
	local p
	# the bare boots run in a subshell (beside rain): their PIDs are in a file
	[ -f "$TMP/bare.pids" ] && mapfile -t -O "${#QEMU_PIDS[@]}" QEMU_PIDS <"$TMP/bare.pids"
	for p in "${QEMU_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${QEMU_PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
	QEMU_PIDS=()
	rm -f "$TMP/bare.pids"
}
trap 'stop_qemus; cleanup' EXIT
trap 'exit 130' INT TERM
cd "$TMP" || exit 1

die() { echo "$me: $*" >&2; exit 1; }
load() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
diff2() { python3 -c "print(f'{$2 - $1:.2f}')"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---- the image, the site, the registration ----
ssh_recipe rainbench "$TMP/rainbench.recipe"
t0=$(now)
"$RAIN" generate "$TMP/rainbench.recipe" -o "$TMP/img" --cache "${RAIN_CACHE:-/var/cache/rain}" --quiet \
	>"$TMP/build.log" 2>&1 || { tail -20 "$TMP/build.log"; die "the image build failed"; }
echo "run benchmark (libvirt), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, rain $(git -C "$TOP" rev-parse --short HEAD), release build, RUNS=$runs"
echo "# image: bookworm, kernel, openssh-server; built in $(diff2 "$t0" "$(now)") s, load $(load)"
start_libvirtd >"$TMP/libvirt-start.log" 2>&1 || { cat "$TMP/libvirt-start.log"; die "libvirtd did not start"; }
libvirt_pool bench || die "no libvirt pool"
cat >"$TMP/sites.ini" <<EOF
[site.lv]
uri = libvirt:$LIBVIRT_URI
pool = bench
domain_type = qemu
memory = 1G
EOF
"$RAIN" target publish --sites "$TMP/sites.ini" --site lv --state "$TMP/reg.json" --work "$TMP/work" \
	"$TMP/img/rainbench.raw" >"$TMP/publish.log" 2>&1 || { tail "$TMP/publish.log"; die "publish failed"; }
vol=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["volume"])' "$TMP/reg.json")
disk=$LIBVIRT_DIR/bench/$vol
[ -f "$disk" ] || die "no registered volume at $disk"
echo "# registered: volume $vol; load $(load)"

# ---- (a) the bare boot ----
# banner PORT: whether an sshd answers on 127.0.0.1:PORT with its banner
banner() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && head -c 7 <&3" 2>/dev/null | grep -q SSH-2.0; }
# bare N: start N plain qemus on the volume; BARE = seconds until every
# sshd answered, LOGIN = until every console showed its login prompt
bare() {
	local n=$1 k t0 port ports=() done_b=() done_l=() left_b left_l
	t0=$(now)
	for k in $(seq 1 "$n"); do
		port=$(free_port)
		ports+=("$port")
		qemu-system-x86_64 -machine accel=tcg -m 1024 -smp 1 -display none -monitor none \
			-no-reboot -snapshot -drive "file=$disk,if=virtio,format=qcow2" \
			-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0 \
			-serial "file:$TMP/bare-$k.console" >/dev/null 2>&1 &
		QEMU_PIDS+=($!)
		echo "$!" >>"$TMP/bare.pids"
	done
	BARE= LOGIN=
	for _ in $(seq 1 3000); do
		left_b=0 left_l=0
		for k in $(seq 1 "$n"); do
			if [ -z "${done_b[$k]:-}" ]; then
				if banner "${ports[$((k - 1))]}"; then done_b[$k]=1; else left_b=1; fi
			fi
			if [ -z "${done_l[$k]:-}" ]; then
				if grep -q "login:" "$TMP/bare-$k.console" 2>/dev/null; then done_l[$k]=1; else left_l=1; fi
			fi
		done
		[ "$left_b" = 0 ] && [ -z "$BARE" ] && BARE=$(diff2 "$t0" "$(now)")
		[ "$left_l" = 0 ] && [ -z "$LOGIN" ] && LOGIN=$(diff2 "$t0" "$(now)")
		[ -n "$BARE" ] && [ -n "$LOGIN" ] && break
		sleep 0.2
	done
	stop_qemus
	[ -n "$BARE" ] || die "the bare boot of $n never answered ssh"
}

# ---- (b) rain provision run ----
# first_line LOG CMD...: FIRST = seconds until CMD printed N lines "first*"
# on stdout (N = $want), TOTAL = until it ended
first_line() {
	local log=$1 t0 pid
	shift
	t0=$(now)
	FIRST= TOTAL=
	# stderr through a reader that puts the seconds since t0 before each line
	: >"$log"
	"$@" >"$log" 2> >(while IFS= read -r l; do echo "$(diff2 "$t0" "$(now)") $l"; done >"$log.err") &
	pid=$!
	BANNER= ports=()
	while kill -0 "$pid" 2>/dev/null; do
		if [ -z "$FIRST" ] && [ "$(grep -c '^\(\[[^]]*\] \)\{0,1\}first' "$log")" -ge "$want" ]; then
			FIRST=$(diff2 "$t0" "$(now)")
		fi
		if [ -z "$BANNER" ] && [ "${#ports[@]}" -lt "$want" ]; then
			mapfile -t ports < <(python3 -c 'import json,sys
for i in json.load(open(sys.argv[1])).get("instances", []): print(i["ssh"]["port"])' "$TMP/st.json" 2>/dev/null)
		fi
		if [ -z "$BANNER" ] && [ "${#ports[@]}" -ge "$want" ] && banners_all "${ports[@]}"; then
			BANNER=$(diff2 "$t0" "$(now)")
		fi
		sleep 0.05
	done
	wait "$pid" || { tail -5 "$log.err" >&2; die "$* failed"; }
	TOTAL=$(diff2 "$t0" "$(now)")
	[ -n "$FIRST" ] || FIRST=$TOTAL
	sleep 0.5       # the stderr reader's last lines
	# pre: until the last "started" line (the domain resumed)
	PRE=$(awk '/libvirt: started/ { t = $1 } END { print t }' "$log.err")
	POST=$([ -n "$BANNER" ] && diff2 "$BANNER" "$FIRST")
}
# banners_all PORT...: whether every sshd answers (each asked once)
declare -A answered
banners_all() {
	local p all=0
	for p in "$@"; do
		[ -n "${answered[$p]:-}" ] && continue
		if banner "$p"; then answered[$p]=1; else all=1; fi
	done
	return "$all"
}
prov() {
	local rc=0
	rm -f "$TMP/st.json"
	"$RAIN" provision run --sites "$TMP/sites.ini" --site lv --registration "$TMP/reg.json" \
		--state "$TMP/st.json" --work "$TMP/runwork" --ready-timeout 1800 -n "$1" ${2:+--each} -- echo first || rc=$?
	# BENCH_KEEP=DIR: keep the consoles, to see where the boots spend their time
	if [ -n "${BENCH_KEEP:-}" ]; then
		mkdir -p "$BENCH_KEEP" && cp "$TMP"/bare-*.console "$TMP"/runwork/*.console "$BENCH_KEEP"/ 2>/dev/null
	fi
	return "$rc"
}

printf '%-22s %8s %8s %8s %6s %6s %6s\n' step first total login pre post load
for r in $(seq 1 "$runs"); do
	for n in 1 2; do
		# side by side: the bare boot in a subshell of its own
		rm -f "$TMP/bare.res"
		(bare "$n" && echo "$BARE $LOGIN" >"$TMP/bare.res") &
		bare_pid=$!
		want=$n
		answered=()
		first_line "$TMP/prov.out" prov "$n" $([ "$n" -gt 1 ] && echo each)
		wait "$bare_pid"
		read -r BARE LOGIN <"$TMP/bare.res" || die "the bare boot of $n did not end"
		printf '%-22s %8s %8s %8s %6s %6s %6s\n' "bare qemu N=$n" "$BARE" - "$LOGIN" - - "$(load)"
		printf '%-22s %8s %8s %8s %6s %6s %6s\n' "provision run N=$n" "$FIRST" "$TOTAL" - "$PRE" \
			"${POST:--}" "$(load)"
		echo "bare $n $BARE" >>"$TMP/measures"
		echo "prov $n $FIRST $TOTAL $PRE ${POST:-nan} $(diff2 "$BARE" "$FIRST")" >>"$TMP/measures"
	done
done
echo "# medians (seconds)"
for n in 1 2; do
	b=$(awk -v n=$n '$1 == "bare" && $2 == n { print $3 }' "$TMP/measures" | median)
	p=$(awk -v n=$n '$1 == "prov" && $2 == n { print $3 }' "$TMP/measures" | median)
	t=$(awk -v n=$n '$1 == "prov" && $2 == n { print $4 }' "$TMP/measures" | median)
	pre=$(awk -v n=$n '$1 == "prov" && $2 == n { print $5 }' "$TMP/measures" | median)
	post=$(awk -v n=$n '$1 == "prov" && $2 == n && $6 != "nan" { print $6 }' "$TMP/measures" | median)
	d=$(awk -v n=$n '$1 == "prov" && $2 == n { print $7 }' "$TMP/measures" | median)
	echo "N=$n: bare boot to sshd $b s; rain provision run to first output $p s (ended $t s), side by side; rain adds $d s (paired; goal <= 2 s; ratio $(python3 -c "print(f'{$p / $b:.2f}')")); rain's own steps: pre $pre s + post ${post:-?} s"
done
