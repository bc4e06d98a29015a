/* libFuzzer harness for rain shell's line splitter (util/shellwords.h):
 * the input after its first byte is a command line, split whole and
 * partially (the first byte picks the starting line number of messages).
 * Checked: a split succeeds or fails with a message that says where; the
 * partial split never fails on what the whole split may (an open quote, a
 * last backslash) and agrees with it when both succeed; and every word
 * written back with shellwords_quote() in each quoting splits again to
 * the same words (what TAB completion inserts can be read back). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "util/shellwords.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The words of w written back in quoting q, each word as "xQ...Qy" so that
 * an empty one stays a word, split again: the same words with x and y
 * around them. */
static void round_trip(const struct shellwords *w, char q)
{
	for (size_t i = 0; i < w->n; i++) {
		char *s = shellwords_quote(w->v[i], q), *line;
		struct shellwords back;
		size_t len;

		if (!s)
			abort();
		len = strlen(s);
		line = malloc(len + 5);
		if (!line)
			abort();
		if (q)
			sprintf(line, "x%c%s%cy", q, s, q);
		else
			sprintf(line, "x%sy", s);
		if (shellwords_split(line, strlen(line), 0, 0, &back) < 0 || back.n != 1 ||
		    back.v[0][0] != 'x' || strncmp(back.v[0] + 1, w->v[i], strlen(w->v[i])) ||
		    strcmp(back.v[0] + 1 + strlen(w->v[i]), "y"))
			abort();
		shellwords_free(&back);
		free(line);
		free(s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shellwords whole, part;
	const char *text = (const char *)data + 1;
	size_t len = size - 1, first;
	int r, rp;

	if (size < 1 || size > 16384)
		return 0;
	first = data[0] % 4;
	r = shellwords_split(text, len, 0, first, &whole);
	if (r < 0 && (r != RAIN_EINVAL || !strstr(rain_error_last(), "column ")))
		abort();
	rp = shellwords_split(text, len, SHELLWORDS_PARTIAL, first, &part);
	if (rp < 0 && (rp != RAIN_EINVAL || !memchr(text, '\0', len)))
		abort();        /* only a NUL byte fails a partial split */
	if (r == 0) {
		if (rp < 0 || part.n != whole.n || part.quote || part.backslash)
			abort();
		for (size_t i = 0; i < whole.n; i++)
			if (strcmp(part.v[i], whole.v[i]))
				abort();
		if (whole.v[whole.n])
			abort();
		round_trip(&whole, 0);
		round_trip(&whole, '\'');
		round_trip(&whole, '"');
	}
	if (rp == 0 && part.in_word && (part.n == 0 || part.word_start >= len))
		abort();
	shellwords_free(&whole);
	shellwords_free(&part);
	return 0;
}
