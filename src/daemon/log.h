/* raind's log: one line per event on stderr, with a UTC timestamp.
 * Lines are written whole (no interleaving between threads).
 * Secrets (tokens, passwords) must never be passed here. */
#ifndef RAIND_LOG_H
#define RAIND_LOG_H

#include <stdarg.h>
#include <stdint.h>

#include "rain/jobs.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
void log_printf(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vprintf(enum log_level level, const char *fmt, va_list ap);
/* The access-log line of one finished request. */
void log_request(const char *addr, const char *request_id, const char *method,
		 const char *url, unsigned int status,
		 const char *note, int64_t bytes_in, int64_t bytes_out, int64_t micros);
/* The job engines' and job kinds' log callback (rain/jobs.h): msg at
 * its level. ud is not used. */
void log_jobs(void *ud, enum rain_jobs_level level, const char *msg);

#endif
