/* The slurm provider (rain/sys/provider.h): a run is a batch job for N
 * nodes with the registration's image as its constraint, so that Slurm's
 * node_features/helpers plugin and the site's RebootProgram reimage the
 * nodes it allocates (the slurm site driver made the image a node
 * feature: src/lib/target/drivers/slurm.c). The job runs on the nodes
 * with the image; its output and exit code come back through Slurm.
 *
 * Settings (the site's section, checked by the site driver): partition,
 * account, qos (sbatch's), pending_timeout (how long the job may wait for
 * its nodes, reimage included; default the run's ready timeout),
 * slurm_conf (SLURM_CONF), node_exec (a program and arguments, split on
 * blanks, that the command runs through on each node: for sites whose
 * slurmd does not run in the image booted on the node, the launcher that
 * runs a command in it; unset: the command itself).
 *
 * up names the job (rain-RUNID) and the instances (rain-RUNID-K, one per
 * node) in the state; nothing exists at the site yet. ready asks Slurm
 * whether it would take the job (sbatch --test-only), so that a bad
 * partition or constraint is refused with Slurm's own words before
 * anything is queued. exec writes the batch script (the command as its
 * arguments; with each, srun --label on every node), submits it with
 * sbatch --parsable (the job's name is in the state before, its id right
 * after: down cancels by name too, so a kill between the two leaks
 * nothing), then follows it with scontrol until it ends, streaming the
 * output file as it grows. The run's work folder must be the same path on
 * the nodes (a shared file system; on one host it is): the output file
 * and the job's folder (WORK/job, its working directory, where fetch
 * copies results from) are there. walltime is the job's --time and is
 * also kept by rain from the job's start (Slurm checks its limits about
 * every 30 s). down cancels the job (scancel, by id and by name) and
 * waits until Slurm has let it go; nodes Slurm left drained or down are
 * named in the log with Slurm's reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/provision/provision-internal.h"
#include "lib/target/target-internal.h"
#include "rain/error.h"
#include "rain/sys/provider.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/slurm.h"
#include "util/strutil.h"

#define SLURM_TIMEOUT_S 60
#define POLL_US (500 * 1000)
#define PENDING_TIMEOUT_DEFAULT 600
#define CANCEL_WAIT_S 60
#define LINE_MAX_BYTES 65536
/* A --script through node_exec goes into the machine as one argument
 * (node.sh: node_exec ... "$text"), which the kernel limits to 128 KiB
 * (MAX_ARG_STRLEN) on the node and, once ssh has quoted it (up to 4
 * bytes a byte), in the machine. */
#define NODE_SCRIPT_MAX (24 << 10)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *slurm_state(struct rain_run_op *op)
{
	return json_object_get(op->state, "slurm");
}

static const char *state_str(struct rain_run_op *op, const char *key)
{
	return json_string_value(json_object_get(slurm_state(op), key));
}

/* Set key of the state's "slurm" object and save. */
static int slurm_set(struct rain_run_op *op, const char *key, json_t *value)
{
	json_t *s = json_deep_copy(slurm_state(op) ?: json_object());

	if (!s || !value || json_object_set_new(s, key, value) < 0) {
		json_decref(s);
		return rain_error_oom();
	}
	return rain_run_state_set(op, "slurm", s);
}

static int run_slurm(struct rain_run_op *op, const char *const *argv, char **out, int *status)
{
	return target_slurm_run(op->site, argv, SLURM_TIMEOUT_S, NULL, out, status);
}

/* ---- up, ready ---- */

static int up(struct rain_run_op *op)
{
	const char *feature = json_string_value(json_object_get(op->registration, "feature"));
	_cleanup_free_ char *name = NULL, *expect = NULL;
	int r;

	if (!feature)
		return rain_error_set(RAIN_EINVAL, "site %s: the registration's state names no node feature "
				      "(was the image registered at this slurm site?)", op->site->name);
	if ((r = target_slurm_feature(op->site, json_string_value(json_object_get(op->registration,
			"registration")), &expect)) >= 0 && strcmp(expect, feature))
		return rain_error_set(RAIN_EINVAL, "site %s: the registration's feature %s is not the one "
				      "this site gives it (%s): registered at another site?", op->site->name,
				      feature, expect);
	if (!fs_name_is_safe(op->run_id) || strchr(op->run_id, ' ') || strchr(op->run_id, ','))
		return rain_error_set(RAIN_EINVAL, "run id '%s' cannot name a Slurm job", op->run_id);
	if (asprintf(&name, "rain-%s", op->run_id) < 0)
		return rain_error_oom();
	{
		json_t *s = json_pack("{s:s,s:s,s:[],s:i}", "feature", feature, "job_name", name, "jobs",
				      "nodes", op->n);

		if (!s)
			return rain_error_oom();
		if ((r = rain_run_state_set(op, "slurm", s)) < 0)
			return r;
	}
	for (int k = 1; k <= op->n; k++) {
		_cleanup_free_ char *iname = NULL;

		if (asprintf(&iname, "rain-%s-%d", op->run_id, k) < 0)
			return rain_error_oom();
		if ((r = rain_run_instance_add(op, json_pack("{s:s}", "name", iname))) < 0)
			return r;
	}
	rain_run_log(op, RAIN_TARGET_INFO, "job %s: %d node%s with feature %s, submitted when the job runs",
		     name, op->n, op->n == 1 ? "" : "s", feature);
	return 0;
}

