/* Unit tests for src/lib/repo/diskfmt.c, the disk-format inspector.
 *
 * Crafted images built here in memory: every way a file can refer to
 * another (qcow2 backing and data files, VMDK descriptors and extents,
 * VHD/VHDX/VDI parents), declared formats the data is not, truncated
 * and absurd headers. Then real images made by qemu-img in every format
 * raind takes, accepted with the virtual size qemu-img reports, and the
 * references qemu-img itself can make, refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <jansson.h>

#include "testutil.h"

#include "rain/diskfmt.h"
#include "rain/error.h"
#include "util/process.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)
#define IMG_MAX (4 * MiB)

static unsigned char *img;

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

static void put_le16(unsigned char *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, v >> 32);
}

static int setup(void **state)
{
	memset(img, 0, IMG_MAX);
	rain_error_clear();
	return 0;
}

/* Inspect the first len bytes of img as the whole data. */
static int check(const char *declared, size_t len, int64_t *vs)
{
	return rain_diskfmt_check(declared, img, len, (int64_t)len, vs);
}

/* Refused, with a message that has needle. */
static void refused(const char *declared, size_t len, const char *needle)
{
	int64_t vs = 7;

	rain_error_clear();
	if (check(declared, len, &vs) != RAIN_EFORMAT)
		fail_msg("declared %s, %zu bytes: accepted, expected a refusal with \"%s\"",
			 declared ? declared : "(none)", len, needle);
	assert_error_contains(needle);
	assert_int_equal(vs, -1);
}

static void accepted(const char *declared, size_t len, int64_t want_vs)
{
	int64_t vs = -2;

	if (check(declared, len, &vs) != 0)
		fail_msg("declared %s, %zu bytes: refused: %s", declared ? declared : "(none)", len,
			 rain_error_last());
	assert_int_equal(vs, want_vs);
}

/* Every proper prefix of the image (at the given steps) is refused in
 * full mode: a truncated header never passes, and nothing crashes. */
static void truncations_refused(const char *declared, size_t len, size_t step)
{
	int64_t vs;

	for (size_t n = 0; n < len; n += step) {
		int r = check(declared, n, &vs);

		if (r == 0)
			fail_msg("declared %s cut to %zu of %zu bytes: accepted", declared, n, len);
		assert_int_equal(r, RAIN_EFORMAT);
	}
}

/* A change of one field of a valid image, and what its refusal says. */
struct poke {
	size_t off;
	int width;              /* bytes: 4 or 8 */
	bool be;                /* big-endian */
	uint64_t value;
	const char *why;
};

/* Each poke alone, on the valid image in img, is refused; the image is
 * left as it was. */
static void pokes_refused(const char *declared, size_t len, const struct poke *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char saved[8];

		memcpy(saved, img + p[i].off, (size_t)p[i].width);
		if (p[i].width == 4)
			(p[i].be ? put_be32 : put_le32)(img + p[i].off, (uint32_t)p[i].value);
		else
			(p[i].be ? put_be64 : put_le64)(img + p[i].off, p[i].value);
		refused(declared, len, p[i].why);
		memcpy(img + p[i].off, saved, (size_t)p[i].width);
	}
	assert_int_equal(check(declared, len, NULL), 0);
}

/* ---- qcow2 ---- */

/* A qcow2 as qemu-img lays it out: header, refcount table in cluster 1,
 * L1 table in cluster 3, 4 clusters in all. Returns the end-marker
 * offset, where a test may add extensions. */
static size_t make_qcow2(uint32_t version, uint32_t cb, uint64_t size, size_t *len)
{
	size_t hlen = version == 2 ? 72 : 112;
	uint64_t per_l1 = 1ull << (cb + cb - 3);

	memcpy(img, "QFI\xfb", 4);
	put_be32(img + 4, version);
	put_be32(img + 20, cb);
	put_be64(img + 24, size);
	put_be32(img + 36, (uint32_t)((size + per_l1 - 1) / per_l1));
	put_be64(img + 40, 3ull << cb);
	put_be64(img + 48, 1ull << cb);
	put_be32(img + 56, 1);
	if (version == 3) {
		put_be32(img + 96, 4);
		put_be32(img + 100, (uint32_t)hlen);
	}
	*len = 4ull << cb;
	return hlen;
}

static size_t add_ext(size_t off, uint32_t type, const char *data)
{
	size_t n = strlen(data);

	put_be32(img + off, type);
	put_be32(img + off + 4, (uint32_t)n);
	memcpy(img + off + 8, data, n);
	return off + 8 + ((n + 7) & ~(size_t)7);
}

static void test_qcow2_valid(void **state)
{
	size_t len, off;

	make_qcow2(2, 16, 5 * GiB, &len);
	accepted("qcow2", len, 5 * GiB);
	accepted(NULL, len, 5 * GiB);
	setup(NULL);
	off = make_qcow2(3, 16, 3 * GiB, &len);
	off = add_ext(off, 0xe2792acau, "raw");   /* backing format, harmless alone */
	add_ext(off, 0x6803f857u, "features");
	accepted("qcow2", len, 3 * GiB);
	setup(NULL);
	make_qcow2(3, 9, 4096, &len);
	accepted("qcow2", len, 4096);
	truncations_refused("qcow2", 3 * 512 + 8, 7);
}

