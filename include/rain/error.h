/* rain error codes and the per-thread last-error message.
 *
 * Every library function returns 0 on success or one of the negative codes
 * below.  A function that fails sets a human-readable message with
 * rain_error_set() before returning; rain_error_last() gives the calling
 * thread's latest message.  Library code never prints.
 */
#ifndef RAIN_ERROR_H
#define RAIN_ERROR_H

enum rain_error {
	RAIN_OK = 0,
	RAIN_ENOMEM = -1,       /* out of memory */
	RAIN_EINVAL = -2,       /* bad input from the caller or the user */
	RAIN_ENOTFOUND = -3,    /* no such object */
	RAIN_ECONFLICT = -4,    /* the object's state forbids it */
	RAIN_EIO = -5,          /* a system call or storage failed */
	RAIN_EFORBIDDEN = -6,   /* not allowed (read-only, protected, ...) */
	RAIN_ETOOBIG = -7,      /* over a size limit */
	RAIN_EFORMAT = -8,      /* data does not match its declared format */
	RAIN_EEXISTS = -9,      /* an object with that key exists already */
	RAIN_EAUTH = -10,       /* not authenticated */
	RAIN_ENOSPC = -11,      /* storage is full */
	RAIN_ENET = -12,        /* network failure talking to a server */
	RAIN_ECANCELED = -13,   /* the operation was interrupted */
	RAIN_ELIMIT = -14,      /* a per-user or per-kind limit is reached: try later */
	RAIN_ETIMEDOUT = -15,   /* something did not happen within its time limit */
};

/* Record a message for the calling thread and return code, so that callers
 * can write `return rain_error_set(RAIN_EINVAL, "bad %s", x);`. */
int rain_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Like rain_error_set(), appending ": strerror(errnum)". */
int rain_error_errno(int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* rain_error_set(RAIN_ENOMEM, "out of memory"): the one out-of-memory
 * error, so that `return rain_error_oom();` always leaves a message. */
int rain_error_oom(void);

/* The calling thread's last message; never NULL (may be ""). */
const char *rain_error_last(void);

/* Forget the last message.  Rule: a public function that can fail calls
 * it on entry, before anything that could set a message, so that
 * rain_error_last() after a failure is that call's message and never a
 * stale one from an earlier call.  Read the message only after a negative
 * return.  The entry points a program calls do so: repo.h, client.h,
 * image.h, diskfmt.h, jsonpatch.h, policy.h, auth.h, ldap.h, identity.h
 * (but rain_identity_token_revoke), recipe.h, build.h, build-image.h,
 * build-record.h, build-kind.h and jobs.h's rain_jobs_*.  The catalog,
 * the blob store, the job-token hooks (jobs-token.h) and the rain_job_*
 * calls a kind makes while its job runs do not: they are called on
 * rollback paths after the caller has set its own message, which a clear
 * would wipe. */
void rain_error_clear(void);

/* A short name for a code, e.g. "not found". */
const char *rain_error_name(int code);

#endif
