/* Small string helpers shared by the library, the daemon and the CLI. */
#ifndef RAIN_UTIL_STRUTIL_H
#define RAIN_UTIL_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/cleanup.h"

bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);

/* True when s is non-empty, at most max bytes long, and has no control
 * character (so no NUL, newline or escape can hide in a name). */
bool str_is_printable(const char *s, size_t max);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);

/* True when s is exactly n lowercase hex digits. */
bool hex_is_valid(const char *s, size_t n);

/* The length of the well-formed UTF-8 sequence at p (2 to 4 bytes, of
 * at most left), or 0 when there is none (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF; as jansson's utf8_check_full). */
size_t str_utf8_seq(const unsigned char *p, size_t left);

/* Constant-time comparison of two strings: the time depends only on the
 * length of b (the secret). Returns true when equal. */
bool str_equal_ct(const char *a, const char *b);

/* Parse a decimal int64 occupying all of s. 0 or RAIN_EINVAL. */
int str_to_i64(const char *s, int64_t *out);

/* True when s is one of the NULL-terminated list. */
bool str_in_list(const char *const *list, const char *s);

/* Parse yes/no, true/false, 1/0. 0 or RAIN_EINVAL. */
int str_to_bool(const char *s, bool *out);

/* Replace *dst with a copy of value (freeing the old one). 0 or RAIN_ENOMEM. */
int str_set(char **dst, const char *value);

/* String vectors (char **v with a count n, kept NULL-terminated): add a
 * copy of s; join them with sep into a new string (NULL on ENOMEM); free
 * all. */
int strv_add(char ***v, size_t *n, const char *s);
char *strv_join(char *const *v, size_t n, const char *sep);
void strv_free(char **v, size_t n);

/* Zero a secret string, then free it. NULL is fine. */
void str_free_secret(char *s);

/* Percent-decode into a new string (NULL on a bad escape or embedded NUL). */
char *str_url_decode(const char *s);

/* Percent-encode everything but unreserved characters (RFC 3986). */
char *str_url_encode(const char *s);

#endif