/* sbatch's options for the run's job (all but the script), appended to
 * argv (n entries). Strings that need storage go into keep. */
static int job_options(struct rain_run_op *op, int walltime_s, char ***argv, size_t *n)
{
	const json_t *s = slurm_state(op);
	const char *feature = json_string_value(json_object_get(s, "feature"));
	const char *name = json_string_value(json_object_get(s, "job_name"));
	int nodes = (int)json_integer_value(json_object_get(s, "nodes"));
	char buf[256];
	const char *v;

	if (!feature || !name || nodes < 1)
		return rain_error_set(RAIN_EINVAL, "site %s: the run's state names no job: start the run "
				      "first", op->site->name);
#define ADD(str) do { if (strv_add(argv, n, (str)) < 0) return rain_error_oom(); } while (0)
	snprintf(buf, sizeof(buf), "--job-name=%s", name);
	ADD(buf);
	snprintf(buf, sizeof(buf), "--nodes=%d", nodes);
	ADD(buf);
	ADD("--ntasks-per-node=1");
	snprintf(buf, sizeof(buf), "--constraint=%s", feature);
	ADD(buf);
	ADD("--no-requeue");
	ADD("--export=NONE");
	if ((v = rain_site_get(op->site, "partition"))) {
		snprintf(buf, sizeof(buf), "--partition=%s", v);
		ADD(buf);
	}
	if ((v = rain_site_get(op->site, "account"))) {
		snprintf(buf, sizeof(buf), "--account=%s", v);
		ADD(buf);
	}
	if ((v = rain_site_get(op->site, "qos"))) {
		snprintf(buf, sizeof(buf), "--qos=%s", v);
		ADD(buf);
	}
	if (walltime_s > 0) {
		/* minutes:seconds; Slurm ends the job at its next check after */
		snprintf(buf, sizeof(buf), "--time=%d:%02d", walltime_s / 60, walltime_s % 60);
		ADD(buf);
	}
#undef ADD
	return 0;
}

/* "sbatch: error: Batch job submission failed: X" -> its last line. */
static int refused(struct rain_run_op *op, char *out, int status)
{
	const json_t *s = slurm_state(op);
	const char *part = rain_site_get(op->site, "partition");

	return rain_error_set(RAIN_EINVAL, "site %s: Slurm refused the job (%lld node%s, constraint %s%s%s): "
			      "%s (sbatch exit status %d)", op->site->name,
			      (long long)json_integer_value(json_object_get(s, "nodes")),
			      json_integer_value(json_object_get(s, "nodes")) == 1 ? "" : "s",
			      json_string_value(json_object_get(s, "feature")), part ? ", partition " : "",
			      part ? part : "", target_slurm_last_line(out), status);
}

static int ready(struct rain_run_op *op, size_t i)
{
	char **argv = NULL;
	size_t n = 0;
	_cleanup_free_ char *out = NULL;
	int status, r;

	if (i)
		return 0;
	if (strv_add(&argv, &n, "sbatch") < 0 || strv_add(&argv, &n, "--test-only") < 0)
		r = rain_error_oom();
	else
		r = job_options(op, 0, &argv, &n);
	/* a constant script: --test-only runs nothing */
	if (r >= 0 && (strv_add(&argv, &n, "--wrap=true") < 0))
		r = rain_error_oom();
	if (r >= 0)
		r = run_slurm(op, (const char *const *)argv, &out, &status);
	strv_free(argv, n);
	if (r < 0)
		return r;
	if (status != 0)
		return refused(op, out, status);
	rain_run_log(op, RAIN_TARGET_INFO, "Slurm takes the job: %s", target_slurm_last_line(out));
	return 0;
}

/* ---- exec ---- */