static void test_qcow2_backing_file(void **state)
{
	size_t len;

	make_qcow2(3, 16, GiB, &len);
	put_be64(img + 8, 512);
	put_be32(img + 16, 11);
	memcpy(img + 512, "/etc/passwd", 11);
	refused("qcow2", len, "backing file \"/etc/passwd\"");
	refused("qcow2", len, "(backing_file_offset 512 at offset 8)");
	refused(NULL, len, "OSSA-2024-001");
	/* disguised as raw, it is refused as a qcow2 */
	refused("raw", len, "disk_format is raw, but the data is a qcow2 image");
	/* already in the head of a streaming upload */
	assert_int_equal(rain_diskfmt_check("qcow2", img, 65536, -1, NULL), RAIN_EFORMAT);
	assert_error_contains("backing file");
}

static void test_qcow2_data_file(void **state)
{
	size_t len, off;

	off = make_qcow2(3, 16, GiB, &len);
	put_be64(img + 72, 1ull << 2);
	add_ext(off, 0x44415441u, "/etc/shadow");
	refused("qcow2", len, "external data file (incompatible feature bit 2 at offset 72)");
	/* the extension alone, the bit clear */
	put_be64(img + 72, 0);
	refused("qcow2", len, "external data file (header extension 0x44415441 at offset 112)");
	/* after other extensions */
	setup(NULL);
	off = make_qcow2(3, 16, GiB, &len);
	off = add_ext(off, 0x6803f857u, "dirty bitmaps");
	add_ext(off, 0x44415441u, "x");
	refused("qcow2", len, "header extension 0x44415441 at offset 136");
	/* beyond the streamed head: found at the end in the stored file */
	setup(NULL);
	make_qcow2(3, 20, GiB, &len);
	put_be32(img + 112, 0x6803f857u);
	put_be32(img + 116, 70000);
	add_ext(112 + 8 + 70000, 0x44415441u, "y");
	assert_int_equal(rain_diskfmt_check("qcow2", img, 65536, -1, NULL), 0);
	refused("qcow2", len, "external data file");
}

static void test_qcow2_bad_headers(void **state)
{
	static const struct poke pokes[] = {
		{ 4, 4, true, 1, "version 1" },
		{ 4, 4, true, 4, "qcow2: version 4 (offset 4) is not supported" },
		{ 20, 4, true, 8, "cluster_bits 8 (offset 20) out of range" },
		{ 20, 4, true, 40, "cluster_bits 40" },
		{ 24, 8, true, UINT64_MAX, "virtual size in size (offset 24)" },
		{ 24, 8, true, 1ull << 51, "more than the" },
		{ 100, 4, true, 100, "header_length 100 (offset 100)" },
		{ 100, 4, true, 1u << 17, "larger than a cluster" },
		{ 72, 8, true, 1ull << 40, "unknown incompatible feature bits 0x10000000000" },
		{ 32, 4, true, 3, "crypt_method 3 (offset 32)" },
		{ 40, 8, true, 1ull << 40, "l1_table_offset (field at offset 40) points to bytes" },
		{ 40, 8, true, 3ull << 15, "l1_table_offset 98304 (offset 40) is not aligned" },
		{ 36, 4, true, 0, "l1_size 0 (offset 36) does not fit" },
		{ 36, 4, true, 1u << 30, "l1_size 1073741824 (offset 36) does not fit" },
		{ 48, 8, true, 5ull << 16, "refcount_table_offset" },
		{ 56, 4, true, 0, "misaligned, empty or too large" },
		{ 60, 4, true, 1u << 20, "nb_snapshots 1048576" },
		/* an extension running past the first cluster */
		{ 112, 8, true, 0x1234567800010000ull, "header extension 0x12345678 at offset 112 is too large" },
	};
	size_t len;

	make_qcow2(3, 16, GiB, &len);
	pokes_refused("qcow2", len, pokes, sizeof(pokes) / sizeof(pokes[0]));
	put_be32(img + 60, 1);
	put_be64(img + 64, 1ull << 30);
	refused("qcow2", len, "snapshots_offset");
}

/* ---- vmdk ---- */

#define VMDK_DESC_OK \
	"# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n" \
	"createType=\"monolithicSparse\"\n\n# Extent description\n" \
	"RW 2048 SPARSE \"disk.vmdk\"\n\n# The Disk Data Base\n#DDB\n\n" \
	"ddb.virtualHWVersion = \"4\"\nddb.geometry.cylinders = \"2\"\n" \
	"ddb.adapterType = \"ide\"\n"

/* A monolithicSparse VMDK of 1 MiB: header, descriptor at sector 1 (20
 * sectors), grain directory at sector 21; 64 KiB long. */
static size_t make_vmdk(const char *desc)
{
	memcpy(img, "KDMV", 4);
	put_le32(img + 4, 1);
	put_le32(img + 8, 3);
	put_le64(img + 12, 2048);
	put_le64(img + 20, 128);
	put_le64(img + 28, 1);
	put_le64(img + 36, 20);
	put_le32(img + 44, 512);
	put_le64(img + 48, 0);
	put_le64(img + 56, 21);
	put_le64(img + 64, 128);
	memcpy(img + 73, "\n \r\n", 4);
	memcpy(img + 512, desc, strlen(desc));
	return 64 * KiB;
}

static void test_vmdk_sparse(void **state)
{
	size_t len = make_vmdk(VMDK_DESC_OK);

	accepted("vmdk", len, MiB);
	accepted(NULL, len, MiB);
	refused("raw", len, "disk_format is raw, but the data is a vmdk image (\"KDMV\" at offset 0");
	refused("qcow2", len, "disk_format is qcow2, but the data is a vmdk image");
	truncations_refused("vmdk", 21 * 512 + 4, 97);
}

