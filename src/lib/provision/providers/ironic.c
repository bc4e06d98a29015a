/* The ironic provider (rain/sys/provider.h): a run's instances are
 * further nodes of an ironic site (drivers/ironic.c), deployed through
 * Ironic with the registration's image and the run's key.
 *
 * The registration deployed one node (its state's "node"); its
 * instance_info (the kernel and ramdisk Ironic's iPXE boots, the root
 * squashfs's URL and sha256 on kernel_append_params for rain's netboot
 * initramfs) is what each instance gets, with rain.ssh_key=B64URL (the
 * run's public key, rain_netboot_key_arg) added to kernel_append_params:
 * the initramfs writes it to root's authorized_keys on the RAM overlay.
 *
 * up takes op->n available nodes of the site's list (out of maintenance,
 * without an instance). Each instance is named in the state with the node
 * it is about to claim and an instance_uuid of its own (Ironic's
 * instance_uuid is unique per node) BEFORE the claim; the claim (PATCH of
 * instance_uuid, instance_info, deploy_interface ramdisk) is Ironic's
 * compare-and-set: a node taken meanwhile answers 409 and the next
 * candidate is tried (the state then names that one). Every node is then
 * validated and provisioned to active. An instance is reached by ssh as
 * the site's `ssh` setting says (NODE=HOST:PORT; default the node's name,
 * port 22), as root.
 *
 * alive: the node still carries the instance and is active and not
 * powered off (with fake-hardware power is not real: the state says it).
 * down releases each node the state names (ironic_node_release: undeploy,
 * provision "deleted", back to available; instance_uuid and instance_info
 * removed, deploy_interface put back) and only while it still carries the
 * instance's own instance_uuid; any other node is left alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/provision/provision-internal.h"
#include "lib/target/drivers/ironic-api.h"
#include "rain/error.h"
#include "rain/netboot.h"
#include "rain/sys/provider.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/uuid.h"

#define RUN_USER "root"

/* The registration op the shared Ironic calls take: the run's site, log,
 * ud and cancel. */
static struct rain_target_op target_op(struct rain_run_op *op)
{
	return (struct rain_target_op){ .site = op->site, .log = op->log, .ud = op->ud,
					.cancel = op->cancel };
}

/* The registration's instance_info, from the node it deployed (which
 * must still carry the registration), with the run's key added to
 * kernel_append_params; a new object. */
static int run_instance_info(struct rain_run_op *op, struct rain_client *c, json_t **out)
{
	json_t *rec = json_object_get(op->registration, "node");
	const char *uuid = ironic_str(rec, "uuid"), *iu = ironic_str(rec, "instance_uuid");
	const char *name = ironic_str(rec, "name") ? ironic_str(rec, "name") : uuid;
	static const char *const keys[] = { "kernel", "ramdisk", "image_source", "image_os_hash_algo",
					    "image_os_hash_value", "kernel_append_params",
					    "rain_sha256", NULL };
	_cleanup_json_ json_t *n = NULL, *ii = NULL;
	_cleanup_free_ char *karg = NULL, *append = NULL;
	const char *params;
	int r;

	*out = NULL;
	if (!uuid || !uuid_is_valid(uuid) || !iu)
		return rain_error_set(RAIN_EINVAL, "the registration's state names no node it deployed "
				      "at site %s (its \"node\"): register the image there again",
				      op->site->name);
	r = ironic_node_get(c, uuid, &n);
	if (r == RAIN_ENOTFOUND)
		return rain_error_set(r, "ironic at %s: the registration's node %s is gone: register the "
				      "image at site %s again", op->site->location, name, op->site->name);
	if (r < 0)
		return r;
	if (!ironic_str(n, "instance_uuid") || strcmp(ironic_str(n, "instance_uuid"), iu))
		return rain_error_set(RAIN_ECONFLICT, "ironic at %s: node %s no longer carries the "
				      "registration (instance_uuid %s): register the image at site %s "
				      "again", op->site->location, name, iu, op->site->name);
	/* what rain set (ironic_instance_info), not what Ironic added */
	ii = json_object();
	for (size_t i = 0; ii && keys[i]; i++) {
		json_t *v = json_object_get(json_object_get(n, "instance_info"), keys[i]);

		if (v && json_object_set_new(ii, keys[i], json_deep_copy(v)) < 0)
			return rain_error_oom();
	}
	params = ironic_str(ii, "kernel_append_params");
	if (!ii || !ironic_str(ii, "kernel") || !ironic_str(ii, "ramdisk") || !params ||
	    !strstr(params, "rain.root="))
		return ii ? rain_error_set(RAIN_EFORMAT, "ironic at %s: node %s's instance_info is not "
					   "the one rain set (kernel, ramdisk, kernel_append_params with "
					   "rain.root=): register the image at site %s again",
					   op->site->location, name, op->site->name)
			  : rain_error_oom();
	r = rain_netboot_key_arg(op->key_public, &karg);
	if (r < 0)
		return rain_error_set(r, "the run's public key: %s", rain_error_last());
	if (asprintf(&append, "%s %s", params, karg) < 0 ||
	    json_object_set_new(ii, "kernel_append_params", json_string(append)) < 0)
		return rain_error_oom();
	*out = TAKE_PTR(ii);
	return 0;
}

