#!/bin/bash
# raind on a PostgreSQL catalog (catalog = postgresql:... in [storage]),
# against a throwaway server (initdb + pg_ctl as user postgres, unix socket
# only, fsync on): the Glance v2 API creates, uploads, lists, downloads
# and deletes with the rows in PostgreSQL and no SQLite file; a kill -9 of
# raind mid-upload keeps every committed image and leaves the interrupted
# one not active; a server restart under raind costs no failed request; a
# newer schema and an unreachable server stop raind with a clear error.
# Then rain-admin migrate copies an SQLite catalog that raind filled
# (users, tokens, images with properties and tags, members, audit) to
# PostgreSQL: counts per table equal on both ends, a second copy is
# refused unless --replace, and raind on the copy serves the same images,
# data and the users' existing tokens.
source "$(dirname "$0")/lib.sh"
cd "$TMP" || exit 1

if [ "$(id -u)" != 0 ] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v psql >/dev/null; then
	echo "ok 1 # SKIP needs root (the server runs as user postgres) and PostgreSQL (postgresql)"
	exit 0
fi
ADMIN_TOOL=$BUILD/src/admin/rain-admin
start_postgres || { not_ok "start PostgreSQL"; test_done; }
pg_sql postgres "CREATE DATABASE rain" >/dev/null
pg_sql postgres "CREATE DATABASE copy" >/dev/null
URI="${PG_URI_BASE/DB/rain}"
printf '[storage]\ncatalog = %s\n' "$URI" >"$TMP/pg.ini"
export RAIN_ADMIN_PASSWORD=t0181-admin-password

# ---- the Glance v2 API over PostgreSQL
raind_start -c "$TMP/pg.ini" || { not_ok "raind starts on a postgresql: catalog"; test_done; }
ok "raind starts on a postgresql: catalog"
check "no SQLite catalog in the data folder" [ ! -e "$DATA/catalog.db" ]
check_eq "schema version 10 recorded" 10 "$(pg_sql rain 'SELECT version FROM rain_schema')"
head -c 300000 /dev/urandom >"$TMP/a.bin"
SUM=$(sha256sum "$TMP/a.bin" | cut -d' ' -f1)
A=$(create_image pg-a '"tags":["t1"],"os_distro":"debian"')
B=$(create_image pg-b)
check_eq "upload A is 204" 204 "$(upload "$A" "$TMP/a.bin")"
check_eq "upload B is 204" 204 "$(upload "$B" "$TMP/a.bin")"
call GET "/v2/images?os_distro=debian"
check_json "a filtered list finds A only" "[i['id'] for i in j['images']] == ['$A']"
call GET "/v2/images?sort=name:asc"
check_json "the list has A and B, sorted by name" "[i['name'] for i in j['images']] == ['pg-a', 'pg-b']"
check_eq "A's row in PostgreSQL: active with its hash" "active|$SUM" \
	"$(pg_sql rain "SELECT status, os_hash_value FROM images WHERE id = '$A'")"
check_eq "A's tag and property rows" "t1 os_distro=debian" \
	"$(pg_sql rain "SELECT (SELECT string_agg(tag, ',') FROM image_tags WHERE image_id = '$A') || ' ' ||
		(SELECT string_agg(name || '=' || value, ',') FROM image_properties WHERE image_id = '$A')")"
call DELETE "/v2/images/$B"
check_status "delete B" 204
call GET "/v2/images/$B"
check_status "B is gone" 404
curl -sS -o "$TMP/a.out" -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$A/file"
check_eq "A downloads intact" "$SUM" "$(sha256sum "$TMP/a.out" | cut -d' ' -f1)"
check "the audit log is in PostgreSQL" [ "$(pg_sql rain "SELECT count(*) FROM audit")" -gt 0 ]

# ---- kill -9 mid-upload: committed data stays
C=$(create_image pg-c)
# an upload that sends 1 MB of 5 and then waits (until killed)
python3 - "$PORT" "$TOKEN" "$C" <<'PY' &
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("PUT /v2/images/%s/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: %s\r\n"
           "Content-Type: application/octet-stream\r\nContent-Length: 5000000\r\n\r\n"
           % (sys.argv[3], sys.argv[2])).encode())