static void test_vmdk_flat_passwd(void **state)
{
	/* the finding of issue 10: a descriptor whose extent is a host file */
	static const char d[] =
		"# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
		"createType=\"monolithicFlat\"\n\n# Extent description\n"
		"RW 2048 FLAT \"/etc/passwd\" 0\n";
	size_t len = strlen(d);

	memcpy(img, d, len);
	refused("vmdk", len, "VMDK descriptor file (createType \"monolithicFlat\")");
	refused("vmdk", len, "extent \"/etc/passwd\" (FLAT, at offset 114)");
	refused(NULL, len, "OSSA-2024-001");
	refused("raw", len, "the data is a vmdk image");
	refused("ami", len, "the data is a vmdk image");
	/* qemu's probe needs no "# Disk DescriptorFile" line: version= is enough */
	setup(NULL);
	strcpy((char *)img, "\n# x\nversion=1\ncreateType=\"vmfs\"\nRW 1 VMFS \"/dev/sda\"\n");
	refused("raw", strlen((char *)img), "the data is a vmdk image");
	refused("vmdk", strlen((char *)img), "extent \"/dev/sda\" (VMFS");
	/* a descriptor without extents is refused too */
	setup(NULL);
	strcpy((char *)img, "# Disk DescriptorFile\nversion=1\ncreateType=\"twoGbMaxExtentSparse\"\n");
	refused("vmdk", strlen((char *)img), "holds no disk data");
}

static void test_vmdk_embedded_extents(void **state)
{
	static const struct {
		const char *desc, *why;
	} cases[] = {
		/* a sparse file whose embedded descriptor points elsewhere */
		{ "# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicSparse\"\n"
		  "RW 2048 FLAT \"/etc/passwd\" 0\n", "lists 1 extents; the first is FLAT \"/etc/passwd\"" },
		{ "version=1\ncreateType=\"monolithicSparse\"\n"
		  "RW 2048 SPARSE \"disk.vmdk\"\nRW 2048 SPARSE \"other.vmdk\"\n", "lists 2 extents" },
		{ "version=1\ncreateType=\"monolithicSparse\"\nRW 2048 SPARSE \"../../etc/x\"\n",
		  "never another file" },
		{ "version=1\ncreateType=\"twoGbMaxExtentFlat\"\nRW 2048 FLAT \"a-f001.vmdk\" 0\n",
		  "createType \"twoGbMaxExtentFlat\"" },
		{ "version=1\ncreateType=\"vmfs\"\nRW 2048 VMFS \"a-flat.vmdk\"\n", "createType \"vmfs\"" },
		/* deltas of a parent */
		{ "version=1\nparentCID=12345678\nparentFileNameHint=\"/srv/base.vmdk\"\n"
		  "createType=\"monolithicSparse\"\nRW 2048 SPARSE \"d.vmdk\"\n",
		  "delta of a parent disk (parentFileNameHint at descriptor line 3, offset 541: \"/srv/base.vmdk\")" },
		{ "version=1\nparentCID=12345678\ncreateType=\"monolithicSparse\"\nRW 2048 SPARSE \"d.vmdk\"\n",
		  "parentCID at descriptor line 2" },
		/* lines it cannot read */
		{ "version=1\ncreateType=\"monolithicSparse\"\nRW 2048 SPARSE \"d.vmdk\"\nrm -rf /\n",
		  "descriptor line 4 (offset 576) is not" },
	};
	size_t len;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setup(NULL);
		len = make_vmdk(cases[i].desc);
		refused("vmdk", len, cases[i].why);
	}
	/* no embedded descriptor: a piece of a split VMDK */
	setup(NULL);
	len = make_vmdk(VMDK_DESC_OK);
	put_le64(img + 28, 0);
	refused("vmdk", len, "no embedded descriptor");
	/* capacity 0: qemu reads the embedded descriptor as a descriptor file */
	setup(NULL);
	len = make_vmdk(VMDK_DESC_OK);
	put_le64(img + 12, 0);
	refused("vmdk", len, "capacity 0 (offset 12)");
	/* COWD */
	setup(NULL);
	memcpy(img, "COWD", 4);
	refused("vmdk", 4096, "COWD");
}

static void test_vmdk_bad_headers(void **state)
{
	static const struct poke pokes[] = {
		{ 4, 4, false, 7, "version 7 (offset 4)" },
		{ 12, 8, false, UINT64_MAX, "virtual size in capacity (offset 12)" },
		{ 20, 8, false, 0, "grainSize 0 (offset 20)" },
		{ 44, 4, false, 0, "numGTEsPerGT 0 (offset 44)" },
		{ 44, 4, false, 1, "grain directory would have" },
		{ 36, 8, false, 1u << 20, "out of range (at most 2048 sectors)" },
		{ 28, 8, false, 1000, "embedded descriptor at offset 512000" },
		{ 56, 8, false, 1u << 20, "gdOffset (field at offset 56)" },
		{ 48, 8, false, 1u << 20, "rgdOffset (field at offset 48)" },
		/* a footer promised (streamOptimized) but absent */
		{ 56, 8, false, UINT64_MAX, "no footer marker" },
	};

	size_t len = make_vmdk(VMDK_DESC_OK);

	put_le64(img + 12, 1ull << 40);  /* 512 TiB: a big directory */
	pokes_refused("vmdk", len, pokes, sizeof(pokes) / sizeof(pokes[0]));
}

/* ---- vhd ---- */

static void vhd_footer(unsigned char *f, uint32_t type, uint64_t size, uint64_t data_off)
{
	uint32_t sum = 0;

	memcpy(f, "conectix", 8);
	put_be32(f + 8, 2);
	put_be32(f + 12, 0x00010000);
	put_be64(f + 16, data_off);
	memcpy(f + 28, "qemu", 4);
	put_be64(f + 40, size);
	put_be64(f + 48, size);
	put_be32(f + 60, type);
	put_be32(f + 64, 0);
	for (int i = 0; i < 512; i++)
		sum += f[i];
	put_be32(f + 64, ~sum);
}

