#!/bin/bash
# rain vet's static rules on a real image built by rain generate (from the
# cached bookworm base that t0100 and the other builds share: only the
# image's own packages are installed here): the raw disk and its tar give
# the same report; modified-file agrees with debsums -s
# --root, setuid-file with find -perm /6000 and world-writable with find
# -perm -0002 on the tree extracted from the tar, first as built, then
# after tampering (a changed binary, a changed binary reached through the
# usr-merge link, missing files, setuid bits, a world-writable file and
# folder), the tampered tree read as a folder and as an ext4 image made
# from it; the recipe's key is the only one allowed; links out of the image
# are not followed. Then the image's vulnerabilities with a feed built from
# the real bookworm-security suite for its sources: the same CVEs as
# debsecan on the image as built and on its tree with those packages behind.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v mmdebstrap >/dev/null; then
	echo "ok 1 # SKIP needs root and mmdebstrap"
	test_done
fi
for tool in debsums mke2fs; do
	if ! command -v $tool >/dev/null; then
		echo "ok 1 # SKIP needs $tool (scripts/install-deps.sh)"
		test_done
	fi
done
CACHE=${RAIN_TEST_CACHE:-/var/cache/rain}
cd "$TMP" || exit 1
ssh-keygen -q -t ed25519 -N '' -C alice@t0141 -f "$TMP/key" >/dev/null
cat >"$TMP/node.recipe" <<RECIPE
[image]
name = t0141-node
distribution = debian
release = bookworm
[packages]
install = openssh-server
[user alice]
sudo = yes
ssh_key = $(cat "$TMP/key.pub")
[output]
formats = disk, tar
size = 2G
RECIPE

start=$(date +%s)
"$RAIN" generate "$TMP/node.recipe" -o "$TMP/out" --cache "$CACHE" --quiet >"$TMP/gen.out" 2>&1
rc=$?
echo "# build took $(($(date +%s) - start)) s"
check_eq "rain generate builds the image" 0 "$rc"
[ "$rc" -eq 0 ] || { tail -30 "$TMP/gen.out" | sed 's/^/#   /'; test_done; }
IMG=$TMP/out/t0141-node

# vet FILE REPORT [ARGS...]: rain vet, the report in REPORT; prints the
# exit status
vet() {
	local file=$1 report=$2
	shift 2
	"$RAIN" -q vet "$file" -o "$report" "$@" >/dev/null 2>"$report.err"
	echo $?
}

# --- the image as built ------------------------------------------------------
start=$(date +%s)
check_eq "the disk passes with its recipe's keys (warnings only)" 0 \
	"$(vet "$IMG.raw" "$TMP/raw.json" --recipe "$TMP/node.recipe")"
echo "# rain vet of the disk took $(($(date +%s) - start)) s"
check "the report reads the disk's ext4 partition and names the policy" python3 - "$TMP/raw.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert "ext4" in r["image"]["detail"] and r["image"]["format"] == "disk", r["image"]
assert r["policy"]["name"] == "default" and r["verdict"] in ("passed", "warned"), r["verdict"]
assert r["packages"]["family"] == "deb" and r["packages"]["count"] > 100, r["packages"]
assert r["os"] == {"id": "debian", "version_id": "12"}, r["os"]
assert r["kernels"] and r["kernels"][0]["version"].endswith("-amd64"), r["kernels"]
assert not [f for f in r["findings"] if f["action"] == "fail"], r["findings"]
PY
check "rain builds images without ssh host keys" python3 - "$TMP/raw.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert not [f for f in r["findings"] if f["rule"] == "ssh-host-key"], r["findings"]
PY
check_eq "without the recipe alice's key is unexpected: the image fails" 3 \
	"$(vet "$IMG.raw" "$TMP/nokeys.json")"
