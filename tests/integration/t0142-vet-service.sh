#!/bin/bash
# Vetting in raind and through the CLI: a crafted root tree (tar) stored as
# an image, vetted by POST /rain/v1/images/{id}/vet and by `rain vet IMAGE`
# in a real raind, with the default policy and with one from the config;
# the report kept with the image, the properties nobody else can set, the
# verdict lost with the image, the job API (list, log, delete), bad
# requests and hostile configuration; `rain vet FILE` locally with --json,
# -o, --set and its exit status.
source "$(dirname "$0")/lib.sh"
cd "$TMP" || exit 1

# ---- a small Debian-like root tree with known problems
R=$TMP/root
mkdir -p "$R/etc/ssh" "$R/var/lib/dpkg/info" "$R/usr/bin" "$R/usr/sbin" "$R/root" "$R/tmp" \
	"$R/home/alice/.ssh"
ln -s usr/bin "$R/bin"
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n' \
	>"$R/etc/os-release"
printf 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n' >"$R/etc/passwd"
printf 'root::19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n' >"$R/etc/shadow"
chmod 0640 "$R/etc/shadow"
printf 'PermitRootLogin yes\nPasswordAuthentication yes\n' >"$R/etc/ssh/sshd_config"
printf '#!/bin/sh\n' >"$R/usr/sbin/sshd"    # sshd is installed: its settings count
printf '#!/bin/sh\necho hello\n' >"$R/usr/bin/hello"
chmod 0755 "$R/usr/bin/hello"
printf 'not what the package shipped\n' >"$R/usr/bin/tampered"
cp "$R/usr/bin/hello" "$R/usr/sbin/sneaky"
chmod 4755 "$R/usr/sbin/sneaky"
chmod 1777 "$R/tmp"
ln -s /etc/shadow "$R/root/host-shadow"          # a link out: never followed
hello_md5=$(md5sum <"$R/usr/bin/hello" | cut -d' ' -f1)
cat >"$R/var/lib/dpkg/status" <<'EOF'
Package: hello
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 1
Maintainer: Test <test@example.org>
Architecture: amd64
Version: 1.0-1
Description: test package

EOF
printf '%s  usr/bin/hello\n%s  usr/bin/tampered\n' "$hello_md5" "$hello_md5" \
	>"$R/var/lib/dpkg/info/hello.md5sums"
printf '/.\n/usr\n/usr/bin\n/usr/bin/hello\n/usr/bin/tampered\n' >"$R/var/lib/dpkg/info/hello.list"
tar -C "$R" -cf "$TMP/root.tar" .

# ---- rain vet FILE, locally
"$RAIN" vet "$TMP/root.tar" >"$TMP/local.out" 2>"$TMP/local.err"
check_eq "a failing image exits 3" 3 "$?"
check "the summary says failed" grep -qi "failed" "$TMP/local.out"
check "the empty root password is reported" grep -q "empty-password" "$TMP/local.out"
check "the extra setuid file is reported" grep -q "/usr/sbin/sneaky" "$TMP/local.out"
check "the tampered file is reported" grep -q "/usr/bin/tampered" "$TMP/local.out"
"$RAIN" vet "$TMP/root.tar" --json -o "$TMP/report.json" >"$TMP/local.json" 2>/dev/null
check "--json prints the report" python3 -c '
import json,sys; r=json.load(open(sys.argv[1])); assert r["verdict"] == "failed", r["verdict"]
rules = {f["rule"] for f in r["findings"]}
for want in ("empty-password", "setuid-file", "modified-file", "sshd-setting"):
    assert want in rules, (want, rules)' "$TMP/local.json"
check "-o writes the same report" python3 -c '
import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
assert a["verdict"] == b["verdict"] and len(a["findings"]) == len(b["findings"])' \
	"$TMP/local.json" "$TMP/report.json"
# a tree whose sshd_config is a link to a host file: resolved inside the
# image (where it is missing), never read from the host
mkdir -p "$TMP/host" "$TMP/root2/etc/ssh"
printf 'PermitRootLogin yes\nPasswordAuthentication yes\n' >"$TMP/host/sshd_config"
cp "$R/etc/os-release" "$R/etc/passwd" "$TMP/root2/etc/"
mkdir -p "$TMP/root2/usr/sbin" && cp "$R/usr/sbin/sshd" "$TMP/root2/usr/sbin/"
ln -s "$TMP/host/sshd_config" "$TMP/root2/etc/ssh/sshd_config"
tar -C "$TMP/root2" -cf "$TMP/root2.tar" .
"$RAIN" vet "$TMP/root2.tar" --json >"$TMP/root2.json" 2>/dev/null
check "a link to a host file is not followed out of the image" python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))
s = [f for f in r["findings"] if f["rule"] == "sshd-setting"]
assert not [f for f in s if f.get("setting") == "permitrootlogin"], s
assert all(f.get("where") == "sshd\x27s default" for f in s), s' "$TMP/root2.json"
"$RAIN" vet "$TMP/root.tar" --set empty-password=ignore --set setuid-file=ignore \
	--set modified-file=ignore --set sshd-setting=ignore --set root-password-login=ignore \
	--quiet >"$TMP/relaxed.out" 2>&1
