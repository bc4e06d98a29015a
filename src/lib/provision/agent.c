/* Reaching instances through the QEMU guest agent (provision-internal.h):
 * for images without network, a provider whose guests run qemu-ga on a
 * virtio-serial channel hands these steps its transport.
 *
 * Every program runs from an argument vector: the one shell text is rain's
 * own, fixed, with the job's folder and words as its positional
 * parameters ("$1", "$@"), never pasted in.
 *
 * The job's output is streamed: qemu-ga's guest-exec-status returns
 * captured output only once the process has ended (qemu 7.2, Debian 12's
 * qemu-guest-agent, and later), so the job writes its stdout and stderr,
 * in order, to DIR/.rain-output and each poll (POLL_MS) reads what was
 * added there (guest-file-seek to where the last read ended, then
 * guest-file-read: after an end of file a stdio stream reads nothing more
 * until it is seeked). The job runs in a session of its own (setsid, when
 * the image has it), so that a walltime or a cancel kills all of it
 * (kill -s KILL -- -PID).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/provision/provision-internal.h"
#include "lib/provision/qga.h"
#include "rain/error.h"
#include "rain/sys/provider.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

#define POLL_MS 300
#define CMD_TIMEOUT_S 30        /* one agent command */
#define PING_TIMEOUT_S 5
#define SCRIPT_MAX (4u << 20)   /* a job script goes in as guest-exec's input */
#define LINE_MAX_LEN 65536      /* longer lines are passed on in pieces */
#define SEND_TRIES 5            /* an agent that does not answer, in a row */
#define OUTPUT_NAME ".rain-output"

static const char *const job_env[] = {
	"HOME=/root", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C.UTF-8", NULL,
};

static const char *inst_name(const struct rain_run_op *op, size_t i)
{
	const char *n = json_string_value(json_object_get(rain_run_instance(op, i), "name"));

	return n ? n : "?";
}

/* The job's folder on instance i: its "agent" "dir", else RUN_AGENT_JOB_DIR. */
static const char *job_dir(const struct rain_run_op *op, size_t i)
{
	json_t *agent = json_object_get(rain_run_instance(op, i), "agent");
	const char *d = json_string_value(json_object_get(agent, "dir"));

	return d && d[0] == '/' ? d : RUN_AGENT_JOB_DIR;
}

/* Send cmd (a new string, freed here; NULL: out of memory) to instance i. */
static int send_cmd(struct rain_run_op *op, size_t i, run_agent_send_fn send, char *cmd,
		    int timeout_s, char **reply)
{
	int r;

	*reply = NULL;
	if (!cmd)
		return rain_error_oom();
	r = send(op, i, cmd, timeout_s, reply);
	free(cmd);
	return r;
}

/* ---- ready ------------------------------------------------------------------- */

int run_agent_ready(struct rain_run_op *op, const struct rain_provider_driver *drv, size_t i,
		    run_agent_send_fn send)
{
	const char *name = inst_name(op, i);
	int timeout = op->ready_timeout_s > 0 ? op->ready_timeout_s : 600;
	int64_t deadline = time_mono_us() + (int64_t)timeout * 1000000;
	char last[512] = "", msg[800];
	int r;

	for (;;) {
		_cleanup_free_ char *reply = NULL;

		if ((r = rain_run_check_cancel(op)) < 0)
			return r;
		if (drv->alive && (r = drv->alive(op, i)) < 0) {
			snprintf(msg, sizeof(msg), "%s stopped before it was ready: %s", name,
				 rain_error_last());
			return run_fail_with_console(op, i, r, msg);
		}
		r = send(op, i, QGA_CMD_PING, PING_TIMEOUT_S, &reply);
		if (r == 0)
			r = qga_parse_ok(reply, "guest-ping");
		if (r == 0)
			return 0;
		snprintf(last, sizeof(last), "%s", rain_error_last());
		if (time_mono_us() > deadline) {
			snprintf(msg, sizeof(msg), "%s: its guest agent did not answer within %d s (the "
				 "run's ready timeout; does the image have qemu-guest-agent?): %s",
				 name, timeout, last);
			return run_fail_with_console(op, i, RAIN_ETIMEDOUT, msg);
		}
		if ((r = run_sleep(op, 500)) < 0)
			return r;
	}
}

/* ---- running programs ---------------------------------------------------------- */

