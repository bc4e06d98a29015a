/* Shared between the runtime check's parts (runtime.c, runtime-parse.c). */
#ifndef RAIN_LIB_VET_RUNTIME_INTERNAL_H
#define RAIN_LIB_VET_RUNTIME_INTERNAL_H

#include <stdbool.h>

/* Clean one line of guest output in place: carriage returns, tabs (made
 * blanks), other control characters and escape sequences removed, each
 * character past ASCII (a UTF-8 sequence, or a stray byte) made '?'. */
void vet_runtime_line_clean(char *s);
/* Whether addr (text, IPv4 or IPv6) is a loopback address (127/8, ::1,
 * ::ffff:127.x.y.z). */
bool vet_runtime_loopback(const char *addr);

/* The collector's command (systemd.run= on the kernel command line):
 * no '$', '%' or '"' in it. */
extern const char vet_runtime_collector[];

#endif
