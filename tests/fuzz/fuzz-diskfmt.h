/* The body of the disk-format inspector's libFuzzer harnesses, one per
 * format: tests/fuzz/fuzz-FORMAT.c defines FUZZ_FORMAT and includes this.
 * Each harness gets its own seeds (images of its format, run.sh) and so
 * its own corpus, which keeps the fuzzer in that format's structures.
 *
 * Each input is tried two ways:
 *  - as the whole data, and as the prefix of a streaming upload;
 *  - as a sparse file, so that a small input can reach the offsets
 *    formats such as VHDX use (megabytes into the file): an 8-byte
 *    little-endian size, then segments of a 4-byte offset, a 2-byte
 *    length and that many bytes; everything else reads as zeros.
 * The inspector must answer 0 or RAIN_EFORMAT with a message, never read
 * out of bounds (ASan), and what it accepts must be what was declared
 * and must not name another file.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rain/diskfmt.h"
#include "rain/error.h"

#include "fuzz-sparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What an accepted image's bytes must not be. */
static void check_accepted(const char *declared, const struct rain_diskfmt_info *info,
			   rain_diskfmt_read_fn rd, void *ud)
{
	uint8_t h[512];
	ssize_t n;

	if (!info->format || !info->detail || info->virtual_size < -1 ||
	    info->virtual_size > RAIN_DISKFMT_MAX_VIRTUAL_SIZE)
		__builtin_trap();
	if (!info->complete)
		return;         /* a prefix: judged when the rest is there */
	if (declared && strcmp(declared, info->format) &&
	    !(rain_diskfmt_is_raw(declared) &&
	      (!strcmp(info->format, "raw") || !strcmp(info->format, "iso"))))
		__builtin_trap();
	memset(h, 0, sizeof(h));
	n = rd(ud, 0, h, sizeof(h));
	if (n < 0)
		__builtin_trap();
	if (!strcmp(info->format, "qcow2") &&
	    (fz_le(h + 8, 8) != 0 || (h[7] == 3 && (h[79] & 4))))  /* backing, data-file bit */
		__builtin_trap();
	if (!strcmp(info->format, "vmdk") && memcmp(h, "KDMV", 4))
		__builtin_trap();                           /* never a text descriptor */
	if (!strcmp(info->format, "vdi") && (fz_le(h + 0x4c, 4) > 2 || fz_le(h + 0x1b8, 8) ||
					     fz_le(h + 0x1c0, 8) || fz_le(h + 0x1a8, 8) ||
					     fz_le(h + 0x1b0, 8)))
		__builtin_trap();
	if (!strcmp(info->format, "vhd") && !memcmp(h, "conectix", 8) && fz_le(h + 60, 4) == 0x04000000)
		__builtin_trap();                           /* a differencing disk */
}

static void try_one(const char *declared, int64_t size, rain_diskfmt_read_fn rd, void *ud)
{
	struct rain_diskfmt_info info;
	int r;

	rain_error_clear();
	r = rain_diskfmt_inspect(declared, size, rd, ud, &info);
	if (r != 0 && (r != RAIN_EFORMAT || rain_error_last()[0] == '\0'))
		__builtin_trap();
	if (r == 0)
		check_accepted(declared, &info, rd, ud);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const declared[] = { FUZZ_FORMAT, NULL, "raw" };
	struct sparse s = { data, size, 0 };

	for (size_t i = 0; i < sizeof(declared) / sizeof(declared[0]); i++) {
		try_one(declared[i], (int64_t)size, plain_read, &s);
		try_one(declared[i], -1, plain_read, &s);
	}
	if (size >= 8) {
		s.vsize = fz_le(data, 8) & ((1ull << 40) - 1);
		for (size_t i = 0; i < sizeof(declared) / sizeof(declared[0]); i++)
			try_one(declared[i], (int64_t)s.vsize, sparse_read, &s);
	}
	if (!rain_diskfmt_detect(data, size))
		__builtin_trap();
	return 0;
}
