/* Builds as a job kind; see include/rain/build-kind.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rain/build-image.h"
#include "rain/build-kind.h"
#include "rain/auth.h"
#include "rain/build-record.h"
#include "rain/error.h"
#include "rain/recipe.h"
#include "rain/sys/job.h"
#include "rain/sys/worker.h"
#include "lib/build/build-worker.h"
#include "util/base64.h"
#include "util/fsutil.h"
#include "util/log-callback.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

/* how long past its time limit a remote build's worker token stays good */
#define WORKER_TOKEN_SLACK_S 300

extern char **environ;

struct rain_build_kind {
	struct rain_build_kind_config cfg;      /* strings owned below */
	char *cache_dir, *rain_command;
	char *limits[RAIN_BUILD_KIND_LIMITS_MAX + 1];
	char *repo_url, *repo_cacert;           /* where the builds reach the repository */
	struct rain_jobs *jobs;
	const struct rain_worker_backend *backend;      /* where builds run */
	void *backend_state;
	struct worker_sessions *sessions;       /* of remote builds running */
};

/* say(k, level, fmt, ...): to the kind's log callback */
#define say(k, level, ...) LOG_CALLBACK((k)->cfg.log, (k)->cfg.log_ud, (level), __VA_ARGS__)

/* ---- files ------------------------------------------------------------ */


/* Create path with data; sync: make it durable too. */
static int write_file(const char *path, const void *data, size_t len, mode_t mode, bool sync)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	int r;

	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", path);
	r = fs_write_all(fd, data, len, path);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot set the mode of %s", path);
	if (r == 0 && sync && fsync(fd) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot fsync %s", path);
	close(fd);
	return r;
}

/* ---- submission ------------------------------------------------------- */

/* Set code with the last message prefixed by prefix and what (quoted
 * when prefix is "file "): "recipe: [files] copy: <message>". */
static int rewrap(int code, const char *prefix, const char *what)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s", rain_error_last());
	if (!*prefix)
		return rain_error_set(code, "%s", msg);
	if (!strcmp(prefix, "file "))
		return rain_error_set(code, "file '%s': %s", what, msg);
	return rain_error_set(code, "%s%s: %s", prefix, what, msg);
}

/* A set of strings (open addressing, FNV-1a), for checks in linear time
 * over the files of a submission. The strings are borrowed. */
struct name_set {
	const char **slots;
	size_t cap;                 /* a power of two, at least twice the entries */
};

static uint64_t name_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static int name_set_init(struct name_set *set, size_t n)
{
	set->cap = 16;
	while (set->cap < 2 * n + 2)
		set->cap *= 2;
	set->slots = calloc(set->cap, sizeof(*set->slots));
	return set->slots ? 0 : rain_error_oom();
}

/* The slot of the first len bytes of s: holding an equal string, or free. */
static const char **name_set_slot(const struct name_set *set, const char *s, size_t len)
{
	size_t i = (size_t)name_hash(s, len) & (set->cap - 1);

	while (set->slots[i] && (strncmp(set->slots[i], s, len) || set->slots[i][len]))
		i = (i + 1) & (set->cap - 1);
	return &set->slots[i];
}

static bool name_set_has(const struct name_set *set, const char *s, size_t len)
{
	return *name_set_slot(set, s, len) != NULL;
}

/* Add s (kept, not copied); false when it was there already. */
static bool name_set_add(struct name_set *set, const char *s)
{
	const char **slot = name_set_slot(set, s, strlen(s));

	if (*slot)
		return false;
	*slot = s;
	return true;
}

struct input_file {
	char *name;                 /* normalized */
	const char *data;           /* base64, in the request's JSON */
	size_t data_len;
	mode_t mode;
};

struct submission_files {
	struct input_file *files;
	size_t nfiles;
	struct name_set names;      /* the files' names */
	char **dirs;                /* their parent directories ("a", "a/b") */
	size_t ndirs;
};

static void files_clear(struct submission_files *s)
{
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i].name);
	free(s->files);
	strv_free(s->dirs, s->ndirs);
	free(s->names.slots);
}

/* "files": {"NAME": "BASE64" | {"data": "BASE64", "mode": N}, ...}: at
 * most max_files, RAIN_BUILD_FILES_MAX bytes, names unique once
 * normalized, none both a file and another's directory; all in time
 * linear in the size of the request. The data is decoded when written. */
