/* A small streaming JSON writer: appends compact JSON text to one growing
 * buffer, for responses whose size makes building a jansson tree first
 * the main cost (a page of images).
 *
 * The text is what jansson's json_dumps(JSON_COMPACT) writes for the same
 * values, byte for byte: "," and ":" without spaces; in strings '"' and
 * '\\' escaped, \b \f \n \r \t for those controls, every other byte below
 * 0x20 as \u00XX (upper-case hex); '/', DEL and valid UTF-8 as they are.
 * Like jansson, a string that is not valid UTF-8 (RFC 3629: no overlong
 * forms, surrogates or code points past U+10FFFF) is not written: the
 * jsonw_*str functions return RAIN_EINVAL and write nothing, and the
 * member functions write no member (neither key nor value) when the key or
 * the value is not valid UTF-8, which is what json_object_set_new() does.
 *
 * Commas are placed by the writer: every value function writes one before
 * its value when the value is not the first of its array, and the member
 * functions before a member that is not the first of its object.
 *
 * Errors (out of memory, nesting deeper than JSONW_MAX_DEPTH, a value
 * where a member belongs or the reverse) stick: later calls do nothing
 * and jsonw_finish() reports the first. Not thread-safe: one writer, one
 * thread.
 */
#ifndef RAIN_UTIL_JSONW_H
#define RAIN_UTIL_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONW_MAX_DEPTH 64

struct jsonw {
	char *buf;          /* owned; NUL-terminated while len < cap */
	size_t len, cap;
	unsigned int depth;
	uint64_t in_object; /* bit d: depth d + 1 is an object */
	uint64_t has_items; /* bit d: depth d has a value or member already */
	int error;          /* 0, or the first negative RAIN_E* code */
};

/* An empty writer (or zero-initialize the struct); cap_hint: bytes to
 * reserve at first (0: a default). Never fails: an allocation failure
 * shows in jsonw_finish(). */
void jsonw_init(struct jsonw *w, size_t cap_hint);
/* Free the buffer (when not taken by jsonw_finish()). */
void jsonw_free(struct jsonw *w);

/* True when s[0..n) is valid UTF-8 as jansson checks it. */
bool jsonw_utf8_valid(const char *s, size_t n);

/* Values: an element of the current array, or the whole text at depth 0. */
void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
/* s may be NULL: null. RAIN_EINVAL (nothing written) for invalid UTF-8. */
int jsonw_str(struct jsonw *w, const char *s);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

/* Members of the current object. */
int jsonw_member_str(struct jsonw *w, const char *key, const char *s);  /* s NULL: null */
int jsonw_member_int(struct jsonw *w, const char *key, int64_t v);
int jsonw_member_bool(struct jsonw *w, const char *key, bool v);
int jsonw_member_null(struct jsonw *w, const char *key);
/* "key": followed by the object or array begun: end it with
 * jsonw_object_end()/jsonw_array_end(). */
int jsonw_member_object_begin(struct jsonw *w, const char *key);
int jsonw_member_array_begin(struct jsonw *w, const char *key);

/* Hand back the text (NUL-terminated; *out owned by the caller, free())
 * and its length; the writer is empty afterwards. 0, or the writer's
 * first error (RAIN_ENOMEM with the out-of-memory message, RAIN_EINVAL for
 * a misuse or an unclosed object or array), with *out NULL. */
int jsonw_finish(struct jsonw *w, char **out, size_t *len);

#endif
