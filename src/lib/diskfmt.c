/* Disk-format inspection: qcow2 header parsing, format detection and the
 * upload-time check that data matches its declared disk_format.
 *
 * Everything here works on an in-memory head of the upload and must stay
 * safe on arbitrary bytes: every read goes through rd_be32()/rd_be64()
 * after an explicit bounds check against len.
 */
#include <stdio.h>
#include <string.h>

#include "rain/diskfmt.h"
#include "rain/error.h"

#define QCOW2_MAGIC 0x514649fbu         /* "QFI\xfb" */
#define QCOW2_V2_HEADER_LEN 72u
#define QCOW2_V3_MIN_HEADER_LEN 104u
#define QCOW2_MIN_CLUSTER_BITS 9u
#define QCOW2_MAX_CLUSTER_BITS 21u
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_EXT_END 0x00000000u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_DATA_FILE 0x44415441u

#define VDI_MAGIC_OFFSET 64u
#define VDI_MAGIC 0xbeda107fu           /* little-endian on disk */
#define ISO_MAGIC_OFFSET 32769u         /* sector 16, byte 1: "CD001" */

static uint32_t rd_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t rd_be64(const unsigned char *p)
{
	return (uint64_t)rd_be32(p) << 32 | rd_be32(p + 4);
}

static uint32_t rd_le32(const unsigned char *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[1] << 8 | (uint32_t)p[0];
}

static bool has_bytes_at(const unsigned char *buf, size_t len, size_t off,
			 const void *magic, size_t n)
{
	return off <= len && n <= len - off && memcmp(buf + off, magic, n) == 0;
}

/* Why qcow2_parse() failed: the header is malformed, or it may be fine but
 * its extensions lie beyond what we were given, so we cannot tell whether
 * it names an external data file. */
enum qcow2_fail {
	QCOW2_FAIL_NONE,
	QCOW2_FAIL_MALFORMED,
	QCOW2_FAIL_UNVERIFIABLE,
};

static int qcow2_parse(const unsigned char *buf, size_t len,
		       struct rain_qcow2_info *out, enum qcow2_fail *why)
{
	struct rain_qcow2_info info = { 0 };
	uint64_t backing_offset, ext_end, off, incompat = 0;
	uint32_t header_len;
	size_t need;

	*why = QCOW2_FAIL_MALFORMED;
	if (!buf || len < 4 || rd_be32(buf) != QCOW2_MAGIC)
		return rain_error_set(RAIN_EFORMAT, "not a qcow2 image: bad magic");
	if (len < 8)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2 header is truncated (%zu bytes, need at least %u)",
				      len, QCOW2_V2_HEADER_LEN);
	info.version = rd_be32(buf + 4);
	if (info.version != 2 && info.version != 3)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2 version %u is not supported (only 2 and 3 are)",
				      info.version);
	need = info.version == 2 ? QCOW2_V2_HEADER_LEN : QCOW2_V3_MIN_HEADER_LEN;
	if (len < need)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2 header is truncated (%zu bytes, version %u needs %zu)",
				      len, info.version, need);

	backing_offset = rd_be64(buf + 8);
	info.cluster_bits = rd_be32(buf + 20);
	info.virtual_size = rd_be64(buf + 24);
	if (info.cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    info.cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2 cluster_bits %u out of range (%u to %u)",
				      info.cluster_bits, QCOW2_MIN_CLUSTER_BITS,
				      QCOW2_MAX_CLUSTER_BITS);
	if (info.virtual_size > (uint64_t)INT64_MAX)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2 virtual size %llu bytes is too large",
				      (unsigned long long)info.virtual_size);
	info.has_backing_file = backing_offset != 0;

	if (info.version == 2) {
		header_len = QCOW2_V2_HEADER_LEN;
	} else {
		incompat = rd_be64(buf + 72);
		header_len = rd_be32(buf + 100);
		if (header_len < QCOW2_V3_MIN_HEADER_LEN || header_len % 8 != 0)
			return rain_error_set(RAIN_EFORMAT,
					      "qcow2 header_length %u is invalid (must be a multiple of 8, at least %u)",
					      header_len, QCOW2_V3_MIN_HEADER_LEN);
		if (header_len > (1u << info.cluster_bits))
			return rain_error_set(RAIN_EFORMAT,
					      "qcow2 header_length %u is larger than a cluster (%u bytes)",
					      header_len, 1u << info.cluster_bits);
	}
	if (incompat & QCOW2_INCOMPAT_DATA_FILE)
		info.has_data_file = true;

	/* Header extensions follow the header and end at a type-0 marker, the
	 * start of the backing file name, or the end of the first cluster,
	 * whichever comes first (as QEMU reads them). */
	ext_end = 1ull << info.cluster_bits;
	if (backing_offset != 0 && backing_offset < ext_end)
		ext_end = backing_offset;
	off = header_len;
	while (off < ext_end) {
		uint32_t type, ext_len;

		if (off + 8 > len) {
			*why = QCOW2_FAIL_UNVERIFIABLE;
			return rain_error_set(RAIN_EFORMAT,
					      "qcow2 header extensions extend beyond the first %zu bytes",
					      len);
		}
		type = rd_be32(buf + off);
		ext_len = rd_be32(buf + off + 4);
		if (type == QCOW2_EXT_END)
			break;
		if (ext_end - off < 8)
			return rain_error_set(RAIN_EFORMAT,
					      "qcow2 header extension at offset %llu is cut short by the end of the header area",
					      (unsigned long long)off);
		off += 8;
		if (ext_len > ext_end - off)
			return rain_error_set(RAIN_EFORMAT,
					      "qcow2 header extension 0x%08x is too large (%u bytes)",
					      type, ext_len);
		if (ext_len > len - off) {
			*why = QCOW2_FAIL_UNVERIFIABLE;
			return rain_error_set(RAIN_EFORMAT,
					      "qcow2 header extensions extend beyond the first %zu bytes",
					      len);
		}
		if (type == QCOW2_EXT_DATA_FILE)
			info.has_data_file = true;
		/* QCOW2_EXT_BACKING_FORMAT only matters alongside a backing
		 * file, which backing_file_offset already tells. */
		off += ((uint64_t)ext_len + 7) & ~7ull;
	}

	*why = QCOW2_FAIL_NONE;
	if (out)
		*out = info;
	return 0;
}

