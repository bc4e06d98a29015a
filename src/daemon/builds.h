/* raind's build service: builds submitted by many users wait in one
 * queue (oldest first) and a fixed pool of worker threads runs up to
 * max_concurrent of them at once, each as a child process
 *
 *   RAIN generate DIR/input/.rain-build.recipe -o DIR/out --cache CACHE
 *        [--boot-check]
 *
 * with its output lines appended to DIR/log, ended (process group, TERM
 * then KILL) when canceled or past timeout_s. A build that succeeds and
 * asked to be stored is put into the repository here, in-process, owned
 * by the user who submitted it.
 *
 * Each build lives in DIR = builds_dir/ID: build.json (the record,
 * include/rain/build-record.h, replaced atomically and fsynced on every
 * change), recipe (the text as submitted), input/ (the files sent with it
 * and a copy of the recipe, so that its relative paths resolve there),
 * log and out/. A build is accepted only once its directory and record
 * are durable. At start-up, builds found running (raind stopped during
 * them) become failed, and any `rain generate` still working in their
 * directory is stopped; queued ones are queued again.
 *
 * A recipe with base = image:REF makes the child a client of this
 * repository with its owner's rights: for the build, raind mints a token
 * of the owner in the catalog (like a Keystone login; only its hash is
 * stored, in the catalog and in DIR/token.sha256; it expires with the
 * build's time limit) and gives the child RAIN_URL (raind's own address,
 * see builds_serve), RAIN_TOKEN and, with TLS, RAIN_CACERT in its
 * environment, never in its arguments or a log. The token is revoked when
 * the build ends however it ends, and at start-up for builds that were
 * running when raind stopped. Builds of the service token (owner "admin"
 * when no user has that name) get the service token. Other builds get
 * none of these variables (raind's own RAIN_* and OS_* are not passed on).
 *
 * Everything here is thread-safe. Functions taking a who only show a
 * build to its owner and to admins (others get RAIN_ENOTFOUND).
 */
#ifndef RAIND_BUILDS_H
#define RAIND_BUILDS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "rain/repo.h"

struct builds_config {
	const char *dir;            /* where the builds live (created 0700) */
	const char *cache_dir;      /* the package cache shared by the builds */
	const char *rain_command;   /* the rain program; NULL: none found */
	int max_concurrent;         /* worker threads, >= 1 */
	int timeout_s;              /* per build */
	bool enabled;               /* false: nothing runs, submissions refused */
	const char *disabled_why;   /* the reason given when !enabled */
	const char *admin_token;    /* the service token (for its builds); may be NULL */
};

struct builds_recovery {
	int64_t failed;             /* were running: now failed */
	int64_t requeued;           /* were queued: queued again */
	int64_t stopped;            /* leftover build processes stopped */
	int64_t unreadable;         /* directories whose record cannot be read */
	int64_t tokens_revoked;     /* build tokens left by them, now revoked */
};

struct builds;
struct builds_log;

/* Load the records and recover from the previous run. Builds can be
 * submitted from here on, but none runs before builds_serve(). *rec may
 * be NULL. */
int builds_start(struct builds **out, const struct builds_config *cfg, struct rain_repo *repo,
		 struct builds_recovery *rec);
/* Start the workers (when enabled), once the server listens: builds reach
 * the repository at url ("http(s)://HOST:PORT", raind's own address),
 * checking its certificate with cacert (NULL: plain HTTP or the system's
 * CAs). Once only. */
int builds_serve(struct builds *b, const char *url, const char *cacert);
/* End every log stream now (the HTTP server is about to stop). */
void builds_quiesce(struct builds *b);
/* Stop the running builds (they are recorded as failed: raind stopped
 * during the build), join the workers and free. Queued builds stay
 * queued for the next start. NULL is fine. */
void builds_stop(struct builds *b);

/* NULL when builds can be submitted, else why not (for a 503). */
const char *builds_unavailable(struct builds *b);

/* Submit a build from the JSON body of POST /rain/v1/builds (see
 * raind(8)): the recipe is parsed, the files' names are checked and every
 * file the recipe's [files] and [scripts] name must be among them.
 * RAIN_EINVAL (the message says what is wrong, with the recipe's line and
 * key), RAIN_ETOOBIG past RAIN_BUILD_FILES_MAX. *out is the new record. */
int builds_submit(struct builds *b, const struct rain_who *who, json_t *body, json_t **out);

/* The record with, while queued, "position" (1: next), and once
 * succeeded the build's "manifest". */
int builds_get(struct builds *b, const struct rain_who *who, const char *id, json_t **out);
/* {"builds": [...]}, newest first; the caller's own (an admin's: all). */
int builds_list(struct builds *b, const struct rain_who *who, json_t **out);
/* queued: canceled at once. running: the build is stopped and this waits
 * (a while) until it is. Finished builds: RAIN_ECONFLICT. *out is the
 * record afterwards. */
int builds_cancel(struct builds *b, const struct rain_who *who, const char *id, json_t **out);
/* Only finished builds (RAIN_ECONFLICT otherwise); removes the directory. */
int builds_delete(struct builds *b, const struct rain_who *who, const char *id);
/* How many build records owner has (any status). */
int64_t builds_count_owned(struct builds *b, const char *owner);

/* Read a build's log from byte offset on. With follow, reading blocks
 * until more is written and ends (0) only when the build has finished
 * and everything is read, the build is deleted, or builds_quiesce() was
 * called; without, it ends at the current end. */
int builds_log_open(struct builds *b, const struct rain_who *who, const char *id,
		    int64_t offset, bool follow, struct builds_log **out);
/* Bytes read (> 0), 0 at the end, or a negative rain error code. */
ssize_t builds_log_read(struct builds_log *l, char *buf, size_t max);
void builds_log_close(struct builds_log *l);

#endif