/* The record of job id, as scontrol prints it on one line. */
static int job_info(struct rain_run_op *op, const char *id, struct slurm_job *ji)
{
	const char *argv[] = { "scontrol", "show", "job", "-o", id, NULL };
	_cleanup_free_ char *out = NULL;
	int status, r;

	memset(ji, 0, sizeof(*ji));
	if ((r = run_slurm(op, argv, &out, &status)) < 0)
		return r;
	if (status != 0) {
		if (strstr(out, "Invalid job id")) {
			ji->gone = true;
			return 0;
		}
		return rain_error_set(RAIN_EIO, "site %s: scontrol show job %s failed (exit status %d): %s",
				      op->site->name, id, status, target_slurm_last_line(out));
	}
	if (slurm_job_parse(out, ji) < 0)
		return rain_error_set(RAIN_EFORMAT, "site %s: scontrol show job %s: no JobState", op->site->name,
				      id);
	return 0;
}

static bool state_is(const struct slurm_job *ji, const char *const *list)
{
	return str_in_list(list, ji->state);
}

static const char *const waiting[] = { "PENDING", "CONFIGURING", "REQUEUED", "RESV_DEL_HOLD", "SUSPENDED",
				       NULL };
static const char *const ended[] = { "COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL",
				     "BOOT_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "DEADLINE", NULL };

/* The output file as it grows: whole lines to job->output. */
struct tail {
	int fd;
	char *buf;
	size_t len;
	bool label;                     /* srun --label: "K: " before each line */
	const struct rain_run_job *job;
};

static void tail_line(struct tail *t, char *line, size_t len)
{
	size_t inst = 0;

	if (t->label) {
		char *colon = memchr(line, ':', len);

		/* srun pads the task number: " 0: text" */
		if (colon && colon - line < 8 && colon + 1 < line + len && colon[1] == ' ') {
			char *p = line;

			while (p < colon && *p == ' ')
				p++;
			if (p < colon && strspn(p, "0123456789") == (size_t)(colon - p)) {
				inst = strtoul(p, NULL, 10);
				len -= (size_t)(colon + 2 - line);
				line = colon + 2;
			}
		}
	}
	if (t->job->output)
		t->job->output(t->job->ud, inst, line, len);
}

static void tail_read(struct tail *t, bool final)
{
	char chunk[8192];
	ssize_t got;

	if (t->fd < 0)
		return;
	while ((got = read(t->fd, chunk, sizeof(chunk))) > 0) {
		char *p = realloc(t->buf, t->len + (size_t)got + 1);

		if (!p)
			return;
		t->buf = p;
		memcpy(t->buf + t->len, chunk, (size_t)got);
		t->len += (size_t)got;
		for (char *nl; (nl = memchr(t->buf, '\n', t->len)) || t->len > LINE_MAX_BYTES;) {
			size_t l = nl ? (size_t)(nl - t->buf) : t->len;

			tail_line(t, t->buf, l);
			l += nl ? 1 : 0;
			memmove(t->buf, t->buf + l, t->len - l);
			t->len -= l;
		}
	}
	if (final && t->len) {
		tail_line(t, t->buf, t->len);
		t->len = 0;
	}
}

/* The shell text of the in-machine steps (node_exec, below), rain's own:
 * never user input; the job's words are their arguments. */

/* sh -c VM_RUN sh DIR TEXT WORD...: in DIR (made; relative to where
 * node_exec starts commands), in a session of its own whose id is left in
 * DIR/.rain-sid (for VM_STOP), TEXT (when not empty) as the script ./job,
 * run with WORD... as its arguments, else WORD... */
static const char vm_run[] =
	"mkdir -p -- \"$1\" && cd -- \"$1\" || exit 125\n"
	"shift\n"
	"if [ -n \"$1\" ]; then printf '%s\\n' \"$1\" >job || exit 125; shift; set -- /bin/sh ./job \"$@\"; "
	"else shift; fi\n"
	"if command -v setsid >/dev/null; then\n"
	"\texec setsid -w /bin/sh -c 'echo $$ >.rain-sid; exec \"$@\"' sh \"$@\"\n"
	"fi\n"
	"echo $$ >.rain-sid\n"
	"exec \"$@\"\n";
/* sh -c VM_CAT sh DIR PATH: PATH (relative: to DIR) on stdout. */
static const char vm_cat[] = "cd -- \"$1\" && exec cat -- \"$2\"\n";
/* sh -c VM_STOP sh DIR: kill what is left of the job's session, remove DIR. */
static const char vm_stop[] =
	"s=$(cat -- \"$1/.rain-sid\" 2>/dev/null)\n"
	"[ -n \"$s\" ] && { kill -s KILL -- \"-$s\" 2>/dev/null || kill -s KILL \"$s\" 2>/dev/null; }\n"
	"rm -rf -- \"$1\"\n";

/* Append "NAME=" and s quoted, and a newline, to f. */
static void put_var(FILE *f, const char *name, const char *s)
{
	_cleanup_free_ char *q = run_shell_quote(s);

	fprintf(f, "%s=%s\n", name, q ? q : "''");
}

/* WORK/node.sh, for sites with node_exec: the job on one node, run in the
 * machine node_exec reaches, in a folder of its own there (rain-job-RUNID,
 * relative to where node_exec starts commands). On SIGTERM (scancel, a
 * walltime: Slurm signals the job's processes, and node_exec's end does
 * not end the command inside) it kills the job's session in the machine.
 * After the job: each of job->out copied from the machine to
 * WORK/job/out/TASK/I (TASK: SLURM_PROCID, the instance's index; I: the
 * path's index), then the machine's folder removed. */
static int write_node_script(struct rain_run_op *op, const struct rain_run_job *job, const char *jscript,
			     char **path)
{
	_cleanup_free_ char *text = NULL, *copy = NULL, *dir = NULL, *out = NULL;
	size_t len = 0;
	char *save = NULL;
	FILE *f;
	int r;

	if (!(*path = fs_path_join(op->workdir, "node.sh")) || !(out = fs_path_join(op->workdir, "job/out")) ||
	    !(copy = strdup(rain_site_get(op->site, "node_exec"))) || asprintf(&dir, "rain-job-%s", op->run_id) < 0)
		return rain_error_oom();
	f = open_memstream(&text, &len);
	if (!f)
		return rain_error_oom();
	fputs("#!/bin/sh\n"
	      "# rain: a run's job on one node, in the machine the site's node_exec reaches\n"
	      "# (the command is this script's arguments)\n"
	      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	      "export PATH\n"
	      "node_exec() {", f);
	/* the site's own setting, its words as they are split */
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		_cleanup_free_ char *q = run_shell_quote(w);

		fprintf(f, " %s", q ? q : "''");
	}
	fputs(" \"$@\"; }\n", f);
	put_var(f, "dir", dir);
	put_var(f, "script", jscript ? jscript : "");
	put_var(f, "vm_run", vm_run);
	put_var(f, "vm_cat", vm_cat);
	put_var(f, "vm_stop", vm_stop);
	put_var(f, "out", out);
	fputs("out=$out/${SLURM_PROCID:-0}\n"
	      "stop() {\n"
	      "\ttrap - TERM INT HUP\n"
	      "\tkill \"$job\" 2>/dev/null\n"
	      "\tnode_exec /bin/sh -c \"$vm_stop\" sh \"$dir\" </dev/null >/dev/null 2>&1\n"
	      "\texit 143\n"
	      "}\n"
	      "trap stop TERM INT HUP\n"
	      "text=\n"
	      "if [ -n \"$script\" ]; then text=$(cat -- \"$script\") || exit 125; fi\n"
	      "node_exec /bin/sh -c \"$vm_run\" sh \"$dir\" \"$text\" \"$@\" </dev/null &\n"
	      "job=$!\n"
	      "wait \"$job\"\n"
	      "st=$?\n"
	      "mkdir -p -- \"$out\"\n", f);
	for (size_t i = 0; job->out && job->out[i]; i++) {
		_cleanup_free_ char *q = run_shell_quote(job->out[i]);

		fprintf(f, "node_exec /bin/sh -c \"$vm_cat\" sh \"$dir\" %s </dev/null >\"$out/%zu.part\" && "
			"mv -f -- \"$out/%zu.part\" \"$out/%zu\" || rm -f -- \"$out/%zu.part\"\n",
			q ? q : "''", i, i, i, i);
	}
	fputs("node_exec /bin/sh -c \"$vm_stop\" sh \"$dir\" </dev/null >/dev/null 2>&1\n"
	      "exit \"$st\"\n", f);
	if (fclose(f) != 0 || !text)
		return rain_error_oom();
	r = fs_write_atomic(*path, text, len, 0700);
	return r;
}

