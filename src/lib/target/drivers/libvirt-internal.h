/* The pure parts of the libvirt site driver (drivers/libvirt.c), in
 * libvirt-xml.c so that the unit tests and the fuzzer reach them: the
 * domain definition and the cloud-init NoCloud seed. Neither talks to
 * libvirt.
 */
#ifndef RAIN_TARGET_DRIVERS_LIBVIRT_INTERNAL_H
#define RAIN_TARGET_DRIVERS_LIBVIRT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
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
	bool guest_agent;               /* a virtio-serial channel for qemu-ga
					 * (org.qemu.guest_agent.0) */
	const char *console_log;        /* the serial console's log file on the
					 * libvirt host; NULL: none */
	const char *reg_id;             /* in <metadata>; NULL: none */
	const char *image_id;
};

/* The domain XML for virDomainDefineXML, a new string owned by the caller
 * (free()). RAIN_EINVAL for a field that cannot be (an unknown arch or
 * network kind). */
int libvirt_domain_xml(const struct libvirt_domain *d, char **out);

/* A run's instance (the libvirt provider): its domain is the registration's
 * with these changes. Every string is borrowed and must be a libvirt name
 * rain made ([A-Za-z0-9_.-]). */
struct libvirt_instance {
	const char *name;               /* "rain-RUNID-K" */
	const char *run_id;             /* in <metadata> */
	const char *pool;               /* of both volumes */
	const char *disk_volume;        /* the instance's overlay (qcow2) */
	const char *seed_volume;        /* its NoCloud seed; NULL: no cdrom */
	int ssh_port;                   /* > 0: qemu's user networking with
					 * 127.0.0.1:ssh_port forwarded to the
					 * guest's port 22; 0: the interfaces
					 * kept (each gets a new MAC) */
	const char *share_dir;          /* a folder of the libvirt host shared
					 * in over virtio-9p (mount tag
					 * LIBVIRT_SHARE_TAG); NULL: none */
	bool share_rw;                  /* writable from inside */
	bool agent;                     /* reached by the guest agent: no
					 * interface at all (ssh_port 0), and
					 * the qemu-ga channel (added when the
					 * registration's domain has none) */
};

/* The mount tag of an instance's shared folder (9p). */
#define LIBVIRT_SHARE_TAG "rain-work"

/* The definition of a run's instance made from its registration's domain
 * (reg_xml, as virDomainGetXMLDesc gives it): renamed, without uuid (libvirt
 * makes one) or NVRAM path (libvirt makes one per domain from the
 * firmware's template); the one disk (device='disk') is the instance's
 * qcow2 volume, the cdrom its seed (removed when it has none); serial
 * logs go (the provider reads the console itself); <metadata> gets
 * <rain:run id='RUNID' instance='NAME'/> (urn:x-rain:run:1). With
 * ssh_port, every <interface> goes and qemu gets a user network device
 * forwarding the port (<qemu:commandline>: the passt backend with
 * <portForward> is refused by this libvirt 9.0's parser, and
 * <interface type='user'> forwards no port); without, interfaces lose
 * their MAC. With agent, every <interface> goes and a
 * <channel type='unix'> with target org.qemu.guest_agent.0 is there. With
 * share_dir, a <filesystem type='mount' accessmode='mapped'> (virtio-9p)
 * shares it with the tag LIBVIRT_SHARE_TAG, <readonly/> unless share_rw;
 * share_dir must be absolute, printable and without "..". A new
 * string in *out (free()). RAIN_EFORMAT when reg_xml is
 * no domain definition with exactly one disk; RAIN_EINVAL for a bad
 * name or port. */
int libvirt_instance_xml(const char *reg_xml, const struct libvirt_instance *in, char **out);

/* The path of the backing store of a volume, from its definition vol_xml
 * (/volume/backingStore/path): a new string in *out (free()), NULL when it
 * has none. RAIN_EFORMAT when vol_xml is no <volume>. */
int libvirt_vol_backing(const char *vol_xml, char **out);

/* The definition of a qcow2 volume name (0600) of capacity bytes whose
 * backing store is the file backing (a volume's path, of backing_format
 * "qcow2" or "raw"): a copy-on-write overlay that only reads it. A new
 * string in *out (free()); RAIN_EINVAL for a bad name or format. */
int libvirt_overlay_xml(const char *name, uint64_t capacity, const char *backing,
			const char *backing_format, char **out);

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

/* The guest's host name made from a domain's name (lower case, other
 * characters than [a-z0-9] as '-', at most 63, no '-' at the end) into out
 * (size bytes). */
void libvirt_hostname_from(const char *domain, char *out, size_t size);

#endif
