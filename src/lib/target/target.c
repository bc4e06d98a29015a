/* Sites and the registration steps; see include/rain/target.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "lib/target/target-internal.h"
#include "rain/adapt.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "rain/sys/registry.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/ini.h"
#include "util/process.h"
#include "util/strutil.h"

#define SITE_NAME_MAX 63

/* The built-in site drivers, one per scheme (target-internal.h). */
static const struct rain_driver *const builtin[] = {
	&rain_target_driver_ironic,
	&rain_target_driver_openstack,
	&rain_target_driver_libvirt,
	&rain_target_driver_netboot,
	&rain_target_driver_opennebula,
	&rain_target_driver_container,
	&rain_target_driver_slurm,
	NULL,
};

/* Keys every site has; the rest belong to the driver. */
static const char *const common_keys[] = { "uri", "policy", "kernels", "users", NULL };

static bool name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SITE_NAME_MAX || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_')
			return false;
	return true;
}

/* Split on blanks and commas into a NULL-terminated vector. */
static int split_words(const char *s, char ***out)
{
	_cleanup_free_ char *copy = strdup(s);
	char **v = NULL, *save = NULL;
	size_t n = 0;

	if (!copy)
		return rain_error_oom();
	for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save))
		if (strv_add(&v, &n, w) < 0) {
			strv_free(v, n);
			return rain_error_oom();
		}
	if (!n)
		return 0;
	*out = v;
	return 0;
}

static void strv_free_null(char **v)
{
	size_t n = 0;

	if (!v)
		return;
	while (v[n])
		n++;
	strv_free(v, n);
}

/* The driver for uri: its text up to the first ':' must be a scheme of a
 * site driver (a bare name or an unknown scheme is an error here, where
 * the registry would take a bare location for its first driver). */
static int driver_find(const char *uri, const char *where, const struct rain_target_driver **drv,
		       const char **location)
{
	const struct rain_driver *d = NULL;
	const char *colon = strchr(uri, ':');
	int r;

	if (!builtin[0])
		return rain_error_set(RAIN_EINVAL, "%s: this rain has no site drivers", where);
	if (colon) {
		r = rain_driver_lookup("target", "site kind", uri, builtin, RAIN_TARGET_DRIVER_VERSION,
				       &d, location);
		if (r < 0)
			return rain_error_set(r, "%s: uri: %s", where, rain_error_last());
	}
	if (!d || strncmp(uri, d->scheme, (size_t)(colon - uri)) || d->scheme[colon - uri]) {
		char known[512] = "";
		size_t len = 0;

		for (size_t i = 0; builtin[i] && len < sizeof(known); i++)
			len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", len ? ", " : "",
						builtin[i]->usage);
		return rain_error_set(RAIN_EINVAL, "%s: uri '%s' names no known site kind (known: %s)",
				      where, uri, known);
	}
	*drv = d->table;
	return 0;
}

int rain_site_new(const char *name, const char *const *settings, const char *where,
		  struct rain_site **out)
{
	_cleanup_json_ json_t *set = json_object();
	struct rain_site *s;
	const char *v;
	int r;

	*out = NULL;
	if (!set)
		return rain_error_oom();
	if (!name_valid(name))
		return rain_error_set(RAIN_EINVAL, "%s: site name '%s' is not valid (1-%d of a-z, 0-9, "
				      "'-', '_', starting with a letter or digit)", where, name, SITE_NAME_MAX);
	for (size_t i = 0; settings && settings[i]; i++) {
		const char *eq = strchr(settings[i], '=');
		_cleanup_free_ char *key = NULL;
		json_t *old;

		if (!eq || eq == settings[i])
			return rain_error_set(RAIN_EINVAL, "%s: expected KEY=VALUE, got '%s'", where,
					      settings[i]);
		if (!(key = strndup(settings[i], (size_t)(eq - settings[i]))))
			return rain_error_oom();
		old = json_object_get(set, key);
		if (old) {
			/* a repeated key: its values one per line */
			_cleanup_free_ char *joined = NULL;

			if (asprintf(&joined, "%s\n%s", json_string_value(old), eq + 1) < 0)
				return rain_error_oom();
			r = json_object_set_new(set, key, json_string(joined));
		} else {
			r = json_object_set_new(set, key, json_string(eq + 1));
		}
		if (r < 0)
			return rain_error_oom();
	}
	if (!(v = json_string_value(json_object_get(set, "uri"))) || !*v)
		return rain_error_set(RAIN_EINVAL, "%s: uri is missing (uri = KIND:LOCATION, e.g. "
				      "openstack:mycloud)", where);

