/* The slurm build worker (rain/sys/worker.h): a build is a batch job of
 * one task on a compute node,
 *
 *   sbatch --parsable --job-name=rain-build-ID --output=DIR/slurm.out
 *          --chdir=DIR --nodes=1 --ntasks=1 --no-requeue
 *          --export=PATH,RAIN_WORKER_TOKEN --time=M:SS [--partition=P]
 *          [--account=A] DIR/worker.sh RAIN build-worker ID --url URL
 *          --recipe DIR/input/.rain-build.recipe --cache CACHE ...
 *
 * where worker.sh only sets PATH and runs its arguments (an argument
 * vector, no shell string). The build's directory and the rain program
 * must be the same paths on the nodes (a shared file system; on one
 * host they are): the worker reads the build's input there. Everything
 * it sends back goes through raind's worker API with the build's worker
 * token (RAIN_WORKER_TOKEN, in the job's environment, never in an
 * argument): its log lines into the build's log as they come, its
 * outputs into DIR/out, then its outcome. raind stores the image itself
 * afterwards, as for a local build.
 *
 * run() follows the job with scontrol until the worker reports or the
 * job ends: a job that ends without a report (the worker could not
 * start, Slurm's walltime, a node lost: NODE_FAIL) is the build's
 * failure with Slurm's state and reason and the last line of its output
 * file. Cancel (and the engine's time limit) is scancel; the job's id is
 * in DIR/slurm.job from right after sbatch, and recover() cancels it (by
 * name as well, for a raind killed between sbatch and that file).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rain/error.h"
#include "rain/sys/registry.h"
#include "rain/sys/worker.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/slurm.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define CMD_TIMEOUT_S 60        /* one Slurm command */
#define POLL_US (500 * 1000)
#define CANCEL_WAIT_S 60        /* for a job to end after scancel */
#define INFO_TRIES 20           /* scontrol failures in a row before the build fails */
#define JOB_FILE "slurm.job"
#define OUT_FILE "slurm.out"

struct slurm {
	char *partition, *account, *slurm_conf;
	int time_limit_s;
};

/* ---- Slurm's commands ---- */

/* Run a Slurm command with extra (may be NULL) in its environment; *out
 * its output (a new string), *status its exit status. */
static int slurm_cmd(struct slurm *s, const char *const *argv, const char *const *extra,
		     char **out, int *status)
{
	int r = slurm_cmd_run(s->slurm_conf, argv, extra, CMD_TIMEOUT_S, NULL, out, status);

	if (r == RAIN_ENOTFOUND)
		r = rain_error_set(RAIN_ENOTFOUND, "[builds] backend slurm: cannot run %s (%s): install "
				   "Slurm's client commands (Debian: slurm-client)", argv[0],
				   rain_error_last());
	return r;
}

static int job_info(struct slurm *s, const char *id, struct slurm_job *ji)
{
	const char *argv[] = { "scontrol", "show", "job", "-o", id, NULL };
	_cleanup_free_ char *out = NULL;
	int status, r;

	memset(ji, 0, sizeof(*ji));
	if ((r = slurm_cmd(s, argv, NULL, &out, &status)) < 0)
		return r;
	if (status != 0 && strstr(out, "Invalid job id")) {
		ji->gone = true;
		return 0;
	}
	if (status != 0)
		return rain_error_set(RAIN_EIO, "scontrol show job %s failed (exit status %d): %s", id,
				      status, slurm_last_line(out));
	if (slurm_job_parse(out, ji) < 0)
		return rain_error_set(RAIN_EFORMAT, "scontrol show job %s: no JobState", id);
	return 0;
}

/* scancel id (or, with by_name, the jobs named so) and wait until they
 * have ended. */
