/* Random (version 4) UUIDs in their 36-character text form. */
#ifndef RAIN_UTIL_UUID_H
#define RAIN_UTIL_UUID_H

#include <stdbool.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* Write a new random UUID into out. 0 or RAIN_EIO if no randomness. */
int uuid_generate(char out[UUID_STR_LEN]);

/* True for 8-4-4-4-12 hex digits (either case). */
bool uuid_is_valid(const char *s);

/* Lowercase s in place (a valid UUID's canonical form). */
void uuid_canonicalize(char *s);

#endif
