/* The sessions of remote build workers (rain/sys/worker.h), kept by the
 * build kind (build-kind.c) and reached by raind's worker API through
 * rain_build_kind_worker_*() (rain/build-kind.h).
 *
 * A session lives while its build runs on a remote backend: from before
 * the backend's run() to after it. It holds the build's worker token,
 * of which only the SHA-256 is kept, in memory only: a token is good for
 * that one build while it runs (and until its time limit), for nothing
 * else, and for nothing after raind restarts. Thread-safe.
 */
#ifndef RAIN_BUILD_WORKER_H
#define RAIN_BUILD_WORKER_H

#include <stdint.h>

#include "rain/sys/job.h"
#include "rain/sys/worker.h"

struct worker_sessions;

int worker_sessions_new(struct worker_sessions **out);
/* Once no session is open. NULL is fine. */
void worker_sessions_free(struct worker_sessions *s);

/* Open the session of running job (borrowed until it is closed), valid
 * until expires_us (time_now_us()); *token is its secret (RAIN_TOKEN_LEN
 * + 1 bytes, the caller's to wipe). */
int worker_session_open(struct worker_sessions *s, struct rain_job_run *job, int64_t expires_us,
			struct rain_worker_session **out, char *token);
/* After run(): the token is good for nothing from here on; removes what
 * unfinished uploads left in DIR/out. */
void worker_session_close(struct worker_sessions *s, struct rain_worker_session *ws);

/* The worker API's calls (rain/build-kind.h says what each does). */
int worker_session_log(struct worker_sessions *s, const char *id, const char *token,
		       const char *text, size_t len);
int worker_session_output_open(struct worker_sessions *s, const char *id, const char *token,
			       const char *name, int *fd);
int worker_session_output_commit(struct worker_sessions *s, const char *id, const char *token,
				 const char *name, int fd);
int worker_session_done(struct worker_sessions *s, const char *id, const char *token, bool ok,
			const char *error);

/* The backend named name ("local", "slurm"; NULL: "local"), built in or
 * registered (rain/sys/registry.h, kind "worker"). RAIN_EINVAL names the
 * known ones. */
int worker_backend_find(const char *name, const struct rain_worker_backend **out);

#endif
