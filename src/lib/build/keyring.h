/* Archive and repository signing keys of a recipe ([image] keyring,
 * key_fingerprint): which keys an OpenPGP keyring holds, and whether it
 * holds the one the recipe (or, for Ubuntu, rain) pins. Pure functions,
 * internal to librain; tests/unit/test-keyring.c and
 * tests/fuzz/fuzz-keyring.c check them.
 */
#ifndef RAIN_BUILD_KEYRING_H
#define RAIN_BUILD_KEYRING_H

#include <stdbool.h>
#include <stddef.h>

#include "rain/recipe.h"

/* Keyrings bigger than this are refused (Ubuntu's is 3.6 KiB). */
#define KEYRING_MAX (1 << 20)

/* The fingerprints of the primary keys in data (len bytes): a binary
 * keyring (apt's .gpg files) or ASCII armor (.asc, RPM-GPG-KEY-*), parsed
 * by librpm's OpenPGP code. *fps is a new vector of *n strings of
 * RAIN_FINGERPRINT_LEN upper-case hex digits (free with strv_free).
 * The data is never trusted: RAIN_EFORMAT naming where when it is not a
 * keyring or holds no v4 public key. */
int keyring_fingerprints(const void *data, size_t len, const char *where, char ***fps, size_t *n);

/* Whether the keyring (fps, n) holds the key r pins: r->key_fingerprint,
 * else for a distribution with rain_recipe_archive_keys one of those;
 * with neither, any key passes. RAIN_EINVAL naming the missing key, what
 * the keyring (called where) holds, and what to do. */
int keyring_check(const struct rain_recipe *r, const char *where, char *const *fps, size_t n);

/* The message for a distribution that needs a keyring the host does not
 * have (ubuntu without [image] keyring): RAIN_ENOTFOUND naming the keys. */
int keyring_missing(const struct rain_recipe *r);

#endif