	s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(name)) || !(s->uri = strdup(v))) {
		rain_site_free(s);
		return rain_error_oom();
	}
	s->settings = TAKE_PTR(set);
	r = driver_find(s->uri, where, &s->driver, &s->location);
	if (r >= 0 && (v = rain_site_get(s, "policy")) && *v && !(s->policy = strdup(v)))
		r = rain_error_oom();
	if (r >= 0 && (v = rain_site_get(s, "kernels")))
		r = split_words(v, &s->kernels);
	if (r >= 0 && (v = rain_site_get(s, "users")))
		r = split_words(v, &s->users);
	if (r >= 0 && s->driver->check) {
		r = s->driver->check(s);
		if (r < 0)
			r = rain_error_set(r, "%s: %s", where, rain_error_last());
	}
	if (r < 0) {
		rain_site_free(s);
		return r;
	}
	*out = s;
	return 0;
}

void rain_site_free(struct rain_site *s)
{
	if (!s)
		return;
	if (s->priv && s->driver && s->driver->free)
		s->driver->free(s);
	free(s->name);
	free(s->uri);
	free(s->policy);
	strv_free_null(s->kernels);
	strv_free_null(s->users);
	json_decref(s->settings);
	free(s);
}

struct site_file {
	const char *name;
	char **settings, **names;
	size_t nsettings, nnames;
};

static int site_file_entry(void *ud, const char *file, int line, const char *section,
			   const char *key, const char *value)
{
	struct site_file *f = ud;
	_cleanup_free_ char *kv = NULL;

	if (!str_has_prefix(section, "site."))
		return 0;
	section += strlen("site.");
	if (!(f->names && str_in_list((const char *const *)f->names, section)) &&
	    strv_add(&f->names, &f->nnames, section) < 0)
		return rain_error_oom();
	if (strcmp(section, f->name))
		return 0;
	if (asprintf(&kv, "%s=%s", key, value) < 0 || strv_add(&f->settings, &f->nsettings, kv) < 0)
		return rain_error_oom();
	return 0;
}

int rain_site_read(const char *path, const char *name, struct rain_site **out)
{
	struct site_file f = { .name = name };
	_cleanup_free_ char *where = NULL, *names = NULL;
	int r;

	*out = NULL;
	r = ini_parse_file(path, site_file_entry, &f);
	if (r >= 0 && !f.nsettings) {
		names = f.nnames ? strv_join(f.names, f.nnames, ", ") : NULL;
		r = rain_error_set(RAIN_ENOTFOUND, "%s has no [site.%s] (sites there: %s)", path, name,
				   names ? names : "none");
	}
	if (r >= 0 && asprintf(&where, "%s [site.%s]", path, name) < 0)
		r = rain_error_oom();
	if (r >= 0)
		r = rain_site_new(name, (const char *const *)f.settings, where, out);
	strv_free(f.settings, f.nsettings);
	strv_free(f.names, f.nnames);
	return r;
}

const char *rain_site_get(const struct rain_site *s, const char *key)
{
	return json_string_value(json_object_get(s->settings, key));
}

int rain_site_get_int(const struct rain_site *s, const char *key, int64_t def, int64_t *out)
{
	const char *v = rain_site_get(s, key);

	*out = def;
	if (!v)
		return 0;
	if (rain_recipe_parse_size(v, out) < 0 || *out < 0)
		return rain_error_set(RAIN_EINVAL, "site %s: %s = '%s' is not a count or size (N, "
				      "or N with K, M, G, T)", s->name, key, v);
	return 0;
}

int rain_site_get_bool(const struct rain_site *s, const char *key, bool def, bool *out)
{
	const char *v = rain_site_get(s, key);

	*out = def;
	if (v && str_to_bool(v, out) < 0)
		return rain_error_set(RAIN_EINVAL, "site %s: %s = '%s' is not true or false",
				      s->name, key, v);
	return 0;
}