static int cancel_job(struct slurm *s, const char *id, bool by_name)
{
	const char *argv[] = { "scancel", by_name ? "--name" : id, by_name ? id : NULL, NULL };
	const char *q[] = { "squeue", "-h", by_name ? "--name" : "-j", id, "-o", "%i %T", NULL };
	_cleanup_free_ char *out = NULL;
	int status, r;

	if ((r = slurm_cmd(s, argv, NULL, &out, &status)) < 0)
		return r;
	for (int k = 0; k < CANCEL_WAIT_S * 2; k++) {
		free(out);
		out = NULL;
		if ((r = slurm_cmd(s, q, NULL, &out, &status)) < 0)
			return r;
		/* squeue -j of a job it forgot fails: gone too */
		if (status != 0 || !*out || strstr(out, "COMPLETED") || strstr(out, "CANCELLED") ||
		    strstr(out, "FAILED"))
			return 0;
		usleep(POLL_US);
	}
	return rain_error_set(RAIN_EIO, "Slurm job %s is still there %d s after scancel: %s", id,
			      CANCEL_WAIT_S, slurm_last_line(out));
}

/* ---- the backend ---- */

static void slurm_close(void *state)
{
	struct slurm *s = state;

	if (!s)
		return;
	free(s->partition);
	free(s->account);
	free(s->slurm_conf);
	free(s);
}

/* A value that goes into one sbatch option: printable, no blank or ','. */
static int check_word(const char *key, const char *v)
{
	if (!v)
		return 0;
	if (!*v || strlen(v) > 128)
		return rain_error_set(RAIN_EINVAL, "[builds] %s must be 1 to 128 characters", key);
	for (const char *p = v; *p; p++)
		if (*p <= ' ' || *p >= 127 || *p == ',' || *p == '=')
			return rain_error_set(RAIN_EINVAL, "[builds] %s: '%s' is not a Slurm name (no "
					      "blanks, ',' or '=')", key, v);
	return 0;
}

static int slurm_open(const struct rain_worker_settings *set, void **state)
{
	struct slurm *s;
	int r;

	*state = NULL;
	if ((r = check_word("slurm_partition", set->partition)) < 0 ||
	    (r = check_word("slurm_account", set->account)) < 0)
		return r;
	if (set->slurm_conf && set->slurm_conf[0] != '/')
		return rain_error_set(RAIN_EINVAL, "[builds] slurm_conf must be an absolute path, not "
				      "'%s'", set->slurm_conf);
	if (set->time_limit_s < 0)
		return rain_error_set(RAIN_EINVAL, "[builds] slurm_time_limit must be 0 or more seconds");
	if (!(s = calloc(1, sizeof(*s))))
		return rain_error_oom();
	s->time_limit_s = set->time_limit_s > 0 ? set->time_limit_s : set->timeout_s;
	if ((set->partition && !(s->partition = strdup(set->partition))) ||
	    (set->account && !(s->account = strdup(set->account))) ||
	    (set->slurm_conf && !(s->slurm_conf = strdup(set->slurm_conf)))) {
		slurm_close(s);
		return rain_error_oom();
	}
	*state = s;
	return 0;
}

#define ADD(v, n, str) do { if (strv_add((v), (n), (str)) < 0) goto oom; } while (0)

/* The sbatch command line of the build. */
static int sbatch_argv(struct slurm *s, struct rain_job_run *job, const struct rain_worker_task *t,
		       const char *script, char ***argv, size_t *n)
{
	char buf[4200];

	ADD(argv, n, "sbatch");
	ADD(argv, n, "--parsable");
	snprintf(buf, sizeof(buf), "--job-name=rain-build-%s", job->id);
	ADD(argv, n, buf);
	snprintf(buf, sizeof(buf), "--output=%s/" OUT_FILE, job->dir);
	ADD(argv, n, buf);
	snprintf(buf, sizeof(buf), "--chdir=%s", job->dir);
	ADD(argv, n, buf);
	ADD(argv, n, "--nodes=1");
	ADD(argv, n, "--ntasks=1");
	ADD(argv, n, "--no-requeue");
	/* the job's environment: these and Slurm's own */
	ADD(argv, n, "--export=PATH,RAIN_WORKER_TOKEN");
	if (s->time_limit_s > 0) {
		/* rounded up to whole minutes: Slurm's unit */
		snprintf(buf, sizeof(buf), "--time=%d", (s->time_limit_s + 59) / 60);
		ADD(argv, n, buf);
	}
	if (s->partition) {
		snprintf(buf, sizeof(buf), "--partition=%s", s->partition);
		ADD(argv, n, buf);
	}
	if (s->account) {
		snprintf(buf, sizeof(buf), "--account=%s", s->account);
		ADD(argv, n, buf);
	}
	ADD(argv, n, script);
	ADD(argv, n, t->rain_command);
	ADD(argv, n, "build-worker");
	ADD(argv, n, job->id);
	ADD(argv, n, "--url");
	ADD(argv, n, t->url);
	if (t->cacert) {
		ADD(argv, n, "--cacert");
		ADD(argv, n, t->cacert);
	}
	ADD(argv, n, "--recipe");
	ADD(argv, n, t->recipe);
	ADD(argv, n, "--cache");
	ADD(argv, n, t->cache_dir);
	if (t->boot_check)
		ADD(argv, n, "--boot-check");
	for (char *const *l = t->limits; l && *l; l++) {
		ADD(argv, n, "--limit");
		ADD(argv, n, *l);
	}
	return 0;
oom:
	return rain_error_oom();
}

