/* libFuzzer harness for web-download's URL rules (src/daemon/import-url.c):
 * the input is "PREFIXES\nPRIVATE\nURL\n" followed by up to 16 bytes of
 * an address. Checked: a refusal always has a message; every prefix of a
 * list that parsed is allowed by that list; an allowed URL has no user
 * name and no encoded dot, slash or backslash; an address allowed to be
 * connected to is no loopback, private or link-local one unless the
 * private ranges list it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "daemon/import-url.h"
#include "rain/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *line(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	const char *e = nl ? nl : end;
	char *s = strndup(*p, (size_t)(e - *p));

	*p = nl ? nl + 1 : end;
	return s;
}

static bool looks_private(const struct net_addr *a)
{
	const uint8_t *b = a->bytes;

	if (a->family == AF_INET)
		return b[0] == 127 || b[0] == 10 || b[0] == 0 || (b[0] == 169 && b[1] == 254) ||
		       (b[0] == 192 && b[1] == 168) || (b[0] == 172 && (b[1] & 0xf0) == 16);
	return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||
	       (!memcmp(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15) && b[15] <= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	char *prefixes, *priv, *url;
	struct url_allow a;
	struct net_addr addr = { 0 };

	if (size > 8192 || memchr(data, 0, size))
		return 0;
	prefixes = line(&p, end);
	priv = line(&p, end);
	url = line(&p, end);
	if (!prefixes || !priv || !url)
		goto done;
	rain_error_clear();
	if (url_allow_parse(&a, prefixes, priv) < 0) {
		if (!*rain_error_last())
			abort();
		goto done;
	}
	/* each prefix allows itself */
	for (char *save = NULL, *t = strtok_r(prefixes, " \t,", &save); t;
	     t = strtok_r(NULL, " \t,", &save))
		if (url_allow_check(&a, t) != 0)
			abort();
	rain_error_clear();
	if (url_allow_check(&a, url) == 0) {
		CURLU *h = curl_url();
		char *user = NULL, *path = NULL;

		if (h && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK) {
			curl_url_get(h, CURLUPART_USER, &user, 0);
			curl_url_get(h, CURLUPART_PATH, &path, 0);
			if (user || (path && (strcasestr(path, "%2e") || strcasestr(path, "%2f"))))
				abort();
		}
		curl_free(user);
		curl_free(path);
		curl_url_cleanup(h);
	} else if (!*rain_error_last()) {
		abort();
	}
	if (end - p >= 4) {
		addr.family = end - p >= 16 ? AF_INET6 : AF_INET;
		memcpy(addr.bytes, p, addr.family == AF_INET6 ? 16 : 4);
		if (url_addr_allowed(&a, &addr) && looks_private(&addr) && a.npriv == 0)
			abort();
	}
	url_allow_free(&a);
done:
	free(prefixes);
	free(priv);
	free(url);
	return 0;
}
