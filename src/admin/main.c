/* rain-admin: operations on a repository's stores that run beside raind,
 * on the machine, rather than through its API.
 *
 *   rain-admin migrate [--replace] SRC DST
 *     copies the SQLite catalog SRC into the PostgreSQL catalog DST
 *     (rain_catalog_migrate: every table, verified before it commits).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "rain/catalog.h"
#include "rain/error.h"

#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fputs("Usage: rain-admin COMMAND [OPTIONS] ARGS\n"
	      "\n"
	      "Commands:\n"
	      "  migrate [--replace] SRC DST\n"
	      "      copy the SQLite catalog SRC (sqlite:PATH) into the PostgreSQL catalog DST\n"
	      "      (postgresql://[USER@]HOST[:PORT]/DB or postgresql:///DB?host=SOCKETDIR):\n"
	      "      every table, checked by row counts and row-by-row contents before it\n"
	      "      commits. Stop raind first. DST must be empty unless --replace, which\n"
	      "      empties it (in the same transaction).\n"
	      "\n"
	      "Options:\n"
	      "  -h, --help      show this help\n", f);
}

static int cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "replace", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rain_catalog_migrate_count counts[RAIN_CATALOG_TABLES];
	bool replace = false;
	int64_t total = 0;
	size_t n = 0;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			replace = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "rain-admin: migrate takes SRC and DST (see rain-admin --help)\n");
		return EXIT_USAGE;
	}
	if (rain_catalog_migrate(argv[optind], argv[optind + 1], replace, counts, &n) < 0) {
		fprintf(stderr, "rain-admin: error: %s\n", rain_error_last());
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		printf("%-18s %lld\n", counts[i].table, (long long)counts[i].rows);
		total += counts[i].rows;
	}
	printf("copied %lld rows in %zu tables; counts and contents verified\n", (long long)total, n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "migrate"))
		return cmd_migrate(argc - 1, argv + 1);
	fprintf(stderr, "rain-admin: unknown command '%s' (see rain-admin --help)\n", argv[1]);
	return EXIT_USAGE;
}
