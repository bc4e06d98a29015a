/* Registration as a job kind; see include/rain/register-kind.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "rain/error.h"
#include "rain/register-kind.h"
#include "rain/sys/job.h"
#include "rain/sys/target.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/log-callback.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define FAILING_MAX 20             /* failing rules named in a refusal */
#define UNPUBLISH_TIMEOUT_S 600
#define ORPHAN_WAIT_S 15

struct rain_register_kind {
	struct rain_register_kind_config cfg;   /* strings owned below */
	char *rain_command, *cache_dir;
};

/* The service's own reads: the submitter's rights were checked when the
 * registration was submitted. */
static const struct rain_who service = { .owner = "", .admin = true };

static struct rain_catalog *catalog(struct rain_register_kind *k)
{
	return rain_repo_catalog(k->cfg.repo);
}

int rain_register_site(struct rain_register_kind *k, const char *name, const struct rain_site **out)
{
	char known[512] = "";
	size_t len = 0;

	for (size_t i = 0; i < k->cfg.nsites; i++) {
		if (!strcmp(k->cfg.sites[i]->name, name)) {
			*out = k->cfg.sites[i];
			return 0;
		}
		if (len < sizeof(known))
			len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", len ? ", " : "",
						k->cfg.sites[i]->name);
	}
	return rain_error_set(RAIN_ENOTFOUND, "no site '%s' (sites: %s; sites are [site.NAME] "
			      "sections of raind's configuration)", name, len ? known : "none");
}

/* ---- the vetting gate -------------------------------------------------- */

/* The rules whose findings failed the report, "a, b, c", new string. */
static char *failing_rules(json_t *report, json_t *list)
{
	json_t *f;
	size_t i;

	json_array_foreach(json_object_get(report, "findings"), i, f) {
		const char *rule = json_string_value(json_object_get(f, "rule"));
		const char *action = json_string_value(json_object_get(f, "action"));
		json_t *have;
		size_t j;
		bool dup = false;

		if (!rule || !action || strcmp(action, "fail"))
			continue;
		json_array_foreach(list, j, have)
			dup |= !strcmp(json_string_value(have), rule);
		if (!dup && json_array_size(list) < FAILING_MAX)
			json_array_append_new(list, json_string(rule));
	}
	{
		size_t n = json_array_size(list);
		_cleanup_free_ char **v = calloc(n + 1, sizeof(*v));

		if (!v)
			return NULL;
		json_array_foreach(list, i, f)
			v[i] = (char *)json_string_value(f);
		return n ? strv_join(v, n, ", ") : strdup("none listed");
	}
}

/* Why img may not go to a site that requires policy, or NULL when it may
 * (new string in *why; gate's fields filled). */
static int gate_check(struct rain_register_kind *k, const struct rain_who *who,
		      const struct rain_image *img, const char *policy, json_t *gate, char **why)
{
	const char *verdict = rain_image_prop_get(img, "rain_vetting");
	const char *vpolicy = rain_image_prop_get(img, "rain_vetting_policy");
	const char *vsha = rain_image_prop_get(img, "rain_vetting_sha256");
	json_t *failing = json_array();

	*why = NULL;
	if (!failing || json_object_set_new(gate, "failing", failing) < 0 ||
	    json_object_set_new(gate, "verdict", verdict ? json_string(verdict) : json_null()) < 0 ||
	    json_object_set_new(gate, "policy", json_string(policy)) < 0)
		return rain_error_oom();
	if (!verdict) {
		*why = strdup("it has not been vetted");
	} else if (!vpolicy || strcmp(vpolicy, policy)) {
		if (asprintf(why, "it was vetted with policy '%s', not '%s'", vpolicy ? vpolicy : "?",
			     policy) < 0)
			*why = NULL;
	} else if (!vsha || !img->os_hash_value || strcmp(vsha, img->os_hash_value)) {
		*why = strdup("its data changed after it was vetted");
	} else if (!strcmp(verdict, "passed") || !strcmp(verdict, "warned")) {
		return 0;
	} else {
		_cleanup_json_ json_t *report = NULL;
		_cleanup_free_ char *rules = NULL;

		if (rain_repo_vetting_get(k->cfg.repo, who, img->id, &report) == 0)
			rules = failing_rules(report, failing);
		if (asprintf(why, "it failed vetting with policy '%s' (failing rules: %s)", policy,
			     rules ? rules : "unknown: the report is gone") < 0)
			*why = NULL;
	}
	return *why ? 0 : rain_error_oom();
}

