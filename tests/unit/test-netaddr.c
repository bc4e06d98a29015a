/* Unit tests for src/util/netaddr: addresses, ranges and lists as raind's
 * trusted_proxies and per-address connection limits use them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "util/netaddr.h"

static struct net_addr addr(const char *s)
{
	struct net_addr a;

	assert_int_equal(net_addr_parse(s, &a), 0);
	return a;
}

static void test_addresses(void **state)
{
	struct net_addr a = addr("192.0.2.1"), m = addr("::ffff:192.0.2.1"), b;
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	char text[NET_ADDR_TEXT_MAX];

	(void)state;
	/* an IPv4-mapped address is the IPv4 client */
	assert_true(net_addr_equal(&a, &m));
	assert_int_equal(net_addr_hash(&a), net_addr_hash(&m));
	memcpy(sin6.sin6_addr.s6_addr + 10, "\xff\xff\xc0\x00\x02\x01", 6);
	assert_true(net_addr_from_sockaddr((struct sockaddr *)&sin6, &b));
	assert_true(net_addr_equal(&a, &b));
	net_addr_text(&b, text, sizeof(text));
	assert_string_equal(text, "192.0.2.1");
	b = addr("2001:db8::1");
	net_addr_text(&b, text, sizeof(text));
	assert_string_equal(text, "2001:db8::1");
	assert_false(net_addr_equal(&a, &b));
	/* hostile or malformed text */
	assert_int_equal(net_addr_parse("", &b), RAIN_EINVAL);
	assert_int_equal(net_addr_parse("192.0.2.1 ", &b), RAIN_EINVAL);
	assert_int_equal(net_addr_parse("192.0.2.1:80", &b), RAIN_EINVAL);
	assert_int_equal(net_addr_parse("evil.example", &b), RAIN_EINVAL);
	assert_int_equal(net_addr_parse("300.1.1.1", &b), RAIN_EINVAL);
}

static void test_prefixes(void **state)
{
	struct net_prefix p;
	struct net_addr a;

	(void)state;
	assert_int_equal(net_prefix_parse("10.0.0.0/8", &p), 0);
	a = addr("10.200.3.4");
	assert_true(net_prefix_match(&p, &a));
	a = addr("11.0.0.1");
	assert_false(net_prefix_match(&p, &a));
	/* host bits are ignored, a single address is /32 */
	assert_int_equal(net_prefix_parse("192.168.7.9/16", &p), 0);
	a = addr("192.168.200.1");
	assert_true(net_prefix_match(&p, &a));
	assert_int_equal(net_prefix_parse("127.0.0.2", &p), 0);
	assert_int_equal(p.bits, 32);
	a = addr("127.0.0.1");
	assert_false(net_prefix_match(&p, &a));
	a = addr("::ffff:127.0.0.2");
	assert_true(net_prefix_match(&p, &a));
	/* IPv6, and a mapped prefix in IPv4 bits */
	assert_int_equal(net_prefix_parse("2001:db8::/32", &p), 0);
	a = addr("2001:db8:ffff::1");
	assert_true(net_prefix_match(&p, &a));
	a = addr("10.0.0.1");
	assert_false(net_prefix_match(&p, &a));
	assert_int_equal(net_prefix_parse("::ffff:10.0.0.0/104", &p), 0);
	assert_int_equal(p.bits, 8);
	assert_true(net_prefix_match(&p, &a));
	/* /0 matches the whole family */
	assert_int_equal(net_prefix_parse("0.0.0.0/0", &p), 0);
	assert_true(net_prefix_match(&p, &a));
	/* hostile */
	assert_int_equal(net_prefix_parse("10.0.0.0/33", &p), RAIN_EINVAL);
	assert_error_contains("10.0.0.0/33");
	assert_int_equal(net_prefix_parse("10.0.0.0/-1", &p), RAIN_EINVAL);
	assert_int_equal(net_prefix_parse("10.0.0.0/", &p), RAIN_EINVAL);
	assert_int_equal(net_prefix_parse("/8", &p), RAIN_EINVAL);
	assert_int_equal(net_prefix_parse("::/129", &p), RAIN_EINVAL);
	assert_int_equal(net_prefix_parse("::ffff:10.0.0.0/95", &p), RAIN_EINVAL);
	assert_int_equal(net_prefix_parse("localhost", &p), RAIN_EINVAL);
}

static void test_lists(void **state)
{
	struct net_prefix *list;
	struct net_addr a;
	size_t n;

	(void)state;
	assert_int_equal(net_prefix_list_parse(" 10.0.0.0/8, 127.0.0.2 ::1\t", &list, &n), 0);
	assert_int_equal(n, 3);
	a = addr("::1");
	assert_true(net_prefix_list_match(list, n, &a));
	a = addr("127.0.0.1");
	assert_false(net_prefix_list_match(list, n, &a));
	free(list);
	assert_int_equal(net_prefix_list_parse("", &list, &n), 0);
	assert_int_equal(n, 0);
	assert_false(net_prefix_list_match(list, n, &a));
	assert_int_equal(net_prefix_list_parse("10.0.0.1, bogus", &list, &n), RAIN_EINVAL);
	assert_error_contains("'bogus'");
	assert_null(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
