/* Sites and registration: where images are registered, and the steps of
 * registering one (adapt a copy, publish it, remove it again).
 *
 * A site is a named place an image can run: a cloud (openstack:), a
 * virtualization host (libvirt:), bare metal (netboot:, ironic:), ...
 * It is configured as an INI section (raind's [site.NAME], or a file given
 * to `rain target`):
 *
 *   [site.NAME]
 *   uri = SCHEME:LOCATION       the driver (rain/sys/target.h) and where
 *   policy = NAME               the vetting policy an image must have
 *                               passed (rain/vet.h); unset: none required
 *   kernels = PATTERN ...       kernel versions allowed (fnmatch, space
 *                               separated: "6.1.0-*-amd64"); unset: any
 *   users = NAME ... @admin     who may register there (user names,
 *                               @admin for administrators); unset: anyone
 *   KEY = VALUE                 the driver's own settings (its man page)
 *
 * Registering runs a rain_target_op: the driver's adapt makes the target's
 * copy of the image in op->workdir (never touching the stored image), its
 * publish creates what the target needs, naming each remote object in
 * the op's state before creating it, so that unpublish (after a failure,
 * a cancel, a kill -9 and a restart, or a deregistration) removes exactly
 * what may exist. State is saved through op->save on every change.
 *
 * Functions return 0 or a negative RAIN_E* code with a message set
 * (rain/error.h); nothing prints.
 */
#ifndef RAIN_TARGET_H
#define RAIN_TARGET_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "rain/policy.h"

struct rain_target_driver;

struct rain_site {
	char *name;                     /* [site.NAME]: [a-z0-9][a-z0-9_-]* */
	char *uri;                      /* as configured */
	const struct rain_target_driver *driver;
	const char *location;           /* uri after "SCHEME:" (points into uri) */
	char *policy;                   /* NULL: no vetting required */
	char **kernels;                 /* NULL-terminated patterns; NULL: any */
	char **users;                   /* NULL-terminated; NULL: anyone */
	json_t *settings;               /* every key of the section, as strings */
	void *priv;                     /* the driver's (its check method) */
};

/* A site from its section's settings ("KEY=VALUE", NULL-terminated; a key
 * may repeat only where the driver says so). where names the place in
 * messages ("raind.conf [site.cloud]"). Looks the driver up by the uri's
 * scheme and runs its check (settings, credentials readable; no network).
 * RAIN_EINVAL names the key that is wrong and says what is expected. */
int rain_site_new(const char *name, const char *const *settings, const char *where,
		  struct rain_site **out);
void rain_site_free(struct rain_site *s);

/* The site NAME of an INI file's [site.NAME] section (a file of sites, as
 * `rain target` takes; raind reads its own config). RAIN_ENOTFOUND names
 * the sites the file has. */
int rain_site_read(const char *path, const char *name, struct rain_site **out);

/* A setting's value, or NULL. */
const char *rain_site_get(const struct rain_site *s, const char *key);
/* The same as a size ("20G", "512M", bytes) or a count; def when unset.
 * RAIN_EINVAL names the key for a bad value. */
int rain_site_get_int(const struct rain_site *s, const char *key, int64_t def, int64_t *out);
int rain_site_get_bool(const struct rain_site *s, const char *key, bool def, bool *out);

/* What `rain site show` prints: name, kind, uri, policy, kernels, users
 * and the settings, with those the driver calls secret (a key containing
 * "password", "secret", "token" or "credential") shown as "***". */
int rain_site_to_json(const struct rain_site *s, json_t **out);

/* 0 when who may register at s; RAIN_EFORBIDDEN saying who may. */
int rain_site_may_register(const struct rain_site *s, const struct rain_who *who);
/* 0 when kernel version kver is allowed at s; RAIN_EFORBIDDEN naming the
 * version and the allowed patterns. */
int rain_site_kernel_allowed(const struct rain_site *s, const char *kver);

/* ---- the plumbing that works on a saved state (raind's job kinds) ---- */

/* The most bytes of a state file. */
#define RAIN_TARGET_STATE_MAX (1 << 20)

/* Write the site's section ("[site.NAME]" and its settings; a value of
 * several lines as a repeated key) to path, 0600: it may hold
 * credentials. */
int rain_site_write(const struct rain_site *s, const char *path);
/* A state file (a JSON object) into *out (new); RAIN_EFORMAT when it is
 * not one. Written with rain_target_state_write (0600, atomically). */
int rain_target_state_read(const char *path, json_t **out);
int rain_target_state_write(const char *path, json_t *state);
/* Run `RAIN ARGS... --sites DIR/site.ini --site NAME --state
 * DIR/state.json` in dir (`rain target unpublish`, `rain provision
 * down`: what works on a saved state), the site's settings written to
 * DIR/site.ini for it and removed after. args: NULL-terminated, at most
 * 15. Each line of its output goes to log_fd (-1: nowhere). RAIN_EIO with
 * its last "rain: error: " line when it exits with a status other than 0;
 * RAIN_ECANCELED past timeout_s (0: none). */
int rain_site_state_tool(const char *rain_command, const struct rain_site *site, const char *dir,
			 const char *const *args, int log_fd, int timeout_s);