check "the finding names alice's authorized_keys and the key" python3 - "$TMP/nokeys.json" "$(ssh-keygen -lf "$TMP/key.pub" | cut -d' ' -f2)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
f = [f for f in r["findings"] if f["rule"] == "unexpected-authorized-key"]
assert len(f) == 1 and f[0]["path"] == "/home/alice/.ssh/authorized_keys", f
assert f[0]["fingerprint"] == sys.argv[2] and f[0]["severity"] == "high", f
PY

# keys: "rule severity action path" of each finding, sorted
keys() {
	python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
for k in sorted("%s %s %s %s" % (f["rule"], f["severity"], f["action"], f.get("path")) for f in r["findings"]):
    print(k)' "$1"
}
vet "$IMG.tar" "$TMP/tar.json" --recipe "$TMP/node.recipe" >/dev/null
check_eq "the tar gives the disk's findings" "$(keys "$TMP/raw.json")" "$(keys "$TMP/tar.json")"

# --- against debsums and find, on the extracted tree ---------------------------
echo "# vetting so far took $(($(date +%s) - start)) s"
mkdir "$TMP/tree"
tar -xpf "$IMG.tar" -C "$TMP/tree" --numeric-owner

# compare TREE REPORT WHAT: the report's findings against debsums -s --root
# and find -perm on TREE (paths resolved inside TREE: debsums names
# /bin/dash what the walk finds at /usr/bin/dash)
compare() {
	debsums -s --root "$1" >"$TMP/debsums.out" 2>&1
	find "$1" -xdev -type f -perm /6000 -printf '/%P\n' >"$TMP/setuid.out"
	find "$1" -xdev \( -type f -perm -0002 -o -type d -perm -0002 ! -perm -1000 \) \
		-printf '/%P\n' >"$TMP/ww.out"
	check "$3: modified-file is debsums -s, setuid-file and world-writable are find -perm" \
		python3 - "$1" "$2" "$TMP/debsums.out" "$TMP/setuid.out" "$TMP/ww.out" <<'PY'
import json, os, re, sys
root, report, debsums, setuid, ww = sys.argv[1:]

def inside(path):
    """path resolved through the tree's own links, never the host's"""
    parts, todo, hops = [], [p for p in path.split("/") if p], 0
    while todo:
        c = todo.pop(0)
        if c in ("", "."):
            continue
        if c == "..":
            parts = parts[:-1]
            continue
        real = os.path.join(root, *parts, c)
        if todo and os.path.islink(real) and hops < 40:
            hops += 1
            t = os.readlink(real)
            if t.startswith("/"):
                parts = []
            todo = [p for p in t.split("/") if p] + todo
            continue
        parts.append(c)
    return "/" + "/".join(parts)

r = json.load(open(report))
mine = {(inside(f["path"]), "missing" if "missing" in f["message"] else "changed")
        for f in r["findings"] if f["rule"] == "modified-file"}
theirs = set()
for line in open(debsums):
    m = re.match(r"debsums: (changed|missing) file (.*) \(from \S+ package\)$", line.strip())
    assert m, "debsums said: " + line
    theirs.add((inside(m.group(2)[len(root):]), m.group(1)))
assert mine == theirs, ("modified-file", sorted(mine ^ theirs))
for rule, listing in (("setuid-file", setuid), ("world-writable", ww)):
    mine = {f["path"] for f in r["findings"] if f["rule"] == rule}
    theirs = {l.strip() for l in open(listing) if l.strip()}
    assert mine == theirs, (rule, sorted(mine ^ theirs))
print("#", len(r["findings"]), "findings agree", file=sys.stderr)
PY
}

check_eq "the tree as built, every setuid file reported (allowed_setuid empty): fails" 3 \
	"$(vet "$TMP/tree" "$TMP/tree.json" --recipe "$TMP/node.recipe" --set allowed_setuid=)"
compare "$TMP/tree" "$TMP/tree.json" "as built"

