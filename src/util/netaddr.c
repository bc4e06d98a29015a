#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "util/netaddr.h"
#include "util/strutil.h"

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void from_in6(const struct in6_addr *in6, struct net_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (!memcmp(in6->s6_addr, v4mapped, sizeof(v4mapped))) {
		out->family = AF_INET;
		memcpy(out->bytes, in6->s6_addr + 12, 4);
	} else {
		out->family = AF_INET6;
		memcpy(out->bytes, in6->s6_addr, 16);
	}
}

bool net_addr_from_sockaddr(const struct sockaddr *sa, struct net_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		from_in6(&((const struct sockaddr_in6 *)sa)->sin6_addr, out);
		return true;
	}
	return false;
}

int net_addr_parse(const char *s, struct net_addr *out)
{
	struct in6_addr in6;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->bytes) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &in6) == 1) {
		from_in6(&in6, out);
		return 0;
	}
	return RAIN_EINVAL;
}

void net_addr_text(const struct net_addr *a, char *out, size_t outlen)
{
	if (!a->family || !inet_ntop(a->family, a->bytes, out, (socklen_t)outlen))
		snprintf(out, outlen, "-");
}

bool net_addr_equal(const struct net_addr *a, const struct net_addr *b)
{
	return a->family == b->family &&
	       !memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16);
}

uint32_t net_addr_hash(const struct net_addr *a)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	for (int i = 0; i < (a->family == AF_INET ? 4 : 16); i++)
		h = (h ^ a->bytes[i]) * 16777619u;
	return h;
}

static void mask(struct net_addr *a, unsigned int bits)
{
	unsigned int total = a->family == AF_INET ? 32 : 128;

	for (unsigned int i = bits; i < total; i++)
		a->bytes[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
}

int net_prefix_parse(const char *s, struct net_prefix *out)
{
	char text[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned int max;
	int64_t bits;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(text))
		goto fail;
	memcpy(text, s, n);
	text[n] = '\0';
	if (net_addr_parse(text, &out->addr) < 0)
		goto fail;
	/* an IPv4-mapped prefix counts in IPv4 bits */
	max = out->addr.family == AF_INET ? 32 : 128;
	if (!slash) {
		out->bits = max;
		return 0;
	}
	if (str_to_i64(slash + 1, &bits) < 0 || bits < 0)
		goto fail;
	if (out->addr.family == AF_INET && strchr(text, ':')) {
		if (bits < 96)
			goto fail;
		bits -= 96;
	}
	if (bits > max)
		goto fail;
	out->bits = (unsigned int)bits;
	mask(&out->addr, out->bits);
	return 0;
fail:
	return rain_error_set(RAIN_EINVAL, "'%s' is not an IP address or an ADDRESS/BITS range "
			      "(e.g. 192.0.2.7, 10.0.0.0/8, 2001:db8::/32)", s);
}

bool net_prefix_match(const struct net_prefix *p, const struct net_addr *a)
{
	struct net_addr m = *a;

	if (a->family != p->addr.family)
		return false;
	mask(&m, p->bits);
	return net_addr_equal(&m, &p->addr);
}

int net_prefix_list_parse(const char *s, struct net_prefix **out, size_t *n)
{
	struct net_prefix *list = NULL;
	size_t count = 0;
	const char *p = s;
	int r;

	*out = NULL;
	*n = 0;
	for (;;) {
		char item[80];
		size_t len;

		p += strspn(p, ", \t");
		if (!*p)
			break;
		len = strcspn(p, ", \t");
		if (len >= sizeof(item)) {
			free(list);
			return rain_error_set(RAIN_EINVAL, "'%.*s...' is not an IP address or range",
					      20, p);
		}
		memcpy(item, p, len);
		item[len] = '\0';
		p += len;
		r = ARRAY_GROW1(list, count);
		if (r < 0) {
			free(list);
			return r;
		}
		r = net_prefix_parse(item, &list[count]);
		if (r < 0) {
			free(list);
			return r;
		}
		count++;
	}
	*out = list;
	*n = count;
	return 0;
}

bool net_prefix_list_match(const struct net_prefix *list, size_t n, const struct net_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (net_prefix_match(&list[i], a))
			return true;
	return false;
}
