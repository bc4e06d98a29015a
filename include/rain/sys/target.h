/* The table a site driver implements (rain/target.h), one per URI scheme
 * ("openstack", "libvirt", "netboot", "ironic", "opennebula", "container"), one file
 * each in src/lib/target/drivers/, found through the driver registry
 * (rain/sys/registry.h, kind "target").
 *
 * version must be RAIN_TARGET_DRIVER_VERSION; scheme, usage, publish and
 * unpublish are required, every other method is optional (tested for
 * NULL). Methods may block (network, files) and must return soon after
 * op->cancel is set (RAIN_ECANCELED). They return 0 or a negative RAIN_E*
 * code with a message that says what failed and where ("glance at URL:
 * 401 Unauthorized: check the credentials of cloud 'x' in clouds.yaml").
 *
 * The rule that keeps a target clean: publish names every remote object
 * in op->state (rain_target_state_set) BEFORE it creates it, with a name
 * or id the driver chose (Glance takes a client-chosen image id; libvirt
 * a volume and domain name; files a path), so that unpublish, given only
 * the saved state, removes whatever may exist, however the registration
 * ended. unpublish must accept state naming things that were never made.
 */
#ifndef RAIN_SYS_TARGET_H
#define RAIN_SYS_TARGET_H

#include <jansson.h>

#include "rain/target.h"

#define RAIN_TARGET_DRIVER_VERSION 2

struct rain_target_driver {
	unsigned int version;           /* RAIN_TARGET_DRIVER_VERSION */
	const char *scheme;             /* "openstack" */
	const char *usage;              /* "openstack:CLOUD (an entry of clouds.yaml)" */

	/* At configuration time: check the site's settings (unknown keys,
	 * bad values: RAIN_EINVAL naming the key) and read what it needs
	 * (credential files) into site->priv. No network. */
	int (*check)(struct rain_site *site);
	void (*free)(struct rain_site *site);

	/* Can this image go there at all (architecture, firmware, format)?
	 * RAIN_EINVAL saying why not. */
	int (*accepts)(const struct rain_site *site, const struct rain_target_image *img);
	/* Make the target's copy in op->workdir: usually rain_adapt()
	 * (rain/adapt.h) with the driver's options. NULL: rain_adapt() with
	 * the defaults (raw disk, sysprep, serial console, no context). */
	int (*adapt)(struct rain_target_op *op, const struct rain_target_image *img,
		     struct rain_target_artifacts *out);
	/* Create the image at the target from the artifacts; on success
	 * op->state holds what exists there, and may hold what users want
	 * to see (remote ids, URLs) under "show". */
	int (*publish)(struct rain_target_op *op, const struct rain_target_image *img,
		       const struct rain_target_artifacts *a);
	/* Remove what op->state names (see above). */
	int (*unpublish)(struct rain_target_op *op);
	/* What the target says now of what op->state names, as a new JSON
	 * object ({"present": true, ...}). */
	int (*status)(struct rain_target_op *op, json_t **out);
	/* What adapt's result depends on besides the image and op->ssh_key,
	 * as a new string in *out: the driver's name and its adaptation's
	 * options (rain_adapt_opts_key, rain/adapt.h), never the site's name
	 * or endpoint, so that sites of equal keys share one adapted copy
	 * (rain_target_adapt_key). Only for drivers whose adapt makes nothing
	 * but the copy in op->workdir from the image and its settings above,
	 * and whose publish writes nothing there. NULL: the copy is the
	 * site's own. */
	int (*adapt_key)(const struct rain_site *site, char **out);
};

#endif
