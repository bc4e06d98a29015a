/* The ironic site driver (rain/sys/target.h): bare metal through
 * OpenStack Ironic's REST API (v1, microversion IRONIC_API_VERSION).
 *
 *   [site.NAME]
 *   uri = ironic:http://ironic:6385     the Ironic API
 *   nodes = NODE ...                    names or UUIDs of the nodes the site
 *                                       may deploy to (the first available one
 *                                       is taken)
 *   publish_dir = /srv/boot             where the boot files are put, a folder
 *                                       per registration (publish_dir/REGID/:
 *                                       vmlinuz, initramfs, root.squashfs)
 *   publish_url = http://host/boot      the same folder as nodes fetch it
 *                                       (raind serves it as /netboot/NAME with
 *                                       [netboot] NAME = publish_dir)
 *   conductor_url = http://host/boot    the same folder as Ironic's conductor
 *                                       fetches it (the kernel and ramdisk);
 *                                       default: publish_url (optional: where
 *                                       the conductor and the nodes sit on
 *                                       different networks)
 *   kernel_args = console=ttyS0 ...     more kernel arguments (optional)
 *   deploy_timeout = 600                seconds a deploy or undeploy may take
 *   cloud = NAME                        log in to Keystone as this entry of
 *                                       clouds.yaml says (rain/clouds.h) and
 *                                       send its token; unset: no token (an
 *                                       Ironic with noauth)
 *   clouds_yaml = PATH                  the clouds.yaml; else the standard search
 *   ssh = NODE=HOST[:PORT] ...          runs: where a node's sshd is reached
 *                                       (default: at the node's name, port 22)
 *   console = PATH                      runs: a node's serial console log (%n
 *                                       its name), shown when it does not come up
 *
 * Publish copies the adapted image's kernel, its netboot initramfs and the
 * root squashfs into publish_dir/REGID/, claims a node (instance_uuid, which
 * Ironic hands to one claimant only), sets its instance_info (kernel,
 * ramdisk, image_source and the root's sha256, kernel_append_params with
 * rain.root=URL rain.sha256=HEX for the initramfs) and deploy_interface
 * ramdisk, validates it and provisions it to active. Ironic's iPXE boot
 * then boots the node from those files. Unpublish undeploys the node
 * (provision "deleted", back to available), clears what was set and
 * removes the files.
 *
 * Every call names Ironic's URL and the call in its message.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/target/drivers/ironic-api.h"
#include "lib/target/target-internal.h"
#include "rain/adapt.h"
#include "rain/client.h"
#include "rain/clouds.h"
#include "rain/error.h"
#include "rain/imgfs.h"
#include "rain/netboot.h"
#include "rain/sys/registry.h"
#include "util/cleanup-json.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define NODE_NAME_MAX 255
#define DEPLOY_TIMEOUT_DEFAULT 600

/* The files of a registration in publish_dir/REGID/. */
#define FILE_KERNEL "vmlinuz"
#define FILE_INITRD "initramfs"
#define FILE_ROOT "root.squashfs"

static const char *const keys[] = { "uri",         "policy",      "kernels",     "users",
				    "nodes",       "publish_dir", "publish_url", "conductor_url",
				    "kernel_args", "deploy_timeout", "cloud", "clouds_yaml", "ssh",
				    "console", NULL };

/* Ironic accepts names of URL-safe characters (and UUIDs). */
static bool node_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NODE_NAME_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~") == n;
}

static void site_free(struct rain_site *site)
{
	struct ironic_site *is = site->priv;

	if (!is)
		return;
	strv_free(is->nodes, is->n_nodes);
	rain_cloud_free(is->cloud);
	free(is);
	site->priv = NULL;
}

