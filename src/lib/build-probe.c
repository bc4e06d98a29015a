/* Mirror reachability: one short request before a long bootstrap, so that
 * a build whose mirror cannot be reached fails in seconds and says so.
 * Any backend may call it (builder-rpm.c does; builder-deb.c relies on
 * apt's own errors). See build-internal.h. */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "build-internal.h"
#include "rain/error.h"

static size_t discard(char *data, size_t size, size_t n, void *ud)
{
	(void)data;
	(void)ud;
	return size * n;
}

int build_mirror_probe(const char *mirror, const char *url, long timeout_s)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *c;
	CURLcode rc;
	long status = 0;

	if (timeout_s <= 0)
		timeout_s = BUILD_PROBE_TIMEOUT_S;
	c = curl_easy_init();
	if (!c)
		return rain_error_set(RAIN_ENOMEM, "cannot start a request to %s", url);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,ftp,file");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https,ftp");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FTP |
						      CURLPROTO_FILE));
#endif
	curl_easy_setopt(c, CURLOPT_USERAGENT, "rain/0.1");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 2 * timeout_s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK)
		return rain_error_set(RAIN_ENET, "the mirror %s cannot be reached (%s: %s)", mirror, url,
				      errbuf[0] ? errbuf : curl_easy_strerror(rc));
	/* file:// and ftp:// have no HTTP status; 0 there means found */
	if (status >= 400)
		return rain_error_set(RAIN_EINVAL, "the mirror %s has no repository where expected (%s: HTTP %ld): "
				      "check [image] mirror and release", mirror, url, status);
	return 0;
}
