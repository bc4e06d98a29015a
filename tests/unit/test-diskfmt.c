/* Unit tests for src/lib/diskfmt.c: qcow2 header parsing, format
 * detection and the declared-format check, on headers built in memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "testutil.h"

#include "rain/diskfmt.h"
#include "rain/error.h"

#define GiB (1024ull * 1024 * 1024)

static unsigned char buf[RAIN_DISKFMT_HEAD];

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put_be64(unsigned char *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}

/* A qcow2 header as qemu-img writes it: extensions (none) and an end
 * marker after the header, the rest of the head zero. Returns the offset
 * of the end marker, where a test may add extensions. */
static size_t make_qcow2(uint32_t version, uint32_t cluster_bits, uint64_t size)
{
	size_t hlen = version == 2 ? 72 : 112;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, "QFI\xfb", 4);
	put_be32(buf + 4, version);
	put_be32(buf + 20, cluster_bits);
	put_be64(buf + 24, size);
	put_be32(buf + 36, 1);                  /* l1_size */
	put_be64(buf + 40, 3ull << cluster_bits); /* l1_table_offset */
	put_be64(buf + 48, 1ull << cluster_bits); /* refcount_table_offset */
	put_be32(buf + 56, 1);
	if (version == 3) {
		put_be32(buf + 96, 4);          /* refcount_order */
		put_be32(buf + 100, (uint32_t)hlen);
	}
	return hlen;
}

/* Append a header extension at off; returns the offset after it. */
static size_t add_ext(size_t off, uint32_t type, const char *data)
{
	size_t n = strlen(data);

	put_be32(buf + off, type);
	put_be32(buf + off + 4, (uint32_t)n);
	memcpy(buf + off + 8, data, n);
	return off + 8 + ((n + 7) & ~(size_t)7);
}

static void test_qcow2_v2_valid(void **state)
{
	struct rain_qcow2_info info;

	make_qcow2(2, 16, 5 * GiB);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), 0);
	assert_int_equal(info.version, 2);
	assert_int_equal(info.cluster_bits, 16);
	assert_true(info.virtual_size == 5 * GiB);
	assert_false(info.has_backing_file);
	assert_false(info.has_data_file);
}

static void test_qcow2_v3_valid(void **state)
{
	struct rain_qcow2_info info;
	size_t off;

	off = make_qcow2(3, 12, 3 * GiB + 512);
	/* a feature name table and a backing format name are harmless */
	off = add_ext(off, 0x6803f857, "dirty bit and friends");
	add_ext(off, 0xe2792aca, "qcow2");
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), 0);
	assert_int_equal(info.version, 3);
	assert_int_equal(info.cluster_bits, 12);
	assert_true(info.virtual_size == 3 * GiB + 512);
	assert_false(info.has_backing_file);
	assert_false(info.has_data_file);
}

static void test_qcow2_short_head_is_enough(void **state)
{
	struct rain_qcow2_info info;
	size_t off = make_qcow2(3, 16, GiB);

	/* header plus end marker is all a parser needs */
	assert_int_equal(rain_qcow2_parse(buf, off + 8, &info), 0);
	assert_true(info.virtual_size == GiB);
	/* a NULL out is allowed */
	assert_int_equal(rain_qcow2_parse(buf, off + 8, NULL), 0);
}

static void test_qcow2_bad_magic(void **state)
{
	struct rain_qcow2_info info;

	make_qcow2(3, 16, GiB);
	buf[3] = 0xfa;
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	assert_error_contains("bad magic");
	assert_int_equal(rain_qcow2_parse(buf, 0, &info), RAIN_EFORMAT);
	assert_int_equal(rain_qcow2_parse(NULL, 0, &info), RAIN_EFORMAT);
}

