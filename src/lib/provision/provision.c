/* Runs and their steps; see include/rain/provision.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/provision/provision-internal.h"
#include "rain/error.h"
#include "rain/sys/provider.h"
#include "rain/sys/target.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/process.h"

/* The built-in providers, one per site scheme (provision-internal.h). */
static const struct rain_driver *const builtin[] = {
	&rain_provider_driver_libvirt,
	&rain_provider_driver_slurm,
	&rain_provider_driver_container,
	&rain_provider_driver_netboot,
	&rain_provider_driver_ironic,
	NULL,
};

int run_provider(const struct rain_site *site, const struct rain_provider_driver **out)
{
	const struct rain_driver *d;
	int r = rain_driver_find("provider", site->driver->scheme, builtin, RAIN_PROVIDER_DRIVER_VERSION,
				 &d);

	if (r == RAIN_ENOTFOUND) {
		char known[256] = "";
		size_t len = 0;

		for (size_t i = 0; builtin[i] && len < sizeof(known); i++)
			len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", len ? ", " : "",
						builtin[i]->scheme);
		return rain_error_set(RAIN_EINVAL, "site '%s' is a %s site, where rain cannot start "
				      "instances; runs go to sites of kinds: %s", site->name,
				      site->driver->scheme, len ? known : "none in this rain");
	}
	if (r < 0)
		return r;
	*out = d->table;
	return 0;
}

bool rain_run_site_supported(const struct rain_site *site)
{
	const struct rain_driver *d;

	return rain_driver_find("provider", site->driver->scheme, builtin, RAIN_PROVIDER_DRIVER_VERSION,
				&d) == 0;
}

bool rain_run_site_shares(const struct rain_site *site)
{
	const struct rain_driver *d;

	return rain_driver_find("provider", site->driver->scheme, builtin, RAIN_PROVIDER_DRIVER_VERSION,
				&d) == 0 && ((const struct rain_provider_driver *)d->table)->share;
}

/* ---- state ---------------------------------------------------------------- */

int rain_run_state_set(struct rain_run_op *op, const char *key, json_t *value)
{
	return rain_target_state_put(op->state, key, value, op->save, op->ud);
}

int rain_run_instance_add(struct rain_run_op *op, json_t *instance)
{
	json_t *list = json_object_get(op->state, "instances");

	if (!json_is_string(json_object_get(instance, "name"))) {
		json_decref(instance);
		return rain_error_set(RAIN_EINVAL, "an instance needs a name");
	}
	if (!json_is_array(list)) {
		list = json_array();
		if (!list || json_object_set_new(op->state, "instances", list) < 0) {
			json_decref(instance);
			return rain_error_oom();
		}
	}
	if (!json_is_array(json_object_get(op->state, "history")) &&
	    json_object_set_new(op->state, "history", json_array()) < 0) {
		json_decref(instance);
		return rain_error_oom();
	}
	if (json_array_append_new(json_object_get(op->state, "history"),
				  json_pack("{s:O, s:O*}", "name", json_object_get(instance, "name"),
					    "ssh", json_object_get(instance, "ssh"))) < 0 ||
	    json_array_append_new(list, instance) < 0)
		return rain_error_oom();
	return op->save ? op->save(op->ud, op->state) : 0;
}

json_t *rain_run_instance(const struct rain_run_op *op, size_t i)
{
	return json_array_get(json_object_get(op->state, "instances"), i);
}

size_t rain_run_instance_count(const struct rain_run_op *op)
{
	return json_array_size(json_object_get(op->state, "instances"));
}

void rain_run_log(struct rain_run_op *op, enum rain_target_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rain_target_vlog(op->log, op->ud, level, fmt, ap);
	va_end(ap);
}

int rain_run_check_cancel(struct rain_run_op *op)
{
	if (op->cancel && *op->cancel)
		return rain_error_set(RAIN_ECANCELED, "the run at site '%s' was canceled", op->site->name);
	return 0;
}

