/* Inside src/lib/provision: the built-in providers and the generic ssh
 * steps a provider without its own ready/exec/fetch gets. */
#ifndef RAIN_PROVISION_INTERNAL_H
#define RAIN_PROVISION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "rain/provision.h"
#include "rain/sys/provider.h"
#include "rain/sys/registry.h"

/* one line per provider, each in providers/SCHEME.c */
extern const struct rain_driver rain_provider_driver_libvirt;
extern const struct rain_driver rain_provider_driver_slurm;
extern const struct rain_driver rain_provider_driver_container;
extern const struct rain_driver rain_provider_driver_netboot;
extern const struct rain_driver rain_provider_driver_ironic;

/* The provider of op's site (found by its scheme). */
int run_provider(const struct rain_site *site, const struct rain_provider_driver **out);

/* ---- ssh.c ---- */

/* The remote command line for argv: each word quoted for the instance's
 * POSIX shell ('...', a ' as '\''), run in the job's folder dir (made
 * first; NULL: RUN_JOB_DIR, under the user's home). script: run ./job
 * there instead (copied in before). New string.
 * An instance's "ssh" may name its job folder ("dir"): a node's scratch. */
#define RUN_JOB_DIR "rain-job"
char *run_ssh_command(const char *const *argv, bool script, const char *dir);

/* Wait until instance i answers ssh (`true`), until op->ready_timeout_s,
 * polling the provider's alive between tries. */
int run_ssh_ready(struct rain_run_op *op, const struct rain_provider_driver *drv, size_t i);
/* Run the job over ssh on instance 0 or on each (in parallel). */
int run_ssh_exec(struct rain_run_op *op, const struct rain_provider_driver *drv,
		 const struct rain_run_job *job, int *status);
/* End the shared ssh connections to the instances (before they go). */
void run_ssh_close(struct rain_run_op *op);
/* Copy paths back over ssh (scp). */
int run_ssh_fetch(struct rain_run_op *op, const char *const *paths, bool each, const char *dir);

/* The last lines (at most max bytes) of instance i's console log, or
 * NULL (new string). */
char *run_console_tail(const struct rain_run_op *op, size_t i, size_t max);

#endif
