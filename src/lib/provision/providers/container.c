/* The container provider (rain/sys/provider.h): runs at a container site
 * (src/lib/target/drivers/container.c), the registration's root tree run
 * unprivileged with Charliecloud's ch-run as the site's user. No machine
 * starts: an instance is a folder of its own, DIR/.rain-RUNID-K (0700, the
 * user's), bound into the container as CONTAINER_WORK, the job's working
 * directory and the only place it writes besides a private /tmp (the tree
 * is mounted read-only).
 *
 * up names each instance ({"name", "dir"}) in the state, then makes its
 * folder. exec runs, once or on each instance in parallel,
 *
 *   ch-run --private-tmp --unset-env=* --set-env=... -b DIR:/rain/work
 *          -c /rain/work [-b SRC:DST ...] TREE -- COMMAND...
 *
 * from an argument vector (a script is copied into the instance's folder
 * and run from there), in its own process group; the child waits until
 * its group is saved in the state before it starts ch-run. Its
 * environment holds RAIN_INSTANCE=NAME, which ch-run passes on to the job
 * and the job to its children: whatever of an instance still runs after
 * its job (a background process that left the group) or after rain was
 * killed is found by it in /proc and ended, by exec and by down. fetch
 * copies regular files out of the instance's folder (no link followed,
 * nothing outside it). down ends what is left and removes the folders.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/provision/provision-internal.h"
#include "lib/target/container-internal.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define MARKER "RAIN_INSTANCE"
#define JOB_SCRIPT ".rain-job"
#define CH_RUN "ch-run"

/* ---- names ---- */

static const struct container_site *site_of(struct rain_run_op *op)
{
	const struct container_site *p = container_site_of(op->site);

	if (!p)
		rain_error_set(RAIN_EINVAL, "site '%s' is no container site", op->site->name);
	return p;
}

/* DIR/.NAME: the only folder an instance of this site may name. */
static int instance_dir(struct rain_run_op *op, const char *name, char **out)
{
	_cleanup_free_ char *base = NULL;

	*out = NULL;
	if (!name || !fs_name_is_safe(name) || strchr(name, ' '))
		return rain_error_set(RAIN_EINVAL, "container: instance name '%s' cannot name a folder",
				      name ? name : "");
	if (asprintf(&base, ".%s", name) < 0 || !(*out = fs_path_join(op->site->location, base)))
		return rain_error_oom();
	return 0;
}

/* Instance i's name and folder (checked against what the site gives). */
static int instance_of(struct rain_run_op *op, size_t i, const char **name, char **dir)
{
	json_t *inst = rain_run_instance(op, i);
	const char *named;
	int r;

	*name = json_string_value(json_object_get(inst, "name"));
	named = json_string_value(json_object_get(inst, "dir"));
	if ((r = instance_dir(op, *name, dir)) < 0)
		return r;
	if (named && strcmp(named, *dir)) {
		r = rain_error_set(RAIN_EINVAL, "container: the run's state names '%s' for %s, not %s: "
				   "left alone", named, *name, *dir);
		free(*dir);
		*dir = NULL;
	}
	return r;
}

/* ch-run's path, looked up in PATH. */
static int ch_run_find(char **out)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	char *save = NULL;

	*out = NULL;
	if (!copy)
		return rain_error_oom();
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *p = fs_path_join(d, CH_RUN);

		if (!p)
			return rain_error_oom();
		if (d[0] == '/' && access(p, X_OK) == 0) {
			*out = TAKE_PTR(p);
			return 0;
		}
	}
	return rain_error_set(RAIN_ENOTFOUND, "container: %s is not installed on this host (Debian's "
			      "charliecloud-runtime)", CH_RUN);
}

/* ---- what is left of an instance ---- */

/* Whether process pid's environment holds entry (MARKER=NAME). */
static bool carries(pid_t pid, const char *entry)
{
	char path[64];
	_cleanup_free_ char *env = NULL;
	size_t len, n = strlen(entry);

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if (fs_read_small(path, 1 << 20, &env, &len) < 0)
		return false;
	for (size_t off = 0; off < len; off += strlen(env + off) + 1)
		if (!strncmp(env + off, entry, n + 1))
			return true;
	return false;
}

/* SIGKILL every process that carries instance name's marker, until none
 * is left (or 5 s). The number ended. */