int rain_run_keygen(const char *dir, const char *run_id, char **pub)
{
	_cleanup_free_ char *key = fs_path_join(dir, "key"), *pubpath = NULL, *comment = NULL;
	char *text = NULL;
	size_t len;
	int status, r;

	*pub = NULL;
	if (!key || asprintf(&comment, "rain-run-%s", run_id) < 0 || asprintf(&pubpath, "%s.pub", key) < 0)
		return rain_error_oom();
	{
		const char *argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
				       "-f", key, NULL };
		struct process_opts o = { .argv = argv, .stdin_fd = -1, .timeout_s = 30 };

		unlink(key);
		unlink(pubpath);
		r = process_run(&o, &status);
		if (r < 0)
			return rain_error_set(r, "cannot make the run's key pair: %s", rain_error_last());
		if (status)
			return rain_error_set(RAIN_EIO, "ssh-keygen exited with status %d making %s", status,
					      key);
	}
	if (chmod(key, 0600) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot chmod %s", key);
	r = fs_read_small(pubpath, 4096, &text, &len);
	if (r < 0)
		return r;
	text[strcspn(text, "\n")] = '\0';
	*pub = text;
	return 0;
}

/* Instance i's console log (its "console" field): the last max bytes from
 * the start of a line, unprintable bytes as '?'. */
char *run_console_tail(const struct rain_run_op *op, size_t i, size_t max)
{
	const char *path = json_string_value(json_object_get(rain_run_instance(op, i), "console"));
	_cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	struct stat st;
	char *buf, *start;
	ssize_t got;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(buf = malloc(max + 1)))
		return NULL;
	got = pread(fd, buf, max, st.st_size > (off_t)max ? st.st_size - (off_t)max : 0);
	if (got <= 0) {
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	for (ssize_t k = 0; k < got; k++)
		if ((buf[k] < 0x20 && buf[k] != '\n') || buf[k] == 0x7f)
			buf[k] = '?';
	start = st.st_size > (off_t)max && strchr(buf, '\n') ? strchr(buf, '\n') + 1 : buf;
	memmove(buf, start, strlen(start) + 1);
	return buf;
}

/* ---- the steps ------------------------------------------------------------ */

/* The registration's state for a step after up: the copy up kept. */
static void registration_from_state(struct rain_run_op *op)
{
	if (!op->registration)
		op->registration = json_object_get(op->state, "registration");
}

int rain_run_up(struct rain_run_op *op)
{
	const struct rain_provider_driver *drv;
	int r;

	if ((r = run_provider(op->site, &drv)) < 0)
		return r;
	if (op->n < 1 || op->n > RAIN_RUN_MAX_INSTANCES)
		return rain_error_set(RAIN_EINVAL, "a run takes 1 to %d instances, not %d",
				      RAIN_RUN_MAX_INSTANCES, op->n);
	if (!json_is_object(op->registration))
		return rain_error_set(RAIN_EINVAL, "the run needs the registration's state at site '%s'",
				      op->site->name);
	if (rain_run_instance_count(op))
		return rain_error_set(RAIN_ECONFLICT, "the run's state names instances already; take "
				      "them down first");
	if ((r = rain_run_check_cancel(op)) < 0)
		return r;
	if (op->share && !drv->share)
		return rain_error_set(RAIN_EINVAL, "site '%s' is a %s site, whose instances cannot "
				      "have a folder of this host shared in; copy it in with the job "
				      "instead", op->site->name, op->site->driver->scheme);
	if (!json_object_get(op->state, "registration") &&
	    (r = rain_run_state_set(op, "registration", json_deep_copy(op->registration))) < 0)
		return r;
	if ((r = rain_run_state_set(op, "site", json_string(op->site->name))) < 0 ||
	    (r = rain_run_state_set(op, "run", json_string(op->run_id))) < 0)
		return r;
	rain_run_log(op, RAIN_TARGET_INFO, "starting %d instance%s at site '%s'", op->n,
		     op->n == 1 ? "" : "s", op->site->name);
	r = drv->up(op);
	if (r < 0)
		return rain_error_set(r, "cannot start the instances at site '%s': %s", op->site->name,
				      rain_error_last());
	return 0;
}