# tamper: binaries changed (dash through /bin, as dpkg lists it), files
# gone, a setuid bit added to ls, a setuid file of no package, writable
# by all
T=$TMP/tree
echo x >>"$T/usr/bin/ssh-keygen"
echo x >>"$T/bin/dash"
rm "$T/usr/share/doc/openssh-server/copyright" "$T/usr/sbin/sshd"
chmod u+s "$T/usr/bin/ls"
cp "$T/usr/bin/true" "$T/usr/bin/helper" && chmod 4755 "$T/usr/bin/helper"
chmod 2755 "$T/usr/bin/cat"
chmod o+w "$T/etc/hosts"
mkdir "$T/srv/drop" && chmod 0777 "$T/srv/drop"
# a link to a file of the host holding a key the recipe did not declare:
# never read (inside the image the path does not exist)
ssh-keygen -q -t ed25519 -N '' -C mallory -f "$TMP/mallory" >/dev/null
ln -s "$TMP/mallory.pub" "$T/home/alice/.ssh/authorized_keys2"
ln -s /etc/shadow "$T/root/.ssh/authorized_keys2"

check_eq "the tampered tree fails" 3 \
	"$(vet "$T" "$TMP/tampered.json" --recipe "$TMP/node.recipe" --set allowed_setuid=)"
compare "$T" "$TMP/tampered.json" "tampered"
check "each change has its finding and severity" python3 - "$TMP/tampered.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
f = {(x["rule"], x.get("path")): x for x in r["findings"]}
assert f[("modified-file", "/usr/bin/ssh-keygen")]["severity"] == "high"
assert f[("modified-file", "/usr/bin/dash")]["package"] == "dash"
assert f[("modified-file", "/usr/sbin/sshd")]["severity"] == "medium"
assert f[("setuid-file", "/usr/bin/helper")]["severity"] == "high"
assert "no package" in f[("setuid-file", "/usr/bin/helper")]["message"]
assert f[("unowned-file", "/usr/bin/helper")]["severity"] == "low"
assert f[("world-writable", "/srv/drop")]["action"] == "fail"
assert not [x for x in r["findings"] if x["rule"] == "unexpected-authorized-key"], r["findings"]
PY

echo "# vetting so far took $(($(date +%s) - start)) s"
# the tampered tree as an ext4 image (mke2fs -d): the same findings
mke2fs -q -t ext4 -d "$T" "$TMP/tampered.ext4" 1536M >/dev/null 2>&1
vet "$TMP/tampered.ext4" "$TMP/tampered-ext4.json" --recipe "$TMP/node.recipe" --set allowed_setuid= >/dev/null
check_eq "the tampered ext4 gives the tree's findings" "$(keys "$TMP/tampered.json")" \
	"$(keys "$TMP/tampered-ext4.json")"
echo "# vetting so far took $(($(date +%s) - start)) s"

# --- vulnerabilities: a feed built from the real bookworm-security suite for
# the image's own source packages, rain against debsecan (the reference,
# given the same feed in its format) on the image as built (the disk) and on
# its tree with those packages behind (their versions lowered)
MIRROR=http://deb.debian.org/debian-security
mkdir "$TMP/vtree"
tar -xpf "$IMG.tar" -C "$TMP/vtree" --numeric-owner
python3 - "$TMP/vtree/var/lib/dpkg/status" "$MIRROR" >"$TMP/sources" 2>"$TMP/sources.err" <<'PY'
import lzma, re, sys, urllib.request
srcs = set()
for stanza in open(sys.argv[1]).read().split("\n\n"):
    m = re.search(r"^Package: (\S+)", stanza, re.M)
    s = re.search(r"^Source: (\S+)", stanza, re.M)
    if m:
        srcs.add(s.group(1) if s else m.group(1))
