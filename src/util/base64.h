/* Base64 (RFC 4648, standard alphabet, with padding). */
#ifndef RAIN_UTIL_BASE64_H
#define RAIN_UTIL_BASE64_H

#include <stddef.h>

/* Encode n bytes into a new NUL-terminated string (NULL on ENOMEM). */
char *base64_encode(const void *data, size_t n);

/* Decode s (len characters; line breaks are not allowed) into a new
 * buffer of *outlen bytes, NUL-terminated for convenience. 0,
 * RAIN_EINVAL when s is not base64, or RAIN_ENOMEM. */
int base64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen);

/* The decoded size of len characters of valid base64 (an upper bound
 * before the padding is seen). */
size_t base64_decoded_max(size_t len);

#endif
