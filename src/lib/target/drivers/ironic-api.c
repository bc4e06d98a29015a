/* What the ironic site driver (drivers/ironic.c) and the ironic provider
 * of runs (src/lib/provision/providers/ironic.c) share: Ironic's API
 * (ironic-api.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/target/drivers/ironic-api.h"
#include "rain/error.h"
#include "rain/netboot.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define POLL_US (500 * 1000)

/* ---- the API ------------------------------------------------------------ */

/* A client of the site's Ironic, with a Keystone token when the site
 * names a cloud that logs in with a password. */
int ironic_client(const struct rain_site *site, struct rain_client **out)
{
	static const char *const headers[] = { "X-OpenStack-Ironic-API-Version: " IRONIC_API_VERSION,
					       "Accept: application/json", NULL };
	const struct ironic_site *is = site->priv;
	struct rain_client_config cfg = { .url = site->location, .headers = headers,
					  .connect_timeout = 10 };
	char token[RAIN_CLIENT_TOKEN_MAX + 1];
	int r;

	*out = NULL;
	if (is->cloud) {
		cfg.cacert = is->cloud->cacert;
		cfg.insecure = is->cloud->insecure;
	}
	if (is->cloud && is->cloud->auth_type == RAIN_CLOUD_AUTH_PASSWORD) {
		r = rain_cloud_login(is->cloud, cfg.connect_timeout, token, NULL);
		if (r < 0)
			return rain_error_set(r, "site %s: %s", site->name, rain_error_last());
		cfg.token = token;
	}
	r = rain_client_new(&cfg, out);
	explicit_bzero(token, sizeof(token));
	if (r < 0)
		return rain_error_set(r, "ironic at %s: %s", site->location, rain_error_last());
	return 0;
}

/* One call; the message names Ironic and the call. */
int ironic_api(struct rain_client *c, const char *method, const char *path, json_t *body,
	       json_t **resp)
{
	int r = rain_client_request(c, method, path, NULL, body, NULL, resp);

	if (r < 0)
		return rain_error_set(r, "ironic at %s: %s %s: %s", rain_client_url(c), method, path,
				      rain_error_last());
	return 0;
}

int ironic_node_get(struct rain_client *c, const char *node, json_t **out)
{
	_cleanup_free_ char *path = NULL;
	int r;

	*out = NULL;
	if (asprintf(&path, "/v1/nodes/%s", node) < 0)
		return rain_error_oom();
	r = ironic_api(c, "GET", path, NULL, out);
	if (r == 0 && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return rain_error_set(RAIN_EFORMAT, "ironic at %s: GET %s: the answer is no node",
				      rain_client_url(c), path);
	}
	return r;
}

const char *ironic_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Why node n (GET's answer) cannot take a deploy now, or NULL. */
const char *ironic_node_unfit(json_t *n)
{
	const char *ps = ironic_str(n, "provision_state");

	if (json_is_true(json_object_get(n, "maintenance")))
		return "is in maintenance";
	if (!ps || strcmp(ps, "available"))
		return "is not available";
	if (ironic_str(n, "instance_uuid"))
		return "has an instance";
	return NULL;
}


/* The JSON patch that claims node n (its GET answer) for instance iu and
 * sets ii. */
json_t *ironic_claim_patch(json_t *n, const char *iu, json_t *ii)
{
	json_t *p = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:O}]", "op", "add", "path",
			      "/instance_uuid", "value", iu, "op", "add", "path", "/instance_info",
			      "value", ii);
	const char *di = ironic_str(n, "deploy_interface");

	if (p && (!di || strcmp(di, "ramdisk")) &&
	    json_array_append_new(p, json_pack("{s:s, s:s, s:s}", "op", "replace", "path",
					       "/deploy_interface", "value", "ramdisk")) < 0) {
		json_decref(p);
		return NULL;
	}
	return p;
}

/* Ironic's validation of the interfaces a deploy needs: RAIN_EINVAL with
 * their reasons when one fails. */
int ironic_node_validate(struct rain_client *c, const char *uuid, const char *name)
{
	static const char *const ifaces[] = { "boot", "deploy", "power", "management", "network", NULL };
	_cleanup_json_ json_t *v = NULL;
	_cleanup_free_ char *path = NULL;
	char why[700] = "";
	size_t len = 0;
	int r;

	if (asprintf(&path, "/v1/nodes/%s/validate", uuid) < 0)
		return rain_error_oom();
	r = ironic_api(c, "GET", path, NULL, &v);
	if (r < 0)
		return r;
	for (size_t i = 0; ifaces[i]; i++) {
		json_t *one = json_object_get(v, ifaces[i]);

		if (!one || json_is_true(json_object_get(one, "result")))
			continue;
		len += (size_t)snprintf(why + len, len < sizeof(why) ? sizeof(why) - len : 0, "%s%s: %s",
					len ? "; " : "", ifaces[i],
					ironic_str(one, "reason") ? ironic_str(one, "reason") : "failed");
		if (len >= sizeof(why))
			break;
	}
	if (*why)
		return rain_error_set(RAIN_EINVAL, "ironic at %s: node %s does not validate: %s",
				      rain_client_url(c), name, why);
	return 0;
}

