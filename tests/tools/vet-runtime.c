/* The runtime check (rain/vet-runtime.h) on one image, for the
 * integration tests until `rain vet --runtime` calls it:
 *   vet-runtime IMAGE [TIMEOUT_S]
 * prints the facts as JSON on stdout, the check's progress on stderr, and
 * on failure "error: MESSAGE" on stderr with exit status 1. */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "rain/error.h"
#include "rain/imgfs.h"
#include "rain/vet-runtime.h"

static void log_line(void *ud, const char *line)
{
	(void)ud;
	fprintf(stderr, "%s\n", line);
}

int main(int argc, char **argv)
{
	struct rain_vet_runtime_options o = { .log = log_line };
	struct rain_imgfs *fs = NULL;
	json_t *facts = NULL;
	int r;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: vet-runtime IMAGE [TIMEOUT_S]\n");
		return 2;
	}
	if (argc == 3)
		o.timeout_s = atoi(argv[2]);
	r = rain_imgfs_open(argv[1], NULL, NULL, &fs);
	if (r == 0)
		r = rain_vet_runtime(fs, argv[1], &o, &facts);
	rain_imgfs_close(fs);
	if (r < 0) {
		fprintf(stderr, "error: %s\n", rain_error_last());
		return 1;
	}
	json_dumpf(facts, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(facts);
	return 0;
}
