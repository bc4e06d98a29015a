#!/bin/bash
# Runs at a container site (issue 13): a real rain-built bookworm disk (the
# openssh-server base t0143 and t0150 share through the build cache, its
# os-release marked) published with rain target publish to a container:
# site (the tree made from the image read as data: owned by nobody, no
# setuid bit, no device node, the stored image untouched; a publish
# interrupted leaves nothing, one killed nothing after unpublish), then run with
# rain provision through Charliecloud's ch-run as nobody: a passing job
# printing the image's /etc/os-release (not the host's), a failing job's
# exit status, a job writing to the read-only tree, the walltime (124), an
# interrupt (130), rain killed mid-job then rain provision down, --each on two instances with result files (--out) and a
# bind of the site, fetch refusals (a link the job made to a host file, a
# path outside the job's folder), and a hostile image (a tar with "../",
# absolute names, links out and entries through them, links where ch-run
# mounts): nothing written outside the site's folder, at publish or in a
# job. After every run: no process of its instances, no instance folder.
# The time from `rain provision exec` to the job's first output line is
# printed next to plain ch-run's on the same tree (not judged here:
# bench/run-container.sh).
source "$(dirname "$0")/lib.sh"
cd "$TMP" || exit 1

if ! command -v ch-run >/dev/null; then
	skip "container runs" "ch-run is not installed (scripts/install-deps.sh: charliecloud-runtime)"
	test_done
fi

# ---- the image, the site
ssh_recipe t0162 "$TMP/t0162.recipe"
cat >"$TMP/os-release" <<'EOF'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm), rain t0162"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
VARIANT_ID=rain-t0162
EOF
printf '[files]\ncopy = os-release:/usr/lib/os-release\n' >>"$TMP/t0162.recipe"
build_disk "$TMP/t0162.recipe" "$TMP/img" "the bookworm disk"

SITE=$TMP/site
mkdir -p "$TMP/shared" "$TMP/outside"
echo shared-data >"$TMP/shared/data"
cat >"$TMP/sites.ini" <<EOF
[site.box]
uri = container:$SITE
bind = $TMP/shared:/shared
EOF
chmod 755 "$TMP"        # nobody walks to the site's folder

"$RAIN" target publish --sites "$TMP/sites.ini" --site box --work "$TMP/work" --state "$TMP/reg.json" \
	"$IMG" >"$TMP/pub.out" 2>"$TMP/pub.err"
check_eq "rain target publish makes the image's tree at the container site" 0 "$?"
reg=$(json_get registration <"$TMP/reg.json")
TREE=$SITE/$reg
check_eq "the state names the tree" "$TREE" "$(json_get dir <"$TMP/reg.json")"
check_eq "the tree is nobody's" "nobody nobody" "$(stat -c %U "$TREE" "$TREE/usr/bin/passwd" | xargs)"
check_eq "no setuid or setgid file in it" "" "$(find "$TREE" -xdev -type f -perm /6000 | head -3)"
check_eq "no device node, fifo or socket" "" "$(find "$TREE" -xdev \( -type b -o -type c -o -type p -o -type s \) | head -3)"
check "/etc/os-release is still the image's link" test "$(readlink "$TREE/etc/os-release")" = ../usr/lib/os-release
check_eq "no staging folder is left" "" "$(find "$SITE" -maxdepth 1 -name '.*.publish')"
check_eq "the stored image was only read" "$IMG_SHA" "$(sha256sum <"$IMG")"

# interrupted and killed publishes: nothing left, or nothing once the
# saved state is unpublished
pub_bg() { # ID: publish the image again as registration ID, in the background
	"$RAIN" target publish --sites "$TMP/sites.ini" --site box --work "$TMP/work-$1" \
		--state "$TMP/$1.json" --id "$1" "$IMG" >/dev/null 2>"$TMP/$1.err" &
	pid=$!
	for _ in $(seq 1 300); do [ -d "$SITE/.$1.publish" ] && break; sleep 0.1; done
}
pub_bg canceled
kill -INT "$pid"
wait "$pid"
check "Ctrl-C during a publish fails it" test $? -ne 0
check_eq "nothing of it is left at the site" "" "$(find "$SITE" -maxdepth 1 -name '*canceled*')"
pub_bg killed
kill -9 "$pid"
wait "$pid" 2>/dev/null
check "a publish killed with SIGKILL named its staging folder in its state" grep -q staging "$TMP/killed.json"
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site box --state "$TMP/killed.json" >/dev/null 2>&1
check_eq "rain target unpublish on that state" 0 "$?"
check_eq "removes what it made" "" "$(find "$SITE" -maxdepth 1 -name '*killed*')"

