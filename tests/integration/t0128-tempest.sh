#!/bin/bash
# OpenStack's own interoperability suite against raind: Tempest's image v2
# API tests (Debian's tempest) with pre-provisioned accounts through raind's
# Keystone v3. Every test passes or is skipped by Tempest for a feature
# raind does not offer, except the ones listed in tempest-known.txt with
# the reason (a deliberate divergence, or a part not built yet): one check
# per test, so a regression names the test.
. "$(dirname "$0")/lib.sh"

if [ ! -x /usr/bin/tempest ]; then
	skip "Tempest's image tests" "/usr/bin/tempest is missing (scripts/install-deps.sh installs it)"
	test_done
fi
KNOWN=$TOP/tests/integration/tempest-known.txt

printf 'admin-password-123\n' >"$TMP/admin.pw"
raind_start --admin-password-file "$TMP/admin.pw" || exit 1
for u in t1 t2 t3; do
	call POST /rain/v1/users -H 'Content-Type: application/json' \
		-d "{\"name\":\"$u\",\"password\":\"$u-password-1\",\"role\":\"user\",\"status\":\"active\"}"
	check_status "admin creates $u for Tempest's accounts" 201
done

W=$TMP/tempest
cd "$TMP" || exit 1      # tempest writes tempest.log where it starts
check "tempest init makes a workspace" env HOME="$HOME" /usr/bin/python3 /usr/bin/tempest init "$W"
{
	for u in t1 t2 t3; do
		printf -- "- username: '%s'\n  project_name: '%s'\n  password: '%s-password-1'\n" "$u" "$u" "$u"
	done
	printf -- "- username: 'admin'\n  project_name: 'admin'\n  password: 'admin-password-123'\n  roles:\n  - 'admin'\n"
} >"$W/etc/accounts.yaml"
cat >"$W/etc/tempest.conf" <<EOT
[DEFAULT]
log_dir = $W/logs
[auth]
use_dynamic_credentials = false
test_accounts_file = $W/etc/accounts.yaml
default_credentials_domain_name = Default
admin_domain_name = Default
[identity]
uri_v3 = $URL/v3
auth_version = v3
v3_endpoint_type = public
[identity-feature-enabled]
api_v2 = false
[service_available]
glance = true
nova = false
neutron = false
cinder = false
swift = false
[image]
endpoint_type = public
[image-feature-enabled]
os_glance_reserved = true
import_image = true
EOT
(cd "$W" && timeout 1200 /usr/bin/python3 /usr/bin/tempest run --concurrency 1 \
	--regex '^tempest\.api\.image\.v2\.') >"$TMP/tempest.out" 2>&1
check "tempest ran the image tests" grep -q '^Totals' "$TMP/tempest.out"

# one line per test: RESULT NAME [REASON]
python3 - "$TMP/tempest.out" >"$TMP/results" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    m = re.match(r"^\{\d+\} (?:setUpClass \()?([\w.]+)\)?(?:\[[^\]]*\])?(?: \[[^\]]*\])? \.\.\. (ok|FAILED|SKIPPED)(?:: (.*))?$", line.rstrip())
    if m:
        print(m.group(2), m.group(1), m.group(3) or "")
PY
check "Tempest ran some fifty image tests" test "$(wc -l <"$TMP/results")" -ge 50
while read -r result name reason; do
	known=$(awk -v n="$name" '$1 == n { $1 = ""; sub(/^ /, ""); print; exit }' "$KNOWN")
	case $result in
	ok) ok "tempest: $name" ;;
	SKIPPED) skip "tempest: $name" "Tempest: $reason" ;;
	*)
		if [ -n "$known" ]; then
			skip "tempest: $name" "$known"
		else
			not_ok "tempest: $name"
			awk -v n="$name" 'index($0, n) && /FAILED/ { p = 1 } p && /Details:|Error|Mismatch/ { print "#   " $0; if (++k == 4) exit }' \
				"$TMP/tempest.out"
		fi ;;
	esac
done <"$TMP/results"
test_done
