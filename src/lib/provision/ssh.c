/* Reaching instances by ssh with the run's key (provision-internal.h):
 * the readiness wait, the job, result files. Every program gets an
 * argument vector; the one string is the remote command, which ssh hands
 * to the instance's shell, so each word of it is quoted here.
 *
 * Host keys: the instances' are new (sysprep removed the image's), so the
 * first one seen is taken (accept-new) into the run's own known_hosts in
 * op->workdir; a key that changes later in the run is refused. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/provision/provision-internal.h"
#include "rain/error.h"
#include "rain/sys/provider.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define CONSOLE_TAIL 1024
#define TRY_TIMEOUT_S 30        /* one `ssh true` while waiting */
#define SSH_ARGS_MAX 40

/* ---- the remote command ---------------------------------------------------- */

char *run_shell_quote(const char *s)
{
	size_t n = 3;
	char *q, *p;

	for (const char *c = s; *c; c++)
		n += *c == '\'' ? 4 : 1;
	q = p = malloc(n);
	if (!q)
		return NULL;
	*p++ = '\'';
	for (const char *c = s; *c; c++) {
		if (*c == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *c;
		}
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}

/* Append a space (after the first word) and s, quoted when quote. */
static int put_word(char **buf, size_t *len, const char *s, bool quote)
{
	_cleanup_free_ char *q = quote ? run_shell_quote(s) : NULL;
	const char *w = quote ? q : s;
	size_t n;
	char *b;

	if (!w)
		return rain_error_oom();
	n = strlen(w);
	b = realloc(*buf, *len + n + 2);
	if (!b)
		return rain_error_oom();
	*buf = b;
	if (*len)
		b[(*len)++] = ' ';
	memcpy(b + *len, w, n + 1);
	*len += n;
	return 0;
}

char *run_ssh_command(const char *const *argv, bool script, const char *dir)
{
	/* mkdir -p 'DIR' && cd 'DIR' && exec 'WORD'... (NULL: the folder) */
	static const char *const glue[] = { "mkdir -p", NULL, "&& cd", NULL, "&& exec" };
	char *buf = NULL;
	size_t len = 0;
	int r = 0;

	for (size_t i = 0; r == 0 && i < sizeof(glue) / sizeof(glue[0]); i++)
		r = glue[i] ? put_word(&buf, &len, glue[i], false) :
		    put_word(&buf, &len, dir ? dir : RUN_JOB_DIR, true);
	if (script && r == 0)
		r = put_word(&buf, &len, "./job", true);
	for (size_t i = 0; !script && r == 0 && argv && argv[i]; i++)
		r = put_word(&buf, &len, argv[i], true);
	if (r < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The job's folder on instance i: its "ssh" "dir", else ~/RUN_JOB_DIR. */
static const char *job_dir(const struct rain_run_op *op, size_t i)
{
	const char *d = json_string_value(json_object_get(json_object_get(rain_run_instance(op, i), "ssh"),
							  "dir"));

	return d && *d ? d : RUN_JOB_DIR;
}

/* ---- ssh's arguments --------------------------------------------------------- */

struct ssh_args {
	const char *argv[SSH_ARGS_MAX];
	size_t n;
	char known[4096], port[16], dest[512], control[128];
};

/* One ssh connection per instance, shared: the readiness test's login
 * stays open as a master (ControlPersist) and the job and its files go
 * through it, so a slow guest does one key exchange, not three. Its
 * socket is in the run's folder (when the path fits a socket's name);
 * run_ssh_close ends it. */
#define CONTROL_PERSIST "ControlPersist=120"


static void add(struct ssh_args *s, const char *a)
{
	if (s->n < SSH_ARGS_MAX - 1)
		s->argv[s->n++] = a;
	s->argv[s->n] = NULL;
}

/* ssh (or scp: port flag -P) to instance i: the options, and for ssh the
 * destination. */
static int ssh_args_init(struct ssh_args *s, const struct rain_run_op *op, size_t i, bool scp)
{
	json_t *inst = rain_run_instance(op, i), *ssh = json_object_get(inst, "ssh");
	const char *name = json_string_value(json_object_get(inst, "name"));
	const char *host = json_string_value(json_object_get(ssh, "host"));
	const char *user = json_string_value(json_object_get(ssh, "user"));
	json_int_t port = json_integer_value(json_object_get(ssh, "port"));

	memset(s, 0, sizeof(*s));
	if (!host || !*host || host[0] == '-' || strpbrk(host, " \t\n@/") || port < 0 || port > 65535 ||
	    (user && (!*user || user[0] == '-' || strpbrk(user, " \t\n@:/"))))
		return rain_error_set(RAIN_EINVAL, "instance %s has no usable ssh address in the run's "
				      "state", name ? name : "?");
	if (!op->key_private || !op->workdir)
		return rain_error_set(RAIN_EINVAL, "the run has no key pair to reach %s", name);
	snprintf(s->known, sizeof(s->known), "UserKnownHostsFile=%s/known_hosts", op->workdir);
	snprintf(s->port, sizeof(s->port), "%d", port ? (int)port : 22);
	add(s, scp ? "scp" : "ssh");
	if (scp) {
		add(s, "-s");   /* SFTP: the remote path is a path, not shell text */
		add(s, "-q");
	} else {
		add(s, "-T");
	}
	add(s, "-i");
	add(s, op->key_private);
	add(s, "-F");
	add(s, "/dev/null");    /* no user or system ssh_config */
	add(s, "-o"); add(s, "BatchMode=yes");
	add(s, "-o"); add(s, "IdentitiesOnly=yes");
	add(s, "-o"); add(s, "StrictHostKeyChecking=accept-new");
	add(s, "-o"); add(s, s->known);
	add(s, "-o"); add(s, "GlobalKnownHostsFile=/dev/null");
	add(s, "-o"); add(s, "ConnectTimeout=10");
	add(s, "-o"); add(s, "ServerAliveInterval=10");
	add(s, "-o"); add(s, "ServerAliveCountMax=6");
	add(s, "-o"); add(s, "LogLevel=ERROR");
	if (strlen(op->workdir) + sizeof("ControlPath=/cm-") + 40 < sizeof(s->control) &&
	    strlen(op->workdir) + sizeof("/cm-") + 40 < 100) {      /* sun_path: 108 */
		snprintf(s->control, sizeof(s->control), "ControlPath=%s/cm-%%C", op->workdir);
		add(s, "-o"); add(s, "ControlMaster=auto");
		add(s, "-o"); add(s, s->control);
		add(s, "-o"); add(s, CONTROL_PERSIST);
	}
	add(s, scp ? "-P" : "-p");
	add(s, s->port);
	snprintf(s->dest, sizeof(s->dest), strchr(host, ':') ? "%s%s[%s]" : "%s%s%s", user ? user : "root",
		 "@", host);
	if (!scp) {
		add(s, s->dest);
		add(s, "--");
	}
	return 0;
}

void run_ssh_close(struct rain_run_op *op)
{
	for (size_t i = 0; i < rain_run_instance_count(op); i++) {
		struct ssh_args s;
		int status;

		if (ssh_args_init(&s, op, i, false) < 0 || !s.control[0])
			continue;
		/* ssh ... -O exit DEST: the options, then the destination */
		s.argv[s.n - 2] = "-O";
		s.argv[s.n - 1] = "exit";
		add(&s, s.dest);
		{
			struct process_opts o = { .argv = s.argv, .stdin_fd = -1, .timeout_s = 10 };

			(void)process_run(&o, &status);
		}
	}
}

/* ---- ready ------------------------------------------------------------------- */

/* Whether an sshd answers at host:port with its banner ("SSH-"), within
 * about two seconds: cheap enough to ask four times a second while a
 * guest boots, where a whole ssh login costs a key exchange. */
static bool sshd_banner(const char *host, int port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
	char service[16], buf[8];
	struct pollfd pfd;
	bool ok = false;
	int fd = -1, err = 0;
	socklen_t len = sizeof(err);
	size_t got = 0;

	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(host, service, &hints, &ai) != 0 || !ai)
		return false;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto done;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
		goto done;
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, 2000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		goto done;
	while (got < 4) {
		ssize_t n;

		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 2000) != 1)
			goto done;
		n = read(fd, buf + got, 4 - got);
		if (n <= 0)
			goto done;
		got += (size_t)n;
	}
	ok = memcmp(buf, "SSH-", 4) == 0;
done:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return ok;
}

