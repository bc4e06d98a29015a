#!/bin/bash
# The openstack site driver against a real Glance (Debian's glance-api,
# SQLite, no Keystone: start_glance) and raind's own Keystone v3, driven by
# rain target publish/status/unpublish on a real bookworm image built by
# rain generate (from the shared build cache); raind serves Keystone over
# TLS (cacert in clouds.yaml). Checked with Glance's API
# and its own client: the properties a cloud needs, the checksum and
# os_hash_value of what was adapted, the ec2 model's aki/ari/ami linked by
# kernel_id/ramdisk_id, status, unpublish removing everything; and the
# faults: a wrong password (a real 401 from raind's Keystone), a
# certificate not trusted, an unreachable Glance, glance-api killed
# mid-upload, a storage quota (413), a policy
# refusing the user (403): each fails naming the cloud and the URL (those
# the cloud refuses before anything is adapted) and leaves nothing in
# Glance once unpublished. A Glance keeping SHA-384 has its MD5 checksum
# compared instead of the SHA-512 rain computes on the way.
source "$(dirname "$0")/lib.sh"
cd "$TMP" || exit 1

if [ ! -x /usr/bin/glance-api ] || [ ! -x /usr/bin/glance ]; then
	echo "ok 1 # SKIP needs glance-api and python3-glanceclient (scripts/install-deps.sh)"
	test_done
fi
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}

# ---- the image: a small bookworm disk, raw and qcow2 ----------------------
cat >"$TMP/node.recipe" <<RECIPE
[image]
name = t0151-node
distribution = debian
release = bookworm
[output]
formats = disk, qcow2
size = 1G
RECIPE
start=$(date +%s)
"$RAIN" generate "$TMP/node.recipe" -o "$TMP/out" --cache "$CACHE" --quiet >"$TMP/gen.out" 2>&1
rc=$?
echo "# build took $(($(date +%s) - start)) s"
check_eq "rain generate builds the image" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -30 "$TMP/gen.out" | sed 's/^/#   /'; test_done; }
RAW=$TMP/out/t0151-node.raw
QCOW=$TMP/out/t0151-node.qcow2
image_sha=$(sha256sum <"$QCOW" | cut -d' ' -f1)

start_glance || { not_ok "glance-api starts"; test_done; }
ok "glance-api starts ($GLANCE_URL)"
# raind over TLS: its Keystone v3 and image service are the cloud "rain"
unset CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR
CA=$TMP/cert.pem
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$CA" \
	-days 2 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
export RAIN_ADMIN_PASSWORD=t0151-admin-pw
raind_start --tls-cert "$CA" --tls-key "$TMP/key.pem" || { not_ok "raind starts"; test_done; }
unset RAIN_ADMIN_PASSWORD
URL=https://127.0.0.1:$PORT

DEAD_PORT=$(free_port)
cat >"$TMP/clouds.yaml" <<EOF
clouds:
  local:
    auth_type: none
    image_endpoint_override: $GLANCE_URL
  dead:
    auth_type: none
    image_endpoint_override: http://127.0.0.1:$DEAD_PORT
  rain:
    auth:
      auth_url: $URL/v3
      username: admin
      password: t0151-admin-pw
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    cacert: $CA
  wrong:
    auth:
      auth_url: $URL/v3
      username: admin
      password: not-the-password
      project_name: admin
    cacert: $CA
  untrusted:
    auth:
      auth_url: $URL/v3
      username: admin
      password: t0151-admin-pw
EOF
chmod 600 "$TMP/clouds.yaml"
site() { printf '[site.%s]\nuri = openstack:%s\nclouds_yaml = %s\n' "$1" "$2" "$TMP/clouds.yaml"; }
{
	site cloud local
	printf 'min_ram = 512\nhw_qemu_guest_agent = yes\n'
	site ec2 local
	printf 'model = ec2\n'
	site rawcloud local
	printf 'disk_format = raw\nvisibility = community\n'
	site dead dead
	site keystone rain
	site wrong wrong
	site untrusted untrusted
} >"$TMP/sites.ini"

