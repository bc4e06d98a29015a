/* _cleanup_stmt_: sqlite3_finalize() a statement when it goes out of scope
 * (for one-shot statements; the catalog's cached ones are reset instead). */
#ifndef RAIN_UTIL_CLEANUP_SQLITE_H
#define RAIN_UTIL_CLEANUP_SQLITE_H

#include <sqlite3.h>

static inline void sqlite3_finalizep(sqlite3_stmt **st)
{
	sqlite3_finalize(*st);
	*st = NULL;
}
#define _cleanup_stmt_ __attribute__((cleanup(sqlite3_finalizep)))

#endif
