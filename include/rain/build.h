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

struct rain_build_options {
	const char *output_dir;     /* created; must not hold a previous build */
	const char *work_dir;       /* scratch space (default: output_dir) */
	const char *cache_dir;      /* shared package cache (required) */
	int timeout_s;              /* whole build; 0: 3600 */
	volatile sig_atomic_t *cancel;
	bool boot_check;            /* also when the recipe does not ask */
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

int rain_build_run(const struct rain_recipe *r, const struct rain_build_options *o,
		   struct rain_build_result **out);
void rain_build_result_free(struct rain_build_result *res);

#endif