/* Start path args... on instance i (input as its stdin, may be NULL). */
static int agent_spawn(struct rain_run_op *op, size_t i, run_agent_send_fn send,
		       const char *const *args, const void *input, size_t input_len, int64_t *pid)
{
	_cleanup_free_ char *reply = NULL;
	int r = send_cmd(op, i, send, qga_cmd_exec("/bin/sh", args, job_env, input, input_len, true),
			 CMD_TIMEOUT_S, &reply);

	return r < 0 ? r : qga_parse_exec(reply, pid);
}

/* Run a short program of rain's on instance i to its end: 0 when it
 * exited 0, else RAIN_EIO with its output (what) . */
static int agent_run(struct rain_run_op *op, size_t i, run_agent_send_fn send,
		     const char *const *args, const void *input, size_t input_len, const char *what)
{
	int64_t pid, deadline = time_mono_us() + (int64_t)CMD_TIMEOUT_S * 4 * 1000000;
	int r = agent_spawn(op, i, send, args, input, input_len, &pid);

	while (r == 0) {
		_cleanup_free_ char *reply = NULL;
		struct qga_exec_status st;

		r = send_cmd(op, i, send, qga_cmd_exec_status(pid), CMD_TIMEOUT_S, &reply);
		if (r == 0)
			r = qga_parse_exec_status(reply, &st);
		if (r < 0)
			break;
		if (st.exited) {
			int status = qga_exit_status(&st);
			const unsigned char *o = st.err_len ? st.err : st.out;
			size_t n = st.err_len ? st.err_len : st.out_len;
			char text[300] = "";

			for (size_t k = 0; k < n && k + 1 < sizeof(text); k++)
				text[k] = (o[k] >= 0x20 && o[k] < 0x7f) ? (char)o[k] : ' ';
			qga_exec_status_clear(&st);
			if (status == 0)
				return 0;
			return rain_error_set(RAIN_EIO, "%s: cannot %s: status %d%s%s", inst_name(op, i),
					      what, status, *text ? ": " : "", text);
		}
		qga_exec_status_clear(&st);
		if (time_mono_us() > deadline)
			return rain_error_set(RAIN_ETIMEDOUT, "%s: cannot %s: it did not end within "
					      "%d s", inst_name(op, i), what, CMD_TIMEOUT_S * 4);
		r = run_sleep(op, 100);
	}
	return rain_error_set(r, "%s: cannot %s: %s", inst_name(op, i), what, rain_error_last());
}

int run_agent_sh(struct rain_run_op *op, size_t i, run_agent_send_fn send, const char *script,
		 const char *const *args, const char *what)
{
	const char *v[16] = { "-c", script, "sh" };
	size_t n = 3;

	for (size_t k = 0; args && args[k]; k++) {
		if (n + 1 >= sizeof(v) / sizeof(v[0]))
			return rain_error_set(RAIN_EINVAL, "too many words for %s", what);
		v[n++] = args[k];
	}
	v[n] = NULL;
	return agent_run(op, i, send, v, NULL, 0, what);
}

/* ---- the job --------------------------------------------------------------------- */

struct agent_job {
	size_t i;
	int64_t pid;
	int64_t handle;         /* DIR/.rain-output, open for reading; -1: none */
	int64_t offset;         /* read so far */
	char *line;             /* the output's unfinished line */
	size_t len, cap;
	bool done;
	int status;
	int fails;              /* agent commands failed in a row */
};

static void job_line(const struct rain_run_job *job, struct agent_job *a)
{
	if (job->output) {
		a->line[a->len] = '\0';
		job->output(job->ud, a->i, a->line, a->len);
	}
	a->len = 0;
}

/* Pass buf on line by line; the end of a line that has none yet waits. */
static int job_output(const struct rain_run_job *job, struct agent_job *a, const unsigned char *buf,
		      size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (buf[k] == '\n') {
			job_line(job, a);
			continue;
		}
		if (a->len + 1 >= a->cap) {
			size_t cap = a->cap ? a->cap * 2 : 256;
			char *l = realloc(a->line, cap);

			if (!l)
				return rain_error_oom();
			a->line = l;
			a->cap = cap;
		}
		a->line[a->len++] = (char)buf[k];
		if (a->len >= LINE_MAX_LEN)
			job_line(job, a);
	}
	return 0;
}

