/* IP addresses and address ranges (CIDR) as raind's connection limits
 * and its trusted-proxy list compare them.
 *
 * A struct net_addr is an IPv4 or IPv6 address in network byte order; an
 * IPv4-mapped IPv6 address (::ffff:192.0.2.1) is kept as the IPv4 address,
 * so a client is one address whichever socket family it arrived on. */
#ifndef RAIN_UTIL_NETADDR_H
#define RAIN_UTIL_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NET_ADDR_TEXT_MAX 46   /* INET6_ADDRSTRLEN */

struct net_addr {
	int family;               /* AF_INET or AF_INET6; 0: none */
	uint8_t bytes[16];        /* 4 used for AF_INET */
};

struct net_prefix {
	struct net_addr addr;     /* the bits past `bits` are zero */
	unsigned int bits;        /* 0-32 (IPv4) or 0-128 (IPv6) */
};

/* From a socket address; false for other families (e.g. AF_UNIX). */
bool net_addr_from_sockaddr(const struct sockaddr *sa, struct net_addr *out);
/* Parse a numeric address ("192.0.2.1", "2001:db8::1"). 0 or RAIN_EINVAL. */
int net_addr_parse(const char *s, struct net_addr *out);
/* The address as text into out (NET_ADDR_TEXT_MAX bytes; "-" for none). */
void net_addr_text(const struct net_addr *a, char *out, size_t outlen);
bool net_addr_equal(const struct net_addr *a, const struct net_addr *b);
uint32_t net_addr_hash(const struct net_addr *a);

/* Parse "ADDR" (a single address) or "ADDR/BITS". 0 or RAIN_EINVAL (with
 * a message naming s). */
int net_prefix_parse(const char *s, struct net_prefix *out);
bool net_prefix_match(const struct net_prefix *p, const struct net_addr *a);
/* Parse a list of prefixes separated by commas and/or blanks into a new
 * array (*out, free()) of *n entries; an empty list is fine (NULL, 0).
 * RAIN_EINVAL names the first bad entry. */
int net_prefix_list_parse(const char *s, struct net_prefix **out, size_t *n);
bool net_prefix_list_match(const struct net_prefix *list, size_t n, const struct net_addr *a);

#endif