static void test_qcow2_truncated(void **state)
{
	struct rain_qcow2_info info;

	make_qcow2(2, 16, GiB);
	assert_int_equal(rain_qcow2_parse(buf, 6, &info), RAIN_EFORMAT);
	assert_error_contains("truncated");
	assert_int_equal(rain_qcow2_parse(buf, 71, &info), RAIN_EFORMAT);
	assert_error_contains("truncated");
	make_qcow2(3, 16, GiB);
	assert_int_equal(rain_qcow2_parse(buf, 80, &info), RAIN_EFORMAT);
	assert_error_contains("truncated");
	assert_int_equal(rain_qcow2_parse(buf, 103, &info), RAIN_EFORMAT);
	assert_error_contains("truncated");
}

static void test_qcow2_bad_version(void **state)
{
	struct rain_qcow2_info info;

	make_qcow2(3, 16, GiB);
	put_be32(buf + 4, 1);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	assert_error_contains("version 1");
	put_be32(buf + 4, 4);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	assert_error_contains("version 4");
}

static void test_qcow2_bad_cluster_bits(void **state)
{
	struct rain_qcow2_info info;

	make_qcow2(3, 40, GiB);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	assert_error_contains("cluster_bits 40 out of range");
	make_qcow2(2, 8, GiB);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	assert_error_contains("cluster_bits 8");
	make_qcow2(2, 22, GiB);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	/* the bounds themselves are fine */
	make_qcow2(2, 9, GiB);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), 0);
	make_qcow2(3, 21, GiB);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), 0);
}

static void test_qcow2_huge_size(void **state)
{
	struct rain_qcow2_info info;

	make_qcow2(3, 16, UINT64_MAX);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	assert_error_contains("too large");
}

static void test_qcow2_bad_header_length(void **state)
{
	struct rain_qcow2_info info;

	make_qcow2(3, 16, GiB);
	put_be32(buf + 100, 72);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	assert_error_contains("header_length 72");
	put_be32(buf + 100, 113);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	/* larger than a 512-byte cluster */
	make_qcow2(3, 9, GiB);
	put_be32(buf + 100, 1024);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	/* a huge one must not make the parser read out of bounds */
	make_qcow2(3, 21, GiB);
	put_be32(buf + 100, 0xfffffff8u);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
}