int rain_register_check(struct rain_register_kind *k, const struct rain_register_input *in,
			json_t **gate_out)
{
	_cleanup_json_ json_t *gate = json_object();
	_cleanup_free_ char *why = NULL;
	const struct rain_site *site;
	struct rain_image *img = NULL;
	int r;

	if (gate_out)
		*gate_out = NULL;
	if (!gate)
		return rain_error_oom();
	r = rain_register_site(k, in->site, &site);
	if (r >= 0)
		r = rain_site_may_register(site, in->who);
	if (r >= 0 && in->override && !in->who->admin)
		r = rain_error_set(RAIN_EFORBIDDEN, "only administrators override the vetting gate");
	if (r >= 0)
		r = rain_repo_image_load(k->cfg.repo, in->who, in->image_id, RAIN_ACT_DOWNLOAD, &img);
	if (r < 0)
		return r;
	if (!img->os_hash_value || img->status != RAIN_STATUS_ACTIVE) {
		r = rain_error_set(RAIN_ECONFLICT, "image %s cannot be registered: it is %s, not "
				   "active with data", img->id, rain_image_status_name(img->status));
		goto out;
	}
	if (site->policy) {
		r = gate_check(k, in->who, img, site->policy, gate, &why);
		if (r < 0)
			goto out;
	}
	if (json_object_set_new(gate, "override", json_boolean(why && in->override)) < 0) {
		r = rain_error_oom();
		goto out;
	}
	if (why && !in->override) {
		r = rain_error_set(RAIN_EFORBIDDEN, "site '%s' requires vetting policy '%s' and image "
				   "%s may not go there: %s; vet it (rain vet --remote %s --policy %s) "
				   "or ask an administrator to override", site->name, site->policy,
				   img->name ? img->name : img->id, why, img->id, site->policy);
		goto out;
	}
	if (gate_out)
		*gate_out = TAKE_PTR(gate);
out:
	rain_image_free(img);
	return r;
}

/* ---- records ------------------------------------------------------------ */

static int record_get(struct rain_register_kind *k, const char *id, struct rain_registration *reg,
		      json_t **doc)
{
	json_error_t err;
	int r = rain_catalog_registration_get(catalog(k), id, reg);

	*doc = NULL;
	if (r < 0)
		return r;
	*doc = json_loads(reg->doc, 0, &err);
	if (!json_is_object(*doc)) {
		json_decref(*doc);
		*doc = NULL;
		free(reg->doc);
		reg->doc = NULL;
		return rain_error_set(RAIN_EFORMAT, "registration %s: its record is not JSON: %s", id,
				      err.text);
	}
	return 0;
}

/* Store reg with doc and status (reg->doc is replaced). */
static int record_put(struct rain_register_kind *k, struct rain_registration *reg, json_t *doc,
		      const char *status)
{
	_cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	int r;

	if (!text)
		return rain_error_oom();
	snprintf(reg->status, sizeof(reg->status), "%s", status);
	reg->updated_at = time_now_us();
	free(reg->doc);
	reg->doc = TAKE_PTR(text);
	r = rain_catalog_registration_put(catalog(k), reg);
	if (r < 0)
		LOG_CALLBACK(k->cfg.log, k->cfg.log_ud, RAIN_JOBS_ERROR,
			     "registration %s: cannot record status %s: %s", reg->id, status,
			     rain_error_last());
	return r;
}

