#!/bin/bash
# Vulnerability feeds against the real Debian archive: rain vet feed build
# derives a feed from the real bookworm-security suite (restricted to a few
# source packages this host has installed), its CVEs are checked against
# the changelogs read independently here, and debsecan (the reference),
# given that feed in its own format, finds the same CVEs for the same
# packages as rain's matcher, on this host's dpkg status and on a copy with
# some versions lowered. Then import of tracker JSON and OSV files, and
# hostile input through the CLI.
source "$(dirname "$0")/lib.sh"

MIRROR=${RAIN_TEST_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=bookworm-security
STATUS=/var/lib/dpkg/status
# candidates: packages with CVEs in their security changelogs; those the
# host has installed are used
CANDIDATES="curl glibc openssh krb5 libxml2 systemd gnutls28 xz-utils libgcrypt20 nghttp2"

if ! curl -sfI --max-time 20 "$MIRROR/dists/$SUITE/Release" >/dev/null; then
	skip "the security mirror" "$MIRROR cannot be reached"
	test_done
fi
installed=$(dpkg-query -W -f='${source:Package}\n' 2>/dev/null | sort -u)
SOURCES=()
for s in $CANDIDATES; do
	grep -qx "$s" <<<"$installed" && SOURCES+=("$s")
done
if [ ${#SOURCES[@]} -lt 2 ]; then
	skip "debsecan comparison" "fewer than 2 of the candidate sources are installed here"
	test_done
fi
args=()
for s in "${SOURCES[@]}"; do args+=(--source "$s"); done

# --- the feed from the real suite ----------------------------------------
check "rain vet feed build reads ${SOURCES[*]} from $MIRROR $SUITE" \
	"$RAIN" -q vet feed build --mirror "$MIRROR" --suite "$SUITE" "${args[@]}" -o "$TMP/feed"
"$RAIN" --json vet feed show "$TMP/feed" >"$TMP/show.json"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
if [ -r "$KEYRING" ] && command -v gpgv >/dev/null; then
	check "with --keyring, InRelease's signature is checked and the feed is the same" \
		"$RAIN" -q vet feed build --mirror "$MIRROR" --suite "$SUITE" "${args[@]}" \
		--keyring "$KEYRING" -o "$TMP/feed-signed"
	check "the signed feed is the unsigned one" cmp "$TMP/feed" "$TMP/feed-signed"
	: >"$TMP/empty.gpg"
	if "$RAIN" -q vet feed build --mirror "$MIRROR" --suite "$SUITE" --source "${SOURCES[0]}" \
		--keyring "$TMP/empty.gpg" -o "$TMP/feed-bad" 2>"$TMP/err"; then
		not_ok "a keyring without the archive's key is refused (it succeeded)"
	else
		check "a keyring without the archive's key is refused, no feed written" \
			grep -q "its signature does not check against" "$TMP/err"
		check "no feed is written when the signature fails" test ! -e "$TMP/feed-bad"
	fi
else
	skip "InRelease's signature" "no debian-archive-keyring or gpgv"
fi
check "the feed is for bookworm, from the mirror, dated by the suite's Release" \
	python3 - "$TMP/show.json" "${#SOURCES[@]}" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["release"] == "bookworm" and j["kind"] == "mirror" and j["family"] == "deb", j
assert j["origin"].endswith(" bookworm-security"), j
assert j["date"] > "2023", j
assert j["packages"] == int(sys.argv[2]) and j["advisories"] > 50 and j["unfixed"] == 0, j
PY

# Each package's CVEs and the version that fixes each, read here with
# python's tarfile from the same files: the oldest changelog entry naming
# a CVE fixes it.
check "every CVE of the changelogs is in the feed, fixed by the oldest entry naming it" \
	python3 - "$MIRROR" "$SUITE" "$TMP/feed" "${SOURCES[@]}" <<'PY'
import hashlib, io, lzma, re, subprocess, sys, tarfile, urllib.request
mirror, suite, feed, sources = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def get(path):
    return urllib.request.urlopen(mirror + "/" + path, timeout=60).read()
idx = lzma.decompress(get("dists/%s/main/source/Sources.xz" % suite)).decode()
newest = {}
for st in idx.split("\n\n"):
    f = dict(re.findall(r"^(Package|Version|Directory): (\S+)$", st, re.M))
    if f.get("Package") not in sources:
        continue
    files = re.findall(r"^ ([0-9a-f]{64}) \d+ (\S+\.debian\.tar\.\w+)$", st, re.M)
    old = newest.get(f["Package"])
    if old is None or subprocess.call(["dpkg", "--compare-versions", f["Version"], "gt", old[0]]) == 0:
        newest[f["Package"]] = (f["Version"], f["Directory"], files[0])
want = {}
for pkg, (ver, d, (sha, name)) in newest.items():
    data = get(d + "/" + name)
    assert hashlib.sha256(data).hexdigest() == sha, name
    cl = tarfile.open(fileobj=io.BytesIO(data)).extractfile("debian/changelog").read().decode("utf-8", "replace")
    version = None
    for line in cl.split("\n"):
        m = re.match(r"^\S+ \(([^)]+)\) [^;]*;", line)
        if m:
            version = m.group(1)
            continue
        if line[:1] not in (" ", "\t"):
            if version and line.strip():
                break
            continue
        if line.startswith(" -- "):
            continue
        for cve in re.findall(r"(?<![A-Za-z0-9])(CVE-\d{4}-\d{4,8})(?![A-Za-z0-9])", line):
            k = (pkg, cve)
            if k not in want or subprocess.call(["dpkg", "--compare-versions", version, "lt", want[k]]) == 0:
                want[k] = version
got = {}
lines = open(feed).read().split("\n")
body = lines[lines.index("") + 1:]
for l in body:
    if l:
        f = l.split("\t")
        got[(f[0], f[1])] = f[4]
missing = sorted(set(want) - set(got))
extra = sorted(set(got) - set(want))
wrong = sorted(k for k in want if k in got and got[k] != want[k])
assert not missing and not extra and not wrong, (missing[:5], extra[:5], [(k, want[k], got[k]) for k in wrong[:5]])
print(len(want), "CVEs agree")
PY

mkdir -p "$TMP/debsecan"
check "rain vet feed export --format debsecan" \
	"$RAIN" -q vet feed export --format debsecan "$TMP/feed" -o "$TMP/debsecan"

# A copy of the status with the chosen packages behind: each binary of a
# chosen source gets, as its version, a fixed version from the middle of
# its source's advisories (so that some are fixed and some not, and one
# sits exactly on a fix; with one fix only, just before it); the first
# source's binaries keep a Source "(version)" with a binNMU suffix on
# their own version.
python3 - "$STATUS" "$TMP/feed" "$TMP/status-low" "${SOURCES[@]}" <<'PY'
import re, subprocess, sys, functools
status, feed, out, sources = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
lines = open(feed).read().split("\n")
fixed = {}
for l in lines[lines.index("") + 1:]:
    if l:
        f = l.split("\t")
        fixed.setdefault(f[0], set()).add(f[4])
def cmp(a, b):
    return -1 if subprocess.call(["dpkg", "--compare-versions", a, "lt", b]) == 0 else \
        (0 if subprocess.call(["dpkg", "--compare-versions", a, "eq", b]) == 0 else 1)
pick = {}
for s in sources:
    v = sorted(fixed.get(s, []), key=functools.cmp_to_key(cmp))
    if len(v) >= 2:
        pick[s] = v[(len(v) - 1) * 2 // 3]
    elif v:
        pick[s] = v[0] + "~"    # just before the only fix
stanzas = open(status).read().split("\n\n")
res = []
for st in stanzas:
    m = re.search(r"^Package: (\S+)$", st, re.M)
    s = re.search(r"^Source: (\S+)", st, re.M)
    src = s.group(1) if s else (m.group(1) if m else None)
    if src in pick and re.search(r"^Status: .* installed$", st, re.M):
        v = pick[src]
        st = re.sub(r"^Source: .*$", "Source: " + src, st, flags=re.M)
        if src == sources[0]:
            if re.search(r"^Source:", st, re.M):
                st = re.sub(r"^Source: .*$", "Source: %s (%s)" % (src, v), st, flags=re.M)
            else:
                st += "\nSource: %s (%s)" % (src, v)
            v += "+b1"
        st = re.sub(r"^Version: .*$", "Version: " + v, st, flags=re.M)
    res.append(st)
open(out, "w").write("\n\n".join(res))
PY

rain_pairs() {
	"$RAIN" --json vet feed match "$TMP/feed" --status "$1" | python3 -c '
import json, sys
for f in json.load(sys.stdin):
    print(f["id"], f["package"], f["installed"])
' | sort -u
}

if [ -x /usr/bin/debsecan ]; then
	for st in "$STATUS" "$TMP/status-low"; do
		debsecan_pairs "$st" >"$TMP/d.txt"
		rain_pairs "$st" >"$TMP/r.txt"
		check "debsecan ran on $(basename "$st")" test -s "$TMP/d.txt" -o "$st" = "$STATUS"
		check_eq "rain finds what debsecan finds on $(basename "$st") ($(wc -l <"$TMP/d.txt") findings)" \
			"$(cat "$TMP/d.txt")" "$(cat "$TMP/r.txt")"
	done
	check "the lowered status has findings for every chosen source" \
		python3 - "$TMP/feed" "$TMP/status-low" "$RAIN" "${SOURCES[@]}" <<'PY'
import json, subprocess, sys
feed, status, rain, sources = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
found = json.loads(subprocess.run([rain, "--json", "vet", "feed", "match", feed, "--status", status],
                                  capture_output=True, check=True).stdout)
srcs = {f["source"] for f in found}
assert srcs == set(sources), (srcs, sources)
assert all(f["fixed"] and f["urgency"] and f["description"] for f in found), found[:3]
PY
else
	skip "debsecan comparison" "debsecan is not installed"
fi

# --- importers through the CLI ---------------------------------------------
cat >"$TMP/tracker.json" <<'EOF'
{"openssl": {"CVE-2023-5678": {"description": "Generating excessively long X9.42 DH keys", "scope": "local",
  "releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.13-1~deb12u1", "urgency": "not yet assigned"},
               "sid": {"status": "resolved", "fixed_version": "3.0.13-1", "urgency": "not yet assigned"}}},
  "CVE-2024-2511": {"description": "Unbounded memory growth", "scope": "remote",
  "releases": {"bookworm": {"status": "open", "urgency": "low"}}}}}
EOF
check "import of the tracker's JSON" "$RAIN" -q vet feed import --format tracker --release bookworm \
	"$TMP/tracker.json" -o "$TMP/tracker.feed"
check_eq "the tracker feed's counts" "2 1" \
	"$("$RAIN" --json vet feed show "$TMP/tracker.feed" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["advisories"], j["unfixed"])')"
cat >"$TMP/osv.json" <<'EOF'
{"id": "DSA-5764-1", "summary": "openssl - security update", "modified": "2024-09-09T10:00:00Z",
 "related": ["CVE-2024-5535"],
 "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.14-1~deb12u2"}]}]}]}