int rain_qcow2_parse(const unsigned char *buf, size_t len, struct rain_qcow2_info *out)
{
	enum qcow2_fail why;

	return qcow2_parse(buf, len, out, &why);
}

const char *rain_diskfmt_detect(const unsigned char *head, size_t len)
{
	static const unsigned char qcow2[] = { 'Q', 'F', 'I', 0xfb };
	static const char vmdk_desc[] = "# Disk DescriptorFile";

	if (!head)
		return "raw";
	if (has_bytes_at(head, len, 0, qcow2, sizeof(qcow2)))
		return "qcow2";
	if (has_bytes_at(head, len, 0, "KDMV", 4) ||
	    has_bytes_at(head, len, 0, vmdk_desc, sizeof(vmdk_desc) - 1))
		return "vmdk";
	if (has_bytes_at(head, len, 0, "vhdxfile", 8))
		return "vhdx";
	if (len >= VDI_MAGIC_OFFSET + 4 && rd_le32(head + VDI_MAGIC_OFFSET) == VDI_MAGIC)
		return "vdi";
	if (has_bytes_at(head, len, ISO_MAGIC_OFFSET, "CD001", 5))
		return "iso";
	return "raw";
}

int rain_diskfmt_check(const char *declared, const unsigned char *head, size_t len,
		       int64_t total_size, int64_t *virtual_size)
{
	struct rain_qcow2_info info = { 0 };
	enum qcow2_fail why = QCOW2_FAIL_NONE;
	const char *detected, *fmt;
	char reason[512];
	int r;

	if (!head)
		len = 0;
	detected = rain_diskfmt_detect(head, len);
	fmt = declared ? declared : detected;

	if (declared && strcmp(declared, "qcow2") == 0 && strcmp(detected, "qcow2") != 0) {
		if (len < 4)
			return rain_error_set(RAIN_EFORMAT,
					      "image data declared qcow2 is too short to be qcow2 (%zu bytes)",
					      len);
		if (strcmp(detected, "raw") != 0)
			return rain_error_set(RAIN_EFORMAT,
					      "image data declared qcow2 is not qcow2 (bad magic; the data looks like %s)",
					      detected);
		return rain_error_set(RAIN_EFORMAT,
				      "image data declared qcow2 is not qcow2 (bad magic)");
	}

	if (strcmp(detected, "qcow2") == 0) {
		r = qcow2_parse(head, len, &info, &why);
		if (r < 0) {
			snprintf(reason, sizeof(reason), "%s", rain_error_last());
			if (declared && strcmp(declared, "qcow2") == 0)
				return rain_error_set(RAIN_EFORMAT,
						      "image data declared qcow2 is not a valid qcow2 image: %s",
						      reason);
			if (why == QCOW2_FAIL_UNVERIFIABLE)
				return rain_error_set(RAIN_EFORMAT,
						      "image data looks like qcow2 but cannot be checked for an external data file: %s",
						      reason);
		} else {
			if (info.has_backing_file)
				return rain_error_set(RAIN_EFORMAT,
						      "qcow2 image names a backing file; such images are refused (OSSA-2024-001)");
			if (info.has_data_file)
				return rain_error_set(RAIN_EFORMAT,
						      "qcow2 image uses an external data file; such images are refused (OSSA-2024-001)");
		}
	}

	/* Raw-ish declarations must not hide a format QEMU would interpret
	 * (a qcow2 with a backing file, a VMDK descriptor naming host files,
	 * ...). An ISO uploaded as raw is plain data and fine. */
	if (declared && (strcmp(declared, "raw") == 0 || strcmp(declared, "iso") == 0) &&
	    strcmp(detected, "raw") != 0 && strcmp(detected, "iso") != 0)
		return rain_error_set(RAIN_EFORMAT,
				      "image data declared %s is really a %s image; upload it with disk_format %s",
				      declared, detected, detected);

	if (virtual_size) {
		if (strcmp(fmt, "qcow2") == 0 && why == QCOW2_FAIL_NONE &&
		    strcmp(detected, "qcow2") == 0)
			*virtual_size = (int64_t)info.virtual_size;
		else if (strcmp(fmt, "raw") == 0 || strcmp(fmt, "iso") == 0)
			*virtual_size = total_size >= 0 ? total_size : -1;
		else
			*virtual_size = -1;
	}
	return 0;
}