static int parse_files(struct rain_build_kind *k, json_t *files, struct submission_files *s)
{
	struct name_set dirs = { NULL, 0 };
	const char *key;
	json_t *v;
	int64_t total = 0;
	size_t n;
	int r;

	if (!files || json_is_null(files))
		return 0;
	if (!json_is_object(files))
		return rain_error_set(RAIN_EINVAL, "\"files\" must be an object of file name: base64 data");
	n = json_object_size(files);
	if (k->cfg.max_files > 0 && n > (size_t)k->cfg.max_files)
		return rain_error_set(RAIN_ETOOBIG, "the build sends %zu files, more than the %d one "
				      "build may have ([builds] max_files); pack them into fewer "
				      "files, e.g. a tar archive that the recipe's [scripts] unpack",
				      n, k->cfg.max_files);
	s->files = calloc(n + 1, sizeof(*s->files));
	if (!s->files || name_set_init(&s->names, n) < 0 || name_set_init(&dirs, n) < 0) {
		free(dirs.slots);
		return rain_error_oom();
	}
	r = 0;
	json_object_foreach(files, key, v) {
		struct input_file *f = &s->files[s->nfiles];
		json_t *data = v, *mode = NULL;

		r = rain_build_file_name(key, &f->name);
		if (r < 0)
			break;
		s->nfiles++;
		if (!name_set_add(&s->names, f->name)) {
			r = rain_error_set(RAIN_EINVAL, "file '%s' is sent twice", key);
			break;
		}
		f->mode = 0644;
		if (json_is_object(v)) {
			data = json_object_get(v, "data");
			mode = json_object_get(v, "mode");
		}
		if (!json_is_string(data)) {
			r = rain_error_set(RAIN_EINVAL, "file '%s': the data must be a base64 string", key);
			break;
		}
		if (mode) {
			if (!json_is_integer(mode) || json_integer_value(mode) < 0 ||
			    json_integer_value(mode) > 0777) {
				r = rain_error_set(RAIN_EINVAL, "file '%s': mode must be a number from 0 "
						   "to 0777", key);
				break;
			}
			f->mode = (mode_t)json_integer_value(mode);
		}
		f->data = json_string_value(data);
		f->data_len = json_string_length(data);
		total += (int64_t)base64_decoded_max(f->data_len);
		if (total > RAIN_BUILD_FILES_MAX + 2) {
			r = rain_error_set(RAIN_ETOOBIG, "the files sent with the build exceed %" PRId64
					   " MiB", RAIN_BUILD_FILES_MAX >> 20);
			break;
		}
		/* every directory above it, once, parents before children
		 * ("a/b/c": "a", then "a/b") */
		size_t first = s->ndirs;

		for (char *slash = strrchr(f->name, '/'); slash; ) {
			size_t len = (size_t)(slash - f->name);
			char *dir;

			if (name_set_has(&dirs, f->name, len))
				break;
			dir = strndup(f->name, len);
			if (!dir || strv_add(&s->dirs, &s->ndirs, dir) < 0) {
				free(dir);
				r = rain_error_oom();
				break;
			}
			free(dir);
			name_set_add(&dirs, s->dirs[s->ndirs - 1]);
			slash = memrchr(f->name, '/', len);
		}
		if (r < 0)
			break;
		for (size_t i = first, j = s->ndirs; i + 1 < j; i++, j--) {
			char *t = s->dirs[i];

			s->dirs[i] = s->dirs[j - 1];
			s->dirs[j - 1] = t;
		}
	}
	/* "a" and "a/b" cannot both be files */
	for (size_t i = 0; r == 0 && i < s->ndirs; i++)
		if (name_set_has(&s->names, s->dirs[i], strlen(s->dirs[i])))
			r = rain_error_set(RAIN_EINVAL, "file '%s' cannot be both a file and the "
					   "directory of other files", s->dirs[i]);
	free(dirs.slots);
	return r;
}

/* Every file the recipe reads must be relative and among those sent. */
static int check_recipe_files(const struct rain_recipe *r, const struct submission_files *s)
{
	for (size_t i = 0; i < r->nfiles + r->nscripts; i++) {
		const char *what = i < r->nfiles ? "[files] copy" : "[scripts] run";
		const char *src = i < r->nfiles ? r->files[i].src : r->scripts[i - r->nfiles];
		_cleanup_free_ char *name = NULL;
		int ret;

		if (src[0] == '/')
			return rain_error_set(RAIN_EINVAL, "recipe: %s: '%s' is an absolute path; a "
					      "build on the server can only use files sent with it, "
					      "named relative to the recipe", what, src);
		ret = rain_build_file_name(src, &name);
		if (ret < 0)
			return rewrap(ret, "recipe: ", what);
		if (!s->names.slots || !name_set_has(&s->names, name, strlen(name)))
			return rain_error_set(RAIN_EINVAL, "recipe: %s: '%s' was not sent in \"files\"",
					      what, src);
	}
	return 0;
}

/* Whether the client went away, or the engine is stopping: then the
 * submission is dropped. */