static void keep_line(void *ud, const char *line)
{
	snprintf(ud, 256, "%s", line);
}

int run_fail_with_console(struct rain_run_op *op, size_t i, int code, const char *msg)
{
	_cleanup_free_ char *tail = run_console_tail(op, i, CONSOLE_TAIL);

	if (tail && *tail)
		return rain_error_set(code, "%s; the last lines of its console:\n%s", msg, tail);
	return rain_error_set(code, "%s", msg);
}

int run_sleep(struct rain_run_op *op, int ms)
{
	for (int k = 0; k < ms / 50; k++) {
		int r = rain_run_check_cancel(op);

		if (r < 0)
			return r;
		usleep(50 * 1000);
	}
	return rain_run_check_cancel(op);
}

int run_ssh_ready(struct rain_run_op *op, const struct rain_provider_driver *drv, size_t i)
{
	const char *name = json_string_value(json_object_get(rain_run_instance(op, i), "name"));
	int timeout = op->ready_timeout_s > 0 ? op->ready_timeout_s : 600;
	int64_t deadline = time_mono_us() + (int64_t)timeout * 1000000;
	json_t *ssh = json_object_get(rain_run_instance(op, i), "ssh");
	const char *host = json_string_value(json_object_get(ssh, "host"));
	int port = (int)json_integer_value(json_object_get(ssh, "port"));
	struct ssh_args s;
	char last[256] = "";
	int r, status;

	if ((r = ssh_args_init(&s, op, i, false)) < 0)
		return r;
	add(&s, "true");
	for (;;) {
		struct process_opts o = {
			.argv = s.argv, .stdin_fd = -1, .timeout_s = TRY_TIMEOUT_S, .cancel = op->cancel,
			.on_line = keep_line, .ud = last, .end_with_program = true,
		};
		char msg[512];

		if ((r = rain_run_check_cancel(op)) < 0)
			return r;
		if (drv->alive && (r = drv->alive(op, i)) < 0) {
			snprintf(msg, sizeof(msg), "%s stopped before it was ready: %s", name,
				 rain_error_last());
			return run_fail_with_console(op, i, r, msg);
		}
		/* no sshd yet: ask again soon, without a login */
		if (!sshd_banner(host, port ? port : 22)) {
			snprintf(last, sizeof(last), "no sshd answers at %s port %d", host, port ? port : 22);
			r = status = -1;
		} else {
			r = process_run(&o, &status);
		}
		if (r == RAIN_ECANCELED && op->cancel && *op->cancel)
			return rain_run_check_cancel(op);
		if (r == RAIN_ENOTFOUND)
			return rain_error_set(r, "cannot run ssh: %s (install openssh-client)",
					      rain_error_last());
		if (r == 0 && status == 0)
			return 0;
		if (time_mono_us() > deadline) {
			snprintf(msg, sizeof(msg), "%s did not answer ssh within %d s (the run's ready "
				 "timeout)%s%s", name, timeout, *last ? ": " : "", last);
			return run_fail_with_console(op, i, RAIN_ETIMEDOUT, msg);
		}
		if ((r = run_sleep(op, 250)) < 0)
			return r;
	}
}

