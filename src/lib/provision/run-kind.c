/* Runs as a job kind; see include/rain/run-kind.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/target/target-internal.h"
#include "rain/catalog.h"
#include "rain/error.h"
#include "rain/provision.h"
#include "rain/run-kind.h"
#include "rain/sys/job.h"
#include "rain/sys/target.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/log-callback.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define RUN_OUT_MAX 32          /* --out paths of one run */
#define RUN_OUT_LEN 1024        /* bytes of one */
#define RUN_ARGV_MAX 256        /* words of the command */
#define RUN_ARGV_LEN 65536      /* bytes of them all */
#define RUN_SCRIPT_MAX (1 << 20)
#define RUN_FILES_MAX 1000      /* fetched files listed in the record */
#define DOWN_TIMEOUT_S 600
#define ORPHAN_WAIT_S 20        /* for a child that takes its instances down */

struct rain_run_kind {
	struct rain_run_kind_config cfg;        /* strings owned below */
	char *rain_command;
};

/* ---- checks -------------------------------------------------------------- */

/* root with each component "%u" as user (new string), or NULL. */
static char *root_for(const char *root, const char *user)
{
	_cleanup_free_ char *copy = strdup(root);
	char **parts = NULL, *save = NULL, *out = NULL;
	size_t n = 0;

	if (!copy)
		return NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
		if (strv_add(&parts, &n, strcmp(c, "%u") ? c : user) < 0) {
			strv_free(parts, n);
			return NULL;
		}
	out = n ? strv_join(parts, n, "/") : strdup("");
	strv_free(parts, n);
	if (out) {
		char *abs = NULL;

		if (asprintf(&abs, "/%s", out) < 0)
			abs = NULL;
		free(out);
		out = abs;
	}
	return out;
}

/* Whether path has a component "." or ".." (or is empty between slashes
 * at the end: "a/."). */
static bool has_dot_component(const char *path)
{
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");

		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return true;
		p += len;
		p += strspn(p, "/");
	}
	return false;
}

int rain_run_share_allowed(const char *roots, const char *user, const char *path, char **real)
{
	_cleanup_free_ char *copy = NULL, *rp = NULL, *mine = NULL;
	char *save = NULL;
	struct stat st;

	*real = NULL;
	if (!roots || !*roots || strspn(roots, " \t") == strlen(roots))
		return rain_error_set(RAIN_EFORBIDDEN, "this server shares no host folders into runs "
				      "([runs] share_roots is not set): copy the files in with the job");
	if (!user || !fs_name_is_safe(user))
		return rain_error_set(RAIN_EFORBIDDEN, "user name '%s' cannot name a shared folder",
				      user ? user : "");
	if (!path || path[0] != '/' || !str_is_printable(path, 4000) || has_dot_component(path))
		return rain_error_set(RAIN_EINVAL, "shared folder '%s': give an absolute path without "
				      "'.' or '..' components", path ? path : "");
	if (!(copy = strdup(roots)))
		return rain_error_oom();
	rp = realpath(path, NULL);
	if (!rp)
		return rain_error_errno(errno == ENOENT ? RAIN_ENOTFOUND : RAIN_EINVAL, errno,
					"shared folder %s", path);
	if (stat(rp, &st) < 0 || !S_ISDIR(st.st_mode))
		return rain_error_set(RAIN_EINVAL, "shared folder %s is not a folder", path);
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		_cleanup_free_ char *root = root_for(w, user), *rroot = NULL;
		size_t len;
		char *m = NULL;

		if (!root)
			return rain_error_oom();
		if (asprintf(&m, "%s%s%s", mine ? mine : "", mine ? " " : "", root) < 0)
			return rain_error_oom();
		free(mine);
		mine = m;
		if (w[0] != '/' || !(rroot = realpath(root, NULL)))
			continue;
		len = strlen(rroot);
		if (!strncmp(rp, rroot, len) && (rp[len] == '\0' || rp[len] == '/' || len == 1)) {
			*real = TAKE_PTR(rp);
			return 0;
		}
	}
	return rain_error_set(RAIN_EFORBIDDEN, "shared folder %s%s%s is not under a folder this server "
			      "lets %s share (%s): name one there (symlinks out of it are not followed)",
			      path, strcmp(path, rp) ? ", really " : "", strcmp(path, rp) ? rp : "", user, mine);
}