prov() { # STEP ARGS...: rain provision STEP at site box
	local step=$1; shift
	"$RAIN" provision "$step" --sites "$TMP/sites.ini" --site box "$@"
}
run() { prov run --registration "$TMP/reg.json" "$@"; }
# left ID: what is left of run ID: processes carrying its instances'
# marker, instance folders
left() {
	grep -la "RAIN_INSTANCE=rain-$1-" /proc/[0-9]*/environ 2>/dev/null
	find "$SITE" -maxdepth 1 -name ".rain-$1-*"
}

# ---- a passing job
run --id ok --state "$TMP/ok.json" -- cat /etc/os-release >"$TMP/ok.out" 2>"$TMP/ok.err"
check_eq "a job printing /etc/os-release exits 0" 0 "$?"
check_eq "it printed the image's os-release" "$(cat "$TMP/os-release")" "$(cat "$TMP/ok.out")"
check "not the host's" test "$(cat /etc/os-release)" != "$(cat "$TMP/ok.out")"
check_eq "nothing is left of it" "" "$(left ok)"
check_eq "its state file keeps only the run's history: its instance" "history rain-ok-1" \
	"$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(" ".join(list(s) + [i["name"] for i in s["history"]]))' "$TMP/ok.json" 2>&1)"

# ---- a failing job, a write to the tree
run --id fail --state "$TMP/fail.json" -- sh -c 'echo failing; exit 7' >"$TMP/fail.out" 2>"$TMP/fail.err"
check_eq "a failing job's exit status comes back" 7 "$?"
check_eq "with its output" failing "$(cat "$TMP/fail.out")"
run --id ro --state "$TMP/ro.json" -- sh -c 'echo x >/etc/rain-x' >"$TMP/ro.out" 2>&1
check_eq "the tree is read-only in the container" 2 "$?"
check "and stays unchanged" test ! -e "$TREE/etc/rain-x"
check_eq "nothing is left of them" "" "$(left fail; left ro)"

# ---- the walltime
start=$(date +%s)
run --id wall --state "$TMP/wall.json" --walltime 2 -- sh -c 'echo sleeping; sleep 120' \
	>"$TMP/wall.out" 2>"$TMP/wall.err"
check_eq "a job past its walltime ends with 124" 124 "$?"
check "within seconds, not the job's 120" test $(($(date +%s) - start)) -lt 60
check "rain says why" grep -q "walltime" "$TMP/wall.err"
check_eq "nothing is left of it" "" "$(left wall)"

# ---- an interrupt
# (rain itself in the background: a function would run in a subshell that
# ignores SIGINT)
"$RAIN" provision run --sites "$TMP/sites.ini" --site box --registration "$TMP/reg.json" --id int \
	--state "$TMP/int.json" -- sh -c 'echo started; sleep 120' >"$TMP/int.out" 2>"$TMP/int.err" &
pid=$!
for _ in $(seq 1 300); do grep -q started "$TMP/int.out" 2>/dev/null && break; sleep 0.2; done
check "the job started" grep -q started "$TMP/int.out"
kill -INT "$pid"
wait "$pid"
check_eq "SIGINT ends the run with 130" 130 "$?"
check "saying so" grep -q "interrupted" "$TMP/int.err"
check_eq "nothing is left of it" "" "$(left int)"

# ---- rain killed mid-job: the saved state is enough to take it down
"$RAIN" provision run --sites "$TMP/sites.ini" --site box --registration "$TMP/reg.json" --id kill \
	--state "$TMP/kill.json" -n 2 --each -- sh -c 'echo started; sleep 120' >"$TMP/kill.out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ "$(grep -c started "$TMP/kill.out" 2>/dev/null)" = 2 ] && break; sleep 0.2; done
kill -9 "$pid"
wait "$pid" 2>/dev/null
check "the jobs outlive a rain killed with SIGKILL" test -n "$(left kill | grep /proc/)"
prov down --state "$TMP/kill.json" >/dev/null 2>"$TMP/kill.err"
check_eq "rain provision down on its state" 0 "$?"
check_eq "ends them and removes their folders" "" "$(left kill)"

# ---- each of two instances, result files, the site's bind
run --id each --state "$TMP/each.json" -n 2 --each --out result.txt --out /rain/work/second.txt \
	--outdir "$TMP/res" -- sh -c 'echo "hello from $RAIN_INSTANCE"; echo "$RAIN_INSTANCE $(cat /shared/data)" >result.txt; echo 2 >second.txt' \
	>"$TMP/each.out" 2>"$TMP/each.err"
check_eq "a job on each of two instances exits 0" 0 "$?"
check_eq "each printed, prefixed by its name" \
	"[rain-each-1] hello from rain-each-1 [rain-each-2] hello from rain-each-2" "$(sort "$TMP/each.out" | xargs)"
check_eq "each one's result file came back, with the bound folder's data" \
	"rain-each-1 shared-data rain-each-2 shared-data" \
	"$(cat "$TMP/res/rain-each-1/result.txt" "$TMP/res/rain-each-2/result.txt" | xargs)"
