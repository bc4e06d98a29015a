/* The rules of what the image runs: unsafe-service (a daemon on the
 * policy's unsafe_services enabled: systemd's enablement links in
 * /etc/systemd/system/\*.wants and the vendor's in /usr/lib/systemd, SysV
 * start links, lines of /etc/inetd.conf while an inetd is installed; such
 * a package installed but not enabled is low) and kernel-not-allowed
 * (the kernels of /boot and /usr/lib/modules against allowed_kernels).
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rain/error.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"
#include "util/strutil.h"
#include "lib/vet/vet-internal.h"
#include "lib/vet/vet-parse.h"

struct unit {
	char *name;             /* "telnet.socket", "getty@tty1.service" */
	char *path;             /* the enablement link */
	char *target;           /* its target, NULL for a file */
};

struct sv_state {
	struct unit *units;
	size_t n_units;
	char **rc;              /* SysV start links */
	size_t n_rc;
	char *inetd;            /* /etc/inetd.conf */
	size_t inetd_len;
	struct vet_map kernels; /* version -> where (borrowed: NULL) */
	char **kernel_paths;
	size_t n_kernel_paths;
	struct vet_map reported;        /* names and packages reported */
};

/* inetd's service names, and the daemons they run */
static const char *const inetd_services[][2] = {
	{ "telnet", "telnetd" }, { "shell", "rshd" }, { "login", "rlogind" },
	{ "exec", "rexecd" }, { "tftp", "tftpd" }, { "finger", "fingerd" },
	{ "talk", "talkd" }, { "ntalk", "talkd" },
};

/* At most so many of each (a hostile image may hold millions). */
#define MAX_KEPT 4096

static const char *const inetds[] = { "openbsd-inetd", "inetutils-inetd", "xinetd", "rlinetd", NULL };

static void sv_free(struct vet_ctx *c)
{
	struct sv_state *st = c->sv;

	if (!st)
		return;
	for (size_t i = 0; i < st->n_units; i++) {
		free(st->units[i].name);
		free(st->units[i].path);
		free(st->units[i].target);
	}
	free(st->units);
	strv_free(st->rc, st->n_rc);
	free(st->inetd);
	vet_map_free(&st->kernels, NULL);
	strv_free(st->kernel_paths, st->n_kernel_paths);
	vet_map_free(&st->reported, NULL);
	free(st);
	c->sv = NULL;
}

static int sv_facts(struct vet_ctx *c)
{
	struct sv_state *st = calloc(1, sizeof(*st));
	int r;

	if (!st)
		return rain_error_oom();
	c->sv = st;
	r = vet_read(c, "/etc/inetd.conf", 1u << 20, &st->inetd, &st->inetd_len);
	return r == RAIN_ENOTFOUND ? 0 : r;
}

static int kernel_add(struct sv_state *st, const char *version, const char *path)
{
	int r;

	if (!*version || vet_map_find(&st->kernels, version) || st->n_kernel_paths >= 64)
		return 0;
	r = vet_map_put(&st->kernels, version, NULL, NULL);
	if (r >= 0)
		r = strv_add(&st->kernel_paths, &st->n_kernel_paths, path);
	return r;
}

static int sv_entry(struct vet_ctx *c, const struct rain_imgfs_entry *e)
{
	struct sv_state *st = c->sv;
	const char *base = strrchr(e->path, '/') + 1;
	int r;

	if ((S_ISLNK(e->mode) || S_ISREG(e->mode)) &&
	    (fnmatch("/etc/systemd/system/*.wants/*", e->path, FNM_PATHNAME) == 0 ||
	     fnmatch("/etc/systemd/system/*.requires/*", e->path, FNM_PATHNAME) == 0 ||
	     fnmatch("/usr/lib/systemd/system/*.wants/*", e->path, FNM_PATHNAME) == 0)) {
		struct unit *u;

		if (st->n_units >= MAX_KEPT)
			return 0;
		r = ARRAY_GROW1(st->units, st->n_units);
		if (r < 0)
			return r;
		u = &st->units[st->n_units++];
		memset(u, 0, sizeof(*u));
		u->name = strdup(base);
		u->path = strdup(e->path);
		u->target = e->link ? strdup(e->link) : NULL;
		if (!u->name || !u->path || (e->link && !u->target))
			return rain_error_oom();
		return 0;
	}
	if (S_ISLNK(e->mode) && st->n_rc < MAX_KEPT && fnmatch("/etc/rc[2345].d/S*", e->path, FNM_PATHNAME) == 0)
		return strv_add(&st->rc, &st->n_rc, e->path);
	if (S_ISREG(e->mode) && fnmatch("/boot/vmlinu[xz]-*", e->path, FNM_PATHNAME) == 0)
		return kernel_add(st, base + strlen("vmlinuz-"), e->path);
	if (S_ISDIR(e->mode) && (fnmatch("/usr/lib/modules/*", e->path, FNM_PATHNAME) == 0 ||
				 fnmatch("/lib/modules/*", e->path, FNM_PATHNAME) == 0))
		return kernel_add(st, base, e->path);
	return 0;
}