s.sendall(os.urandom(1000000))
time.sleep(60)
PY
UPLOADER=$!
for _ in $(seq 1 200); do
	[ "$(pg_sql rain "SELECT status FROM images WHERE id = '$C'")" = saving ] && break
	sleep 0.1
done
check_eq "C is saving while its upload runs" saving "$(pg_sql rain "SELECT status FROM images WHERE id = '$C'")"
raind_stop KILL
kill "$UPLOADER" 2>/dev/null
wait_bg
raind_start -c "$TMP/pg.ini" || { not_ok "raind restarts after kill -9"; test_done; }
call GET "/v2/images/$A"
check_json "A survives kill -9 (active, same hash)" "j['status'] == 'active' and j['os_hash_value'] == '$SUM'"
call GET "/v2/images/$C"
check_json "the interrupted C is not active after the restart" "j['status'] != 'active'"
curl -sS -o "$TMP/a2.out" -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$A/file"
check_eq "A still downloads intact" "$SUM" "$(sha256sum "$TMP/a2.out" | cut -d' ' -f1)"

# ---- the server restarts under raind: the pool reconnects
setpriv --reuid=postgres --regid="$(id -g postgres)" --init-groups \
	"$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w restart -o "-k $PG_SOCK -c listen_addresses=''" \
	>>"$TMP/postgres.log" 2>&1
check_eq "raind lists after a PostgreSQL restart (200, first request)" 200 "$(status_of GET /v2/images)"
call GET "/v2/images/$A"
check_json "... and reads A" "j['status'] == 'active'"

# ---- errors that stop raind
raind_stop
pg_sql rain "UPDATE rain_schema SET version = 99"
raind_start -c "$TMP/pg.ini" >/dev/null 2>&1
check "raind refuses a newer schema" grep -q "schema version 99, newer than this raind knows (10)" "$TMP/raind.log"
raind_stop
pg_sql rain "UPDATE rain_schema SET version = 9"
printf '[storage]\ncatalog = postgresql:///rain?host=%s/nowhere&user=rain\n' "$TMP" >"$TMP/bad.ini"
raind_start -c "$TMP/bad.ini" >/dev/null 2>&1
check "an unreachable server is a clear error" grep -q "cannot connect to PostgreSQL at $TMP/nowhere:5432/rain" "$TMP/raind.log"
raind_stop

# ---- rain-admin migrate from an SQLite catalog that raind filled
DATA=$TMP/sq
raind_start || { not_ok "raind starts on SQLite"; test_done; }
for u in alice bob; do
	call POST /rain/v1/users -H 'Content-Type: application/json' \
		-d "{\"name\":\"$u\",\"password\":\"$u-password\",\"role\":\"user\",\"status\":\"active\"}"
done
ALICE=$(token_of alice alice-password)
check "alice has a token" [ -n "$ALICE" ]
for i in 1 2 3; do
	I=$(create_image "sq-$i" "\"tags\":[\"n$i\"],\"hw_disk_bus\":\"virtio\",\"visibility\":\"shared\"")
	upload "$I" "$TMP/a.bin" >/dev/null
	call POST "/v2/images/$I/members" -H 'Content-Type: application/json' -d '{"member":"bob"}'
done
token_of nobody wrong >/dev/null
call GET "/v2/images?sort=name:asc"
printf '%s' "$BODY" | python3 -c 'import json,sys; print(sorted((i["id"], i["name"], i["os_hash_value"], tuple(i["tags"])) for i in json.load(sys.stdin)["images"]))' >"$TMP/before.txt"
raind_stop
SQ="sqlite:$DATA/catalog.db"
COPY="${PG_URI_BASE/DB/copy}"
"$ADMIN_TOOL" migrate "$SQ" "$COPY" >"$TMP/migrate.out" 2>&1
rc=$?
sed 's/^/# /' "$TMP/migrate.out"
check_eq "rain-admin migrate exits 0" 0 "$rc"
check "it says the copy was verified" grep -q "counts and contents verified" "$TMP/migrate.out"
for t in images image_properties image_tags users tokens image_members audit login_failures charges registrations; do
	n_sq=$(sqlite3 "$DATA/catalog.db" "SELECT count(*) FROM $t")
	check_eq "table $t: $n_sq rows on both ends" "$n_sq" "$(pg_sql copy "SELECT count(*) FROM $t")"
