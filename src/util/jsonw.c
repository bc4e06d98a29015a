/* The streaming JSON writer (util/jsonw.h). */
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "util/jsonw.h"
#include "util/strutil.h"

#define JSONW_DEFAULT_CAP 4096

void jsonw_init(struct jsonw *w, size_t cap_hint)
{
	memset(w, 0, sizeof(*w));
	w->cap = cap_hint ? cap_hint : JSONW_DEFAULT_CAP;
	w->buf = malloc(w->cap);
	if (!w->buf) {
		w->cap = 0;
		w->error = RAIN_ENOMEM;
	} else {
		w->buf[0] = '\0';
	}
}

void jsonw_free(struct jsonw *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

/* Room for n more bytes and the terminating NUL. */
static bool reserve(struct jsonw *w, size_t n)
{
	size_t cap;
	char *b;

	if (w->error)
		return false;
	if (w->len + n < w->cap)
		return true;
	if (n > SIZE_MAX / 4 - w->len) {
		w->error = RAIN_ENOMEM;
		return false;
	}
	cap = w->cap ? w->cap : JSONW_DEFAULT_CAP;
	while (cap <= w->len + n)
		cap *= 2;
	b = realloc(w->buf, cap);
	if (!b) {
		w->error = RAIN_ENOMEM;
		return false;
	}
	w->buf = b;
	w->cap = cap;
	return true;
}

static void put(struct jsonw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void put_c(struct jsonw *w, char c)
{
	if (!reserve(w, 1))
		return;
	w->buf[w->len++] = c;
	w->buf[w->len] = '\0';
}

bool jsonw_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		size_t k;

		if (*p < 0x80) {
			p++;
			continue;
		}
		k = str_utf8_seq(p, (size_t)(end - p));
		if (!k)
			return false;
		p += k;
	}
	return true;
}

/* The quoted, escaped string; false (with whatever was written) when s is
 * not valid UTF-8: the caller rolls back. */
static bool put_string(struct jsonw *w, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);

	put_c(w, '"');
	while (*p) {
		const unsigned char *run = p;
		unsigned char c;

		while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		put(w, (const char *)run, (size_t)(p - run));
		left -= (size_t)(p - run);
		c = *p;
		if (!c)
			break;
		if (c >= 0x80) {
			size_t k = str_utf8_seq(p, left);

			if (!k)
				return false;
			put(w, (const char *)p, k);
			p += k;
			left -= k;
			continue;
		}
		switch (c) {
		case '"': put(w, "\\\"", 2); break;
		case '\\': put(w, "\\\\", 2); break;
		case '\b': put(w, "\\b", 2); break;
		case '\f': put(w, "\\f", 2); break;
		case '\n': put(w, "\\n", 2); break;
		case '\r': put(w, "\\r", 2); break;
		case '\t': put(w, "\\t", 2); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

			put(w, u, sizeof(u));
			break;
		}
		}
		p++;
		left--;
	}
	put_c(w, '"');
	return true;
}

static void put_int(struct jsonw *w, int64_t v)
{
	char tmp[24], *e = tmp + sizeof(tmp), *p = e;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10));
	if (v < 0)
		*--p = '-';
	put(w, p, (size_t)(e - p));
}

static bool depth_bit(uint64_t bits, unsigned int depth)
{
	return bits & ((uint64_t)1 << depth);
}

/* Before a value: the comma, or a misuse inside an object. */
static bool value_start(struct jsonw *w)
{
	if (w->error)
		return false;
	if (w->depth && depth_bit(w->in_object, w->depth - 1)) {
		w->error = RAIN_EINVAL;
		return false;
	}
	if (depth_bit(w->has_items, w->depth)) {
		if (!w->depth) {
			w->error = RAIN_EINVAL;   /* one text, one value */
			return false;
		}
		put_c(w, ',');
	}
	return true;
}

static void item_done(struct jsonw *w)
{
	if (!w->error)
		w->has_items |= (uint64_t)1 << w->depth;
}

static void open_nested(struct jsonw *w, char c, bool object)
{
	if (w->depth + 1 >= JSONW_MAX_DEPTH) {
		w->error = RAIN_EINVAL;
		return;
	}
	put_c(w, c);
	if (w->error)
		return;
	w->depth++;
	w->has_items &= ~((uint64_t)1 << w->depth);
	if (object)
		w->in_object |= (uint64_t)1 << (w->depth - 1);
	else
		w->in_object &= ~((uint64_t)1 << (w->depth - 1));
}

static void close_nested(struct jsonw *w, char c, bool object)
{
	if (w->error)
		return;
	if (!w->depth || depth_bit(w->in_object, w->depth - 1) != object) {
		w->error = RAIN_EINVAL;
		return;
	}
	put_c(w, c);
	w->depth--;
	item_done(w);
}

