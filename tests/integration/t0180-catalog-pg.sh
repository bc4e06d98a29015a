#!/bin/bash
# The catalog conformance suite (tests/unit/test-catalog.c) against a real
# PostgreSQL as well as SQLite: a throwaway server (initdb + pg_ctl as user
# postgres, unix socket only, fsync off: nothing here survives it anyway),
# RAIN_TEST_CATALOGS naming it, every case on a new schema of its own.
# t0181 runs raind on PostgreSQL.
source "$(dirname "$0")/lib.sh"
cd "$TMP" || exit 1

if [ "$(id -u)" != 0 ] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v psql >/dev/null; then
	echo "ok 1 # SKIP needs root (the server runs as user postgres) and PostgreSQL (postgresql)"
	exit 0
fi
start_postgres "-c fsync=off -c synchronous_commit=off" || { not_ok "start PostgreSQL"; test_done; }
pg_sql postgres "CREATE DATABASE rain" >/dev/null
URI="${PG_URI_BASE/DB/rain}"

# ---- the conformance suite, once per backend
export RAIN_TEST_CATALOGS="$URI&options=-csearch_path%3D%s"
"$BUILD/tests/unit/test-catalog" >"$TMP/suite.log" 2>&1
rc=$?
check "conformance suite passes on sqlite and postgresql (exit $rc)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || grep -E "FAILED|ERROR|error" "$TMP/suite.log" | head -20 | sed 's/^/#   /'
check "both backends ran the suite" [ "$(grep -c '^\[==========\] [0-9]* test(s) run\.' "$TMP/suite.log")" = 2 ]
# the cases skipped on postgresql are those that look into the SQLite file
skipped=$(sed -n '/^\[==========\]/h; /^\[  SKIPPED \] test_/p' "$TMP/suite.log" | sort -u | awk '{print $4}' | tr '\n' ' ')
check_eq "only the SQLite file's own cases are skipped" \
	"test_newer_schema_refused test_open_uri test_sqlite_migrate_v5_members test_sqlite_migrate_v6 test_sqlite_migrate_v7 test_sqlite_migrate_v8 " \
	"$skipped"
test_done