/* Read what the job added to its output since the last time. */
static int job_read(struct rain_run_op *op, const struct rain_run_job *job, run_agent_send_fn send,
		    struct agent_job *a)
{
	for (;;) {
		_cleanup_free_ char *reply = NULL;
		_cleanup_free_ unsigned char *buf = NULL;
		size_t n;
		bool eof;
		int r;

		r = send_cmd(op, a->i, send, qga_cmd_file_seek(a->handle, a->offset), CMD_TIMEOUT_S,
			     &reply);
		if (r == 0)
			r = qga_parse_ok(reply, "guest-file-seek");
		free(reply);
		reply = NULL;
		if (r == 0)
			r = send_cmd(op, a->i, send, qga_cmd_file_read(a->handle, QGA_READ_CHUNK),
				     CMD_TIMEOUT_S, &reply);
		if (r == 0)
			r = qga_parse_file_read(reply, &buf, &n, &eof);
		if (r == 0)
			r = job_output(job, a, buf, n);
		if (r < 0)
			return r;
		a->offset += (int64_t)n;
		if (n < QGA_READ_CHUNK)
			return 0;
	}
}

/* Kill what is left of instance i's job (its session), best effort. */
static void job_kill(struct rain_run_op *op, run_agent_send_fn send, struct agent_job *a)
{
	char pid[32];
	const char *args[] = {
		"-c", "kill -s KILL -- -\"$1\" 2>/dev/null || kill -s KILL \"$1\"", "sh", pid, NULL,
	};
	_cleanup_free_ char *reply = NULL;
	int64_t ignored;

	if (a->done || a->pid <= 0)
		return;
	snprintf(pid, sizeof(pid), "%lld", (long long)a->pid);
	if (send_cmd(op, a->i, send, qga_cmd_exec("/bin/sh", args, job_env, NULL, 0, false),
		     CMD_TIMEOUT_S, &reply) == 0)
		(void)qga_parse_exec(reply, &ignored);
}

/* Prepare the job's folder (and its script) on instance a->i and start it. */
static int job_start(struct rain_run_op *op, const struct rain_run_job *job, run_agent_send_fn send,
		     const char *script, size_t script_len, struct agent_job *a)
{
	const char *dir = job_dir(op, a->i);
	_cleanup_free_ char *out = fs_path_join(dir, OUTPUT_NAME), *reply = NULL;
	_cleanup_free_ const char **args = NULL;
	const char *prep[] = {
		"-c", script ? "mkdir -p -- \"$1\" && : > \"$1/" OUTPUT_NAME "\" && cat > \"$1/job\" && "
			       "chmod 0755 \"$1/job\"" :
			       "mkdir -p -- \"$1\" && : > \"$1/" OUTPUT_NAME "\"",
		"sh", dir, NULL,
	};
	size_t n = 0, k = 0;
	int r;

	if (!out)
		return rain_error_oom();
	r = agent_run(op, a->i, send, prep, script, script_len,
		      script ? "copy the job script in" : "make the job's folder");
	if (r < 0)
		return r;
	r = send_cmd(op, a->i, send, qga_cmd_file_open(out, "r"), CMD_TIMEOUT_S, &reply);
	if (r == 0)
		r = qga_parse_file_open(reply, &a->handle);
	if (r < 0)
		return rain_error_set(r, "%s: cannot read the job's output %s: %s", inst_name(op, a->i),
				      out, rain_error_last());
	/* sh -c TEXT sh DIR WORD...: in DIR, in a session of its own, its
	 * output (both streams, in order) to DIR/.rain-output */
	for (; !script && job->argv[n]; n++)
		;
	args = calloc(n + 6, sizeof(*args));
	if (!args)
		return rain_error_oom();
	args[k++] = "-c";
	args[k++] = "cd -- \"$1\" || exit 125; shift; "
		    "exec >>" OUTPUT_NAME " 2>&1 </dev/null; "
		    "if command -v setsid >/dev/null; then exec setsid \"$@\"; fi; exec \"$@\"";
	args[k++] = "sh";
	args[k++] = dir;
	if (script)
		args[k++] = "./job";
	for (size_t w = 0; w < n; w++)
		args[k++] = job->argv[w];
	args[k] = NULL;
	free(reply);
	reply = NULL;
	r = send_cmd(op, a->i, send, qga_cmd_exec("/bin/sh", args, job_env, NULL, 0, false),
		     CMD_TIMEOUT_S, &reply);
	if (r == 0)
		r = qga_parse_exec(reply, &a->pid);
	if (r < 0)
		return rain_error_set(r, "%s: cannot start the job: %s", inst_name(op, a->i),
				      rain_error_last());
	return 0;
}