static int check_gone(struct rain_build_kind *k, const struct rain_build_input *in)
{
	if (k->jobs && rain_jobs_quiescing(k->jobs))
		return rain_error_set(RAIN_ECANCELED, "raind is stopping; submit the build again "
				      "once it is back");
	if (in->gone && in->gone(in->gone_ud))
		return rain_error_set(RAIN_ECANCELED, "the client went away before the build was "
				      "accepted");
	return 0;
}

/* Lay out the build in stage (the engine's private staging directory,
 * removed at start-up if raind stops meanwhile); *bytes is what it
 * takes. The engine makes it durable. */
static int stage_build(struct rain_build_kind *k, const struct rain_build_input *in,
		       const char *stage, const char *recipe, const struct submission_files *s,
		       int64_t *bytes)
{
	_cleanup_free_ char *input = fs_path_join(stage, "input");
	_cleanup_free_ char *copy = input ? fs_path_join(input, RAIN_BUILD_RECIPE_NAME) : NULL;
	_cleanup_free_ char *text = fs_path_join(stage, "recipe");
	_cleanup_free_ char *logp = fs_path_join(stage, "log");
	size_t rlen = strlen(recipe);
	int r = 0;

	*bytes = 0;
	if (!input || !copy || !text || !logp)
		return rain_error_oom();
	if (mkdir(input, 0700) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", input);
	for (size_t i = 0; r == 0 && i < s->ndirs; i++) {       /* parents first */
		_cleanup_free_ char *path = fs_path_join(input, s->dirs[i]);

		if (!path)
			return rain_error_oom();
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", path);
	}
	for (size_t i = 0; r == 0 && i < s->nfiles; i++) {
		const struct input_file *f = &s->files[i];
		_cleanup_free_ char *path = fs_path_join(input, f->name);
		unsigned char *data = NULL;
		size_t len = 0;

		if (!path)
			return rain_error_oom();
		if (i % 256 == 255 && (r = check_gone(k, in)) < 0)
			break;
		r = base64_decode(f->data, f->data_len, &data, &len);
		if (r < 0 && r != RAIN_ENOMEM)
			r = rewrap(RAIN_EINVAL, "file ", f->name);
		if (r == 0)
			r = write_file(path, data, len, f->mode, false);
		*bytes += (int64_t)len;
		free(data);
	}
	if (r == 0)
		r = write_file(copy, recipe, rlen, 0600, false);
	if (r == 0)
		r = write_file(text, recipe, rlen, 0600, false);
	if (r == 0)
		r = write_file(logp, "", 0, 0600, false);
	*bytes += 2 * (int64_t)rlen;
	return r;
}

static char *charge_key(const char *id)
{
	char *key;

	return asprintf(&key, "build/%s", id) < 0 ? NULL : key;
}

static int build_prepare(void *ud, const char *id, const char *owner, const char *dir,
			 void *input, json_t *data, char **name)
{
	struct rain_build_kind *k = ud;
	struct rain_build_input *in = input;
	json_t *body = in->body;
	const char *text = json_string_value(json_object_get(body, "recipe"));
	json_t *store = json_object_get(body, "store"), *boot = json_object_get(body, "boot_check");
	_cleanup_free_ char *key = NULL;
	struct submission_files s = { 0 };
	struct rain_recipe *recipe = NULL;
	struct rain_who who = *in->who;
	int64_t t0 = time_mono_us(), t_checked;
	int r;

	who.owner = owner;
	if (!json_is_object(body))
		return rain_error_set(RAIN_EINVAL, "the body must be a JSON object with a \"recipe\"");
	if (!text)
		return rain_error_set(RAIN_EINVAL, "\"recipe\" must be the recipe's text (rain-recipe(5))");
	if ((store && !json_is_boolean(store)) || (boot && !json_is_boolean(boot)))
		return rain_error_set(RAIN_EINVAL, "\"store\" and \"boot_check\" must be true or false");
	if (strlen(text) != json_string_length(json_object_get(body, "recipe")))
		return rain_error_set(RAIN_EINVAL, "the recipe holds a NUL character");
	r = rain_recipe_parse(text, "recipe", ".", &recipe);
	if (r < 0)
		return r == RAIN_ENOMEM ? r : rewrap(RAIN_EINVAL, "", "");
	r = parse_files(k, json_object_get(body, "files"), &s);
	if (r == 0)
		r = check_recipe_files(recipe, &s);
	if (r == 0 && json_is_true(store) && !rain_build_image_storable(recipe))
		r = rain_error_set(RAIN_EINVAL, "\"store\" needs a disk or qcow2 output; add one to "
				   "the recipe's [output] formats, or send \"store\": false");
	if (r == 0)
		r = check_gone(k, in);
	if (r < 0)
		goto done;
	t_checked = time_mono_us();
	key = charge_key(id);
	*name = strdup(recipe->name ? recipe->name : "image");
	if (!key || !*name) {
		r = rain_error_oom();
		goto done;
	}
	/* store by default when the recipe makes something storable */
	json_object_set_new(data, "store", json_boolean(store ? json_is_true(store) :
							 rain_build_image_storable(recipe)));
	json_object_set_new(data, "boot_check", json_boolean(json_is_true(boot)));
	json_object_set_new(data, "image_id", json_null());
	r = stage_build(k, in, dir, text, &s, &in->bytes);
	in->nfiles = s.nfiles;
	in->check_us = t_checked - t0;
	in->write_us = time_mono_us() - t_checked;
	if (r == 0)
		r = check_gone(k, in);
	/* the bytes count against the owner's quota (admins have none)
	 * before the build exists; a crash before it does leaves a charge
	 * that the next start drops */
	if (r == 0) {
		r = rain_repo_charge_set(k->cfg.repo, &who, key, in->bytes);
		if (r == RAIN_ETOOBIG) {
			char why[512];

			snprintf(why, sizeof(why), "%s", rain_error_last());
			rain_error_set(r, "the build's %lld bytes of files do not fit in the storage "
				       "quota (%s); delete images or finished builds (rain build "
				       "delete ID) first", (long long)in->bytes, why);
		}
		if (r == 0 && (r = check_gone(k, in)) < 0) {
			char msg[1024];

			snprintf(msg, sizeof(msg), "%s", rain_error_last());
			if (rain_repo_charge_drop(k->cfg.repo, owner, key) < 0)
				say(k, RAIN_JOBS_ERROR, "cannot drop the charge %s: %s (the next start "
				    "does)", key, rain_error_last());
			rain_error_set(r, "%s", msg);
		}
	}
done:
	rain_recipe_free(recipe);
	files_clear(&s);
	return r;
}

/* The stored fields of a build read back (rain/build-record.h). */
static int build_check(void *ud, json_t *data)
{
	json_t *img = json_object_get(data, "image_id");
	static const char *const bools[] = { "store", "boot_check" };

	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_object_get(data, bools[i]);

		if (v && !json_is_boolean(v))
			return rain_error_set(RAIN_EFORMAT, "bad build record: field '%s'", bools[i]);
	}
	if (img && !json_is_null(img) && (!json_is_string(img) ||
					  !uuid_is_valid(json_string_value(img))))
		return rain_error_set(RAIN_EFORMAT, "bad build record: field 'image_id'");
	return 0;
}