rc=$?
check "a policy that ignores those findings does not fail the image" test "$rc" -ne 3
"$RAIN" vet "$TMP/root.tar" --set empty-password=purple >/dev/null 2>"$TMP/badset.err"
check_eq "a bad --set value is a usage error" 2 "$?"
check "it names the key" grep -q "empty-password" "$TMP/badset.err"
printf '{"packages": [' >"$TMP/bad-manifest.json"
"$RAIN" vet "$TMP/root.tar" --manifest "$TMP/bad-manifest.json" >/dev/null 2>"$TMP/manifest.err"
check_eq "a manifest that is not JSON fails" 1 "$?"
check "naming it" grep -q "bad-manifest.json" "$TMP/manifest.err"
"$RAIN" vet "$TMP/nonexistent.tar" >/dev/null 2>"$TMP/missing.err"
check_eq "a missing file fails" 1 "$?"
head -c 4096 /dev/urandom >"$TMP/junk.bin"
"$RAIN" vet "$TMP/junk.bin" >/dev/null 2>"$TMP/junk.err"
check_eq "random bytes are no image" 1 "$?"
check "the message says what was seen" grep -qi "image\|format" "$TMP/junk.err"

# ---- raind: a policy from the config, and hostile settings refused at start
cat >"$TMP/raind.ini" <<'EOF'
[vet]
max_concurrent = 1
[vet.policy.lenient]
empty-password = warn
setuid-file = warn
modified-file = warn
sshd-setting = warn
root-password-login = warn
EOF
for bad in $'[vet.policy.Bad Name]\nfail_severity = high' $'[vet.policy.x]\nfail_severity = purple' \
	   $'[vet.policy.default]\nfail_severity = high' $'[vet]\nmax_concurrent = 0' \
	   $'[vet]\npolicy = ../x' $'[vet.policy.x]\nno-such-rule = fail' $'[vet]\ntimeout = 0' \
	   $'[vet]\nmax_queued_per_user = -1' $'[vet]\nauto = maybe' \
	   "$(printf '[vet]\nfeed = %s/no-such-feed' "$TMP")"; do
	printf '%s\n' "$bad" >"$TMP/bad.ini"
	started=no
	DATA=$TMP/baddata raind_start --config "$TMP/bad.ini" >/dev/null 2>&1 && { started=yes; raind_stop; }
	check_eq "raind refuses: $(head -n 2 "$TMP/bad.ini" | tr '\n' ' ')" no "$started"
	check "the error names the file or section" grep -q "bad.ini\|vet.policy\|\[vet\] feed" "$TMP/raind.log"
	: >"$TMP/raind.log"
done
raind_start --config "$TMP/raind.ini" || exit 1

ID=$(image_new tree raw bare)
image_put "$ID" "$TMP/root.tar"
check_eq "the tree is stored" 204 "$STATUS"

call POST "/rain/v1/images/$ID/vet" -H 'Content-Type: application/json' -d '{"policy": "nope"}'
check_error "an unknown policy is refused" 400
check "the message names the known ones" grep -q "lenient" <<<"$BODY"
call POST "/rain/v1/images/$ID/vet" -H 'Content-Type: application/json' -d '{"policy": 5}'
check_error "a policy that is not a string is refused" 400
call POST "/rain/v1/images/$ID/vet" -H 'Content-Type: application/json' -d '{"extra": 1}'
check_error "unknown fields are refused" 400
Q=$(image_new queued raw bare)
call POST "/rain/v1/images/$Q/vet"
check_error "an image without data cannot be vetted" 409
call POST "/rain/v1/images/00000000-0000-4000-8000-000000000000/vet"
check_error "an unknown image is 404" 404

call GET "/rain/v1/images/$ID/vetting"
check_error "no report before vetting" 404
call POST "/rain/v1/images/$ID/vet"
check_eq "a vetting is accepted" 202 "$STATUS"
JOB=$(json_get id <<<"$BODY")
check_eq "it is a vet job" vet "$(json_get kind <<<"$BODY")"
st=$(job_wait "$JOB")
check_eq "the vetting job succeeds" succeeded "$st"
api GET "/rain/v1/jobs/$JOB/log" >"$TMP/job.log"
check "its log says what was vetted" grep -q "vetting image $ID" "$TMP/job.log"
call GET "/rain/v1/images/$ID/vetting"
check_eq "the report is kept with the image" 200 "$STATUS"
check_eq "its verdict is failed" failed "$(json_get verdict <<<"$BODY")"
call GET "/v2/images/$ID"
check_eq "the image shows the verdict" failed "$(json_get rain_vetting <<<"$BODY")"
check_eq "and the policy" default "$(json_get rain_vetting_policy <<<"$BODY")"
check_eq "and the data vetted" "$(json_get os_hash_value <<<"$BODY")" "$(json_get rain_vetting_sha256 <<<"$BODY")"
patch_image "$ID" '[{"op": "replace", "path": "/rain_vetting", "value": "passed"}]'
check_error "nobody can set the verdict" 403
patch_image "$ID" '[{"op": "remove", "path": "/rain_vetting_report"}]'
check_error "nor remove the report" 403