static int end_instance(const char *name, size_t *ended)
{
	_cleanup_free_ char *entry = NULL;

	*ended = 0;
	if (asprintf(&entry, "%s=%s", MARKER, name) < 0)
		return rain_error_oom();
	for (int round = 0; round < 50; round++) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		size_t seen = 0;

		if (!d)
			return rain_error_errno(RAIN_EIO, errno, "container: cannot read /proc");
		while ((de = readdir(d))) {
			pid_t pid = (pid_t)atoi(de->d_name);

			if (pid <= 1 || pid == getpid() || strspn(de->d_name, "0123456789") != strlen(de->d_name))
				continue;
			if (carries(pid, entry)) {
				kill(pid, SIGKILL);
				seen++;
			}
		}
		closedir(d);
		if (!seen)
			return 0;
		*ended += seen;
		usleep(100000);
	}
	return rain_error_set(RAIN_EIO, "container: processes of %s did not end after SIGKILL", name);
}

/* ---- up, ready, down ---- */

static int up(struct rain_run_op *op)
{
	const struct container_site *p = site_of(op);
	_cleanup_free_ char *root = NULL, *ch_run = NULL;
	struct stat st;
	int r;

	if (!p)
		return RAIN_EINVAL;
	if ((r = container_reg_root(op->site, op->registration, &root)) < 0)
		return r;
	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode))
		return rain_error_set(RAIN_ENOTFOUND, "container: the registration's tree %s is gone: "
				      "register the image again", root);
	if ((r = container_user_reaches(p, root)) < 0 || (r = ch_run_find(&ch_run)) < 0)
		return r;
	for (size_t i = 0; i < p->nbinds; i++) {
		if (stat(p->binds[i].src, &st) < 0)
			return rain_error_errno(RAIN_ENOTFOUND, errno, "container: site %s: bind: %s", op->site->name,
						p->binds[i].src);
		if ((r = container_user_reaches(p, p->binds[i].src)) < 0)
			return rain_error_set(r, "site %s: bind: %s", op->site->name, rain_error_last());
	}
	for (int k = 1; k <= op->n; k++) {
		_cleanup_free_ char *name = NULL, *dir = NULL;

		if ((r = rain_run_check_cancel(op)) < 0)
			return r;
		if (asprintf(&name, "rain-%s-%d", op->run_id, k) < 0)
			return rain_error_oom();
		if ((r = instance_dir(op, name, &dir)) < 0)
			return r;
		if ((r = rain_run_instance_add(op, json_pack("{s:s, s:s}", "name", name, "dir", dir))) < 0)
			return r;
		if (mkdir(dir, 0700) < 0)
			return rain_error_errno(RAIN_EIO, errno, "container: cannot create %s", dir);
		if (geteuid() == 0 && chown(dir, p->uid, p->gid) < 0)
			return rain_error_errno(RAIN_EIO, errno, "container: cannot give %s to %s", dir, p->user);
		rain_run_log(op, RAIN_TARGET_INFO, "%s: %s as %s", name, root, p->user);
	}
	return 0;
}

/* An instance is its folder: alive and ready while it is there. */
static int ready(struct rain_run_op *op, size_t i)
{
	_cleanup_free_ char *dir = NULL;
	const char *name;
	struct stat st;
	int r;

	if ((r = instance_of(op, i, &name, &dir)) < 0)
		return r;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return rain_error_set(RAIN_EIO, "container: %s's folder %s is gone", name, dir);
	return 0;
}

static int down(struct rain_run_op *op)
{
	size_t n = rain_run_instance_count(op);
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *dir = NULL;
		const char *name;
		size_t ended;
		int k;

		if ((k = instance_of(op, i, &name, &dir)) < 0 || (k = end_instance(name, &ended)) < 0 ||
		    (k = fs_remove_tree(dir)) < 0) {
			r = r < 0 ? r : k;      /* the others still go */
			continue;
		}
		if (ended)
			rain_run_log(op, RAIN_TARGET_INFO, "%s: ended %zu processes left", name, ended);
	}
	return r;
}

/* ---- exec ---- */

struct job_run {
	struct rain_run_op *op;
	const struct rain_run_job *job;
	pthread_mutex_t *lock;          /* job->output: one thread at a time */
	volatile sig_atomic_t *stop;    /* every instance's: canceled or timed out */
	int64_t deadline;               /* 0: none */
	bool *timed_out;
	size_t index;
	pid_t pid;
	int fd;                         /* its output */
	int status;
	int r;
	char msg[1024];                 /* when r < 0 */
};

static void on_line(void *ud, const char *line)
{
	struct job_run *j = ud;

	if (!j->job->output)
		return;
	pthread_mutex_lock(j->lock);
	j->job->output(j->job->ud, j->index, line, strlen(line));
	pthread_mutex_unlock(j->lock);
}