check_eq "an absolute path under /rain/work too" 2 "$(cat "$TMP/res/rain-each-2/second.txt")"
check_eq "nothing is left of it" "" "$(left each)"

run --id leak --state "$TMP/leak.json" --out leak --outdir "$TMP/res2" -- ln -s /etc/shadow leak \
	>"$TMP/leak.out" 2>"$TMP/leak.err"
check "a link the job made to a host file is not fetched" test "$?" -ne 0 -a ! -e "$TMP/res2/leak"
run --id abs --state "$TMP/abs.json" --out /etc/shadow --outdir "$TMP/res3" -- true \
	>"$TMP/abs.out" 2>"$TMP/abs.err"
check "a path outside the job's folder is refused" test "$?" -ne 0 -a ! -e "$TMP/res3/shadow"
check "saying where result files are" grep -q "/rain/work" "$TMP/abs.err"
check_eq "nothing is left of them" "" "$(left leak; left abs)"

# ---- the time to the first output line, against plain ch-run on the tree
prov up --registration "$TMP/reg.json" --state "$TMP/time.json" --id time >/dev/null 2>"$TMP/time.err"
check_eq "rain provision up" 0 "$?"
t0=$(date +%s%N)
prov exec --state "$TMP/time.json" -- echo first 2>/dev/null | {
	read -r _; echo $((($(date +%s%N) - t0) / 1000000)) >"$TMP/first.ms"; cat >/dev/null; }
t0=$(date +%s%N)
setpriv --reuid=nobody --regid=nogroup --clear-groups env USER=nobody ch-run "$TREE" -- echo first | {
	read -r _; echo $((($(date +%s%N) - t0) / 1000000)) >"$TMP/plain.ms"; cat >/dev/null; }
echo "# first output line: rain provision exec $(cat "$TMP/first.ms") ms, plain ch-run $(cat "$TMP/plain.ms") ms"
prov down --state "$TMP/time.json" 2>"$TMP/down.err"
check_eq "rain provision down" 0 "$?"
check_eq "nothing is left of it" "" "$(left time)"

# ---- a hostile image: a tar (read as raw data) that tries to write outside
python3 - "$TMP/hostile.tar" "$TMP/outside" <<'EOF'
import io, sys, tarfile
out, outside = sys.argv[1], sys.argv[2]
t = tarfile.open(out, "w")
def add(name, data=b"pwned", kind=tarfile.REGTYPE, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = kind, link, 0o755
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
add("bin", kind=tarfile.DIRTYPE)
add("bin/busybox", open("/usr/bin/busybox", "rb").read())
add("bin/sh", kind=tarfile.SYMTYPE, link="busybox")
add("../../../outside/dotdot")
add(outside + "/absolute")
add("lnk", kind=tarfile.SYMTYPE, link=outside)
add("lnk/through")
add("etc", kind=tarfile.SYMTYPE, link=outside)
add("etc/passwd")
add("rain", kind=tarfile.SYMTYPE, link=outside)
add("tmp", kind=tarfile.SYMTYPE, link="/")
t.close()
EOF
"$RAIN" target publish --sites "$TMP/sites.ini" --site box --work "$TMP/work2" --state "$TMP/hreg.json" \
	--id hostile "$TMP/hostile.tar" >"$TMP/hpub.out" 2>"$TMP/hpub.err"
check_eq "the hostile image is published" 0 "$?"
check "its '..' entry was skipped, said so" grep -q 'holds ".."' "$TMP/hpub.err"
check "its links where ch-run mounts were replaced, said so" grep -q "/etc is no folder" "$TMP/hpub.err"
check "its links are links" test -L "$SITE/hostile/lnk"
"$RAIN" provision run --sites "$TMP/sites.ini" --site box --registration "$TMP/hreg.json" --id hrun \
	--state "$TMP/hrun.json" -- /bin/sh -c 'echo x >/rain/work/x; echo x >/lnk/y; echo x >/etc/z; echo ran' \
	>"$TMP/hrun.out" 2>"$TMP/hrun.err"
check "a job in it runs" grep -q ran "$TMP/hrun.out"
check_eq "nothing was written outside the site's folder" "" "$(find "$TMP/outside" -mindepth 1)"
check_eq "nothing is left of it" "" "$(left hrun)"

# ---- unpublish
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site box --state "$TMP/hreg.json" >/dev/null 2>&1
check_eq "the hostile tree is unpublished" 0 "$?"
"$RAIN" target unpublish --sites "$TMP/sites.ini" --site box --state "$TMP/reg.json" >/dev/null 2>&1
check_eq "the bookworm tree is unpublished" 0 "$?"
check_eq "the site's folder is empty" "" "$(find "$SITE" -mindepth 1)"
test_done
