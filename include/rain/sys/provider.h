/* The table a provider implements (rain/provision.h): how instances of a
 * registration are started, reached and removed at a site of one kind.
 * One per site scheme that can run things ("libvirt", "netboot",
 * "ironic", "slurm", "container"), one file each in
 * src/lib/provision/providers/, found through the driver registry
 * (rain/sys/registry.h, kind "provider") by the site's scheme. A
 * provider's settings are keys of the site's section, checked by the site
 * driver of the same scheme (rain/sys/target.h: its check accepts them).
 *
 * version must be RAIN_PROVIDER_DRIVER_VERSION; scheme, up and down are
 * required, every other method is optional (tested for NULL; the default
 * is said for each). Methods may block and must return soon after
 * op->cancel is set (RAIN_ECANCELED). They return 0 or a negative RAIN_E*
 * code with a message that says what failed and where.
 *
 * The rule (rain/provision.h): up names each instance in op->state
 * (rain_run_instance_add, with the names the provider chose) before
 * making it; down removes whatever the saved state names, including
 * things never made, and never touches what the state does not name.
 */
#ifndef RAIN_SYS_PROVIDER_H
#define RAIN_SYS_PROVIDER_H

#include <jansson.h>

#include "rain/provision.h"

#define RAIN_PROVIDER_DRIVER_VERSION 2

struct rain_provider_driver {
	unsigned int version;           /* RAIN_PROVIDER_DRIVER_VERSION */
	const char *scheme;             /* "libvirt": the site kind it serves */

	/* Start op->n instances of op->registration with op->key_public
	 * given to them at boot (for ssh as root, or the "user" each names).
	 * Returns once each is started; each instance in op->state has
	 * "ssh" {host, port, user} when it is reached by ssh. */
	int (*up)(struct rain_run_op *op);
	/* Whether instance i still runs (a VM process, a node powered on):
	 * 0, or RAIN_EIO saying how it ended ("qemu exited: ..."). Polled
	 * while waiting and during the job. NULL: taken as running. */
	int (*alive)(struct rain_run_op *op, size_t i);
	/* Wait until instance i can run the job. NULL: until
	 * `ssh ... true` succeeds (within op->ready_timeout_s, alive polled
	 * in between). */
	int (*ready)(struct rain_run_op *op, size_t i);
	/* Run the job (providers that do not go through ssh: a container,
	 * a batch job). NULL: over ssh, on the first instance or each. */
	int (*exec)(struct rain_run_op *op, const struct rain_run_job *job, int *status);
	/* Copy paths from the instances into dir (see rain_run_fetch). NULL:
	 * over ssh. */
	int (*fetch)(struct rain_run_op *op, const char *const *paths, bool each, const char *dir);
	/* Remove what op->state names (required). */
	int (*down)(struct rain_run_op *op);
	/* What the site says of the instances (a new object). NULL: the
	 * instances as op->state names them, each with "alive". */
	int (*status)(struct rain_run_op *op, json_t **out);
	/* (version 2) Whether up honours op->share (a folder of this host
	 * mounted in each instance); rain_run_up refuses a share otherwise. */
	bool share;
};

#endif
