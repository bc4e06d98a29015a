#!/bin/bash
# A TEST STAND-IN FOR A NODE'S BMC (baseboard management controller), not
# part of rain: the power_on, power_off and power_status programs of the
# netboot site in t0163 (rain-site(5)), which a real site sets to ipmitool
# or redfish commands. Each "node" is a diskless qemu VM netbooted over
# qemu user networking (iPXE ROM, the node's MAC, DHCP's boot file the
# site's boot.ipxe), its sshd forwarded to a port on 127.0.0.1; "power"
# starts and stops that qemu by its pid file.
#
#   netboot-power-qemu.sh on|off|status DIR NODE MAC
#
# DIR (the test's) holds boot_url (the site's boot.ipxe URL), tftp (the
# site's TFTP folder), NODE.port (the sshd's forwarded port) and, made
# here, NODE.pid and NODE.console (a line of its own, then the serial
# console). on: start the VM
# (nothing when it runs); off: stop it (TERM, then KILL after 20 s;
# nothing when it is off); status: exit 0 when it runs, 1 when not.
set -u
[ $# -eq 4 ] || { echo "usage: $0 on|off|status DIR NODE MAC" >&2; exit 2; }
cmd=$1 dir=$2 node=$3 mac=$4
pidf=$dir/$node.pid

# the VM's pid when it runs (a pid reused by another program is not it)
running() {
	local pid
	pid=$(cat "$pidf" 2>/dev/null) || return 1
	[ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "mac=$mac" || return 1
	echo "$pid"
}

case $cmd in
on)
	running >/dev/null && exit 0
	port=$(cat "$dir/$node.port") || exit 1
	rm -f "$pidf"
	# the console log starts with a line of the BMC's, as a console
	# server's log does; the VM's serial console is appended to it
	echo "[netboot-power-qemu: $node ($mac) powered on]" >"$dir/$node.console"
	# -no-reboot: a node whose boot fails (its initramfs reboots) is off
	qemu-system-x86_64 -machine accel=tcg -m "${NODE_MEM:-1536}" -smp 1 -display none -monitor none \
		-no-reboot -daemonize -pidfile "$pidf" \
		-netdev "user,id=n0,tftp=$(cat "$dir/tftp"),bootfile=$(cat "$dir/boot_url"),hostfwd=tcp:127.0.0.1:$port-:22" \
		-device "virtio-net-pci,netdev=n0,mac=$mac" -boot n \
		-chardev "file,id=con,path=$dir/$node.console,append=on" -serial chardev:con ||
		{ echo "power on $node: qemu did not start" >&2; exit 1; }
	echo "power on $node: qemu $(cat "$pidf")"
	;;
off)
	pid=$(running) || { rm -f "$pidf"; exit 0; }
	kill -TERM "$pid"
	for _ in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$pidf"
	echo "power off $node"
	;;
status)
	running >/dev/null
	;;
*)
	echo "$0: '$cmd' is none of on, off, status" >&2
	exit 2
	;;
esac