/* ---- rain's own commands ---------------------------------------------------- */

int run_ssh_sh(struct rain_run_op *op, size_t i, const char *script, const char *const *args,
	       const char *what)
{
	char *cmd = NULL;
	size_t len = 0;
	struct ssh_args s;
	char last[256] = "";
	int r, status;

	r = ssh_args_init(&s, op, i, false);
	if (r == 0)
		r = put_word(&cmd, &len, "sh -c", false);
	if (r == 0)
		r = put_word(&cmd, &len, script, true);
	if (r == 0)
		r = put_word(&cmd, &len, "sh", false);
	for (size_t k = 0; r == 0 && args && args[k]; k++)
		r = put_word(&cmd, &len, args[k], true);
	if (r == 0) {
		struct process_opts o = {
			.argv = (add(&s, cmd), s.argv), .stdin_fd = -1, .timeout_s = 120,
			.cancel = op->cancel, .on_line = keep_line, .ud = last,
		};

		r = process_run(&o, &status);
		if (r == 0 && status)
			r = rain_error_set(RAIN_EIO, "%s: cannot %s: status %d%s%s",
					   json_string_value(json_object_get(rain_run_instance(op, i),
									     "name")),
					   what, status, *last ? ": " : "", last);
	}
	free(cmd);
	return r;
}