/* The entry of the site's nodes list that names node n (its name or
 * UUID), as the ssh and console settings name it. */
static const char *listed_name(const struct ironic_site *is, json_t *n)
{
	for (size_t i = 0; i < is->n_nodes; i++)
		if ((ironic_str(n, "name") && !strcmp(is->nodes[i], ironic_str(n, "name"))) ||
		    (ironic_str(n, "uuid") && !strcmp(is->nodes[i], ironic_str(n, "uuid"))))
			return is->nodes[i];
	return ironic_str(n, "name") ? ironic_str(n, "name") : ironic_str(n, "uuid");
}

/* Point instance inst (in the state) at candidate n: its node record and
 * how it is reached. */
static int instance_for(const struct ironic_site *is, json_t *inst, json_t *n, const char *iu)
{
	const char *uuid = ironic_str(n, "uuid"), *listed = listed_name(is, n);
	char host[RAIN_NETBOOT_HOST_MAX + 1];
	_cleanup_free_ char *console = NULL;
	int port, r;

	if (!uuid || !uuid_is_valid(uuid))
		return rain_error_set(RAIN_EFORMAT, "ironic: node %s has no uuid", listed ? listed : "?");
	r = ironic_ssh_addr(is, listed, host, &port);
	if (r < 0)
		return r;
	r = ironic_console_path(is, listed, &console);
	if (r < 0)
		return r;
	if (json_object_set_new(inst, "node",
				json_pack("{s:s, s:s, s:s, s:s?}", "uuid", uuid, "name", listed,
					  "instance_uuid", iu, "deploy_interface",
					  ironic_str(n, "deploy_interface"))) < 0 ||
	    json_object_set_new(inst, "ssh", json_pack("{s:s, s:i, s:s}", "host", host, "port", port,
						       "user", RUN_USER)) < 0 ||
	    (console && json_object_set_new(inst, "console", json_string(console)) < 0))
		return rain_error_oom();
	return 0;
}

/* Claim a node for instance k (1-based) from cands, starting at *next:
 * the instance names it in the state first; a node taken meanwhile (409)
 * gives way to the next. */
