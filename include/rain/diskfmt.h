/* Disk-format inspection: does uploaded data match its declared
 * disk_format, and what is its virtual size?
 *
 * The caller streams an upload and hands over its first bytes (the
 * "head": RAIN_DISKFMT_HEAD bytes, or all of the data when it is
 * shorter) plus the total size when known (-1 while still streaming).
 * Nothing here reads files or allocates; all functions are pure.
 */
#ifndef RAIN_DISKFMT_H
#define RAIN_DISKFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAIN_DISKFMT_HEAD 65536

struct rain_qcow2_info {
	uint32_t version;          /* 2 or 3 */
	uint32_t cluster_bits;
	uint64_t virtual_size;     /* bytes, from the header */
	bool has_backing_file;     /* backing_file_offset != 0 */
	bool has_data_file;        /* incompatible bit 2 or a data-file extension */
};

/* Parse a qcow2 header from buf. 0 on success; RAIN_EFORMAT with a message
 * saying what is wrong ("not a qcow2 image: bad magic", "qcow2 cluster_bits
 * 40 out of range", ...) otherwise. Does not judge backing/data files. */
int rain_qcow2_parse(const unsigned char *buf, size_t len, struct rain_qcow2_info *out);

/* Name of the format the head looks like: "qcow2", "vmdk", "vhdx", "vdi",
 * "iso", or "raw" when nothing is recognised. */
const char *rain_diskfmt_detect(const unsigned char *head, size_t len);

/* Check data against declared (a Glance disk_format; NULL means not set,
 * which accepts anything). On success *virtual_size is set (qcow2: from the
 * header; raw/iso: total_size, or -1 when not yet known; other formats: -1).
 * Rejects with RAIN_EFORMAT and a clear message:
 *   - declared qcow2 but the head is not a valid qcow2 header;
 *   - a qcow2 image naming a backing file or an external data file
 *     (OSSA-2023-002), whatever was declared;
 *   - declared raw/iso but the head is another known image format
 *     (a qcow2 disguised as raw, as Glance's format inspector refuses).
 */
int rain_diskfmt_check(const char *declared, const unsigned char *head, size_t len,
		       int64_t total_size, int64_t *virtual_size);

#endif
