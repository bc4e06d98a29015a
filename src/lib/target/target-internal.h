/* The site drivers built into librain (src/lib/target/drivers/), listed in
 * target.c's table in this order. */
#ifndef RAIN_TARGET_INTERNAL_H
#define RAIN_TARGET_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "rain/sys/registry.h"
#include "rain/sys/target.h"

extern const struct rain_driver rain_target_driver_ironic;
extern const struct rain_driver rain_target_driver_openstack;
extern const struct rain_driver rain_target_driver_netboot;
extern const struct rain_driver rain_target_driver_opennebula;
extern const struct rain_driver rain_target_driver_container;

/* adapt.c: rain_imgfs_read_fn (and rain_diskfmt_read_fn) over the file
 * descriptor *(int *)ud, read with pread. */
ssize_t target_read_fd(void *ud, uint64_t off, void *buf, size_t len);

/* opennebula-xmlrpc.c: an XML-RPC answer of OpenNebula's ([success,
 * result, code]): *ok, the result's text (new) and the error code;
 * RAIN_EFORMAT for anything else. */
int opennebula_parse_response(const char *data, size_t len, bool *ok, char **result, long *code);
/* The text of the element at path (root first, NULL-terminated) of an
 * XML document given as text (a result), or NULL; new string. */
char *opennebula_doc_text(const char *xml, const char *const *path);
/* The ID of the element named element (IMAGE, VMTEMPLATE) whose NAME is
 * name in a pool listing, or -1 in *id. */
int opennebula_pool_find(const char *xml, const char *element, const char *name, int64_t *id);

/* publish.c: files a site fetches from a folder it serves. */
/* An http:// or https:// URL without blanks, quotes or backslashes. */
bool target_url_valid(const char *s);
/* The site's publish_dir (absolute) and publish_url (target_url_valid),
 * borrowed from its settings; RAIN_EINVAL naming the bad one. */
int target_publish_settings(const struct rain_site *site, const char **dir, const char **url);
/* base/REGID in *out (new), after checking that the registration's id is
 * one path component. */
int target_reg_dir(const struct rain_target_op *op, const char *base, char **out);
/* Copy src to dst (0644: the site's HTTP server reads it), sparse, and
 * hash the copy into sha. */
int target_publish_file(struct rain_target_op *op, const char *src, const char *dst, char sha[65]);
/* Put dst in place as a hard link to src or, across file systems, a
 * sparse copy; 0644 either way (what a node fetches). */
int target_place_file(const char *src, const char *dst);
/* a's kernel, initramfs and root squashfs into dir (made 0755, with its
 * parents) as vmlinuz, initramfs and root.squashfs, by target_place_file;
 * RAIN_EINVAL naming who (the driver) when a lacks one. */
int target_place_boot_files(struct rain_target_op *op, const struct rain_target_artifacts *a,
			    const char *dir, const char *who);
/* How many of names (NULL-ended) are readable files in dir. */
int target_files_present(const char *dir, const char *const *names, size_t *count);
/* Remove names from dir, then dir itself; what is gone already is fine. */
int target_files_remove(const char *dir, const char *const *names);

/* target.c: the strings of v (NULL-terminated; NULL: none) as a new JSON
 * array, or NULL (out of memory). */
json_t *target_strv_json(const char *const *v);

/* netboot.c: what a node boots over the network, adapted from img, for
 * the netboot and ironic sites: rain_adapt's raw copy (sysprep, rain's
 * first-boot key unit, a serial console) and from it the image's kernel,
 * rain's netboot initramfs (rain/netboot.h; with the site's `modules`
 * setting when it has one) and the root squashfs (its fstab mounting
 * nothing, no remount of the RAM root; the site's `compressor` when it has
 * one) with its sha256; the adapted disk is removed (out->disk NULL) and
 * out->cmdline is NULL (the site says the kernel's arguments). */
int target_netboot_adapt(struct rain_target_op *op, const struct rain_target_image *img,
			 struct rain_target_artifacts *out);

/* ironic.c: the instance_info it sets on a node for the boot files of a
 * registration (vmlinuz, initramfs, root.squashfs), which Ironic's
 * conductor fetches under conductor_base and the node under node_base,
 * kernel_args (may be NULL) and the files' sha256; a new object in *out. */
int ironic_instance_info(const char *conductor_base, const char *node_base, const char *kernel_args,
			 const char *root_sha256, const char *kernel_sha256, const char *initrd_sha256,
			 json_t **out);

/* openstack.c: the body of POST /v2/images for one image of a
 * registration at an openstack site (op->site): role "image" (the disk,
 * or in the ec2 model the ami, linked to the kernel_id and ramdisk_id its
 * state names), "kernel" or "ramdisk"; id the image id chosen for it. A
 * new object in *out. */
int openstack_image_fields(struct rain_target_op *op, const struct rain_target_image *img,
			   const struct rain_target_artifacts *a, const char *role, const char *id,
			   json_t **out);
extern const struct rain_driver rain_target_driver_libvirt;
extern const struct rain_driver rain_target_driver_slurm;

/* slurm.c: the node feature of a registration at a slurm site (its
 * feature_prefix and reg_id with '-' as '_'), new in *out; RAIN_EINVAL
 * when the id makes no Slurm feature name. */
int target_slurm_feature(const struct rain_site *site, const char *reg_id, char **out);
/* The site's setting key as seconds (0 to a year), def when unset;
 * RAIN_EINVAL naming the key. */
int target_slurm_seconds(const struct rain_site *s, const char *key, int64_t def, int64_t *out);

/* slurm-cmd.c: Slurm's commands for a slurm site (and its provider),
 * with SLURM_CONF set to the site's slurm_conf when it has one
 * (util/slurm.h). */
/* Run argv (argv[0] found in PATH) within timeout_s (0: none) or until
 * *cancel; *out (new) is its output (stdout and stderr merged, up to 64
 * KiB), *status its exit status. RAIN_ENOTFOUND saying to install Slurm's
 * client when argv[0] is missing. */
int target_slurm_run(const struct rain_site *site, const char *const *argv, int timeout_s,
		     volatile sig_atomic_t *cancel, char **out, int *status);
/* The last line of text (its trailing newlines cut off: text changes),
 * borrowed from text; for messages. */
const char *target_slurm_last_line(char *text);

#endif