# tpub SITE STATE [ARGS...]: rain target publish of the qcow2 with the
# image's properties; stdout in $TMP/STATE.out, stderr in $TMP/STATE.err
tpub() {
	local site=$1 st=$2
	shift 2
	"$RAIN" target publish --sites "$TMP/sites.ini" --site "$site" --state "$TMP/$st.json" \
		--work "$TMP/work-$st" --property os_distro=debian --property os_version=12 \
		--property architecture=amd64 "$@" >"$TMP/$st.out" 2>"$TMP/$st.err"
}
tunpub() {
	"$RAIN" target unpublish --sites "$TMP/sites.ini" --site "$1" --state "$TMP/$2.json" \
		>"$TMP/$2.unpub" 2>&1
}
# gimg ID: Glance's record of an image (its API)
gimg() { curl -sS "$GLANCE_URL/v2/images/$1"; }
# glance_ids: the ids of every image in Glance, sorted
glance_ids() {
	curl -sS "$GLANCE_URL/v2/images?visibility=all" | python3 -c 'import json,sys
print(" ".join(sorted(i["id"] for i in json.load(sys.stdin)["images"])))'
}
# store_files: what Glance's filesystem store holds
store_files() { find "$GLANCE_DIR/images" -type f | wc -l; }

# ---- publish, check, status, unpublish -----------------------------------
tpub cloud s1 "$QCOW"
rc=$?
check_eq "publish to a Glance without Keystone" 0 "$rc"
[ "$rc" -eq 0 ] || sed 's/^/#   /' "$TMP/s1.err" | tail -20
ID=$(json_get image_id <"$TMP/s1.json")
check "the state names the image by the id rain chose" python3 -c 'import uuid,sys; uuid.UUID(sys.argv[1])' "$ID"
check "publish prints the image id" grep -q "$ID" "$TMP/s1.out"
glance_client image-show "$ID" >"$TMP/show1.txt" 2>&1
prop() { sed -n "s/^| $1 *| \(.*[^ ]\) *|\$/\1/p" "$TMP/show1.txt" | head -1; }
check_eq "glance image-show: status" active "$(prop status)"
check_eq "glance image-show: disk_format" qcow2 "$(prop disk_format)"
check_eq "glance image-show: container_format" bare "$(prop container_format)"
check_eq "glance image-show: visibility" private "$(prop visibility)"
check_eq "glance image-show: os_distro" debian "$(prop os_distro)"
check_eq "glance image-show: os_version" 12 "$(prop os_version)"
check_eq "glance image-show: architecture (Nova's name)" x86_64 "$(prop architecture)"
check_eq "glance image-show: hw_disk_bus" virtio "$(prop hw_disk_bus)"
check_eq "glance image-show: hw_firmware_type" bios "$(prop hw_firmware_type)"
check_eq "glance image-show: hw_qemu_guest_agent" yes "$(prop hw_qemu_guest_agent)"
check_eq "glance image-show: min_ram" 512 "$(prop min_ram)"
vsize=$(qemu-img info --output json "$TMP/work-s1/disk.qcow2" | json_get virtual-size)
check_eq "glance image-show: min_disk (the adapted disk's $vsize bytes in GiB, rounded up)" \
	$(((vsize + (1 << 30) - 1) >> 30)) "$(prop min_disk)"
check_eq "glance image-show: rain_registration" "$(json_get registration <"$TMP/s1.json")" \
	"$(prop rain_registration)"
gimg "$ID" >"$TMP/g1.json"
adapted_sha=$(json_get adapted.disk_sha256 <"$TMP/s1.json")
check_eq "rain_disk_sha256 is the adapted disk's" "$adapted_sha" "$(json_get rain_disk_sha256 <"$TMP/g1.json")"
# Glance's own digests of what it stored against the adapted disk's
check_eq "the adapted disk is the one rain says it adapted" "$adapted_sha" \
	"$(sha256sum <"$TMP/work-s1/disk.qcow2" | cut -d' ' -f1)"
check_eq "Glance's checksum is the adapted disk's MD5" "$(md5sum <"$TMP/work-s1/disk.qcow2" | cut -d' ' -f1)" \
	"$(json_get checksum <"$TMP/g1.json")"
