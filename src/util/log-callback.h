/* The library never prints: what an operator should know goes to a log
 * callback its caller configured (rain/identity.h, rain/jobs.h,
 * rain/build-kind.h), one formatted message at a time. */
#ifndef RAIN_UTIL_LOG_CALLBACK_H
#define RAIN_UTIL_LOG_CALLBACK_H

#include <stdio.h>

/* The longest message passed on, with its NUL; longer ones are cut. */
#define LOG_CALLBACK_MAX 1024

/* When fn is not NULL, call fn(ud, level, message) with the message that
 * the printf format and its arguments make. A macro so that each
 * callback keeps its own level type; fn (a pointer variable or field, not
 * a function's name) is evaluated twice. */
#define LOG_CALLBACK(fn, ud, level, ...)                                        \
	do {                                                                    \
		if (fn) {                                                       \
			char log_cb_msg_[LOG_CALLBACK_MAX];                     \
									\
			snprintf(log_cb_msg_, sizeof(log_cb_msg_), __VA_ARGS__); \
			(fn)((ud), (level), log_cb_msg_);                       \
		}                                                               \
	} while (0)

#endif