/* ref (an id, or the name of one image who may see) to the image's id. */
static int image_resolve(struct rain_run_kind *k, const struct rain_who *who, const char *ref,
			 char id[37])
{
	struct rain_image_query q = { .nterms = 1, .limit = 2, .requester = who->owner,
				      .requester_admin = who->admin };
	struct rain_image **v = NULL;
	size_t n = 0;
	bool more = false;
	int r;

	if (uuid_is_valid(ref)) {
		snprintf(id, 37, "%s", ref);
		uuid_canonicalize(id);
		return 0;
	}
	q.terms[0] = (struct rain_query_term){ "name", RAIN_OP_EQ, ref };
	r = rain_catalog_image_list(rain_repo_catalog(k->cfg.repo), &q, &v, &n, &more);
	if (r < 0)
		return r;
	if (n == 1)
		snprintf(id, 37, "%s", v[0]->id);
	rain_catalog_list_free(v, n);
	if (n == 0)
		return rain_error_set(RAIN_ENOTFOUND, "no image named '%s' (rain image list shows "
				      "them)", ref);
	if (n > 1)
		return rain_error_set(RAIN_EINVAL, "more than one image is named '%s': give its id",
				      ref);
	return 0;
}

static int check_input(struct rain_run_kind *k, const struct rain_run_input *in)
{
	size_t len = 0, n;

	if (in->n < 1)
		return rain_error_set(RAIN_EINVAL, "n must be at least 1, not %d", in->n);
	if (in->n > k->cfg.max_per_run)
		return rain_error_set(RAIN_ETOOBIG, "a run may ask for at most %d instances ([runs] "
				      "max_per_run), not %d", k->cfg.max_per_run, in->n);
	if (in->walltime_s < 0 || in->walltime_s > k->cfg.max_walltime_s)
		return rain_error_set(RAIN_EINVAL, "walltime must be 1 to %d seconds ([runs] "
				      "max_walltime), not %d", k->cfg.max_walltime_s, in->walltime_s);
	if (!!in->argv == !!in->script)
		return rain_error_set(RAIN_EINVAL, "a run runs a command or a script: give one of "
				      "them");
	for (n = 0; in->argv && in->argv[n]; n++) {
		len += strlen(in->argv[n]) + 1;
		if (n >= RUN_ARGV_MAX || len > RUN_ARGV_LEN)
			return rain_error_set(RAIN_ETOOBIG, "the command has more than %d words or "
					      "%d bytes", RUN_ARGV_MAX, RUN_ARGV_LEN);
	}
	if (in->argv && (n == 0 || !*in->argv[0]))
		return rain_error_set(RAIN_EINVAL, "the command is empty: give the program to run");
	if (in->script && (!*in->script || strlen(in->script) > RUN_SCRIPT_MAX))
		return rain_error_set(RAIN_EINVAL, "the script must be 1 byte to %d bytes",
				      RUN_SCRIPT_MAX);
	if (in->share_rw && !in->share)
		return rain_error_set(RAIN_EINVAL, "share_rw goes with a shared folder (share)");
	for (n = 0; in->out && in->out[n]; n++) {
		const char *p = in->out[n];

		if (n >= RUN_OUT_MAX)
			return rain_error_set(RAIN_ETOOBIG, "a run fetches at most %d paths",
					      RUN_OUT_MAX);
		if (!*p || !str_is_printable(p, RUN_OUT_LEN))
			return rain_error_set(RAIN_EINVAL, "output path '%s' must be 1 to %d printable "
					      "bytes", p, RUN_OUT_LEN);
	}
	return 0;
}