static int write_script(const char *dir, char **path)
{
	static const char text[] =
		"#!/bin/sh\n"
		"# rain: a build's batch job; the command is this script's arguments\n"
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
		"export PATH\n"
		"exec \"$@\"\n";

	if (!(*path = fs_path_join(dir, "worker.sh")))
		return rain_error_oom();
	return fs_write_atomic(*path, text, strlen(text), 0700);
}

/* Submit the job; its id into id (and DIR/slurm.job). */
static int submit(struct slurm *s, struct rain_job_run *job, const struct rain_worker_task *t,
		  char *id, size_t idlen)
{
	_cleanup_free_ char *script = NULL, *out = NULL, *tokvar = NULL, *jobfile = NULL;
	const char *extra[2] = { NULL, NULL };
	char **argv = NULL;
	size_t n = 0, len;
	const char *l;
	int st, r;

	if ((r = write_script(job->dir, &script)) < 0)
		return r;
	if (!(jobfile = fs_path_join(job->dir, JOB_FILE)) ||
	    asprintf(&tokvar, "RAIN_WORKER_TOKEN=%s", t->token) < 0)
		return rain_error_oom();
	extra[0] = tokvar;
	r = sbatch_argv(s, job, t, script, &argv, &n);
	if (r == 0)
		r = slurm_cmd(s, (const char *const *)argv, extra, &out, &st);
	strv_free(argv, n);
	str_free_secret(tokvar);
	tokvar = NULL;
	if (r < 0)
		return r;
	l = slurm_last_line(out);
	if (st != 0)
		return rain_error_set(RAIN_EINVAL, "Slurm refused the build's job%s%s: %s (sbatch exit "
				      "status %d)", s->partition ? " in partition " : "",
				      s->partition ? s->partition : "", l, st);
	/* --parsable: "ID" or "ID;CLUSTER" */
	len = strspn(l, "0123456789");
	if (!len || len >= idlen)
		return rain_error_set(RAIN_EFORMAT, "sbatch printed no job id: %s", l);
	memcpy(id, l, len);
	id[len] = '\0';
	return fs_write_atomic(jobfile, id, len, 0600);
}

/* The last line of the job's output file (what the worker said before it
 * could reach raind), into buf. */
static void output_tail(const char *dir, char *buf, size_t len)
{
	_cleanup_free_ char *path = fs_path_join(dir, OUT_FILE), *text = NULL;
	size_t n = 0;
	int fd;

	buf[0] = '\0';
	if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return;
	{
		off_t size = lseek(fd, 0, SEEK_END);

		lseek(fd, size > 4096 ? size - 4096 : 0, SEEK_SET);
	}
	if (fs_read_small_fd(fd, 8192, path, &text, &n) == 0 && n)
		snprintf(buf, len, "%s", slurm_last_line(text));
	close(fd);
}

