/* What raind's web-download may fetch ([import] in raind.conf, raind(8)).
 *
 * A URL is allowed when it is http or https, has no user name or
 * password, and matches one prefix of web_download_allow: the same
 * scheme, host (case-insensitive) and port (the scheme's default when
 * not written), and a path that starts with the prefix's path at a '/'
 * boundary ("/images" covers "/images" and "/images/a", not
 * "/imagesX"). Both are parsed with libcurl's URL parser, which removes
 * dot segments; a path with an encoded '.', '/' or '\' (which a server
 * might decode into a way out of the prefix) is refused.
 *
 * Every address web-download connects to (checked on the resolved
 * address, at each connection, redirects included) must be a public
 * unicast one, or lie in web_download_private: loopback, private
 * (RFC 1918, fc00::/7), shared (100.64/10), link-local, unspecified,
 * multicast and reserved addresses are refused otherwise. */
#ifndef RAIND_IMPORT_URL_H
#define RAIND_IMPORT_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/netaddr.h"

struct url_rule {
	char *scheme;
	char *host;
	char *port;
	char *path;
};

struct url_allow {
	struct url_rule *rules;
	size_t n;
	struct net_prefix *priv;    /* private ranges allowed */
	size_t npriv;
};

/* Parse prefixes (URLs separated by blanks or commas; NULL or empty:
 * none) and private (CIDR ranges, the same) into *a, which
 * url_allow_free releases. RAIN_EINVAL names the bad entry. */
int url_allow_parse(struct url_allow *a, const char *prefixes, const char *private_ranges);
void url_allow_free(struct url_allow *a);
/* 0 when url may be fetched; RAIN_EINVAL when it is no http(s) URL,
 * RAIN_EFORBIDDEN when no prefix allows it, each with a message. */
int url_allow_check(const struct url_allow *a, const char *url);
/* Whether web-download may connect to addr (see the top). */
bool url_addr_allowed(const struct url_allow *a, const struct net_addr *addr);

#endif
