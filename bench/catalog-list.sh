#!/bin/bash
# Filtered image lists over a large catalog (issue 14: 1,000,000 images,
# a filtered list under 5 ms median on both SQLite and PostgreSQL).
#
#   bench/catalog-list.sh [N]    N images (default 1000000); RUNS=50 per query
#
# The bulk path (documented here, not through the API, which would take
# hours for a million images): the catalog is opened once so that rain
# creates its tables, then one INSERT ... SELECT per table generates the
# rows inside the database (SQLite: a recursive CTE through the sqlite3
# shell; PostgreSQL: generate_series through psql), then ANALYZE. Shape:
# owners u0..u999, 10 % public, 2 % queued, three disk formats, sizes up
# to 2 GiB, one os_distro property of ten values and one tag of t0..t99
# per image, one second between creations. The same rows go to both.
# Then bench/catalog-list.c times ten list queries (a page of 25) through
# rain_catalog_image_list on each, and the plans of the PostgreSQL
# queries are printed (EXPLAIN) to show which index each uses.
# Needs root (the throwaway PostgreSQL runs as user postgres); scratch
# space in ${TMPDIR:-/var/tmp} (about 1.5 GB for a million).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
RUNS=${RUNS:-50}
[ "$(id -u)" -eq 0 ] || { echo "bench/catalog-list.sh: run as root" >&2; exit 1; }
[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release >/dev/null
work=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-catbench.XXXXXX")
chmod 0711 "$work"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg=(setpriv --reuid=postgres --regid="$(id -g postgres)" --init-groups env -i PATH=/usr/bin:/bin LC_ALL=C.UTF-8)
stop() {
	[ -f "$work/pg/data/postmaster.pid" ] && "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1
	rm -rf --one-file-system "$work"
}
trap stop EXIT
cc -O2 -D_GNU_SOURCE -Iinclude -Isrc bench/catalog-list.c -o "$work/list" \
	build-release/src/lib/librain.a build-release/src/util/librainutil.a \
	$(pkg-config --libs libarchive ext2fs com_err libsquashfs1 zlib libzstd jansson sqlite3 libpq \
		libcrypto libcurl libargon2 ldap rpm yaml-0.1 libvirt libxml-2.0) -lpthread

mkdir -p "$work/pg/sock" && chown -R postgres "$work/pg" && chmod 0700 "$work/pg"
"${as_pg[@]}" "$pgbin/initdb" -D "$work/pg/data" -U rain --auth=trust -E UTF8 --no-sync >"$work/initdb.log"
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w -o \
	"-k $work/pg/sock -c listen_addresses='' -c shared_buffers=256MB -c synchronous_commit=off" start >/dev/null
psql() { command psql -X -q -v ON_ERROR_STOP=1 -h "$work/pg/sock" -U rain "$@"; }
psql -d postgres -c "CREATE DATABASE rain"
PG="postgresql:///rain?host=$work/pg/sock&user=rain"
SQ="sqlite:$work/catalog.db"
"$work/list" "$PG" 1 >/dev/null     # creates the tables
"$work/list" "$SQ" 1 >/dev/null

# $1: the function making a 12-digit id suffix from integer i
rows_sql() {
	local pad=$1 series=$2 hash=$3
	cat <<SQL
INSERT INTO images (id, name, status, visibility, protected, os_hidden, os_hash_algo, os_hash_value,
    size, virtual_size, disk_format, container_format, min_disk, min_ram, owner, created_at,
    updated_at, download_count, last_access, revision)
  SELECT '00000000-0000-4000-8000-' || $pad, 'img-' || i,
    CASE WHEN i % 50 = 0 THEN 'queued' ELSE 'active' END,
    CASE WHEN i % 10 = 0 THEN 'public' ELSE 'private' END, 0, 0, 'sha512', $hash,
    (i % 2048) * 1048576, NULL, CASE i % 3 WHEN 0 THEN 'qcow2' WHEN 1 THEN 'raw' ELSE 'iso' END,
    'bare', 0, 0, 'u' || (i % 1000), 1700000000000000 + i * 1000000,
    1700000000000000 + i * 1000000, 0, 0, 0 FROM $series;
INSERT INTO image_properties (image_id, name, value, created_at)
  SELECT '00000000-0000-4000-8000-' || $pad, 'os_distro',
    CASE i % 10 WHEN 0 THEN 'debian' WHEN 1 THEN 'ubuntu' WHEN 2 THEN 'fedora' WHEN 3 THEN 'centos'
      WHEN 4 THEN 'alpine' WHEN 5 THEN 'arch' WHEN 6 THEN 'suse' WHEN 7 THEN 'rocky'
      WHEN 8 THEN 'alma' ELSE 'gentoo' END, 1700000000000000 + i * 1000000 FROM $series;
INSERT INTO image_tags (image_id, tag, created_at) SELECT '00000000-0000-4000-8000-' || $pad, 't' || (i % 100),
    1700000000000000 + i * 1000000 FROM $series;
SQL
}
t0=$(date +%s.%N)
{ echo "BEGIN;"; rows_sql "lpad(i::text, 12, '0')" "generate_series(1::bigint, $N) i" "md5(i::text) || md5(i::text)";
  echo "COMMIT; VACUUM ANALYZE;"; } | psql -d rain
t1=$(date +%s.%N)
{ echo "BEGIN;"; rows_sql "printf('%012d', i)" \
	"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $N) SELECT i FROM s)" \
	"printf('%064x', i)"; echo "COMMIT; ANALYZE;"; } | sqlite3 "$work/catalog.db"
t2=$(date +%s.%N)
echo "== $N images (load $(cut -d' ' -f1-3 /proc/loadavg)); fill: PostgreSQL $(echo "$t1 - $t0" | bc) s, SQLite $(echo "$t2 - $t1" | bc) s"
echo "== PostgreSQL 15 ($RUNS runs per query, a page of 25)"
marker=$(printf '00000000-0000-4000-8000-%012d' $((N / 2)))
"$work/list" "$PG" "$RUNS" "$marker"
echo "== SQLite ($RUNS runs per query)"
"$work/list" "$SQ" "$RUNS" "$marker"

echo "== PostgreSQL plans (the SQL catalog-pg.c builds for four of the queries)"
C="i.id, i.name, i.status"
explain() { echo "-- $1"; psql -d rain -At -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) $2" | sed 's/^/   /'; }
explain "admin, newest first" "SELECT $C FROM images i WHERE i.status != 'deleted' AND i.os_hidden = 0
	AND (i.visibility != 'community' OR i.owner = 'admin') ORDER BY i.created_at DESC, i.id DESC LIMIT 26"
explain "u7's view, os_distro=rocky (driven by the property index)" "SELECT $C FROM image_properties p0
	JOIN images i ON i.id = p0.image_id WHERE p0.name = 'os_distro' AND p0.value = 'rocky'
	AND i.status != 'deleted' AND (i.owner = 'u7' OR i.visibility IN ('public', 'community') OR
	(i.visibility = 'shared' AND EXISTS (SELECT 1 FROM image_members m WHERE m.image_id = i.id
	AND m.member = 'u7' AND ('accepted' = 'all' OR m.status = 'accepted'))))
	AND (i.visibility != 'community' OR i.owner = 'u7') AND i.os_hidden = 0
	ORDER BY p0.created_at DESC, p0.image_id DESC LIMIT 26"
explain "owner=u42" "SELECT $C FROM images i WHERE i.status != 'deleted' AND i.os_hidden = 0
	AND i.owner = 'u42' ORDER BY i.created_at DESC, i.id DESC LIMIT 26"
explain "tag t42 (driven by the tag index)" "SELECT $C FROM image_tags p0 JOIN images i ON i.id = p0.image_id
	WHERE p0.tag = 't42' AND i.status != 'deleted' AND i.os_hidden = 0
	ORDER BY p0.created_at DESC, p0.image_id DESC LIMIT 26"
