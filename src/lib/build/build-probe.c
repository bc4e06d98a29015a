/* Mirror reachability: one short request before a long bootstrap, so that
 * a build whose mirror cannot be reached fails in seconds and says so.
 * Any backend may call it (builders/rpm.c does; builders/deb.c relies on
 * apt's own errors). See build-internal.h. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "build-internal.h"
#include "rain/error.h"
#include "util/strutil.h"

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

/* ---- which mirrors a build may use ---- */

/* Loopback, link-local, private, shared (CGNAT), unspecified, multicast
 * or reserved: not a public mirror. */
static bool address_is_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);

		return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 || (a >> 16) == 0xa9fe ||
		       (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 || (a >> 22) == (100u << 2 | 1) ||
		       (a >> 28) >= 0xe;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a)) {
			struct sockaddr_in v4 = { .sin_family = AF_INET };

			memcpy(&v4.sin_addr, &a->s6_addr[12], 4);
			return address_is_private((const struct sockaddr *)&v4);
		}
		return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
		       IN6_IS_ADDR_SITELOCAL(a) || IN6_IS_ADDR_MULTICAST(a) || (a->s6_addr[0] & 0xfe) == 0xfc;
	}
	return true;
}

int build_mirror_allowed(const char *mirror, bool allow_private)
{
	const char *p = strstr(mirror, "://"), *host, *end;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	char name[256], addr[INET6_ADDRSTRLEN] = "";

	if (allow_private)
		return 0;
	if (!p || (!str_has_prefix(mirror, "http://") && !str_has_prefix(mirror, "https://")))
		return rain_error_set(RAIN_EFORBIDDEN, "[image] mirror = %s: only http:// and https:// mirrors "
				      "are allowed for builds (file:// and others need --limit "
				      "allow_private_mirrors=yes, [builds] allow_private_mirrors)", mirror);
	host = p + 3;
	host += strcspn(host, "@/") < strcspn(host, "/") ? strcspn(host, "@") + 1 : 0;
	if (*host == '[') {
		host++;
		end = strchr(host, ']');
	} else {
		end = host + strcspn(host, ":/?#");
	}
	if (!end || end == host || (size_t)(end - host) >= sizeof(name))
		return rain_error_set(RAIN_EINVAL, "[image] mirror = %s: no host name in it", mirror);
	snprintf(name, sizeof(name), "%.*s", (int)(end - host), host);
	/* a name that does not resolve reaches nothing: the backend says so */
	if (getaddrinfo(name, NULL, &hints, &res) != 0)
		return 0;
	for (ai = res; ai; ai = ai->ai_next)
		if (address_is_private(ai->ai_addr)) {
			getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST);
			break;
		}
	freeaddrinfo(res);
	if (ai)
		return rain_error_set(RAIN_EFORBIDDEN, "the mirror %s is refused: %s is %s, a loopback, "
				      "link-local or private address, which builds may not reach unless "
				      "allowed (--limit allow_private_mirrors=yes, [builds] "
				      "allow_private_mirrors)", mirror, name, addr);
	return 0;
}
