#!/bin/bash
# Registration in raind, against a real Glance (an openstack site without
# Keystone): sites from raind's configuration (rain site list/show, secrets
# hidden, who may register), rain register through the job engine with
# records in the catalog, the vetting gate (an unvetted image and one that
# failed its policy refused with the failing rules; an admin's override
# written to the audit log; a user's refused), the same image registered
# again returning the earlier registration, deregistration removing the
# image from Glance, a cancel and a kill -9 of raind during a registration
# leaving nothing in Glance, the kernel allow-list, bad requests and a bad
# site stopping raind.
source "$(dirname "$0")/lib.sh"
cd "$TMP" || exit 1

start_glance || exit 1

# ---- a small disk whose root has an empty password (the default vetting
# policy fails it)
small_disk "$TMP/disk.raw"
disk_sha=$(sha256sum <"$TMP/disk.raw" | cut -d' ' -f1)

cat >"$TMP/clouds.yaml" <<EOF
clouds:
  test:
    auth_type: none
    image_endpoint_override: $GLANCE_URL
EOF
cat >"$TMP/raind.ini" <<EOF
[site.cloud]
uri = openstack:test
clouds_yaml = $TMP/clouds.yaml
disk_format = raw
policy = default
[site.open]
uri = openstack:test
clouds_yaml = $TMP/clouds.yaml
disk_format = raw
[site.admins]
uri = openstack:test
clouds_yaml = $TMP/clouds.yaml
users = @admin
[site.oldkernels]
uri = openstack:test
clouds_yaml = $TMP/clouds.yaml
kernels = 5.10.*
EOF
export RAIN_ADMIN_PASSWORD=t0155-admin-password
raind_start --config "$TMP/raind.ini" || exit 1
unset RAIN_ADMIN_PASSWORD
call POST /rain/v1/users -H 'Content-Type: application/json' \
	-d '{"name":"alice","password":"alice-password","role":"user","status":"active"}'
check_status "admin creates alice" 201
ALICE=$(token_of alice alice-password)

glance_images() {
	curl -sS "$GLANCE_URL/v2/images" | python3 -c 'import json,sys
print(" ".join(sorted(i["id"] for i in json.load(sys.stdin)["images"])))'
}

# ---- sites
call GET /rain/v1/sites
check_status "the sites are listed" 200
check_json "four sites, with kind and policy" \
	'[s["name"] for s in j["sites"]] == ["cloud", "open", "admins", "oldkernels"] and j["sites"][0]["kind"] == "openstack" and j["sites"][0]["policy"] == "default"'
check_json "admins see the uri and settings" '"uri" in j["sites"][0] and j["sites"][0]["settings"]["disk_format"] == "raw"'
call_noauth GET /rain/v1/sites -H "X-Auth-Token: $ALICE"
check_json "users see no uri or settings, and where they may register" \
	'"settings" not in j["sites"][0] and "uri" not in j["sites"][0] and [s["may_register"] for s in j["sites"]] == [True, True, False, True]'
call GET /rain/v1/sites/nowhere
check_error "an unknown site is 404" 404
RAIN_TOKEN=$ALICE "$RAIN" site list >"$TMP/sites.out" 2>&1
check "rain site list shows them" grep -q "oldkernels" "$TMP/sites.out"
"$RAIN" site show cloud >"$TMP/site.out" 2>&1
check "rain site show shows a site's settings" grep -q "clouds_yaml" "$TMP/site.out"

# ---- the image, alice's
IMG=$(curl -sS -X POST -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' \
	-d '{"name":"t0155","disk_format":"raw","container_format":"bare","os_distro":"debian","os_version":"12","architecture":"x86_64"}' \
	"$URL/v2/images" | json_get id)
check_eq "alice uploads her image" 204 "$(curl -sS -o /dev/null -w '%{http_code}' -X PUT \
	-H "X-Auth-Token: $ALICE" -H 'Content-Type: application/octet-stream' -T "$TMP/disk.raw" \
	"$URL/v2/images/$IMG/file")"

# ---- bad requests
for body in '{}' '{"image":"'$IMG'"}' '{"image":"x","site":"open"}' '[1]' \
	'{"image":"'$IMG'","site":"open","ssh_key":"not a key"}' \
	'{"image":"'$IMG'","site":"open","extra":1}' '{"image":"'$IMG'","site":"open","override":"yes"}'; do
	call_noauth POST /rain/v1/registrations -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' -d "$body"
	check_error "a bad registration is 400: $body" 400
done
call_noauth POST /rain/v1/registrations -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' \
	-d '{"image":"'$IMG'","site":"nowhere"}'
check_error "an unknown site is 404" 404
check_json "the error names the sites there are" '"cloud" in j["message"] and "open" in j["message"]'
call_noauth POST /rain/v1/registrations -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' \
	-d '{"image":"'$IMG'","site":"admins"}'
check_error "alice may not register at the admins' site" 403
check_json "the refusal says who may" '"@admin" in j["message"]'

# ---- the vetting gate
call_noauth POST /rain/v1/registrations -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' \
	-d '{"image":"'$IMG'","site":"cloud"}'
check_error "an unvetted image is refused where a policy is required" 403
check_json "the refusal says it was not vetted and how to vet it" '"not been vetted" in j["message"] and "rain vet" in j["message"]'
call_noauth POST "/rain/v1/images/$IMG/vet" -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' -d '{"policy":"default"}'
check_status "alice has her image vetted" 202
VET=$(printf '%s' "$BODY" | json_get id)
for _ in $(seq 1 240); do
	st=$(api GET "/rain/v1/jobs/$VET" | head -n -1 | json_get status)
	case $st in succeeded|failed|canceled) break ;; esac
	sleep 0.5