/* One poll of instance a->i's job: its new output, whether it ended. */
static int job_poll(struct rain_run_op *op, const struct rain_run_job *job, run_agent_send_fn send,
		    struct agent_job *a)
{
	_cleanup_free_ char *reply = NULL;
	struct qga_exec_status st;
	int r;

	r = send_cmd(op, a->i, send, qga_cmd_exec_status(a->pid), CMD_TIMEOUT_S, &reply);
	if (r == 0)
		r = qga_parse_exec_status(reply, &st);
	if (r < 0)
		return r;
	/* read after the status: once it has ended, all it wrote is there */
	r = job_read(op, job, send, a);
	if (r == 0 && st.exited) {
		if (a->len)
			job_line(job, a);
		a->status = qga_exit_status(&st);
		a->done = true;
	}
	qga_exec_status_clear(&st);
	return r;
}

/* A failed agent command during the job: lost (the domain gone), or
 * one more failure in a row (the agent busy or slow under load). */
static int job_trouble(struct rain_run_op *op, const struct rain_provider_driver *drv,
		       struct agent_job *a, int r)
{
	char msg[900];

	if (r == RAIN_ECANCELED || r == RAIN_ENOMEM)
		return r;
	snprintf(msg, sizeof(msg), "%s", rain_error_last());
	if (drv->alive && drv->alive(op, a->i) < 0) {
		char lost[1200];

		snprintf(lost, sizeof(lost), "%s was lost during the job: %s", inst_name(op, a->i),
			 rain_error_last());
		return run_fail_with_console(op, a->i, RAIN_EIO, lost);
	}
	if (r == RAIN_EFORMAT || ++a->fails >= SEND_TRIES)
		return rain_error_set(RAIN_EIO, "%s: its guest agent fails during the job: %s",
				      inst_name(op, a->i), msg);
	return 0;
}

static int read_script(const char *path, char **data, size_t *len)
{
	int r = fs_read_small(path, SCRIPT_MAX, data, len);

	if (r == RAIN_ETOOBIG)
		return rain_error_set(r, "the job script %s is over %u bytes: runs reached by agent "
				      "take it as the job's input; copy larger files in the job", path,
				      SCRIPT_MAX);
	return r;
}

int run_agent_exec(struct rain_run_op *op, const struct rain_provider_driver *drv,
		   const struct rain_run_job *job, run_agent_send_fn send, int *status)
{
	size_t n = job->each ? rain_run_instance_count(op) : 1, left = 0;
	_cleanup_free_ struct agent_job *all = calloc(n, sizeof(*all));
	_cleanup_free_ char *script = NULL;
	size_t script_len = 0;
	int64_t deadline = job->walltime_s > 0 ?
			   time_mono_us() + (int64_t)job->walltime_s * 1000000 : 0;
	char msg[1200];
	int r = 0;

	*status = -1;
	if (!all)
		return rain_error_oom();
	for (size_t i = 0; i < n; i++)
		all[i] = (struct agent_job){ .i = i, .handle = -1 };
	if (job->script)
		r = read_script(job->script, &script, &script_len);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = job_start(op, job, send, script, script_len, &all[i]);
		if (r == 0)
			left++;
	}
	while (r == 0 && left) {
		r = run_sleep(op, POLL_MS);
		for (size_t i = 0; r == 0 && i < n; i++) {
			if (all[i].done)
				continue;
			r = job_poll(op, job, send, &all[i]);
			if (r < 0) {
				r = job_trouble(op, drv, &all[i], r);
				continue;
			}
			all[i].fails = 0;
			if (all[i].done)
				left--;
		}
		if (r == 0 && deadline && left && time_mono_us() > deadline) {
			size_t k = 0;

			while (all[k].done)
				k++;
			*status = RAIN_RUN_EXIT_TIMEOUT;
			r = rain_error_set(RAIN_ETIMEDOUT, "the job did not end within its time limit "
					   "(%d s) on %s", job->walltime_s, inst_name(op, k));
		}
	}
	if (r == RAIN_ECANCELED || (op->cancel && *op->cancel)) {
		r = rain_run_check_cancel(op);
		if (r == 0)
			r = rain_error_set(RAIN_ECANCELED, "the run was canceled");
	}
	/* walltime, cancel, a failure: nothing of the job stays running (the
	 * message is the failure's, whatever the cleanup says) */
	if (r < 0)
		snprintf(msg, sizeof(msg), "%s", rain_error_last());
	for (size_t i = 0; r < 0 && i < n; i++)
		job_kill(op, send, &all[i]);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *reply = NULL;

		if (all[i].handle >= 0 &&
		    send_cmd(op, i, send, qga_cmd_file_close(all[i].handle), CMD_TIMEOUT_S, &reply) == 0)
			(void)qga_parse_ok(reply, "guest-file-close");
		free(all[i].line);
	}
	if (r < 0)
		return rain_error_set(r, "%s", msg);
	for (size_t i = 0; i < n; i++)
		if (all[i].status != 0 && *status <= 0)
			*status = all[i].status;
	if (*status < 0)
		*status = 0;
	return 0;
}

