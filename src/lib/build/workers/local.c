/* The local build worker (rain/sys/worker.h), the default: the build's
 * `rain generate` is a child of raind, in the build's directory, with the
 * engine's time limit and cancel (rain_job_run_program). */
#include "lib/build/build-worker.h"
#include "rain/sys/registry.h"
#include "rain/sys/worker.h"

#define ORPHAN_WAIT_S 15        /* how long start-up waits for leftover builds to stop */

static int local_run(void *state, struct rain_job_run *job, const struct rain_worker_task *t)
{
	return rain_job_run_program(job, t->argv, t->envp, "the build", "[builds] timeout", NULL);
}

static int64_t local_recover(void *state, const char *id, const char *dir)
{
	return rain_job_stop_leftovers(dir, ORPHAN_WAIT_S);
}

static const struct rain_worker_backend local = {
	.version = RAIN_WORKER_BACKEND_VERSION,
	.name = "local",
	.run = local_run,
	.recover = local_recover,
};

const struct rain_driver rain_worker_backend_local = { "worker", "local", "local", &local };
