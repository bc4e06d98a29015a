/* Image builds: turn a recipe into image files.
 *
 * rain_build_run() bootstraps the distribution with its builder backend
 * (one per package family: "deb" through mmdebstrap), applies the recipe
 * (host name, time zone, locale, users and their ssh keys, files,
 * services), writes every output format asked for plus the kernel and
 * initramfs, a manifest (recipe, resolved packages with versions, output
 * sizes and SHA-256, timings, boot check) and the build log into
 * opts->output_dir. On failure, nothing but the log is left behind.
 *
 * Builds need root (they create device nodes and chroot). Package
 * downloads are shared between builds through opts->cache_dir; two builds
 * may run at once with the same cache.
 */
#ifndef RAIN_BUILD_H
#define RAIN_BUILD_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "rain/recipe.h"

/* The repository image a recipe with base = image:REF starts from,
 * resolved by the caller (the library does not talk to the repository). */
struct rain_build_base_image {
	const char *id;
	const char *sha256;         /* os_hash_value: the base cache's key */
	const char *disk_format;    /* raw or qcow2 */
	/* Write the image's data to path; called only when no cached base
	 * has it. 0 or a rain error code (with its message). */
	int (*download)(void *ud, const char *path);
	void *ud;
};

/* What one build may use, whatever its recipe says (rain generate
 * --limit KEY=VALUE, raind's [builds]). Zero fields take the defaults.
 * Each build runs in its own cgroup (v2 where the host has the
 * controllers there, else the v1 hierarchies /sys/fs/cgroup/pids, memory,
 * cpu and blkio; rlimits only when neither works) and with a scratch of
 * its own (see scratch); the build log says which is in force. */
struct rain_build_limits {
	int64_t pids;               /* processes and threads at once (4096) */
	int64_t memory;             /* bytes, tmpfs pages included (4 GiB) */
	int64_t cpus_milli;         /* CPU time in thousandths of a CPU (none) */
	int64_t io_bps;             /* bytes/s read and written on the
				     * scratch's disk (none) */
	int64_t tmpfs;              /* bytes of each of /tmp, /run, /dev/shm
				     * in the sandbox (1 GiB) */
	int64_t scratch;            /* bytes of the build's scratch (its
				     * tree, downloads, inputs, outputs): a
				     * file system of exactly this size on a
				     * loop device of its own, so writes past
				     * it fail at once; where loop devices
				     * cannot be used, measured every 2 s.
				     * Also the largest file (20 GiB) */
	bool allow_private_mirrors; /* mirrors on loopback, link-local or
				     * private addresses (refused) */
	int64_t cache;              /* bytes the cached bases may take
				     * together (30 GiB): when a build
				     * ends, the least recently used bases
				     * that no build holds (its own is still
				     * held) go until the rest fit */
};

#define RAIN_BUILD_PIDS_DEFAULT 4096
#define RAIN_BUILD_MEMORY_DEFAULT (4LL << 30)
#define RAIN_BUILD_TMPFS_DEFAULT (1LL << 30)
#define RAIN_BUILD_SCRATCH_DEFAULT (20LL << 30)
#define RAIN_BUILD_CACHE_DEFAULT (30LL << 30)

/* Set one limit from text: pids, memory (a size: 4G, 512M), cpus (a
 * decimal number of CPUs), io_bps (a size per second), tmpfs_size,
 * scratch_size, cache_size, allow_private_mirrors (yes/no). RAIN_EINVAL naming the
 * key and what it takes for anything else (unknown keys, zero, negative,
 * absurd values). */
int rain_build_limits_set(struct rain_build_limits *l, const char *key, const char *value);
/* The keys rain_build_limits_set takes, NULL-terminated. */
extern const char *const rain_build_limit_keys[];

struct rain_build_options {
	const char *output_dir;     /* created; must not hold a previous build */
	const char *work_dir;       /* scratch space (default: cache_dir/work) */
	const char *cache_dir;      /* shared cache (required): packages/, bases/ */
	const struct rain_build_base_image *base_image;   /* when r->base */
	int timeout_s;              /* whole build; 0: 3600 */
	volatile sig_atomic_t *cancel;
	bool boot_check;            /* also when the recipe does not ask */
	const struct rain_build_limits *limits;   /* NULL: the defaults */
	/* Every line of the build log, as it happens (also written to
	 * output_dir/build.log). */
	void (*log)(void *ud, const char *line);
	void *ud;
};

struct rain_build_output {
	char *format;               /* "disk", "qcow2", "kernel", ... */
	char *path;
	int64_t size;
	char sha256[65];
};

struct rain_build_result {
	struct rain_build_output *outputs;
	size_t noutputs;
	char *manifest_path;
	json_t *manifest;           /* the manifest, also on disk */
};

/* Build r as o says; *out the outputs and manifest (free with
 * rain_build_result_free). Runs as root in a single-threaded process
 * (rain generate; raind runs that), which it moves into a mount namespace
 * of its own (a slave of the host's) where the build's scratch is
 * mounted. */
int rain_build_run(const struct rain_recipe *r, const struct rain_build_options *o,
		   struct rain_build_result **out);

/* Bound the cached bases of cache_dir (bases/KEY; last used: the mtime
 * of KEY.lock): the least recently used go until the others take at most
 * max bytes; one that a build holds (its lock), and keep (a KEY, may be
 * NULL), stay. A base's size is measured once and kept in KEY.size.
 * *removed and *freed (may be NULL) say what went. */
int rain_build_cache_prune(const char *cache_dir, int64_t max, const char *keep, int *removed,
			   int64_t *freed);
void rain_build_result_free(struct rain_build_result *res);

#endif