static void on_tick(void *ud)
{
	struct job_run *j = ud;

	if (j->op->cancel && *j->op->cancel)
		*j->stop = 1;
	if (j->deadline && time_mono_us() > j->deadline) {
		pthread_mutex_lock(j->lock);
		*j->timed_out = true;
		pthread_mutex_unlock(j->lock);
		*j->stop = 1;
	}
}

static void *supervise(void *ud)
{
	struct job_run *j = ud;
	struct process_opts o = { .name = CH_RUN, .cancel = j->stop, .on_line = on_line, .on_tick = on_tick,
				  .ud = j, .end_with_program = true };

	j->r = process_supervise(&o, j->pid, j->fd, &j->status);
	if (j->r < 0)
		snprintf(j->msg, sizeof(j->msg), "%s", rain_error_last());
	kill(-j->pid, SIGKILL);         /* what is left of its group */
	return NULL;
}

/* The job's command in the container: argv, or the script copied into
 * the instance's folder. */
static int job_argv(const struct container_site *p, const struct rain_run_job *job, const char *dir,
		    char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (job->script) {
		_cleanup_free_ char *text = NULL, *dst = fs_path_join(dir, JOB_SCRIPT);
		_cleanup_close_ int fd = -1;
		size_t len;
		int r;

		if (!dst)
			return rain_error_oom();
		if ((r = fs_read_small(job->script, 16 << 20, &text, &len)) < 0)
			return rain_error_set(r, "container: the job script: %s", rain_error_last());
		unlink(dst);
		fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
		if (fd < 0)
			return rain_error_errno(RAIN_EIO, errno, "container: cannot create %s", dst);
		if ((r = fs_write_all(fd, text, len, dst)) < 0)
			return r;
		if (geteuid() == 0 && fchown(fd, p->uid, p->gid) < 0)
			return rain_error_errno(RAIN_EIO, errno, "container: cannot give %s to %s", dst, p->user);
		/* a script without #! is the shell's */
		if (!str_has_prefix(text, "#!") && strv_add(out, n, "/bin/sh") < 0)
			return rain_error_oom();
		return strv_add(out, n, CONTAINER_WORK "/" JOB_SCRIPT) < 0 ? rain_error_oom() : 0;
	}
	for (size_t i = 0; job->argv[i]; i++)
		if (strv_add(out, n, job->argv[i]) < 0)
			return rain_error_oom();
	return 0;
}

static int add(char ***v, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int add(char ***v, size_t *n, const char *fmt, ...)
{
	_cleanup_free_ char *s = NULL;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (len < 0 || strv_add(v, n, s) < 0)
		return rain_error_oom();
	return 0;
}

/* ch-run's argument vector and environment for instance name. */
static int ch_run_argv(const struct container_site *p, const char *ch_run, const char *root,
		       const char *name, const char *dir, char **cmd, size_t ncmd, char ***argv, size_t *na,
		       char ***envp, size_t *ne)
{
	static const char path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	int r = 0;

	if (strv_add(argv, na, ch_run) < 0 || strv_add(argv, na, "--private-tmp") < 0 ||
	    strv_add(argv, na, "--unset-env=*") < 0)
		return rain_error_oom();
	if ((r = add(argv, na, "--set-env=PATH=%s", path)) < 0 ||
	    (r = add(argv, na, "--set-env=HOME=" CONTAINER_WORK)) < 0 ||
	    (r = add(argv, na, "--set-env=USER=%s", p->user)) < 0 ||
	    (r = add(argv, na, "--set-env=LANG=C.UTF-8")) < 0 ||
	    (r = add(argv, na, "--set-env=" MARKER "=%s", name)) < 0 ||
	    (r = add(argv, na, "--bind=%s:" CONTAINER_WORK, dir)) < 0 ||
	    (r = add(argv, na, "--cd=" CONTAINER_WORK)) < 0)
		return r;
	for (size_t i = 0; i < p->nbinds; i++)
		if ((r = add(argv, na, "--bind=%s:%s", p->binds[i].src, p->binds[i].dst)) < 0)
			return r;
	if (strv_add(argv, na, root) < 0 || strv_add(argv, na, "--") < 0)
		return rain_error_oom();
	for (size_t i = 0; i < ncmd; i++)
		if (strv_add(argv, na, cmd[i]) < 0)
			return rain_error_oom();
	/* ch-run's own environment: it needs USER; the marker from the start */
	if ((r = add(envp, ne, "PATH=%s", path)) < 0 || (r = add(envp, ne, "USER=%s", p->user)) < 0 ||
	    (r = add(envp, ne, MARKER "=%s", name)) < 0)
		return r;
	return 0;
}

/* In the child: its own group, output to out, default signals, and once
 * the parent has saved its group (a byte on go), the site's user and
 * ch-run. Only async-signal-safe calls. */
static void child(const struct container_site *p, int out, int go, char **argv, char **envp)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	char c;
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	setpgid(0, 0);
	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(125);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (read(go, &c, 1) != 1)
		_exit(125);     /* the parent died before it named this process */
	if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0))
		_exit(125);
	execve(argv[0], argv, envp);
	_exit(127);
}