done
check_eq "the vetting ends" succeeded "$st"
call_noauth POST /rain/v1/registrations -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' \
	-d '{"image":"'$IMG'","site":"cloud"}'
check_error "an image that failed the site's policy is refused" 403
check_json "the refusal names the failing rules" '"failed vetting" in j["message"] and "empty-password" in j["message"]'
call_noauth POST /rain/v1/registrations -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' \
	-d '{"image":"'$IMG'","site":"cloud","override":true}'
check_error "a user cannot override the gate" 403
check_eq "nothing reached Glance" "" "$(glance_images)"

# an admin overrides: registered, and the audit log says so
"$RAIN" register "$IMG" --site cloud --override --json >"$TMP/override.json" 2>"$TMP/override.err"
check_eq "an admin's override registers the image" 0 "$?"
OVR=$(json_get id <"$TMP/override.json")
check "the record says registered, overridden, with the Glance image" python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))
assert r["status"] == "registered", r
assert r["vetting"]["override"] is True and r["vetting"]["verdict"] == "failed", r["vetting"]
assert "empty-password" in r["vetting"]["failing"], r["vetting"]
assert r["show"]["image_id"], r' "$TMP/override.json"
call GET "/rain/v1/audit?target=$IMG"
check_json "the override is in the audit log" \
	'any(e["method"] == "OVERRIDE" and "site cloud" in e["path"] and e["actor"] == "admin" for e in j["events"])'
GIMG=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["show"]["image_id"])' "$TMP/override.json")
check_eq "Glance has the image, active" active "$(curl -sS "$GLANCE_URL/v2/images/$GIMG" | json_get status)"
check_eq "with the image's properties" debian "$(curl -sS "$GLANCE_URL/v2/images/$GIMG" | json_get os_distro)"

# ---- a site without a policy: alice registers herself
RAIN_TOKEN=$ALICE "$RAIN" register t0155 --site open >"$TMP/reg.out" 2>"$TMP/reg.err"
check_eq "alice registers her image at the open site" 0 "$?"
check "the job's log was followed" grep -q "registering image" "$TMP/reg.err"
check "it reuses the copy adapted for site cloud (the same adaptation: raw, cloud-init), not a copy of its own" \
	sh -c 'grep -q "reusing the adapted copy" "$1" && ! grep -q "copying the image.s.*to adapt it" "$1"' - "$TMP/reg.err"
check "and shows the upload" grep -q "uploading" "$TMP/reg.err"
check "and what was made at the site" grep -q "is active:.*checksum" "$TMP/reg.err"
call_noauth GET "/rain/v1/registrations?site=open" -H "X-Auth-Token: $ALICE"
check_json "her registration is listed, registered" 'len(j["registrations"]) == 1 and j["registrations"][0]["status"] == "registered"'
REG=$(printf '%s' "$BODY" | json_get registrations.0.id)
check_json "the record has the image's and the adapted copy's hashes" \
	'j["registrations"][0]["image_sha256"] == "'"$disk_sha"'" and len(j["registrations"][0]["adapted"]["disk_sha256"]) == 64'
check_json "and the kernel the image boots" 'j["registrations"][0]["adapted"]["kernel_version"] == "6.1.0-99-amd64"'
check_eq "the stored image is unchanged" "$disk_sha" "$(curl -sS -H "X-Auth-Token: $ALICE" "$URL/v2/images/$IMG/file" | sha256sum | cut -d' ' -f1)"
call_noauth POST /rain/v1/registrations -H "X-Auth-Token: $ALICE" -H 'Content-Type: application/json' \
	-d '{"image":"'$IMG'","site":"open"}'
check_status "registering the same image there again answers at once" 200
check_json "with the earlier registration" 'j["id"] == "'"$REG"'"'
call_noauth GET "/rain/v1/registrations" -H "X-Auth-Token: $ALICE"
check_json "alice sees only her own registrations" 'all(r["owner"] == "alice" for r in j["registrations"])'
call_noauth GET "/rain/v1/registrations/$OVR" -H "X-Auth-Token: $ALICE"
check_error "nor another's by id" 404
call_noauth GET "/rain/v1/jobs/$REG" -H "X-Auth-Token: $ALICE"
check_json "the registration is a job of kind register" 'j["kind"] == "register" and j["status"] == "succeeded"'
n_before=$(glance_images | wc -w)

