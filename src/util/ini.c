#include <ctype.h>
#include <string.h>

#include "rain/error.h"
#include "util/fsutil.h"
#include "util/ini.h"
#include "util/strutil.h"

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int ini_parse_string(const char *text, const char *file, ini_handler cb, void *ud)
{
	_cleanup_free_ char *copy = strdup(text);
	_cleanup_free_ char *section = strdup("");
	char *line, *save = NULL;
	int lineno = 0, r;

	if (!copy || !section)
		return rain_error_oom();
	/* strtok_r would skip empty lines and miscount, so split by hand */
	for (line = copy; line; line = save) {
		char *nl = strchr(line, '\n'), *s, *eq;

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');

			if (!end || end[1] != '\0' || end == s + 1)
				return rain_error_set(RAIN_EINVAL, "%s:%d: bad section header '%s'",
						      file, lineno, s);
			*end = '\0';
			free(section);
			section = strdup(trim(s + 1));
			if (!section)
				return rain_error_oom();
			continue;
		}
		eq = strchr(s, '=');
		if (!eq)
			return rain_error_set(RAIN_EINVAL, "%s:%d: expected 'key = value', got '%s'",
					      file, lineno, s);
		*eq = '\0';
		s = trim(s);
		if (*s == '\0')
			return rain_error_set(RAIN_EINVAL, "%s:%d: missing key before '='",
					      file, lineno);
		r = cb(ud, file, lineno, section, s, trim(eq + 1));
		if (r < 0)
			return r;
	}
	return 0;
}

int ini_parse_file(const char *path, ini_handler cb, void *ud)
{
	_cleanup_free_ char *text = NULL;
	int r = fs_read_small(path, 1 << 20, &text, NULL);

	if (r < 0)
		return r;
	return ini_parse_string(text, path, cb, ud);
}
