#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "daemon/import-url.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/strutil.h"

/* Addresses that are not public unicast ones (RFC 6890 and its IPv6 kin). */
static const char not_public[] =
	"0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 "
	"192.0.0.0/24 192.0.2.0/24 192.88.99.0/24 192.168.0.0/16 198.18.0.0/15 "
	"198.51.100.0/24 203.0.113.0/24 224.0.0.0/4 240.0.0.0/4 "
	"::/128 ::1/128 64:ff9b::/96 64:ff9b:1::/48 100::/64 2001::/23 2001:db8::/32 "
	"2002::/16 fc00::/7 fe80::/10 fec0::/10 ff00::/8";

struct parsed {
	char *scheme, *host, *port, *path, *user;
};

static void parsed_free(struct parsed *p)
{
	curl_free(p->scheme);
	curl_free(p->host);
	curl_free(p->port);
	curl_free(p->path);
	curl_free(p->user);
	memset(p, 0, sizeof(*p));
}

static int url_parse(const char *url, struct parsed *p, const char *what)
{
	CURLU *h = curl_url();
	int r = 0;

	memset(p, 0, sizeof(*p));
	if (!h)
		return rain_error_oom();
	if (strlen(url) > 4096 || curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &p->scheme, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &p->host, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_PORT, &p->port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_PATH, &p->path, 0) != CURLUE_OK) {
		r = rain_error_set(RAIN_EINVAL, "%s '%s' is not a URL (http://HOST[:PORT]/PATH)",
				   what, url);
		goto done;
	}
	curl_url_get(h, CURLUPART_USER, &p->user, 0);
	if (strcasecmp(p->scheme, "http") && strcasecmp(p->scheme, "https")) {
		r = rain_error_set(RAIN_EINVAL, "%s '%s': only http and https URLs are fetched",
				   what, url);
		goto done;
	}
	if (p->user) {
		r = rain_error_set(RAIN_EINVAL, "%s '%s' holds a user name: credentials are not "
				   "sent, put none in the URL", what, url);
		goto done;
	}
	if (strcasestr(p->path, "%2e") || strcasestr(p->path, "%2f") ||
	    strcasestr(p->path, "%5c") || strchr(p->path, '\\')) {
		r = rain_error_set(RAIN_EINVAL, "%s '%s': its path has an encoded '.', '/' or '\\'; "
				   "write the path plainly", what, url);
		goto done;
	}
done:
	curl_url_cleanup(h);
	if (r < 0)
		parsed_free(p);
	return r;
}

void url_allow_free(struct url_allow *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->rules[i].scheme);
		free(a->rules[i].host);
		free(a->rules[i].port);
		free(a->rules[i].path);
	}
	free(a->rules);
	free(a->priv);
	memset(a, 0, sizeof(*a));
}

static int add_rule(struct url_allow *a, const char *url)
{
	struct parsed p;
	struct url_rule *ru;
	int r = url_parse(url, &p, "[import] web_download_allow: prefix");

	if (r < 0)
		return r;
	r = ARRAY_GROW1(a->rules, a->n);
	if (r == 0) {
		ru = &a->rules[a->n];
		ru->scheme = strdup(p.scheme);
		ru->host = strdup(p.host);
		ru->port = strdup(p.port);
		ru->path = strdup(p.path);
		a->n++;
		if (!ru->scheme || !ru->host || !ru->port || !ru->path)
			r = rain_error_oom();
	}
	parsed_free(&p);
	return r;
}

int url_allow_parse(struct url_allow *a, const char *prefixes, const char *private_ranges)
{
	_cleanup_free_ char *copy = NULL;
	char *save = NULL;
	int r;

	memset(a, 0, sizeof(*a));
	if (prefixes) {
		copy = strdup(prefixes);
		if (!copy)
			return rain_error_oom();
		for (char *t = strtok_r(copy, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
			r = add_rule(a, t);
			if (r < 0) {
				url_allow_free(a);
				return r;
			}
		}
	}
	r = net_prefix_list_parse(private_ranges ? private_ranges : "", &a->priv, &a->npriv);
	if (r < 0) {
		r = rain_error_set(r, "[import] web_download_private: %s", rain_error_last());
		url_allow_free(a);
	}
	return r;
}

/* Does the rule's path cover path, at a '/' boundary? */
static bool path_covers(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);

	if (strncmp(prefix, path, n))
		return false;
	return n == 0 || prefix[n - 1] == '/' || path[n] == '\0' || path[n] == '/' || path[n] == '?';
}

int url_allow_check(const struct url_allow *a, const char *url)
{
	struct parsed p;
	int r = url_parse(url, &p, "web-download URL");

	if (r < 0)
		return r;
	r = rain_error_set(RAIN_EFORBIDDEN, "web-download URL '%s' is not allowed: it does not "
			   "start with any of the prefixes of [import] web_download_allow", url);
	for (size_t i = 0; i < a->n; i++) {
		const struct url_rule *ru = &a->rules[i];

		if (!strcasecmp(ru->scheme, p.scheme) && !strcasecmp(ru->host, p.host) &&
		    !strcmp(ru->port, p.port) && path_covers(ru->path, p.path)) {
			rain_error_clear();
			r = 0;
			break;
		}
	}
	parsed_free(&p);
	return r;
}

static struct net_prefix *bad;
static size_t nbad;
static pthread_once_t bad_once = PTHREAD_ONCE_INIT;

static void parse_not_public(void)
{
	if (net_prefix_list_parse(not_public, &bad, &nbad) < 0)
		bad = NULL;     /* refuses every address: cannot happen */
}

bool url_addr_allowed(const struct url_allow *a, const struct net_addr *addr)
{
	if (addr->family != AF_INET && addr->family != AF_INET6)
		return false;
	if (net_prefix_list_match(a->priv, a->npriv, addr))
		return true;
	pthread_once(&bad_once, parse_not_public);
	return bad && !net_prefix_list_match(bad, nbad, addr);
}
