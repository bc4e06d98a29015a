/* The rules of the package database: modified-file (debsums -s: files of
 * a package whose content differs from its md5sums, or that are
 * missing), unowned-file (files in system paths no package lists),
 * unsupported-package (debian-security-support's lists), and against a
 * vulnerability feed (rain/vet-feed.h, matched as debsecan matches)
 * vulnerable-package (a fixed version exists) and unfixed-vulnerability.
 *
 * Paths of the database are the package's ("/bin/ls"); the image may
 * have them elsewhere through its own directory links ("/bin" ->
 * "usr/bin"), so each is resolved inside the image (vet_resolve) as
 * debsums resolves it under --root: checksums by the whole path, owned
 * paths by their directory. As debsums does, conffiles are left out, a
 * file diverted by another package is checked where it was diverted to,
 * a changed file that matches another package's checksum for that path
 * is fine, and a missing file that dpkg's path-exclude filters keep out
 * is not missing.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rain/error.h"
#include "rain/vet-feed.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "lib/vet/vet-internal.h"
#include "lib/vet/vet-parse.h"

#define INFO_DIR "/var/lib/dpkg/info/"
#define MAX_DB_FILE (64u << 20)

/* One package's checksum of a path; a path several packages list has a
 * chain of them. */
struct sum {
	char md5[33];
	bool seen;              /* of the chain's first: the walk met the path */
	const char *pkg;
	char *orig;             /* the path as the package lists it */
	struct sum *next;
};

struct diversion {
	char *to, *by;
};

struct filter {
	bool exclude;
	char *glob;
};

struct pk_state {
	char **names;           /* installed packages (as dpkg names them) */
	size_t n_names;
	struct vet_map sums;    /* resolved path -> struct sum chain */
	struct vet_map conffiles;       /* path -> package */
	struct vet_map diversions;      /* from -> struct diversion */
	struct filter *filters; /* dpkg.cfg.d's then dpkg.cfg's, in order */
	size_t n_filters;
	struct filter *cfg_filters;     /* dpkg.cfg's, until the walk ends */
	size_t n_cfg_filters;
	char **cfgd;            /* files of /etc/dpkg/dpkg.cfg.d met by the walk */
	size_t n_cfgd;
	uint64_t files, checked;
};

static struct pk_state *state(struct vet_ctx *c)
{
	return c->pk;
}

static void sum_free(void *v)
{
	for (struct sum *s = v, *next; s; s = next) {
		next = s->next;
		free(s->orig);
		free(s);
	}
}

static void diversion_free(void *v)
{
	struct diversion *d = v;

	if (!d)
		return;
	free(d->to);
	free(d->by);
	free(d);
}

static void filters_free(struct filter *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i].glob);
	free(f);
}

static void pk_free(struct vet_ctx *c)
{
	struct pk_state *st = state(c);

	if (!st)
		return;
	strv_free(st->names, st->n_names);
	vet_map_free(&st->sums, sum_free);
	vet_map_free(&st->conffiles, NULL);
	vet_map_free(&st->diversions, diversion_free);
	filters_free(st->filters, st->n_filters);
	filters_free(st->cfg_filters, st->n_cfg_filters);
	strv_free(st->cfgd, st->n_cfgd);
	free(st);
	c->pk = NULL;
}

struct stanza_ud {
	struct vet_ctx *c;
	struct pk_state *st;
};

static bool status_on_disk(const char *status)
{
	/* "want flag status": what debsums checks (installed, half-configured) */
	return str_has_suffix(status, " installed") || str_has_suffix(status, " half-configured");
}

/* A name dpkg would take (policy 5.6.7), so that it names a file of
 * the info folder and nothing else. */
static bool package_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > 255 || !isalnum((unsigned char)name[0]))
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("+-.", *p))
			return false;
	return true;
}

