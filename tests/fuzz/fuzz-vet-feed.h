/* What the feed harnesses share: a feed's invariants, and a match of a
 * fixed package list against it. */
#ifndef RAIN_FUZZ_VET_FEED_H
#define RAIN_FUZZ_VET_FEED_H

#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "rain/pkg.h"
#include "rain/vet-feed.h"

static const char fuzz_status[] =
	"Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n\n"
	"Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10+deb12u4\n\n"
	"Package: a\nStatus: install ok installed\nSource: b (1:0)\nVersion: 1:0+b1\n";

static inline void fuzz_check_feed(struct rain_vet_feed *f)
{
	struct rain_vet_feed_counts c;
	const struct rain_vet_advisory *a;
	struct rain_vet_finding *v;
	struct rain_pkg_list l;
	size_t n;

	a = rain_vet_feed_advisories(f, &n);
	for (size_t i = 0; i < n; i++) {
		if (!a[i].package[0] || !a[i].id[0] || !a[i].aliases || !a[i].description ||
		    strchr(a[i].description, '\n') || strchr(a[i].description, '\t') ||
		    (a[i].fixed && rain_pkg_version_check(rain_vet_feed_family(f), a[i].fixed) < 0))
			__builtin_trap();
		if (i && strcmp(a[i - 1].package, a[i].package) > 0)
			__builtin_trap();
	}
	rain_vet_feed_count(f, &c);
	if (c.advisories != n || c.packages > n || c.ids > n || c.unfixed > n)
		__builtin_trap();
	if (rain_pkg_parse_dpkg_status(fuzz_status, sizeof(fuzz_status) - 1, "fuzz", &l) < 0)
		__builtin_trap();
	if (rain_vet_feed_match(f, &l, &v, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (!v[i].pkg || !v[i].adv)
				__builtin_trap();
		free(v);
	}
	rain_pkg_list_free(&l);
}

#endif
