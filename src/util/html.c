#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/html.h"
#include "util/strutil.h"

#define REPLACEMENT "\xef\xbf\xbd"     /* U+FFFD */

int html_escape_n(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, seq;

	while (i < len) {
		unsigned char c = p[i];
		const char *ent = NULL;

		switch (c) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		}
		if (ent) {
			if (fputs(ent, f) < 0)
				return -1;
			i++;
		} else if (c >= 0x80) {
			seq = str_utf8_seq(p + i, len - i);
			if (seq ? fwrite(p + i, 1, seq, f) != seq : fputs(REPLACEMENT, f) < 0)
				return -1;
			i += seq ? seq : 1;
		} else if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
			if (fputs(REPLACEMENT, f) < 0)
				return -1;
			i++;
		} else {
			if (putc(c, f) == EOF)
				return -1;
			i++;
		}
	}
	return 0;
}

int html_escape(FILE *f, const char *s)
{
	return s ? html_escape_n(f, s, strlen(s)) : 0;
}

char *form_value(const char *body, size_t len, const char *key)
{
	size_t klen = strlen(key), i = 0;

	while (i < len) {
		const char *field = body + i, *end = memchr(field, '&', len - i), *eq;
		size_t flen = end ? (size_t)(end - field) : len - i, vlen;
		char *raw, *v;

		i += flen + 1;
		eq = memchr(field, '=', flen);
		if (!eq || (size_t)(eq - field) != klen || memcmp(field, key, klen))
			continue;
		vlen = flen - klen - 1;
		raw = malloc(vlen + 1);
		if (!raw)
			return NULL;
		memcpy(raw, eq + 1, vlen);
		raw[vlen] = '\0';
		/* a NUL byte in the raw value would end it early: refuse it */
		v = strlen(raw) == vlen ? str_url_decode(raw) : NULL;
		explicit_bzero(raw, vlen);
		free(raw);
		return v;
	}
	return NULL;
}
