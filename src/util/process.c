#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rain/error.h"
#include "util/process.h"
#include "util/timeutil.h"

extern char **environ;

#define LINE_MAX_LEN 4096

struct linebuf {
	char buf[LINE_MAX_LEN + 1];
	size_t len;
};

static void feed(struct linebuf *lb, const char *data, size_t n, const struct process_opts *o)
{
	for (size_t i = 0; i < n; i++) {
		if (data[i] == '\r')     /* serial consoles end lines with CR LF */
			continue;
		if (data[i] == '\n' || lb->len == LINE_MAX_LEN) {
			lb->buf[lb->len] = '\0';
			if (o->on_line)
				o->on_line(o->ud, lb->buf);
			lb->len = 0;
			if (data[i] == '\n')
				continue;
		}
		lb->buf[lb->len++] = data[i];
	}
}

/* End the group: TERM, a grace period, then KILL. */
static void stop_group(pid_t pid)
{
	kill(-pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			goto done;
		usleep(100000);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
done:
	kill(-pid, SIGKILL);   /* stragglers of the group */
}

int process_run(const struct process_opts *o, int *status)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int pipefd[2], devnull = -1, rc;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return rain_error_errno(RAIN_EIO, errno, "pipe");
	if (o->stdin_fd < 0) {
		devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (devnull < 0) {
			close(pipefd[0]);
			close(pipefd[1]);
			return rain_error_errno(RAIN_EIO, errno, "/dev/null");
		}
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, o->stdin_fd >= 0 ? o->stdin_fd : devnull, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	if (o->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setpgroup(&attr, 0);
	{
		sigset_t none, dfl;

		sigemptyset(&none);
		sigfillset(&dfl);
		posix_spawnattr_setsigmask(&attr, &none);
		posix_spawnattr_setsigdefault(&attr, &dfl);
	}
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&pid, o->argv[0], &fa, &attr, (char *const *)o->argv,
			  o->envp ? (char *const *)o->envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (devnull >= 0)
		close(devnull);
	if (rc != 0) {
		close(pipefd[0]);
		return rain_error_errno(rc == ENOENT ? RAIN_ENOTFOUND : RAIN_EIO, rc,
					"cannot run %s", o->argv[0]);
	}
	return process_supervise(o, pid, pipefd[0], status);
}

int process_supervise(const struct process_opts *o, pid_t pid, int fd, int *status)
{
	struct linebuf lb = { .len = 0 };
	int64_t deadline = o->timeout_s > 0 ? time_mono_us() + (int64_t)o->timeout_s * 1000000 : 0;
	const char *name = o->name ? o->name : o->argv[0];
	bool canceled = false, timed_out = false, exited = false, stragglers = false;
	int64_t drain_until = 0;
	int wst = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char buf[8192];
		ssize_t n;

		if (o->end_with_program && !exited && waitpid(pid, &wst, WNOHANG) == pid) {
			exited = true;
			drain_until = time_mono_us() + 1000000;
		}
		if (exited && time_mono_us() > drain_until) {
			stragglers = true;
			break;
		}
		if (o->on_tick)
			o->on_tick(o->ud);
		if (o->cancel && *o->cancel) {
			canceled = true;
			break;
		}
		if (deadline && time_mono_us() > deadline) {
			timed_out = true;
			break;
		}
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		feed(&lb, buf, (size_t)n, o);
		if (o->on_partial && lb.len) {
			lb.buf[lb.len] = '\0';
			o->on_partial(o->ud, lb.buf);
		}
	}
	close(fd);
	if (lb.len) {
		lb.buf[lb.len] = '\0';
		if (o->on_line)
			o->on_line(o->ud, lb.buf);
	}
	if (exited) {
		/* the program's own group, which lives on while stragglers do */
		if (stragglers)
			kill(-pid, SIGKILL);
		*status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
		return 0;
	}
	if (canceled || timed_out) {
		stop_group(pid);
		*status = 128 + SIGKILL;
		if (canceled)
			return rain_error_set(RAIN_ECANCELED, "%s was interrupted", name);
		return rain_error_set(RAIN_ECANCELED, "%s took longer than %d s and was stopped",
				      name, o->timeout_s);
	}
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	*status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
	return 0;
}
