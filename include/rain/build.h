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

struct rain_build_options {
	const char *output_dir;     /* created; must not hold a previous build */
	const char *work_dir;       /* scratch space (default: cache_dir/work) */
	const char *cache_dir;      /* shared cache (required): packages/, bases/ */
	const struct rain_build_base_image *base_image;   /* when r->base */
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