/* The package that owns the file a link or path names. */
static int owner_of(struct vet_ctx *c, const char *dir, const char *target, const char **pkg)
{
	_cleanup_free_ char *p = NULL, *real = NULL;
	int r;

	*pkg = NULL;
	if (!target)
		return 0;
	if (target[0] == '/')
		p = strdup(target);
	else if (asprintf(&p, "%s/%s", dir, target) < 0)
		p = NULL;
	if (!p)
		return rain_error_oom();
	r = vet_resolve(c, p, true, &real);
	if (r == RAIN_EFORMAT)
		return 0;
	if (r < 0)
		return r;
	*pkg = vet_map_get(&c->owned, real);
	return 0;
}

/* The first of the names (NULL-terminated) that the policy calls unsafe. */
static const char *unsafe(struct vet_ctx *c, const char *const *names)
{
	for (size_t i = 0; names[i]; i++)
		if (*names[i] && vet_glob_any(c->policy->unsafe_services, c->policy->n_unsafe_services, names[i]))
			return names[i];
	return NULL;
}

/* Report once per name and package. */
static int report(struct vet_ctx *c, const char *name, const char *pkg, const char *path, const char *what)
{
	struct sv_state *st = c->sv;
	int r;

	if (vet_map_find(&st->reported, name))
		return 0;
	r = vet_map_put(&st->reported, name, NULL, NULL);
	if (r >= 0 && pkg)
		r = vet_map_put(&st->reported, pkg, NULL, NULL);
	if (r < 0)
		return r;
	return vet_finding(c, VET_UNSAFE_SERVICE, RAIN_VET_HIGH, path, pkg, json_pack("{s:s}", "service", name),
			   "%s is enabled%s%s%s (a daemon on the policy's unsafe_services: clear-text "
			   "passwords or trust by address)",
			   what, pkg ? " (package " : "", pkg ? pkg : "", pkg ? ")" : "");
}

