/* libFuzzer harness for the web catalog's one escaping function and its
 * form reader (util/html.h). The input is escaped whole; checked: the
 * output holds no < > " ' and no & that does not start one of the five
 * entities written, is valid UTF-8 (checked here with iconv, not with the
 * code under test) and has no control character but tab, newline and
 * carriage return; text without markup, controls or non-ASCII bytes
 * comes out unchanged. The input is also read as a form body: a field
 * found is never longer than the body. */
#include <iconv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/html.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const entities[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&#39;" };

static void check_utf8(char *s, size_t len)
{
	iconv_t cd = iconv_open("UTF-32LE", "UTF-8");
	char *in = s, *outbuf = malloc(len * 4 + 4), *out = outbuf;
	size_t inleft = len, outleft = len * 4 + 4;

	if (cd == (iconv_t)-1 || !outbuf)
		abort();
	if (iconv(cd, &in, &inleft, &out, &outleft) == (size_t)-1 || inleft)
		abort();        /* not valid UTF-8 */
	/* no surrogates or values past U+10FFFF (glibc's iconv refuses them too) */
	for (char *p = outbuf; p < out; p += 4) {
		uint32_t c;

		memcpy(&c, p, 4);
		if ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
			abort();
	}
	iconv_close(cd);
	free(outbuf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = NULL, *v;
	size_t len = 0;
	FILE *f;
	bool plain = true;

	if (size > 65536)
		return 0;
	f = open_memstream(&out, &len);
	if (!f || html_escape_n(f, (const char *)data, size) < 0 || fclose(f) != 0)
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c == '<' || c == '>' || c == '"' || c == '\'' || c == 0x7f ||
		    (c < 0x20 && c != '\t' && c != '\n' && c != '\r'))
			abort();
		if (c == '&') {
			bool known = false;

			for (size_t e = 0; e < sizeof(entities) / sizeof(*entities); e++)
				known = known || !strncmp(out + i, entities[e], strlen(entities[e]));
			if (!known)
				abort();
		}
	}
	check_utf8(out, len);
	for (size_t i = 0; i < size; i++)
		plain = plain && data[i] >= 0x20 && data[i] < 0x7f && !strchr("<>\"'&", data[i]);
	if (plain && (len != size || memcmp(out, data, size)))
		abort();
	free(out);

	v = form_value((const char *)data, size, "a");
	if (v && strlen(v) > size)
		abort();
	free(v);
	return 0;
}