/* A dynamic (or differencing) VHD of 4 MiB: footer copy, dynamic header
 * at 512, BAT at 1536 (2 entries of 2 MiB), footer at the end. */
static size_t make_vhd_dynamic(uint32_t type)
{
	size_t len = 1536 + 512 + 512;

	vhd_footer(img, type, 4 * MiB, 512);
	memcpy(img + 512, "cxsparse", 8);
	put_be64(img + 512 + 8, UINT64_MAX);
	put_be64(img + 512 + 16, 1536);
	put_be32(img + 512 + 24, 0x00010000);
	put_be32(img + 512 + 28, 2);
	put_be32(img + 512 + 32, 2 * MiB);
	memset(img + 1536, 0xff, 8);
	memcpy(img + len - 512, img, 512);
	return len;
}

static void test_vhd(void **state)
{
	size_t len = make_vhd_dynamic(3);

	accepted("vhd", len, 4 * MiB);
	refused("raw", len, "the data is a vhd image");
	refused("vhdx", len, "disk_format is vhdx, but the data is a vhd image");
	truncations_refused("vhd", 1536, 61);

	/* fixed: data, then the footer */
	setup(NULL);
	vhd_footer(img + MiB, 2, MiB, UINT64_MAX);
	accepted("vhd", MiB + 512, MiB);
	refused("raw", MiB + 512, "the data is a vhd image (\"conectix\" at offset 0 or in the last 512 bytes)");
	/* a prefix cannot tell a fixed VHD from raw: decided at the end */
	assert_int_equal(rain_diskfmt_check("vhd", img, 65536, -1, NULL), 0);
	refused("vhd", MiB, "disk_format is vhd, but the data is not a vhd image");
	vhd_footer(img + MiB, 2, 2 * MiB, UINT64_MAX);
	refused("vhd", MiB + 512, "current size 2097152 (offset 1048624) is more than");
	img[MiB + 100] ^= 1;
	refused("vhd", MiB + 512, "footer checksum");
}

static void test_vhd_differencing(void **state)
{
	size_t len = make_vhd_dynamic(4);

	refused("vhd", len, "differencing disk (disk type 4 at offset 60)");
	refused(NULL, len, "OSSA-2024-001");
	/* a "dynamic" disk that still names a parent */
	setup(NULL);
	len = make_vhd_dynamic(3);
	put_be32(img + 512 + 576 + 24, 0x57326b75);   /* W2ku locator */
	refused("vhd", len, "parent locator 1 at offset 1112");
	put_be32(img + 512 + 576 + 24, 0);
	img[512 + 64 + 1] = 'b';
	refused("vhd", len, "names a parent disk (parent UUID at +40 or name at +64)");
	img[512 + 64 + 1] = 0;
	put_be32(img + 512 + 32, 3000);
	refused("vhd", len, "block size 3000");
	put_be32(img + 512 + 32, 2 * MiB);
	put_be32(img + 512 + 28, 1);
	refused("vhd", len, "covers less than the current size");
	put_be32(img + 512 + 28, 2);
	put_be64(img + 512 + 16, 1ull << 40);
	refused("vhd", len, "the block table offset");
}

/* ---- vhdx ---- */

static void put_guid(unsigned char *p, const char *g)
{
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	unsigned char raw[16];
	int n = 0;

	for (; *g; g++) {
		unsigned v;

		if (*g == '-')
			continue;
		sscanf(g, "%2x", &v);
		raw[n++] = (unsigned char)v;
		g++;
	}
	for (int i = 0; i < 16; i++)
		p[i] = raw[order[i]];
}

static void vhdx_meta(int i, const char *guid, uint32_t off, uint32_t len, uint32_t flags)
{
	unsigned char *e = img + 2 * MiB + 32 + 32 * i;

	put_guid(e, guid);
	put_le32(e + 16, off);
	put_le32(e + 20, len);
	put_le32(e + 24, flags);
}

/* A VHDX of 64 MiB: headers, region table (BAT at 1 MiB, metadata at
 * 2 MiB), metadata items at 2 MiB + 64 KiB; 3 MiB long. */
static size_t make_vhdx(int extra_entries)
{
	unsigned char *m = img + 2 * MiB;

	memcpy(img, "vhdxfile", 8);
	for (int i = 1; i <= 2; i++) {
		memcpy(img + i * 64 * KiB, "head", 4);
		put_le64(img + i * 64 * KiB + 8, (uint64_t)i);
		put_le16(img + i * 64 * KiB + 66, 1);
		put_le32(img + i * 64 * KiB + 68, MiB);
		put_le64(img + i * 64 * KiB + 72, MiB);
	}
	memcpy(img + 192 * KiB, "regi", 4);
	put_le32(img + 192 * KiB + 8, 2);
	put_guid(img + 192 * KiB + 16, "2DC27766-F623-4200-9D64-115E9BFD4A08");
	put_le64(img + 192 * KiB + 32, MiB);
	put_le32(img + 192 * KiB + 40, MiB);
	put_le32(img + 192 * KiB + 44, 1);
	put_guid(img + 192 * KiB + 48, "8B7CA206-4790-4B9A-B8FE-575F050F886E");
	put_le64(img + 192 * KiB + 64, 2 * MiB);
	put_le32(img + 192 * KiB + 72, MiB);
	put_le32(img + 192 * KiB + 76, 1);
	memcpy(m, "metadata", 8);
	put_le16(m + 10, (uint16_t)(5 + extra_entries));
	vhdx_meta(0, "CAA16737-FA36-4D43-B3B6-33F0AA44E76B", 64 * KiB, 8, 4);
	put_le32(m + 64 * KiB, 32 * MiB);
	vhdx_meta(1, "2FA54224-CD1B-4876-B211-5DBED83BF4B8", 64 * KiB + 8, 8, 6);
	put_le64(m + 64 * KiB + 8, 64 * MiB);
	vhdx_meta(2, "8141BF1D-A96F-4709-BA47-F233A8FAAB5F", 64 * KiB + 16, 4, 6);
	put_le32(m + 64 * KiB + 16, 512);
	vhdx_meta(3, "CDA348C7-445D-4471-9CC9-E9885251C556", 64 * KiB + 20, 4, 6);
	put_le32(m + 64 * KiB + 20, 4096);
	vhdx_meta(4, "BECA12AB-B2E6-4523-93EF-C309E000C746", 64 * KiB + 24, 16, 6);
	return 3 * MiB;
}

