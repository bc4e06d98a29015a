/* Slurm's client commands (sbatch, scontrol, scancel, squeue), run from
 * argument vectors, and what they print: shared by the slurm site driver
 * and provider (src/lib/target, src/lib/provision) and the slurm build
 * worker (src/lib/build/workers/slurm.c).
 */
#ifndef RAIN_UTIL_SLURM_H
#define RAIN_UTIL_SLURM_H

#include <signal.h>
#include <stdbool.h>

/* Run argv (argv[0] found in PATH) within timeout_s (0: none) or until
 * *cancel (may be NULL), with the caller's environment plus extra
 * ("NAME=VALUE", NULL-terminated, may be NULL) and, when conf is not
 * NULL, SLURM_CONF=conf. *out (new) is its output (stdout and stderr
 * merged, up to 64 KiB), *status its exit status. process_run's errors
 * (RAIN_ENOTFOUND when argv[0] is missing). */
int slurm_cmd_run(const char *conf, const char *const *argv, const char *const *extra,
		  int timeout_s, volatile sig_atomic_t *cancel, char **out, int *status);

/* The last line of text (its trailing newlines cut off: text changes),
 * borrowed from text; for messages. */
const char *slurm_last_line(char *text);

/* A job as `scontrol show job -o ID` prints it. */
struct slurm_job {
	char state[32];                 /* JobState: PENDING, RUNNING, COMPLETED, ... */
	char reason[256];
	char nodes[1024];               /* NodeList */
	int exit_code, exit_signal;     /* ExitCode=A:B */
	bool gone;                      /* Slurm has no record of it */
};

/* Fill *ji from scontrol's output (text changes): 0, or -1 when it holds
 * no JobState. */
int slurm_job_parse(char *text, struct slurm_job *ji);
/* Whether the job has ended (or Slurm forgot it). */
bool slurm_job_ended(const struct slurm_job *ji);

#endif