static bool key_is_secret(const char *key)
{
	static const char *const words[] = { "password", "secret", "token", "credential", NULL };

	for (size_t i = 0; words[i]; i++)
		if (strstr(key, words[i]))
			return true;
	return false;
}

json_t *target_strv_json(const char *const *v)
{
	json_t *a = json_array();

	for (size_t i = 0; a && v && v[i]; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int rain_site_to_json(const struct rain_site *s, json_t **out)
{
	_cleanup_json_ json_t *j = NULL, *set = json_object();
	const char *key;
	json_t *val;

	if (!set)
		return rain_error_oom();
	json_object_foreach(s->settings, key, val) {
		if (str_in_list(common_keys, key))
			continue;
		if (json_object_set_new(set, key, key_is_secret(key) ? json_string("***") :
					json_copy(val)) < 0)
			return rain_error_oom();
	}
	j = json_pack("{s:s, s:s, s:s, s:s?, s:o, s:o, s:O}", "name", s->name, "kind",
		      s->driver->scheme, "uri", s->uri, "policy", s->policy, "kernels",
		      s->kernels ? target_strv_json((const char *const *)s->kernels) : json_null(), "users",
		      s->users ? target_strv_json((const char *const *)s->users) : json_null(), "settings", set);
	if (!j)
		return rain_error_oom();
	*out = TAKE_PTR(j);
	return 0;
}

int rain_site_may_register(const struct rain_site *s, const struct rain_who *who)
{
	_cleanup_free_ char *list = NULL;

	if (!s->users)
		return 0;
	for (size_t i = 0; s->users[i]; i++) {
		if (!strcmp(s->users[i], "@admin") ? who->admin : !strcmp(s->users[i], who->owner))
			return 0;
	}
	for (size_t n = 0; s->users[n]; n++)
		if (!s->users[n + 1])
			list = strv_join(s->users, n + 1, ", ");
	return rain_error_set(RAIN_EFORBIDDEN, "user '%s' may not register images at site '%s' "
			      "(allowed: %s; ask an administrator of the site)", who->owner, s->name,
			      list ? list : "?");
}

int rain_site_kernel_allowed(const struct rain_site *s, const char *kver)
{
	_cleanup_free_ char *list = NULL;
	size_t n = 0;

	if (!s->kernels)
		return 0;
	for (; s->kernels[n]; n++)
		if (kver && !fnmatch(s->kernels[n], kver, 0))
			return 0;
	list = strv_join(s->kernels, n, " ");
	return rain_error_set(RAIN_EFORBIDDEN, "kernel %s is not allowed at site '%s' (kernels = %s); "
			      "build the image with an allowed kernel or ask the site's administrator",
			      kver ? kver : "(none found)", s->name, list ? list : "?");
}

/* ---- the plumbing that works on a saved state ------------------------------ */

int rain_site_write(const struct rain_site *s, const char *path)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	_cleanup_fclose_ FILE *f = open_memstream(&text, &len);
	const char *key;
	json_t *v;

	if (!f)
		return rain_error_oom();
	fprintf(f, "[site.%s]\n", s->name);
	json_object_foreach(s->settings, key, v) {
		const char *val = json_string_value(v);

		while (val) {
			const char *nl = strchr(val, '\n');

			fprintf(f, "%s = %.*s\n", key, nl ? (int)(nl - val) : (int)strlen(val), val);
			val = nl ? nl + 1 : NULL;
		}
	}
	if (fclose(TAKE_PTR(f)) != 0)
		return rain_error_oom();
	return fs_write_atomic(path, text, len, 0600);
}

int rain_target_state_read(const char *path, json_t **out)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = fs_read_small(path, RAIN_TARGET_STATE_MAX, &text, &len);

	*out = NULL;
	if (r < 0)
		return r;
	*out = json_loadb(text, len, 0, NULL);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return rain_error_set(RAIN_EFORMAT, "%s is not a JSON object", path);
	}
	return 0;
}

int rain_target_state_write(const char *path, json_t *state)
{
	_cleanup_free_ char *text = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS);

	return text ? fs_write_atomic(path, text, strlen(text), 0600) : rain_error_oom();
}