void jsonw_object_begin(struct jsonw *w)
{
	if (value_start(w))
		open_nested(w, '{', true);
}

void jsonw_object_end(struct jsonw *w)
{
	close_nested(w, '}', true);
}

void jsonw_array_begin(struct jsonw *w)
{
	if (value_start(w))
		open_nested(w, '[', false);
}

void jsonw_array_end(struct jsonw *w)
{
	close_nested(w, ']', false);
}

int jsonw_str(struct jsonw *w, const char *s)
{
	size_t mark = w->len;

	if (!value_start(w))
		return w->error;
	if (!s) {
		put(w, "null", 4);
	} else if (!put_string(w, s)) {
		if (!w->error) {
			w->len = mark;
			w->buf[mark] = '\0';
			return RAIN_EINVAL;
		}
	}
	item_done(w);
	return w->error;
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	if (!value_start(w))
		return;
	put_int(w, v);
	item_done(w);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	if (!value_start(w))
		return;
	put(w, v ? "true" : "false", v ? 4 : 5);
	item_done(w);
}

void jsonw_null(struct jsonw *w)
{
	if (!value_start(w))
		return;
	put(w, "null", 4);
	item_done(w);
}

/* Before a member: the comma and "key":, or a misuse outside an object;
 * false with nothing written (len back at *mark) for a key that is not
 * valid UTF-8. */
static bool member_start(struct jsonw *w, const char *key, size_t *mark)
{
	*mark = w->len;
	if (w->error)
		return false;
	if (!w->depth || !depth_bit(w->in_object, w->depth - 1) || !key) {
		w->error = RAIN_EINVAL;
		return false;
	}
	if (depth_bit(w->has_items, w->depth))
		put_c(w, ',');
	if (!put_string(w, key)) {
		if (!w->error) {
			w->len = *mark;
			w->buf[*mark] = '\0';
		}
		return false;
	}
	put_c(w, ':');
	return !w->error;
}

/* After a member's value: count it, or take the member back. */
static int member_end(struct jsonw *w, bool ok, size_t mark)
{
	if (w->error)
		return w->error;
	if (!ok) {
		w->len = mark;
		w->buf[mark] = '\0';
		return RAIN_EINVAL;
	}
	item_done(w);
	return 0;
}

int jsonw_member_str(struct jsonw *w, const char *key, const char *s)
{
	size_t mark;
	bool ok;

	if (!member_start(w, key, &mark))
		return member_end(w, false, mark);
	if (s) {
		ok = put_string(w, s);
	} else {
		put(w, "null", 4);
		ok = true;
	}
	return member_end(w, ok, mark);
}

int jsonw_member_int(struct jsonw *w, const char *key, int64_t v)
{
	size_t mark;

	if (!member_start(w, key, &mark))
		return member_end(w, false, mark);
	put_int(w, v);
	return member_end(w, true, mark);
}

int jsonw_member_bool(struct jsonw *w, const char *key, bool v)
{
	size_t mark;

	if (!member_start(w, key, &mark))
		return member_end(w, false, mark);
	put(w, v ? "true" : "false", v ? 4 : 5);
	return member_end(w, true, mark);
}

int jsonw_member_null(struct jsonw *w, const char *key)
{
	size_t mark;

	if (!member_start(w, key, &mark))
		return member_end(w, false, mark);
	put(w, "null", 4);
	return member_end(w, true, mark);
}

/* "key": and the opening bracket; the member counts once it is closed. */
static int member_nested(struct jsonw *w, const char *key, char c, bool object)
{
	size_t mark;

	if (!member_start(w, key, &mark))
		return member_end(w, false, mark);
	open_nested(w, c, object);
	return w->error;
}

int jsonw_member_object_begin(struct jsonw *w, const char *key)
{
	return member_nested(w, key, '{', true);
}

int jsonw_member_array_begin(struct jsonw *w, const char *key)
{
	return member_nested(w, key, '[', false);
}

int jsonw_finish(struct jsonw *w, char **out, size_t *len)
{
	int r = w->error;

	*out = NULL;
	*len = 0;
	if (!r && (w->depth || !w->buf || !depth_bit(w->has_items, 0)))
		r = RAIN_EINVAL;
	if (r == RAIN_ENOMEM) {
		jsonw_free(w);
		return rain_error_oom();
	}
	if (r < 0) {
		jsonw_free(w);
		return rain_error_set(r, "JSON writer: the text is incomplete or misused "
				      "(a member outside an object, a value inside one, or nesting "
				      "deeper than %d)", JSONW_MAX_DEPTH);
	}
	*out = w->buf;
	*len = w->len;
	w->buf = NULL;
	jsonw_free(w);
	return 0;
}