static int slurm_run(void *state, struct rain_job_run *job, const struct rain_worker_task *t)
{
	struct slurm *s = state;
	struct slurm_job ji = { 0 };
	char id[32], last_state[32] = "", tail[512];
	bool ok = false;
	char *error = NULL;
	int info_failures = 0, r;

	if (!t->session || !t->token || !t->url)
		return rain_error_set(RAIN_EINVAL, "the slurm worker needs raind's URL and a token");
	if ((r = submit(s, job, t, id, sizeof(id))) < 0)
		return r;
	rain_job_log(job, "== raind: Slurm job %s submitted (rain-build-%s)", id, job->id);
	for (;;) {
		if (*job->cancel) {
			rain_job_log(job, "== raind: canceling Slurm job %s", id);
			if ((r = cancel_job(s, id, false)) < 0)
				rain_job_log(job, "== raind: %s", rain_error_last());
			return rain_error_set(RAIN_ECANCELED, "the build was canceled (Slurm job %s)", id);
		}
		if (rain_worker_session_reported(t->session, &ok, &error))
			break;
		if ((r = job_info(s, id, &ji)) < 0) {
			/* a busy slurmctld times out now and then: the job goes
			 * on; only a lasting failure ends the build, and its job */
			if (++info_failures < INFO_TRIES) {
				usleep(POLL_US);
				continue;
			}
			snprintf(tail, sizeof(tail), "%s", rain_error_last());
			if (cancel_job(s, id, false) < 0)
				rain_job_log(job, "== raind: %s", rain_error_last());
			return rain_error_set(r, "cannot follow Slurm job %s: %s", id, tail);
		}
		info_failures = 0;
		if (strcmp(last_state, ji.state)) {
			if (!strcmp(ji.state, "RUNNING"))
				rain_job_log(job, "== raind: Slurm job %s running on %s", id, ji.nodes);
			else if (!strcmp(ji.state, "PENDING"))
				rain_job_log(job, "== raind: Slurm job %s pending (%s)", id, ji.reason);
			snprintf(last_state, sizeof(last_state), "%s", ji.state);
		}
		if (slurm_job_ended(&ji)) {
			/* a report that came just before the end */
			if (rain_worker_session_reported(t->session, &ok, &error))
				break;
			output_tail(job->dir, tail, sizeof(tail));
			if (ji.gone)
				return rain_error_set(RAIN_EIO, "Slurm lost job %s (no record of it)", id);
			if (!strcmp(ji.state, "TIMEOUT"))
				return rain_error_set(RAIN_ETIMEDOUT, "Slurm job %s passed its time limit "
						      "of %d s ([builds] slurm_time_limit) on %s", id,
						      s->time_limit_s, ji.nodes);
			return rain_error_set(RAIN_EIO, "Slurm job %s ended %s (%s)%s on %s without the "
					      "worker's report (exit status %d)%s%s", id, ji.state,
					      ji.reason, !strcmp(ji.state, "NODE_FAIL") ?
					      ": its node was lost" : "", ji.nodes[0] ? ji.nodes : "no node",
					      ji.exit_signal ? 128 + ji.exit_signal : ji.exit_code,
					      tail[0] ? "; its output ends: " : "", tail);
		}
		usleep(POLL_US);
	}
	if (!ok) {
		r = rain_error_set(RAIN_EIO, "%s", error ? error : "the worker failed");
		free(error);
		return r;
	}
	rain_job_log(job, "== raind: Slurm job %s: the worker sent the outputs", id);
	return 0;
}

static int64_t slurm_recover(void *state, const char *id, const char *dir)
{
	struct slurm *s = state;
	_cleanup_free_ char *path = fs_path_join(dir, JOB_FILE), *jid = NULL, *name = NULL;
	size_t len = 0;
	int64_t n = 0;

	if (!path || asprintf(&name, "rain-build-%s", id) < 0)
		return 0;
	if (fs_read_small(path, 64, &jid, &len) == 0 && len && strspn(jid, "0123456789") == len) {
		if (cancel_job(s, jid, false) == 0)
			n++;
	}
	/* submitted, but raind stopped before it kept the id */
	cancel_job(s, name, true);
	return n;
}

static const struct rain_worker_backend slurm = {
	.version = RAIN_WORKER_BACKEND_VERSION,
	.name = "slurm",
	.remote = true,
	.open = slurm_open,
	.close = slurm_close,
	.run = slurm_run,
	.recover = slurm_recover,
};

const struct rain_driver rain_worker_backend_slurm = { "worker", "slurm", "slurm", &slurm };
