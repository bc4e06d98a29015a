/* Disk-format inspection: what format is uploaded data really, does it
 * match its declared disk_format, does it refer to anything outside
 * itself, and what is its virtual size?
 *
 * The guard against OSSA-2024-001 and its kin: a qcow2 naming a backing
 * or data file, a VMDK whose extent is /etc/passwd, a VHD/VHDX/VDI
 * differencing disk naming a parent, or any of these disguised as raw.
 * Whatever a consumer's qemu-img would follow out of the file is refused.
 *
 * The inspector reads through a callback (random access, a few small
 * reads, never more than 1 MiB held at once), so it works on a stored
 * file as well as on a buffer. With the size unknown (size < 0: only a
 * prefix of the data is there yet, as while an upload streams), it
 * refuses what the prefix already shows to be wrong and leaves the rest
 * to a later call with the whole data. Library code: no printing; errors
 * are RAIN_EFORMAT with a message that names the format, the field and
 * its offset, and what to do.
 */
#ifndef RAIN_DISKFMT_H
#define RAIN_DISKFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What an upload keeps in memory to check early (the head). */
#define RAIN_DISKFMT_HEAD 65536

/* Virtual sizes above this (1 PiB) are refused as absurd. */
#define RAIN_DISKFMT_MAX_VIRTUAL_SIZE (1ll << 50)

/* Read up to len bytes at off into buf. Returns the number read, which is
 * less than len only at the end of the data (or of what is there yet), or
 * a negative RAIN_E* code with a message set. */
typedef ssize_t (*rain_diskfmt_read_fn)(void *ud, uint64_t off, void *buf, size_t len);

struct rain_diskfmt_info {
	/* What the data is: "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso",
	 * "ploop" or "raw" (static strings). */
	const char *format;
	/* More about it, or "": "gpt", "mbr" (raw), "fixed", "dynamic"
	 * (vhd, vdi), "monolithicSparse", "streamOptimized" (vmdk), "udf". */
	const char *detail;
	int64_t virtual_size;   /* bytes; -1 when not known (yet) */
	bool complete;          /* every check ran (false: prefix only) */
};

/* Inspect data of size bytes (size < 0: only a prefix is readable yet)
 * against declared, a Glance disk_format (NULL: none, anything accepted
 * that is safe). Refused with RAIN_EFORMAT:
 *  - a declared format the data is not (raw/ami/ari/aki accept raw data,
 *    GPT and MBR disks and ISO images; iso needs an ISO 9660/UDF volume);
 *  - raw-like declarations whose data is an image format qemu would
 *    interpret (qcow2, vmdk, vhd, vhdx, vdi, ploop, qed, luks, ...);
 *  - formats raind does not take (qcow v1, QED, LUKS, bochs, cloop,
 *    VMDK COWD), whatever was declared;
 *  - external references: qcow2 backing files, external data files
 *    (incompatible bit 2 or the data-file extension); VMDK descriptor
 *    files, extents other than the file itself, parent disks
 *    (parentFileNameHint, parentCID); VHD differencing disks and parent
 *    locators; VHDX parent locators and HasParent; VDI undo/differencing
 *    images and parent UUIDs;
 *  - header fields that are absurd or point past the end of the data.
 * Other failures of read are passed on. out may be NULL. */
int rain_diskfmt_inspect(const char *declared, int64_t size, rain_diskfmt_read_fn read,
			 void *ud, struct rain_diskfmt_info *out);

/* rain_diskfmt_inspect() on a buffer: head holds the first len bytes of
 * data of total_size bytes (-1: not known yet). The whole data when
 * total_size == len, a prefix otherwise. On success *virtual_size (may be
 * NULL) is the virtual size, or -1 when not known. */
int rain_diskfmt_check(const char *declared, const unsigned char *head, size_t len,
		       int64_t total_size, int64_t *virtual_size);

/* Name of the format the head looks like (see info.format), "raw" when
 * nothing is recognised. Never NULL. */
const char *rain_diskfmt_detect(const unsigned char *head, size_t len);

/* Whether a disk_format is raw data to qemu: raw, ami, ari, aki. */
bool rain_diskfmt_is_raw(const char *disk_format);

#endif