/* WORK/batch.sh: the batch job (the command is its arguments): the
 * command itself, or with each srun's task on every node; with node_exec,
 * node.sh (above) in its place. */
static int write_script(struct rain_run_op *op, const struct rain_run_job *job, const char *jscript,
			char **path)
{
	static const char head[] =
		"#!/bin/sh\n"
		"# rain: a run's batch job; the command is this script's arguments\n"
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
		"export PATH\n";
	_cleanup_free_ char *text = NULL, *node = NULL, *qnode = NULL;
	int r;

	if (rain_site_get(op->site, "node_exec")) {
		if ((r = write_node_script(op, job, jscript, &node)) < 0)
			return r;
		if (!(qnode = run_shell_quote(node)))
			return rain_error_oom();
	}
	if (!(*path = fs_path_join(op->workdir, "batch.sh")))
		return rain_error_oom();
	if (asprintf(&text, "%s%s%s%s \"$@\"\n", head,
		     job->each ? "exec srun --label --export=ALL --ntasks-per-node=1" : "exec",
		     qnode ? " /bin/sh " : "", qnode ? qnode : "") < 0)
		return rain_error_oom();
	r = fs_write_atomic(*path, text, strlen(text), 0700);
	return r;
}

/* scancel id, then wait (up to CANCEL_WAIT_S) until it has ended; *ji is
 * its last record. */
