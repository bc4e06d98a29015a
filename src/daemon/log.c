#include <stdio.h>
#include <string.h>

#include "daemon/log.h"
#include "util/timeutil.h"

static enum log_level min_level = LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warning", "error" };

void log_set_level(enum log_level level)
{
	min_level = level;
}

void log_vprintf(enum log_level level, const char *fmt, va_list ap)
{
	char ts[32], line[2048];
	size_t n;

	if (level < min_level)
		return;
	time_format_iso(time_now_us(), ts, sizeof(ts));
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	/* one fprintf per line: stdio locks the stream for its duration */
	fprintf(stderr, "%s raind %s: %s\n", ts, level_names[level], line);
}

void log_printf(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprintf(level, fmt, ap);
	va_end(ap);
}

void log_request(const char *addr, const char *request_id, const char *method, const char *url,
		 unsigned int status, const char *note, int64_t bytes_in, int64_t bytes_out,
		 int64_t micros)
{
	log_printf(LOG_INFO, "%s %s \"%s %s\" %u in=%lld out=%lld %.1fms%s", addr, request_id,
		   method, url,
		   status, (long long)bytes_in, (long long)bytes_out, micros / 1000.0, note);
}

void log_jobs(void *ud, enum rain_jobs_level level, const char *msg)
{
	(void)ud;
	log_printf(level == RAIN_JOBS_ERROR ? LOG_ERROR : level == RAIN_JOBS_WARN ? LOG_WARN :
		   LOG_INFO, "%s", msg);
}
