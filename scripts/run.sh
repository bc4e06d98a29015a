#!/bin/bash
# The main job on the embedded defaults: install the packages, build rain,
# start raind with no configuration at all (default data directory, port
# 9292, a generated admin token), then store an image in the repository
# with the rain CLI, list it, fetch it back and verify its checksum.
#
#   scripts/run.sh          run the demo and stop raind afterwards
#   scripts/run.sh --keep   leave raind running for you to use
set -euo pipefail
cd "$(dirname "$0")/.."
keep=${1:-}

bash scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

data_dir=$( [ "$(id -u)" -eq 0 ] && echo /var/lib/rain || echo "${XDG_DATA_HOME:-$HOME/.local/share}/rain" )
log=$(mktemp -t raind.XXXXXX.log)
build/src/daemon/raind 2>"$log" &
pid=$!
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
[ "$keep" = --keep ] || trap stop EXIT
for _ in $(seq 1 100); do
	curl -sf http://127.0.0.1:9292/healthz >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
	sleep 0.1
done
echo "raind is up on http://127.0.0.1:9292 (pid $pid, data in $data_dir, log $log)"

export RAIN_URL=http://127.0.0.1:9292
RAIN_TOKEN=$(cat "$data_dir/admin-token")
export RAIN_TOKEN
rain=build/src/cli/rain
work=$(mktemp -d)
head -c 64M /dev/urandom >"$work/demo.raw"
name=demo-$(date +%s)
$rain image put "$work/demo.raw" --name "$name" --disk-format raw \
	--property os_distro=debian --property os_version=12 --property architecture=x86_64
$rain image list --name "$name"
$rain image show "$name"
$rain image get "$name" -o "$work/back.raw"
if cmp -s "$work/demo.raw" "$work/back.raw"; then
	echo "round trip OK: $(sha256sum <"$work/back.raw" | cut -c1-64)"
else
	echo "round trip FAILED: the downloaded data differs" >&2
	exit 1
fi
rm -rf "$work"
if [ "$keep" = --keep ]; then
	echo "raind keeps running (pid $pid). Try:"
	echo "  export RAIN_URL=$RAIN_URL RAIN_TOKEN=\$(cat $data_dir/admin-token)"
	echo "  $rain image list"
fi