int rain_run_check(struct rain_run_kind *k, const struct rain_run_input *in,
		   struct rain_registration *reg)
{
	struct rain_registration found = { 0 };
	const struct rain_site *site;
	struct rain_image *img = NULL;
	char id[37];
	int r;

	rain_error_clear();
	if (reg)
		memset(reg, 0, sizeof(*reg));
	r = check_input(k, in);
	if (r >= 0)
		r = rain_register_site(k->cfg.registrations, in->site, &site);
	if (r >= 0)
		r = rain_site_may_register(site, in->who);
	if (r >= 0 && !rain_run_site_supported(site))
		r = rain_error_set(RAIN_EINVAL, "site '%s' is of kind %s, which cannot run "
				   "instances (no provider)", site->name, site->driver->scheme);
	if (r >= 0 && in->share && !rain_run_site_shares(site))
		r = rain_error_set(RAIN_EINVAL, "site '%s' is of kind %s, whose instances cannot have "
				   "a host folder shared in: copy the files in with the job",
				   site->name, site->driver->scheme);
	if (r >= 0 && in->share) {
		_cleanup_free_ char *real = NULL;

		r = rain_run_share_allowed(k->cfg.share_roots, in->who->owner, in->share, &real);
	}
	if (r >= 0)
		r = image_resolve(k, in->who, in->image, id);
	if (r >= 0)
		r = rain_repo_image_load(k->cfg.repo, in->who, id, RAIN_ACT_DOWNLOAD, &img);
	if (r >= 0) {
		r = rain_register_find(k->cfg.registrations, img->id, site->name, in->who->owner,
				       &found);
		if (r == RAIN_ENOTFOUND)
			r = rain_error_set(RAIN_ENOTFOUND, "image %s has no registration of %s at site "
					   "%s: register it first (rain register %s --site %s; "
					   "rain run does so itself)", img->name ? img->name : img->id,
					   in->who->owner, site->name, img->id, site->name);
	}
	if (r >= 0 && reg)
		*reg = found;
	else
		free(found.doc);
	rain_image_free(img);
	return r;
}