/* ---- result files ------------------------------------------------------------------ */

/* Copy remote (a path on instance i) into local; RAIN_ENOTFOUND when the
 * agent cannot open it. */
static int fetch_one(struct rain_run_op *op, size_t i, run_agent_send_fn send, const char *remote,
		     const char *local)
{
	_cleanup_free_ char *reply = NULL;
	_cleanup_close_ int fd = -1;
	int64_t handle;
	bool eof = false;
	int r;

	r = send_cmd(op, i, send, qga_cmd_file_open(remote, "r"), CMD_TIMEOUT_S, &reply);
	if (r == 0)
		r = qga_parse_file_open(reply, &handle);
	if (r < 0)
		return rain_error_set(RAIN_ENOTFOUND, "%s", rain_error_last());
	(void)unlink(local);
	fd = open(local, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot make %s", local);
	while (r == 0 && !eof) {
		_cleanup_free_ unsigned char *buf = NULL;
		size_t n;

		free(reply);
		reply = NULL;
		r = rain_run_check_cancel(op);
		if (r == 0)
			r = send_cmd(op, i, send, qga_cmd_file_read(handle, QGA_READ_CHUNK), CMD_TIMEOUT_S,
				     &reply);
		if (r == 0)
			r = qga_parse_file_read(reply, &buf, &n, &eof);
		if (r == 0)
			r = fs_write_all(fd, buf, n, local);
		if (r == 0 && n == 0)
			eof = true;
	}
	free(reply);
	reply = NULL;
	if (send_cmd(op, i, send, qga_cmd_file_close(handle), CMD_TIMEOUT_S, &reply) == 0)
		(void)qga_parse_ok(reply, "guest-file-close");
	if (r < 0 && fd >= 0)
		(void)unlink(local);
	return r;
}

int run_agent_fetch(struct rain_run_op *op, const char *const *paths, bool each, const char *dir,
		    run_agent_send_fn send)
{
	size_t n = each ? rain_run_instance_count(op) : 1;
	char missing[1024] = "";
	size_t mlen = 0;

	for (size_t i = 0; i < n; i++) {
		const char *name = inst_name(op, i);
		_cleanup_free_ char *into = each ? fs_path_join(dir, name) : strdup(dir);

		if (!into)
			return rain_error_oom();
		if (each && !fs_name_is_safe(name))
			return rain_error_set(RAIN_EINVAL, "instance name '%s' cannot be a folder name",
					      name);
		if (fs_mkdir_p(into, 0700) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot make %s", into);
		for (size_t k = 0; paths[k]; k++) {
			const char *base = strrchr(paths[k], '/') ? strrchr(paths[k], '/') + 1 : paths[k];
			_cleanup_free_ char *local = fs_path_join(into, base);
			_cleanup_free_ char *remote = paths[k][0] == '/' ? strdup(paths[k]) :
						      fs_path_join(job_dir(op, i), paths[k]);
			int r;

			if (!local || !remote)
				return rain_error_oom();
			r = fetch_one(op, i, send, remote, local);
			if (r == RAIN_ENOTFOUND) {
				mlen += (size_t)snprintf(missing + mlen, mlen < sizeof(missing) ?
							 sizeof(missing) - mlen : 0, "%s%s of %s (%s)",
							 mlen ? "; " : "", paths[k], name,
							 rain_error_last());
				if (mlen >= sizeof(missing))
					mlen = sizeof(missing) - 1;
			} else if (r < 0) {
				return r;
			} else {
				rain_run_log(op, RAIN_TARGET_INFO, "fetched %s from %s", paths[k], name);
			}
		}
	}
	if (mlen)
		return rain_error_set(RAIN_ENOTFOUND, "cannot fetch %s", missing);
	return 0;
}
