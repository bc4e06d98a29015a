/* The site drivers built into librain (src/lib/target/drivers/), listed in
 * target.c's table in this order. */
#ifndef RAIN_TARGET_INTERNAL_H
#define RAIN_TARGET_INTERNAL_H

#include "rain/sys/registry.h"
#include "rain/sys/target.h"

extern const struct rain_driver rain_target_driver_ironic;
extern const struct rain_driver rain_target_driver_openstack;

/* ironic.c: what a node boots over the network, adapted from img:
 * rain_adapt's raw copy (sysprep, rain's first-boot key unit, a serial
 * console) and from it the image's kernel, rain's netboot initramfs
 * (rain/netboot.h) and the root squashfs (its fstab mounting nothing) with
 * its sha256; the adapted disk is removed (out->disk NULL). */
int target_netboot_adapt(struct rain_target_op *op, const struct rain_target_image *img,
			 struct rain_target_artifacts *out);

/* ironic.c: the instance_info it sets on a node for the boot files of a
 * registration (vmlinuz, initrd.img, root.squashfs), which Ironic's
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
extern const struct rain_driver rain_target_driver_netboot;

#endif
