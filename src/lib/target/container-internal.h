/* The container site's settings (drivers/container.c), as its check reads
 * them into site->priv: shared with the container provider
 * (src/lib/provision/providers/container.c), which runs what the site
 * published. */
#ifndef RAIN_TARGET_CONTAINER_INTERNAL_H
#define RAIN_TARGET_CONTAINER_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "rain/target.h"

/* Where a run's writable folder appears inside the container (the job's
 * working directory); publish makes it in every tree. */
#define CONTAINER_WORK "/rain/work"

struct container_bind {
	char *src;      /* absolute, on the host */
	char *dst;      /* absolute, in the container */
};

struct container_site {
	char *user;     /* who ch-run runs as */
	uid_t uid;
	gid_t gid;
	struct container_bind *binds;   /* `bind = SRC:DST ...` (ch-run -b) */
	size_t nbinds;
};

/* The site's settings (a container site's priv; NULL for other kinds). */
const struct container_site *container_site_of(const struct rain_site *site);

/* The tree a container site's registration published (its state's
 * "dir"), checked to be the folder DIR/REGID of that site: a new string
 * in *out. RAIN_EINVAL when the state names something else. */
int container_reg_root(const struct rain_site *site, json_t *state, char **out);

/* 0 when the site's user can walk to path (absolute): every folder on
 * the way searchable by it (owner, group or others' x bit; it runs
 * without supplementary groups). RAIN_EFORBIDDEN naming the folder that
 * stops it otherwise. */
int container_user_reaches(const struct container_site *p, const char *path);

#endif