url = sys.argv[2] + "/dists/bookworm-security/main/source/Sources.xz"
index = lzma.decompress(urllib.request.urlopen(url, timeout=30).read()).decode()
print("\n".join(sorted(srcs & set(re.findall(r"^Package: (\S+)", index, re.M)))))
PY
feedargs=()
while read -r src; do feedargs+=(--source "$src"); done <"$TMP/sources"
if [ ${#feedargs[@]} -eq 0 ] || ! "$RAIN" -q vet feed build --mirror "$MIRROR" --suite bookworm-security \
	"${feedargs[@]}" -o "$TMP/feed" 2>"$TMP/feed.err" || ! [ -x /usr/bin/debsecan ]; then
	skip "the image's vulnerabilities against debsecan" \
		"no feed from $MIRROR or no debsecan: $(tail -1 "$TMP/sources.err" "$TMP/feed.err" 2>/dev/null | tr '\n' ' ')"
	test_done
fi
echo "# feed: $(wc -l <"$TMP/sources") of the image's sources are in the suite; $(grep -c 'skipped' "$TMP/feed.err") the mirror does not have"
"$RAIN" -q vet feed export --format debsecan "$TMP/feed" -o "$TMP/debsecan"
cp "$TMP/vtree/var/lib/dpkg/status" "$TMP/status-built"
# the sources the feed has advisories for, their binaries made older than
# any fix (and their Source lines without a version of their own)
python3 - "$TMP/vtree/var/lib/dpkg/status" "$TMP/feed" <<'PY'
import re, sys
status, feed = sys.argv[1], sys.argv[2]
lines = open(feed).read().split("\n")
srcs = {l.split("\t")[0] for l in lines[lines.index("") + 1:] if l}
out = []
for st in open(status).read().split("\n\n"):
    m = re.search(r"^Package: (\S+)", st, re.M)
    s = re.search(r"^Source: (\S+)", st, re.M)
    src = s.group(1) if s else (m.group(1) if m else None)
    if src in srcs:
        st = re.sub(r"^Source: (\S+).*$", r"Source: \1", st, flags=re.M)
        st = re.sub(r"^Version: .*$", "Version: 0~rain1", st, flags=re.M)
    out.append(st)
open(status, "w").write("\n\n".join(out))
PY
# pairs REPORT: "CVE package installed" of its vulnerability findings, as
# debsecan_pairs (lib.sh) gives debsecan's
pairs() {
	python3 -c '
import json, sys
for f in json.load(open(sys.argv[1]))["findings"]:
    if f["rule"] in ("vulnerable-package", "unfixed-vulnerability"):
        print(f["cve"], f["package"], f["installed"])' "$1" | sort -u
}
vet "$IMG.raw" "$TMP/feed-raw.json" --recipe "$TMP/node.recipe" --feed "$TMP/feed" >/dev/null
check_eq "the disk as built: rain finds what debsecan finds ($(debsecan_pairs "$TMP/status-built" | wc -l))" \
	"$(debsecan_pairs "$TMP/status-built")" "$(pairs "$TMP/feed-raw.json")"
vet "$TMP/vtree" "$TMP/feed-behind.json" --recipe "$TMP/node.recipe" --feed "$TMP/feed" >/dev/null
debsecan_pairs "$TMP/vtree/var/lib/dpkg/status" >"$TMP/d.txt"
check "debsecan finds the packages behind" test -s "$TMP/d.txt"
check_eq "the tree behind: rain finds what debsecan finds ($(wc -l <"$TMP/d.txt"))" \
	"$(cat "$TMP/d.txt")" "$(pairs "$TMP/feed-behind.json")"
check "each finding names its fix and urgency, and the report its feed" python3 - "$TMP/feed-behind.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
v = [f for f in r["findings"] if f["rule"] == "vulnerable-package"]
assert v and all(f["fixed"] and f["urgency"] and f["source"] for f in v), v[:3]
assert r["feed"]["release"] == "bookworm" and "bookworm-security" in r["feed"]["name"], r["feed"]
PY
echo "# vetting so far took $(($(date +%s) - start)) s"

test_done