static int cancel_job(struct rain_run_op *op, const char *id, struct slurm_job *ji)
{
	const char *argv[] = { "scancel", id, NULL };
	_cleanup_free_ char *out = NULL;
	int status, r;

	if ((r = run_slurm(op, argv, &out, &status)) < 0)
		return r;
	for (int k = 0; k < CANCEL_WAIT_S * 2; k++) {
		if ((r = job_info(op, id, ji)) < 0)
			return r;
		if (ji->gone || state_is(ji, ended))
			return 0;
		usleep(POLL_US);
	}
	return rain_error_set(RAIN_EIO, "site %s: job %s is still %s %d s after scancel", op->site->name, id,
			      ji->state, CANCEL_WAIT_S);
}

static int record_nodes(struct rain_run_op *op, const char *nodes)
{
	json_t *list = json_deep_copy(json_object_get(op->state, "instances"));
	size_t i;
	json_t *inst;

	if (!list)
		return rain_error_oom();
	/* one node per instance, in Slurm's order (hostlist: node[1-2]) */
	{
		const char *argv[] = { "scontrol", "show", "hostnames", nodes, NULL };
		_cleanup_free_ char *out = NULL;
		char *save = NULL, *w;
		int status;

		if (run_slurm(op, argv, &out, &status) >= 0 && status == 0) {
			w = strtok_r(out, "\n", &save);
			json_array_foreach(list, i, inst) {
				if (!w)
					break;
				json_object_set_new(inst, "node", json_string(w));
				w = strtok_r(NULL, "\n", &save);
			}
		}
	}
	return rain_run_state_set(op, "instances", list);
}