static int units_check(struct vet_ctx *c, struct sv_state *st)
{
	for (size_t i = 0; i < st->n_units; i++) {
		struct unit *u = &st->units[i];
		_cleanup_free_ char *stem = strdup(u->name), *dir = strdup(u->path);
		_cleanup_free_ char *tmpl_at = NULL, *tmpl = NULL;
		const char *pkg, *names[6];
		char *at, *dot;
		int r;

		if (!stem || !dir)
			return rain_error_oom();
		*strrchr(dir, '/') = '\0';
		dot = strrchr(stem, '.');
		if (dot)
			*dot = '\0';
		/* "getty@tty1" is an instance of "getty@" ("getty") */
		at = strchr(stem, '@');
		if (at) {
			tmpl_at = strndup(stem, at - stem + 1);
			tmpl = strndup(stem, at - stem);
			if (!tmpl_at || !tmpl)
				return rain_error_oom();
		}
		r = owner_of(c, dir, u->target ? u->target : u->name, &pkg);
		if (r < 0)
			return r;
		names[0] = u->name;
		names[1] = stem;
		names[2] = tmpl_at ? tmpl_at : "";
		names[3] = tmpl ? tmpl : "";
		names[4] = pkg ? pkg : "";
		names[5] = NULL;
		if (unsafe(c, names)) {
			r = report(c, u->name, pkg, u->path, u->name);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static bool inetd_installed(struct vet_ctx *c)
{
	for (size_t i = 0; inetds[i]; i++)
		if (rain_pkg_find(&c->pkgs, inetds[i]))
			return true;
	return false;
}

static const char *basename_of(const char *p)
{
	const char *b = strrchr(p, '/');

	return b ? b + 1 : p;
}

static int on_inetd(void *ud, const struct vet_inetd_line *l)
{
	struct vet_ctx *c = ud;
	_cleanup_free_ char *first = NULL, *where = NULL;
	const char *daemon = "", *names[6], *pkg = NULL, *program = l->server;
	int r;

	for (size_t i = 0; i < sizeof(inetd_services) / sizeof(inetd_services[0]); i++)
		if (strcmp(l->service, inetd_services[i][0]) == 0)
			daemon = inetd_services[i][1];
	/* tcpd runs the program named first among its arguments */
	if (strcmp(basename_of(l->server), "tcpd") == 0 && *l->args) {
		first = strndup(l->args, strcspn(l->args, " \t"));
		if (!first)
			return rain_error_oom();
		program = first;
	}
	if (program[0] == '/') {
		r = owner_of(c, "/", program, &pkg);
		if (r < 0)
			return r;
	}
	names[0] = daemon;
	names[1] = basename_of(program);
	names[2] = l->service;
	names[3] = pkg ? pkg : "";
	names[4] = NULL;
	if (!unsafe(c, names))
		return 0;
	if (asprintf(&where, "/etc/inetd.conf:%u", l->line) < 0) {
		where = NULL;
		return rain_error_oom();
	}
	return report(c, l->service, pkg, where, l->service);
}

static int rc_check(struct vet_ctx *c, struct sv_state *st)
{
	for (size_t i = 0; i < st->n_rc; i++) {
		const char *name = basename_of(st->rc[i]) + 1, *pkg, *names[3];
		_cleanup_free_ char *script = NULL;
		int r;

		name += strspn(name, "0123456789");
		if (asprintf(&script, "/etc/init.d/%s", name) < 0) {
			script = NULL;
			return rain_error_oom();
		}
		r = owner_of(c, "/", script, &pkg);
		if (r < 0)
			return r;
		names[0] = name;
		names[1] = pkg ? pkg : "";
		names[2] = NULL;
		if (unsafe(c, names)) {
			r = report(c, name, pkg, st->rc[i], name);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int installed_check(struct vet_ctx *c, struct sv_state *st)
{
	for (size_t i = 0; i < c->pkgs.n; i++) {
		const char *names[2] = { c->pkgs.pkgs[i].name, NULL };
		int r;

		if (!unsafe(c, names) || vet_map_find(&st->reported, names[0]))
			continue;
		r = vet_finding(c, VET_UNSAFE_SERVICE, RAIN_VET_LOW, NULL, names[0], NULL,
				"installed but not enabled (a daemon on the policy's unsafe_services)");
		if (r < 0)
			return r;
	}
	return 0;
}

static int kernels_check(struct vet_ctx *c, struct sv_state *st)
{
	_cleanup_json_ json_t *list = json_array();
	size_t i;

	if (!list)
		return rain_error_oom();
	for (i = 0; i < st->n_kernel_paths; i++) {
		const char *p = st->kernel_paths[i];
		const char *v = str_has_prefix(p, "/boot/") ? basename_of(p) + strlen("vmlinuz-") : basename_of(p);
		int r;

		if (json_array_append_new(list, json_pack("{s:s, s:s}", "version", v, "path", p)) < 0)
			return rain_error_oom();
		if (!c->policy->n_allowed_kernels ||
		    vet_glob_any(c->policy->allowed_kernels, c->policy->n_allowed_kernels, v))
			continue;
		r = vet_finding(c, VET_KERNEL_NOT_ALLOWED, RAIN_VET_HIGH, p, NULL, json_pack("{s:s}", "version", v),
				"kernel %s is not on the policy's allowed_kernels", v);
		if (r < 0)
			return r;
	}
	if (json_object_set(c->info, "kernels", list) < 0)
		return rain_error_oom();
	return 0;
}

static int sv_finish(struct vet_ctx *c)
{
	struct sv_state *st = c->sv;
	int r;

	r = units_check(c, st);
	if (r >= 0 && st->inetd && inetd_installed(c))
		r = vet_inetd_parse(st->inetd, st->inetd_len, on_inetd, c, NULL);
	if (r >= 0)
		r = rc_check(c, st);
	if (r >= 0)
		r = installed_check(c, st);
	if (r >= 0)
		r = kernels_check(c, st);
	return r;
}

const struct vet_group vet_group_services = {
	.name = "services",
	.facts = sv_facts,
	.entry = sv_entry,
	.finish = sv_finish,
	.free = sv_free,
};