# the CLI through raind, with the config's policy
"$RAIN" vet tree --policy lenient >"$TMP/remote.out" 2>"$TMP/remote.err"
rc=$?
check "rain vet IMAGE with a lenient policy does not fail" test "$rc" -eq 0
check "it prints the summary" grep -qi "warn" "$TMP/remote.out"
call GET "/v2/images/$ID"
check_eq "the image now carries the lenient verdict" lenient "$(json_get rain_vetting_policy <<<"$BODY")"
check_eq "warned" warned "$(json_get rain_vetting <<<"$BODY")"
"$RAIN" image show tree >"$TMP/show.out" 2>&1
check "rain image show gives the verdict in one line" grep -q "vetting .*warned (policy lenient" "$TMP/show.out"
"$RAIN" image list --vetted >"$TMP/vetted.out" 2>&1
check "rain image list --vetted lists it" grep -q " tree " "$TMP/vetted.out"
"$RAIN" image list --verdict failed >"$TMP/failed.out" 2>&1
check "rain image list --verdict failed does not" test "$(grep -c " tree " "$TMP/failed.out")" -eq 0
"$RAIN" image list --verdict good >/dev/null 2>&1
check_eq "a bad --verdict is a usage error" 2 "$?"
call GET /rain/v1/jobs
check "both vettings are in the job list" python3 -c '
import json,sys; j=json.loads(sys.argv[1])["jobs"]
assert len([x for x in j if x["kind"] == "vet"]) == 2, j' "$BODY"
call DELETE "/rain/v1/jobs/$JOB"
check_eq "a finished vetting can be deleted" 204 "$STATUS"
call GET "/rain/v1/images/$ID/vetting"
check_eq "the report stays with the image" 200 "$STATUS"

# another user may neither vet nor see another's private image's report
call POST /rain/v1/users -H 'Content-Type: application/json' \
	-d '{"name": "bob", "password": "bob-secret-1"}'
BOB=$(token_of bob bob-secret-1)
STATUS=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "X-Auth-Token: $BOB" "$URL/rain/v1/images/$ID/vet")
check_eq "another user cannot vet it" 404 "$STATUS"
STATUS=$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $BOB" "$URL/rain/v1/images/$ID/vetting")
check_eq "nor read its report" 404 "$STATUS"

# a feed kept by raind: pushed by an admin, used by the next vetting
cat >"$TMP/tracker.json" <<'EOF'
{"hello": {"CVE-2026-0001": {"description": "hello reads past its buffer", "scope": "remote",
  "releases": {"bookworm": {"status": "resolved", "fixed_version": "1.0-2", "urgency": "high",
  "repositories": {"bookworm": "1.0-2"}}}}}}
EOF
"$RAIN" -q vet feed import --format tracker --release bookworm "$TMP/tracker.json" -o "$TMP/feed"
check "a feed is made from the tracker's JSON" test -s "$TMP/feed"
"$RAIN" vet "$TMP/root.tar" --feed "$TMP/feed" --json >"$TMP/feed-local.json" 2>/dev/null
check "rain vet --feed finds the vulnerable package" python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))
v=[f for f in r["findings"] if f["rule"] == "vulnerable-package"]
assert v and v[0]["package"] == "hello" and "CVE-2026-0001" in json.dumps(v[0]), v' "$TMP/feed-local.json"
call GET /rain/v1/vetting/feed
check_error "raind has no feed yet" 404
STATUS=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $BOB" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$TMP/feed" "$URL/rain/v1/vetting/feed")
check_eq "a user cannot replace the feed" 403 "$STATUS"
call PUT /rain/v1/vetting/feed -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/tracker.json"
check_error "what is no feed is refused" 400
check "no half feed is left" test -z "$(find "$DATA" -name 'feed.tmp-*')"
"$RAIN" vet feed push "$TMP/feed" >"$TMP/push.out" 2>&1
check "rain vet feed push puts it in place" grep -q "bookworm" "$TMP/push.out"
"$RAIN" vet feed server >"$TMP/server.out" 2>&1
check "rain vet feed server shows it" grep -q "advisories: 1" "$TMP/server.out"
"$RAIN" vet tree --json >"$TMP/remote-feed.json" 2>/dev/null
check "raind's next vetting uses it" python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))
assert [f for f in r["findings"] if f["rule"] == "vulnerable-package"], r["findings"]' "$TMP/remote-feed.json"
call GET "/v2/images/$ID"
check "the image names the feed's date" test "$(json_get rain_vetting_feed <<<"$BODY")" != none

# deleting the image drops the report's blob
blobs_before=$(find "$DATA/blobs" -type f | wc -l)
call DELETE "/v2/images/$ID"
check_eq "the image is deleted" 204 "$STATUS"
check_eq "its data and report are gone" $((blobs_before - 2)) "$(find "$DATA/blobs" -type f | wc -l)"
test_done
