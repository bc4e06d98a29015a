/* libFuzzer harness for the text formats vetting reads from an image
 * (lib/vet/vet-parse.h): passwd, shadow, sshd_config, md5sums, .list,
 * inetd.conf, dpkg status, diversions, dpkg.cfg, os-release,
 * authorized_keys lines and private-key markers. The first byte picks
 * the parser; the rest is the file, in a buffer of exactly its size (no
 * NUL after it) so that a read past the end is caught. Every record
 * handed out must hold what the header promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/vet/vet-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s)
{
	if (!s)
		__builtin_trap();
	(void)strlen(s);
}

static int on_passwd(void *ud, const struct vet_passwd_line *pw)
{
	check_str(pw->name);
	check_str(pw->password);
	check_str(pw->home);
	check_str(pw->shell);
	if (!*pw->name)
		__builtin_trap();
	return 0;
}

static int on_shadow(void *ud, const char *name, const char *hash)
{
	check_str(name);
	check_str(hash);
	return 0;
}

static int on_sshd(void *ud, unsigned line, const char *kw, char **args, size_t n)
{
	check_str(kw);
	if (n > 256 || args[n])
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		check_str(args[i]);
	return 0;
}

static int on_md5(void *ud, const char *md5, const char *path)
{
	if (strlen(md5) != 32 || path[0] != '/' || path[1] == '/' || !path[1])
		__builtin_trap();
	return 0;
}

static int on_path(void *ud, const char *path)
{
	if (path[0] != '/')
		__builtin_trap();
	return 0;
}

static int on_inetd(void *ud, const struct vet_inetd_line *l)
{
	check_str(l->service);
	check_str(l->server);
	check_str(l->args);
	return 0;
}

static int on_stanza(void *ud, const struct vet_dpkg_stanza *s)
{
	check_str(s->package);
	check_str(s->arch);
	check_str(s->status);
	for (size_t i = 0; i < s->n_conffiles; i++)
		if (s->conffiles[i][0] != '/')
			__builtin_trap();
	if (s->conffiles && s->conffiles[s->n_conffiles])
		__builtin_trap();
	return 0;
}

static int on_div(void *ud, const char *from, const char *to, const char *by)
{
	if (from[0] != '/' || to[0] != '/')
		__builtin_trap();
	check_str(by);
	return 0;
}

static int on_cfg(void *ud, bool exclude, const char *glob)
{
	return on_path(ud, glob);
}

static int on_kv(void *ud, const char *key, const char *value)
{
	check_str(key);
	check_str(value);
	return 0;
}

static void authkeys(const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = strndup(p, n), *buf = malloc(n + 1);
		struct vet_authkey k;

		if (line && buf && vet_authkey_parse(line, buf, n + 1, &k) == 0) {
			check_str(k.options);
			check_str(k.comment);
			if (!*k.type || !*k.key)
				__builtin_trap();
		}
		free(line);
		free(buf);
		p += n + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	size_t bad = 0, len;
	ssize_t at;

	if (size < 1)
		return 0;
	len = size - 1;
	text = malloc(len ? len : 1);
	if (!text)
		return 0;
	memcpy(text, data + 1, len);
	switch (data[0] % 11) {
	case 0: vet_passwd_parse(text, len, on_passwd, NULL, &bad); break;
	case 1: vet_shadow_parse(text, len, on_shadow, NULL, &bad); break;
	case 2: vet_sshd_parse(text, len, on_sshd, NULL, &bad); break;
	case 3: vet_md5sums_parse(text, len, on_md5, NULL, &bad); break;
	case 4: vet_list_parse(text, len, on_path, NULL, &bad); break;
	case 5: vet_inetd_parse(text, len, on_inetd, NULL, &bad); break;
	case 6: vet_dpkg_status_parse(text, len, on_stanza, NULL, &bad); break;
	case 7: vet_diversions_parse(text, len, on_div, NULL, &bad); break;
	case 8: vet_dpkg_cfg_parse(text, len, on_cfg, NULL, &bad); break;
	case 9: vet_os_release_parse(text, len, on_kv, NULL, &bad); break;
	case 10:
		authkeys(text, len);
		at = vet_private_key_find(text, len);
		if (at >= 0 && ((size_t)at + 11 > len || memcmp(text + at, "-----BEGIN ", 11) != 0))
			__builtin_trap();
		break;
	}
	free(text);
	return 0;
}
