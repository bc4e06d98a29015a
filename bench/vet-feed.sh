#!/bin/bash
# Vulnerability feeds at the size of the Security Tracker's: a generated
# tracker JSON (by default 30,000 source packages, 1-20 CVEs each, four
# releases: about 200 MB, the real file is about 80 MB) imported for
# bookworm (time, peak RSS: the import streams one package at a time), then
# the normalized feed loaded and matched against this host's dpkg status
# (rain vet feed match: what rain vet spends on vulnerabilities) against
# debsecan reading the same feed in its own format (rain vet feed export)
# for the same status. Median of RUNS (default 5) runs, on this machine.
#
#   bench/vet-feed.sh [--quick]     (--quick: 5,000 packages)
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
packages=30000
[ "${1:-}" = --quick ] && packages=5000
RUNS=${RUNS:-5}
for tool in python3 meson ninja; do
	command -v "$tool" >/dev/null || { echo "bench/vet-feed.sh: needs $tool" >&2; exit 1; }
done
[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release src/cli/rain >/dev/null
RAIN=$TOP/build-release/src/cli/rain
work=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-feedbench.XXXXXX")
trap 'rm -rf "$work"' EXIT

python3 - "$work/tracker.json" "$packages" <<'PY'
import json, random, sys
random.seed(1)
rels = ["bookworm", "bullseye", "trixie", "sid"]
with open(sys.argv[1], "w") as out:
    out.write("{")
    for p in range(int(sys.argv[2])):
        pkg = "pkg%05d" % p
        cves = {}
        for c in range(random.randint(1, 20)):
            r = {}
            for rel in rels:
                st = random.choice(["resolved", "resolved", "resolved", "open", "undetermined"])
                e = {"status": st, "repositories": {rel: "1.%d-1" % random.randint(0, 50)},
                     "urgency": random.choice(["low", "medium", "high", "not yet assigned", "unimportant"])}
                if st == "resolved":
                    e["fixed_version"] = random.choice(["0", "1.%d-%d+deb12u%d" % (
                        random.randint(0, 50), random.randint(1, 5), random.randint(1, 9))])
                r[rel] = e
            cves["CVE-%d-%d" % (random.randint(1999, 2026), random.randint(1000, 99999))] = {
                "description": "A flaw was found in %s that allows a remote attacker to cause "
                               "a denial of service via crafted input." % pkg,
                "scope": random.choice(["local", "remote"]), "releases": r}
        out.write(("," if p else "") + json.dumps(pkg) + ":" + json.dumps(cves))
    out.write("}")
PY

# median wall seconds and peak RSS (KB) of RUNS runs of a command
measure() {
	local i
	for i in $(seq "$RUNS"); do
		/usr/bin/time -f '%e %M' -o "$work/t.$i" "$@" >/dev/null 2>&1
	done
	cat "$work"/t.* | sort -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'
	rm -f "$work"/t.*
}

size=$(stat -c %s "$work/tracker.json")
read -r imp_s imp_kb < <(RUNS=1 measure "$RAIN" -q vet feed import --format tracker --release bookworm \
	"$work/tracker.json" -o "$work/bookworm.feed")
"$RAIN" -q vet feed import --format tracker --release bookworm "$work/tracker.json" -o "$work/bookworm.feed"
"$RAIN" -q vet feed export --format debsecan "$work/bookworm.feed" -o "$work/debsecan"
adv=$("$RAIN" --json vet feed show "$work/bookworm.feed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["advisories"])')
read -r match_s match_kb < <(measure "$RAIN" vet feed match "$work/bookworm.feed" --status /var/lib/dpkg/status)
if [ -x /usr/bin/debsecan ]; then
	read -r deb_s deb_kb < <(measure /usr/bin/python3 /usr/bin/debsecan --source "file://$work/debsecan" \
		--suite bookworm --status /var/lib/dpkg/status --format detail)
else
	deb_s=- deb_kb=-
fi
echo "tracker JSON: $((size >> 20)) MiB, $packages packages; bookworm feed: $adv advisories, $(($(stat -c %s "$work/bookworm.feed") >> 20)) MiB"
echo "import (streamed):          ${imp_s} s, peak RSS $((imp_kb >> 10)) MiB"
echo "rain vet feed match:        ${match_s} s, peak RSS $((match_kb >> 10)) MiB (load + match, median of $RUNS)"
echo "debsecan, same feed/status: ${deb_s} s, peak RSS $([ "$deb_kb" = - ] && echo - || echo $((deb_kb >> 10))) MiB"