static int exec(struct rain_run_op *op, const struct rain_run_job *job, int *status)
{
	_cleanup_free_ char *script = NULL, *outpath = NULL, *jobdir = NULL, *out = NULL, *jscript = NULL;
	_cleanup_free_ char *outopt = NULL, *diropt = NULL;
	struct tail t = { .fd = -1, .label = job->each, .job = job };
	struct slurm_job ji = { 0 };
	char **argv = NULL, id[64] = "", last_state[32] = "";
	size_t n = 0;
	int64_t pending_s;
	double submitted, started = 0;
	bool timed_out = false;
	int st, r;

	*status = RAIN_RUN_EXIT_FAILED;
	if ((r = target_slurm_seconds(op->site, "pending_timeout", op->ready_timeout_s > 0 ?
				      op->ready_timeout_s : PENDING_TIMEOUT_DEFAULT, &pending_s)) < 0)
		return r;
	if (!(jobdir = fs_path_join(op->workdir, "job")) || !(outpath = fs_path_join(op->workdir, "job.out")))
		return rain_error_oom();
	if (mkdir(jobdir, 0700) < 0 && errno != EEXIST)
		return rain_error_errno(RAIN_EIO, errno, "cannot make %s", jobdir);
	if (job->script) {
		/* the job folder is the nodes' too: the script is run from there */
		_cleanup_free_ char *text = NULL;
		size_t len;

		if (!(jscript = fs_path_join(op->workdir, "job.sh")))
			return rain_error_oom();
		if ((r = fs_read_small(job->script, 16 << 20, &text, &len)) < 0)
			return r;
		if (len > NODE_SCRIPT_MAX && rain_site_get(op->site, "node_exec"))
			return rain_error_set(RAIN_ETOOBIG, "site %s: the job script %s has %zu bytes; through "
					      "the site's node_exec a script may have at most %d (it goes in "
					      "as an argument): run a smaller one that fetches the rest",
					      op->site->name, job->script, len, NODE_SCRIPT_MAX);
		if ((r = fs_write_atomic(jscript, text, len, 0700)) < 0)
			return r;
	}
	if ((r = write_script(op, job, jscript, &script)) < 0)
		return r;
	if (rain_site_get(op->site, "node_exec") && (r = slurm_set(op, "out", target_strv_json(job->out))) < 0)
		return r;
	unlink(outpath);
	if (asprintf(&outopt, "--output=%s", outpath) < 0 || asprintf(&diropt, "--chdir=%s", jobdir) < 0)
		return rain_error_oom();
	if (strv_add(&argv, &n, "sbatch") < 0 || strv_add(&argv, &n, "--parsable") < 0 ||
	    strv_add(&argv, &n, outopt) < 0 || strv_add(&argv, &n, diropt) < 0)
		r = rain_error_oom();
	else
		r = job_options(op, job->walltime_s, &argv, &n);
	if (r >= 0 && strv_add(&argv, &n, script) < 0)
		r = rain_error_oom();
	/* with node_exec, node.sh copies the script into the machine */
	if (r >= 0 && jscript && !rain_site_get(op->site, "node_exec") &&
	    (strv_add(&argv, &n, "/bin/sh") < 0 || strv_add(&argv, &n, jscript) < 0))
		r = rain_error_oom();
	for (size_t k = 0; r >= 0 && !jscript && job->argv[k]; k++)
		if (strv_add(&argv, &n, job->argv[k]) < 0)
			r = rain_error_oom();
	if (r < 0) {
		strv_free(argv, n);
		return r;
	}
	if ((r = rain_run_check_cancel(op)) < 0) {
		strv_free(argv, n);
		return r;
	}
	/* the job's name is in the state (up): down finds it by name even
	 * when this process dies before the id is saved */
	submitted = now();
	r = run_slurm(op, (const char *const *)argv, &out, &st);
	strv_free(argv, n);
	if (r < 0)
		return r;
	if (st != 0)
		return refused(op, out, st);
	{
		/* --parsable: "ID" or "ID;CLUSTER"; warnings may come before */
		const char *l = target_slurm_last_line(out);
		size_t len = strspn(l, "0123456789");

		if (!len || len >= sizeof(id))
			return rain_error_set(RAIN_EFORMAT, "site %s: sbatch printed no job id: %s", op->site->name, l);
		memcpy(id, l, len);
		id[len] = '\0';
	}
	{
		json_t *jobs = json_deep_copy(json_object_get(slurm_state(op), "jobs") ?: json_array());

		if (!jobs || json_array_append_new(jobs, json_string(id)) < 0) {
			json_decref(jobs);
			return rain_error_oom();
		}
		if ((r = slurm_set(op, "jobs", jobs)) < 0)
			return r;
	}
	rain_run_log(op, RAIN_TARGET_INFO, "submitted job %s", id);

	for (;;) {
		if (op->cancel && *op->cancel) {
			rain_run_log(op, RAIN_TARGET_INFO, "canceling job %s", id);
			r = cancel_job(op, id, &ji);
			if (t.fd < 0)
				t.fd = open(outpath, O_RDONLY | O_CLOEXEC);
			tail_read(&t, true);
			r = r < 0 ? r : rain_run_check_cancel(op);
			goto done;
		}
		if ((r = job_info(op, id, &ji)) < 0)
			goto done;
		if (ji.gone) {
			r = rain_error_set(RAIN_EIO, "site %s: Slurm lost job %s (no record of it)", op->site->name,
					   id);
			goto done;
		}
		if (strcmp(last_state, ji.state)) {
			if (!strcmp(ji.state, "CONFIGURING"))
				rain_run_log(op, RAIN_TARGET_INFO, "job %s: nodes %s booting the image", id, ji.nodes);
			else if (!strcmp(ji.state, "PENDING"))
				rain_run_log(op, RAIN_TARGET_INFO, "job %s pending (%s)", id, ji.reason);
			snprintf(last_state, sizeof(last_state), "%s", ji.state);
		}
		if (!started && (!strcmp(ji.state, "RUNNING") || state_is(&ji, ended))) {
			started = now();
			if (!strcmp(ji.state, "RUNNING"))
				rain_run_log(op, RAIN_TARGET_INFO, "job %s running on %s, %.1f s after it was "
					     "submitted", id, ji.nodes, started - submitted);
			if (ji.nodes[0] && (r = record_nodes(op, ji.nodes)) < 0)
				goto done;
		}
		if (t.fd < 0)
			t.fd = open(outpath, O_RDONLY | O_CLOEXEC);
		tail_read(&t, false);
		if (state_is(&ji, ended))
			break;
		if (!started && state_is(&ji, waiting) && pending_s && now() - submitted > (double)pending_s) {
			struct slurm_job last;

			cancel_job(op, id, &last);
			r = rain_error_set(RAIN_ETIMEDOUT, "site %s: job %s waited %lld s for its nodes (%s, %s) "
					   "and was canceled; pending_timeout sets the limit", op->site->name, id,
					   (long long)pending_s, ji.state, ji.reason);
			goto done;
		}
		if (started && job->walltime_s > 0 && now() - started > job->walltime_s) {
			rain_run_log(op, RAIN_TARGET_INFO, "job %s: walltime of %d s passed, canceling it", id,
				     job->walltime_s);
			timed_out = true;
			if ((r = cancel_job(op, id, &ji)) < 0)
				goto done;
			break;
		}
		usleep(POLL_US);
	}
	tail_read(&t, true);
	if (timed_out || !strcmp(ji.state, "TIMEOUT") || !strcmp(ji.state, "DEADLINE")) {
		*status = RAIN_RUN_EXIT_TIMEOUT;
		r = rain_error_set(RAIN_ETIMEDOUT, "site %s: job %s passed its walltime of %d s", op->site->name, id,
				   job->walltime_s);
	} else if (!strcmp(ji.state, "COMPLETED") || !strcmp(ji.state, "FAILED") ||
		   !strcmp(ji.state, "OUT_OF_MEMORY")) {
		*status = ji.exit_signal ? 128 + ji.exit_signal : ji.exit_code;
		rain_run_log(op, RAIN_TARGET_INFO, "job %s %s, exit status %d", id, ji.state, *status);
		r = 0;
	} else {
		r = rain_error_set(RAIN_EIO, "site %s: job %s ended %s (%s)%s", op->site->name, id, ji.state,
				   ji.reason, !strcmp(ji.state, "BOOT_FAIL") ? ": its nodes did not boot the image" :
				   !strcmp(ji.state, "NODE_FAIL") ? ": a node was lost" : "");
	}
done:
	if (t.fd >= 0)
		close(t.fd);
	free(t.buf);
	return r;
}

