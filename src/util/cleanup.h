/* Cleanup attributes and the array-grow helper.
 *
 * One resource-release style across the tree: a local that owns something
 * is declared with a _cleanup_*_ attribute and released when it goes out
 * of scope; ownership leaves the function by TAKE_PTR()/TAKE_FD().  Use a
 * single `done:` label only where a cleanup attribute cannot express it
 * (a lock, a rollback, a struct with its own free function).
 *
 * JSON and SQLite variants live in cleanup-json.h and cleanup-sqlite.h so
 * that this header needs only libc.
 */
#ifndef RAIN_UTIL_CLEANUP_H
#define RAIN_UTIL_CLEANUP_H

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rain/error.h"

/* Free *p and set it to NULL. */
static inline void freep(void *p)
{
	free(*(void **)p);
	*(void **)p = NULL;
}
#define _cleanup_free_ __attribute__((cleanup(freep)))

/* Close *fd when it is >= 0 (errno is kept). */
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int e = errno;

		close(*fd);
		errno = e;
	}
	*fd = -1;
}
#define _cleanup_close_ __attribute__((cleanup(closep)))

/* fclose(*f) when it is not NULL. */
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
	*f = NULL;
}
#define _cleanup_fclose_ __attribute__((cleanup(fclosep)))

/* Hand the value out and leave NULL / -1 behind for the cleanup. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

/* Make room for one more element at (*v)[n], elements of size sz.  With
 * cap, the capacity *cap doubles (from 16) when n reaches it; with cap
 * NULL the array grows to exactly n + 1 (for arrays without a capacity
 * field).  0, or RAIN_ENOMEM with the message set; *v is then unchanged
 * and still owned by the caller.  Use through the macros below. */
int array_grow(void **v, size_t sz, size_t n, size_t *cap);

/* Room for v[n]; v a typed pointer lvalue, cap a size_t lvalue. */
#define ARRAY_GROW(v, n, cap) array_grow((void **)&(v), sizeof(*(v)), (n), &(cap))
/* Room for v[n], growing to exactly n + 1 elements. */
#define ARRAY_GROW1(v, n) array_grow((void **)&(v), sizeof(*(v)), (n), NULL)

/* Elements of an array (not a pointer). */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
