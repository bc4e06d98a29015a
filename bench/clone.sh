#!/bin/bash
# Clone benchmark (base = image:REF): the time build_clone_base() takes to
# turn the reference image of bench/ref.recipe (bookworm minbase, kernel,
# systemd, openssh-server; a 2 GiB BIOS disk) into a base tree, for this
# tree's librain and for an earlier revision's (by default the last one
# that mounted the base: loop mount + tar + untar), five rounds each,
# in turn (after a sync). Prints wall and CPU seconds (user + system, the sandboxes and
# tools included) of each round and their medians; on a shared machine
# compare CPU.
#
#   bench/clone.sh [REV]   REV: the revision to compare with
#   DISK=ref.raw bench/clone.sh   reuse a reference disk made before
# Needs root. Scratch space: ${TMPDIR:-/var/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-}
if [ -z "$rev" ]; then  # the last revision whose clone mounted the base
	rev=HEAD
	if ! git show "HEAD:src/lib/build/build-clone.c" | grep -q '"mount", "-t", "ext4"'; then
		rev=$(git log -1 --format=%H -S'"mount", "-t", "ext4"' -- src/lib/build/build-clone.c)^
	fi
fi
rev=$(git rev-parse "$rev")
[ "$(id -u)" -eq 0 ] || { echo "bench/clone.sh: run as root" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-clonebench.XXXXXX")
chmod 0711 "$work"
trap 'rm -rf --one-file-system "$work"' EXIT
libs="$(pkg-config --libs libarchive ext2fs com_err libsquashfs1 zlib libzstd jansson sqlite3 libcrypto \
	libcurl libargon2 ldap rpm) -lpthread"

driver() { # SRC_DIR BUILD_DIR OUT: clone-run against that tree's librain
	[ -d "$2" ] || meson setup "$2" "$1" -Dbuildtype=release >/dev/null
	ninja -C "$2" src/lib/librain.a src/util/librainutil.a src/cli/rain >/dev/null
	cc -O2 -D_GNU_SOURCE -I"$1/include" -I"$1/src" bench/clone-run.c -o "$3" \
		"$2/src/lib/librain.a" "$2/src/util/librainutil.a" $libs
}
driver "$PWD" "$PWD/build-release" "$work/new"
mkdir "$work/old-src"
git archive "$rev" | tar -x -C "$work/old-src"
driver "$work/old-src" "$work/old-build" "$work/old"

if [ -n "${DISK:-}" ]; then    # a disk of an earlier run
	disk=$DISK
else
	build-release/src/cli/rain generate bench/ref.recipe -o "$work/out" --cache /var/cache/rain \
		>"$work/gen.log" 2>&1 || { tail -20 "$work/gen.log"; exit 1; }
	disk=$(ls "$work"/out/*.raw)
fi
echo "reference image: $(du -h --apparent-size "$disk" | cut -f1) disk, $(du -h "$disk" | cut -f1) used"
echo "before: ${rev:0:10} (mount + tar), after: this tree (imgfs)"

# a tree as text: path, type and mode, owner, size, link target, mtime, and
# the extended attributes of each entry
listing() {
	(cd "$1" && find . -xdev -printf '%p %M %U:%G %s %l %Ts\n' | sort)
	python3 -c '
import os, sys
for d, dirs, files in os.walk(sys.argv[1]):
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        for a in sorted(os.listxattr(p, follow_symlinks=False)):
            print(os.path.relpath(p, sys.argv[1]), a, os.getxattr(p, a, follow_symlinks=False).hex())' "$1"
}

declare -A walls cpus
for round in 1 2 3 4 5; do
	for v in old new; do
		d="$work/run-$v-$round"
		mkdir -m 0711 "$d"
		sync
		read -r wall cpu < <("$work/$v" "$disk" raw "$d" 2>"$d.log") || { tail -5 "$d.log"; exit 1; }
		[ -n "${cpu:-}" ] || { tail -5 "$d.log"; exit 1; }
		files=$(find "$d/base/root" -xdev | wc -l)
		[ "$round" -eq 1 ] && listing "$d/base/root" >"$work/list-$v"
		echo "round $round $v: wall $wall s, cpu $cpu s ($files entries) | load $(cut -d' ' -f1-3 /proc/loadavg)"
		walls[$v]+="$wall "
		cpus[$v]+="$cpu "
		rm -rf --one-file-system "$d"
	done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | sed -n 3p; }
if cmp -s "$work/list-old" "$work/list-new"; then
	echo "the trees are the same (paths, modes, owners, sizes, links, mtimes, xattrs: $(wc -l <"$work/list-new") lines)"
else
	echo "the trees differ:"; diff "$work/list-old" "$work/list-new" | head -20
fi
echo "median wall: before $(median "${walls[old]}") s, after $(median "${walls[new]}") s"
echo "median cpu:  before $(median "${cpus[old]}") s, after $(median "${cpus[new]}") s"