int rain_register_find(struct rain_register_kind *k, const char *image_id, const char *site,
		       const char *owner, struct rain_registration *out)
{
	struct rain_registration_query q = { .owner = owner, .site = site, .image_id = image_id,
					     .status = "registered" };
	struct rain_registration *v = NULL;
	struct rain_image *img = NULL;
	size_t n = 0;
	int r;

	memset(out, 0, sizeof(*out));
	r = rain_repo_image_load(k->cfg.repo, &service, image_id, RAIN_ACT_SHOW, &img);
	if (r >= 0)
		r = rain_catalog_registration_list(catalog(k), &q, &v, &n);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		_cleanup_json_ json_t *doc = json_loads(v[i].doc, 0, NULL);
		const char *sha = json_string_value(json_object_get(doc, "image_sha256"));

		if (sha && img->os_hash_value && !strcmp(sha, img->os_hash_value)) {
			*out = v[i];
			v[i].doc = NULL;
			goto out;
		}
	}
	if (r >= 0)
		r = rain_error_set(RAIN_ENOTFOUND, "image %s is not registered at site %s", image_id,
				   site);
out:
	rain_registration_list_free(v, n);
	rain_image_free(img);
	return r;
}

int rain_register_to_json(const struct rain_registration *reg, json_t **out)
{
	_cleanup_json_ json_t *j = json_loads(reg->doc ? reg->doc : "{}", 0, NULL);
	char created[64], updated[64];
	int r = 0;

	if (!json_is_object(j))
		return rain_error_set(RAIN_EFORMAT, "registration %s: its record is not JSON", reg->id);
	time_format_iso(reg->created_at, created, sizeof(created));
	time_format_iso(reg->updated_at, updated, sizeof(updated));
	/* what exists at the site is the driver's business; users see "show" */
	json_object_del(j, "state");
	r |= json_object_set_new(j, "id", json_string(reg->id));
	r |= json_object_set_new(j, "image_id", json_string(reg->image_id));
	r |= json_object_set_new(j, "site", json_string(reg->site));
	r |= json_object_set_new(j, "owner", json_string(reg->owner));
	r |= json_object_set_new(j, "status", json_string(reg->status));
	r |= json_object_set_new(j, "created_at", json_string(created));
	r |= json_object_set_new(j, "updated_at", json_string(updated));
	if (r)
		return rain_error_oom();
	*out = TAKE_PTR(j);
	return 0;
}

/* ---- files for the child ------------------------------------------------ */

/* The adapted copy's folder for this image data, the site's adaptation
 * (rain_target_adapt_key: sites of the same one share the copy) and key.
 * Deregistration never removes it: registrations at other sites may use
 * it. */
static int cache_path(struct rain_register_kind *k, const char *sha256, const struct rain_site *site,
		      const char *key, char **out)
{
	_cleanup_free_ char *adapt = NULL;
	unsigned char md[32];
	unsigned int n = 0;
	char hex[65];
	EVP_MD_CTX *ctx;
	int ok, r = rain_target_adapt_key(site, &adapt);

	if (r < 0)
		return r;
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	ok = ok && EVP_DigestUpdate(ctx, sha256, strlen(sha256)) == 1 &&
	     EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
	     EVP_DigestUpdate(ctx, adapt, strlen(adapt)) == 1 &&
	     EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
	     (!key || EVP_DigestUpdate(ctx, key, strlen(key)) == 1) &&
	     EVP_DigestFinal_ex(ctx, md, &n) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return rain_error_oom();
	hex_encode(md, n, hex);
	*out = fs_path_join(k->cache_dir, hex);
	return *out ? 0 : rain_error_oom();
}

/* Whether state names more than which registration it is of. */
static bool state_names_objects(json_t *state)
{
	const char *key;
	json_t *v;

	json_object_foreach(state, key, v)
		if (strcmp(key, "site") && strcmp(key, "registration") && strcmp(key, "show") &&
		    strcmp(key, "adapted"))
			return true;
	return false;
}

/* Run `rain target unpublish` for site with the state in dir/state.json
 * (written from state first when state is not NULL); *state_out (may be
 * NULL) is what the state file says afterwards. log_fd: where its lines
 * go (-1: nowhere). */