bool ironic_in_list(const char *s, const char *const *list)
{
	return s && str_in_list(list, s);
}

/* Poll the node until its provision_state is one of want (0) or of fail
 * (RAIN_EIO with its last_error), past timeout seconds RAIN_EIO too;
 * *state (may be NULL) is the last state seen (a new string). */
int ironic_node_wait(struct rain_target_op *op, struct rain_client *c, const char *uuid,
		     const char *name, const char *const *want, const char *const *fail,
		     int64_t timeout, char **state)
{
	_cleanup_free_ char *path = NULL;
	int64_t end = time_mono_us() + timeout * 1000000;
	int r;

	if (state)
		*state = NULL;
	if (asprintf(&path, "/v1/nodes/%s?fields=provision_state,target_provision_state,last_error",
		     uuid) < 0)
		return rain_error_oom();
	for (;;) {
		_cleanup_json_ json_t *n = NULL;
		const char *ps;

		r = ironic_api(c, "GET", path, NULL, &n);
		if (r < 0)
			return r;
		ps = ironic_str(n, "provision_state");
		if (state && ps) {
			free(*state);
			if (!(*state = strdup(ps)))
				return rain_error_oom();
		}
		if (ironic_in_list(ps, want))
			return 0;
		if (ironic_in_list(ps, fail))
			return rain_error_set(RAIN_EIO, "ironic at %s: node %s is in state '%s': %s",
					      rain_client_url(c), name, ps,
					      ironic_str(n, "last_error") ? ironic_str(n, "last_error")
								    : "(no last_error)");
		if (time_mono_us() > end)
			return rain_error_set(RAIN_EIO, "ironic at %s: node %s is still in state '%s' "
					      "after %" PRId64 " s (deploy_timeout)",
					      rain_client_url(c), name, ps ? ps : "?", timeout);
		if (op->cancel && *op->cancel)
			return rain_error_set(RAIN_ECANCELED, "canceled while node %s was in state '%s'",
					      name, ps ? ps : "?");
		usleep(POLL_US);
	}
}

/* Ask Ironic to move the node to target ("active", "deleted") and wait
 * as node_wait does. */
int ironic_node_provision(struct rain_target_op *op, struct rain_client *c, const char *uuid,
			  const char *name, const char *target, const char *const *want,
			  const char *const *fail, int64_t timeout)
{
	_cleanup_json_ json_t *body = json_pack("{s:s}", "target", target);
	_cleanup_free_ char *path = NULL;
	int r;

	if (!body || asprintf(&path, "/v1/nodes/%s/states/provision", uuid) < 0)
		return rain_error_oom();
	r = ironic_api(c, "PUT", path, body, NULL);
	if (r < 0)
		return r;
	return ironic_node_wait(op, c, uuid, name, want, fail, timeout, NULL);
}
int ironic_nodes_available(const struct rain_site *site, struct rain_client *c, json_t **out)
{
	const struct ironic_site *is = site->priv;
	_cleanup_json_ json_t *list = json_array();
	char why[700] = "";
	size_t len = 0;

	*out = NULL;
	if (!list)
		return rain_error_oom();
	for (size_t i = 0; i < is->n_nodes; i++) {
		json_t *n = NULL;
		const char *unfit;
		int r = ironic_node_get(c, is->nodes[i], &n);

		if (r == RAIN_ENOTFOUND)
			return rain_error_set(r, "ironic at %s: site %s names node '%s', which Ironic "
					      "does not have (check nodes = ...; baremetal node list)",
					      site->location, site->name, is->nodes[i]);
		if (r < 0)
			return r;
		unfit = ironic_node_unfit(n);
		if (!unfit) {
			if (json_array_append_new(list, n) < 0)
				return rain_error_oom();
			continue;
		}
		if (len < sizeof(why))
			len += (size_t)snprintf(why + len, sizeof(why) - len, "%s%s %s (%s%s%s)",
						len ? ", " : "", is->nodes[i], unfit,
						ironic_str(n, "provision_state") ? ironic_str(n, "provision_state")
									   : "no state",
						ironic_str(n, "instance_uuid") ? ", instance " : "",
						ironic_str(n, "instance_uuid") ? ironic_str(n, "instance_uuid") : "");
		json_decref(n);
	}
	if (!json_array_size(list))
		return rain_error_set(RAIN_ECONFLICT, "ironic at %s: no node of site %s can be "
				      "deployed now: %s; a node must be available, out of "
				      "maintenance and without an instance (baremetal node provide)",
				      site->location, site->name, why);
	*out = TAKE_PTR(list);
	return 0;
}
/* Undeploy the node state names if it still carries our instance, and put
 * it back as it was; the state's "node" goes when done. */
