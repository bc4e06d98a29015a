#!/bin/bash
# ironic-bmc-qemu.sh IRONIC_URL BOOT_URL DIR NODE=MAC=SSHPORT ...
#
# A stand-in for the BMCs of an Ironic test's nodes. Ironic's fake-hardware
# driver powers nothing (virtualbmc and sushy-tools, which would let
# Ironic's ipmi or redfish driver power a VM, are not in Debian 12), so this
# watcher plays the machines' part: it polls Ironic for each NODE and, when
# the node is active with an instance_uuid (Ironic deployed it), starts a
# diskless qemu VM with the node's MAC that netboots over qemu's user
# network from Ironic's iPXE (BOOT_URL: boot.ipxe, which chains to the
# node's per-MAC config) with 127.0.0.1:SSHPORT forwarded to its port 22;
# when the node leaves active (undeployed) or carries another instance, the
# VM is stopped. A VM that ends on its own (a panic, a poweroff, killed)
# is not restarted and the node is powered off in Ironic (with
# fake-hardware that only records it), as a BMC would report it; a node
# powered off through Ironic has its VM stopped, and not started again
# while it stays off. Only the nodes named are watched. In DIR: NODE.log (the
# serial console), NODE.pid (the running VM), NODE.instance (the
# instance_uuid it boots for), bmc.log (what was done). TERM/INT stop every
# VM it started and end it. Polls every second.
set -u
IRONIC_URL=$1 BOOT_URL=$2 DIR=$3
shift 3
MEM=${BMC_QEMU_MEM:-1536}

say() { echo "$(date +%T) $*" >>"$DIR/bmc.log"; }

vm_stop() { # NODE
	local pid
	[ -s "$DIR/$1.pid" ] || { rm -f "$DIR/$1.instance"; return 0; }
	pid=$(cat "$DIR/$1.pid")
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	rm -f "$DIR/$1.pid" "$DIR/$1.instance"
	say "$1: stopped its VM (pid $pid)"
}

vm_start() { # NODE MAC PORT INSTANCE
	: >"$DIR/$1.log"
	qemu-system-x86_64 -machine accel=tcg -m "$MEM" -smp 1 -display none -monitor none -no-reboot \
		-boot n -netdev "user,id=n0,bootfile=$BOOT_URL,hostfwd=tcp:127.0.0.1:$3-:22" \
		-device "virtio-net-pci,netdev=n0,mac=$2" -serial "file:$DIR/$1.log" \
		</dev/null >>"$DIR/bmc.log" 2>&1 &
	echo $! >"$DIR/$1.pid"
	echo "$4" >"$DIR/$1.instance"
	say "$1: active for instance $4: started its VM (pid $!, MAC $2, ssh on 127.0.0.1:$3)"
}

stop_all() {
	local spec
	for spec in "$@"; do vm_stop "${spec%%=*}"; done
	say "ended"
	exit 0
}
trap 'stop_all "$@"' TERM INT

mkdir -p "$DIR"
say "watching $* at $IRONIC_URL"
while :; do
	for spec in "$@"; do
		node=${spec%%=*} rest=${spec#*=}
		mac=${rest%=*} port=${rest##*=}
		body=$(curl -sS --max-time 5 -H 'X-OpenStack-Ironic-API-Version: 1.31' \
			"$IRONIC_URL/v1/nodes/$node?fields=provision_state,instance_uuid,power_state" 2>/dev/null) || continue
		state=$(printf '%s' "$body" | sed -n 's/.*"provision_state": *"\([^"]*\)".*/\1/p')
		inst=$(printf '%s' "$body" | sed -n 's/.*"instance_uuid": *"\([^"]*\)".*/\1/p')
		power=$(printf '%s' "$body" | sed -n 's/.*"power_state": *"\([^"]*\)".*/\1/p')
		[ -n "$state" ] || continue
		running=
		if [ -s "$DIR/$node.pid" ]; then
			if kill -0 "$(cat "$DIR/$node.pid")" 2>/dev/null; then running=1; else
				# as a BMC would report it: the node is off
				rm -f "$DIR/$node.pid"
				curl -sS --max-time 5 -X PUT -H 'X-OpenStack-Ironic-API-Version: 1.31' \
					-H 'Content-Type: application/json' -d '{"target": "power off"}' \
					"$IRONIC_URL/v1/nodes/$node/states/power" >/dev/null 2>&1
				say "$node: its VM exited: powered off in Ironic"
			fi
		fi
		if [ "$state" = active ] && [ -n "$inst" ] && [ "$power" = "power off" ]; then
			# powered off through Ironic: the machine goes off, and stays
			[ -z "$running" ] || { vm_stop "$node"; say "$node: powered off in Ironic"; }
		elif [ "$state" = active ] && [ -n "$inst" ]; then
			if [ -n "$running" ] && [ "$(cat "$DIR/$node.instance" 2>/dev/null)" != "$inst" ]; then
				vm_stop "$node"; running=
			fi
			# a VM that exited (a reboot, a crash) is left off: the node is lost
			[ -n "$running" ] || [ -e "$DIR/$node.instance" ] || vm_start "$node" "$mac" "$port" "$inst"
		elif [ -n "$running" ] || [ -e "$DIR/$node.instance" ]; then
			vm_stop "$node"
		fi
	done
	sleep 1 &
	wait $!
done