/* ---- the job ----------------------------------------------------------------- */

struct exec_shared {
	struct rain_run_op *op;
	const struct rain_provider_driver *drv;
	const struct rain_run_job *job;
	pthread_mutex_t lock;
};

struct exec_one {
	struct exec_shared *sh;
	size_t i;
	int r, status;
	char err[512];
};

static void exec_line(void *ud, const char *line)
{
	struct exec_one *e = ud;
	const struct rain_run_job *job = e->sh->job;

	if (!job->output)
		return;
	pthread_mutex_lock(&e->sh->lock);
	job->output(job->ud, e->i, line, strlen(line));
	pthread_mutex_unlock(&e->sh->lock);
}

/* Copy the job script into the instance's job folder as ./job. */
static int copy_script(struct rain_run_op *op, size_t i, const char *script)
{
	_cleanup_close_ int fd = open(script, O_RDONLY | O_CLOEXEC);
	struct ssh_args s;
	char last[256] = "";
	int r, status;

	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open the job script %s", script);
	_cleanup_free_ char *cmd = NULL, *q = run_shell_quote(job_dir(op, i));

	if ((r = ssh_args_init(&s, op, i, false)) < 0)
		return r;
	if (!q || asprintf(&cmd, "mkdir -p %s && cat > %s/job && chmod 0755 %s/job", q, q, q) < 0)
		return rain_error_oom();
	add(&s, cmd);
	{
		struct process_opts o = {
			.argv = s.argv, .stdin_fd = fd, .timeout_s = 300, .cancel = op->cancel,
			.on_line = keep_line, .ud = last,
		};

		r = process_run(&o, &status);
	}
	if (r < 0)
		return r;
	if (status)
		return rain_error_set(RAIN_EIO, "cannot copy the job script into %s: %s",
				      json_string_value(json_object_get(rain_run_instance(op, i), "name")),
				      *last ? last : "ssh failed");
	return 0;
}

static void *exec_thread(void *arg)
{
	struct exec_one *e = arg;
	struct rain_run_op *op = e->sh->op;
	const struct rain_run_job *job = e->sh->job;
	_cleanup_free_ char *cmd = NULL;
	struct ssh_args s;

	e->status = -1;
	e->r = ssh_args_init(&s, op, e->i, false);
	if (e->r == 0 && job->script)
		e->r = copy_script(op, e->i, job->script);
	if (e->r == 0 && !(cmd = run_ssh_command(job->argv, job->script != NULL, job_dir(op, e->i))))
		e->r = rain_error_oom();
	if (e->r == 0) {
		struct process_opts o = {
			.argv = (add(&s, cmd), s.argv), .stdin_fd = -1, .timeout_s = job->walltime_s,
			.cancel = op->cancel, .on_line = exec_line, .ud = e,
		};

		e->r = process_run(&o, &e->status);
	}
	if (e->r < 0)
		snprintf(e->err, sizeof(e->err), "%s", rain_error_last());
	return NULL;
}

/* Whether instance i is gone after ssh failed (255): the provider is
 * asked for LOST_CHECKS * LOST_WAIT_US, since ssh can see the connection
 * drop before the site records the instance's end (a destroyed domain). */
#define LOST_CHECKS 12
#define LOST_WAIT_US (250 * 1000)
static bool instance_lost(struct rain_run_op *op, const struct rain_provider_driver *drv, size_t i)
{
	for (int k = 0; k < LOST_CHECKS; k++) {
		if (drv->alive(op, i) < 0)
			return true;
		usleep(LOST_WAIT_US);
	}
	return false;
}