static int site_check(struct rain_site *site)
{
	_cleanup_free_ struct ironic_site *is = calloc(1, sizeof(*is));
	_cleanup_free_ char *copy = NULL;
	const char *key, *v;
	json_t *val;
	char *save = NULL;
	int r;

	if (!is)
		return rain_error_oom();
	json_object_foreach(site->settings, key, val)
		if (!str_in_list(keys, key))
			return rain_error_set(RAIN_EINVAL, "unknown key '%s' for an ironic site (known: "
					      "nodes, publish_dir, publish_url, conductor_url, "
					      "kernel_args, deploy_timeout, cloud, clouds_yaml, ssh, console)", key);
	if (!target_url_valid(site->location))
		return rain_error_set(RAIN_EINVAL, "uri: '%s' is not the URL of an Ironic API "
				      "(ironic:http://HOST:6385)", site->location);
	v = rain_site_get(site, "nodes");
	if (!v || !(copy = strdup(v)))
		return v ? rain_error_oom()
			 : rain_error_set(RAIN_EINVAL, "nodes is missing (nodes = NAME-OR-UUID ..., "
					  "the Ironic nodes the site may deploy to)");
	for (char *w = strtok_r(copy, " \t\n,", &save); w; w = strtok_r(NULL, " \t\n,", &save)) {
		if (!node_name_valid(w)) {
			r = rain_error_set(RAIN_EINVAL, "nodes: '%.300s' is not an Ironic node name or "
					   "UUID (1-%d of A-Z a-z 0-9 - . _ ~)", w, NODE_NAME_MAX);
			goto fail;
		}
		if (strv_add(&is->nodes, &is->n_nodes, w) < 0) {
			r = rain_error_oom();
			goto fail;
		}
	}
	if (!is->n_nodes) {
		r = rain_error_set(RAIN_EINVAL, "nodes is empty (nodes = NAME-OR-UUID ...)");
		goto fail;
	}
	r = target_publish_settings(site, &is->publish_dir, &is->publish_url);
	if (r < 0)
		goto fail;
	is->conductor_url = rain_site_get(site, "conductor_url");
	if (is->conductor_url && !target_url_valid(is->conductor_url)) {
		r = rain_error_set(RAIN_EINVAL, "conductor_url must be an http:// or https:// URL "
				   "without spaces (where Ironic's conductor fetches publish_dir)");
		goto fail;
	}
	if (!is->conductor_url)
		is->conductor_url = is->publish_url;
	is->kernel_args = rain_site_get(site, "kernel_args");
	if (is->kernel_args && !str_is_printable(is->kernel_args, 2048)) {
		r = rain_error_set(RAIN_EINVAL, "kernel_args must be printable, on one line, at most "
				   "2048 bytes");
		goto fail;
	}
	r = rain_site_get_int(site, "deploy_timeout", DEPLOY_TIMEOUT_DEFAULT, &is->timeout);
	if (r < 0)
		goto fail;
	if (is->timeout < 1 || is->timeout > 24 * 3600) {
		r = rain_error_set(RAIN_EINVAL, "deploy_timeout must be 1-86400 seconds");
		goto fail;
	}
	is->ssh = rain_site_get(site, "ssh");
	r = ironic_ssh_addr(is, NULL, NULL, NULL);
	if (r < 0)
		goto fail;
	is->console = rain_site_get(site, "console");
	if (is->console) {
		_cleanup_free_ char *path = NULL;

		r = ironic_console_path(is, "node", &path);
		if (r < 0)
			goto fail;
	}
	v = rain_site_get(site, "cloud");
	if (!v && rain_site_get(site, "clouds_yaml")) {
		r = rain_error_set(RAIN_EINVAL, "clouds_yaml is set but cloud is not (cloud = NAME, "
				   "its entry to log in with)");
		goto fail;
	}
	if (v) {
		r = rain_cloud_load(rain_site_get(site, "clouds_yaml"), v, &is->cloud);
		if (r < 0) {
			r = rain_error_set(r, "cloud: %s", rain_error_last());
			goto fail;
		}
	}
	site->priv = TAKE_PTR(is);
	return 0;
fail:
	strv_free(is->nodes, is->n_nodes);
	return r;
}

int ironic_instance_info(const char *conductor_base, const char *node_base, const char *kernel_args,
			 const char *root_sha256, const char *kernel_sha256, const char *initrd_sha256,
			 json_t **out)
{
	_cleanup_free_ char *kernel = NULL, *initrd = NULL, *root = NULL, *append = NULL;
	json_t *ii;

	*out = NULL;
	if (asprintf(&kernel, "%s/" FILE_KERNEL, conductor_base) < 0 ||
	    asprintf(&initrd, "%s/" FILE_INITRD, conductor_base) < 0 ||
	    asprintf(&root, "%s/" FILE_ROOT, node_base) < 0 ||
	    asprintf(&append, "rain.root=%s rain.sha256=%s%s%s", root, root_sha256,
		     kernel_args && *kernel_args ? " " : "", kernel_args ? kernel_args : "") < 0)
		return rain_error_oom();
	/* kernel and ramdisk are what iPXE boots (Ironic fetches them into its
	 * HTTP root); image_source with its sha256 names the root the
	 * initramfs fetches and checks (rain.sha256) */
	ii = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "kernel", kernel, "ramdisk",
		       initrd, "image_source", root, "image_os_hash_algo", "sha256",
		       "image_os_hash_value", root_sha256, "kernel_append_params", append,
		       "rain_sha256", "kernel", kernel_sha256, "ramdisk", initrd_sha256);
	if (!ii)
		return rain_error_oom();
	*out = ii;
	return 0;
}

/* ---- files -------------------------------------------------------------- */

