#!/bin/bash
# Image generation benchmark: rain generate vs plain mmdebstrap with the same
# package list (minbase + kernel + systemd + openssh-server, a bootable 2 GiB
# BIOS disk for rain; a root tree for mmdebstrap), in one run on this
# machine. Prints a table and ratios. mkosi (needs systemd-nspawn and a
# system bus) and virt-builder (needs libguestfs.org's templates) cannot run
# here, so plain mmdebstrap is the peer.
#
#   bench/generate.sh           plain mmdebstrap twice; rain cold, warm packages + new
#                               base, warm, cached base + 3 new packages, 1/2/4 concurrent
#   bench/generate.sh --quick   plain mmdebstrap once, 4 concurrent left out
# Needs root. Scratch space: ${TMPDIR:-/var/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=${1:-}
[ "$(id -u)" -eq 0 ] || { echo "bench/generate.sh: run as root" >&2; exit 1; }
[ -d build-release ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release >/dev/null
RAIN=$PWD/build-release/src/cli/rain
work=$(mktemp -d "${TMPDIR:-/var/tmp}/rain-genbench.XXXXXX")
chmod 0711 "$work"   # the build sandbox's root passes through to the cache
trap 'pkill -f "[m]mdebstrap.*$work" 2>/dev/null || true; rm -rf --one-file-system "$work"' EXIT
cp bench/ref.recipe "$work/ref.recipe"   # the reference image of every build benchmark

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }

plain() { # plain mmdebstrap with the same packages into $1
	mmdebstrap --variant=minbase --include=linux-image-amd64,systemd-sysv,udev,openssh-server \
		bookworm "$1" >"$1.log" 2>&1
}

echo "== plain mmdebstrap (no package cache of its own)"
t0=$(now); plain "$work/plain1"; t1=$(now); plain_1=$(secs "$t0" "$t1"); rm -rf "$work/plain1"
echo "   run 1: $plain_1 s"
plain_2=-
if [ "$quick" != --quick ]; then
	t0=$(now); plain "$work/plain2"; t1=$(now); plain_2=$(secs "$t0" "$t1"); rm -rf "$work/plain2"
	echo "   run 2: $plain_2 s"
fi

echo "== rain generate, cold (empty package and base caches)"
t0=$(now); "$RAIN" generate "$work/ref.recipe" -o "$work/cold" --cache "$work/cache" --quiet; t1=$(now)
cold=$(secs "$t0" "$t1"); echo "   $cold s"
echo "== rain generate, warm package cache, base rebuilt"
rm -rf "$work/cache/bases"
t0=$(now); "$RAIN" generate "$work/ref.recipe" -o "$work/pkgwarm" --cache "$work/cache" --quiet; t1=$(now)
pkgwarm=$(secs "$t0" "$t1"); echo "   $pkgwarm s"
echo "== rain generate, warm (package cache and cached base)"
t0=$(now); "$RAIN" generate "$work/ref.recipe" -o "$work/warm" --cache "$work/cache" --quiet; t1=$(now)
warm=$(secs "$t0" "$t1"); echo "   $warm s"
echo "== rain generate, cached base + 3 packages never fetched before (curl, jq, rsync)"
sed 's/^install = openssh-server$/install = openssh-server, curl, jq, rsync/' "$work/ref.recipe" >"$work/plus3.recipe"
t0=$(now); "$RAIN" generate "$work/plus3.recipe" -o "$work/plus3" --cache "$work/cache" --quiet; t1=$(now)
plus3=$(secs "$t0" "$t1"); echo "   $plus3 s"
rm -rf "$work/cold" "$work/pkgwarm" "$work/warm" "$work/plus3"

conc() { # conc N: N warm builds at once, wall time
	local n=$1 i pids=()
	t0=$(now)
	for i in $(seq 1 "$n"); do
		"$RAIN" generate "$work/ref.recipe" -o "$work/c$n-$i" --cache "$work/cache" --quiet &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	t1=$(now)
	rm -rf "$work"/c"$n"-*
	secs "$t0" "$t1"
}
c1=$(conc 1); echo "== 1 warm build alone: $c1 s"
c2=$(conc 2); echo "== 2 concurrent warm builds: $c2 s"
c4=-
if [ "$quick" != --quick ]; then c4=$(conc 4); echo "== 4 concurrent warm builds: $c4 s"; fi

ratio() { # ratio A B: A/B, or - when either is missing
	case "$1:$2" in *-*|:*|*:) echo - ;; *) python3 -c "print(f'{$1 / $2:.2f}')" ;; esac
}
echo
echo "rain generate benchmark, $(date -u +%FT%TZ), $(nproc) cores, rain $(git rev-parse --short HEAD)"
printf '%-44s %10s %10s %8s  %s\n' metric rain peer ratio goal
printf '%-44s %10s %10s %8s  %s\n' "bootable image, cold (s)" "$cold" "$plain_1" "$(ratio "$cold" "$plain_1")" "(peer: plain mmdebstrap)"
printf '%-44s %10s %10s %8s  %s\n' "bootable image, warm packages, new base (s)" "$pkgwarm" "$plain_2" "$(ratio "$pkgwarm" "$plain_2")" "<= 60 s"
printf '%-44s %10s %10s %8s  %s\n' "bootable image, warm (s)" "$warm" "$plain_2" "$(ratio "$warm" "$plain_2")" "<= 60 s"
printf '%-44s %10s %10s %8s  %s\n' "cached base + 3 new packages (s)" "$plus3" "$plain_2" "$(ratio "$plus3" "$plain_2")" "<= 20 s"
printf '%-44s %10s %10s %8s  %s\n' "2 concurrent warm builds (s)" "$c2" "-" "$(ratio "$c2" "$c1")" "x one build"
printf '%-44s %10s %10s %8s  %s\n' "4 concurrent warm builds (s)" "$c4" "-" "$(ratio "$c4" "$c1")" "<= 2.5 x one build"
