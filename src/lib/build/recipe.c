#include <ctype.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "rain/recipe.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/ini.h"
#include "util/strutil.h"

struct distro {
	const char *name;
	const char *family;
	const char *mirror;
	const char *default_release;
};

static const struct distro distros[] = {
	{ "debian", "deb", "http://deb.debian.org/debian", "bookworm" },
	{ "ubuntu", "deb", "http://archive.ubuntu.com/ubuntu", "noble" },
	{ "rocky", "rpm", "https://dl.rockylinux.org/pub/rocky", "9" },
	{ "alma", "rpm", "https://repo.almalinux.org/almalinux", "9" },
	{ "fedora", "rpm", "https://dl.fedoraproject.org/pub/fedora/linux", "40" },
	/* one signed RPM repository of one's own: [image] mirror is the
	 * repository, [image] keyring its key (rpm.c) */
	{ "rpm", "rpm", NULL, "1" },
};

/* Checked against ubuntu-keyring 2023.11.28.1 (noble's) and the issuer
 * fingerprint of dists/noble/Release.gpg and dists/jammy/Release.gpg. */
const struct rain_archive_key rain_recipe_archive_keys[] = {
	{ "ubuntu", "F6ECB3762474EDA9D21B7022871920D1991BC93C",
	  "Ubuntu Archive Automatic Signing Key (2018) <ftpmaster@ubuntu.com>" },
	{ "ubuntu", "790BC7277767219C42C86F933B4FE6ACC0B21F32",
	  "Ubuntu Archive Automatic Signing Key (2012) <ftpmaster@ubuntu.com>" },
	{ NULL, NULL, NULL },
};

/* Debian architecture names, and the aliases users type. */
static const char *const arches[][2] = {
	{ "amd64", "amd64" }, { "x86_64", "amd64" }, { "arm64", "arm64" },
	{ "aarch64", "arm64" }, { "i386", "i386" }, { "armhf", "armhf" },
	{ "ppc64el", "ppc64el" }, { "s390x", "s390x" }, { "riscv64", "riscv64" },
};

static const char *const format_names[] = {
	"dir", "tar", "tar.zst", "ext4", "disk", "qcow2", "squashfs",
};

#define NFORMATS (sizeof(format_names) / sizeof(*format_names))
#define DEFAULT_SIZE (2LL << 30)

static const struct distro *distro_find(const char *name)
{
	for (size_t i = 0; i < sizeof(distros) / sizeof(*distros); i++)
		if (!strcmp(distros[i].name, name))
			return &distros[i];
	return NULL;
}

const char *rain_recipe_default_mirror(const char *distribution)
{
	const struct distro *d = distro_find(distribution);

	return d ? d->mirror : NULL;
}

const char *rain_recipe_family(const char *distribution)
{
	const struct distro *d = distro_find(distribution);

	return d ? d->family : NULL;
}

const char *rain_output_format_name(enum rain_output_format f)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if ((unsigned)f == 1u << i)
			return format_names[i];
	return NULL;
}

void rain_recipe_free(struct rain_recipe *r)
{
	if (!r)
		return;
	free(r->file);
	free(r->dir);
	free(r->name);
	free(r->description);
	free(r->distribution);
	free(r->release);
	free(r->architecture);
	free(r->mirror);
	free(r->keyring);
	free(r->key_fingerprint);
	free(r->base);
	strv_free(r->packages, r->npackages);
	free(r->hostname);
	free(r->timezone);
	free(r->locale);
	strv_free(r->services, r->nservices);
	for (size_t i = 0; i < r->nusers; i++) {
		free(r->users[i].name);
		strv_free(r->users[i].ssh_keys, r->users[i].nssh_keys);
		free(r->users[i].shell);
	}
	free(r->users);
	for (size_t i = 0; i < r->nfiles; i++) {
		free(r->files[i].src);
		free(r->files[i].dest);
	}
	free(r->files);
	strv_free(r->scripts, r->nscripts);
	for (size_t i = 0; i < r->nmetadata; i++) {
		free(r->metadata[i].name);
		free(r->metadata[i].value);
	}
	free(r->metadata);
	free(r);
}

