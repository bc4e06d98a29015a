#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rain/error.h"

static __thread char last_msg[1024];

/* The arguments may be the last message itself (a caller adding context
 * to it): format aside, then copy. */
static void vset(const char *fmt, va_list ap)
{
	char msg[sizeof(last_msg)];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	memcpy(last_msg, msg, sizeof(msg));
}

int rain_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(fmt, ap);
	va_end(ap);
	return code;
}

int rain_error_errno(int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vset(fmt, ap);
	va_end(ap);
	n = strlen(last_msg);
	snprintf(last_msg + n, sizeof(last_msg) - n, ": %s", strerror(errnum));
	return code;
}

int rain_error_oom(void)
{
	return rain_error_set(RAIN_ENOMEM, "out of memory");
}

const char *rain_error_last(void)
{
	return last_msg;
}

void rain_error_clear(void)
{
	last_msg[0] = '\0';
}

const char *rain_error_name(int code)
{
	switch (code) {
	case RAIN_OK: return "success";
	case RAIN_ENOMEM: return "out of memory";
	case RAIN_EINVAL: return "invalid input";
	case RAIN_ENOTFOUND: return "not found";
	case RAIN_ECONFLICT: return "conflict";
	case RAIN_EIO: return "I/O error";
	case RAIN_EFORBIDDEN: return "forbidden";
	case RAIN_ETOOBIG: return "too large";
	case RAIN_EFORMAT: return "bad format";
	case RAIN_EEXISTS: return "already exists";
	case RAIN_EAUTH: return "not authenticated";
	case RAIN_ENOSPC: return "no space left";
	case RAIN_ENET: return "network error";
	case RAIN_ECANCELED: return "canceled";
	case RAIN_ELIMIT: return "limit reached";
	case RAIN_ETIMEDOUT: return "timed out";
	}
	return "unknown error";
}
