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
 * asked format and hashed (SHA-256, unless no_disk_sha256; and SHA-512
 * with disk_sha512).
 *
 * In detail (what drivers and their tests can count on):
 *  - files made in op->workdir (replacing what is there): disk.raw or
 *    disk.qcow2, and with boot_files kernel and initramfs (initramfs
 *    NULL when the image has none); on failure none of them is left;
 *  - the kernel: the default entry of /boot/grub/grub.cfg (grub2) or of
 *    extlinux.conf / syslinux.cfg, else the newest /boot/vmlinuz-VERSION;
 *    the version is its file name's ("vmlinuz-6.1.0-28-amd64");
 *  - cmdline: the entry's command line with the serial console added
 *    (console=ttyS0,115200; ttyAMA0 for aarch64/arm64 images);
 *  - the root file system is labelled RAIN_ADAPT_ROOT_LABEL and its
 *    /etc/fstab line for "/" names LABEL=rain-root (one is added when
 *    there is none);
 *  - contextualization with cloud-init (/usr/bin/cloud-init there):
 *    /etc/cloud/cloud.cfg.d/90_rain_datasource.cfg sets datasource_list,
 *    op->ssh_key goes to 91_rain_ssh_key.cfg (ssh_authorized_keys, for
 *    cloud-init's default user); without cloud-init (and for every
 *    context but NONE): rain-firstboot.service runs /usr/local/sbin/
 *    rain-firstboot once, which adds op->ssh_key (kept in
 *    /etc/rain/authorized_keys) and the keys of a NoCloud seed (a disk
 *    labelled cidata; ONE_CONTEXT: a disk labelled CONTEXT, context.sh's
 *    SSH_PUBLIC_KEY) to root's authorized_keys and sets the seed's
 *    hostname; it prints "rain-firstboot: done" on the console;
 *  - sysprep removes SSH host keys; where no cloud-init makes new ones,
 *    rain-ssh-host-keys.service (ssh-keygen -A) is added as rain's builds
 *    add it;
 *  - properties: img->properties (strings) and min_disk (GiB of the
 *    virtual size), kernel_version, architecture (from the kernel's
 *    name when the image says none), all strings.
 * Errors: RAIN_EFORMAT for an image that cannot be adapted (a backing
 * file, a link where rain writes: "the image's /etc/fstab is a symbolic
 * link (to /etc/passwd)", a damaged file system: e2fsck -fn must pass, no
 * kernel); RAIN_EFORBIDDEN for a kernel the site does not allow;
 * RAIN_EINVAL for missing modules, a bad op->ssh_key (one OpenSSH public
 * key line) or disk format; RAIN_ECANCELED. Runs qemu-img and e2fsck (the
 * host's) on the copy; nothing of the image.
 */
#ifndef RAIN_ADAPT_H
#define RAIN_ADAPT_H

#include <stdbool.h>

#include "rain/target.h"

/* The label adaptation gives the root file system. */
#define RAIN_ADAPT_ROOT_LABEL "rain-root"

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
	/* leave disk_sha256 NULL: the driver hashes the disk as it sends it
	 * (one read of the whole disk less) and records it then */
	bool no_disk_sha256;
	/* also the disk's SHA-512 (Glance's os_hash_value), in a thread of
	 * its own beside the SHA-256: kept with the adapted copy, so that
	 * each upload of it is checked without hashing it again */
	bool disk_sha512;
	/* modules the target needs (virtio_blk, virtio_net, squashfs,
	 * overlay, ...): RAIN_EINVAL naming those the image's kernel lacks;
	 * NULL-terminated, may be NULL */
	const char *const *modules;
};

int rain_adapt(struct rain_target_op *op, const struct rain_target_image *img,
	       const struct rain_adapt_opts *o, struct rain_target_artifacts *out);
/* Every field of o (which may be NULL: the defaults) as a new string in
 * *out, prefixed by what ("openstack "): equal strings, equal adaptations
 * of the same image and key. A field added to rain_adapt_opts is added
 * here. */
int rain_adapt_opts_key(const char *what, const struct rain_adapt_opts *o, char **out);

#endif
