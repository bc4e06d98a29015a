/* bench/clone.sh's driver: clone a raw or qcow2 disk into a new tree the
 * way a build with base = image:REF does (build_clone_base), and print
 * the seconds it took: wall, then CPU (user + system, its own and its
 * children's: the sandboxes and the tools they ran). Built against librain's internals, so the same
 * source times any version of the clone.
 *
 *   clone-run DISK FORMAT WORKDIR   (WORKDIR: an empty folder, mode 0711)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/build/build-internal.h"
#include "lib/build/sandbox.h"
#include "rain/error.h"

static void on_log(void *ud, const char *line)
{
	fprintf(stderr, "%s\n", line);
}

int main(int argc, char **argv)
{
	static struct rain_recipe r = { .file = "bench.recipe" };
	static struct rain_build_base_image bi = { .id = "bench" };
	static struct rain_build_options o;
	static struct build_ctx b;
	const char *env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	char tmp[4096], base[4096], root[4096];
	struct timespec t0, t1;
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: clone-run DISK FORMAT WORKDIR\n");
		return 2;
	}
	snprintf(tmp, sizeof(tmp), "%s/tmp", argv[3]);
	snprintf(base, sizeof(base), "%s/base", argv[3]);
	snprintf(root, sizeof(root), "%s/base/root", argv[3]);
	/* as a build's scratch: tmp/ open to every stage, the base's folder
	 * the sandbox's */
	if (mkdir(tmp, 0700) < 0 || chmod(tmp, 01777) < 0 || mkdir(base, 0700) < 0 ||
	    sandbox_chown(base, SANDBOX_HOST_ID) < 0) {
		perror("clone-run: mkdir");
		return 1;
	}
	o.base_image = &bi;
	o.cache_dir = argv[3];
	o.log = on_log;
	b.r = &r;
	b.o = &o;
	b.scratch = argv[3];
	b.lockfd = b.idsfd = -1;
	snprintf(b.cg_name, sizeof(b.cg_name), "clone-bench-%d", (int)getpid());
	build_limits_resolve(&b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	b.deadline_us = (int64_t)t0.tv_sec * 1000000 + t0.tv_nsec / 1000 + 3600ll * 1000000;
	rc = build_clone_base(&b, argv[1], argv[2], root, env);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	build_cgroup_remove(&b);
	if (rc < 0) {
		fprintf(stderr, "clone-run: %s\n", rain_error_last());
		return 1;
	}
	{
		struct rusage self, kids;

		getrusage(RUSAGE_SELF, &self);
		getrusage(RUSAGE_CHILDREN, &kids);
		printf("%.2f %.2f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
		       (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
				kids.ru_stime.tv_sec) +
		       (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
				kids.ru_stime.tv_usec) / 1e6);
	}
	return 0;
}
