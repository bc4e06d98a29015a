/* Command lines split into words with a shell's quoting (shellwords.h). */
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "util/cleanup.h"
#include "util/shellwords.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Where byte off of text is, for messages: "column C" or "line L, column C"
 * (characters, not bytes: UTF-8 continuation bytes are not counted). */
static int fail_at(const char *text, size_t off, size_t first_line, const char *what)
{
	size_t line = first_line, col = 1;

	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			col++;
		}
	}
	if (first_line > 0)
		return rain_error_set(RAIN_EINVAL, "line %zu, column %zu: %s", line, col, what);
	return rain_error_set(RAIN_EINVAL, "column %zu: %s", col, what);
}

static int word_end(struct shellwords *w, const char *buf, size_t len)
{
	int r = ARRAY_GROW1(w->v, w->n + 1);

	if (r < 0)
		return r;
	w->v[w->n] = strndup(buf, len);
	if (!w->v[w->n])
		return rain_error_oom();
	w->v[++w->n] = NULL;
	return 0;
}

int shellwords_split(const char *text, size_t len, unsigned flags, size_t first_line,
		     struct shellwords *out)
{
	_cleanup_free_ char *buf = malloc(len + 1);
	size_t blen = 0, start = 0, qpos = 0, bs = 0;
	bool word = false;
	char quote = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (!buf || ARRAY_GROW1(out->v, 0) < 0)
		return rain_error_oom();
	out->v[0] = NULL;
	if (memchr(text, '\0', len))
		return fail_at(text, (size_t)((const char *)memchr(text, '\0', len) - text), first_line,
			       "a NUL byte; a command line is text");
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (quote == '\'') {
			if (c == '\'')
				quote = 0;
			else
				buf[blen++] = c;
			continue;
		}
		if (quote == '"') {
			if (c == '"') {
				quote = 0;
			} else if (c == '\\' && i + 1 < len && strchr("\\\"$`\n", text[i + 1])) {
				if (text[++i] != '\n')
					buf[blen++] = text[i];
			} else if (c == '\\' && i + 1 == len) {
				out->backslash = true;
				bs = i;
			} else {
				buf[blen++] = c;
			}
			continue;
		}
		if (c == '\\' && i + 1 < len && text[i + 1] == '\n') {
			/* the lines are joined: nothing starts or ends here; at
			 * the end of the text, the line goes on on the next */
			if (i + 2 == len) {
				out->backslash = true;
				bs = i;
			}
			i++;
			continue;
		}
		if (is_blank(c)) {
			if (word && (r = word_end(out, buf, blen)) < 0)
				return r;
			word = false;
			blen = 0;
			continue;
		}
		if (c == '#' && !word) {
			while (i + 1 < len && text[i + 1] != '\n')
				i++;
			continue;
		}
		if (!word) {
			word = true;
			start = i;
		}
		if (c == '\'' || c == '"') {
			quote = c;
			qpos = i;
		} else if (c == '\\' && i + 1 == len) {
			out->backslash = true;
			bs = i;
		} else if (c == '\\') {
			buf[blen++] = text[++i];
		} else {
			buf[blen++] = c;
		}
	}
	if (!(flags & SHELLWORDS_PARTIAL)) {
		if (quote == '\'')
			return fail_at(text, qpos, first_line, "the single quote here is not closed; "
				       "end the word with '");
		if (quote == '"')
			return fail_at(text, qpos, first_line, "the double quote here is not closed; "
				       "end the word with \"");
		if (out->backslash)
			return fail_at(text, bs, first_line, "a backslash ends the line; remove "
				       "it, or write \\\\ for a backslash");
	}
	if (word) {
		r = word_end(out, buf, blen);
		if (r < 0)
			return r;
		out->in_word = true;
		out->word_start = start;
	}
	out->quote = quote;
	return 0;
}

void shellwords_free(struct shellwords *w)
{
	for (size_t i = 0; w->v && i < w->n; i++)
		free(w->v[i]);
	free(w->v);
	memset(w, 0, sizeof(*w));
}

char *shellwords_quote(const char *s, char quote)
{
	size_t n = strlen(s);
	char *out = malloc(4 * n + 3), *p = out;
	bool control = false;

	if (!out)
		return NULL;
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			control = true;
	if (quote == 0 && control) {
		/* a backslash before a newline would join lines: quote instead */
		*p++ = '\'';
		quote = '\'';
	} else {
		control = false;
	}
	for (const char *c = s; *c; c++) {
		if (quote == '\'' && *c == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
			continue;
		}
		if ((quote == '"' && strchr("\\\"$`", *c)) ||
		    (quote == 0 && strchr(" \t\r\n'\"\\#", *c)))
			*p++ = '\\';
		*p++ = *c;
	}
	if (control)
		*p++ = '\'';
	*p = '\0';
	return out;
}