int run_ssh_exec(struct rain_run_op *op, const struct rain_provider_driver *drv,
		 const struct rain_run_job *job, int *status)
{
	size_t n = job->each ? rain_run_instance_count(op) : 1;
	struct exec_shared sh = { .op = op, .drv = drv, .job = job, .lock = PTHREAD_MUTEX_INITIALIZER };
	_cleanup_free_ struct exec_one *all = calloc(n, sizeof(*all));
	_cleanup_free_ pthread_t *th = calloc(n, sizeof(*th));
	size_t started = 0;
	int r = 0;

	*status = -1;
	if (!all || !th)
		return rain_error_oom();
	for (size_t i = 0; i < n; i++) {
		all[i] = (struct exec_one){ .sh = &sh, .i = i };
		if (pthread_create(&th[i], NULL, exec_thread, &all[i]) != 0) {
			r = rain_error_set(RAIN_EIO, "cannot start a thread for instance %zu", i);
			break;
		}
		started++;
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (r < 0)
		return r;
	if (op->cancel && *op->cancel)
		return rain_run_check_cancel(op);
	for (size_t i = 0; i < n; i++) {
		const char *name = json_string_value(json_object_get(rain_run_instance(op, i), "name"));

		if (all[i].r == RAIN_ECANCELED) {
			*status = RAIN_RUN_EXIT_TIMEOUT;
			return rain_error_set(RAIN_ETIMEDOUT, "the job did not end within its time limit "
					      "(%d s) on %s", job->walltime_s, name);
		}
		if (all[i].r < 0)
			return rain_error_set(all[i].r, "%s: %s", name, all[i].err);
		/* ssh's own failure; a job's exit status 255 looks the same */
		if (all[i].status == 255 && drv->alive && instance_lost(op, drv, i)) {
			char msg[768];

			snprintf(msg, sizeof(msg), "%s was lost during the job: %s", name, rain_error_last());
			return run_fail_with_console(op, i, RAIN_EIO, msg);
		}
		if (all[i].status != 0 && *status <= 0)
			*status = all[i].status;
	}
	if (*status < 0)
		*status = 0;
	return 0;
}

/* ---- result files ---------------------------------------------------------- */

int run_ssh_fetch(struct rain_run_op *op, const char *const *paths, bool each, const char *dir)
{
	size_t n = each ? rain_run_instance_count(op) : 1;
	char missing[1024] = "";
	size_t mlen = 0;

	for (size_t i = 0; i < n; i++) {
		const char *name = json_string_value(json_object_get(rain_run_instance(op, i), "name"));
		_cleanup_free_ char *into = each ? fs_path_join(dir, name ? name : "") : strdup(dir);
		int r;

		if (!into)
			return rain_error_oom();
		if (each && (!name || !fs_name_is_safe(name)))
			return rain_error_set(RAIN_EINVAL, "instance name '%s' cannot be a folder name",
					      name ? name : "");
		if (fs_mkdir_p(into, 0700) < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot make %s", into);
		for (size_t k = 0; paths[k]; k++) {
			const char *base = strrchr(paths[k], '/') ? strrchr(paths[k], '/') + 1 : paths[k];
			_cleanup_free_ char *local = fs_path_join(into, base), *remote = NULL;
			struct ssh_args s;
			char last[256] = "";
			int status;

			if ((r = ssh_args_init(&s, op, i, true)) < 0)
				return r;
			if (!local || asprintf(&remote, "%s:%s%s%s", s.dest, paths[k][0] == '/' ? "" :
					       job_dir(op, i), paths[k][0] == '/' ? "" : "/", paths[k]) < 0)
				return rain_error_oom();
			add(&s, remote);
			add(&s, local);
			{
				struct process_opts o = {
					.argv = s.argv, .stdin_fd = -1, .timeout_s = 3600,
					.cancel = op->cancel, .on_line = keep_line, .ud = last,
				};

				r = process_run(&o, &status);
			}
			if (r < 0)
				return r;
			if (status) {
				unlink(local);
				mlen += (size_t)snprintf(missing + mlen, mlen < sizeof(missing) ?
							 sizeof(missing) - mlen : 0, "%s%s of %s (%s)",
							 mlen ? "; " : "", paths[k], name,
							 *last ? last : "scp failed");
				if (mlen >= sizeof(missing))
					mlen = sizeof(missing) - 1;
			} else {
				rain_run_log(op, RAIN_TARGET_INFO, "fetched %s from %s", paths[k], name);
			}
		}
	}
	if (mlen)
		return rain_error_set(RAIN_ENOTFOUND, "cannot fetch %s", missing);
	return 0;
}
