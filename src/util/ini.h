/* A small INI reader: "[section]" headers, "key = value" lines, comments
 * starting with '#' or ';', blank lines. Keys may repeat (the handler sees
 * each occurrence). Values are trimmed; a value may be empty.
 *
 * The handler returns 0 to go on or a negative rain error code to stop;
 * it should set the error message itself, and can name the place with
 * the `file` and `line` it is given. Errors found by the reader name the
 * file and line too: "raind.conf:12: expected 'key = value'".
 */
#ifndef RAIN_UTIL_INI_H
#define RAIN_UTIL_INI_H

typedef int (*ini_handler)(void *ud, const char *file, int line,
			   const char *section, const char *key,
			   const char *value);

/* Parse text (NUL-terminated); file names it in messages. */
int ini_parse_string(const char *text, const char *file, ini_handler cb, void *ud);

/* Read path (at most 1 MiB) and parse it. */
int ini_parse_file(const char *path, ini_handler cb, void *ud);

#endif