done
check "the source had rows in the tables that matter" [ "$(sqlite3 "$DATA/catalog.db" \
	"SELECT min(n) FROM (SELECT count(*) n FROM images UNION ALL SELECT count(*) FROM image_members
	 UNION ALL SELECT count(*) FROM tokens UNION ALL SELECT count(*) FROM audit
	 UNION ALL SELECT count(*) FROM login_failures)")" -gt 0 ]
check_eq "the audit log's ids are kept" \
	"$(sqlite3 "$DATA/catalog.db" "SELECT group_concat(id || ':' || path, ',') FROM (SELECT id, path FROM audit ORDER BY id)")" \
	"$(pg_sql copy "SELECT string_agg(id || ':' || path, ',' ORDER BY id) FROM audit")"
"$ADMIN_TOOL" migrate "$SQ" "$COPY" >"$TMP/again.out" 2>&1
rc=$?
check_eq "a second copy into the filled catalog fails (exit 1)" 1 "$rc"
check "... saying the destination is not empty" grep -q "is not empty (table images has rows).*--replace" "$TMP/again.out"
"$ADMIN_TOOL" migrate --replace "$SQ" "$COPY" >"$TMP/replace.out" 2>&1
check_eq "--replace copies again (exit 0)" 0 "$?"
check_eq "... without doubling rows" "$(sqlite3 "$DATA/catalog.db" 'SELECT count(*) FROM images')" \
	"$(pg_sql copy 'SELECT count(*) FROM images')"
"$ADMIN_TOOL" migrate "$TMP/none.db" "$COPY" >"$TMP/none.out" 2>&1
check_eq "a missing source fails (exit 1)" 1 "$?"
check "... saying so" grep -q "no SQLite catalog at $TMP/none.db" "$TMP/none.out"
"$ADMIN_TOOL" migrate "$COPY" "$SQ" >"$TMP/rev.out" 2>&1
check_eq "PostgreSQL to SQLite is refused" 1 "$?"

printf '[storage]\ncatalog = %s\n' "$COPY" >"$TMP/copy.ini"
raind_start -c "$TMP/copy.ini" || { not_ok "raind starts on the copy"; test_done; }
call GET "/v2/images?sort=name:asc"
printf '%s' "$BODY" | python3 -c 'import json,sys; print(sorted((i["id"], i["name"], i["os_hash_value"], tuple(i["tags"])) for i in json.load(sys.stdin)["images"]))' >"$TMP/after.txt"
check "raind on the copy lists the same images, hashes and tags" cmp "$TMP/before.txt" "$TMP/after.txt"
I=$(python3 -c 'import ast,sys; print(ast.literal_eval(open(sys.argv[1]).read())[0][0])' "$TMP/after.txt")
curl -sS -o "$TMP/c.out" -H "X-Auth-Token: $TOKEN" "$URL/v2/images/$I/file"
check_eq "an image's data downloads from the copy" "$SUM" "$(sha256sum "$TMP/c.out" | cut -d' ' -f1)"
check_eq "alice's token from before the copy still works" 200 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $ALICE" "$URL/v2/images")"
check_eq "bob is still a member of $I" bob "$(call GET "/v2/images/$I/members"; printf '%s' "$BODY" | python3 -c 'import json,sys; print(",".join(m["member_id"] for m in json.load(sys.stdin)["members"]))')"
check "bob logs in with his password" [ -n "$(token_of bob bob-password)" ]
NEW=$(create_image after-copy)
check "raind writes to the copy" [ -n "$NEW" ]
check "a new audit entry numbers after the copied ones" [ "$(pg_sql copy 'SELECT count(*) FROM audit')" = \
	"$(pg_sql copy 'SELECT max(id) FROM audit')" ]
raind_stop
test_done