/* ---- a job ------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *path = fs_path_join(dir, name);

	return path ? fs_write_atomic(path, text, strlen(text), 0600) : rain_error_oom();
}

static int run_prepare(void *ud, const char *id, const char *owner, const char *dir, void *input,
		       json_t *data, char **name)
{
	struct rain_run_kind *k = ud;
	struct rain_run_input *in = input;
	struct rain_registration reg = { 0 };
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *state_path = fs_path_join(dir, "registration.json"), *share = NULL;
	const struct rain_site *site;
	const char *image_name;
	int r;

	(void)id;
	(void)owner;
	if (!state_path)
		return rain_error_oom();
	r = rain_run_check(k, in, &reg);
	if (r < 0)
		return r;
	rain_register_site(k->cfg.registrations, reg.site, &site);
	doc = json_loads(reg.doc ? reg.doc : "", 0, NULL);
	if (!json_is_object(json_object_get(doc, "state"))) {
		r = rain_error_set(RAIN_EFORMAT, "registration %s names nothing at site %s: "
				   "deregister it and register the image again", reg.id, reg.site);
		goto out;
	}
	r = rain_target_state_write(state_path, json_object_get(doc, "state"));
	if (r >= 0 && in->share)
		r = rain_run_share_allowed(k->cfg.share_roots, in->who->owner, in->share, &share);
	if (r >= 0 && in->script)
		r = write_file(dir, "job.sh", in->script);
	if (r < 0)
		goto out;
	image_name = json_string_value(json_object_get(doc, "image_name"));
	if (json_object_set_new(data, "image_id", json_string(reg.image_id)) < 0 ||
	    json_object_set_new(data, "image_name", image_name ? json_string(image_name) :
				json_null()) < 0 ||
	    json_object_set_new(data, "site", json_string(reg.site)) < 0 ||
	    json_object_set_new(data, "site_kind", json_string(site->driver->scheme)) < 0 ||
	    json_object_set_new(data, "registration", json_string(reg.id)) < 0 ||
	    json_object_set_new(data, "n", json_integer(in->n)) < 0 ||
	    json_object_set_new(data, "walltime", json_integer(in->walltime_s ? in->walltime_s :
							       k->cfg.max_walltime_s)) < 0 ||
	    json_object_set_new(data, "each", json_boolean(in->each)) < 0 ||
	    json_object_set_new(data, "keep", json_boolean(in->keep)) < 0 ||
	    json_object_set_new(data, in->script ? "script" : "command",
				in->script ? json_true() : target_strv_json(in->argv)) < 0 ||
	    json_object_set_new(data, "out", target_strv_json(in->out)) < 0 ||
	    json_object_set_new(data, "share", share ? json_string(share) : json_null()) < 0 ||
	    json_object_set_new(data, "share_rw", json_boolean(share && in->share_rw)) < 0 ||
	    json_object_set_new(data, "exit_code", json_null()) < 0 ||
	    !(*name = strdup(image_name ? image_name : reg.image_id)))
		r = rain_error_oom();
out:
	free(reg.doc);
	return r;
}

static int run_check(void *ud, json_t *data)
{
	(void)ud;
	if (!json_is_string(json_object_get(data, "image_id")) ||
	    !json_is_string(json_object_get(data, "site")) ||
	    !json_is_integer(json_object_get(data, "n")) ||
	    !json_is_integer(json_object_get(data, "walltime")))
		return rain_error_set(RAIN_EFORMAT, "bad run record: image_id, site, n and walltime "
				      "are needed");
	return 0;
}

static int run_run(void *ud, struct rain_job_run *job, json_t *data)
{
	struct rain_run_kind *k = ud;
	const char *site_name = json_string_value(json_object_get(data, "site"));
	json_t *command = json_object_get(data, "command"), *out = json_object_get(data, "out"), *v;
	const char *share = json_string_value(json_object_get(data, "share"));
	_cleanup_free_ char *share_now = NULL;
	_cleanup_free_ char *site_path = fs_path_join(job->dir, "site.ini");
	_cleanup_free_ char *reg_path = fs_path_join(job->dir, "registration.json");
	_cleanup_free_ char *state_path = fs_path_join(job->dir, "state.json");
	_cleanup_free_ char *script = fs_path_join(job->dir, "job.sh");
	_cleanup_free_ char *outdir = fs_path_join(job->dir, "out");
	_cleanup_free_ const char **argv = NULL;
	char n[16], walltime[16];
	const struct rain_site *site;
	size_t i, argc = 0;
	int status = -1, code, r;

	if (!site_path || !reg_path || !state_path || !script || !outdir)
		return rain_error_oom();
	argv = calloc(32 + 2 * json_array_size(out) + json_array_size(command), sizeof(*argv));
	if (!argv)
		return rain_error_oom();
	if (!k->rain_command)
		return rain_error_set(RAIN_EINVAL, "raind cannot find the rain program; set [builds] "
				      "rain_command");
	r = rain_register_site(k->cfg.registrations, site_name, &site);
	if (r >= 0)
		r = rain_site_write(site, site_path);
	if (r >= 0)
		r = fs_mkdir_p(outdir, 0700);
	/* again, now: the folder may have been swapped while the run waited */
	if (r >= 0 && share) {
		r = rain_run_share_allowed(k->cfg.share_roots, job->owner, share, &share_now);
		if (r >= 0 && strcmp(share, share_now))
			r = rain_error_set(RAIN_EFORBIDDEN, "shared folder %s now leads to %s: refused",
					   share, share_now);
	}
	if (r < 0)
		return r;
	snprintf(n, sizeof(n), "%d", (int)json_integer_value(json_object_get(data, "n")));
	snprintf(walltime, sizeof(walltime), "%d",
		 (int)json_integer_value(json_object_get(data, "walltime")));
	argv[argc++] = k->rain_command;
	argv[argc++] = "provision";
	argv[argc++] = "run";
	argv[argc++] = "--sites";
	argv[argc++] = site_path;
	argv[argc++] = "--site";
	argv[argc++] = site->name;
	argv[argc++] = "--registration";
	argv[argc++] = reg_path;
	argv[argc++] = "--state";
	argv[argc++] = state_path;
	argv[argc++] = "--work";
	argv[argc++] = job->dir;
	argv[argc++] = "--id";
	argv[argc++] = job->id;
	argv[argc++] = "-n";
	argv[argc++] = n;
	argv[argc++] = "--walltime";
	argv[argc++] = walltime;
	if (json_is_true(json_object_get(data, "each")))
		argv[argc++] = "--each";
	if (json_is_true(json_object_get(data, "keep")))
		argv[argc++] = "--keep";
	if (json_is_true(json_object_get(data, "script"))) {
		argv[argc++] = "--script";
		argv[argc++] = script;
	}
	json_array_foreach(out, i, v) {
		argv[argc++] = "--out";
		argv[argc++] = json_string_value(v);
	}
	argv[argc++] = "--outdir";
	argv[argc++] = outdir;
	if (share_now) {
		argv[argc++] = "--share";
		argv[argc++] = share_now;
		if (json_is_true(json_object_get(data, "share_rw")))
			argv[argc++] = "--share-rw";
	}
	if (json_array_size(command)) {
		argv[argc++] = "--";
		json_array_foreach(command, i, v)
			argv[argc++] = json_string_value(v);
	}
	argv[argc] = NULL;
	rain_job_log(job, "rain: raind: run %s of image %s on %s instance(s) at site %s (%s) for %s",
		     job->id, job->name ? job->name : json_string_value(json_object_get(data, "image_id")),
		     n, site->name, site->driver->scheme, job->owner);
	r = rain_job_run_program(job, argv, NULL, "rain provision run", "[runs] max_walltime",
				 &status);
	code = *job->cancel ? RAIN_RUN_EXIT_INTERRUPTED : status >= 0 ? status : RAIN_RUN_EXIT_FAILED;
	rain_job_set(job, "exit_code", json_integer(code));
	if (r < 0 && r != RAIN_ECANCELED && code != RAIN_RUN_EXIT_TIMEOUT &&
	    code != RAIN_RUN_EXIT_FAILED && code != RAIN_RUN_EXIT_INTERRUPTED)
		r = rain_error_set(RAIN_EIO, "the job exited with status %d", code);
	return r;
}