static int unpublish(struct rain_register_kind *k, const struct rain_site *site, const char *dir,
		     json_t *state, int log_fd, json_t **state_out)
{
	static const char *const args[] = { "target", "unpublish", NULL };
	_cleanup_free_ char *state_path = fs_path_join(dir, "state.json");
	int r = 0;

	if (state_out)
		*state_out = NULL;
	if (!state_path)
		return rain_error_oom();
	if (state)
		r = rain_target_state_write(state_path, state);
	if (r >= 0)
		r = rain_site_state_tool(k->rain_command, site, dir, args, log_fd,
					 UNPUBLISH_TIMEOUT_S);
	if (state_out)
		rain_target_state_read(state_path, state_out);
	return r;
}

/* ---- a job ------------------------------------------------------------- */

static int reg_prepare(void *ud, const char *id, const char *owner, const char *dir, void *input,
		       json_t *data, char **name)
{
	struct rain_register_kind *k = ud;
	struct rain_register_input *in = input;
	struct rain_registration reg = { 0 };
	_cleanup_json_ json_t *gate = NULL, *doc = NULL;
	const struct rain_site *site;
	struct rain_image *img = NULL;
	int r;

	r = rain_register_check(k, in, &gate);
	if (r >= 0)
		r = rain_register_site(k, in->site, &site);
	if (r >= 0)
		r = rain_repo_image_load(k->cfg.repo, in->who, in->image_id, RAIN_ACT_DOWNLOAD, &img);
	if (r < 0)
		return r;
	if (in->ssh_key) {
		_cleanup_free_ char *path = fs_path_join(dir, "key.pub");

		r = path ? fs_write_atomic(path, in->ssh_key, strlen(in->ssh_key), 0600) :
			   rain_error_oom();
		if (r < 0)
			goto out;
	}
	doc = json_pack("{s:s?, s:s, s:s, s:s?, s:O, s:b}", "image_name", img->name, "image_sha256",
			img->os_hash_value, "site_kind", site->driver->scheme, "policy", site->policy,
			"vetting", gate, "ssh_key", in->ssh_key != NULL);
	if (!doc || json_object_set_new(data, "image_id", json_string(img->id)) < 0 ||
	    json_object_set_new(data, "site", json_string(site->name)) < 0 ||
	    json_object_set_new(data, "image_sha256", json_string(img->os_hash_value)) < 0 ||
	    !(*name = strdup(img->name ? img->name : img->id))) {
		r = rain_error_oom();
		goto out;
	}
	snprintf(reg.id, sizeof(reg.id), "%s", id);
	snprintf(reg.image_id, sizeof(reg.image_id), "%s", img->id);
	snprintf(reg.site, sizeof(reg.site), "%s", site->name);
	snprintf(reg.owner, sizeof(reg.owner), "%s", owner);
	reg.created_at = time_now_us();
	r = record_put(k, &reg, doc, "registering");
	free(reg.doc);
	if (r >= 0 && json_is_true(json_object_get(gate, "override")))
		LOG_CALLBACK(k->cfg.log, k->cfg.log_ud, RAIN_JOBS_WARN,
			     "registration %s: admin %s overrides the vetting gate of site %s for "
			     "image %s", id, in->who->owner, site->name, img->id);
out:
	rain_image_free(img);
	return r;
}

static int reg_check(void *ud, json_t *data)
{
	(void)ud;
	if (!json_is_string(json_object_get(data, "image_id")) ||
	    !json_is_string(json_object_get(data, "site")) ||
	    !json_is_string(json_object_get(data, "image_sha256")))
		return rain_error_set(RAIN_EFORMAT, "bad registration record: image_id, site and "
				      "image_sha256 are needed");
	return 0;
}

/* The properties the driver should know, from the image's. */
static const char *const passed_props[] = { "os_distro", "os_version", "architecture",
					    "hw_firmware_type", "rain_boot_check", NULL };

