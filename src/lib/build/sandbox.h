/* Sandboxes for image builds: a forked child in its own user, mount, PID,
 * IPC, UTS and (unless asked) network namespaces, running a function.
 *
 * Inside, uid and gid 0..SANDBOX_IDS-1 are host ids SANDBOX_HOST_ID and up:
 * the sandbox's root is an unprivileged user on the host, so image trees it
 * writes belong to those ids there, and nothing it runs is real root. All
 * mounts live in the sandbox's mount namespace and vanish with it, so a
 * killed build leaves no mount behind. The whole sandbox dies with its
 * parent (PR_SET_PDEATHSIG) and when cancelled or out of time.
 *
 * The child is forked, not exec'd: call sandbox_run() from a
 * single-threaded process (rain generate; raind runs builds through it).
 */
#ifndef RAIN_SANDBOX_H
#define RAIN_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/process.h"

/* The id range of the cached bases: bases are bootstrapped (or cloned
 * images unpacked) by sandboxes mapped here, which run only the
 * distribution's package scripts, never a recipe's. */
#define SANDBOX_HOST_ID 100000u
#define SANDBOX_IDS 65536u

struct sandbox_bind {
	const char *src;          /* host path (file or directory) */
	const char *dest;         /* inside root when root is set, else absolute */
	bool readonly;
	/* when set, dest is not a bind of src but an overlay of the directory
	 * lower (read-only) under src (its upper layer) with work, an empty
	 * directory on src's file system; none of the paths may hold ',',
	 * ':' or '\\' */
	const char *lower, *work;
};

struct sandbox {
	/* (always a user, PID, IPC, UTS and mount namespace of its own) */
	/* the host's first id of the sandbox's 0..SANDBOX_IDS-1 (0:
	 * SANDBOX_HOST_ID) */
	uid_t host_id;
	/* when lower's files belong to lower_id.. on the host and that is not
	 * host_id: lower is first mounted read-only at lower_mnt (an empty
	 * directory) through an idmapped mount that shows them as host_id..,
	 * and that mount is the overlay's lower layer. A build then never
	 * holds the ids of the cached bases it reads. */
	uid_t lower_id;
	const char *lower_mnt;
	bool network;             /* share the host's network */
	/* root: with lower, an overlay of lower (read-only), upper and work is
	 * mounted there; the paths may not hold ',', ':' or '\\' */
	const char *root;
	const char *lower, *upper, *work;
	/* make root the sandbox's "/" (pivot_root), with fresh /proc, /dev,
	 * /dev/pts, /dev/shm, /run, /tmp (and /sys without network) */
	bool pivot;
	const struct sandbox_bind *binds;
	size_t nbinds;
	/* host paths that stay visible but read-only (NULL-terminated) */
	const char *const *readonly;
	/* the environment of everything run inside (NULL-terminated) */
	const char *const *env;
	/* cgroup.procs files the sandbox's first process is written to
	 * before anything runs in it, so that all it starts is counted
	 * there (NULL-terminated; NULL: none) */
	const char *const *cgroups;
	/* bytes of each tmpfs (/run, /tmp, /dev/shm); 0: the kernel's default */
	int64_t tmpfs_size;
	/* rlimits inside (0: unchanged): the largest file, and, only when no
	 * cgroup limits them, address space and processes */
	int64_t rlimit_fsize, rlimit_as, rlimit_nproc;
};

/* Run fn(ud) in the sandbox and wait. fn runs as the sandbox's root; what
 * it writes to stdout/stderr reaches po->on_line line by line; po->cancel
 * and po->timeout_s stop the whole sandbox; po->name names it in messages.
 * Returns fn's result: on failure its code and rain_error_last() message
 * are carried back to the caller's thread. */
int sandbox_run(const struct sandbox *s, int (*fn)(void *ud), void *ud,
		const struct process_opts *po);

/* chown path (not following a symlink) to the root of a sandbox whose
 * host_id is id. */
int sandbox_chown(const char *path, uid_t id);

/* Move what a sandbox whose host_id was from left under path (path
 * itself included) to the sandbox whose host_id is to: each entry owned
 * by an id of from's range gets the same id of to's range. Symlinks are
 * not followed, other file systems not entered, and files with more than
 * one link (package files shared with the cache) are left alone. */
int sandbox_chown_tree(const char *path, uid_t from, uid_t to);

#endif