/* ---- fetch, down, status ---- */

/* Copy in (from its start) to dir/base, or with each to dir/NAME/base for
 * instance k (made 0600, not through a link). */
static int copy_out(struct rain_run_op *op, int in, const struct stat *st, const char *dir, bool each,
		    size_t k, const char *base)
{
	const char *name = json_string_value(json_object_get(rain_run_instance(op, k), "name"));
	_cleanup_free_ char *sub = NULL, *dst = NULL;
	_cleanup_close_ int outfd = -1;
	int r;

	if (each && (!(sub = fs_path_join(dir, name ? name : "?")) || fs_mkdir_p(sub, 0700) < 0))
		return rain_error_set(RAIN_EIO, "cannot make a folder in %s", dir);
	if (!(dst = fs_path_join(each ? sub : dir, base)))
		return rain_error_oom();
	outfd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (outfd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot write %s", dst);
	if ((r = fs_copy_sparse(in, outfd, st->st_size, dst)) < 0)
		return r;
	if (lseek(in, 0, SEEK_SET) < 0)
		return rain_error_errno(RAIN_EIO, errno, "%s", dst);
	return 0;
}

/* With node_exec: node.sh copied the job's out paths from each machine
 * into WORK/job/out/K/I; only those can be fetched. */
static int fetch_collected(struct rain_run_op *op, const char *const *paths, bool each, const char *dir)
{
	json_t *outs = json_object_get(slurm_state(op), "out");
	size_t count = each ? rain_run_instance_count(op) : 1;
	int r;

	for (size_t i = 0; paths[i]; i++) {
		const char *base = strrchr(paths[i], '/') ? strrchr(paths[i], '/') + 1 : paths[i];
		size_t idx, j;
		json_t *v;

		idx = json_array_size(outs);
		json_array_foreach(outs, j, v) {
			if (json_string_value(v) && !strcmp(json_string_value(v), paths[i])) {
				idx = j;
				break;
			}
		}
		if (idx == json_array_size(outs))
			return rain_error_set(RAIN_EINVAL, "site %s: %s was not named before the job ran (--out): "
					      "the nodes' machines are reimaged after it", op->site->name, paths[i]);
		if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
			return rain_error_set(RAIN_EINVAL, "site %s: fetch '%s': name a file", op->site->name,
					      paths[i]);
		for (size_t k = 0; k < count; k++) {
			_cleanup_free_ char *src = NULL;
			_cleanup_close_ int in = -1;
			const char *name = json_string_value(json_object_get(rain_run_instance(op, k), "name"));
			const char *node = json_string_value(json_object_get(rain_run_instance(op, k), "node"));
			struct stat st;

			if (asprintf(&src, "%s/job/out/%zu/%zu", op->workdir, k, idx) < 0)
				return rain_error_oom();
			in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode))
				return rain_error_set(RAIN_ENOTFOUND, "site %s: the job left no file %s in %s's "
						      "machine (node %s)", op->site->name, paths[i], name ? name : "?",
						      node ? node : "?");
			if ((r = copy_out(op, in, &st, dir, each, k, base)) < 0)
				return r;
		}
	}
	return 0;
}