struct tool_log {
	int fd;
	char last[512];
};

static void tool_line(void *ud, const char *line)
{
	struct tool_log *l = ud;

	if (str_has_prefix(line, "rain: error: "))
		snprintf(l->last, sizeof(l->last), "%s", line + strlen("rain: error: "));
	if (l->fd >= 0)
		dprintf(l->fd, "%s\n", line);
}

int rain_site_state_tool(const char *rain_command, const struct rain_site *site, const char *dir,
			 const char *const *args, int log_fd, int timeout_s)
{
	_cleanup_free_ char *state = fs_path_join(dir, "state.json");
	_cleanup_free_ char *sites = fs_path_join(dir, "site.ini");
	_cleanup_free_ char *name = NULL;
	struct tool_log l = { .fd = log_fd };
	const char *argv[24];
	size_t n = 0;
	int status = -1, r;

	if (!state || !sites)
		return rain_error_oom();
	if (!rain_command)
		return rain_error_set(RAIN_EINVAL, "raind cannot find the rain program; set "
				      "[builds] rain_command");
	argv[n++] = rain_command;
	for (size_t i = 0; args[i] && n < 16; i++)
		argv[n++] = args[i];
	if (asprintf(&name, "rain %s %s", args[0], args[1] ? args[1] : "") < 0)
		return rain_error_oom();
	argv[n++] = "--sites";
	argv[n++] = sites;
	argv[n++] = "--site";
	argv[n++] = site->name;
	argv[n++] = "--state";
	argv[n++] = state;
	argv[n] = NULL;
	r = rain_site_write(site, sites);
	if (r >= 0) {
		struct process_opts o = {
			.argv = argv, .name = name, .cwd = dir, .stdin_fd = -1, .timeout_s = timeout_s,
			.on_line = tool_line, .ud = &l, .end_with_program = true,
		};

		r = process_run(&o, &status);
		if (r >= 0 && status != 0)
			r = rain_error_set(RAIN_EIO, "%s", l.last[0] ? l.last : name);
	}
	unlink(sites);
	return r;
}

/* ---- artifacts ----------------------------------------------------------- */

void rain_target_artifacts_clear(struct rain_target_artifacts *a)
{
	free(a->disk);
	free(a->disk_format);
	free(a->disk_sha256);
	free(a->disk_sha512);
	free(a->kernel);
	free(a->initramfs);
	free(a->kernel_version);
	free(a->cmdline);
	free(a->rootfs);
	free(a->rootfs_sha256);
	json_decref(a->properties);
	memset(a, 0, sizeof(*a));
}

#define ARTIFACT_PATHS(X) X(disk) X(kernel) X(initramfs) X(rootfs)
#define ARTIFACT_STRINGS(X)                                                              \
	X(disk_format) X(disk_sha256) X(disk_sha512) X(kernel_version) X(cmdline) X(rootfs_sha256)

static json_t *path_json(const char *p, const char *base)
{
	size_t n = base ? strlen(base) : 0;

	if (!p)
		return json_null();
	if (n && !strncmp(p, base, n) && p[n] == '/')
		p += n + 1;
	return json_string(p);
}

int rain_target_artifacts_to_json(const struct rain_target_artifacts *a, const char *base,
				  json_t **out)
{
	_cleanup_json_ json_t *j = json_object();
	int r = 0;

	if (!j)
		return rain_error_oom();
#define PUT_PATH(f) r |= json_object_set_new(j, #f, path_json(a->f, base));
#define PUT_STR(f) r |= json_object_set_new(j, #f, a->f ? json_string(a->f) : json_null());
	ARTIFACT_PATHS(PUT_PATH)
	ARTIFACT_STRINGS(PUT_STR)
	r |= json_object_set_new(j, "disk_size", json_integer(a->disk_size));
	r |= json_object_set_new(j, "virtual_size", json_integer(a->virtual_size));
	r |= json_object_set_new(j, "properties", a->properties ? json_copy(a->properties) :
				 json_object());
	if (r)
		return rain_error_oom();
	*out = TAKE_PTR(j);
	return 0;
}