/* The regular files under dir/rel, as paths relative to dir, into list. */
static void list_files(const char *dir, const char *rel, json_t *list, int depth)
{
	_cleanup_free_ char *path = rel ? fs_path_join(dir, rel) : strdup(dir);
	DIR *d = path && depth < 4 ? opendir(path) : NULL;
	struct dirent *e;

	while (d && (e = readdir(d)) && json_array_size(list) < RUN_FILES_MAX) {
		_cleanup_free_ char *sub = NULL;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		sub = rel ? fs_path_join(rel, e->d_name) : strdup(e->d_name);
		if (!sub)
			break;
		if (e->d_type == DT_DIR)
			list_files(dir, sub, list, depth + 1);
		else if (e->d_type == DT_REG)
			json_array_append_new(list, json_string(sub));
	}
	if (d)
		closedir(d);
}

json_t *rain_run_instances(const char *dir)
{
	_cleanup_free_ char *path = fs_path_join(dir, "state.json");
	_cleanup_json_ json_t *state = NULL;
	json_t *list = json_array(), *inst;
	size_t i;

	if (!list || !path || access(path, F_OK) < 0 || rain_target_state_read(path, &state) < 0)
		return list;
	json_array_foreach(json_object_get(state, "instances"), i, inst) {
		json_t *name = json_object_get(inst, "name");

		if (json_is_string(name))
			json_array_append_new(list, json_pack("{s:O, s:O*}", "name", name, "ssh",
							      json_object_get(inst, "ssh")));
	}
	return list;
}