static int fetch(struct rain_run_op *op, const char *const *paths, bool each, const char *dir)
{
	_cleanup_free_ char *jobdir = fs_path_join(op->workdir, "job");
	_cleanup_close_ int dfd = -1;
	int r;

	if (!jobdir)
		return rain_error_oom();
	if (rain_site_get(op->site, "node_exec"))
		return fetch_collected(op, paths, each, dir);
	dfd = open(jobdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return rain_error_errno(RAIN_ENOTFOUND, errno, "site %s: the job's folder %s", op->site->name,
					jobdir);
	for (size_t i = 0; paths[i]; i++) {
		const char *base = strrchr(paths[i], '/') ? strrchr(paths[i], '/') + 1 : paths[i];
		_cleanup_close_ int in = -1;
		struct stat st;
		size_t count = each ? rain_run_instance_count(op) : 1;

		/* every node runs in the same (shared) job folder */
		if (paths[i][0] == '/')
			return rain_error_set(RAIN_EINVAL, "site %s: fetch '%s': name a file in the job's "
					      "folder (a relative path)", op->site->name, paths[i]);
		in = fs_open_regular_beneath(dfd, paths[i], O_RDONLY, true, &st);
		if (in < 0)
			return rain_error_set(in, "site %s: the job left no file %s: %s", op->site->name,
					      paths[i], rain_error_last());
		for (size_t k = 0; k < count; k++)
			if ((r = copy_out(op, in, &st, dir, each, k, base)) < 0)
				return r;
	}
	return 0;
}

/* Nodes the run used that Slurm has drained or downed: named in the log
 * with Slurm's reason (that is their record; an operator resumes them). */
static void report_nodes(struct rain_run_op *op)
{
	for (size_t i = 0; i < rain_run_instance_count(op); i++) {
		const char *node = json_string_value(json_object_get(rain_run_instance(op, i), "node"));
		const char *argv[] = { "sinfo", "-h", "-N", "-n", node, "-o", "%t %E", NULL };
		_cleanup_free_ char *out = NULL;
		int status;

		if (!node || run_slurm(op, argv, &out, &status) < 0 || status != 0)
			continue;
		if (strstr(out, "drain") || strstr(out, "down") || str_has_prefix(out, "drng") ||
		    str_has_prefix(out, "fail"))
			rain_run_log(op, RAIN_TARGET_WARN, "node %s is left %s by Slurm", node,
				     target_slurm_last_line(out));
	}
}

static int down(struct rain_run_op *op)
{
	const char *name = state_str(op, "job_name");
	json_t *jobs = json_object_get(slurm_state(op), "jobs"), *v;
	_cleanup_free_ char *nameopt = NULL;
	size_t i;
	int r;

	if (!slurm_state(op))
		return 0;
	json_array_foreach(jobs, i, v) {
		struct slurm_job ji;

		if (json_string_value(v) && (r = cancel_job(op, json_string_value(v), &ji)) < 0)
			return r;
	}
	if (name) {
		/* a job submitted but not saved (killed in between): by name */
		const char *argv[] = { "scancel", "--name", name, NULL };
		const char *q[] = { "squeue", "-h", "--name", name, "-o", "%i %T", NULL };
		_cleanup_free_ char *out = NULL;
		int status, k;

		if ((r = run_slurm(op, argv, &out, &status)) < 0)
			return r;
		for (k = 0; k < CANCEL_WAIT_S * 2; k++) {
			free(out);
			out = NULL;
			if ((r = run_slurm(op, q, &out, &status)) < 0)
				return r;
			if (status == 0 && !*out)
				break;
			usleep(POLL_US);
		}
		if (k == CANCEL_WAIT_S * 2)
			return rain_error_set(RAIN_EIO, "site %s: Slurm still has jobs named %s: %s",
					      op->site->name, name, target_slurm_last_line(out));
		if (asprintf(&nameopt, "%s", name) < 0)
			return rain_error_oom();
	}
	report_nodes(op);
	if (nameopt)
		rain_run_log(op, RAIN_TARGET_INFO, "no job %s left at site %s", nameopt, op->site->name);
	return rain_run_state_set(op, "slurm", NULL);
}

static int status_of(struct rain_run_op *op, json_t **out)
{
	_cleanup_json_ json_t *list = json_array();
	json_t *jobs = json_object_get(slurm_state(op), "jobs"), *v;
	size_t i;

	*out = NULL;
	if (!list)
		return rain_error_oom();
	json_array_foreach(jobs, i, v) {
		struct slurm_job ji;
		const char *id = json_string_value(v);

		if (!id || job_info(op, id, &ji) < 0)
			continue;
		if (json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s}", "id", id, "state",
				ji.gone ? "GONE" : ji.state, "reason", ji.reason, "nodes", ji.nodes)) < 0)
			return rain_error_oom();
	}
	*out = json_pack("{s:O,s:O?,s:O}", "instances", json_object_get(op->state, "instances") ?: json_null(),
			 "job_name", json_object_get(slurm_state(op), "job_name"), "jobs", list);
	return *out ? 0 : rain_error_oom();
}

static const struct rain_provider_driver slurm = {
	.version = RAIN_PROVIDER_DRIVER_VERSION,
	.scheme = "slurm",
	.up = up,
	.ready = ready,
	.exec = exec,
	.fetch = fetch,
	.down = down,
	.status = status_of,
};

const struct rain_driver rain_provider_driver_slurm = { "provider", "slurm", "slurm:CLUSTER", &slurm };