check_eq "Glance's os_hash_value is the adapted disk's SHA-512" \
	"$(sha512sum <"$TMP/work-s1/disk.qcow2" | cut -d' ' -f1)" "$(json_get os_hash_value <"$TMP/g1.json")"
check_eq "Glance's size is the adapted disk's" "$(stat -c %s "$TMP/work-s1/disk.qcow2")" \
	"$(json_get size <"$TMP/g1.json")"
check_eq "the image file was not written" "$image_sha" "$(sha256sum <"$QCOW" | cut -d' ' -f1)"

"$RAIN" --json target status --sites "$TMP/sites.ini" --site cloud --state "$TMP/s1.json" >"$TMP/st1.json" 2>&1
check_json_file() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$@"; }
check "status: present, active, Glance's checksum" check_json_file "$TMP/st1.json" \
	"j['present'] and j['images']['image']['status'] == 'active' and j['images']['image']['checksum'] == '$(json_get checksum <"$TMP/g1.json")'"

tunpub cloud s1
check_eq "unpublish" 0 $?
check_eq "the image is gone from Glance (its API)" "" "$(glance_ids)"
"$RAIN" --json target status --sites "$TMP/sites.ini" --site cloud --state "$TMP/s1.json" >"$TMP/st1b.json" 2>&1
check "status after unpublish: nothing present" check_json_file "$TMP/st1b.json" "not j['present']"
tunpub cloud s1
check_eq "unpublish again is fine" 0 $?

# ---- the adapted copy kept: its digests with it, a changed copy caught ----------
# (a copy of the work folder: artifacts.json names its files relative to it)
cp -a "$TMP/work-s1" "$TMP/work-s1w"
tpub cloud s1w "$QCOW"
check_eq "publish again from a work folder with the adapted copy" 0 $?
check "the copy is reused, not made again" \
	sh -c 'grep -q "reusing the adapted copy" "$1" && ! grep -q "to adapt it" "$1"' - "$TMP/s1w.err"
check "its digests were kept with it (artifacts.json)" python3 -c '
import json,sys; a=json.load(open(sys.argv[1]))["artifacts"]
assert len(a["disk_sha256"]) == 64 and len(a["disk_sha512"]) == 128, a' "$TMP/work-s1w/artifacts.json"
check_eq "Glance's SHA-512 of what it got is the kept copy's" \
	"$(sha512sum <"$TMP/work-s1w/disk.qcow2" | cut -d' ' -f1)" "$(gimg "$(json_get image_id <"$TMP/s1w.json")" | json_get os_hash_value)"
tunpub cloud s1w
check_eq "unpublished" "" "$(glance_ids)"
# one byte of the kept copy changed, its size the same: sent unhashed, the
# digest Glance computed is not the one kept
rm -f "$TMP/s1w.json"
printf 'X' | dd of="$TMP/work-s1w/disk.qcow2" bs=1 seek=1000000 conv=notrunc status=none
tpub cloud s1w "$QCOW"
check_eq "a kept copy changed after it was made fails the upload's check" 1 $?
check "the error says the data changed on the way" grep -q "has os_hash_value .*but what rain sent has SHA-512.*the data changed on the way" "$TMP/s1w.err"
check_eq "and nothing is left in Glance" "" "$(glance_ids)"

# ---- the ec2 model: aki, ari, then the ami naming them -----------------------
tpub ec2 s2 "$QCOW"
rc=$?
check_eq "publish with model = ec2" 0 "$rc"
[ "$rc" -eq 0 ] || sed 's/^/#   /' "$TMP/s2.err" | tail -20
AMI=$(json_get image_id <"$TMP/s2.json")
AKI=$(json_get kernel_id <"$TMP/s2.json")
ARI=$(json_get ramdisk_id <"$TMP/s2.json")
gimg "$AMI" >"$TMP/ami.json"
gimg "$AKI" >"$TMP/aki.json"
gimg "$ARI" >"$TMP/ari.json"
check_eq "the kernel is an active aki" "aki aki active" \
	"$(json_get disk_format <"$TMP/aki.json") $(json_get container_format <"$TMP/aki.json") $(json_get status <"$TMP/aki.json")"