# ---- the kernel allow-list
RAIN_TOKEN=$ALICE "$RAIN" register t0155 --site oldkernels >"$TMP/old.out" 2>"$TMP/old.err"
check_eq "a kernel outside the site's allow-list fails the registration" 1 "$?"
check "the error names the kernel and the allowed ones" grep -q "6.1.0-99-amd64 is not allowed.*5.10" "$TMP/old.err"
check_eq "and nothing reached Glance" "$n_before" "$(glance_images | wc -w)"

# ---- deregister
RAIN_TOKEN=$ALICE "$RAIN" deregister "$REG" >"$TMP/dereg.out" 2>&1
check_eq "alice deregisters" 0 "$?"
call_noauth GET "/rain/v1/registrations/$REG" -H "X-Auth-Token: $ALICE"
check_json "the record stays, removed" 'j["status"] == "removed"'
check_eq "Glance has one image less" "$((n_before - 1))" "$(glance_images | wc -w)"
call_noauth DELETE "/rain/v1/registrations/$REG" -H "X-Auth-Token: $ALICE"
check_status "deregistering again is fine" 200
RAIN_TOKEN=$ALICE "$RAIN" register t0155 --site open >"$TMP/reg2.out" 2>"$TMP/reg2.err"
check_eq "alice registers it there again" 0 "$?"
check "the shared adapted copy outlived the deregistration: reused, not made again" \
	sh -c 'grep -q "reusing the adapted copy" "$1" && ! grep -q "to adapt it" "$1"' - "$TMP/reg2.err"
call_noauth GET "/rain/v1/registrations?site=open" -H "X-Auth-Token: $ALICE"
REG2=$(printf '%s' "$BODY" | python3 -c 'import json,sys
print([r["id"] for r in json.load(sys.stdin)["registrations"] if r["status"] == "registered"][0])')
RAIN_TOKEN=$ALICE "$RAIN" deregister "$REG2" >/dev/null 2>&1
check_eq "and deregisters it" 0 "$?"

# ---- kill -9 of raind during a registration: nothing left in Glance
# a big image (the small disk, then 800 MiB of data past its partition)
# makes the upload last
cp "$TMP/disk.raw" "$TMP/big.raw"
head -c 800M /dev/urandom | dd of="$TMP/big.raw" bs=1M seek=64 conv=notrunc status=none
BIG=$(curl -sS -X POST -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
	-d '{"name":"t0155-big","disk_format":"raw","container_format":"bare"}' "$URL/v2/images" | json_get id)
check_eq "a big image is stored" 204 "$(upload "$BIG" "$TMP/big.raw")"
n_before=$(glance_images | wc -w)
call POST /rain/v1/registrations -H 'Content-Type: application/json' -d '{"image":"'$BIG'","site":"open"}'
check_status "its registration starts" 202
KREG=$(printf '%s' "$BODY" | json_get id)
for _ in $(seq 1 600); do
	[ "$(glance_images | wc -w)" -gt "$n_before" ] && break
	sleep 0.2
done
check "the upload reached Glance" test "$(glance_images | wc -w)" -gt "$n_before"
raind_stop KILL
raind_start --config "$TMP/raind.ini" || exit 1
call GET "/rain/v1/registrations/$KREG"
check_json "after the restart the registration failed, saying why" 'j["status"] == "failed" and "raind stopped" in j["error"]'
check_eq "and Glance holds nothing of it" "$n_before" "$(glance_images | wc -w)"
check "no publish outlived raind" sh -c '! pgrep -f "[r]ain target publish.*'"$KREG"'"'

# ---- cancel
call POST /rain/v1/registrations -H 'Content-Type: application/json' -d '{"image":"'$BIG'","site":"open"}'
CREG=$(printf '%s' "$BODY" | json_get id)
for _ in $(seq 1 600); do
	[ "$(glance_images | wc -w)" -gt "$n_before" ] && break
	sleep 0.2
done
"$RAIN" register cancel "$CREG" --json >"$TMP/cancel.json" 2>&1
check_eq "a registration is canceled" canceled "$(json_get status <"$TMP/cancel.json")"
check_eq "Glance holds nothing of it" "$n_before" "$(glance_images | wc -w)"

# ---- a bad site stops raind, naming it
raind_stop
printf '[site.bad]\nuri = nosuch:thing\n' >"$TMP/bad.ini"
"$RAIND" --data-dir "$TMP/data2" --listen 127.0.0.1:0 --config "$TMP/bad.ini" >"$TMP/bad.log" 2>&1 &
bad=$!
for _ in $(seq 1 100); do kill -0 $bad 2>/dev/null || break; sleep 0.1; done
check "raind stops on an unknown site kind" sh -c "! kill -0 $bad 2>/dev/null"
check "and names the section and the kinds there are" grep -q "site.bad.*nosuch.*openstack" "$TMP/bad.log"
kill $bad 2>/dev/null

test_done
