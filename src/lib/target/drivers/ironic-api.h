/* What the ironic site driver (drivers/ironic.c) and the ironic provider
 * of runs (src/lib/provision/providers/ironic.c) share to talk to Ironic's
 * REST API (v1, microversion IRONIC_API_VERSION): the site's settings as
 * its check parsed them, a client, calls whose messages name Ironic's URL
 * and the call, node claims, deploys and their undoing.
 *
 * Each function returns 0 or a negative RAIN_E* code with a message set.
 * Those taking a rain_target_op use only its site, log, ud and cancel (a
 * run's provider fills those from its own op).
 */
#ifndef RAIN_TARGET_DRIVERS_IRONIC_API_H
#define RAIN_TARGET_DRIVERS_IRONIC_API_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "rain/client.h"
#include "rain/clouds.h"
#include "rain/target.h"

/* 1.31: deploy_interface in a PATCH; also node names in paths (1.5),
 * ?fields= (1.8) and "available" (1.1). */
#define IRONIC_API_VERSION "1.31"

/* An ironic site's settings (site->priv after the driver's check). */
struct ironic_site {
	char **nodes;
	size_t n_nodes;
	const char *publish_dir;        /* borrowed from the site's settings */
	const char *publish_url;
	const char *conductor_url;      /* publish_url when not set */
	const char *kernel_args;        /* NULL: none */
	const char *ssh;                /* runs: NODE=HOST[:PORT] ... (checked); NULL */
	const char *console;            /* runs: a node's console log (%n); NULL */
	int64_t timeout;                /* seconds */
	struct rain_cloud *cloud;       /* NULL: no Keystone */
};

static inline void ironic_client_freep(struct rain_client **c)
{
	rain_client_free(*c);
}
#define _cleanup_ironic_client_ __attribute__((cleanup(ironic_client_freep)))

/* A client of the site's Ironic, with a Keystone token when the site
 * names a cloud that logs in with a password. */
int ironic_client(const struct rain_site *site, struct rain_client **out);
/* One call (resp may be NULL); the message names Ironic and the call. */
int ironic_api(struct rain_client *c, const char *method, const char *path, json_t *body,
	       json_t **resp);
/* GET /v1/nodes/NODE (name or UUID): a new object; RAIN_ENOTFOUND. */
int ironic_node_get(struct rain_client *c, const char *node, json_t **out);
/* o[key] when it is a string (borrowed), else NULL. */
const char *ironic_str(json_t *o, const char *key);
bool ironic_in_list(const char *s, const char *const *list);
/* Why node n (GET's answer) cannot take a deploy now, or NULL. */
const char *ironic_node_unfit(json_t *n);
/* The JSON patch that claims node n (its GET answer) for instance iu and
 * sets its instance_info ii (and deploy_interface ramdisk); NULL: no
 * memory. */
json_t *ironic_claim_patch(json_t *n, const char *iu, json_t *ii);
/* Ironic's validation of the interfaces a deploy needs: RAIN_EINVAL with
 * their reasons when one fails. */
int ironic_node_validate(struct rain_client *c, const char *uuid, const char *name);
/* Poll the node until its provision_state is one of want (0) or of fail
 * (RAIN_EIO with its last_error), past timeout seconds RAIN_EIO too;
 * *state (may be NULL) is the last state seen (a new string). */
int ironic_node_wait(struct rain_target_op *op, struct rain_client *c, const char *uuid,
		     const char *name, const char *const *want, const char *const *fail,
		     int64_t timeout, char **state);
/* Ask Ironic to move the node to target ("active", "deleted") and wait
 * as ironic_node_wait does. */
int ironic_node_provision(struct rain_target_op *op, struct rain_client *c, const char *uuid,
			  const char *name, const char *target, const char *const *want,
			  const char *const *fail, int64_t timeout);
/* The site's nodes that can take a deploy now (an array of GET answers),
 * or RAIN_ECONFLICT saying why none can, RAIN_ENOTFOUND when a listed
 * node does not exist. */
int ironic_nodes_available(const struct rain_site *site, struct rain_client *c, json_t **out);
/* Undo a claim that rec names ({uuid, name, instance_uuid,
 * deploy_interface}: what was there before): when the node still carries
 * rec's instance_uuid, undeploy it (a deploy in progress ends first),
 * remove instance_uuid and instance_info and put deploy_interface back.
 * A node without that instance (never claimed, released already, gone)
 * is left as it is: 0. */
int ironic_node_release(struct rain_target_op *op, struct rain_client *c, json_t *rec);

/* Where node (one of the site's nodes; NULL: only check the setting) is
 * reached by ssh, as the site's ssh setting says (rain_netboot_ssh_addr;
 * default the node's name, port 22); host has RAIN_NETBOOT_HOST_MAX + 1
 * bytes. */
int ironic_ssh_addr(const struct ironic_site *is, const char *node, char *host, int *port);
/* The site's console setting for node (a new path in *out), or NULL
 * when the site has none. */
int ironic_console_path(const struct ironic_site *is, const char *node, char **out);

#endif
