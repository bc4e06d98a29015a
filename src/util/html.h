/* HTML output and HTML form input for raind's web pages (api/web.c).
 *
 * html_escape() is the one escaping function of the pages: every value
 * that is not a literal of the page goes through it, in text and in
 * (double-quoted) attribute values alike. form_value() reads one field
 * of an application/x-www-form-urlencoded body.
 */
#ifndef RAIN_UTIL_HTML_H
#define RAIN_UTIL_HTML_H

#include <stddef.h>
#include <stdio.h>

/* Write the len bytes of s to f as HTML text: & < > " ' become entities,
 * control characters other than tab, newline and carriage return, and
 * bytes that are not well-formed UTF-8 (overlong forms, surrogates, past
 * U+10FFFF, cut sequences) become U+FFFD, so that the output is valid
 * UTF-8 and holds no markup. NUL bytes in s count as control characters.
 * Returns 0, or -1 when f fails. */
int html_escape_n(FILE *f, const char *s, size_t len);
/* The same for a NUL-terminated string; NULL writes nothing. */
int html_escape(FILE *f, const char *s);

/* The value of field key in the form body (len bytes, not necessarily
 * NUL-terminated): the first occurrence, '+' and percent-escapes
 * decoded. A new string owned by the caller (free it; str_free_secret
 * for a password), or NULL when the field is absent, its escapes are
 * malformed or it decodes to a NUL byte, or out of memory. */
char *form_value(const char *body, size_t len, const char *key);

#endif