/* ---- value checks ---- */

int rain_recipe_fingerprint_parse(const char *s, char out[RAIN_FINGERPRINT_LEN + 1])
{
	size_t n = 0;

	for (; *s; s++) {
		if (*s == ' ')
			continue;
		if (!isxdigit((unsigned char)*s) || n == RAIN_FINGERPRINT_LEN)
			return RAIN_EINVAL;
		out[n++] = (char)toupper((unsigned char)*s);
	}
	out[n] = '\0';
	return n == RAIN_FINGERPRINT_LEN ? 0 : RAIN_EINVAL;
}

/* Debian and RPM package names, optionally "=version" or ":arch". */
static bool is_package_name(const char *s)
{
	const char *p = s;

	if (!isalnum((unsigned char)*p))
		return false;
	for (; *p && *p != '=' && *p != ':'; p++)
		if (!isalnum((unsigned char)*p) && !strchr("+-._", *p))
			return false;
	if (p - s > 128)
		return false;
	if (*p == ':' || *p == '=')
		for (p++; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("+-.~_:", *p))
				return false;
	return true;
}

static bool is_hostname(const char *s)
{
	size_t label = 0, n = 0;

	for (; *s; s++, n++) {
		if (*s == '.') {
			if (label == 0 || s[-1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*s) && !(*s == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
	return n > 0 && n <= 253 && label > 0;
}

static bool is_user_name(const char *s)
{
	size_t n = 0;

	if (!(islower((unsigned char)*s) || *s == '_'))
		return false;
	for (; *s; s++, n++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && !strchr("_-", *s))
			return false;
	return n <= 32;
}

/* Characters of time zone, locale, service and release names. */
static bool is_word(const char *s, const char *extra)
{
	if (!*s || strstr(s, ".."))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

static bool is_ssh_key(const char *s)
{
	static const char *const types[] = {
		"ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-nistp256 ", "ecdsa-sha2-nistp384 ",
		"ecdsa-sha2-nistp521 ", "sk-ssh-ed25519@openssh.com ",
		"sk-ecdsa-sha2-nistp256@openssh.com ", NULL
	};

	if (!str_is_printable(s, 16384))
		return false;
	for (const char *const *t = types; *t; t++)
		if (str_has_prefix(s, *t) && strlen(s) > strlen(*t) + 16)
			return true;
	return false;
}

/* An absolute path inside the image with no "." or ".." component. */
static bool is_image_path(const char *s)
{
	if (s[0] != '/' || !str_is_printable(s, 4096))
		return false;
	for (const char *p = s; *p; ) {
		const char *e;
		size_t n;

		while (*p == '/')
			p++;
		e = strchrnul(p, '/');
		n = (size_t)(e - p);
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p = e;
	}
	return strcmp(s, "/") != 0;
}

/* A path on the build host, relative to the recipe: no ".." to escape. */
static bool is_recipe_path(const char *s)
{
	return str_is_printable(s, 4096) && !strstr(s, "..");
}

int rain_recipe_parse_size(const char *s, int64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	int64_t mult = 1;

	rain_error_clear();
	if (end == s || v <= 0)
		return RAIN_EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mult = 1LL << 10; end++; break;
	case 'M': mult = 1LL << 20; end++; break;
	case 'G': mult = 1LL << 30; end++; break;
	case 'T': mult = 1LL << 40; end++; break;
	default: return RAIN_EINVAL;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v * (double)mult > (double)(1LL << 50))
		return RAIN_EINVAL;
	*out = (int64_t)(v * (double)mult);
	return 0;
}

/* ---- building the recipe ---- */

struct parse_ctx {
	struct rain_recipe *r;
	const char *file;
	int line;
	const char *section;
	const char *key;
	bool kernel_set;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct parse_ctx *c, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return rain_error_set(RAIN_EINVAL, "%s:%d: [%s] %s: %s", c->file, c->line, c->section,
			      c->key, msg);
}

/* Split a "a, b c" list; check(word) must accept each. */
static int add_list(struct parse_ctx *c, char ***v, size_t *n, const char *value,
		    bool (*check)(const char *), const char *what)
{
	_cleanup_free_ char *copy = strdup(value);
	char *save = NULL, *w;
	int r;

	if (!copy)
		return rain_error_oom();
	for (w = strtok_r(copy, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
		if (!check(w))
			return bad(c, "'%s' is not %s", w, what);
		r = strv_add(v, n, w);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool is_service(const char *s)
{
	return is_word(s, "-_.@:");
}

static int on_image(struct parse_ctx *c, const char *key, const char *value)
{
	struct rain_recipe *r = c->r;

	if (!strcmp(key, "name")) {
		if (!str_is_printable(value, RAIN_NAME_MAX) || strstr(value, "../") || !strcmp(value, ".."))
			return bad(c, "names are 1 to %d printable characters without '../'", RAIN_NAME_MAX);
		return str_set(&r->name, value);
	}
	if (!strcmp(key, "description"))
		return str_set(&r->description, value);
	if (!strcmp(key, "distribution")) {
		if (!distro_find(value))
			return bad(c, "unknown distribution '%s' (debian, ubuntu, rocky, alma, fedora, rpm)", value);
		return str_set(&r->distribution, value);
	}
	if (!strcmp(key, "release")) {
		if (!is_word(value, "-_."))
			return bad(c, "'%s' is not a release name", value);
		return str_set(&r->release, value);
	}
	if (!strcmp(key, "architecture")) {
		for (size_t i = 0; i < sizeof(arches) / sizeof(*arches); i++)
			if (!strcmp(arches[i][0], value))
				return str_set(&r->architecture, arches[i][1]);
		return bad(c, "unknown architecture '%s' (amd64, arm64, i386, armhf, ppc64el, s390x, riscv64)",
			   value);
	}
	if (!strcmp(key, "mirror")) {
		if ((!str_has_prefix(value, "http://") && !str_has_prefix(value, "https://") &&
		     !str_has_prefix(value, "file:/")) || !str_is_printable(value, 2048) ||
		    strpbrk(value, " \"'\\"))
			return bad(c, "'%s' is not an http://, https:// or file:/ URL", value);
		return str_set(&r->mirror, value);
	}
	if (!strcmp(key, "base")) {
		if (!strcmp(value, "scratch")) {
			free(r->base);
			r->base = NULL;
			return 0;
		}
		if (!str_has_prefix(value, "image:") || !str_is_printable(value + 6, RAIN_NAME_MAX))
			return bad(c, "base must be 'scratch' or 'image:ID' or 'image:NAME'");
		return str_set(&r->base, value + 6);
	}
	if (!strcmp(key, "keyring")) {
		if (!is_recipe_path(value))
			return bad(c, "keyring '%s' must be a path without '..'", value);
		return str_set(&r->keyring, value);
	}
	if (!strcmp(key, "key_fingerprint")) {
		char fp[RAIN_FINGERPRINT_LEN + 1];

		if (rain_recipe_fingerprint_parse(value, fp) < 0)
			return bad(c, "'%s' is not an OpenPGP v4 key fingerprint (40 hexadecimal digits, "
				   "spaces allowed)", value);
		return str_set(&r->key_fingerprint, fp);
	}
	return bad(c, "unknown key (name, description, distribution, release, architecture, mirror, keyring, "
		   "key_fingerprint, base)");
}

static int on_packages(struct parse_ctx *c, const char *key, const char *value)
{
	if (!strcmp(key, "install"))
		return add_list(c, &c->r->packages, &c->r->npackages, value, is_package_name,
				"a package name");
	if (!strcmp(key, "kernel")) {
		c->kernel_set = true;
		return str_to_bool(value, &c->r->kernel) < 0 ? bad(c, "say yes or no") : 0;
	}
	return bad(c, "unknown key (install, kernel)");
}

static bool is_timezone(const char *s)
{
	return is_word(s, "/_+-");
}

static bool is_locale(const char *s)
{
	return is_word(s, "_.-@");
}

static int on_system(struct parse_ctx *c, const char *key, const char *value)
{
	struct rain_recipe *r = c->r;

	if (!strcmp(key, "hostname")) {
		if (!is_hostname(value))
			return bad(c, "'%s' is not a host name", value);
		return str_set(&r->hostname, value);
	}
	if (!strcmp(key, "timezone")) {
		if (!is_timezone(value))
			return bad(c, "'%s' is not a time zone such as Europe/Berlin", value);
		return str_set(&r->timezone, value);
	}
	if (!strcmp(key, "locale")) {
		if (!is_locale(value))
			return bad(c, "'%s' is not a locale such as en_US.UTF-8", value);
		return str_set(&r->locale, value);
	}
	if (!strcmp(key, "services"))
		return add_list(c, &r->services, &r->nservices, value, is_service, "a service name");
	return bad(c, "unknown key (hostname, timezone, locale, services)");
}

static struct rain_recipe_user *user_get(struct parse_ctx *c, const char *name)
{
	struct rain_recipe *r = c->r;
	struct rain_recipe_user *u;

	for (size_t i = 0; i < r->nusers; i++)
		if (!strcmp(r->users[i].name, name))
			return &r->users[i];
	if (ARRAY_GROW1(r->users, r->nusers) < 0)
		return NULL;
	u = &r->users[r->nusers];
	memset(u, 0, sizeof(*u));
	u->uid = -1;
	u->name = strdup(name);
	if (!u->name)
		return NULL;
	r->nusers++;
	return u;
}

static int on_user(struct parse_ctx *c, const char *name, const char *key, const char *value)
{
	struct rain_recipe_user *u;
	int64_t uid;

	if (!is_user_name(name))
		return bad(c, "'%s' is not a user name (lowercase letters, digits, '_' and '-')", name);
	if (!strcmp(name, "root") && strcmp(key, "ssh_key"))
		return bad(c, "only ssh_key can be set for root");
	u = user_get(c, name);
	if (!u)
		return rain_error_oom();
	if (!strcmp(key, "ssh_key")) {
		if (!is_ssh_key(value))
			return bad(c, "not an OpenSSH public key (ssh-ed25519 AAAA..., ssh-rsa ..., ecdsa-...)");
		return strv_add(&u->ssh_keys, &u->nssh_keys, value);
	}
	if (!strcmp(key, "sudo"))
		return str_to_bool(value, &u->sudo) < 0 ? bad(c, "say yes or no") : 0;
	if (!strcmp(key, "shell")) {
		if (!is_image_path(value))
			return bad(c, "'%s' is not an absolute path", value);
		return str_set(&u->shell, value);
	}
	if (!strcmp(key, "uid")) {
		if (str_to_i64(value, &uid) < 0 || uid < 1000 || uid > 60000)
			return bad(c, "uid must be a number from 1000 to 60000");
		u->uid = uid;
		return 0;
	}
	return bad(c, "unknown key (ssh_key, sudo, shell, uid)");
}

static int on_files(struct parse_ctx *c, const char *key, const char *value)
{
	struct rain_recipe_file *f;
	const char *colon;
	int r;

	if (strcmp(key, "copy"))
		return bad(c, "unknown key (copy = SRC:DEST)");
	colon = strrchr(value, ':');
	if (!colon || colon == value)
		return bad(c, "expected SRC:DEST, got '%s'", value);
	if ((r = ARRAY_GROW1(c->r->files, c->r->nfiles)) < 0)
		return r;
	f = &c->r->files[c->r->nfiles];
	f->src = strndup(value, (size_t)(colon - value));
	f->dest = strdup(colon + 1);
	if (!f->src || !f->dest) {
		free(f->src);
		free(f->dest);
		return rain_error_oom();
	}
	c->r->nfiles++;
	if (!is_recipe_path(f->src))
		return bad(c, "source '%s' must be a path without '..'", f->src);
	if (!is_image_path(f->dest))
		return bad(c, "destination '%s' must be an absolute path without '.' or '..'", f->dest);
	return 0;
}

static int on_scripts(struct parse_ctx *c, const char *key, const char *value)
{
	if (!strcmp(key, "isolation")) {
		if (strcmp(value, "sandbox") && strcmp(value, "vm"))
			return bad(c, "say sandbox (namespaces) or vm (a qemu virtual machine)");
		c->r->scripts_in_vm = !strcmp(value, "vm");
		return 0;
	}
	if (strcmp(key, "run"))
		return bad(c, "unknown key (run = PATH, isolation = sandbox|vm)");
	if (!is_recipe_path(value))
		return bad(c, "script '%s' must be a path without '..'", value);
	return strv_add(&c->r->scripts, &c->r->nscripts, value);
}

static int on_output(struct parse_ctx *c, const char *key, const char *value)
{
	struct rain_recipe *r = c->r;

	if (!strcmp(key, "formats")) {
		_cleanup_free_ char *copy = strdup(value);
		char *save = NULL, *w;

		if (!copy)
			return rain_error_oom();
		r->formats = 0;
		for (w = strtok_r(copy, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
			size_t i;

			for (i = 0; i < NFORMATS; i++)
				if (!strcmp(format_names[i], w))
					break;
			if (i == NFORMATS)
				return bad(c, "unknown format '%s' (dir, tar, tar.zst, ext4, disk, qcow2, squashfs)", w);
			r->formats |= 1u << i;
		}
		return r->formats ? 0 : bad(c, "name at least one format");
	}
	if (!strcmp(key, "size")) {
		if (rain_recipe_parse_size(value, &r->size) < 0 || r->size < (64LL << 20))
			return bad(c, "'%s' is not a size of at least 64M (such as 2G or 512M)", value);
		return 0;
	}
	if (!strcmp(key, "boot_check"))
		return str_to_bool(value, &r->boot_check) < 0 ? bad(c, "say yes or no") : 0;
	if (!strcmp(key, "firmware")) {
		if (strcmp(value, "bios") && strcmp(value, "uefi"))
			return bad(c, "say bios (an MBR disk booted by GRUB for PCs) or uefi (a GPT disk "
				   "with an EFI system partition)");
		r->firmware = !strcmp(value, "uefi") ? RAIN_FIRMWARE_UEFI : RAIN_FIRMWARE_BIOS;
		return 0;
	}
	return bad(c, "unknown key (formats, size, boot_check, firmware)");
}

static int on_metadata(struct parse_ctx *c, const char *key, const char *value)
{
	struct rain_property *m;
	int r;

	if (!str_is_printable(key, RAIN_NAME_MAX) || rain_image_attr_is_readonly(key))
		return bad(c, "'%s' cannot be an image property", key);
	if ((r = ARRAY_GROW1(c->r->metadata, c->r->nmetadata)) < 0)
		return r;
	m = c->r->metadata;
	m[c->r->nmetadata].name = strdup(key);
	m[c->r->nmetadata].value = strdup(value);
	if (!m[c->r->nmetadata].name || !m[c->r->nmetadata].value) {
		free(m[c->r->nmetadata].name);
		free(m[c->r->nmetadata].value);
		return rain_error_oom();
	}
	c->r->nmetadata++;
	return 0;
}

static int on_ini(void *ud, const char *file, int line, const char *section,
		  const char *key, const char *value)
{
	struct parse_ctx *c = ud;

	c->file = file;
	c->line = line;
	c->section = section;
	c->key = key;
	if (!strcmp(section, "image"))
		return on_image(c, key, value);
	if (!strcmp(section, "packages"))
		return on_packages(c, key, value);
	if (!strcmp(section, "system"))
		return on_system(c, key, value);
	if (str_has_prefix(section, "user "))
		return on_user(c, section + 5, key, value);
	if (!strcmp(section, "files"))
		return on_files(c, key, value);
	if (!strcmp(section, "scripts"))
		return on_scripts(c, key, value);
	if (!strcmp(section, "output"))
		return on_output(c, key, value);
	if (!strcmp(section, "metadata"))
		return on_metadata(c, key, value);
	if (!*section)
		return rain_error_set(RAIN_EINVAL, "%s:%d: '%s' is outside any section (start with [image])",
				      file, line, key);
	return rain_error_set(RAIN_EINVAL,
			      "%s:%d: unknown section [%s] (image, packages, system, user NAME, files, scripts, output, metadata)",
			      file, line, section);
}

int rain_recipe_parse(const char *text, const char *file, const char *dir,
		      struct rain_recipe **out)
{
	struct rain_recipe *r = calloc(1, sizeof(*r));
	struct parse_ctx c = { .r = r };
	int ret;

	rain_error_clear();
	if (!r)
		return rain_error_oom();
	r->kernel = true;
	ret = ini_parse_string(text, file, on_ini, &c);
	if (ret == 0 && (!(r->file = strdup(file)) || !(r->dir = strdup(dir ? dir : "."))))
		ret = rain_error_oom();
	if (ret == 0 && !r->distribution)
		ret = rain_error_set(RAIN_EINVAL, "%s: [image] distribution is missing (debian, ubuntu, rocky, alma, fedora, rpm)",
				     file);
	if (ret == 0 && !r->release)
		ret = str_set(&r->release, distro_find(r->distribution)->default_release);
	if (ret == 0 && !r->architecture)
		ret = str_set(&r->architecture, "amd64");
	if (ret == 0 && !r->mirror && !distro_find(r->distribution)->mirror)
		ret = rain_error_set(RAIN_EINVAL, "%s: [image] distribution = %s needs [image] mirror, the "
				     "URL of the repository (the directory holding repodata/)", file,
				     r->distribution);
	if (ret == 0 && !r->mirror)
		ret = str_set(&r->mirror, distro_find(r->distribution)->mirror);
	if (ret == 0 && !r->keyring && !strcmp(r->distribution, "rpm"))
		ret = rain_error_set(RAIN_EINVAL, "%s: [image] distribution = rpm needs [image] keyring, the "
				     "file with the key its packages are signed with (packages are always "
				     "checked)", file);
	if (ret == 0 && !r->formats)
		r->formats = RAIN_OUT_DISK;
	if (ret == 0 && !r->size)
		r->size = DEFAULT_SIZE;
	if (ret == 0 && !c.kernel_set)
		r->kernel = (r->formats & (RAIN_OUT_DISK | RAIN_OUT_QCOW2)) || r->boot_check;
	if (ret == 0 && !r->kernel && (r->formats & (RAIN_OUT_DISK | RAIN_OUT_QCOW2)))
		ret = rain_error_set(RAIN_EINVAL, "%s: [output] a bootable disk or qcow2 needs [packages] kernel = yes",
				     file);
	if (ret == 0 && !r->kernel && r->boot_check)
		ret = rain_error_set(RAIN_EINVAL, "%s: [output] boot_check needs [packages] kernel = yes", file);
	if (ret == 0 && r->firmware == RAIN_FIRMWARE_UEFI && !(r->formats & (RAIN_OUT_DISK | RAIN_OUT_QCOW2)))
		ret = rain_error_set(RAIN_EINVAL, "%s: [output] firmware = uefi is how the disk and qcow2 "
				     "formats boot; add one of them to formats or drop firmware", file);
	if (ret == 0 && r->firmware == RAIN_FIRMWARE_UEFI &&
	    !rain_recipe_firmware_known(r->architecture, RAIN_FIRMWARE_UEFI))
		ret = rain_error_set(RAIN_EINVAL, "%s: [output] firmware = uefi: no UEFI firmware is known "
				     "for %s images (amd64 and arm64 have one); use the tar, tar.zst, ext4, "
				     "squashfs or dir formats for %s", file, r->architecture, r->architecture);
	if (ret < 0) {
		rain_recipe_free(r);
		return ret;
	}
	*out = r;
	return 0;
}

bool rain_recipe_firmware_known(const char *architecture, enum rain_firmware firmware)
{
	if (firmware == RAIN_FIRMWARE_UEFI)
		return !strcmp(architecture, "amd64") || !strcmp(architecture, "arm64");
	return !strcmp(architecture, "amd64") || !strcmp(architecture, "i386");
}

const char *rain_firmware_name(enum rain_firmware firmware)
{
	return firmware == RAIN_FIRMWARE_UEFI ? "uefi" : "bios";
}

int rain_recipe_parse_file(const char *path, struct rain_recipe **out)
{
	_cleanup_free_ char *text = NULL, *copy = strdup(path);
	int r;

	rain_error_clear();
	if (!copy)
		return rain_error_oom();
	r = fs_read_small(path, 1 << 20, &text, NULL);
	if (r < 0)
		return r;
	return rain_recipe_parse(text, path, dirname(copy), out);
}

static void put_list(FILE *f, const char *key, char **v, size_t n)
{
	if (n == 0)
		return;
	fprintf(f, "%s =", key);
	for (size_t i = 0; i < n; i++)
		fprintf(f, " %s", v[i]);
	fputc('\n', f);
}

int rain_recipe_format(const struct rain_recipe *r, char **out)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	rain_error_clear();
	if (!f)
		return rain_error_oom();
	fputs("[image]\n", f);
	if (r->name)
		fprintf(f, "name = %s\n", r->name);
	if (r->description)
		fprintf(f, "description = %s\n", r->description);
	fprintf(f, "distribution = %s\nrelease = %s\narchitecture = %s\nmirror = %s\nbase = %s%s\n",
		r->distribution, r->release, r->architecture, r->mirror,
		r->base ? "image:" : "scratch", r->base ? r->base : "");
	if (r->keyring)
		fprintf(f, "keyring = %s\n", r->keyring);
	if (r->key_fingerprint)
		fprintf(f, "key_fingerprint = %s\n", r->key_fingerprint);
	fprintf(f, "\n[packages]\nkernel = %s\n", r->kernel ? "yes" : "no");
	put_list(f, "install", r->packages, r->npackages);
	if (r->hostname || r->timezone || r->locale || r->nservices) {
		fputs("\n[system]\n", f);
		if (r->hostname)
			fprintf(f, "hostname = %s\n", r->hostname);
		if (r->timezone)
			fprintf(f, "timezone = %s\n", r->timezone);
		if (r->locale)
			fprintf(f, "locale = %s\n", r->locale);
		put_list(f, "services", r->services, r->nservices);
	}
	for (size_t i = 0; i < r->nusers; i++) {
		const struct rain_recipe_user *u = &r->users[i];

		fprintf(f, "\n[user %s]\n", u->name);
		if (strcmp(u->name, "root")) {
			fprintf(f, "sudo = %s\n", u->sudo ? "yes" : "no");
			if (u->shell)
				fprintf(f, "shell = %s\n", u->shell);
			if (u->uid >= 0)
				fprintf(f, "uid = %lld\n", (long long)u->uid);
		}
		for (size_t k = 0; k < u->nssh_keys; k++)
			fprintf(f, "ssh_key = %s\n", u->ssh_keys[k]);
	}
	if (r->nfiles) {
		fputs("\n[files]\n", f);
		for (size_t i = 0; i < r->nfiles; i++)
			fprintf(f, "copy = %s:%s\n", r->files[i].src, r->files[i].dest);
	}
	if (r->nscripts) {
		fputs("\n[scripts]\n", f);
		for (size_t i = 0; i < r->nscripts; i++)
			fprintf(f, "run = %s\n", r->scripts[i]);
		if (r->scripts_in_vm)
			fputs("isolation = vm\n", f);
	}
	fputs("\n[output]\nformats =", f);
	for (size_t i = 0; i < NFORMATS; i++)
		if (r->formats & (1u << i))
			fprintf(f, " %s", format_names[i]);
	fprintf(f, "\nsize = %lld\nboot_check = %s\n", (long long)r->size, r->boot_check ? "yes" : "no");
	if (r->firmware == RAIN_FIRMWARE_UEFI)
		fputs("firmware = uefi\n", f);
	if (r->nmetadata) {
		fputs("\n[metadata]\n", f);
		for (size_t i = 0; i < r->nmetadata; i++)
			fprintf(f, "%s = %s\n", r->metadata[i].name, r->metadata[i].value);
	}
	if (fclose(f) != 0) {
		free(text);
		return rain_error_oom();
	}
	*out = text;
	return 0;
}
