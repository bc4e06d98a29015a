/* The sessions of remote build workers; see build-worker.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/build/build-worker.h"
#include "rain/auth.h"
#include "rain/error.h"
#include "rain/sys/registry.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define UPLOAD_PREFIX ".upload-"
/* the most a worker may write into a build's log */
#define LOG_MAX ((int64_t)256 << 20)

struct rain_worker_session {
	struct rain_worker_session *next;
	struct worker_sessions *owner;
	struct rain_job_run *job;               /* borrowed while open */
	char hash[RAIN_TOKEN_HASH_LEN + 1];     /* of its token */
	int64_t expires_us;
	char *outdir;                           /* DIR/out */
	int64_t logged;                         /* bytes the worker logged */
	bool contacted, reported, ok;
	char *error;                            /* the worker's, when it failed */
};

struct worker_sessions {
	pthread_mutex_t lock;
	struct rain_worker_session *list;
};

int worker_sessions_new(struct worker_sessions **out)
{
	struct worker_sessions *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return rain_error_oom();
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void worker_sessions_free(struct worker_sessions *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void session_free(struct rain_worker_session *ws)
{
	free(ws->outdir);
	free(ws->error);
	explicit_bzero(ws->hash, sizeof(ws->hash));
	free(ws);
}

int worker_session_open(struct worker_sessions *s, struct rain_job_run *job, int64_t expires_us,
			struct rain_worker_session **out, char *token)
{
	struct rain_worker_session *ws = calloc(1, sizeof(*ws));
	int r;

	*out = NULL;
	if (!ws || !(ws->outdir = fs_path_join(job->dir, "out"))) {
		free(ws);
		return rain_error_oom();
	}
	if ((r = rain_token_new(token, ws->hash)) < 0) {
		session_free(ws);
		return r;
	}
	if (mkdir(ws->outdir, 0700) < 0 && errno != EEXIST) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", ws->outdir);
		explicit_bzero(token, RAIN_TOKEN_LEN);
		session_free(ws);
		return r;
	}
	ws->owner = s;
	ws->job = job;
	ws->expires_us = expires_us;
	pthread_mutex_lock(&s->lock);
	ws->next = s->list;
	s->list = ws;
	pthread_mutex_unlock(&s->lock);
	*out = ws;
	return 0;
}

/* Remove DIR/out/.upload-* (uploads that never completed). */
static void remove_uploads(const char *outdir)
{
	DIR *d = opendir(outdir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (str_has_prefix(e->d_name, UPLOAD_PREFIX))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

void worker_session_close(struct worker_sessions *s, struct rain_worker_session *ws)
{
	struct rain_worker_session **p;

	if (!ws)
		return;
	pthread_mutex_lock(&s->lock);
	for (p = &s->list; *p && *p != ws; p = &(*p)->next)
		;
	if (*p)
		*p = ws->next;
	pthread_mutex_unlock(&s->lock);
	remove_uploads(ws->outdir);
	session_free(ws);
}

/* The session of build id whose token is token, with s->lock held; NULL
 * (RAIN_EAUTH set, the lock released) when there is none: the build is
 * not running on a remote worker, the token is not its own or has
 * expired. One message for all, so that it tells nothing about others. */
static struct rain_worker_session *session_find(struct worker_sessions *s, const char *id,
						const char *token)
{
	char hash[RAIN_TOKEN_HASH_LEN + 1];

	if (!id || !token) {
		rain_error_set(RAIN_EAUTH, "a build worker's token is needed (X-Rain-Worker-Token)");
		return NULL;
	}
	rain_token_hash(token, hash);
	pthread_mutex_lock(&s->lock);
	for (struct rain_worker_session *ws = s->list; ws; ws = ws->next)
		if (!strcmp(ws->job->id, id) && rain_token_hash_equal(ws->hash, hash) &&
		    time_now_us() < ws->expires_us) {
			ws->contacted = true;
			return ws;
		}
	pthread_mutex_unlock(&s->lock);
	rain_error_set(RAIN_EAUTH, "the worker token is not valid for build %s (the build is not "
		       "running on a worker, or the token is another's or has expired)", id);
	return NULL;
}

int worker_session_log(struct worker_sessions *s, const char *id, const char *token,
		       const char *text, size_t len)
{
	struct rain_worker_session *ws = session_find(s, id, token);

	if (!ws)
		return RAIN_EAUTH;
	if (ws->logged + (int64_t)len > LOG_MAX) {
		pthread_mutex_unlock(&s->lock);
		return rain_error_set(RAIN_ETOOBIG, "build %s: the worker's log passed %lld MiB",
				      id, (long long)(LOG_MAX >> 20));
	}
	ws->logged += (int64_t)len;
	/* whole lines, each with one write (the last one may lack its
	 * newline) */
	while (len) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl ? (size_t)(nl - text) : len;

		rain_job_log(ws->job, "%.*s", (int)n, text);
		n += nl ? 1 : 0;
		text += n;
		len -= n;
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* DIR/out/[.upload-]NAME into *path; name must be a plain file name. */
static int output_path(struct rain_worker_session *ws, const char *name, bool upload, char **path)
{
	if (!fs_name_is_safe(name) || name[0] == '.')
		return rain_error_set(RAIN_EINVAL, "'%s' cannot name a build output: give a file name "
				      "without '/' that does not start with '.'", name);
	if (asprintf(path, "%s/%s%s", ws->outdir, upload ? UPLOAD_PREFIX : "", name) < 0) {
		*path = NULL;
		return rain_error_oom();
	}
	return 0;
}

int worker_session_output_open(struct worker_sessions *s, const char *id, const char *token,
			       const char *name, int *fd)
{
	struct rain_worker_session *ws = session_find(s, id, token);
	_cleanup_free_ char *path = NULL;
	int r;

	*fd = -1;
	if (!ws)
		return RAIN_EAUTH;
	r = output_path(ws, name, true, &path);
	if (r == 0 && ws->reported)
		r = rain_error_set(RAIN_ECONFLICT, "build %s: the worker reported its outcome already",
				   id);
	if (r == 0) {
		*fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (*fd < 0)
			r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", path);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int worker_session_output_commit(struct worker_sessions *s, const char *id, const char *token,
				 const char *name, int fd)
{
	struct rain_worker_session *ws;
	_cleanup_free_ char *tmp = NULL, *path = NULL;
	int r = 0;

	if (fsync(fd) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot fsync the output %s", name);
	close(fd);
	if (r < 0)
		return r;
	if (!(ws = session_find(s, id, token)))
		return RAIN_EAUTH;
	r = output_path(ws, name, true, &tmp);
	if (r == 0)
		r = output_path(ws, name, false, &path);
	if (r == 0 && rename(tmp, path) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot rename %s", tmp);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int worker_session_done(struct worker_sessions *s, const char *id, const char *token, bool ok,
			const char *error)
{
	struct rain_worker_session *ws = session_find(s, id, token);
	int r = 0;

	if (!ws)
		return RAIN_EAUTH;
	if (ws->reported) {
		r = rain_error_set(RAIN_ECONFLICT, "build %s: the worker reported its outcome already",
				   id);
	} else {
		ws->reported = true;
		ws->ok = ok;
		if (!ok && !(ws->error = strdup(error && *error ? error : "the worker failed")))
			r = rain_error_oom();
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Read by the backend's run(), under the lock that orders them with the
 * worker API's writes. */
bool rain_worker_session_reported(struct rain_worker_session *ws, bool *ok, char **error)
{
	struct worker_sessions *s = ws->owner;
	bool reported;

	pthread_mutex_lock(&s->lock);
	reported = ws->reported;
	*ok = ws->ok;
	*error = reported && ws->error ? strdup(ws->error) : NULL;
	pthread_mutex_unlock(&s->lock);
	return reported;
}

bool rain_worker_session_contacted(struct rain_worker_session *ws)
{
	struct worker_sessions *s = ws->owner;
	bool c;

	pthread_mutex_lock(&s->lock);
	c = ws->contacted;
	pthread_mutex_unlock(&s->lock);
	return c;
}

/* ---- the backends ---- */

extern const struct rain_driver rain_worker_backend_local;
extern const struct rain_driver rain_worker_backend_slurm;

int worker_backend_find(const char *name, const struct rain_worker_backend **out)
{
	static const struct rain_driver *const builtin[] = {
		&rain_worker_backend_local, &rain_worker_backend_slurm, NULL,
	};
	const struct rain_driver *d;
	int r;

	*out = NULL;
	r = rain_driver_find("worker", name ? name : "local", builtin, RAIN_WORKER_BACKEND_VERSION,
			     &d);
	if (r == RAIN_ENOTFOUND)
		return rain_error_set(RAIN_EINVAL, "[builds] backend: unknown backend '%s' (known: "
				      "local, slurm)", name);
	if (r < 0)
		return r;
	*out = d->table;
	return 0;
}