/* publish_dir/REGID, after checking that REGID is one path component. */
static int reg_dir(const struct rain_target_op *op, char **out)
{
	const struct ironic_site *is = op->site->priv;

	return target_reg_dir(op, is->publish_dir, out);
}

/* ---- the methods -------------------------------------------------------- */

static int ironic_accepts(const struct rain_site *site, const struct rain_target_image *img)
{
	const char *fw = ironic_str(img->properties, "hw_firmware_type");

	if (fw && strcmp(fw, "bios") && strcmp(fw, "uefi"))
		return rain_error_set(RAIN_EINVAL, "site %s boots nodes with iPXE: firmware '%s' is "
				      "not bios or uefi", site->name, fw);
	return 0;
}


static int ironic_publish(struct rain_target_op *op, const struct rain_target_image *img,
			  const struct rain_target_artifacts *a)
{
	const struct ironic_site *is = op->site->priv;
	static const char *const active[] = { "active", NULL };
	static const char *const failed[] = { "deploy failed", "error", NULL };
	_cleanup_ironic_client_ struct rain_client *c = NULL;
	_cleanup_free_ char *dir = NULL, *kpath = NULL, *ipath = NULL, *rpath = NULL, *base = NULL;
	_cleanup_free_ char *cbase = NULL;
	_cleanup_json_ json_t *cands = NULL, *ii = NULL;
	char ksha[65], isha[65], rsha[65], iu[UUID_STR_LEN];
	const char *uuid = NULL, *name = NULL;
	json_t *node = NULL;
	size_t i;
	int r;

	(void)img;
	if (!a->kernel || !a->initramfs || !a->rootfs)
		return rain_error_set(RAIN_EINVAL, "site %s needs the image's kernel, a netboot "
				      "initramfs and a root squashfs; adaptation made no %s",
				      op->site->name, !a->kernel ? "kernel" : !a->initramfs ? "initramfs"
										 : "root squashfs");
	r = reg_dir(op, &dir);
	if (r < 0)
		return r;
	r = ironic_client(op->site, &c);
	if (r < 0)
		return r;
	/* no file is written for a site that cannot take the image now */
	r = ironic_nodes_available(op->site, c, &cands);
	if (r < 0)
		return r;

	r = rain_target_state_set(op, "publish_dir", json_string(dir));
	if (r < 0)
		return r;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s (publish_dir of site %s)",
					dir, op->site->name);
	if (!(kpath = fs_path_join(dir, FILE_KERNEL)) || !(ipath = fs_path_join(dir, FILE_INITRD)) ||
	    !(rpath = fs_path_join(dir, FILE_ROOT)) ||
	    asprintf(&base, "%s/%s", is->publish_url, op->reg_id) < 0 ||
	    asprintf(&cbase, "%s/%s", is->conductor_url, op->reg_id) < 0)
		return rain_error_oom();
	rain_target_log(op, RAIN_TARGET_INFO, "copying the boot files to %s", dir);
	if ((r = target_publish_file(op, a->kernel, kpath, ksha)) < 0 ||
	    (r = target_publish_file(op, a->initramfs, ipath, isha)) < 0 ||
	    (r = target_publish_file(op, a->rootfs, rpath, rsha)) < 0)
		return r;
	if (a->rootfs_sha256 && strcmp(a->rootfs_sha256, rsha))
		return rain_error_set(RAIN_EIO, "%s: sha256 %s, the adapted root's is %s: the copy "
				      "differs", rpath, rsha, a->rootfs_sha256);
	r = ironic_instance_info(cbase, base, is->kernel_args, rsha, ksha, isha, &ii);
	if (r < 0)
		return r;
	r = uuid_generate(iu);
	if (r < 0)
		return r;

	/* claim a node: Ironic gives an instance_uuid to one claimant only
	 * (409 to the others), which then tries the next node */
	json_array_foreach(cands, i, node) {
		_cleanup_json_ json_t *patch = ironic_claim_patch(node, iu, ii), *rec = NULL;
		_cleanup_free_ char *path = NULL;

		uuid = ironic_str(node, "uuid");
		name = ironic_str(node, "name") ? ironic_str(node, "name") : uuid;
		if (!uuid || !uuid_is_valid(uuid))
			return rain_error_set(RAIN_EFORMAT, "ironic at %s: node %s has no uuid",
					      op->site->location, name ? name : "?");
		rec = json_pack("{s:s, s:s, s:s, s:s?}", "uuid", uuid, "name", name, "instance_uuid",
				iu, "deploy_interface", ironic_str(node, "deploy_interface"));
		if (!patch || !rec || asprintf(&path, "/v1/nodes/%s", uuid) < 0)
			return rain_error_oom();
		r = rain_target_state_set(op, "node", json_incref(rec));
		if (r < 0)
			return r;
		r = ironic_api(c, "PATCH", path, patch, NULL);
		if (r == RAIN_ECONFLICT) {
			rain_target_log(op, RAIN_TARGET_INFO, "node %s was taken meanwhile: %s", name,
					rain_error_last());
			continue;
		}
		if (r < 0)
			return r;
		break;
	}
	if (r < 0)
		return rain_error_set(RAIN_ECONFLICT, "ironic at %s: every available node of site %s "
				      "was claimed by others meanwhile: %s", op->site->location,
				      op->site->name, rain_error_last());
	rain_target_log(op, RAIN_TARGET_INFO, "node %s (%s): instance_info set, deploying", name, uuid);
	r = ironic_node_validate(c, uuid, name);
	if (r < 0)
		return r;
	r = ironic_node_provision(op, c, uuid, name, "active", active, failed, is->timeout);
	if (r < 0)
		return r;
	rain_target_log(op, RAIN_TARGET_INFO, "node %s is active", name);
	return rain_target_state_set(op, "show",
				     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "node", name,
					       "node_uuid", uuid, "kernel", ironic_str(ii, "kernel"),
					       "ramdisk", ironic_str(ii, "ramdisk"), "root",
					       ironic_str(ii, "image_source"), "root_sha256", rsha));
}


