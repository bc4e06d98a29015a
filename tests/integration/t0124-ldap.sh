#!/bin/bash
# LDAP authentication against a real slapd started here: a directory user
# logs in with the Keystone password method and is made a local user at
# the first login; a wrong password, an unknown user and an unreachable
# directory get 401; local users keep their own passwords.
source "$(dirname "$0")/lib.sh"

if ! command -v slapd >/dev/null && [ ! -x /usr/sbin/slapd ]; then
	echo "ok 1 # SKIP needs slapd"
	test_done
fi
SLAPD=$(command -v slapd || echo /usr/sbin/slapd)
LPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$TMP/ldapdb"
cat >"$TMP/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $TMP/slapd.pid
database mdb
suffix "dc=rain,dc=test"
rootdn "cn=admin,dc=rain,dc=test"
rootpw ldap-root-password
directory $TMP/ldapdb
CONF
"$SLAPD" -f "$TMP/slapd.conf" -h "ldap://127.0.0.1:$LPORT/" -u "$(id -un)" >"$TMP/slapd.log" 2>&1
for _ in $(seq 1 100); do [ -s "$TMP/slapd.pid" ] && break; sleep 0.05; done
stop_slapd() { [ -s "$TMP/slapd.pid" ] && kill "$(cat "$TMP/slapd.pid")" 2>/dev/null; rm -f "$TMP/slapd.pid"; }
trap 'stop_slapd; cleanup' EXIT
check "slapd starts" test -s "$TMP/slapd.pid"
hash=$(slappasswd -s lena-ldap-password)
cat >"$TMP/people.ldif" <<LDIF
dn: dc=rain,dc=test
objectClass: dcObject
objectClass: organization
o: rain test
dc: rain

dn: ou=people,dc=rain,dc=test
objectClass: organizationalUnit
ou: people

dn: uid=lena,ou=people,dc=rain,dc=test
objectClass: inetOrgPerson
uid: lena
cn: Lena
sn: Test
userPassword: $hash

dn: uid=mia,ou=people,dc=rain,dc=test
objectClass: inetOrgPerson
uid: mia
cn: Mia
sn: Test
userPassword: $hash
LDIF
for _ in $(seq 1 50); do
	ldapadd -x -H "ldap://127.0.0.1:$LPORT" -D "cn=admin,dc=rain,dc=test" -w ldap-root-password \
		-f "$TMP/people.ldif" >"$TMP/ldapadd.out" 2>&1 && break
	sleep 0.1
done
check "the directory holds lena" grep -q 'adding new entry "uid=lena' "$TMP/ldapadd.out"

printf '[auth]\nldap_url = ldap://127.0.0.1:%s\nldap_user_dn = uid={user},ou=people,dc=rain,dc=test\n' "$LPORT" \
	>"$TMP/raind.ini"
export RAIN_ADMIN_PASSWORD=t0124-admin-password
raind_start --config "$TMP/raind.ini" || exit 1
unset RAIN_ADMIN_PASSWORD

call GET /rain/v1/users/lena
check_status "lena is no local user before her first login" 404
LENA=$(token_of lena lena-ldap-password)
check "lena logs in with her directory password" test -n "$LENA"
check_eq "her token works" 200 "$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $LENA" "$URL/v2/images")"
call GET /rain/v1/users/lena
check_status "her first login made her a local user" 200
check_json "active, role user, default quota, no password kept" \
	'j["status"] == "active" and j["role"] == "user" and j["quota_bytes"] == 8 << 30 and "password" not in json.dumps(j)'
check_eq "a wrong directory password is refused" "" "$(token_of lena wrong-password)"
check_eq "an unknown user is refused" "" "$(token_of nobody lena-ldap-password)"
check_eq "a user name cannot smuggle a DN" "" "$(token_of 'lena,ou=people' lena-ldap-password)"
# names follow raind's one rule: case-folded, and no spaces
check "LENA logs in as lena" test -n "$(token_of LENA lena-ldap-password)"
check "MIA's first login makes user mia" test -n "$(token_of MIA lena-ldap-password)"
call GET /rain/v1/users
check_json "one lena, one mia, no upper-case names" \
	'sorted(u["name"] for u in j["users"]) == ["admin", "lena", "mia"]'
check_eq "' mia' (a leading space) is refused" "" "$(token_of ' mia' lena-ldap-password)"
check "the admin still logs in with the local password" test -n "$(token_of admin t0124-admin-password)"
check_eq "and not with anything the directory says" "" "$(token_of admin lena-ldap-password)"
call PATCH /rain/v1/users/lena -H 'Content-Type: application/json' -d '{"status":"inactive"}'
check_eq "an inactive lena is refused even with the right password" "" "$(token_of lena lena-ldap-password)"
check_eq "and her old token too" 401 "$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $LENA" "$URL/v2/images")"
call PATCH /rain/v1/users/lena -H 'Content-Type: application/json' -d '{"status":"active"}'
stop_slapd
sleep 0.2
check_eq "with the directory down, lena is refused" "" "$(token_of lena lena-ldap-password)"
check "and raind says the directory cannot be reached" grep -q "login of 'lena': ldap: ldap://127.0.0.1:$LPORT" "$TMP/raind.log"
check "no password is in raind's log" sh -c "! grep -q 'lena-ldap-password' '$TMP/raind.log'"
test_done
