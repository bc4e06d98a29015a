/* bench/catalog-list.sh's timer: filtered image lists (a page of 25)
 * through rain_catalog_image_list on one catalog, each query RUNS times
 * after one warm-up; one line per query: its name, median and 95th
 * percentile milliseconds, images on the page. The queries are those
 * Glance clients send (see the list below); the catalog is the one
 * bench/catalog-list.sh fills (owners u0..u999, os_distro, tags t0..t99,
 * names img-N). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rain/catalog.h"
#include "rain/error.h"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct bench {
	const char *name;
	struct rain_image_query q;
};

int main(int argc, char **argv)
{
	static struct bench b[] = {
		{ "admin, newest first", { .limit = 25, .requester = "admin", .requester_admin = true } },
		{ "user u7's view (own + public)", { .limit = 25, .requester = "u7" } },
		{ "status=active, disk_format=qcow2", { .limit = 25, .requester = "admin",
		  .requester_admin = true, .nterms = 2, .terms = { { "status", RAIN_OP_EQ, "active" },
		  { "disk_format", RAIN_OP_EQ, "qcow2" } } } },
		{ "property os_distro=fedora", { .limit = 25, .requester = "admin",
		  .requester_admin = true, .nterms = 1, .terms = { { "os_distro", RAIN_OP_EQ, "fedora" } } } },
		{ "u7's view, os_distro=rocky", { .limit = 25, .requester = "u7",
		  .nterms = 1, .terms = { { "os_distro", RAIN_OP_EQ, "rocky" } } } },
		{ "name=img-123457 (one image)", { .limit = 25, .requester = "admin",
		  .requester_admin = true, .nterms = 1, .terms = { { "name", RAIN_OP_EQ, "img-123457" } } } },
		{ "owner=u42", { .limit = 25, .requester = "admin", .requester_admin = true,
		  .nterms = 1, .terms = { { "owner", RAIN_OP_EQ, "u42" } } } },
		{ "tag t42", { .limit = 25, .requester = "admin", .requester_admin = true,
		  .ntags = 1, .tags = { "t42" } } },
		{ "size>=1073741000, sort size", { .limit = 25, .requester = "admin",
		  .requester_admin = true, .nterms = 1, .terms = { { "size", RAIN_OP_GTE, "1073741000" } },
		  .nsort = 1, .sort = { { "size", false } } } },
		{ "page after a marker (middle)", { .limit = 25, .requester = "admin",
		  .requester_admin = true } },
	};
	struct rain_catalog *cat;
	int runs = argc > 2 ? atoi(argv[2]) : 50;
	double *t;

	if (argc < 2 || runs < 1) {
		fprintf(stderr, "usage: catalog-list URI [RUNS [MARKER]]\n");
		return 2;
	}
	b[sizeof(b) / sizeof(b[0]) - 1].q.marker = argc > 3 ? argv[3] : NULL;
	if (rain_catalog_open(&cat, argv[1]) < 0) {
		fprintf(stderr, "catalog-list: %s\n", rain_error_last());
		return 1;
	}
	t = calloc((size_t)runs, sizeof(*t));
	for (size_t k = 0; t && k < sizeof(b) / sizeof(b[0]); k++) {
		struct rain_image **imgs = NULL;
		size_t n = 0;
		bool more;

		for (int i = -1; i < runs; i++) {
			double t0 = now_ms();

			if (rain_catalog_image_list(cat, &b[k].q, &imgs, &n, &more) < 0) {
				fprintf(stderr, "catalog-list: %s: %s\n", b[k].name, rain_error_last());
				return 1;
			}
			if (i >= 0)
				t[i] = now_ms() - t0;
			rain_catalog_list_free(imgs, n);
		}
		qsort(t, (size_t)runs, sizeof(*t), cmp_double);
		printf("%-34s median %8.3f ms  p95 %8.3f ms  %zu images\n", b[k].name, t[runs / 2],
		       t[(runs * 95) / 100 < runs ? (runs * 95) / 100 : runs - 1], n);
	}
	free(t);
	rain_catalog_close(cat);
	return 0;
}