/* ---- bytes counted against the owner's quota --------------------------- */

static __thread int64_t sum_bytes;     /* tree_bytes()'s, per thread */

static int sum_size(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_F && S_ISREG(st->st_mode))
		sum_bytes += (int64_t)st->st_size;
	return 0;
}

/* The bytes of the regular files under dir (not following links or
 * leaving the file system). */
static int64_t tree_bytes(const char *dir)
{
	sum_bytes = 0;
	nftw(dir, sum_size, 16, FTW_PHYS | FTW_MOUNT);
	return sum_bytes;
}

/* Count the build's folder as it is now, over what it had (no quota
 * check: it is stored already). */
static void charge_measure(struct rain_build_kind *k, const char *id, const char *owner,
			   const char *dir)
{
	struct rain_who who = { .owner = owner };
	_cleanup_free_ char *key = charge_key(id);

	if (!key || rain_repo_charge_set(k->cfg.repo, &who, key, tree_bytes(dir)) < 0)
		say(k, RAIN_JOBS_ERROR, "build %s: cannot count its bytes: %s", id,
		    key ? rain_error_last() : "out of memory");
}

/* A build deleted, or refused after its charge: its bytes go back. */
static void build_removed(void *ud, const char *id, const char *owner)
{
	struct rain_build_kind *k = ud;
	_cleanup_free_ char *key = charge_key(id);

	if (!key || rain_repo_charge_drop(k->cfg.repo, owner, key) < 0)
		say(k, RAIN_JOBS_ERROR, "build %s: cannot give its bytes back: %s (the next start "
		    "does)", id, key ? rain_error_last() : "out of memory");
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
		      json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

void rain_build_kind_reconcile(struct rain_build_kind *k)
{
	static const struct rain_who all = { .owner = "", .admin = true };
	struct rain_charge *ch = NULL;
	json_t *list = NULL, **ids = NULL;
	size_t n = 0, nids = 0;
	int r;

	r = rain_catalog_charge_list(rain_repo_catalog(k->cfg.repo), "build/", &ch, &n);
	if (r == 0)
		r = rain_jobs_list(k->jobs, &all, RAIN_ACT_BUILD_SHOW, "build", &list);
	if (r == 0 && !(ids = calloc(json_array_size(list) + 1, sizeof(*ids))))
		r = rain_error_oom();
	if (r < 0) {
		say(k, RAIN_JOBS_ERROR, "cannot check what the builds count in quotas: %s",
		    rain_error_last());
		json_decref(list);
		free(ch);
		return;
	}
	for (nids = 0; nids < json_array_size(list); nids++)
		ids[nids] = json_array_get(list, nids);
	qsort(ids, nids, sizeof(*ids), cmp_id);
	/* the charges come sorted by key, as the ids are: one merge */
	for (size_t i = 0, j = 0; i < n || j < nids; ) {
		const char *cid = i < n ? ch[i].key + strlen("build/") : NULL;
		const char *id = j < nids ? json_string_value(json_object_get(ids[j], "id")) : NULL;
		int c = !cid ? 1 : j >= nids ? -1 : strcmp(cid, id);

		if (c < 0) {
			say(k, RAIN_JOBS_INFO, "dropping the charge of %lld bytes of %s for build %s, "
			    "which is gone", (long long)ch[i].bytes, ch[i].owner, cid);
			if (rain_repo_charge_drop(k->cfg.repo, ch[i].owner, ch[i].key) < 0)
				say(k, RAIN_JOBS_ERROR, "%s", rain_error_last());
			i++;
			continue;
		}
		if (c > 0) {
			_cleanup_free_ char *dir = NULL;

			if (rain_jobs_dir(k->jobs, "build", id, &dir) == 0)
				charge_measure(k, id, json_string_value(json_object_get(ids[j], "owner")),
					       dir);
		}
		if (c == 0)
			i++;
		j++;
	}
	free(ids);
	json_decref(list);
	free(ch);
}

/* ---- a build's access to the repository -------------------------------- */

/* What the child gets to reach the repository as the build's owner. */
struct creds {
	const char *token;          /* NULL: none (the build clones nothing); the engine's */
	char *vars[3];              /* RAIN_URL=, RAIN_TOKEN=, RAIN_CACERT= */
	const char **envp;          /* the child's environment */
};

static void creds_clear(struct creds *c)
{
	for (size_t i = 0; i < sizeof(c->vars) / sizeof(*c->vars); i++)
		str_free_secret(c->vars[i]);
	free(c->envp);
	memset(c, 0, sizeof(*c));
}

/* What a build child gets of raind's environment: the search path, the
 * locale and time zone, and the proxies; nothing else (raind's own
 * RAIN_*, OS_* and RAIN_ADMIN_PASSWORD least of all). */
static bool env_allowed(const char *entry)
{
	static const char *const names[] = {
		"PATH=", "LANG=", "LANGUAGE=", "TZ=", "http_proxy=", "https_proxy=", "no_proxy=",
		"HTTP_PROXY=", "HTTPS_PROXY=", "NO_PROXY=", NULL,
	};

	if (str_has_prefix(entry, "LC_") && strchr(entry, '='))
		return true;
	for (size_t i = 0; names[i]; i++)
		if (str_has_prefix(entry, names[i]))
			return true;
	return false;
}

/* The allowed part of raind's environment, with the build's own. */
static int creds_env(struct rain_build_kind *b, struct creds *c)
{
	size_t n = 0, k = 0;
	bool path = false;

	if (c->token) {
		if (asprintf(&c->vars[0], "RAIN_URL=%s", b->repo_url) < 0)
			c->vars[0] = NULL;
		if (asprintf(&c->vars[1], "RAIN_TOKEN=%s", c->token) < 0)
			c->vars[1] = NULL;
		if (b->repo_cacert && asprintf(&c->vars[2], "RAIN_CACERT=%s", b->repo_cacert) < 0)
			c->vars[2] = NULL;
		if (!c->vars[0] || !c->vars[1] || (b->repo_cacert && !c->vars[2]))
			return rain_error_oom();
	}
	for (char **v = environ; v && *v; v++)
		n++;
	c->envp = calloc(n + 5, sizeof(*c->envp));
	if (!c->envp)
		return rain_error_oom();
	for (char **v = environ; v && *v; v++)
		if (env_allowed(*v)) {
			c->envp[k++] = *v;
			path = path || str_has_prefix(*v, "PATH=");
		}
	if (!path)
		c->envp[k++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (size_t i = 0; i < sizeof(c->vars) / sizeof(*c->vars); i++)
		if (c->vars[i])
			c->envp[k++] = c->vars[i];
	c->envp[k] = NULL;
	return 0;
}

/* Whether the build's recipe clones a repository image. */
static bool recipe_clones(const char *path)
{
	struct rain_recipe *r = NULL;
	bool clones = rain_recipe_parse_file(path, &r) == 0 && r->base;

	rain_recipe_free(r);
	return clones;
}

/* ---- running a build -------------------------------------------------- */

struct run {
	struct rain_build_kind *k;
	struct rain_job_run *job;
};

__attribute__((format(printf, 2, 3)))
static void log_note(struct rain_job_run *job, const char *fmt, ...)
{
	char msg[1100];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rain_job_log(job, "== raind: %s", msg);
}

/* Put the build's image into the repository as its owner. */
static int store_result(struct run *run, json_t *manifest, char **image_id)
{
	struct rain_job_run *e = run->job;
	struct rain_repo *repo = run->k->cfg.repo;
	struct rain_who who = { .owner = e->owner, .admin = false };
	struct rain_user *user = NULL;
	_cleanup_free_ char *recipe_path = fs_path_join(e->dir, "input/" RAIN_BUILD_RECIPE_NAME);
	_cleanup_free_ char *data = NULL;
	struct rain_build_image bi = { 0 };
	struct rain_recipe *recipe = NULL;
	struct rain_image *img = NULL, *done = NULL;
	struct rain_upload *up = NULL;
	struct stat st;
	char *buf = NULL;
	int fd = -1, r;

	*image_id = NULL;
	if (!recipe_path)
		return rain_error_oom();
	/* the owner's role and quotas, as when they upload themselves (the
	 * service token's builds belong to "admin", who may not be a user) */
	if (rain_catalog_user_get(rain_repo_catalog(repo), e->owner, &user) == 0) {
		who.admin = user->role == RAIN_ROLE_ADMIN;
		who.quota_bytes = who.admin ? 0 : user->quota_bytes;
		who.quota_images = who.admin ? 0 : user->quota_images;
		rain_user_free(user);
	} else if (!strcmp(e->owner, "admin")) {
		who.admin = true;
	}
	r = rain_recipe_parse_file(recipe_path, &recipe);
	if (r == 0)
		r = rain_build_image_make(recipe, manifest, &bi);
	if (r == 0 && asprintf(&data, "%s/out/%s", e->dir, bi.file) < 0) {
		data = NULL;
		r = rain_error_oom();
	}
	if (r == 0 && (strchr(bi.file, '/') || (fd = open(data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0))
		r = rain_error_errno(RAIN_EIO, errno, "cannot open the build's %s output", bi.format);
	if (r == 0 && fstat(fd, &st) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot stat %s", data);
	if (r == 0)
		r = rain_repo_image_create(repo, &who, bi.fields, &img);
	if (r == 0)
		r = rain_repo_upload_begin(repo, &who, img->id, (int64_t)st.st_size, &up);
	if (r == 0 && !(buf = malloc(1 << 20)))
		r = rain_error_oom();
	while (r == 0) {
		ssize_t n = read(fd, buf, 1 << 20);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = rain_error_errno(RAIN_EIO, errno, "cannot read %s", data);
		if (n <= 0)
			break;
		if (*e->cancel)
			r = rain_error_set(RAIN_ECANCELED, "the build was stopped while being stored");
		else
			r = rain_repo_upload_write(up, buf, (size_t)n);
	}
	if (r == 0) {
		r = rain_repo_upload_finish(up, &done);
		up = NULL;
	}
	if (up)
		rain_repo_upload_abort(up);
	if (r < 0 && img) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", rain_error_last());
		rain_repo_image_delete(repo, &who, img->id);
		rain_error_set(r, "%s", msg);
	}
	if (r == 0) {
		*image_id = strdup(img->id);
		if (!*image_id)
			r = rain_error_oom();
	}
	free(buf);
	if (fd >= 0)
		close(fd);
	rain_image_free(done);
	rain_image_free(img);
	rain_build_image_clear(&bi);
	rain_recipe_free(recipe);
	return r;
}

/* Run the build on the remote backend, with a worker session of its
 * own: the worker gets a token of this build only, never its owner's. */
static int run_remote(struct rain_build_kind *k, struct rain_job_run *job,
		      struct rain_worker_task *task)
{
	char token[RAIN_TOKEN_LEN + 1];
	int64_t limit = job->timeout_s > 0 ? job->timeout_s : 7 * 24 * 3600;
	int r;

	if (recipe_clones(task->recipe))
		return rain_error_set(RAIN_EINVAL, "the build's base is a repository image (base = "
				      "image:REF), which builds on the %s backend cannot read yet; "
				      "build it on raind's own backend ([builds] backend = local)",
				      k->backend->name);
	r = worker_session_open(k->sessions, job, time_now_us() +
				(limit + WORKER_TOKEN_SLACK_S) * 1000000, &task->session, token);
	if (r < 0)
		return r;
	task->token = token;
	log_note(job, "build %s of '%s' for %s goes to the %s backend (its worker gets a token "
		 "for this build only)", job->id, job->name, job->owner, k->backend->name);
	r = k->backend->run(k->backend_state, job, task);
	explicit_bzero(token, sizeof(token));
	worker_session_close(k->sessions, task->session);
	task->session = NULL;
	return r;
}

static int build_run(void *ud, struct rain_job_run *job, json_t *data)
{
	struct rain_build_kind *k = ud;
	_cleanup_free_ char *recipe = fs_path_join(job->dir, "input/" RAIN_BUILD_RECIPE_NAME);
	_cleanup_free_ char *outdir = fs_path_join(job->dir, "out");
	_cleanup_free_ char *manifest_path = fs_path_join(job->dir, "out/manifest.json");
	_cleanup_free_ char *token_path = fs_path_join(job->dir, "token.sha256");
	_cleanup_free_ char *image_id = NULL;
	struct run run = { .k = k, .job = job };
	struct creds creds = { .token = NULL };
	const char *argv[16 + 2 * RAIN_BUILD_KIND_LIMITS_MAX];
	bool boot_check = json_is_true(json_object_get(data, "boot_check"));
	struct rain_worker_task task = {
		.argv = argv, .rain_command = k->rain_command, .recipe = recipe,
		.cache_dir = k->cache_dir, .boot_check = boot_check, .limits = k->limits,
		.url = k->repo_url, .cacert = k->repo_cacert,
	};
	int n = 0, r;

	if (!recipe || !outdir || !manifest_path || !token_path)
		return rain_error_oom();
	if (!k->rain_command)
		return rain_error_set(RAIN_EINVAL, "raind cannot find the rain program; set [builds] "
				      "rain_command");
	if (k->backend->remote) {
		r = run_remote(k, job, &task);
		goto ran;
	}
	argv[n++] = k->rain_command;
	argv[n++] = "generate";
	argv[n++] = recipe;
	argv[n++] = "-o";
	argv[n++] = outdir;
	argv[n++] = "--cache";
	argv[n++] = k->cache_dir;
	/* no --timeout: rain generate 0.1.0 exits early when given one; the
	 * time limit below ends it instead (it cleans up on SIGTERM) */
	if (boot_check)
		argv[n++] = "--boot-check";
	for (char **l = k->limits; *l; l++) {
		argv[n++] = "--limit";
		argv[n++] = *l;
	}
	argv[n] = NULL;
	log_note(job, "build %s of '%s' for %s started", job->id, job->name, job->owner);
	if (recipe_clones(recipe)) {
		r = rain_job_token(job, &creds.token);
		if (r < 0)
			return rain_error_set(r, "cannot give the build access to the repository: %s",
					      rain_error_last());
		log_note(job, "the base image comes from %s, read with %s's rights%s", k->repo_url,
			 job->owner, access(token_path, F_OK) == 0 ?
			 " (a token for this build only)" : "");
	}
	r = creds_env(k, &creds);
	if (r < 0) {
		creds_clear(&creds);
		return rain_error_oom();
	}
	task.envp = creds.envp;
	/* in the build's directory: a raind that restarts after a crash
	 * finds leftover builds by it */
	r = k->backend->run(k->backend_state, job, &task);
	creds_clear(&creds);
ran:
	if (r == 0) {
		json_t *m = json_load_file(manifest_path, 0, NULL);

		if (!m) {
			r = rain_error_set(RAIN_EIO, "the build left no manifest.json");
		} else if (json_is_true(json_object_get(data, "store"))) {
			r = store_result(&run, m, &image_id);
			if (r < 0 && r != RAIN_ECANCELED)
				r = rain_error_set(r, "the image was built but not stored: %s",
						   rain_error_last());
			if (r == 0) {
				log_note(job, "stored as image %s", image_id);
				r = rain_job_set(job, "image_id", json_string(image_id));
				if (k->cfg.stored)
					k->cfg.stored(k->cfg.stored_ud, job->owner, image_id,
						      manifest_path);
			}
		}
		json_decref(m);
	}
	return r;
}

/* The note that ends the log, and what the build left (log, outputs)
 * counts from now on. */
static void build_finished(void *ud, struct rain_job_run *job, enum rain_job_status st,
			   const char *error)
{
	struct rain_build_kind *k = ud;

	log_note(job, "build %s %s after %.1f s%s%s", job->id, rain_job_status_name(st),
		 (double)(time_mono_us() - job->started_mono_us) / 1e6, error ? ": " : "",
		 error ? error : "");
	charge_measure(k, job->id, job->owner, job->dir);
}

/* ---- start-up ---------------------------------------------------------- */

static int64_t build_recover(void *ud, const char *id, const char *dir)
{
	struct rain_build_kind *k = ud;

	return k->backend->recover ? k->backend->recover(k->backend_state, id, dir) : 0;
}

const struct rain_job_kind rain_build_job_kind = {
	.version = RAIN_JOB_KIND_VERSION,
	.name = "build",
	.record_file = "build.json",
	.stopped_msg = "raind stopped during the build",
	.prepare = build_prepare,
	.run = build_run,
	.check = build_check,
	.recover = build_recover,
	.finished = build_finished,
	.removed = build_removed,
};

int rain_build_kind_new(const struct rain_build_kind_config *cfg, struct rain_build_kind **out)
{
	struct rain_build_kind *k = calloc(1, sizeof(*k));

	rain_error_clear();
	*out = NULL;
	if (!k)
		return rain_error_oom();
	k->cfg = *cfg;
	k->cache_dir = strdup(cfg->cache_dir ? cfg->cache_dir : "");
	k->rain_command = cfg->rain_command ? strdup(cfg->rain_command) : NULL;
	if (!k->cache_dir || (cfg->rain_command && !k->rain_command)) {
		rain_build_kind_free(k);
		return rain_error_oom();
	}
	for (size_t i = 0; cfg->limits && cfg->limits[i]; i++) {
		if (i == RAIN_BUILD_KIND_LIMITS_MAX) {
			rain_build_kind_free(k);
			return rain_error_set(RAIN_EINVAL, "more than %d build limits",
					      RAIN_BUILD_KIND_LIMITS_MAX);
		}
		if (!(k->limits[i] = strdup(cfg->limits[i]))) {
			rain_build_kind_free(k);
			return rain_error_oom();
		}
	}
	k->cfg.cache_dir = k->cache_dir;
	k->cfg.rain_command = k->rain_command;
	k->cfg.limits = k->limits;
	k->cfg.backend = k->cfg.slurm_partition = k->cfg.slurm_account = k->cfg.slurm_conf = NULL;
	{
		struct rain_worker_settings ws = {
			.partition = cfg->slurm_partition, .account = cfg->slurm_account,
			.slurm_conf = cfg->slurm_conf, .time_limit_s = cfg->slurm_time_limit_s,
			.timeout_s = cfg->timeout_s,
		};
		int r = worker_backend_find(cfg->backend, &k->backend);

		if (r == 0 && k->backend->open)
			r = k->backend->open(&ws, &k->backend_state);
		if (r == 0)
			r = worker_sessions_new(&k->sessions);
		if (r < 0) {
			rain_build_kind_free(k);
			return r;
		}
	}
	*out = k;
	return 0;
}

void rain_build_kind_attach(struct rain_build_kind *k, struct rain_jobs *jobs)
{
	k->jobs = jobs;
}

int rain_build_kind_set_url(struct rain_build_kind *k, const char *url, const char *cacert)
{
	rain_error_clear();
	free(k->repo_url);
	free(k->repo_cacert);
	k->repo_url = strdup(url);
	k->repo_cacert = cacert ? strdup(cacert) : NULL;
	if (!k->repo_url || (cacert && !k->repo_cacert))
		return rain_error_oom();
	return 0;
}

void rain_build_kind_free(struct rain_build_kind *k)
{
	if (!k)
		return;
	free(k->cache_dir);
	free(k->rain_command);
	for (char **l = k->limits; *l; l++)
		free(*l);
	free(k->repo_url);
	free(k->repo_cacert);
	if (k->backend && k->backend->close)
		k->backend->close(k->backend_state);
	worker_sessions_free(k->sessions);
	free(k);
}

int rain_build_kind_worker_log(struct rain_build_kind *k, const char *id, const char *token,
			       const char *text, size_t len)
{
	rain_error_clear();
	return worker_session_log(k->sessions, id, token, text, len);
}

int rain_build_kind_worker_output_open(struct rain_build_kind *k, const char *id,
				       const char *token, const char *name, int *fd)
{
	rain_error_clear();
	return worker_session_output_open(k->sessions, id, token, name, fd);
}

int rain_build_kind_worker_output_commit(struct rain_build_kind *k, const char *id,
					 const char *token, const char *name, int fd)
{
	rain_error_clear();
	return worker_session_output_commit(k->sessions, id, token, name, fd);
}

int rain_build_kind_worker_done(struct rain_build_kind *k, const char *id, const char *token,
				bool ok, const char *error)
{
	rain_error_clear();
	return worker_session_done(k->sessions, id, token, ok, error);
}
