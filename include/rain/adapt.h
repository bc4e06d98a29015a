/* Adapting an image for a target, on a copy (the stored image is never
 * written): what a site's driver calls from its adapt method
 * (rain/sys/target.h).
 *
 * rain_adapt() copies the image's disk into op->workdir (sparse; a qcow2
 * is read through its own format, never through a backing file it names)
 * and changes the copy's root file system in user space (libext2fs; no
 * mount, nothing in the image run, symlinks in the image never followed
 * out of it):
 *  - sysprep, as virt-sysprep does: /etc/machine-id emptied, ssh host
 *    keys, logs, DHCP leases, shell histories and random seeds removed;
 *  - contextualization: cloud-init told its datasources (NoCloud,
 *    ConfigDrive, OpenStack) when the image has it; otherwise (or for
 *    RAIN_ADAPT_FIRSTBOOT) a first-boot unit of rain's own that installs
 *    the key given in op->ssh_key (or one read from a NoCloud/config
 *    drive) for root and sets the hostname; one-context's settings for
 *    OpenNebula;
 *  - the root file system labelled and /etc/fstab naming it by label;
 *  - a serial console on the kernel command line and a getty on it.
 * It finds the kernel and initramfs the image boots (kernel_version,
 * cmdline), copies them out when asked, and checks the site's kernel
 * allow-list (rain_site_kernel_allowed). The result is converted to the
 * asked format and hashed.
 */
#ifndef RAIN_ADAPT_H
#define RAIN_ADAPT_H

#include <stdbool.h>

#include "rain/target.h"

enum rain_adapt_context {
	RAIN_ADAPT_CONTEXT_NONE,        /* leave contextualization as it is */
	RAIN_ADAPT_CLOUD_INIT,          /* OpenStack, libvirt (NoCloud seed) */
	RAIN_ADAPT_ONE_CONTEXT,         /* OpenNebula */
	RAIN_ADAPT_FIRSTBOOT,           /* netboot: rain's first-boot key unit */
};

struct rain_adapt_opts {
	enum rain_adapt_context context;
	const char *disk_format;        /* "raw", "qcow2"; NULL: the image's */
	bool no_sysprep;                /* keep per-instance state (tests) */
	bool no_serial_console;
	bool boot_files;                /* copy the kernel and initramfs out */
	/* modules the target needs (virtio_blk, virtio_net, squashfs,
	 * overlay, ...): RAIN_EINVAL naming those the image's kernel lacks;
	 * NULL-terminated, may be NULL */
	const char *const *modules;
};

int rain_adapt(struct rain_target_op *op, const struct rain_target_image *img,
	       const struct rain_adapt_opts *o, struct rain_target_artifacts *out);

#endif