check_eq "the ramdisk is an active ari" "ari ari active" \
	"$(json_get disk_format <"$TMP/ari.json") $(json_get container_format <"$TMP/ari.json") $(json_get status <"$TMP/ari.json")"
check_eq "the machine image is an active ami" "ami ami active" \
	"$(json_get disk_format <"$TMP/ami.json") $(json_get container_format <"$TMP/ami.json") $(json_get status <"$TMP/ami.json")"
check_eq "the ami's kernel_id and ramdisk_id name them" "$AKI $ARI" \
	"$(json_get kernel_id <"$TMP/ami.json") $(json_get ramdisk_id <"$TMP/ami.json")"
check_eq "the aki holds the image's kernel (MD5 of the build's vmlinuz)" \
	"$(md5sum <"$TMP/out/vmlinuz" | cut -d' ' -f1)" "$(json_get checksum <"$TMP/aki.json")"
check "the ami has a kernel command line" test -n "$(json_get os_command_line <"$TMP/ami.json")"
tunpub ec2 s2
check_eq "unpublish of the ec2 model" 0 $?
check_eq "aki, ari and ami are gone" "" "$(glance_ids)"

# ---- Keystone: raind's /v3 and its catalog; a wrong password -------------------
tpub keystone s3 "$QCOW"
rc=$?
check_eq "publish through Keystone v3 (raind) to the catalog's image service" 0 "$rc"
[ "$rc" -eq 0 ] || sed 's/^/#   /' "$TMP/s3.err" | tail -20
RID=$(json_get image_id <"$TMP/s3.json")
call GET "/v2/images/$RID" --cacert "$CA"
check_status "the image is in raind's catalog" 200
check_json "raind keeps it active with the adapted disk's SHA-256" \
	"j['status'] == 'active' and j['os_hash_value'] == '$(json_get adapted.disk_sha256 <"$TMP/s3.json")'"
tunpub keystone s3
call GET "/v2/images/$RID" --cacert "$CA"
check_status "unpublish removed it from raind" 404

tpub wrong s4 "$QCOW"
check_eq "a wrong password fails" 1 $?
check "the error is Keystone's 401, naming the cloud, the URL and what to check" \
	grep -q "cloud 'wrong': Keystone at $URL/v3 refused the login of user 'admin'.*HTTP 401.*check auth.username, auth.password" "$TMP/s4.err"
check "the password is in no message" python3 -c 'import sys; sys.exit("not-the-password" in open(sys.argv[1]).read())' "$TMP/s4.err"
check_eq "nothing was named in the state" "" "$(json_get image_id <"$TMP/s4.json")"
check "it fails before the image is adapted" test ! -e "$TMP/work-s4/disk.qcow2"
tpub untrusted s10 "$QCOW"
check_eq "a cloud whose certificate is not trusted (no cacert) fails" 1 $?
check "the error names the cloud, Keystone's URL and the certificate" \
	grep -q "cloud 'untrusted': Keystone at $URL/v3: cannot talk to.*certificate" "$TMP/s10.err"
call GET "/v2/images" --cacert "$CA"
check_json "raind holds no image" 'j["images"] == []'

# ---- an unreachable Glance ---------------------------------------------------------
tpub dead s5 "$QCOW"
check_eq "an unreachable Glance fails" 1 $?
check "the error names the cloud, the URL and what to check" \
	grep -q "cloud 'dead': Glance at http://127.0.0.1:$DEAD_PORT: .*cannot talk to.*is the image service running and reachable" "$TMP/s5.err"
check_eq "nothing was named in the state" "" "$(json_get image_id <"$TMP/s5.json")"

# wait_saving STATE PID: the id of the image STATE names once Glance has it
# as saving (its upload under way), or "" if PID ended first
wait_saving() {
	local id
	for _ in $(seq 1 900); do
		id=
		[ -s "$TMP/$1.json" ] && id=$(json_get image_id <"$TMP/$1.json" 2>/dev/null)
		if [ -n "$id" ] && [ "$(gimg "$id" | json_get status 2>/dev/null)" = saving ]; then
			echo "$id"
			return
		fi
		kill -0 "$2" 2>/dev/null || return
		sleep 0.1
	done
}