static void test_vhdx(void **state)
{
	size_t len = make_vhdx(0);

	accepted("vhdx", len, 64 * MiB);
	refused("vhd", len, "the data is a vhdx image");
	refused("raw", len, "the data is a vhdx image");
	truncations_refused("vhdx", 2 * MiB + 64 * KiB + 40, 64 * KiB - 3);
	/* a prefix is fine, the end decides */
	assert_int_equal(rain_diskfmt_check("vhdx", img, 65536, -1, NULL), 0);
}

static void test_vhdx_parent(void **state)
{
	size_t len = make_vhdx(1);

	/* the parent locator of a differencing disk */
	vhdx_meta(5, "A8D35F2D-B30B-454D-ABF7-D3D84834AB0C", 64 * KiB + 64, 512, 4);
	memcpy(img + 2 * MiB + 64 * KiB + 64, "p\0a\0r\0e\0n\0t\0", 12);
	refused("vhdx", len, "parent locator (metadata entry 5 at offset 2097344)");
	refused(NULL, len, "OSSA-2024-001");
	/* HasParent in the file parameters */
	setup(NULL);
	len = make_vhdx(0);
	put_le32(img + 2 * MiB + 64 * KiB + 4, 2);
	refused("vhdx", len, "HasParent");
	/* unknown required metadata, regions out of place */
	setup(NULL);
	len = make_vhdx(1);
	vhdx_meta(5, "11111111-2222-3333-4444-555555555555", 64 * KiB + 64, 8, 4);
	refused("vhdx", len, "unknown and marked required");
	setup(NULL);
	len = make_vhdx(0);
	put_le64(img + 192 * KiB + 64, 8 * MiB);
	refused("vhdx", len, "metadata (field at offset 196656) points to bytes");
	put_le64(img + 192 * KiB + 64, 2 * MiB + 512);
	refused("vhdx", len, "not 1 MiB-aligned");
	put_le64(img + 192 * KiB + 64, 2 * MiB);
	put_le64(img + 2 * MiB + 64 * KiB + 8, 1ull << 52);
	refused("vhdx", len, "virtual size in virtual disk size");
	put_le64(img + 2 * MiB + 64 * KiB + 8, 1ull << 45);
	refused("vhdx", len, "the BAT region (1048576 bytes at offset 1048576) is too small");
	put_le64(img + 2 * MiB + 64 * KiB + 8, 64 * MiB);
	put_le32(img + 2 * MiB + 32 + 16, 16);
	refused("vhdx", len, "metadata entry 0 at offset 2097184 points outside");
}

/* ---- vdi ---- */

static size_t make_vdi(uint32_t type, uint32_t blocks)
{
	memcpy(img, "<<< QEMU VM Virtual Disk Image >>>\n", 35);
	put_le32(img + 0x40, 0xbeda107f);
	put_le32(img + 0x44, 0x00010001);
	put_le32(img + 0x48, 0x190);
	put_le32(img + 0x4c, type);
	put_le32(img + 0x154, 512);
	put_le32(img + 0x158, 1024);
	put_le32(img + 0x168, 512);
	put_le64(img + 0x170, (uint64_t)blocks * MiB);
	put_le32(img + 0x178, MiB);
	put_le32(img + 0x180, blocks);
	memset(img + 0x188, 0x42, 16);
	memset(img + 512, 0xff, 4ull * blocks);
	return 1024;
}

static void test_vdi(void **state)
{
	size_t len = make_vdi(1, 16);

	accepted("vdi", len, 16 * MiB);
	refused("raw", len, "the data is a vdi image (0xbeda107f at offset 64)");
	truncations_refused("vdi", 512, 13);
	pokes_refused("vdi", len, (const struct poke[]) {
		{ 0x44, 4, false, 0x00010000, "version 0x00010000 at offset 68 is not 1.1" },
		{ 0x4c, 4, false, 5, "image type 5 at offset 76" },
		{ 0x184, 4, false, 2, "the data offset (field at offset 344)" },
		{ 0x184, 4, false, 17, "do not fit the disk size" },
		{ 0x170, 8, false, 17 * MiB, "do not fit the disk size" },
		{ 0x170, 8, false, UINT64_MAX, "virtual size in disk size (offset 368)" },
		{ 0x178, 4, false, 4096, "block size 4096 (offset 376)" },
		{ 0x168, 4, false, 4096, "sector size 4096 (offset 360)" },
		{ 0x158, 4, false, 520, "misaligned or overlap" },
		{ 0x154, 4, false, 0, "misaligned or overlap" },
		{ 0x158, 4, false, 1u << 30, "the data offset (field at offset 344)" },
	}, 11);
}

static void test_vdi_differencing(void **state)
{
	size_t len = make_vdi(4, 16);

	refused("vdi", len, "a differencing image (image type 4 at offset 76");
	put_le32(img + 0x4c, 3);
	refused("vdi", len, "an undo image");
	put_le32(img + 0x4c, 1);
	memset(img + 0x1b8, 0x11, 16);
	refused("vdi", len, "parent UUIDs at offsets 424 and 440");
	refused(NULL, len, "OSSA-2024-001");
}