static int claim(struct rain_run_op *op, struct rain_client *c, json_t *cands, size_t *next,
		 json_t *ii, int k)
{
	const struct ironic_site *is = op->site->priv;
	_cleanup_free_ char *name = NULL;
	char iu[UUID_STR_LEN];
	json_t *inst;
	int r;

	if (asprintf(&name, "rain-%s-%d", op->run_id, k) < 0)
		return rain_error_oom();
	r = uuid_generate(iu);
	if (r < 0)
		return r;
	inst = json_pack("{s:s}", "name", name);
	if (!inst)
		return rain_error_oom();
	r = rain_run_instance_add(op, inst);
	if (r < 0)
		return r;
	r = RAIN_ECONFLICT;
	rain_error_set(r, "no node was left");
	for (; *next < json_array_size(cands); (*next)++) {
		json_t *n = json_array_get(cands, *next), *rec;
		_cleanup_json_ json_t *patch = ironic_claim_patch(n, iu, ii);
		_cleanup_free_ char *path = NULL;

		r = instance_for(is, inst, n, iu);
		if (r < 0)
			return r;
		rec = json_object_get(inst, "node");
		if (!patch || asprintf(&path, "/v1/nodes/%s", ironic_str(rec, "uuid")) < 0)
			return rain_error_oom();
		/* named before it is claimed */
		if (op->save && (r = op->save(op->ud, op->state)) < 0)
			return r;
		r = ironic_api(c, "PATCH", path, patch, NULL);
		if (r == RAIN_ECONFLICT) {
			rain_run_log(op, RAIN_TARGET_INFO, "node %s was taken meanwhile: %s",
				     ironic_str(rec, "name"), rain_error_last());
			continue;
		}
		if (r < 0)
			return r;
		(*next)++;
		rain_run_log(op, RAIN_TARGET_INFO, "%s: node %s claimed (instance %s)", name,
			     ironic_str(rec, "name"), iu);
		return 0;
	}
	return rain_error_set(RAIN_ECONFLICT, "ironic at %s: not enough available nodes of site %s "
			      "for %s: the others were claimed meanwhile (%s)", op->site->location,
			      op->site->name, name, rain_error_last());
}

static int up(struct rain_run_op *op)
{
	const struct ironic_site *is = op->site->priv;
	static const char *const active[] = { "active", NULL };
	static const char *const failed[] = { "deploy failed", "error", NULL };
	struct rain_target_op t = target_op(op);
	_cleanup_ironic_client_ struct rain_client *c = NULL;
	_cleanup_json_ json_t *cands = NULL, *ii = NULL;
	size_t next = 0, n;
	int r;

	r = ironic_client(op->site, &c);
	if (r < 0)
		return r;
	r = run_instance_info(op, c, &ii);
	if (r < 0)
		return r;
	r = ironic_nodes_available(op->site, c, &cands);
	if (r < 0)
		return r;
	if (json_array_size(cands) < (size_t)op->n)
		return rain_error_set(RAIN_ECONFLICT, "ironic at %s: site %s has %zu available node%s, "
				      "the run asks for %d (of the %zu its nodes = ... lists, the "
				      "others are in use or not available)", op->site->location, op->site->name,
				      json_array_size(cands), json_array_size(cands) == 1 ? "" : "s",
				      op->n, is->n_nodes);
	for (int k = 1; k <= op->n; k++) {
		if ((r = rain_run_check_cancel(op)) < 0 || (r = claim(op, c, cands, &next, ii, k)) < 0)
			return r;
	}
	/* deploy them all, then wait for each */
	n = rain_run_instance_count(op);
	for (size_t i = 0; i < n; i++) {
		json_t *rec = json_object_get(rain_run_instance(op, i), "node");
		_cleanup_json_ json_t *body = json_pack("{s:s}", "target", "active");
		_cleanup_free_ char *path = NULL;

		r = ironic_node_validate(c, ironic_str(rec, "uuid"), ironic_str(rec, "name"));
		if (r < 0)
			return r;
		if (!body || asprintf(&path, "/v1/nodes/%s/states/provision", ironic_str(rec, "uuid")) < 0)
			return rain_error_oom();
		r = ironic_api(c, "PUT", path, body, NULL);
		if (r < 0)
			return r;
		rain_run_log(op, RAIN_TARGET_INFO, "deploying node %s", ironic_str(rec, "name"));
	}
	for (size_t i = 0; i < n; i++) {
		json_t *rec = json_object_get(rain_run_instance(op, i), "node");

		r = ironic_node_wait(&t, c, ironic_str(rec, "uuid"), ironic_str(rec, "name"), active,
				     failed, is->timeout, NULL);
		if (r < 0)
			return r;
		rain_run_log(op, RAIN_TARGET_INFO, "node %s is active", ironic_str(rec, "name"));
	}
	return 0;
}