# ---- glance-api killed mid-upload -----------------------------------------------------
tpub rawcloud s8 "$RAW" &
pub=$!
saving=$(wait_saving s8 "$pub")
check "the upload of the raw disk is under way" test -n "$saving"
[ -n "$saving" ] || sed 's/^/#   /' "$TMP/s8.err" | tail -5
glance_stop KILL
wait "$pub"
check_eq "publish fails when glance-api dies" 1 $?
check "the error names the cloud, the URL and the image" \
	grep -q "cloud 'local': Glance at $GLANCE_URL: uploading image $saving" "$TMP/s8.err"
check "rain says to run unpublish once the site is back" grep -q "rain target unpublish" "$TMP/s8.err"
check_eq "the state still names the image" "$saving" "$(json_get image_id <"$TMP/s8.json")"
start_glance || { not_ok "glance restarts"; test_done; }
check "glance, back, still has the half-uploaded image" test -n "$(glance_ids)"
tunpub rawcloud s8
check_eq "unpublish once Glance is back" 0 $?
check_eq "nothing is left in Glance" "" "$(glance_ids)"
check_eq "the state names nothing" "" "$(json_get image_id <"$TMP/s8.json")"
# glance-api killed while writing leaves its partial file in the store, an
# image with no location that its API cannot reach (Glance's own limit)

# ---- a Glance that keeps no SHA-2 digest rain computes: its MD5 checksum ----------
# (rain hashed SHA-512 when the copy was made; MD5 only then, reading the disk again)
start_glance "[DEFAULT]" "hashing_algorithm = sha384" || { not_ok "glance restarts"; test_done; }
tpub cloud s9 "$QCOW"
check_eq "publish to a Glance keeping SHA-384" 0 $?
check "the MD5 checksum was compared" grep -q "is active: .*its MD5 checksum that of what was sent" "$TMP/s9.err"
gimg "$(json_get image_id <"$TMP/s9.json")" >"$TMP/g9.json"
check_eq "Glance's os_hash_algo is sha384" sha384 "$(json_get os_hash_algo <"$TMP/g9.json")"
check_eq "rain_disk_sha256 is the adapted disk's (hashed when the copy was made)" \
	"$(sha256sum <"$TMP/work-s9/disk.qcow2" | cut -d' ' -f1)" "$(json_get rain_disk_sha256 <"$TMP/g9.json")"
tunpub cloud s9
check_eq "nothing is left in Glance" "" "$(glance_ids)"

# ---- a storage quota (413), a policy refusing this user (403) -----------------------
start_glance "[DEFAULT]" "user_storage_quota = 20MB" || { not_ok "glance restarts"; test_done; }
stored=$(store_files)
tpub cloud s6 "$QCOW"
check_eq "an image over the storage quota fails" 1 $?
check "the error is Glance's 413, naming the cloud, the URL and the quota" \
	grep -q "cloud 'local': Glance at $GLANCE_URL: uploading image .*HTTP 413.*quota" "$TMP/s6.err"
check_eq "nothing is left in Glance" "" "$(glance_ids)"
check_eq "nothing is left in Glance's store" "$stored" "$(store_files)"

printf '"get_images": "!"\n' >"$TMP/glance-policy.yaml"
start_glance "[oslo_policy]" "policy_file = $TMP/glance-policy.yaml" || { not_ok "glance restarts"; test_done; }
tpub cloud s7 "$QCOW"
check_eq "a policy that refuses the user fails" 1 $?
check "the error is Glance's 403, naming the cloud, the URL and the policy" \
	grep -q "cloud 'local': Glance at $GLANCE_URL: listing images: .*HTTP 403.*policy" "$TMP/s7.err"
check "it fails before the image is adapted" test ! -e "$TMP/work-s7/disk.qcow2"
check_eq "nothing was named in the state" "" "$(json_get image_id <"$TMP/s7.json")"

test_done