int ironic_node_release(struct rain_target_op *op, struct rain_client *c, json_t *rec)
{
	const struct ironic_site *is = op->site->priv;
	static const char *const settled[] = { "available", "active", "deploy failed", "manageable",
					       "enroll", "clean failed", "error", "wait call-back",
					       NULL };
	static const char *const undeployable[] = { "active", "deploy failed", "wait call-back",
						    "error", NULL };
	static const char *const back[] = { "available", NULL };
	static const char *const failed[] = { "clean failed", "error", NULL };
	const char *uuid = ironic_str(rec, "uuid"), *iu = ironic_str(rec, "instance_uuid");
	const char *name = ironic_str(rec, "name") ? ironic_str(rec, "name") : uuid;
	const char *old_di = ironic_str(rec, "deploy_interface");
	_cleanup_json_ json_t *n = NULL, *patch = json_array();
	_cleanup_free_ char *path = NULL, *ps = NULL;
	const char *mine;
	int r;

	if (!uuid || !uuid_is_valid(uuid) || !iu || !patch)
		return !patch ? rain_error_oom() : 0;
	r = ironic_node_get(c, uuid, &n);
	if (r == RAIN_ENOTFOUND)
		return 0;
	if (r < 0)
		return r;
	mine = ironic_str(n, "instance_uuid");
	if (!mine || strcmp(mine, iu)) {
		/* never claimed (or undeployed already, which clears it) */
		rain_target_log(op, RAIN_TARGET_INFO, "node %s carries none of our instances "
				"(instance_uuid %s): left as it is", name, iu);
		return 0;
	}
	/* let a deploy in progress end first */
	r = ironic_node_wait(op, c, uuid, name, settled, NULL, is->timeout, &ps);
	if (r < 0)
		return r;
	if (ironic_in_list(ps, undeployable)) {
		rain_target_log(op, RAIN_TARGET_INFO, "undeploying node %s (%s)", name, ps);
		r = ironic_node_provision(op, c, uuid, name, "deleted", back, failed, is->timeout);
		if (r < 0)
			return r;
		json_decref(n);
		r = ironic_node_get(c, uuid, &n);
		if (r < 0)
			return r;
	}
	/* undeploy clears these; a node claimed but never deployed has them */
	if (ironic_str(n, "instance_uuid") && !strcmp(ironic_str(n, "instance_uuid"), iu) &&
	    json_array_append_new(patch, json_pack("{s:s, s:s}", "op", "remove", "path",
						   "/instance_uuid")) < 0)
		return rain_error_oom();
	if (json_object_size(json_object_get(n, "instance_info")) &&
	    json_array_append_new(patch, json_pack("{s:s, s:s}", "op", "remove", "path",
						   "/instance_info")) < 0)
		return rain_error_oom();
	if (old_di && ironic_str(n, "deploy_interface") && strcmp(old_di, ironic_str(n, "deploy_interface")) &&
	    !strcmp(ironic_str(n, "deploy_interface"), "ramdisk") &&
	    ironic_in_list(ironic_str(n, "provision_state"), (const char *const[]){ "available", "manageable",
								       "enroll", NULL }) &&
	    json_array_append_new(patch, json_pack("{s:s, s:s, s:s}", "op", "replace", "path",
						   "/deploy_interface", "value", old_di)) < 0)
		return rain_error_oom();
	if (json_array_size(patch)) {
		if (asprintf(&path, "/v1/nodes/%s", uuid) < 0)
			return rain_error_oom();
		r = ironic_api(c, "PATCH", path, patch, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}
int ironic_ssh_addr(const struct ironic_site *is, const char *node, char *host, int *port)
{
	_cleanup_free_ struct rain_netboot_node *nodes = calloc(is->n_nodes + 1, sizeof(*nodes));
	size_t n = 0;

	if (!nodes)
		return rain_error_oom();
	/* names longer than a netboot node's cannot be named in ssh */
	for (size_t i = 0; i < is->n_nodes; i++) {
		if (strlen(is->nodes[i]) >= sizeof(nodes->name))
			continue;
		snprintf(nodes[n].name, sizeof(nodes->name), "%s", is->nodes[i]);
		n++;
	}
	return rain_netboot_ssh_addr(is->ssh, nodes, n, node, host, port);
}

int ironic_console_path(const struct ironic_site *is, const char *node, char **out)
{
	struct rain_netboot_node nb = { .mac = "" };

	*out = NULL;
	if (!is->console)
		return 0;
	snprintf(nb.name, sizeof(nb.name), "%s", node);
	return rain_netboot_console_path(is->console, &nb, out);
}
