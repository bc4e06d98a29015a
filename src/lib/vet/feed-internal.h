/* What the feed files of src/lib/vet share: release names, the matching
 * rule, reading inputs from a path or a URL. */
#ifndef RAIN_LIB_VET_FEED_INTERNAL_H
#define RAIN_LIB_VET_FEED_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rain/vet-feed.h"

/* "Debian:12" -> "bookworm"; anything else as it is. Borrowed. */
const char *feed_release_codename(const char *release);
/* "bookworm" -> "Debian:12" (written into buf); anything else as it is. */
const char *feed_release_ecosystem(const char *release, char *buf, size_t len);

/* Whether advisory a of f affects installed package p (the rule in
 * rain/vet-feed.h). */
bool feed_affects(const struct rain_vet_feed *f, const struct rain_vet_advisory *a,
		  const struct rain_pkg *p);

/* True when s looks like a URL this library fetches (http, https, file). */
bool feed_is_url(const char *s);

/* Download url into fd (at its current offset) with at most max bytes,
 * hashing what it writes when sha256 is not NULL (32 bytes out). *mtime
 * (may be NULL) gets the server's Last-Modified or 0. RAIN_ENOTFOUND for
 * HTTP 404 / a missing file://, RAIN_ENET for other failures, RAIN_ETOOBIG
 * over max; the message names the URL. */
int feed_fetch(const char *url, int fd, uint64_t max, unsigned char *sha256, int64_t *mtime,
	       volatile int *cancel);

/* Open path_or_url for reading: a path is opened as it is (a regular file
 * or, when dir_ok, a folder: *is_dir set); a URL is downloaded into an
 * unlinked temporary file of at most max bytes, rewound. *mtime: the
 * file's mtime or the server's Last-Modified (0 unknown). The fd is the
 * caller's. */
int feed_open_input(const char *path_or_url, uint64_t max, bool dir_ok, int *fd, bool *is_dir,
		    int64_t *mtime);

/* An unlinked temporary file ($TMPDIR or /tmp), read-write. */
int feed_tmpfile(int *fd);

#endif