/* A path read back: relative ones are under base, and none may climb. */
static int path_from_json(json_t *v, const char *base, char **out)
{
	const char *p = json_string_value(v);

	*out = NULL;
	if (!p)
		return 0;
	if (p[0] != '/' && strstr(p, ".."))
		return rain_error_set(RAIN_EFORMAT, "artifact path '%s' climbs out of its folder", p);
	if (p[0] == '/' || !base)
		*out = strdup(p);
	else if (asprintf(out, "%s/%s", base, p) < 0)
		*out = NULL;
	return *out ? 0 : rain_error_oom();
}

int rain_target_artifacts_from_json(json_t *j, const char *base, struct rain_target_artifacts *a)
{
	int r = 0;

	memset(a, 0, sizeof(*a));
	if (!json_is_object(j))
		return rain_error_set(RAIN_EFORMAT, "artifacts: expected a JSON object");
#define GET_PATH(f) if (r >= 0) r = path_from_json(json_object_get(j, #f), base, &a->f);
#define GET_STR(f)                                                                      \
	if (r >= 0 && json_is_string(json_object_get(j, #f)) &&                         \
	    !(a->f = strdup(json_string_value(json_object_get(j, #f)))))               \
		r = rain_error_oom();
	ARTIFACT_PATHS(GET_PATH)
	ARTIFACT_STRINGS(GET_STR)
	a->disk_size = json_integer_value(json_object_get(j, "disk_size"));
	a->virtual_size = json_integer_value(json_object_get(j, "virtual_size"));
	if (r >= 0 && json_is_object(json_object_get(j, "properties")))
		a->properties = json_copy(json_object_get(j, "properties"));
	if (r < 0)
		rain_target_artifacts_clear(a);
	return r;
}

/* ---- the op -------------------------------------------------------------- */

int rain_target_state_put(json_t *state, const char *key, json_t *value,
			  int (*save)(void *ud, json_t *state), void *ud)
{
	int r = value ? json_object_set_new(state, key, value) : json_object_del(state, key);

	if (value && r < 0)
		return rain_error_oom();
	return save ? save(ud, state) : 0;
}

int rain_target_state_set(struct rain_target_op *op, const char *key, json_t *value)
{
	return rain_target_state_put(op->state, key, value, op->save, op->ud);
}

void rain_target_vlog(void (*log)(void *ud, enum rain_target_level level, const char *msg), void *ud,
		      enum rain_target_level level, const char *fmt, va_list ap)
{
	char msg[1024];

	if (!log)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log(ud, level, msg);
}

void rain_target_log(struct rain_target_op *op, enum rain_target_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rain_target_vlog(op->log, op->ud, level, fmt, ap);
	va_end(ap);
}

void rain_target_progress(struct rain_target_op *op, const char *what, int64_t done, int64_t total)
{
	if (op->progress)
		op->progress(op->ud, what, done, total);
}

int rain_target_check_cancel(struct rain_target_op *op)
{
	if (op->cancel && *op->cancel)
		return rain_error_set(RAIN_ECANCELED, "the registration at site '%s' was canceled",
				      op->site->name);
	return 0;
}

/* ---- the steps ----------------------------------------------------------- */

int rain_target_accepts(const struct rain_site *s, const struct rain_target_image *img)
{
	int r;

	if (!s->driver->accepts)
		return 0;
	r = s->driver->accepts(s, img);
	if (r < 0)
		return rain_error_set(r, "site '%s' does not take image %s: %s", s->name,
				      img->name ? img->name : img->id, rain_error_last());
	return 0;
}

int rain_target_adapt_key(const struct rain_site *s, char **out)
{
	*out = NULL;
	if (s->driver->adapt_key)
		return s->driver->adapt_key(s, out);
	if (asprintf(out, "site %s %s", s->name, s->uri) < 0) {
		*out = NULL;
		return rain_error_oom();
	}
	return 0;
}

/* What an adaptation in op->workdir was made from; a later one from the
 * same source reuses it (NULL when out of memory). */
static json_t *adapt_source(struct rain_target_op *op, const struct rain_target_image *img)
{
	_cleanup_free_ char *key = NULL;
	char key_sha[65] = "";

	if (rain_target_adapt_key(op->site, &key) < 0)
		return NULL;
	if (op->ssh_key) {
		unsigned char md[32];
		unsigned int n = 0;

		if (EVP_Digest(op->ssh_key, strlen(op->ssh_key), md, &n, EVP_sha256(), NULL) != 1)
			return NULL;
		hex_encode(md, n, key_sha);
	}
	return json_pack("{s:s, s:s, s:s}", "sha256", img->sha256 ? img->sha256 : "", "adapt", key,
			 "ssh_key", key_sha);
}

/* The artifacts of an earlier adaptation of the same source, when every
 * file is still there. */
static bool adapt_reuse(struct rain_target_op *op, json_t *src, const char *path,
			struct rain_target_artifacts *out)
{
	_cleanup_json_ json_t *j = json_load_file(path, 0, NULL);
	const char *files[4];
	struct stat st;

	if (!j || !src || !json_equal(json_object_get(j, "source"), src) ||
	    rain_target_artifacts_from_json(json_object_get(j, "artifacts"), op->workdir, out) < 0)
		return false;
	files[0] = out->disk;
	files[1] = out->kernel;
	files[2] = out->initramfs;
	files[3] = out->rootfs;
	for (size_t i = 0; i < 4; i++)
		if (files[i] && access(files[i], R_OK) < 0) {
			rain_target_artifacts_clear(out);
			return false;
		}
	/* its digests are of the disk as it was made */
	if (out->disk && out->disk_size > 0 && (stat(out->disk, &st) < 0 || st.st_size != out->disk_size)) {
		rain_target_artifacts_clear(out);
		return false;
	}
	return true;
}

int rain_target_adapt(struct rain_target_op *op, const struct rain_target_image *img,
		      struct rain_target_artifacts *out)
{
	static const struct rain_adapt_opts defaults = { 0 };
	_cleanup_free_ char *path = fs_path_join(op->workdir, "artifacts.json");
	_cleanup_free_ char *lock = fs_path_join(op->workdir, ".lock");
	_cleanup_json_ json_t *src = NULL;
	_cleanup_close_ int lockfd = -1;
	int r;

	memset(out, 0, sizeof(*out));
	if (!path || !lock)
		return rain_error_oom();
	r = rain_target_check_cancel(op);
	if (r < 0)
		return r;
	/* one adaptation at a time in a folder; the next one reuses it */
	lockfd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot lock %s", lock);
	src = adapt_source(op, img);
	if (!src)
		return rain_error_oom();
	if (adapt_reuse(op, src, path, out)) {
		rain_target_log(op, RAIN_TARGET_INFO, "reusing the adapted copy in %s", op->workdir);
	} else {
		unlink(path);
		if (op->site->driver->adapt)
			r = op->site->driver->adapt(op, img, out);
		else
			r = rain_adapt(op, img, &defaults, out);
		if (r >= 0) {
			_cleanup_json_ json_t *arts = NULL, *j = NULL;
			_cleanup_free_ char *text = NULL;

			r = rain_target_artifacts_to_json(out, op->workdir, &arts);
			if (r >= 0 && (!(j = json_pack("{s:O, s:O}", "source", src, "artifacts", arts)) ||
				       !(text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS))))
				r = rain_error_oom();
			if (r >= 0)
				r = fs_write_atomic(path, text, strlen(text), 0600);
		}
	}
	if (r >= 0 && op->site->kernels)
		r = rain_site_kernel_allowed(op->site, out->kernel_version);
	if (r < 0)
		rain_target_artifacts_clear(out);
	return r;
}

int rain_target_publish(struct rain_target_op *op, const struct rain_target_image *img,
			const struct rain_target_artifacts *a)
{
	int r = rain_target_check_cancel(op);

	if (r >= 0)
		r = op->site->driver->publish(op, img, a);
	return r;
}

int rain_target_unpublish(struct rain_target_op *op)
{
	return op->site->driver->unpublish(op);
}

int rain_target_status(struct rain_target_op *op, json_t **out)
{
	*out = NULL;
	if (!op->site->driver->status) {
		*out = json_pack("{s:b}", "known", false);
		return *out ? 0 : rain_error_oom();
	}
	return op->site->driver->status(op, out);
}