static int ironic_unpublish(struct rain_target_op *op)
{
	_cleanup_ironic_client_ struct rain_client *c = NULL;
	_cleanup_free_ char *dir = NULL;
	json_t *rec = json_object_get(op->state, "node");
	const char *saved = ironic_str(op->state, "publish_dir");
	int r;

	if (rec) {
		r = ironic_client(op->site, &c);
		if (r < 0)
			return r;
		r = ironic_node_release(op, c, rec);
		if (r < 0)
			return r;
		r = rain_target_state_set(op, "node", NULL);
		if (r < 0)
			return r;
	}
	if (saved) {
		/* only the registration's own folder, whatever the state says */
		r = reg_dir(op, &dir);
		if (r < 0)
			return r;
		if (strcmp(saved, dir))
			return rain_error_set(RAIN_EINVAL, "the state names %s, not %s of site %s: "
					      "left alone", saved, dir, op->site->name);
		r = fs_remove_tree(dir);
		if (r < 0)
			return r;
		r = rain_target_state_set(op, "publish_dir", NULL);
		if (r < 0)
			return r;
	}
	return rain_target_state_set(op, "show", NULL);
}

static int ironic_status(struct rain_target_op *op, json_t **out)
{
	_cleanup_ironic_client_ struct rain_client *c = NULL;
	_cleanup_json_ json_t *st = json_object(), *n = NULL;
	json_t *rec = json_object_get(op->state, "node");
	const char *dir = ironic_str(op->state, "publish_dir"), *uuid = ironic_str(rec, "uuid");
	struct stat sb;
	int r;

	*out = NULL;
	if (!st)
		return rain_error_oom();
	if (json_object_set_new(st, "present", json_false()) < 0 ||
	    json_object_set_new(st, "files", json_boolean(dir && stat(dir, &sb) == 0)) < 0)
		return rain_error_oom();
	if (uuid && uuid_is_valid(uuid)) {
		const char *iu;

		r = ironic_client(op->site, &c);
		if (r < 0)
			return r;
		r = ironic_node_get(c, uuid, &n);
		if (r < 0 && r != RAIN_ENOTFOUND)
			return r;
		iu = ironic_str(n, "instance_uuid");
		if (n && json_object_update_new(st, json_pack("{s:b, s:s?, s:s, s:s?, s:s?, s:s?, s:o}",
							  "present", iu && ironic_str(rec, "instance_uuid") &&
							  !strcmp(iu, ironic_str(rec, "instance_uuid")),
							  "node", ironic_str(n, "name"), "node_uuid", uuid,
							  "provision_state", ironic_str(n, "provision_state"),
							  "power_state", ironic_str(n, "power_state"),
							  "last_error", ironic_str(n, "last_error"),
							  "maintenance", json_boolean(json_is_true(
								  json_object_get(n, "maintenance"))))) < 0)
			return rain_error_oom();
	}
	*out = TAKE_PTR(st);
	return 0;
}

static const struct rain_target_driver table = {
	.version = RAIN_TARGET_DRIVER_VERSION,
	.scheme = "ironic",
	.usage = "ironic:URL (the Ironic API)",
	.check = site_check,
	.free = site_free,
	.accepts = ironic_accepts,
	.adapt = target_netboot_adapt,
	.publish = ironic_publish,
	.unpublish = ironic_unpublish,
	.status = ironic_status,
};

const struct rain_driver rain_target_driver_ironic = {
	.kind = "target",
	.scheme = "ironic",
	.usage = "ironic:URL (the Ironic API)",
	.table = &table,
};