/* ---- iso, raw, gpt, mbr ---- */

static size_t make_iso(uint32_t blocks)
{
	img[32768] = 1;
	memcpy(img + 32769, "CD001", 5);
	img[32774] = 1;
	put_le32(img + 32768 + 80, blocks);
	put_be32(img + 32768 + 84, blocks);
	put_le16(img + 32768 + 128, 2048);
	img[32768 + 130] = 2048 >> 8;
	img[32768 + 131] = 0;
	img[34816] = 255;
	memcpy(img + 34817, "CD001", 5);
	return blocks * 2048ull;
}

static void test_iso(void **state)
{
	size_t len = make_iso(40);

	accepted("iso", len, 40 * 2048);
	accepted(NULL, len, 40 * 2048);
	accepted("raw", len + 4096, len + 4096);  /* raw: its length */
	accepted("iso", len + 4096, 40 * 2048);   /* iso: the volume's */
	refused("qcow2", len, "disk_format is qcow2, but the data is an iso image (\"CD001\" or a UDF descriptor at offset 32769)");
	/* a hybrid ISO: an MBR in the system area */
	img[510] = 0x55;
	img[511] = 0xaa;
	accepted("iso", len, 40 * 2048);
	/* a truncated ISO */
	refused("iso", len - 2048, "the ISO is truncated");
	/* a qcow2 header in the system area makes it a qcow2, not an ISO */
	memcpy(img, "QFI\xfb", 4);
	refused("iso", len, "disk_format is iso, but the data is a qcow2 image");
	/* UDF only */
	setup(NULL);
	memcpy(img + 32769, "BEA01", 5);
	memcpy(img + 34817, "NSR02", 5);
	memcpy(img + 36865, "TEA01", 5);
	accepted("iso", 64 * KiB, 64 * KiB);
	/* not an ISO */
	setup(NULL);
	refused("iso", 64 * KiB, "disk_format is iso, but the data is not an iso image");
	assert_int_equal(rain_diskfmt_check("iso", img, 65536, -1, NULL), RAIN_EFORMAT);
}

static void test_raw(void **state)
{
	accepted("raw", 0, 0);
	accepted("raw", 12345, 12345);
	accepted("ami", 4096, 4096);
	accepted("ari", 100, 100);
	accepted("aki", 100, 100);
	/* an MBR disk, a GPT disk */
	img[446] = 0x80;
	img[450] = 0x83;
	img[510] = 0x55;
	img[511] = 0xaa;
	accepted("raw", MiB, MiB);
	img[450] = 0xee;
	memcpy(img + 512, "EFI PART", 8);
	accepted("raw", MiB, MiB);
	accepted(NULL, MiB, MiB);
	/* but no image format inside, at any of the places qemu probes */
	memcpy(img, "QED\0", 4);
	refused("raw", MiB, "the data is a qed image");
	refused("qcow2", MiB, "qed image");
	memcpy(img, "LUKS\xba\xbe", 6);
	refused("raw", MiB, "luks");
	memset(img, 0, 8);
	memcpy(img, "WithouFreSpacExt", 16);
	refused("raw", MiB, "the data is a ploop image");
	setup(NULL);
	memcpy(img, "#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$IMAGE\n", 50);
	refused("raw", MiB, "cloop");
	setup(NULL);
	memcpy(img, "Bochs Virtual HD Image", 22);
	refused("ari", MiB, "bochs");
	setup(NULL);
	memcpy(img, "vhdxfile", 8);
	refused("aki", MiB, "the data is a vhdx image");
	setup(NULL);
	put_le32(img + 64, 0xbeda107f);
	refused("raw", MiB, "the data is a vdi image");
	/* in a streaming head, too */
	assert_int_equal(rain_diskfmt_check("raw", img, 65536, -1, NULL), RAIN_EFORMAT);
}

static void test_ploop(void **state)
{
	memcpy(img, "WithouFreSpacExt", 16);
	put_le32(img + 16, 2);
	put_le32(img + 28, 2048);
	put_le32(img + 32, 4);
	put_le64(img + 36, 8192);
	put_le32(img + 48, 2048);
	accepted("ploop", MiB, 4 * MiB);
	refused("ploop", 512 * KiB, "data_off (field at offset 48)");
	put_le32(img + 28, 0);
	refused("ploop", MiB, "cluster size 0 sectors");
}

static void test_prefix_and_detect(void **state)
{
	size_t len;

	/* what a prefix cannot decide is left for the end, not refused */
	make_vhdx(0);
	assert_int_equal(rain_diskfmt_check("vhdx", img, 100, -1, NULL), 0);
	assert_int_equal(rain_diskfmt_check("raw", img, 100, -1, NULL), 0);
	setup(NULL);
	len = make_vmdk(VMDK_DESC_OK);
	assert_string_equal(rain_diskfmt_detect(img, len), "vmdk");
	setup(NULL);
	make_qcow2(3, 16, GiB, &len);
	assert_string_equal(rain_diskfmt_detect(img, 65536), "qcow2");
	assert_string_equal(rain_diskfmt_detect(img, 3), "raw");
	assert_string_equal(rain_diskfmt_detect(NULL, 0), "raw");
	setup(NULL);
	make_iso(40);
	assert_string_equal(rain_diskfmt_detect(img, 65536), "iso");
	setup(NULL);
	assert_string_equal(rain_diskfmt_detect(img, 65536), "raw");
	assert_true(rain_diskfmt_is_raw("ami"));
	assert_false(rain_diskfmt_is_raw("iso"));
	assert_false(rain_diskfmt_is_raw(NULL));
}