json_t *rain_run_history(const char *dir)
{
	_cleanup_free_ char *path = fs_path_join(dir, "state.json");
	_cleanup_json_ json_t *state = NULL;
	json_t *list = json_array(), *h, *up = NULL;
	size_t i, j;

	if (!list || !path || access(path, F_OK) < 0 || rain_target_state_read(path, &state) < 0)
		return list;
	up = json_object_get(state, "instances");
	json_array_foreach(json_object_get(state, "history"), i, h) {
		const char *name = json_string_value(json_object_get(h, "name"));
		json_t *ssh = json_object_get(h, "ssh"), *inst, *e;
		const char *host = json_string_value(json_object_get(ssh, "host"));
		json_int_t port = json_integer_value(json_object_get(ssh, "port"));
		_cleanup_free_ char *address = NULL;
		bool is_up = false;

		if (!name)
			continue;
		json_array_foreach(up, j, inst) {
			const char *n = json_string_value(json_object_get(inst, "name"));

			is_up = is_up || (n && !strcmp(n, name));
		}
		if (host && port > 0 && asprintf(&address, "%s:%" JSON_INTEGER_FORMAT, host, port) < 0)
			address = NULL;
		e = json_pack("{s:s, s:s?, s:s}", "name", name, "address", address, "state",
			      is_up ? "up" : "gone");
		if (!e || json_array_append_new(list, e) < 0)
			break;
	}
	return list;
}

/* The run's key pair and known hosts, once nothing of it is up. */
static void forget_key(const char *dir)
{
	static const char *const files[] = { "key", "key.pub", "known_hosts", NULL };
	_cleanup_json_ json_t *left = rain_run_instances(dir);

	if (json_array_size(left))
		return;
	for (size_t i = 0; files[i]; i++) {
		_cleanup_free_ char *path = fs_path_join(dir, files[i]);

		if (path)
			unlink(path);
	}
}

static int down(struct rain_run_kind *k, const struct rain_site *site, const char *dir, int log_fd)
{
	static const char *const args[] = { "provision", "down", NULL };
	int r = rain_site_state_tool(k->rain_command, site, dir, args, log_fd, DOWN_TIMEOUT_S);

	forget_key(dir);
	return r;
}

int rain_run_kind_down(struct rain_run_kind *k, const char *site_name, const char *dir)
{
	_cleanup_free_ char *log = fs_path_join(dir, "log");
	_cleanup_close_ int fd = -1;
	const struct rain_site *site;
	int r;

	rain_error_clear();
	if (!log)
		return rain_error_oom();
	r = rain_register_site(k->cfg.registrations, site_name, &site);
	if (r < 0)
		return r;
	fd = open(log, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0)
		dprintf(fd, "rain: raind: taking the kept instances down\n");
	r = down(k, site, dir, fd);
	if (fd >= 0)
		dprintf(fd, "rain: raind: %s%s\n", r < 0 ? "could not take everything down: " :
			"the instances are down", r < 0 ? rain_error_last() : "");
	return r;
}