static int reg_run(void *ud, struct rain_job_run *job, json_t *data)
{
	struct rain_register_kind *k = ud;
	const char *image_id = json_string_value(json_object_get(data, "image_id"));
	const char *sha = json_string_value(json_object_get(data, "image_sha256"));
	_cleanup_free_ char *state_path = fs_path_join(job->dir, "state.json");
	_cleanup_free_ char *key_path = fs_path_join(job->dir, "key.pub");
	_cleanup_free_ char *site_path = NULL, *file = NULL, *work = NULL, *key = NULL;
	_cleanup_free_ char *props[8] = { 0 };
	const char *argv[48];
	const struct rain_site *site;
	struct rain_image *img = NULL;
	struct rain_blob_reader rd = { .fd = -1 };
	int n = 0, np = 0, r;

	if (!state_path || !key_path)
		return rain_error_oom();
	if (!k->rain_command)
		return rain_error_set(RAIN_EINVAL, "raind cannot find the rain program; set [builds] "
				      "rain_command");
	r = rain_register_site(k, json_string_value(json_object_get(data, "site")), &site);
	if (r < 0)
		return r;
	if (access(key_path, F_OK) == 0) {
		size_t len;

		r = fs_read_small(key_path, 16384, &key, &len);
		if (r < 0)
			return r;
	}
	r = rain_repo_data_open(k->cfg.repo, &service, image_id, &img, &rd);
	if (r < 0)
		return r;
	if (!img->os_hash_value || strcmp(img->os_hash_value, sha)) {
		r = rain_error_set(RAIN_ECONFLICT, "image %s got other data after it was submitted for "
				   "registration: submit it again", image_id);
		goto out;
	}
	r = rain_job_image_file(job, k->cfg.repo, &rd, &file);
	if (r >= 0)
		r = (site_path = fs_path_join(job->dir, "site.ini")) ? rain_site_write(site, site_path) :
		    rain_error_oom();
	if (r >= 0)
		r = cache_path(k, sha, site, key, &work);
	if (r < 0)
		goto out;
	argv[n++] = k->rain_command;
	argv[n++] = "target";
	argv[n++] = "publish";
	argv[n++] = "--sites";
	argv[n++] = site_path;
	argv[n++] = "--site";
	argv[n++] = site->name;
	argv[n++] = "--state";
	argv[n++] = state_path;
	argv[n++] = "--work";
	argv[n++] = work;
	argv[n++] = "--id";
	argv[n++] = job->id;
	/* the store's content address: the child need not read it all to hash it */
	argv[n++] = "--sha256";
	argv[n++] = sha;
	if (key) {
		argv[n++] = "--ssh-key";
		argv[n++] = key_path;
	}
	for (size_t i = 0; passed_props[i]; i++) {
		const char *v = rain_image_prop_get(img, passed_props[i]);

		if (!v)
			continue;
		if (asprintf(&props[np], "%s=%s", passed_props[i], v) < 0) {
			r = rain_error_oom();
			goto out;
		}
		argv[n++] = "--property";
		argv[n++] = props[np++];
	}
	argv[n++] = file;
	argv[n] = NULL;
	rain_job_log(job, "== raind: registering image %s (%s) at site %s (%s) for %s", img->id,
		     img->name ? img->name : "no name", site->name, site->uri, job->owner);
	r = rain_job_run_program(job, argv, NULL, "rain target publish", "[register] timeout", NULL);
out:
	if (rd.impl || rd.fd >= 0)
		rain_repo_download_close(k->cfg.repo, &rd);
	rain_image_free(img);
	return r;
}

