#include <ctype.h>
#include <errno.h>
#include <string.h>


#include "rain/error.h"
#include "util/strutil.h"

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

bool str_is_printable(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++, n++) {
		unsigned char c = (unsigned char)*s;

		if (n >= max || c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

bool hex_is_valid(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

bool str_equal_ct(const char *a, const char *b)
{
	size_t n = strlen(b), m = strnlen(a, n + 1);
	unsigned char diff = m != n;
	/* compare n bytes of a padded view, never reading past a */
	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < m ? (unsigned char)a[i] : 0;

		diff |= x ^ (unsigned char)b[i];
	}
	return diff == 0;
}

int str_to_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s) || *s == '+')
		return RAIN_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return RAIN_EINVAL;
	*out = v;
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *str_url_decode(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		if (*s == '%') {
			int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);

			if (lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			s += 2;
		} else if (*s == '+') {
			*o++ = ' ';
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

char *str_url_encode(const char *s)
{
	static const char digits[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c)) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = digits[c >> 4];
			*o++ = digits[c & 15];
		}
	}
	*o = '\0';
	return out;
}

bool str_in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

int str_to_bool(const char *s, bool *out)
{
	if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "1"))
		*out = true;
	else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0"))
		*out = false;
	else
		return RAIN_EINVAL;
	return 0;
}

int str_set(char **dst, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return rain_error_oom();
	free(*dst);
	*dst = copy;
	return 0;
}

int strv_add(char ***v, size_t *n, const char *s)
{
	/* room for s and the NULL after it */
	int r = array_grow((void **)v, sizeof(**v), *n + 1, NULL);

	if (r < 0)
		return r;
	(*v)[*n] = strdup(s);
	(*v)[*n + 1] = NULL;
	if (!(*v)[*n])
		return rain_error_oom();
	(*n)++;
	return 0;
}

char *strv_join(char *const *v, size_t n, const char *sep)
{
	size_t len = 1, seplen = strlen(sep);
	char *out, *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + (i ? seplen : 0);
	out = p = malloc(len);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++)
		p = stpcpy(i ? stpcpy(p, sep) : p, v[i]);
	*p = '\0';
	return out;
}

void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void str_free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

int array_grow(void **v, size_t sz, size_t n, size_t *cap)
{
	size_t want;
	void *nv;

	if (cap && n < *cap)
		return 0;
	want = !cap ? n + 1 : *cap ? *cap * 2 : 16;
	if (want <= n || want > SIZE_MAX / sz)
		return rain_error_oom();
	nv = realloc(*v, want * sz);
	if (!nv)
		return rain_error_oom();
	*v = nv;
	if (cap)
		*cap = want;
	return 0;
}

size_t str_utf8_seq(const unsigned char *p, size_t left)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > left)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}