static void run_finished(void *ud, struct rain_job_run *job, enum rain_job_status st,
			 const char *error)
{
	struct rain_run_kind *k = ud;
	_cleanup_free_ char *outdir = fs_path_join(job->dir, "out");
	_cleanup_free_ char *site_path = fs_path_join(job->dir, "site.ini");
	_cleanup_json_ json_t *instances = rain_run_instances(job->dir), *rec = NULL;
	json_t *files = json_array();
	const struct rain_site *site = NULL;
	double seconds = (double)(time_mono_us() - job->started_mono_us) / 1e6;
	int code = -1;
	bool keep;

	if (rain_jobs_get(job->jobs, &(struct rain_who){ .owner = "", .admin = true },
			  RAIN_ACT_JOB_SHOW, rain_run_job_kind.name, job->id, &rec) == 0) {
		json_t *c = json_object_get(rec, "exit_code");

		code = json_is_integer(c) ? (int)json_integer_value(c) : -1;
		if (json_is_string(json_object_get(rec, "site")))
			rain_register_site(k->cfg.registrations,
					   json_string_value(json_object_get(rec, "site")), &site);
	}
	keep = json_is_true(json_object_get(rec, "keep"));
	if (code < 0) {
		code = st == RAIN_JOB_CANCELED ? RAIN_RUN_EXIT_INTERRUPTED : RAIN_RUN_EXIT_FAILED;
		rain_job_set(job, "exit_code", json_integer(code));
	}
	/* kept only when the job ran to its end: a failure of rain, a
	 * cancel or a stop leaves nothing */
	if (json_array_size(instances) && site &&
	    (!keep || st == RAIN_JOB_CANCELED || code == RAIN_RUN_EXIT_FAILED ||
	     code == RAIN_RUN_EXIT_INTERRUPTED)) {
		rain_job_log(job, "rain: raind: taking down what is left at site %s", site->name);
		if (down(k, site, job->dir, job->log_fd) < 0)
			rain_job_log(job, "rain: raind: could not take everything down: %s (rain stop "
				     "%s tries again)", rain_error_last(), job->id);
	}
	if (site_path)
		unlink(site_path);
	forget_key(job->dir);
	if (files && outdir)
		list_files(outdir, NULL, files, 0);
	rain_job_set(job, "files", files ? files : json_array());
	rain_job_set(job, "seconds", json_real(seconds));
	rain_job_log(job, "rain: raind: run %s %s after %.1f s, exit code %d%s%s", job->id,
		     rain_job_status_name(st), seconds, code, error ? ": " : "", error ? error : "");
}

/* At start, for a run that was running when raind stopped: its child is
 * ended (it takes its instances down on SIGTERM), then what the state
 * still names is taken down. The engine fails the job. */
static int64_t run_recover(void *ud, const char *id, const char *dir)
{
	struct rain_run_kind *k = ud;
	_cleanup_free_ char *rec_path = fs_path_join(dir, rain_run_job_kind.record_file);
	_cleanup_json_ json_t *rec = NULL, *instances = NULL;
	const struct rain_site *site = NULL;
	int64_t n = rain_job_stop_leftovers(dir, ORPHAN_WAIT_S);

	if (!rec_path || rain_target_state_read(rec_path, &rec) < 0 ||
	    rain_register_site(k->cfg.registrations, json_string_value(json_object_get(rec, "site")),
			       &site) < 0)
		return n;
	instances = rain_run_instances(dir);
	if (json_array_size(instances) && down(k, site, dir, -1) < 0)
		LOG_CALLBACK(k->cfg.log, k->cfg.log_ud, RAIN_JOBS_ERROR,
			     "run %s: what it started at site %s could not all be taken down: %s "
			     "(rain stop %s tries again)", id, site->name, rain_error_last(), id);
	forget_key(dir);
	return n;
}

const struct rain_job_kind rain_run_job_kind = {
	.version = RAIN_JOB_KIND_VERSION,
	.name = "run",
	.record_file = "run.json",
	.stopped_msg = "raind stopped during the run; its instances were taken down",
	.prepare = run_prepare,
	.run = run_run,
	.check = run_check,
	.recover = run_recover,
	.finished = run_finished,
};

/* ---- the kind ----------------------------------------------------------- */

int rain_run_kind_new(const struct rain_run_kind_config *cfg, struct rain_run_kind **out)
{
	struct rain_run_kind *k = calloc(1, sizeof(*k));

	*out = NULL;
	if (!k)
		return rain_error_oom();
	k->cfg = *cfg;
	if (k->cfg.max_per_run < 1 || k->cfg.max_per_run > RAIN_RUN_MAX_INSTANCES)
		k->cfg.max_per_run = RAIN_RUN_MAX_INSTANCES;
	if (k->cfg.max_walltime_s < 1)
		k->cfg.max_walltime_s = 86400;
	if (cfg->rain_command && !(k->rain_command = strdup(cfg->rain_command))) {
		free(k);
		return rain_error_oom();
	}
	k->cfg.rain_command = k->rain_command;
	*out = k;
	return 0;
}

void rain_run_kind_free(struct rain_run_kind *k)
{
	if (!k)
		return;
	free(k->rain_command);
	free(k);
}