static void reg_finished(void *ud, struct rain_job_run *job, enum rain_job_status st,
			 const char *error)
{
	struct rain_register_kind *k = ud;
	_cleanup_free_ char *state_path = fs_path_join(job->dir, "state.json");
	_cleanup_free_ char *copy = fs_path_join(job->dir, "data");
	_cleanup_free_ char *site_path = fs_path_join(job->dir, "site.ini");
	_cleanup_json_ json_t *state = NULL, *doc = NULL;
	struct rain_registration reg = { 0 };
	const struct rain_site *site = NULL;
	const char *status = st == RAIN_JOB_SUCCEEDED ? "registered" :
			     st == RAIN_JOB_CANCELED ? "canceled" : "failed";
	int r;

	if (copy)
		unlink(copy);
	if (state_path)
		rain_target_state_read(state_path, &state);
	if (record_get(k, job->id, &reg, &doc) < 0) {
		LOG_CALLBACK(k->cfg.log, k->cfg.log_ud, RAIN_JOBS_ERROR, "registration %s: %s",
			     job->id, rain_error_last());
		return;
	}
	rain_register_site(k, reg.site, &site);
	/* failed, canceled or stopped: nothing may stay at the site */
	if (st != RAIN_JOB_SUCCEEDED && state && state_names_objects(state) && site) {
		json_t *after = NULL;

		rain_job_log(job, "== raind: removing what was created at site %s", site->name);
		r = unpublish(k, site, job->dir, NULL, job->log_fd, &after);
		if (r < 0)
			rain_job_log(job, "== raind: could not remove everything: %s (rain deregister "
				     "%s tries again)", rain_error_last(), job->id);
		if (after) {
			json_decref(state);
			state = after;
		}
	}
	if (site_path)
		unlink(site_path);
	if (state) {
		json_object_set(doc, "state", state);
		if (json_object_get(state, "show"))
			json_object_set(doc, "show", json_object_get(state, "show"));
		if (json_object_get(state, "adapted"))
			json_object_set(doc, "adapted", json_object_get(state, "adapted"));
	}
	json_object_set_new(doc, "seconds",
			    json_real((double)(time_mono_us() - job->started_mono_us) / 1e6));
	if (error)
		json_object_set_new(doc, "error", json_string(error));
	else
		json_object_del(doc, "error");
	/* a failed one with things left can be deregistered */
	record_put(k, &reg, doc, status);
	free(reg.doc);
	rain_job_log(job, "== raind: registration %s %s after %.1f s%s%s", job->id, status,
		     (double)(time_mono_us() - job->started_mono_us) / 1e6, error ? ": " : "",
		     error ? error : "");
}

/* At start, for a registration that was running when raind stopped: its
 * child is ended (it removes what it made on SIGTERM), then what the
 * state still names is removed. The engine then fails the job and calls
 * nothing else: the record is set here. */
static int64_t reg_recover(void *ud, const char *id, const char *dir)
{
	struct rain_register_kind *k = ud;
	_cleanup_free_ char *state_path = fs_path_join(dir, "state.json");
	_cleanup_json_ json_t *state = NULL, *doc = NULL, *after = NULL;
	struct rain_registration reg = { 0 };
	const struct rain_site *site = NULL;
	int64_t n = rain_job_stop_leftovers(dir, ORPHAN_WAIT_S);

	if (record_get(k, id, &reg, &doc) < 0)
		return n;
	if (state_path)
		rain_target_state_read(state_path, &state);
	if (state && state_names_objects(state) && rain_register_site(k, reg.site, &site) >= 0) {
		if (unpublish(k, site, dir, NULL, -1, &after) < 0)
			json_object_set_new(doc, "left", json_true());
		if (after)
			json_object_set(doc, "state", after);
	}
	json_object_set_new(doc, "error", json_string("raind stopped during the registration; what "
						      "was created at the site was removed"));
	record_put(k, &reg, doc, "failed");
	free(reg.doc);
	return n;
}

static void reg_removed(void *ud, const char *id, const char *owner)
{
	struct rain_register_kind *k = ud;
	struct rain_registration reg = { 0 };
	_cleanup_json_ json_t *doc = NULL;

	(void)owner;
	/* refused after prepare: no record of a registration that never ran */
	if (record_get(k, id, &reg, &doc) == 0 && !strcmp(reg.status, "registering"))
		rain_catalog_registration_delete(catalog(k), id);
	free(reg.doc);
}

const struct rain_job_kind rain_register_job_kind = {
	.version = RAIN_JOB_KIND_VERSION,
	.name = "register",
	.record_file = "register.json",
	.stopped_msg = "raind stopped during the registration",
	.prepare = reg_prepare,
	.run = reg_run,
	.check = reg_check,
	.recover = reg_recover,
	.finished = reg_finished,
	.removed = reg_removed,
};