EOF
check "import of an OSV record" "$RAIN" -q vet feed import --format osv --release Debian:12 \
	"$TMP/osv.json" -o "$TMP/osv.feed"
check_eq "the OSV feed is dated by its record" "2024-09-09T10:00:00Z" \
	"$("$RAIN" --json vet feed show "$TMP/osv.feed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["date"])')"

# hostile input: a clear error, exit 1, no output file
fails_with() {
	local what=$1 want=$2
	shift 2
	if "$@" >"$TMP/out" 2>"$TMP/err"; then
		not_ok "$what (it succeeded)"
	elif grep -qF -- "$want" "$TMP/err" && [ ! -e "$TMP/bad.feed" ]; then
		ok "$what"
	else
		not_ok "$what"
		sed 's/^/#   /' "$TMP/err"
	fi
}
# an rpm distribution: OSV records of AlmaLinux:9 against a real rpm
# database (packages built by rpmbuild, installed by rpm --justdb)
if command -v rpmbuild >/dev/null && command -v rpm >/dev/null; then
	mkdir -p "$TMP/rpm/db"
	printf 'Name: rain-t-%s\nVersion: %s\nRelease: 1.el9\n%sSummary: t\nLicense: MIT\nBuildArch: noarch\n%%description\nt\n%%files\n' \
		a 1.2 'Epoch: 2\n' >"$TMP/rpm/a.spec"
	printf 'Name: rain-t-%s\nVersion: %s\nRelease: 1.el9\n%sSummary: t\nLicense: MIT\nBuildArch: noarch\n%%description\nt\n%%files\n' \
		b 0.9~rc1 '' >"$TMP/rpm/b.spec"
	for sp in a b; do
		rpmbuild -bb --define "_topdir $TMP/rpm/top" "$TMP/rpm/$sp.spec" >/dev/null 2>&1
	done
	rpm --dbpath "$TMP/rpm/db" --initdb
	rpm --dbpath "$TMP/rpm/db" -i --justdb --nodeps --ignorearch --ignoreos --nosignature \
		"$TMP"/rpm/top/RPMS/noarch/*.rpm 2>/dev/null
	cat >"$TMP/alsa.json" <<'EOF2'
{"id": "ALSA-2024:0001", "summary": "fix", "affected": [
 {"package": {"ecosystem": "AlmaLinux:9", "name": "rain-t-b"},
  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0.9-1.el9"}]}]},
 {"package": {"ecosystem": "AlmaLinux:9", "name": "rain-t-a"},
  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:9.0-1.el9"}]}]}]}
EOF2
	"$RAIN" -q vet feed import --format osv --release AlmaLinux:9 "$TMP/alsa.json" -o "$TMP/alsa.feed"
	check_eq "an rpm database matched against an AlmaLinux feed: 0.9~rc1 is before 0.9, epoch 2 after 1" \
		"ALSA-2024:0001 rain-t-b 0.9~rc1-1.el9" \
		"$("$RAIN" --json vet feed match "$TMP/alsa.feed" --rpmdb "$TMP/rpm/db/rpmdb.sqlite" |
			python3 -c 'import json,sys; print("\n".join(f["id"] + " " + f["package"] + " " + f["installed"] for f in json.load(sys.stdin)))')"
	fails_with "a dpkg status against an rpm feed" "the packages are dpkg packages, the feed is for rpm" \
		"$RAIN" vet feed match "$TMP/alsa.feed" --status "$STATUS"
else
	skip "an rpm database against an AlmaLinux feed" "rpmbuild is not installed"
fi

printf '{"openssl": {"CVE-1": ' >"$TMP/cut.json"
fails_with "a tracker JSON cut short" "in the middle of the JSON: cut short?" \
	"$RAIN" vet feed import --format tracker --release bookworm "$TMP/cut.json" -o "$TMP/bad.feed"
printf '[{"id": "X"}]' >"$TMP/list.json"
fails_with "OSV given as tracker JSON" "where the object that holds the packages was expected" \
	"$RAIN" vet feed import --format tracker --release bookworm "$TMP/list.json" -o "$TMP/bad.feed"
python3 -c 'import sys; sys.stdout.write("{\"a\": {\"CVE-1\": {\"description\": \"" + "A" * (65 << 20) + "\"}}}")' >"$TMP/huge.json"
fails_with "a package object over 64 MB" "a package's object over 64 MB: refused" \
	"$RAIN" vet feed import --format tracker --release bookworm "$TMP/huge.json" -o "$TMP/bad.feed"
rm -f "$TMP/huge.json"
sed 's/3.0.13-1~deb12u1/1:/' "$TMP/tracker.json" >"$TMP/badver.json"
fails_with "a bad fixed version" "fixed version '1:' is not a Debian version" \
	"$RAIN" vet feed import --format tracker --release bookworm "$TMP/badver.json" -o "$TMP/bad.feed"
printf '{"id": "X", "affected": [' >"$TMP/bad-osv.json"
fails_with "malformed OSV" "not JSON" \
	"$RAIN" vet feed import --format osv --release bookworm "$TMP/bad-osv.json" -o "$TMP/bad.feed"
fails_with "a tracker JSON given as a feed" "not a rain feed" "$RAIN" vet feed show "$TMP/tracker.json"
fails_with "a source the suite does not have" "source package no-such-source is not in" \
	"$RAIN" vet feed build --mirror "$MIRROR" --suite "$SUITE" --source no-such-source -o "$TMP/bad.feed"
fails_with "a suite name with a path in it" "is not a suite name" \
	"$RAIN" vet feed build --mirror "$MIRROR" --suite ../../etc -o "$TMP/bad.feed"
fails_with "an unknown export format" "only debsecan is written" \
	"$RAIN" vet feed export --format oval "$TMP/feed" -o "$TMP"

test_done