/* The stored image being registered. Read only: nothing writes to path. */
struct rain_target_image {
	const char *id;                 /* its repository id */
	const char *name;
	const char *path;               /* its data */
	const char *disk_format;        /* "qcow2" or "raw" */
	int64_t size;                   /* bytes of its data */
	const char *sha256;             /* of its data (hex) */
	json_t *properties;             /* its properties (strings): os_distro,
					 * os_version, architecture,
					 * hw_firmware_type, ... */
};

/* What adaptation made for a site, in the op's workdir (or a cache of
 * adapted copies). Every path may be NULL when the driver did not ask for
 * it. Owned: rain_target_artifacts_clear. */
struct rain_target_artifacts {
	char *disk;                     /* the adapted disk */
	char *disk_format;              /* "qcow2" or "raw" */
	int64_t disk_size;              /* bytes of the file */
	int64_t virtual_size;           /* bytes the disk holds */
	char *disk_sha256;              /* hex */
	char *disk_sha512;              /* hex, when the driver asked for it
					 * (rain_adapt_opts.disk_sha512) */
	char *kernel;                   /* the image's kernel, copied out */
	char *initramfs;                /* its initramfs, or one made for the site */
	char *kernel_version;           /* "6.1.0-28-amd64" */
	char *cmdline;                  /* kernel command line the image boots with */
	char *rootfs;                   /* a squashfs of the root tree */
	char *rootfs_sha256;
	json_t *properties;             /* what the target should know of the image
					 * (os_distro, architecture, min_disk, ...) */
};
void rain_target_artifacts_clear(struct rain_target_artifacts *a);
/* Serialize (paths relative to base when under it) and read back. */
int rain_target_artifacts_to_json(const struct rain_target_artifacts *a, const char *base,
				  json_t **out);
int rain_target_artifacts_from_json(json_t *j, const char *base, struct rain_target_artifacts *a);

enum rain_target_level { RAIN_TARGET_INFO, RAIN_TARGET_WARN };

/* One registration step in progress. The caller fills it; drivers read
 * it and change state only through rain_target_state_set. */
struct rain_target_op {
	const struct rain_site *site;
	const char *reg_id;             /* the registration's id: remote objects
					 * are named after it ("rain-ID-...") */
	const char *workdir;            /* private (0700), the op's own */
	const char *ssh_key;            /* the user's public key to put in the
					 * image's contextualization; may be NULL */
	json_t *state;                  /* what may exist at the target (an object) */
	/* Save state durably (before a remote object is created); NULL:
	 * nothing to save to. */
	int (*save)(void *ud, json_t *state);
	/* Lines for the user (progress, what was created). */
	void (*log)(void *ud, enum rain_target_level level, const char *msg);
	/* done of total bytes of the current transfer (what: "upload"). */
	void (*progress)(void *ud, const char *what, int64_t done, int64_t total);
	void *ud;
	volatile sig_atomic_t *cancel;  /* non-zero: stop, return RAIN_ECANCELED */
};

/* Set state[key] = value (takes value's reference; NULL removes key) and
 * save. Call before creating what value names. */
int rain_target_state_set(struct rain_target_op *op, const char *key, json_t *value);
/* The same over any op's state and save callback (runs share it). */
int rain_target_state_put(json_t *state, const char *key, json_t *value,
			  int (*save)(void *ud, json_t *state), void *ud);
/* Format a line and give it to log (NULL: nothing). */
void rain_target_vlog(void (*log)(void *ud, enum rain_target_level level, const char *msg), void *ud,
		      enum rain_target_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
void rain_target_log(struct rain_target_op *op, enum rain_target_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void rain_target_progress(struct rain_target_op *op, const char *what, int64_t done, int64_t total);
/* RAIN_ECANCELED with a message when op->cancel is set, else 0. */
int rain_target_check_cancel(struct rain_target_op *op);

/* The steps, through the site's driver: accepts, then adapt (the driver's,
 * or rain_adapt() with its defaults when it has none), publish, and on any
 * failure after publish began, unpublish. The kernel allow-list is checked
 * on what adapt found. adapt keeps what it made in op->workdir with
 * artifacts.json naming its source (the image's hash, the site's adapt
 * key, the SHA-256 of op->ssh_key): a later adapt of the same source in the
 * same folder reuses it, also for another site of the same adapt key (one
 * at a time: the folder is locked while adapting, and artifacts.json is
 * written only once the copy is whole, so a copy half made by a killed
 * process is made again, never used). */
int rain_target_accepts(const struct rain_site *s, const struct rain_target_image *img);
/* What s's adaptation depends on besides the image and the user's key, as
 * a new string in *out: the driver's adapt_key (rain/sys/target.h), else
 * "site NAME URI" (a copy of the site's own). Sites with equal keys may
 * share one adapted copy (raind's [register] cache_dir keeps one per
 * image data, key and user's key). */
int rain_target_adapt_key(const struct rain_site *s, char **out);
int rain_target_adapt(struct rain_target_op *op, const struct rain_target_image *img,
		      struct rain_target_artifacts *out);
int rain_target_publish(struct rain_target_op *op, const struct rain_target_image *img,
			const struct rain_target_artifacts *a);
/* Remove what op->state names; what is already gone is not an error.
 * Clears state as things are removed. */
int rain_target_unpublish(struct rain_target_op *op);
/* What the target says of a registration (exists, its status there). */
int rain_target_status(struct rain_target_op *op, json_t **out);

#endif
