/* Running programs: posix_spawn with an argument vector (never a shell
 * string), output read line by line, a time limit and cancellation that
 * end the whole process group.
 */
#ifndef RAIN_UTIL_PROCESS_H
#define RAIN_UTIL_PROCESS_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

struct process_opts {
	const char *const *argv;          /* argv[0] is looked up in PATH */
	const char *name;                 /* in messages (NULL: argv[0]) */
	const char *const *envp;          /* NULL: inherit */
	const char *cwd;                  /* NULL: inherit */
	int stdin_fd;                     /* -1: /dev/null */
	int timeout_s;                    /* 0: none */
	volatile sig_atomic_t *cancel;    /* non-zero: stop the program */
	/* each line of stdout and stderr (merged), without the newline */
	void (*on_line)(void *ud, const char *line);
	/* when set, also the unfinished last line after each read (prompts
	 * such as "login: " end without a newline) */
	void (*on_partial)(void *ud, const char *partial);
	void *ud;
	/* when the program itself has exited, read its output for at most one
	 * second more, then end what is left of its process group: a
	 * background process that keeps the output open (an untrusted script's
	 * "sleep 1000 &") does not hold the caller until the time limit */
	bool end_with_program;
	/* when set, called about every 200 ms while the program runs (it may
	 * set *cancel to stop it) */
	void (*on_tick)(void *ud);
};

/* Run and wait. On return *status is the exit code (0-255) or 128+signal.
 * RAIN_ECANCELED when *cancel was set or the time limit passed (the
 * message says which); RAIN_EIO/RAIN_ENOTFOUND when it cannot start. */
int process_run(const struct process_opts *o, int *status);

/* The second half of process_run() for a child started otherwise (e.g.
 * forked into a sandbox): pid leads its own process group and writes its
 * output to fd, which this closes. Honours on_line, on_partial, cancel and
 * timeout_s of o (argv is not used). */
int process_supervise(const struct process_opts *o, pid_t pid, int fd, int *status);

#endif
