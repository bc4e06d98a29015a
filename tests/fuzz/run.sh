#!/bin/bash
# Build the libFuzzer harnesses in tests/fuzz and run each for a bounded
# time.  Usage: tests/fuzz/run.sh [BUILD_DIR]   (default: build-fuzz)
# Environment: FUZZ_SECONDS per harness (default 30), CC (default clang).
# Exits non-zero when a harness fails to build or finds a crash; crash
# artifacts and logs go to BUILD_DIR, never into the source tree.
set -u -o pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
root=$PWD
builddir=${1:-build-fuzz}
case $builddir in
/*) ;;
*) builddir=$root/$builddir ;;
esac
seconds=${FUZZ_SECONDS:-30}
cc=${CC:-clang}
cflags=(-g -O1 "-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=undefined
	-D_GNU_SOURCE -std=gnu11 -Wall -Wextra -Wno-unused-parameter
	-Iinclude -Isrc)
common=(src/util/error.c src/util/strutil.c)

mkdir -p "$builddir" || exit 2

# name:sources:libs
harnesses=(
	"fuzz-qcow2:src/lib/diskfmt.c:"
	"fuzz-jsonpatch:src/lib/jsonpatch.c:-ljansson"
	"fuzz-recipe:src/lib/recipe.c src/lib/image.c src/util/ini.c src/util/fsutil.c src/util/timeutil.c:-ljansson"
)

# --- seed corpora, regenerated in the build dir on every run -------------

# write_hex FILE HEX...: write the bytes given as hex pairs
write_hex() {
	local f=$1
	shift
	printf '%s' "$*" | tr -d ' \n' | xxd -r -p >"$f"
}

be32() { printf '%08x' "$1"; }
be64() { printf '%016x' "$1"; }
zeros() { printf '%0*d' $(($1 * 2)) 0; }

# qcow2_header VERSION CLUSTER_BITS SIZE BACKING_OFF INCOMPAT: hex of a header
qcow2_header() {
	local v=$1 cb=$2 size=$3 boff=$4 incompat=$5
	printf '514649fb%s%s%s%s%s' "$(be32 "$v")" "$(be64 "$boff")" "$(be32 0)" \
		"$(be32 "$cb")" "$(be64 "$size")"
	# crypt_method l1_size l1_table_offset refcount_table_offset
	# refcount_table_clusters nb_snapshots snapshots_offset
	printf '%s%s%s%s%s%s%s' "$(be32 0)" "$(be32 1)" "$(be64 $((3 << cb)))" \
		"$(be64 $((1 << cb)))" "$(be32 1)" "$(be32 0)" "$(be64 0)"
	if [ "$v" = 3 ]; then
		# incompatible compatible autoclear refcount_order header_length
		printf '%s%s%s%s%s%s' "$(be64 "$incompat")" "$(be64 0)" "$(be64 0)" \
			"$(be32 4)" "$(be32 112)" "$(zeros 8)"
	fi
}

# ext TYPE STRING: hex of a header extension, padded to 8
ext() {
	local data len pad
	data=$(printf '%s' "$2" | xxd -p | tr -d '\n')
	len=${#2}
	pad=$(((8 - len % 8) % 8))
	printf '%s%s%s%s' "$(be32 "$1")" "$(be32 "$len")" "$data" "$(zeros "$pad")"
}

seed_qcow2() {
	local d=$1
	write_hex "$d/v2" "$(qcow2_header 2 16 $((1 << 30)) 0 0)" "$(zeros 8)"
	write_hex "$d/v3" "$(qcow2_header 3 16 $((3 << 30)) 0 0)" \
		"$(ext $((0xe2792aca)) qcow2)" "$(zeros 8)"
	write_hex "$d/v3-small-cluster" "$(qcow2_header 3 9 4096 0 0)" "$(zeros 8)"
	write_hex "$d/v3-backing" "$(qcow2_header 3 16 $((1 << 30)) 120 0)" \
		"$(zeros 8)" "$(printf '/etc/passwd' | xxd -p)"
	write_hex "$d/v3-datafile-bit" "$(qcow2_header 3 16 $((1 << 30)) 0 4)" \
		"$(ext $((0x44415441)) /tmp/d.raw)" "$(zeros 8)"
	write_hex "$d/v3-datafile-ext" "$(qcow2_header 3 16 $((1 << 30)) 0 0)" \
		"$(ext $((0x6803f857)) 'dirty bit')" "$(ext $((0x44415441)) x)" "$(zeros 8)"
	write_hex "$d/vmdk" "$(printf KDMV | xxd -p)" "$(zeros 60)"
	printf '# Disk DescriptorFile\nversion=1\nRW 2048 FLAT "x" 0\n' >"$d/vmdk-desc"
	write_hex "$d/vhdx" "$(printf vhdxfile | xxd -p)" "$(zeros 56)"
	write_hex "$d/vdi" "$(zeros 64)" 7f10dabe "$(zeros 60)"
	write_hex "$d/raw" "$(zeros 512)"
}

seed_jsonpatch() {
	local d=$1
	printf '%s' '[{"op":"replace","path":"/name","value":"x"}]' >"$d/replace"
	printf '%s' '[{"op":"add","path":"/tags","value":["a","b"]},{"op":"remove","path":"/os_distro"}]' >"$d/add-remove"
	printf '%s' '[{"op":"add","path":"/a~1b~0c","value":{"k":[1,2.5,null,true]}}]' >"$d/escapes"
	printf '%s' '[{"op":"move","from":"/a","path":"/b"}]' >"$d/move"
	printf '%s' '[]' >"$d/empty"
	printf '%s' '{"op":"replace"}' >"$d/not-array"
}

# --- build and run ---------------------------------------------------------

status=0
for h in "${harnesses[@]}"; do
	IFS=: read -r name srcs libs <<<"$h"
	exe=$builddir/$name
	log=$builddir/$name.log
	# shellcheck disable=SC2086
	if ! "$cc" "${cflags[@]}" -o "$exe" "tests/fuzz/$name.c" $srcs "${common[@]}" $libs \
		>"$builddir/$name.build.log" 2>&1; then
		echo "FAIL $name (build failed, see $builddir/$name.build.log)"
		status=1
		continue
	fi

	corpus=$builddir/corpus-${name#fuzz-}
	seeds=$builddir/seeds-${name#fuzz-}
	rm -rf "$seeds"
	mkdir -p "$corpus" "$seeds" "$builddir/artifacts-$name"
	case $name in
	fuzz-qcow2) seed_qcow2 "$seeds" ;;
	fuzz-jsonpatch) seed_jsonpatch "$seeds" ;;
	fuzz-recipe) cp examples/*.recipe "$seeds"/ ;;
	esac

	"$exe" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
		-max_len=$((65536 + 1024)) -print_final_stats=1 \
		-artifact_prefix="$builddir/artifacts-$name/" \
		"$corpus" "$seeds" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "PASS $name (${runs:-?} runs)"
	else
		crash=$(find "$builddir/artifacts-$name" -type f -newer "$exe" | head -n 1)
		echo "FAIL $name (exit $rc after ${runs:-?} runs; log $log${crash:+, input $crash})"
		status=1
	fi
done
exit "$status"