/* ---- real images from qemu-img ---- */

static char tmpdir[] = "/tmp/rain-test-diskfmt-XXXXXX";

static bool have_qemu_img;

struct output {
	char buf[65536];
	size_t len;
};

static void on_line(void *ud, const char *line)
{
	struct output *o = ud;
	int n = snprintf(o->buf + o->len, sizeof(o->buf) - o->len, "%s\n", line);

	if (n > 0 && (size_t)n < sizeof(o->buf) - o->len)
		o->len += (size_t)n;
}

/* Run argv; its output (stdout and stderr) into out when not NULL. */
static int run_out(const char *const *argv, struct output *out)
{
	struct output dummy;
	struct process_opts o = { .argv = argv, .stdin_fd = -1, .timeout_s = 120,
				  .on_line = on_line, .ud = out ? out : &dummy };
	int status = -1;

	if (out)
		out->len = 0;
	if (process_run(&o, &status) < 0)
		return -1;
	return status;
}

static int run(const char *const *argv)
{
	return run_out(argv, NULL);
}

static char *path_of(const char *name)
{
	static char p[16][256];
	static int i;

	i = (i + 1) % 16;
	snprintf(p[i], sizeof(p[i]), "%s/%s", tmpdir, name);
	return p[i];
}

static ssize_t fd_read(void *ud, uint64_t off, void *buf, size_t len)
{
	ssize_t n = pread(*(int *)ud, buf, len, (off_t)off);

	return n < 0 ? rain_error_errno(RAIN_EIO, errno, "pread") : n;
}

/* Inspect a file as the repository does: a prefix, then the whole. */
static int inspect_file(const char *declared, const char *path, struct rain_diskfmt_info *info)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;
	unsigned char head[RAIN_DISKFMT_HEAD];
	ssize_t n;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	n = pread(fd, head, sizeof(head), 0);
	assert_true(n >= 0);
	if (n == (ssize_t)sizeof(head) && st.st_size > n &&
	    rain_diskfmt_check(declared, head, (size_t)n, -1, NULL) != 0) {
		close(fd);
		return RAIN_EFORMAT;
	}
	r = rain_diskfmt_inspect(declared, st.st_size, fd_read, &fd, info);
	close(fd);
	return r;
}

static int64_t qemu_virtual_size(const char *path, const char *fmt)
{
	const char *argv[] = { "qemu-img", "info", "-f", fmt, "--output=json", path, NULL };
	static struct output out;
	json_t *j;
	int64_t vs;

	assert_int_equal(run_out(argv, &out), 0);
	j = json_loadb(out.buf, out.len, 0, NULL);
	assert_non_null(j);
	vs = json_integer_value(json_object_get(j, "virtual-size"));
	json_decref(j);
	return vs;
}

struct real {
	const char *qemu_fmt, *opts, *disk_format, *detail;
};

static const struct real reals[] = {
	{ "qcow2", "compat=0.10", "qcow2", "" },
	{ "qcow2", "compat=1.1", "qcow2", "" },
	{ "qcow2", "compat=1.1,cluster_size=2M,extended_l2=on", "qcow2", "" },
	{ "qcow2", "compat=1.1,cluster_size=512", "qcow2", "" },
	{ "vmdk", "subformat=monolithicSparse", "vmdk", "monolithicSparse" },
	{ "vmdk", "subformat=streamOptimized", "vmdk", "streamOptimized" },
	{ "vpc", "subformat=dynamic", "vhd", "dynamic" },
	{ "vpc", "subformat=fixed", "vhd", "fixed" },
	{ "vhdx", "subformat=dynamic", "vhdx", "" },
	{ "vhdx", "subformat=fixed", "vhdx", "" },
	{ "vdi", "static=off", "vdi", "dynamic" },
	{ "vdi", "static=on", "vdi", "fixed" },
	{ "parallels", "cluster_size=1M", "ploop", "" },
	{ "raw", "preallocation=off", "raw", "" },
};