static int alive(struct rain_run_op *op, size_t i)
{
	json_t *rec = json_object_get(rain_run_instance(op, i), "node");
	const char *uuid = ironic_str(rec, "uuid"), *name = ironic_str(rec, "name");
	const char *iu = ironic_str(rec, "instance_uuid"), *ps, *pw, *mine;
	_cleanup_ironic_client_ struct rain_client *c = NULL;
	_cleanup_json_ json_t *n = NULL;
	int r;

	if (!uuid || !uuid_is_valid(uuid) || !iu)
		return rain_error_set(RAIN_EIO, "instance %zu names no node", i + 1);
	r = ironic_client(op->site, &c);
	if (r == 0)
		r = ironic_node_get(c, uuid, &n);
	if (r == RAIN_ENOTFOUND)
		return rain_error_set(RAIN_EIO, "ironic at %s: node %s is gone", op->site->location, name);
	if (r < 0)
		return r;
	ps = ironic_str(n, "provision_state");
	pw = ironic_str(n, "power_state");
	mine = ironic_str(n, "instance_uuid");
	if (!mine || strcmp(mine, iu))
		return rain_error_set(RAIN_EIO, "ironic at %s: node %s no longer carries the run's "
				      "instance (instance_uuid %s)", op->site->location, name,
				      mine ? mine : "none");
	if (!ps || strcmp(ps, "active") || (pw && !strcmp(pw, "power off")))
		return rain_error_set(RAIN_EIO, "ironic at %s: node %s is %s, %s%s%s", op->site->location,
				      name, ps ? ps : "in no state", pw ? pw : "power unknown",
				      ironic_str(n, "last_error") ? ": " : "",
				      ironic_str(n, "last_error") ? ironic_str(n, "last_error") : "");
	return 0;
}

static int down(struct rain_run_op *op)
{
	struct rain_target_op t = target_op(op);
	_cleanup_ironic_client_ struct rain_client *c = NULL;
	size_t n = rain_run_instance_count(op);
	char why[1024] = "";
	int r, first = 0;

	if (!n)
		return 0;
	r = ironic_client(op->site, &c);
	if (r < 0)
		return r;
	/* each node on its own: one that fails keeps the others from
	 * nothing; the first failure is the answer (the state keeps them all,
	 * and a node released already is left alone the next time) */
	for (size_t i = 0; i < n; i++) {
		json_t *inst = rain_run_instance(op, i), *rec = json_object_get(inst, "node");

		if (!rec)
			continue;
		r = ironic_node_release(&t, c, rec);
		if (r < 0) {
			rain_run_log(op, RAIN_TARGET_WARN, "%s: %s",
				     ironic_str(inst, "name") ? ironic_str(inst, "name") : "?",
				     rain_error_last());
			if (!first) {
				first = r;
				snprintf(why, sizeof(why), "%s", rain_error_last());
			}
			continue;
		}
	}
	return first ? rain_error_set(first, "%s", why) : 0;
}

static const struct rain_provider_driver ironic = {
	.version = RAIN_PROVIDER_DRIVER_VERSION,
	.scheme = "ironic",
	.up = up,
	.alive = alive,
	.down = down,
};

const struct rain_driver rain_provider_driver_ironic = { "provider", "ironic", "ironic:URL", &ironic };