int rain_run_ready(struct rain_run_op *op)
{
	const struct rain_provider_driver *drv;
	size_t n = rain_run_instance_count(op);
	int r;

	if ((r = run_provider(op->site, &drv)) < 0)
		return r;
	registration_from_state(op);
	for (size_t i = 0; i < n; i++) {
		const char *name = json_string_value(json_object_get(rain_run_instance(op, i), "name"));

		r = drv->ready ? drv->ready(op, i) : run_ssh_ready(op, drv, i);
		if (r < 0)
			return r;
		rain_run_log(op, RAIN_TARGET_INFO, "%s is ready", name);
	}
	return 0;
}

int rain_run_exec(struct rain_run_op *op, const struct rain_run_job *job, int *status)
{
	const struct rain_provider_driver *drv;
	int r;

	*status = -1;
	if ((r = run_provider(op->site, &drv)) < 0)
		return r;
	if (!job->script && (!job->argv || !job->argv[0]))
		return rain_error_set(RAIN_EINVAL, "a run needs a command or a job script");
	if (!rain_run_instance_count(op))
		return rain_error_set(RAIN_ECONFLICT, "the run has no instances: start them first");
	registration_from_state(op);
	return drv->exec ? drv->exec(op, job, status) : run_ssh_exec(op, drv, job, status);
}

int rain_run_fetch(struct rain_run_op *op, const char *const *paths, bool each, const char *dir)
{
	const struct rain_provider_driver *drv;
	int r;

	if ((r = run_provider(op->site, &drv)) < 0)
		return r;
	for (size_t i = 0; paths && paths[i]; i++) {
		const char *base = strrchr(paths[i], '/') ? strrchr(paths[i], '/') + 1 : paths[i];

		if (!*paths[i] || !fs_name_is_safe(base))
			return rain_error_set(RAIN_EINVAL, "cannot fetch '%s': name a file (its last "
					      "component is the name it gets here)", paths[i]);
	}
	if (!paths || !paths[0])
		return 0;
	if (fs_mkdir_p(dir, 0700) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot make %s", dir);
	registration_from_state(op);
	return drv->fetch ? drv->fetch(op, paths, each, dir) : run_ssh_fetch(op, paths, each, dir);
}

int rain_run_down(struct rain_run_op *op)
{
	const struct rain_provider_driver *drv;
	int r;

	if ((r = run_provider(op->site, &drv)) < 0)
		return r;
	registration_from_state(op);
	if (op->key_private && op->workdir)
		run_ssh_close(op);
	r = drv->down(op);
	if (r < 0)
		return rain_error_set(r, "cannot take down everything of the run at site '%s': %s",
				      op->site->name, rain_error_last());
	return rain_run_state_set(op, "instances", NULL);
}

int rain_run_status(struct rain_run_op *op, json_t **out)
{
	const struct rain_provider_driver *drv;
	_cleanup_json_ json_t *list = json_array();
	int r;

	*out = NULL;
	if ((r = run_provider(op->site, &drv)) < 0)
		return r;
	registration_from_state(op);
	if (drv->status)
		return drv->status(op, out);
	if (!list)
		return rain_error_oom();
	for (size_t i = 0; i < rain_run_instance_count(op); i++) {
		json_t *inst = json_deep_copy(rain_run_instance(op, i));

		if (!inst || json_array_append_new(list, inst) < 0)
			return rain_error_oom();
		json_object_set_new(inst, "alive", json_boolean(!drv->alive || drv->alive(op, i) == 0));
	}
	*out = json_pack("{s:O}", "instances", list);
	return *out ? 0 : rain_error_oom();
}