/* src.raw: 1 MiB of random data, a hole, 64 KiB of random data. */
static int real_setup(void **state)
{
	const char *version[] = { "qemu-img", "--version", NULL };
	unsigned char *data = malloc(MiB);
	int fd, rnd, ok;

	if (!mkdtemp(tmpdir) || !data)
		return -1;
	have_qemu_img = run(version) == 0;
	fd = open(path_of("src.raw"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ok = fd >= 0 && rnd >= 0 && read(rnd, data, MiB) == (ssize_t)MiB &&
	     pwrite(fd, data, MiB, 0) == (ssize_t)MiB &&
	     pwrite(fd, data, 64 * KiB, 6 * MiB) == (ssize_t)(64 * KiB);
	if (fd >= 0)
		close(fd);
	if (rnd >= 0)
		close(rnd);
	free(data);
	return ok ? 0 : -1;
}

static int real_teardown(void **state)
{
	test_rmtree(tmpdir);
	return 0;
}

static void test_real_images_accepted(void **state)
{
	if (!have_qemu_img)
		skip();
	for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
		const struct real *t = &reals[i];
		const char *conv[] = { "qemu-img", "convert", "-q", "-f", "raw", "-O", t->qemu_fmt, "-o",
				       t->opts, path_of("src.raw"), path_of("conv.img"), NULL };
		const char *create[] = { "qemu-img", "create", "-q", "-f", t->qemu_fmt, "-o", t->opts,
					 path_of("new.img"), "100M", NULL };
		const char *files[] = { "conv.img", "new.img" };
		struct rain_diskfmt_info info;

		assert_int_equal(run(conv), 0);
		assert_int_equal(run(create), 0);
		for (int k = 0; k < 2; k++) {
			const char *p = path_of(files[k]);

			if (inspect_file(t->disk_format, p, &info) != 0)
				fail_msg("qemu-img %s -O %s -o %s: refused: %s", files[k], t->qemu_fmt,
					 t->opts, rain_error_last());
			assert_string_equal(info.format, t->disk_format);
			if (strcmp(t->disk_format, "raw"))
				assert_string_equal(info.detail, t->detail);
			assert_true(info.complete);
			assert_int_equal(info.virtual_size, qemu_virtual_size(p, t->qemu_fmt));
			/* as raw, every image format is refused */
			if (strcmp(t->disk_format, "raw")) {
				assert_int_equal(inspect_file("raw", p, &info), RAIN_EFORMAT);
				assert_error_contains("but the data is a");
			}
		}
	}
}

static void test_real_references_refused(void **state)
{
	const char *base[] = { "qemu-img", "create", "-q", "-f", "qcow2", path_of("base.qcow2"),
			       "8M", NULL };
	const char *backed[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-b",
				 path_of("base.qcow2"), "-F", "qcow2", path_of("top.qcow2"), NULL };
	const char *datafile[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-o",
				   "data_file=data.raw", path_of("df.qcow2"), "8M", NULL };
	const char *vbase[] = { "qemu-img", "create", "-q", "-f", "vmdk", path_of("base.vmdk"), "8M",
				NULL };
	const char *vdelta[] = { "qemu-img", "create", "-q", "-f", "vmdk", "-b", path_of("base.vmdk"),
				 "-F", "vmdk", path_of("delta.vmdk"), NULL };
	const char *flat[] = { "qemu-img", "create", "-q", "-f", "vmdk", "-o",
			       "subformat=monolithicFlat", path_of("flat.vmdk"), "8M", NULL };
	const char *split[] = { "qemu-img", "create", "-q", "-f", "vmdk", "-o",
				"subformat=twoGbMaxExtentSparse", path_of("split.vmdk"), "8M", NULL };
	struct rain_diskfmt_info info;
	char *cwd;

	if (!have_qemu_img)
		skip();
	cwd = get_current_dir_name();
	assert_int_equal(run(base), 0);
	assert_int_equal(run(backed), 0);
	assert_int_equal(inspect_file("qcow2", path_of("top.qcow2"), &info), RAIN_EFORMAT);
	assert_error_contains("backing file");
	assert_int_equal(chdir(tmpdir), 0);
	assert_int_equal(run(datafile), 0);
	assert_int_equal(chdir(cwd), 0);
	free(cwd);
	assert_int_equal(inspect_file("qcow2", path_of("df.qcow2"), &info), RAIN_EFORMAT);
	assert_error_contains("external data file");
	assert_int_equal(run(vbase), 0);
	assert_int_equal(inspect_file("vmdk", path_of("base.vmdk"), &info), 0);
	assert_int_equal(run(vdelta), 0);
	assert_int_equal(inspect_file("vmdk", path_of("delta.vmdk"), &info), RAIN_EFORMAT);
	assert_error_contains("delta of a parent disk (parentFileNameHint");
	assert_int_equal(run(flat), 0);
	assert_int_equal(inspect_file("vmdk", path_of("flat.vmdk"), &info), RAIN_EFORMAT);
	assert_error_contains("createType \"monolithicFlat\") whose extent \"flat-flat.vmdk\"");
	assert_int_equal(inspect_file("raw", path_of("flat.vmdk"), &info), RAIN_EFORMAT);
	/* the flat extent itself is plain raw data */
	assert_int_equal(inspect_file("raw", path_of("flat-flat.vmdk"), &info), 0);
	assert_int_equal(run(split), 0);
	assert_int_equal(inspect_file("vmdk", path_of("split.vmdk"), &info), RAIN_EFORMAT);
	assert_error_contains("twoGbMaxExtentSparse");
	/* its sparse extents are pieces, without a descriptor of their own */
	assert_int_equal(inspect_file("vmdk", path_of("split-s001.vmdk"), &info), RAIN_EFORMAT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_qcow2_valid, setup),
		cmocka_unit_test_setup(test_qcow2_backing_file, setup),
		cmocka_unit_test_setup(test_qcow2_data_file, setup),
		cmocka_unit_test_setup(test_qcow2_bad_headers, setup),
		cmocka_unit_test_setup(test_vmdk_sparse, setup),
		cmocka_unit_test_setup(test_vmdk_flat_passwd, setup),
		cmocka_unit_test_setup(test_vmdk_embedded_extents, setup),
		cmocka_unit_test_setup(test_vmdk_bad_headers, setup),
		cmocka_unit_test_setup(test_vhd, setup),
		cmocka_unit_test_setup(test_vhd_differencing, setup),
		cmocka_unit_test_setup(test_vhdx, setup),
		cmocka_unit_test_setup(test_vhdx_parent, setup),
		cmocka_unit_test_setup(test_vdi, setup),
		cmocka_unit_test_setup(test_vdi_differencing, setup),
		cmocka_unit_test_setup(test_iso, setup),
		cmocka_unit_test_setup(test_raw, setup),
		cmocka_unit_test_setup(test_ploop, setup),
		cmocka_unit_test_setup(test_prefix_and_detect, setup),
	};
	const struct CMUnitTest real_tests[] = {
		cmocka_unit_test(test_real_images_accepted),
		cmocka_unit_test(test_real_references_refused),
	};
	int failed;

	img = calloc(1, IMG_MAX);
	if (!img)
		return 1;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	failed += cmocka_run_group_tests(real_tests, real_setup, real_teardown);
	free(img);
	return failed;
}