static int on_stanza(void *ud, const struct vet_dpkg_stanza *s)
{
	struct stanza_ud *u = ud;
	struct rain_imgfs_entry e;
	_cleanup_free_ char *q = NULL, *path = NULL;
	const char *name = s->package;
	int r;

	if (!status_on_disk(s->status) || !package_name_ok(s->package))
		return 0;
	/* info files are NAME.list, or NAME:ARCH.list for Multi-Arch: same */
	if (asprintf(&path, INFO_DIR "%s.list", s->package) < 0)
		return rain_error_oom();
	if (rain_imgfs_stat(u->c->fs, path, true, &e) < 0 && *s->arch) {
		if (asprintf(&q, "%s:%s", s->package, s->arch) < 0) {
			q = NULL;
			return rain_error_oom();
		}
		name = q;
	}
	r = strv_add(&u->st->names, &u->st->n_names, name);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->n_conffiles; i++) {
		r = vet_map_put(&u->st->conffiles, s->conffiles[i],
				u->st->names[u->st->n_names - 1], NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

static int on_diversion(void *ud, const char *from, const char *to, const char *by)
{
	struct stanza_ud *u = ud;
	struct diversion *d = calloc(1, sizeof(*d));
	void *old;
	int r;

	if (!d)
		return rain_error_oom();
	d->to = strdup(to);
	d->by = strdup(by);
	if (!d->to || !d->by) {
		diversion_free(d);
		return rain_error_oom();
	}
	r = vet_map_put(&u->st->diversions, from, d, &old);
	if (r < 0) {
		diversion_free(d);
		return r;
	}
	diversion_free(old);
	return 0;
}

struct filters_ud {
	struct filter **v;
	size_t *n;
};

static int on_filter(void *ud, bool exclude, const char *glob)
{
	struct filters_ud *u = ud;
	int r = ARRAY_GROW1(*u->v, *u->n);

	if (r < 0)
		return r;
	(*u->v)[*u->n].exclude = exclude;
	(*u->v)[*u->n].glob = strdup(glob);
	if (!(*u->v)[*u->n].glob)
		return rain_error_oom();
	(*u->n)++;
	return 0;
}

struct pkg_ud {
	struct vet_ctx *c;
	struct pk_state *st;
	const char *pkg;
};

static int on_listed(void *ud, const char *path)
{
	struct pkg_ud *u = ud;
	_cleanup_free_ char *real = NULL;
	int r = vet_resolve(u->c, path, false, &real);

	if (r == RAIN_EFORMAT)
		return 0;       /* a loop of the image's links: owns nothing */
	if (r < 0)
		return r;
	return vet_map_put(&u->c->owned, real, (void *)u->pkg, NULL);
}

/* The package's name without ":ARCH". */
static bool same_package(const char *a, const char *b)
{
	size_t na = strcspn(a, ":"), nb = strcspn(b, ":");

	return na == nb && strncmp(a, b, na) == 0;
}

static int on_sum(void *ud, const char *md5, const char *path)
{
	struct pkg_ud *u = ud;
	struct diversion *d;
	struct vet_map_slot *slot;
	_cleanup_free_ char *real = NULL;
	struct sum *s;
	int r;

	if (vet_map_find(&u->st->conffiles, path))
		return 0;
	d = vet_map_get(&u->st->diversions, path);
	r = vet_resolve(u->c, d && !same_package(d->by, u->pkg) ? d->to : path, true, &real);
	if (r == RAIN_EFORMAT)
		return vet_finding(u->c, VET_MODIFIED_FILE, RAIN_VET_HIGH, path, u->pkg, NULL,
				   "cannot be checked: %s", rain_error_last());
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return rain_error_oom();
	memcpy(s->md5, md5, 33);
	s->pkg = u->pkg;
	s->orig = strdup(path);
	if (!s->orig) {
		free(s);
		return rain_error_oom();
	}
	slot = vet_map_find(&u->st->sums, real);
	if (slot) {
		s->next = ((struct sum *)slot->value)->next;
		((struct sum *)slot->value)->next = s;
		return 0;
	}
	u->st->files++;
	r = vet_map_put(&u->st->sums, real, s, NULL);
	if (r < 0)
		sum_free(s);
	return r;
}

/* One package's .list and .md5sums. */
static int package_files(struct vet_ctx *c, struct pk_state *st, const char *pkg)
{
	struct pkg_ud u = { .c = c, .st = st, .pkg = pkg };
	_cleanup_free_ char *path = NULL, *text = NULL;
	size_t len, bad = 0;
	int r;

	if (asprintf(&path, INFO_DIR "%s.list", pkg) < 0) {
		path = NULL;
		return rain_error_oom();
	}
	r = vet_read(c, path, MAX_DB_FILE, &text, &len);
	if (r == 0)
		r = vet_list_parse(text, len, on_listed, &u, &bad);
	if (r < 0 && r != RAIN_ENOTFOUND)
		return r;
	free(text);
	text = NULL;
	free(path);
	if (asprintf(&path, INFO_DIR "%s.md5sums", pkg) < 0) {
		path = NULL;
		return rain_error_oom();
	}
	r = vet_read(c, path, MAX_DB_FILE, &text, &len);
	if (r == 0)
		r = vet_md5sums_parse(text, len, on_sum, &u, &bad);
	if (r < 0 && r != RAIN_ENOTFOUND)
		return r;
	if (bad)
		return vet_note(c, "%s: %zu lines that are not 'MD5  PATH' were skipped", path, bad);
	return 0;
}

/* An rpm image's packages (rpmdb.sqlite; the older Berkeley DB and ndb
 * databases are not read): 1 when read, 0 when there is none. */
static int rpm_packages(struct vet_ctx *c)
{
	static const char *const paths[] = { "/usr/lib/sysimage/rpm/rpmdb.sqlite", "/var/lib/rpm/rpmdb.sqlite" };
	static const char *const dirs[] = { "/usr/lib/sysimage/rpm", "/var/lib/rpm" };
	struct rain_imgfs_entry e;
	int r = RAIN_ENOTFOUND;

	for (size_t i = 0; i < 2 && r == RAIN_ENOTFOUND; i++) {
		_cleanup_free_ char *data = NULL;
		size_t len;

		r = vet_read(c, paths[i], 256u << 20, &data, &len);
		if (r == 0)
			r = rain_pkg_parse_rpmdb(data, len, paths[i], &c->pkgs);
		if (r == 0) {
			if (json_object_set_new(c->info, "packages_from", json_string(paths[i])) < 0)
				return rain_error_oom();
			r = vet_note(c, "an rpm image: modified-file, unowned-file and unsupported-package "
					"are not checked on rpm images");
			return r < 0 ? r : 1;
		}
		if (r != RAIN_ENOTFOUND && r != RAIN_EFORMAT && r != RAIN_ETOOBIG)
			return r;
		if (r != RAIN_ENOTFOUND) {
			r = vet_note(c, "%s: not read (%s)", paths[i], rain_error_last());
			return r < 0 ? r : 0;
		}
	}
	for (size_t i = 0; i < 2; i++)
		if (rain_imgfs_stat(c->fs, dirs[i], true, &e) == 0) {
			r = vet_note(c, "%s holds no rpmdb.sqlite (an older rpm database, not read): "
					"packages were not checked", dirs[i]);
			return r < 0 ? r : 0;
		}
	return 0;
}


/* ---- the build's manifest ----------------------------------------------- */

static int manifest_pkg_cmp(const void *a, const void *b)
{
	const struct rain_pkg *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : strcmp(x->arch, y->arch);
}

/* The manifest's packages as the image's (no database in the image):
 * their source packages are not recorded, so each is its own source. */
static int manifest_packages(struct vet_ctx *c, const json_t *list)
{
	const json_t *m;
	size_t i;
	int r;

	json_array_foreach(list, i, m) {
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *version = json_string_value(json_object_get(m, "version"));
		const char *arch = json_string_value(json_object_get(m, "architecture"));
		struct rain_pkg *p;

		if (!name || !version || rain_pkg_version_check(RAIN_PKG_DEB, version) < 0)
			continue;
		r = ARRAY_GROW1(c->pkgs.pkgs, c->pkgs.n);
		if (r < 0)
			return r;
		p = &c->pkgs.pkgs[c->pkgs.n++];
		memset(p, 0, sizeof(*p));
		p->name = strdup(name);
		p->version = strdup(version);
		p->arch = strdup(arch ? arch : "");
		p->source = strdup(name);
		p->source_version = strdup(version);
		p->status = strdup("install ok installed");
		if (!p->name || !p->version || !p->arch || !p->source || !p->source_version || !p->status)
			return rain_error_oom();
	}
	c->pkgs.family = RAIN_PKG_DEB;
	if (c->pkgs.n)
		qsort(c->pkgs.pkgs, c->pkgs.n, sizeof(*c->pkgs.pkgs), manifest_pkg_cmp);
	if (json_object_set_new(c->info, "packages_from", json_string("manifest")) < 0)
		return rain_error_oom();
	return vet_note(c, "no package database in the image: the build manifest's %zu packages were "
			   "matched (each as its own source package)", c->pkgs.n);
}

/* The manifest against the image's database: a package changed since
 * the build is a note (and the database is what counts). */
static int manifest_compare(struct vet_ctx *c, const json_t *list)
{
	const json_t *m;
	size_t i, differ = 0;
	char first[256] = "";

	json_array_foreach(list, i, m) {
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *version = json_string_value(json_object_get(m, "version"));
		const struct rain_pkg *p = name ? rain_pkg_find(&c->pkgs, name) : NULL;

		if (!name || !version || (p && strcmp(p->version, version) == 0))
			continue;
		if (!differ++)
			snprintf(first, sizeof(first), "%s %s in the manifest, %s in the image", name, version,
				 p ? p->version : "not installed");
	}
	if (!differ && json_array_size(list) == c->pkgs.n)
		return json_object_set_new(c->info, "packages_from",
					   json_string("dpkg status (as the build manifest)")) < 0 ?
			       rain_error_oom() : 0;
	if (json_object_set_new(c->info, "packages_from", json_string("dpkg status")) < 0)
		return rain_error_oom();
	return vet_note(c, "the image's packages are not its build manifest's (%zu in the manifest, "
			   "%zu installed, %zu differ%s%s): it was changed after the build", json_array_size(list),
			c->pkgs.n, differ, *first ? ", first: " : "", first);
}

static int manifest_check(struct vet_ctx *c)
{
	const json_t *list = c->opts ? json_object_get(c->opts->manifest, "packages") : NULL;

	if (!json_is_array(list))
		return 0;
	return c->have_dpkg ? manifest_compare(c, list) : manifest_packages(c, list);
}

static int pk_facts(struct vet_ctx *c)
{
	struct pk_state *st = calloc(1, sizeof(*st));
	struct stanza_ud u = { .c = c, .st = st };
	struct filters_ud fu;
	_cleanup_free_ char *text = NULL;
	size_t len, bad = 0;
	int r;

	if (!st)
		return rain_error_oom();
	c->pk = st;
	r = vet_read(c, "/var/lib/dpkg/status", MAX_DB_FILE, &text, &len);
	if (r == RAIN_ENOTFOUND) {
		r = rpm_packages(c);
		if (r != 0)
			return r < 0 ? r : 0;
		r = manifest_check(c);
		if (r < 0)
			return r;
		return vet_note(c, "no package database (/var/lib/dpkg/status): modified-file, unowned-file "
				   "and unsupported-package were not checked");
	}
	if (r < 0)
		return r;
	r = rain_pkg_parse_dpkg_status(text, len, "/var/lib/dpkg/status", &c->pkgs);
	if (r == RAIN_ENOMEM)
		return r;
	if (r < 0) {
		r = vet_note(c, "the package list was not read: %s", rain_error_last());
		if (r < 0)
			return r;
	}
	c->have_dpkg = true;
	r = manifest_check(c);
	if (r >= 0)
		r = vet_dpkg_status_parse(text, len, on_stanza, &u, &bad);
	if (r < 0)
		return r;
	free(text);
	text = NULL;
	r = vet_read(c, "/var/lib/dpkg/diversions", MAX_DB_FILE, &text, &len);
	if (r == 0)
		r = vet_diversions_parse(text, len, on_diversion, &u, &bad);
	if (r < 0 && r != RAIN_ENOTFOUND)
		return r;
	free(text);
	text = NULL;
	fu = (struct filters_ud){ &st->cfg_filters, &st->n_cfg_filters };
	r = vet_read(c, "/etc/dpkg/dpkg.cfg", MAX_DB_FILE, &text, &len);
	if (r == 0)
		r = vet_dpkg_cfg_parse(text, len, on_filter, &fu, NULL);
	if (r < 0 && r != RAIN_ENOTFOUND)
		return r;
	/* a diverted-to path is the diverting package's */
	for (size_t i = 0; i < st->diversions.cap; i++) {
		struct diversion *d = st->diversions.slots[i].value;
		_cleanup_free_ char *real = NULL;

		if (!st->diversions.slots[i].key)
			continue;
		r = vet_resolve(c, d->to, false, &real);
		if (r == 0)
			r = vet_map_put(&c->owned, real, d->by, NULL);
		if (r < 0 && r != RAIN_EFORMAT)
			return r;
	}
	for (size_t i = 0; i < st->n_names; i++) {
		r = package_files(c, st, st->names[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Paths whose files a package is expected to own (the usr-merged
 * prefixes too, for images that are not). */
static bool system_path(const char *p)
{
	static const char *const roots[] = { "/usr/", "/bin/", "/sbin/", "/lib/", "/lib32/",
					     "/lib64/", "/libx32/", NULL };

	if (str_has_prefix(p, "/usr/local/"))
		return false;
	for (int i = 0; roots[i]; i++)
		if (str_has_prefix(p, roots[i]))
			return true;
	return false;
}

/* The walk computes the MD5 of the files the packages list (debsums's
 * check), on either thread (vet-walk.c). */
static bool pk_md5(const struct vet_ctx *c, const struct rain_imgfs_entry *e)
{
	const struct pk_state *st = c->pk;

	return vet_map_find(&st->sums, e->path) != NULL;
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return "a directory";
	case S_IFLNK: return "a symbolic link";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFIFO: return "a fifo";
	case S_IFSOCK: return "a socket";
	default: return "not a regular file";
	}
}

static int check_sum(struct vet_ctx *c, struct pk_state *st, const struct rain_imgfs_entry *e,
		     struct sum *head)
{
	char hex[2 * sizeof(c->cur_md5) + 1];

	head->seen = true;
	if (!S_ISREG(e->mode))
		return vet_finding(c, VET_MODIFIED_FILE, RAIN_VET_HIGH, e->path, head->pkg, NULL,
				   "is %s, the package has a file there", type_name(e->mode));
	if (!c->cur_md5_ok)
		return rain_error_set(RAIN_EIO, "md5 of %s failed", e->path);
	st->checked++;
	hex_encode(c->cur_md5, sizeof(c->cur_md5), hex);
	for (struct sum *s = head; s; s = s->next)
		if (strcmp(s->md5, hex) == 0) {
			c->cur_intact = true;
			return 0;
		}
	return vet_finding(c, VET_MODIFIED_FILE, RAIN_VET_HIGH, e->path, head->pkg,
			   json_pack("{s:s, s:s}", "expected", head->md5, "found", hex),
			   "differs from the package's checksum (md5 %s, the package has %s)", hex, head->md5);
}

static int pk_entry(struct vet_ctx *c, const struct rain_imgfs_entry *e)
{
	struct pk_state *st = state(c);
	struct sum *head;
	int r;

	if (!c->have_dpkg)
		return 0;
	c->cur_package = vet_map_get(&c->owned, e->path);
	head = vet_map_get(&st->sums, e->path);
	if (head) {
		if (!c->cur_package)
			c->cur_package = head->pkg;
		r = check_sum(c, st, e, head);
		if (r < 0)
			return r;
	}
	if (st->n_cfgd < 1024 && str_has_prefix(e->path, "/etc/dpkg/dpkg.cfg.d/") &&
	    !strchr(e->path + 21, '/') &&
	    fnmatch("[0-9a-zA-Z_-]*", e->path + 21, 0) == 0 && !S_ISDIR(e->mode)) {
		r = strv_add(&st->cfgd, &st->n_cfgd, e->path);
		if (r < 0)
			return r;
	}
	if (c->cur_package || !system_path(e->path) || (!S_ISREG(e->mode) && !S_ISLNK(e->mode)))
		return 0;
	/* update-alternatives' links are the alternatives system's */
	if (S_ISLNK(e->mode) && e->link && str_has_prefix(e->link, "/etc/alternatives/"))
		return 0;
	if (vet_glob_any(c->policy->unowned_ignore, c->policy->n_unowned_ignore, e->path))
		return 0;
	return vet_finding(c, VET_UNOWNED_FILE, RAIN_VET_LOW, e->path, NULL, NULL,
			   "%s no package owns", S_ISLNK(e->mode) ? "a symbolic link" : "a file");
}

/* dpkg's filters: dpkg.cfg.d's files in order, then dpkg.cfg. */
static int filters_load(struct vet_ctx *c, struct pk_state *st)
{
	struct filters_ud fu = { &st->filters, &st->n_filters };

	if (st->n_cfgd)
		qsort(st->cfgd, st->n_cfgd, sizeof(char *), vet_strp_cmp);
	for (size_t i = 0; i < st->n_cfgd; i++) {
		_cleanup_free_ char *text = NULL;
		size_t len;
		int r = vet_read(c, st->cfgd[i], MAX_DB_FILE, &text, &len);

		if (r == 0)
			r = vet_dpkg_cfg_parse(text, len, on_filter, &fu, NULL);
		if (r < 0 && r != RAIN_ENOTFOUND)
			return r;
	}
	for (size_t i = 0; i < st->n_cfg_filters; i++) {
		int r = on_filter(&fu, st->cfg_filters[i].exclude, st->cfg_filters[i].glob);

		if (r < 0)
			return r;
	}
	return 0;
}

/* As dpkg and debsums: the last filter that matches decides. */
static bool excluded(struct pk_state *st, const char *path)
{
	bool ex = false;

	for (size_t i = 0; i < st->n_filters; i++)
		if (fnmatch(st->filters[i].glob, path, 0) == 0)
			ex = st->filters[i].exclude;
	return ex;
}

/* ---- unsupported-package: debian-security-support's lists ---------------- */

struct support_ud {
	struct vet_ctx *c;
	bool ended;             /* security-support-ended.debN, else -limited */
	const char *file;
};

/* Installed packages whose source matches re, as "bin (version), ...". */
static int binaries_of(struct vet_ctx *c, regex_t *re, char **out, const char **source)
{
	_cleanup_free_ char *list = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&list, &len);
	bool first = true;

	*out = NULL;
	*source = NULL;
	if (!f)
		return rain_error_oom();
	for (size_t i = 0; i < c->pkgs.n; i++) {
		const struct rain_pkg *p = &c->pkgs.pkgs[i];

		if (regexec(re, p->source, 0, NULL, 0) != 0)
			continue;
		if (!*source)
			*source = p->source;
		else if (strcmp(*source, p->source) != 0)
			continue;       /* one finding per source: the next line gets it */
		fprintf(f, "%s%s %s", first ? "" : ", ", p->name, p->version);
		first = false;
	}
	if (fclose(f) != 0)
		return rain_error_oom();
	*out = TAKE_PTR(list);
	return 0;
}

static int support_line(struct support_ud *u, char *line, char *today)
{
	_cleanup_free_ char *pattern = NULL, *bins = NULL;
	char *save = NULL, *name, *version = NULL, *date = NULL, *why;
	const char *source;
	regex_t re;
	int r;

	name = strtok_r(line, " \t", &save);
	if (!name || *name == '#')
		return 0;
	if (u->ended) {
		version = strtok_r(NULL, " \t", &save);
		date = strtok_r(NULL, " \t", &save);
		if (!version || !date)
			return 0;
	}
	why = save ? save + strspn(save, " \t") : "";
	if (asprintf(&pattern, "^(%s)$", name) < 0) {
		pattern = NULL;
		return rain_error_oom();
	}
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		return vet_note(u->c, "%s: '%s' is not a pattern; skipped", u->file, name);
	r = binaries_of(u->c, &re, &bins, &source);
	regfree(&re);
	if (r < 0 || !source)
		return r;
	if (!u->ended)
		return vet_finding(u->c, VET_UNSUPPORTED_PACKAGE, RAIN_VET_LOW, NULL, source,
				   json_pack("{s:s, s:s}", "source", source, "binaries", bins),
				   "security support is limited: %s (installed: %s)", why, bins);
	if (strcmp(date, today) > 0)
		return vet_finding(u->c, VET_UNSUPPORTED_PACKAGE, RAIN_VET_INFO, NULL, source,
				   json_pack("{s:s, s:s, s:s}", "source", source, "binaries", bins,
					     "ends", date),
				   "security support ends on %s: %s (installed: %s)", date, why, bins);
	return vet_finding(u->c, VET_UNSUPPORTED_PACKAGE, RAIN_VET_MEDIUM, NULL, source,
			   json_pack("{s:s, s:s, s:s, s:s}", "source", source, "binaries", bins,
				     "ended", date, "last_supported", version),
			   "security support ended on %s at version %s: %s (installed: %s)", date, version,
			   why, bins);
}

static int support_file(struct vet_ctx *c, const char *dir, const char *name, bool ended)
{
	_cleanup_free_ char *path = fs_path_join(dir, name), *text = NULL;
	struct support_ud u = { .c = c, .ended = ended, .file = path };
	char today[16], *save = NULL, *line;
	time_t now = time(NULL);
	struct tm tm;
	size_t len;
	int r;

	if (!path)
		return rain_error_oom();
	/* the host's list, which the host's package keeps */
	r = fs_read_small(path, 4u << 20, &text, &len);
	if (r == RAIN_ENOMEM)
		return r;
	if (r < 0)
		return vet_note(c, "unsupported-package: %s not read (install debian-security-support "
				   "or set the directory of its lists)", path);
	gmtime_r(&now, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		r = support_line(&u, line, today);
		if (r < 0)
			return r;
	}
	return 0;
}

static int unsupported(struct vet_ctx *c)
{
	const char *dir = c->opts && c->opts->security_support_dir ? c->opts->security_support_dir :
			  "/usr/share/debian-security-support";
	_cleanup_free_ char *ended = NULL;
	char *end;
	long major;
	int r;

	if (!c->os_id || strcmp(c->os_id, "debian") != 0 || !c->pkgs.n)
		return c->pkgs.n ? vet_note(c, "unsupported-package: only Debian's lists are known; "
					       "not checked on %s", c->os_id ? c->os_id : "this image") : 0;
	major = c->os_version_id ? strtol(c->os_version_id, &end, 10) : 0;
	if (major <= 0 || major > 1000)
		return vet_note(c, "unsupported-package: the Debian release is not known (no VERSION_ID); "
				   "not checked");
	if (asprintf(&ended, "security-support-ended.deb%ld", major) < 0) {
		ended = NULL;
		return rain_error_oom();
	}
	r = support_file(c, dir, ended, true);
	if (r >= 0)
		r = support_file(c, dir, "security-support-limited", false);
	return r;
}


/* ---- vulnerable-package, unfixed-vulnerability: the feed ------------------ */

/* The tracker's urgency as a severity; an urgency not yet assigned is
 * taken as medium until it is. */
static enum rain_vet_severity urgency_severity(enum rain_vet_urgency u)
{
	switch (u) {
	case RAIN_VET_URGENCY_CRITICAL: return RAIN_VET_CRITICAL;
	case RAIN_VET_URGENCY_HIGH: return RAIN_VET_HIGH;
	case RAIN_VET_URGENCY_LOW: return RAIN_VET_LOW;
	case RAIN_VET_URGENCY_UNIMPORTANT: return RAIN_VET_INFO;
	default: return RAIN_VET_MEDIUM;
	}
}

static int feed_info(struct vet_ctx *c, struct rain_vet_feed *feed)
{
	int64_t date = rain_vet_feed_date(feed), age;
	char iso[64] = "";
	json_t *j;

	if (date > 0)
		time_format_iso(date * 1000000, iso, sizeof(iso));
	age = date > 0 ? (time_now_us() / 1000000 - date) / 86400 : -1;
	j = json_pack("{s:s, s:s, s:s, s:s, s:s*, s:I}", "name", rain_vet_feed_origin(feed),
		      "kind", rain_vet_feed_kind_name(rain_vet_feed_kind(feed)),
		      "release", rain_vet_feed_release(feed),
		      "family", rain_vet_feed_family(feed) == RAIN_PKG_DEB ? "deb" : "rpm",
		      "date", *iso ? iso : NULL, "age_days", (json_int_t)age);
	if (!j || json_object_set_new(c->info, "feed", j) < 0)
		return rain_error_oom();
	if (c->policy->max_feed_age && age < 0)
		return vet_finding(c, VET_VULNERABLE_PACKAGE, RAIN_VET_HIGH, NULL, NULL, NULL,
				   "the feed (%s) has no date and the policy's max_feed_age is %lld days: "
				   "what it knows may be old", rain_vet_feed_origin(feed),
				   (long long)c->policy->max_feed_age);
	if (c->policy->max_feed_age && age > c->policy->max_feed_age)
		return vet_finding(c, VET_VULNERABLE_PACKAGE, RAIN_VET_HIGH, NULL, NULL, NULL,
				   "the feed (%s) is %lld days old, more than the policy's max_feed_age of "
				   "%lld: newer vulnerabilities are not known", rain_vet_feed_origin(feed),
				   (long long)age, (long long)c->policy->max_feed_age);
	return 0;
}

static int vulnerabilities(struct vet_ctx *c)
{
	/* the feed is read-only but sorts itself on its first use */
	struct rain_vet_feed *feed = (struct rain_vet_feed *)c->opts->feed;
	_cleanup_free_ struct rain_vet_finding *found = NULL;
	size_t n = 0;
	int r;

	r = feed_info(c, feed);
	if (r < 0)
		return r;
	if (!c->pkgs.n)
		return vet_note(c, "no installed packages were read: vulnerabilities were not checked");
	r = rain_vet_feed_match(feed, &c->pkgs, &found, &n);
	if (r == RAIN_EINVAL)
		return vet_note(c, "vulnerabilities were not checked: %s", rain_error_last());
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		const struct rain_pkg *p = found[i].pkg;
		const struct rain_vet_advisory *a = found[i].adv;
		enum rain_vet_severity sev = urgency_severity(a->urgency);
		bool nodsa = a->flags & RAIN_VET_ADV_NODSA;
		json_t *x = json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s, s:s, s:b}", "cve", a->id,
				      "source", p->source, "installed", p->version,
				      "source_version", p->source_version, "fixed", a->fixed,
				      "urgency", rain_vet_urgency_name(a->urgency),
				      "scope", rain_vet_scope_name(a->scope), "nodsa", nodsa);

		if (!x)
			return rain_error_oom();
		if (*a->aliases && json_object_set_new(x, "aliases", json_string(a->aliases)) < 0) {
			json_decref(x);
			return rain_error_oom();
		}
		if (a->fixed)
			r = vet_finding(c, VET_VULNERABLE_PACKAGE, sev, NULL, p->name, x,
					"%s (%s urgency) fixed in %s, installed %s%s%s%s", a->id,
					rain_vet_urgency_name(a->urgency), a->fixed, p->version,
					*a->description ? ": " : "", a->description, nodsa ? " [no DSA]" : "");
		else
			r = vet_finding(c, VET_UNFIXED_VULNERABILITY, sev, NULL, p->name, x,
					"%s (%s urgency) not fixed yet, installed %s%s%s%s", a->id,
					rain_vet_urgency_name(a->urgency), p->version,
					*a->description ? ": " : "", a->description,
					nodsa ? " [no DSA planned]" : "");
	}
	return r;
}

static int pk_finish(struct vet_ctx *c)
{
	struct pk_state *st = state(c);
	int r;

	if (c->opts && c->opts->feed) {
		r = vulnerabilities(c);
		if (r < 0)
			return r;
	}
	if (!c->have_dpkg)
		return 0;
	r = filters_load(c, st);
	for (size_t i = 0; r >= 0 && i < st->sums.cap; i++) {
		struct sum *head = st->sums.slots[i].value;

		if (!st->sums.slots[i].key || head->seen)
			continue;
		for (struct sum *s = head; s && r >= 0; s = s->next) {
			if (excluded(st, s->orig))
				continue;
			r = vet_finding(c, VET_MODIFIED_FILE, RAIN_VET_MEDIUM, s->orig, s->pkg, NULL,
					"is missing (the package has a file there)");
			break;
		}
	}
	if (r >= 0)
		r = unsupported(c);
	return r;
}

const struct vet_group vet_group_packages = {
	.name = "packages",
	.facts = pk_facts,
	.md5 = pk_md5,
	.entry = pk_entry,
	.finish = pk_finish,
	.free = pk_free,
};
