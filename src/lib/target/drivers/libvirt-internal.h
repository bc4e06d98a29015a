/* The pure parts of the libvirt site driver (drivers/libvirt.c), in
 * libvirt-xml.c so that the unit tests and the fuzzer reach them: the
 * domain definition and the cloud-init NoCloud seed. Neither talks to
 * libvirt.
 */
#ifndef RAIN_TARGET_DRIVERS_LIBVIRT_INTERNAL_H
#define RAIN_TARGET_DRIVERS_LIBVIRT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* What the domain is made of. Every string is borrowed; title and
 * description are user text (an image's name) and may hold anything:
 * they are escaped, and control characters become spaces. */
struct libvirt_domain {
	const char *name;               /* "rain-REGID" */
	const char *title;              /* NULL: none */
	const char *description;        /* NULL: none */
	const char *type;               /* "qemu" or "kvm" */
	const char *arch;               /* "x86_64" or "aarch64" */
	bool uefi;                      /* <os firmware='efi'> (always for aarch64) */
	int64_t memory_mib;
	int vcpus;
	const char *pool;               /* the storage pool of both volumes */
	const char *disk_volume;
	const char *disk_format;        /* "qcow2" or "raw" */
	const char *seed_volume;        /* the NoCloud seed as a cdrom; NULL: none */
	const char *network;            /* "user", "none", "network:NAME", "bridge:NAME" */
	const char *console_log;        /* the serial console's log file on the
					 * libvirt host; NULL: none */
	const char *reg_id;             /* in <metadata>; NULL: none */
	const char *image_id;
};

/* The domain XML for virDomainDefineXML, a new string owned by the caller
 * (free()). RAIN_EINVAL for a field that cannot be (an unknown arch or
 * network kind). */
int libvirt_domain_xml(const struct libvirt_domain *d, char **out);

/* Write a cloud-init NoCloud seed to path (created 0600, replaced if it
 * exists): an ISO 9660 image labelled CIDATA (cloud-init looks for cidata
 * in either case) with Rock Ridge and Joliet names, holding meta-data
 * (instance-id, local-hostname, public-keys) and user-data (#cloud-config:
 * hostname, the key for root and the default user). ssh_key may be NULL;
 * otherwise it must be one line of printable ASCII, as an authorized_keys
 * entry is (RAIN_EINVAL otherwise). hostname: [a-z0-9-], 1-63. */
int libvirt_seed_write(const char *path, const char *instance_id, const char *hostname,
		       const char *ssh_key);

/* A host name rain gives a guest: 1-63 of a-z, 0-9 and '-', not starting
 * or ending with '-'. */
bool libvirt_hostname_ok(const char *h);

#endif
