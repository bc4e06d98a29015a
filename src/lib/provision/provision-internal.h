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
/* s quoted for a POSIX shell: '...' with each ' as '\''. New string, or
 * NULL (out of memory). */
char *run_shell_quote(const char *s);
char *run_ssh_command(const char *const *argv, bool script, const char *dir);

/* Wait until instance i answers ssh (`true`), until op->ready_timeout_s,
 * polling the provider's alive between tries. */
int run_ssh_ready(struct rain_run_op *op, const struct rain_provider_driver *drv, size_t i);
/* Run the job over ssh on instance 0 or on each (in parallel). */
int run_ssh_exec(struct rain_run_op *op, const struct rain_provider_driver *drv,
		 const struct rain_run_job *job, int *status);
/* End the shared ssh connections to the instances (before they go). */
void run_ssh_close(struct rain_run_op *op);
/* Run rain's own shell text script (never user input; its words args,
 * NULL-terminated, as "$1"...) on instance i over ssh, to its end: 0 when
 * it exits 0, else RAIN_EIO saying it could not do what, with its last
 * line of output. */
int run_ssh_sh(struct rain_run_op *op, size_t i, const char *script, const char *const *args,
	       const char *what);
/* Copy paths back over ssh (scp). */
int run_ssh_fetch(struct rain_run_op *op, const char *const *paths, bool each, const char *dir);

/* Set message msg with code, followed by the last lines of instance i's
 * console when it has one; returns code. */
int run_fail_with_console(struct rain_run_op *op, size_t i, int code, const char *msg);
/* Sleep ms milliseconds, or less when op->cancel is set (RAIN_ECANCELED). */
int run_sleep(struct rain_run_op *op, int ms);

/* ---- agent.c ---- */

/* Reaching instances without network through the QEMU guest agent
 * (qemu-ga) on a serial channel: the provider's transport sends one
 * command (JSON text, qga.h) to instance i's agent and hands back its reply
 * (a new string) within timeout_s, or fails with a message (the agent
 * gone, the domain gone). */
typedef int (*run_agent_send_fn)(struct rain_run_op *op, size_t i, const char *cmd, int timeout_s,
				 char **reply);

/* The job's folder in a guest reached by agent (qemu-ga runs as root). */
#define RUN_AGENT_JOB_DIR "/root/rain-job"

/* Wait until instance i's agent answers guest-ping. */
int run_agent_ready(struct rain_run_op *op, const struct rain_provider_driver *drv, size_t i,
		    run_agent_send_fn send);
/* Run the job through the agents of instance 0 or of each (see agent.c). */
int run_agent_exec(struct rain_run_op *op, const struct rain_provider_driver *drv,
		   const struct rain_run_job *job, run_agent_send_fn send, int *status);
/* As run_ssh_sh, through the agent (as root). */
int run_agent_sh(struct rain_run_op *op, size_t i, run_agent_send_fn send, const char *script,
		 const char *const *args, const char *what);
/* Copy paths back through the agent (guest-file-open/read). */
int run_agent_fetch(struct rain_run_op *op, const char *const *paths, bool each, const char *dir,
		    run_agent_send_fn send);

/* The last lines (at most max bytes) of instance i's console log, or
 * NULL (new string). */
char *run_console_tail(const struct rain_run_op *op, size_t i, size_t max);

#endif