/* ---- deregistration ----------------------------------------------------- */

int rain_register_remove(struct rain_register_kind *k, const struct rain_who *who, const char *id,
			 json_t **out)
{
	_cleanup_json_ json_t *doc = NULL, *after = NULL, *before = NULL;
	_cleanup_free_ char *dir = NULL;
	struct rain_registration reg = { 0 };
	const struct rain_site *site;
	char was[sizeof(reg.status)];
	json_t *state;
	int r;

	if (out)
		*out = NULL;
	r = record_get(k, id, &reg, &doc);
	if (r == 0)
		r = rain_policy_check_owned(who, reg.owner, id, RAIN_ACT_JOB_SHOW);
	if (r == RAIN_EFORBIDDEN)
		r = rain_error_set(RAIN_ENOTFOUND, "no registration %s", id);
	if (r < 0)
		goto done;
	if (!strcmp(reg.status, "registering") || !strcmp(reg.status, "removing")) {
		r = rain_error_set(RAIN_ECONFLICT, "registration %s is %s: cancel it (rain register "
				   "cancel %s) or wait", id, reg.status, id);
		goto done;
	}
	r = rain_register_site(k, reg.site, &site);
	if (r < 0) {
		r = rain_error_set(r, "registration %s: %s", id, rain_error_last());
		goto done;
	}
	state = json_object_get(doc, "state");
	memcpy(was, reg.status, sizeof(was));
	if (state && state_names_objects(state)) {
		before = json_deep_copy(state);
		r = before ? record_put(k, &reg, doc, "removing") : rain_error_oom();
		if (r >= 0 && asprintf(&dir, "%s/.remove-%s", k->cache_dir, id) < 0)
			r = rain_error_oom();
		if (r >= 0) {
			fs_remove_tree(dir);
			r = fs_mkdir_p(dir, 0700);
		}
		if (r >= 0) {
			r = unpublish(k, site, dir, state, -1, &after);
			if (after)
				json_object_set(doc, "state", after);
			fs_remove_tree(dir);
		}
	}
	if (r < 0 && before && json_equal(before, json_object_get(doc, "state"))) {
		/* the site refused before removing anything (a run still uses
		 * the registration): it stays as it was */
		r = rain_error_set(RAIN_ECONFLICT, "deregistration refused, nothing removed: %s",
				   rain_error_last());
		record_put(k, &reg, doc, was);
	} else if (r < 0) {
		json_object_set_new(doc, "error", json_sprintf("deregistration: %s", rain_error_last()));
		record_put(k, &reg, doc, "failed");
		r = RAIN_EIO;
		rain_error_set(r, "%s", json_string_value(json_object_get(doc, "error")));
	} else {
		json_object_del(doc, "error");
		json_object_del(doc, "show");
		r = record_put(k, &reg, doc, "removed");
	}
	if (r >= 0 && out)
		r = rain_register_to_json(&reg, out);
done:
	free(reg.doc);
	return r;
}

/* ---- the kind ----------------------------------------------------------- */

int rain_register_kind_new(const struct rain_register_kind_config *cfg,
			   struct rain_register_kind **out)
{
	struct rain_register_kind *k = calloc(1, sizeof(*k));
	int r;

	*out = NULL;
	if (!k)
		return rain_error_oom();
	k->cfg = *cfg;
	if ((cfg->rain_command && !(k->rain_command = strdup(cfg->rain_command))) ||
	    !(k->cache_dir = strdup(cfg->cache_dir))) {
		rain_register_kind_free(k);
		return rain_error_oom();
	}
	r = fs_mkdir_p(k->cache_dir, 0700);
	if (r < 0) {
		rain_register_kind_free(k);
		return r;
	}
	k->cfg.rain_command = k->rain_command;
	k->cfg.cache_dir = k->cache_dir;
	*out = k;
	return 0;
}

void rain_register_kind_free(struct rain_register_kind *k)
{
	if (!k)
		return;
	free(k->rain_command);
	free(k->cache_dir);
	free(k);
}
