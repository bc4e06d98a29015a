/* What runs on a netboot site's nodes need (rain/netboot.h): the site's
 * power programs as argument vectors for a node, the address of a node's
 * sshd, and the run's public key as a kernel argument for rain's
 * initramfs. Pure text work, shared by the site driver's check and the
 * netboot provider (src/lib/provision/providers/netboot.c); fuzzed by
 * tests/fuzz/fuzz-netboot-run.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "rain/netboot.h"
#include "util/base64.h"
#include "util/cleanup.h"
#include "util/strutil.h"

#define MAX_SETTING 4096
#define MAX_KEY 16384

/* The next word of a program setting from *p into w (cap bytes): quotes
 * removed, %-sequences expanded for node (only checked when node is
 * NULL). 1 when a word was read, 0 at the end. */
static int command_word(const char *key, const char **p, const struct rain_netboot_node *node,
			char *w, size_t cap)
{
	const char *s = *p;
	size_t n = 0;
	char quote = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s) {
		*p = s;
		return 0;
	}
	for (; *s && (quote || (*s != ' ' && *s != '\t')); s++) {
		const char *add = NULL;
		char one[2] = { *s, '\0' }, mac[RAIN_NETBOOT_MAC_LEN + 1];

		if (quote && *s == quote) {
			quote = 0;
			continue;
		}
		if (!quote && (*s == '\'' || *s == '"')) {
			quote = *s;
			continue;
		}
		if (*s == '%') {
			switch (s[1]) {
			case 'n':
				add = node ? node->name : "";
				break;
			case 'm':
				if (node) {
					memcpy(mac, node->mac, sizeof(mac));
					for (size_t i = 2; i < RAIN_NETBOOT_MAC_LEN; i += 3)
						mac[i] = ':';
				}
				add = node ? mac : "";
				break;
			case '%':
				add = "%";
				break;
			default:
				return rain_error_set(RAIN_EINVAL, "%s: '%%%.1s' is none of %%n (the node's name), "
						      "%%m (its MAC), %%%%", key, s[1] ? s + 1 : "");
			}
			s++;
		} else {
			add = one;
		}
		if (n + strlen(add) >= cap)
			return rain_error_set(RAIN_EINVAL, "%s: a word is too long", key);
		memcpy(w + n, add, strlen(add));
		n += strlen(add);
	}
	if (quote)
		return rain_error_set(RAIN_EINVAL, "%s: the quote %c is not closed", key, quote);
	w[n] = '\0';
	*p = s;
	return 1;
}

int rain_netboot_command(const char *key, const char *value, const struct rain_netboot_node *node,
			 char ***argv, size_t *argc)
{
	_cleanup_free_ char *w = NULL;
	char **v = NULL;
	size_t n = 0, words = 0, cap;
	const char *p = value;
	int r;

	if (argv)
		*argv = NULL;
	if (argc)
		*argc = 0;
	if (!value || !str_is_printable(value, MAX_SETTING))
		return rain_error_set(RAIN_EINVAL, "%s: one line of printable text (at most %d bytes) is "
				      "needed: PROGRAM ARGS... with %%n for the node's name, %%m its MAC",
				      key, MAX_SETTING);
	/* "%n" (2 bytes) becomes at most 63 */
	cap = strlen(value) * 32 + 1;
	if (!(w = malloc(cap)))
		return rain_error_oom();
	while ((r = command_word(key, &p, node, w, cap)) > 0) {
		if (!words++ && node && !w[0]) {
			r = rain_error_set(RAIN_EINVAL, "%s: the program's name is empty for node %s", key,
					   node->name);
			break;
		}
		if (node && strv_add(&v, &n, w) < 0) {
			r = rain_error_oom();
			break;
		}
	}
	if (r == 0 && !words)
		r = rain_error_set(RAIN_EINVAL, "%s: no program is named (PROGRAM ARGS...)", key);
	if (r < 0 || !node) {
		strv_free(v, n);
		return r;
	}
	if (argv)
		*argv = v;
	else
		strv_free(v, n);
	if (argc)
		*argc = n;
	return 0;
}