/* Start instance i's job (j->pid, j->fd), its group saved in the state
 * before ch-run starts. */
static int start(struct rain_run_op *op, const struct container_site *p, const char *ch_run, const char *root,
		 size_t i, struct job_run *j)
{
	_cleanup_free_ char *dir = NULL;
	char **cmd = NULL, **argv = NULL, **envp = NULL;
	size_t ncmd = 0, na = 0, ne = 0;
	int out[2] = { -1, -1 }, go[2] = { -1, -1 }, r;
	const char *name;
	json_t *inst = rain_run_instance(op, i);
	pid_t pid;

	if ((r = instance_of(op, i, &name, &dir)) < 0 || (r = ready(op, i)) < 0)
		return r;
	if ((r = job_argv(p, j->job, dir, &cmd, &ncmd)) < 0 ||
	    (r = ch_run_argv(p, ch_run, root, name, dir, cmd, ncmd, &argv, &na, &envp, &ne)) < 0)
		goto done;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "container: pipe");
		goto done;
	}
	pid = fork();
	if (pid < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "container: cannot start %s", CH_RUN);
		goto done;
	}
	if (pid == 0)
		child(p, out[1], go[0], argv, envp);
	setpgid(pid, pid);
	j->pid = pid;
	j->fd = out[0];
	out[0] = -1;
	if (json_object_set_new(inst, "pgid", json_integer(pid)) < 0)
		r = rain_error_oom();
	else
		r = rain_run_state_set(op, "instances", json_incref(json_object_get(op->state, "instances")));
	if (r >= 0 && write(go[1], "g", 1) != 1)
		r = rain_error_errno(RAIN_EIO, errno, "container: cannot start %s", CH_RUN);
	if (r < 0) {
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(j->fd);
		j->fd = -1;
		j->pid = 0;
	}
done:
	for (int k = 0; k < 2; k++) {
		if (out[k] >= 0)
			close(out[k]);
		if (go[k] >= 0)
			close(go[k]);
	}
	strv_free(cmd, ncmd);
	strv_free(argv, na);
	strv_free(envp, ne);
	return r;
}

static int exec_job(struct rain_run_op *op, const struct rain_run_job *job, int *status)
{
	const struct container_site *p = site_of(op);
	size_t n = job->each ? rain_run_instance_count(op) : 1, started = 0;
	_cleanup_free_ char *root = NULL, *ch_run = NULL;
	_cleanup_free_ struct job_run *jobs = NULL;
	_cleanup_free_ pthread_t *threads = NULL;
	_cleanup_free_ bool *threaded = NULL;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	volatile sig_atomic_t stop = 0;
	bool timed_out = false;
	int r;

	*status = RAIN_RUN_EXIT_FAILED;
	if (!p)
		return RAIN_EINVAL;
	if ((r = container_reg_root(op->site, op->registration, &root)) < 0 || (r = ch_run_find(&ch_run)) < 0)
		return r;
	jobs = calloc(n, sizeof(*jobs));
	threads = calloc(n, sizeof(*threads));
	threaded = calloc(n, sizeof(*threaded));
	if (!jobs || !threads || !threaded)
		return rain_error_oom();
	for (size_t i = 0; i < n; i++) {
		jobs[i] = (struct job_run){ .op = op, .job = job, .lock = &lock, .stop = &stop,
					    .deadline = job->walltime_s > 0 ? time_mono_us() +
							(int64_t)job->walltime_s * 1000000 : 0,
					    .timed_out = &timed_out, .index = i, .fd = -1 };
		if ((r = rain_run_check_cancel(op)) < 0 || (r = start(op, p, ch_run, root, i, &jobs[i])) < 0)
			break;
		started++;
	}
	/* each started job is waited for, the others stopped if one could not start */
	if (r < 0)
		stop = 1;
	for (size_t i = 0; i < started; i++)
		threaded[i] = pthread_create(&threads[i], NULL, supervise, &jobs[i]) == 0;
	for (size_t i = 0; i < started; i++) {
		if (threaded[i])
			pthread_join(threads[i], NULL);
		else
			supervise(&jobs[i]);
	}
	for (size_t i = 0; i < started; i++) {
		const char *name = json_string_value(json_object_get(rain_run_instance(op, i), "name"));
		size_t ended;
		int k = end_instance(name, &ended);

		if (ended)
			rain_run_log(op, RAIN_TARGET_INFO, "%s: ended %zu processes the job left", name, ended);
		json_object_del(rain_run_instance(op, i), "pgid");
		if (k >= 0)
			k = rain_run_state_set(op, "instances", json_incref(json_object_get(op->state, "instances")));
		if (k < 0 && r >= 0)
			r = k;
	}
	pthread_mutex_destroy(&lock);
	if (r < 0)
		return r;
	if (timed_out) {
		*status = RAIN_RUN_EXIT_TIMEOUT;
		return rain_error_set(RAIN_ETIMEDOUT, "the job ran longer than its walltime of %d s and was "
				      "stopped", job->walltime_s);
	}
	if (stop || (op->cancel && *op->cancel)) {
		*status = RAIN_RUN_EXIT_INTERRUPTED;
		return rain_error_set(RAIN_ECANCELED, "the job was interrupted");
	}
	*status = 0;
	for (size_t i = 0; i < started; i++) {
		if (jobs[i].r < 0)
			return rain_error_set(jobs[i].r, "%s", jobs[i].msg);
		if (jobs[i].status && !*status)
			*status = jobs[i].status;
	}
	return 0;
}

