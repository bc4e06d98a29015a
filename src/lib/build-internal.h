/* Shared between the build orchestration and the builder backends. */
#ifndef RAIN_BUILD_INTERNAL_H
#define RAIN_BUILD_INTERNAL_H

#include <stdio.h>

#include "rain/build.h"

struct build_ctx {
	const struct rain_recipe *r;
	const struct rain_build_options *o;
	char *scratch;        /* private temporary directory */
	char *root;           /* the image's root tree */
	FILE *log;            /* output_dir/build.log */
	int64_t deadline_us;
	json_t *manifest;
};

/* Log one line (to the file and the caller). */
void build_log(struct build_ctx *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Run argv, logging its output; a non-zero exit is an error naming what.
 * When lines is non-NULL each output line is also passed to it. */
int build_run(struct build_ctx *b, const char *what, const char *const *argv,
	      void (*lines)(void *ud, const char *line), void *ud);

/* A builder backend: one per package family. */
struct rain_builder_backend {
	const char *family;
	/* Create b->root with the base system, the recipe's packages and a
	 * kernel + initramfs when asked. */
	int (*bootstrap)(struct build_ctx *b);
	/* The installed packages as [{name, version, architecture}]. */
	int (*packages)(struct build_ctx *b, json_t **list);
	/* Add a user (useradd in the image). */
	int (*add_user)(struct build_ctx *b, const struct rain_recipe_user *u);
	/* Enable a service unit. */
	int (*enable_service)(struct build_ctx *b, const char *unit);
};

extern const struct rain_builder_backend rain_builder_deb;

#endif
