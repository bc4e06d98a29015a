#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "rain/error.h"
#include "util/base64.h"

char *base64_encode(const void *data, size_t n)
{
	size_t len = 4 * ((n + 2) / 3);
	char *s;

	if (n > (size_t)1 << 40)
		return NULL;
	s = malloc(len + 1);
	if (!s)
		return NULL;
	/* EVP_EncodeBlock takes an int: go in blocks (a multiple of 3) */
	for (size_t i = 0, o = 0; i < n;) {
		size_t blk = n - i > 3 * (1 << 20) ? 3 * (1 << 20) : n - i;

		o += (size_t)EVP_EncodeBlock((unsigned char *)s + o, (const unsigned char *)data + i,
					     (int)blk);
		i += blk;
	}
	s[len] = '\0';
	return s;
}

size_t base64_decoded_max(size_t len)
{
	return len / 4 * 3;
}

static bool is_b64(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int base64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	size_t pad = 0, n = 0;
	unsigned char *buf;

	*out = NULL;
	*outlen = 0;
	if (len % 4)
		return rain_error_set(RAIN_EINVAL, "not base64: the length is not a multiple of 4");
	if (len >= 1 && s[len - 1] == '=')
		pad++;
	if (len >= 2 && s[len - 2] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (!is_b64((unsigned char)s[i]))
			return rain_error_set(RAIN_EINVAL, "not base64: bad character at offset %zu", i);
	buf = malloc(base64_decoded_max(len) + 1);
	if (!buf)
		return rain_error_oom();
	/* blocks of 4 MiB of text (a multiple of 4) for EVP_DecodeBlock's int */
	for (size_t i = 0; i < len;) {
		size_t blk = len - i > (4u << 20) ? (4u << 20) : len - i;
		int k = EVP_DecodeBlock(buf + n, (const unsigned char *)s + i, (int)blk);

		if (k < 0) {
			free(buf);
			return rain_error_set(RAIN_EINVAL, "not base64");
		}
		n += (size_t)k;
		i += blk;
	}
	n -= pad;   /* EVP_DecodeBlock counts the padding as zero bytes */
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}