/* ---- fetch ---- */

/* path as the job named it, relative to its folder: relative, or
 * absolute under CONTAINER_WORK. */
static int rel_path(const char *path, const char **rel)
{
	size_t n = strlen(CONTAINER_WORK);

	*rel = path;
	if (path[0] == '/') {
		if (strncmp(path, CONTAINER_WORK, n) || path[n] != '/')
			return rain_error_set(RAIN_EINVAL, "container: cannot fetch %s: result files are "
					      "under %s (the job's folder)", path, CONTAINER_WORK);
		*rel = path + n + 1;
	}
	return 0;
}

static int fetch_one(int dirfd, const char *inst, const char *path, const char *dst)
{
	_cleanup_close_ int in = -1, out = -1;
	const char *rel;
	struct stat st;
	int r;

	if ((r = rel_path(path, &rel)) < 0)
		return r;
	in = fs_open_regular_beneath(dirfd, rel, O_RDONLY, true, &st);
	if (in < 0)
		return rain_error_set(in, "container: %s: cannot fetch %s: %s", inst, path, rain_error_last());
	unlink(dst);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0)
		return rain_error_errno(RAIN_EIO, errno, "container: cannot create %s", dst);
	return fs_copy_sparse(in, out, st.st_size, dst);
}

static int fetch(struct rain_run_op *op, const char *const *paths, bool each, const char *dir)
{
	size_t n = each ? rain_run_instance_count(op) : 1;
	int r;

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *idir = NULL, *into = NULL;
		_cleanup_close_ int dirfd = -1;
		const char *name;

		if ((r = instance_of(op, i, &name, &idir)) < 0)
			return r;
		dirfd = open(idir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dirfd < 0)
			return rain_error_errno(RAIN_EIO, errno, "container: %s's folder %s", name, idir);
		into = each ? fs_path_join(dir, name) : strdup(dir);
		if (!into)
			return rain_error_oom();
		if (each && mkdir(into, 0700) < 0 && errno != EEXIST)
			return rain_error_errno(RAIN_EIO, errno, "container: cannot create %s", into);
		for (size_t k = 0; paths[k]; k++) {
			const char *base = strrchr(paths[k], '/') ? strrchr(paths[k], '/') + 1 : paths[k];
			_cleanup_free_ char *dst = fs_path_join(into, base);

			if (!dst)
				return rain_error_oom();
			if ((r = fetch_one(dirfd, name, paths[k], dst)) < 0)
				return r;
		}
	}
	return 0;
}

static const struct rain_provider_driver container = {
	.version = RAIN_PROVIDER_DRIVER_VERSION,
	.scheme = "container",
	.up = up,
	.alive = ready,
	.ready = ready,
	.exec = exec_job,
	.fetch = fetch,
	.down = down,
};

const struct rain_driver rain_provider_driver_container = { "provider", "container", "container:DIR", &container };
