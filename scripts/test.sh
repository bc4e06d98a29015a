#!/bin/bash
# Build rain with AddressSanitizer + UndefinedBehaviorSanitizer and run every
# test: unit tests (cmocka), integration tests (a real raind on loopback),
# and the parser fuzzers for a bounded time. Ends with "N passed, N failed".
#
#   scripts/test.sh              everything
#   scripts/test.sh t0010        only integration tests matching a pattern
# Environment: FUZZ_SECONDS (default 20 per fuzzer; they run one per core,
# FUZZ_JOBS), RAIN_NO_INSTALL=1 to skip the package check,
# BUILD (default build-asan).
set -uo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
BUILD=${BUILD:-build-asan}
only=${1:-}

[ "${RAIN_NO_INSTALL:-}" = 1 ] || bash scripts/install-deps.sh || exit 1

if [ ! -d "$BUILD" ]; then
	meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug >/dev/null || { echo "meson setup failed"; exit 1; }
fi
ninja -C "$BUILD" >"$BUILD.log" 2>&1 || { tail -40 "$BUILD.log"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
failures=()

count() { # count NAME STATUS
	if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

if [ -z "$only" ]; then
	# the optimizer finds warnings (-Werror) that a debug build does not
	echo "== optimized build"
	[ -d build-opt ] || meson setup build-opt -Dbuildtype=release >/dev/null
	if ninja -C build-opt >build-opt.log 2>&1; then
		echo "ok - release build (-O3 -Werror)"
		count "release build" 0
	else
		echo "not ok - release build (-O3 -Werror)"; grep -E "error|FAILED" build-opt.log | head -20 | sed 's/^/#   /'
		count "release build" 1
	fi
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
# leaks inside other projects' libraries (libedit) are not rain's
export LSAN_OPTIONS=suppressions=$TOP/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

if [ -z "$only" ]; then
	echo "== unit tests"
	for t in "$BUILD"/tests/unit/test-*; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		name=$(basename "$t")
		# a hung test fails instead of holding the suite
		if out=$(timeout 600 "$t" 2>&1); then
			echo "ok - $name ($(grep -c '^\[       OK \]' <<<"$out") cases)"
			count "$name" 0
		else
			echo "not ok - $name"; sed 's/^/#   /' <<<"$out" | tail -30
			count "$name" 1
		fi
	done
fi

echo "== integration tests"
for t in tests/integration/t[0-9]*.sh; do
	case $t in *"$only"*) ;; *) continue ;; esac
	name=$(basename "$t" .sh)
	start=$(date +%s)
	BUILD=$TOP/$BUILD bash "$t" >"$TOP/$BUILD/$name.out" 2>&1
	rc=$?
	n_ok=$(grep -c '^ok ' "$TOP/$BUILD/$name.out")
	n_bad=$(grep -c '^not ok ' "$TOP/$BUILD/$name.out")
	if [ $rc -eq 0 ] && [ "$n_bad" -eq 0 ]; then
		echo "ok - $name ($n_ok checks, $(( $(date +%s) - start ))s)"
		count "$name" 0
	else
		echo "not ok - $name (exit $rc, $n_bad of $((n_ok + n_bad)) checks failed)"
		grep -v '^ok ' "$TOP/$BUILD/$name.out" | sed 's/^/#   /' | tail -40
		count "$name" 1
	fi
done

if [ -z "$only" ]; then
	echo "== fuzzers (${FUZZ_SECONDS:-20}s each)"
	if out=$(FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash tests/fuzz/run.sh "$TOP/build-fuzz" 2>&1); then
		rc=0
	else
		rc=1
	fi
	grep -E '^(PASS|FAIL)' <<<"$out"
	n_pass=$(grep -c '^PASS' <<<"$out")
	n_fail=$(grep -c '^FAIL' <<<"$out")
	passed=$((passed + n_pass))
	failed=$((failed + n_fail))
	if [ $rc -ne 0 ] && [ "$n_fail" -eq 0 ]; then
		echo "$out" | tail -20
		count "fuzz build" 1
	fi
fi

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