int rain_netboot_console_path(const char *value, const struct rain_netboot_node *node, char **out)
{
	char **v = NULL;
	size_t n = 0;
	int r;

	*out = NULL;
	if ((r = rain_netboot_command("console", value, node, &v, &n)) < 0)
		return r;
	if (n != 1 || v[0][0] != '/' || strstr(v[0], "/../") || str_has_suffix(v[0], "/..")) {
		strv_free(v, n);
		return rain_error_set(RAIN_EINVAL, "console: one absolute path is needed (%%n the node's "
				      "name, %%m its MAC: /var/log/conserver/%%n.log)");
	}
	*out = v[0];
	free(v);
	return 0;
}

static bool host_ok(const char *h, size_t len)
{
	if (!len || len > RAIN_NETBOOT_HOST_MAX)
		return false;
	if (h[0] == '[')
		return len > 2 && h[len - 1] == ']' && strspn(h + 1, "0123456789abcdefABCDEF:.") == len - 2;
	return h[0] != '-' && h[0] != '.' &&
	       strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == len;
}

int rain_netboot_ssh_addr(const char *value, const struct rain_netboot_node *nodes, size_t n,
			  const char *node, char host[RAIN_NETBOOT_HOST_MAX + 1], int *port)
{
	_cleanup_free_ char *copy = NULL;
	char *save = NULL;
	bool found = false;

	if (node) {
		snprintf(host, RAIN_NETBOOT_HOST_MAX + 1, "%s", node);
		*port = 22;
	}
	if (!value)
		return 0;
	if (!str_is_printable(value, MAX_SETTING))
		return rain_error_set(RAIN_EINVAL, "ssh: one line of NAME=HOST[:PORT] words is needed");
	if (!(copy = strdup(value)))
		return rain_error_oom();
	for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
		char *eq = strchr(w, '='), *h, *colon, *end = NULL;
		long pn = 22;
		size_t hl;
		bool known = false;

		if (!eq)
			return rain_error_set(RAIN_EINVAL, "ssh: '%s' is not NAME=HOST[:PORT]", w);
		*eq = '\0';
		h = eq + 1;
		for (size_t i = 0; i < n; i++)
			known |= !strcmp(nodes[i].name, w);
		if (!known)
			return rain_error_set(RAIN_EINVAL, "ssh: '%s' is none of the site's nodes", w);
		colon = h[0] == '[' ? strstr(h, "]:") : strrchr(h, ':');
		if (colon && h[0] == '[')
			colon++;
		hl = colon ? (size_t)(colon - h) : strlen(h);
		if (colon) {
			pn = strtol(colon + 1, &end, 10);
			if (!colon[1] || *end || pn < 1 || pn > 65535)
				return rain_error_set(RAIN_EINVAL, "ssh: %s: '%s' is not a port (1-65535)", w,
						      colon + 1);
		}
		if (!host_ok(h, hl))
			return rain_error_set(RAIN_EINVAL, "ssh: %s: '%.*s' is not a host name or address", w,
					      (int)hl, h);
		if (node && !strcmp(node, w)) {
			if (found)
				return rain_error_set(RAIN_EINVAL, "ssh: node %s is given twice", w);
			found = true;
			/* [V6] as ssh takes it: without the brackets */
			if (h[0] == '[')
				snprintf(host, RAIN_NETBOOT_HOST_MAX + 1, "%.*s", (int)hl - 2, h + 1);
			else
				snprintf(host, RAIN_NETBOOT_HOST_MAX + 1, "%.*s", (int)hl, h);
			*port = (int)pn;
		}
	}
	return 0;
}

int rain_netboot_key_arg(const char *pub, char **out)
{
	static const char *const types[] = { "ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-", NULL };
	_cleanup_free_ char *b = NULL;
	const char *sp;
	bool typed = false;
	size_t len;

	*out = NULL;
	for (size_t i = 0; pub && types[i]; i++)
		typed |= str_has_prefix(pub, types[i]);
	sp = pub ? strchr(pub, ' ') : NULL;
	if (!typed || !sp || sp[1] == '\0' || sp[1] == ' ' || !str_is_printable(pub, MAX_KEY))
		return rain_error_set(RAIN_EINVAL, "netboot: the run's key is no OpenSSH public key line "
				      "(\"ssh-ed25519 AAAA... comment\")");
	if (!(b = base64_encode(pub, strlen(pub))))
		return rain_error_oom();
	len = strlen(b);
	while (len && b[len - 1] == '=')
		b[--len] = '\0';
	for (char *c = b; *c; c++)
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	if (asprintf(out, "rain.ssh_key=%s", b) < 0) {
		*out = NULL;
		return rain_error_oom();
	}
	return 0;
}
