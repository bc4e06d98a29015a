/* Time helpers: microsecond wall clock and ISO 8601 formatting. */
#ifndef RAIN_UTIL_TIMEUTIL_H
#define RAIN_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Microseconds since the epoch (CLOCK_REALTIME). */
int64_t time_now_us(void);

/* Monotonic microseconds, for durations. */
int64_t time_mono_us(void);

/* Format us as "YYYY-MM-DDTHH:MM:SSZ" (UTC, seconds precision, as Glance)
 * into out (at least 21 bytes). */
void time_format_iso(int64_t us, char *out, size_t outlen);

/* Parse "YYYY-MM-DDTHH:MM:SS[.frac][Z|+00:00]" (UTC) into microseconds.
 * 0 or RAIN_EINVAL. */
int time_parse_iso(const char *s, int64_t *us);

#endif