static void test_qcow2_backing_file(void **state)
{
	struct rain_qcow2_info info;
	int64_t vs = 0;
	size_t off = make_qcow2(3, 16, GiB);

	put_be64(buf + 8, off + 8);
	put_be32(buf + 16, 12);
	memcpy(buf + off + 8, "/etc/shadow", 12);
	/* parsing reports it without judging */
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), 0);
	assert_true(info.has_backing_file);
	assert_false(info.has_data_file);
	/* checking refuses it, whatever was declared */
	assert_int_equal(rain_diskfmt_check("qcow2", buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_error_contains("backing file");
	assert_int_equal(rain_diskfmt_check(NULL, buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_int_equal(rain_diskfmt_check("vmdk", buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_error_contains("backing file");
	assert_int_equal(rain_diskfmt_check("raw", buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	/* v2 images too */
	make_qcow2(2, 16, GiB);
	put_be64(buf + 8, 80);
	put_be32(buf + 16, 8);
	memcpy(buf + 80, "base.img", 8);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), 0);
	assert_true(info.has_backing_file);
	assert_int_equal(rain_diskfmt_check("qcow2", buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_error_contains("backing file");
}

static void test_qcow2_data_file_bit(void **state)
{
	struct rain_qcow2_info info;
	int64_t vs = 0;

	make_qcow2(3, 16, GiB);
	put_be64(buf + 72, 1ull << 2);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), 0);
	assert_true(info.has_data_file);
	assert_false(info.has_backing_file);
	assert_int_equal(rain_diskfmt_check("qcow2", buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_error_contains("external data file");
	/* other incompatible bits (dirty, corrupt) are not data files */
	put_be64(buf + 72, 1ull << 0 | 1ull << 1);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), 0);
	assert_false(info.has_data_file);
}

static void test_qcow2_data_file_extension(void **state)
{
	struct rain_qcow2_info info;
	int64_t vs = 0;
	size_t off = make_qcow2(3, 16, GiB);

	/* the extension alone, without the incompatible bit, is refused */
	off = add_ext(off, 0xe2792aca, "raw");
	add_ext(off, 0x44415441, "/etc/passwd");
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), 0);
	assert_true(info.has_data_file);
	assert_int_equal(rain_diskfmt_check("qcow2", buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_error_contains("external data file");
	assert_int_equal(rain_diskfmt_check(NULL, buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_int_equal(rain_diskfmt_check("vdi", buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	/* v2 images have extensions right after the 72-byte header */
	add_ext(make_qcow2(2, 16, GiB), 0x44415441, "x");
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), 0);
	assert_true(info.has_data_file);
}

static void test_qcow2_extensions_beyond_head(void **state)
{
	struct rain_qcow2_info info;
	int64_t vs = 0;
	size_t off = make_qcow2(3, 21, GiB);

	/* an extension whose data runs past the bytes we were given */
	put_be32(buf + off, 0x6803f857);
	put_be32(buf + off + 4, 100000);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	assert_error_contains("extend beyond the first 65536 bytes");
	/* cannot be verified, so refused whatever was declared */
	assert_int_equal(rain_diskfmt_check(NULL, buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_int_equal(rain_diskfmt_check("qcow2", buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_error_contains("declared qcow2 is not a valid qcow2 image");
	/* no end marker before the head ends */
	off = make_qcow2(3, 16, GiB);
	while (off + 16 <= 1024)
		off = add_ext(off, 0x12345678, "padding!");
	assert_int_equal(rain_qcow2_parse(buf, 1024, &info), RAIN_EFORMAT);
	assert_error_contains("extend beyond the first 1024 bytes");
	/* a header with nothing after it cannot be checked either */
	off = make_qcow2(2, 16, GiB);
	assert_int_equal(rain_qcow2_parse(buf, off, &info), RAIN_EFORMAT);
	assert_error_contains("extend beyond");
}

static void test_qcow2_extension_too_large(void **state)
{
	struct rain_qcow2_info info;
	size_t off = make_qcow2(3, 9, GiB);

	/* an extension that does not fit in the first (512-byte) cluster */
	put_be32(buf + off, 0x6803f857);
	put_be32(buf + off + 4, 512);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	assert_error_contains("too large");
	put_be32(buf + off + 4, 0xffffffffu);
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), RAIN_EFORMAT);
	/* extensions filling the cluster exactly end the list, as in QEMU */
	off = make_qcow2(3, 9, GiB);
	put_be32(buf + off, 0x6803f857);
	put_be32(buf + off + 4, (uint32_t)(512 - off - 8));
	assert_int_equal(rain_qcow2_parse(buf, sizeof(buf), &info), 0);
}

static void test_check_qcow2_ok(void **state)
{
	int64_t vs = 0;

	make_qcow2(3, 16, 3 * GiB);
	assert_int_equal(rain_diskfmt_check("qcow2", buf, sizeof(buf), 200000, &vs), 0);
	assert_true(vs == (int64_t)(3 * GiB));
	vs = 0;
	assert_int_equal(rain_diskfmt_check(NULL, buf, sizeof(buf), 200000, &vs), 0);
	assert_true(vs == (int64_t)(3 * GiB));
	make_qcow2(2, 16, 7 * GiB);
	assert_int_equal(rain_diskfmt_check("qcow2", buf, sizeof(buf), -1, &vs), 0);
	assert_true(vs == (int64_t)(7 * GiB));
	/* virtual_size may be NULL */
	assert_int_equal(rain_diskfmt_check("qcow2", buf, sizeof(buf), -1, NULL), 0);
}

static void test_check_declared_qcow2_not_qcow2(void **state)
{
	int64_t vs = 0;

	memset(buf, 'x', sizeof(buf));
	assert_int_equal(rain_diskfmt_check("qcow2", buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_string_equal(rain_error_last(),
			    "image data declared qcow2 is not qcow2 (bad magic)");
	assert_int_equal(rain_diskfmt_check("qcow2", buf, 2, 2, &vs), RAIN_EFORMAT);
	assert_error_contains("too short");
	assert_int_equal(rain_diskfmt_check("qcow2", NULL, 0, 0, &vs), RAIN_EFORMAT);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "vhdxfile", 8);
	assert_int_equal(rain_diskfmt_check("qcow2", buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_error_contains("looks like vhdx");
	/* qcow2 magic but a broken header */
	make_qcow2(3, 40, GiB);
	assert_int_equal(rain_diskfmt_check("qcow2", buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_error_contains("declared qcow2 is not a valid qcow2 image");
	assert_error_contains("cluster_bits 40");
}

static void test_check_raw_disguised(void **state)
{
	int64_t vs = 0;

	make_qcow2(3, 16, GiB);
	assert_int_equal(rain_diskfmt_check("raw", buf, sizeof(buf), 1000, &vs), RAIN_EFORMAT);
	assert_error_contains("declared raw");
	assert_error_contains("qcow2");
	assert_int_equal(rain_diskfmt_check("iso", buf, sizeof(buf), 1000, &vs), RAIN_EFORMAT);
	/* even a qcow2 too broken to parse is not raw */
	make_qcow2(3, 40, GiB);
	assert_int_equal(rain_diskfmt_check("raw", buf, sizeof(buf), 1000, &vs), RAIN_EFORMAT);
	/* a VMDK descriptor may name host files as extents */
	memset(buf, 0, sizeof(buf));
	strcpy((char *)buf, "# Disk DescriptorFile\nversion=1\n"
	       "RW 2048 FLAT \"/etc/shadow\" 0\n");
	assert_int_equal(rain_diskfmt_check("raw", buf, strlen((char *)buf), -1, &vs),
			 RAIN_EFORMAT);
	assert_error_contains("vmdk");
	memset(buf, 0, sizeof(buf));
	memcpy(buf + 64, "\x7f\x10\xda\xbe", 4);
	assert_int_equal(rain_diskfmt_check("raw", buf, sizeof(buf), -1, &vs), RAIN_EFORMAT);
	assert_error_contains("vdi");
}

static void test_check_raw_ok(void **state)
{
	int64_t vs = 0;

	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(rain_diskfmt_check("raw", buf, sizeof(buf), 123456789, &vs), 0);
	assert_true(vs == 123456789);
	assert_int_equal(rain_diskfmt_check("raw", buf, sizeof(buf), -1, &vs), 0);
	assert_true(vs == -1);
	/* empty data is raw */
	assert_int_equal(rain_diskfmt_check("raw", buf, 0, 0, &vs), 0);
	assert_true(vs == 0);
	/* an ISO uploaded as raw is plain data */
	memset(buf, 0, sizeof(buf));
	memcpy(buf + 32769, "CD001", 5);
	assert_int_equal(rain_diskfmt_check("raw", buf, sizeof(buf), 1 << 20, &vs), 0);
	assert_true(vs == 1 << 20);
	assert_int_equal(rain_diskfmt_check("iso", buf, sizeof(buf), 1 << 20, &vs), 0);
	assert_true(vs == 1 << 20);
}

static void test_check_other_formats(void **state)
{
	int64_t vs = 0;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, "KDMV", 4);
	assert_int_equal(rain_diskfmt_check("vmdk", buf, sizeof(buf), 5000, &vs), 0);
	assert_true(vs == -1);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "vhdxfile", 8);
	assert_int_equal(rain_diskfmt_check("vhdx", buf, sizeof(buf), 5000, &vs), 0);
	assert_true(vs == -1);
}

static void test_check_null_declared(void **state)
{
	int64_t vs = 0;

	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(rain_diskfmt_check(NULL, buf, sizeof(buf), 42, &vs), 0);
	assert_true(vs == 42);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "KDMV", 4);
	assert_int_equal(rain_diskfmt_check(NULL, buf, sizeof(buf), 42, &vs), 0);
	assert_true(vs == -1);
	/* a broken qcow2 that QEMU would not open either is accepted */
	make_qcow2(3, 40, GiB);
	assert_int_equal(rain_diskfmt_check(NULL, buf, sizeof(buf), 42, &vs), 0);
	assert_true(vs == -1);
	assert_int_equal(rain_diskfmt_check(NULL, NULL, 0, -1, &vs), 0);
}

static void test_detect(void **state)
{
	memset(buf, 0, sizeof(buf));
	assert_string_equal(rain_diskfmt_detect(buf, sizeof(buf)), "raw");
	assert_string_equal(rain_diskfmt_detect(buf, 0), "raw");
	assert_string_equal(rain_diskfmt_detect(NULL, 0), "raw");

	make_qcow2(3, 16, GiB);
	assert_string_equal(rain_diskfmt_detect(buf, sizeof(buf)), "qcow2");
	assert_string_equal(rain_diskfmt_detect(buf, 4), "qcow2");
	assert_string_equal(rain_diskfmt_detect(buf, 3), "raw");

	memset(buf, 0, sizeof(buf));
	memcpy(buf, "KDMV", 4);
	assert_string_equal(rain_diskfmt_detect(buf, sizeof(buf)), "vmdk");
	memset(buf, 0, sizeof(buf));
	strcpy((char *)buf, "# Disk DescriptorFile\n");
	assert_string_equal(rain_diskfmt_detect(buf, 22), "vmdk");
	assert_string_equal(rain_diskfmt_detect(buf, 10), "raw");

	memset(buf, 0, sizeof(buf));
	memcpy(buf, "vhdxfile", 8);
	assert_string_equal(rain_diskfmt_detect(buf, sizeof(buf)), "vhdx");
	assert_string_equal(rain_diskfmt_detect(buf, 7), "raw");

	memset(buf, 0, sizeof(buf));
	memcpy(buf, "<<< Oracle VM VirtualBox Disk Image >>>\n", 40);
	memcpy(buf + 64, "\x7f\x10\xda\xbe", 4);
	assert_string_equal(rain_diskfmt_detect(buf, sizeof(buf)), "vdi");
	assert_string_equal(rain_diskfmt_detect(buf, 67), "raw");
	/* big-endian magic is not VDI */
	memcpy(buf + 64, "\xbe\xda\x10\x7f", 4);
	assert_string_equal(rain_diskfmt_detect(buf, sizeof(buf)), "raw");

	memset(buf, 0, sizeof(buf));
	buf[32768] = 1;
	memcpy(buf + 32769, "CD001", 5);
	assert_string_equal(rain_diskfmt_detect(buf, sizeof(buf)), "iso");
	assert_string_equal(rain_diskfmt_detect(buf, 32774), "iso");
	assert_string_equal(rain_diskfmt_detect(buf, 32773), "raw");
	assert_string_equal(rain_diskfmt_detect(buf, 1000), "raw");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qcow2_v2_valid),
		cmocka_unit_test(test_qcow2_v3_valid),
		cmocka_unit_test(test_qcow2_short_head_is_enough),
		cmocka_unit_test(test_qcow2_bad_magic),
		cmocka_unit_test(test_qcow2_truncated),
		cmocka_unit_test(test_qcow2_bad_version),
		cmocka_unit_test(test_qcow2_bad_cluster_bits),
		cmocka_unit_test(test_qcow2_huge_size),
		cmocka_unit_test(test_qcow2_bad_header_length),
		cmocka_unit_test(test_qcow2_backing_file),
		cmocka_unit_test(test_qcow2_data_file_bit),
		cmocka_unit_test(test_qcow2_data_file_extension),
		cmocka_unit_test(test_qcow2_extensions_beyond_head),
		cmocka_unit_test(test_qcow2_extension_too_large),
		cmocka_unit_test(test_check_qcow2_ok),
		cmocka_unit_test(test_check_declared_qcow2_not_qcow2),
		cmocka_unit_test(test_check_raw_disguised),
		cmocka_unit_test(test_check_raw_ok),
		cmocka_unit_test(test_check_other_formats),
		cmocka_unit_test(test_check_null_declared),
		cmocka_unit_test(test_detect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
