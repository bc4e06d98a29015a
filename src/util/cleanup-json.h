/* _cleanup_json_: json_decref() a json_t * when it goes out of scope
 * (jansson's own json_decrefp(), the attribute spelled like the others). */
#ifndef RAIN_UTIL_CLEANUP_JSON_H
#define RAIN_UTIL_CLEANUP_JSON_H

#include <jansson.h>

#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))

#endif
