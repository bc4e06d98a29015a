/* imgfs reader "disk": a raw disk with a GPT or an MBR partition table
 * (primary partitions and the logical ones of an extended partition;
 * the backup GPT when the primary one is corrupt).
 * A container: it gives each partition as a source and the front end
 * opens the file systems it can read and picks the root one (the one
 * with /etc/os-release, else the largest Linux one). GPT headers and
 * entry arrays are checked with their CRCs; sectors are 512 bytes (GPT:
 * 4096 too). Partitions that reach past the disk's end are cut there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "rain/sys/imgfs.h"
#include "util/cleanup.h"

#define MAX_PARTS 256
#define MAX_LOGICAL 64

static uint32_t le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static bool mbr_valid(const unsigned char *s)
{
	bool any = false;

	if (s[510] != 0x55 || s[511] != 0xaa)
		return false;
	for (int i = 0; i < 4; i++) {
		const unsigned char *e = s + 446 + 16 * i;

		if (e[0] != 0 && e[0] != 0x80)
			return false;
		if (e[4] != 0) {
			if (le32(e + 8) == 0 || le32(e + 12) == 0)
				return false;
			any = true;
		}
	}
	return any;
}

static bool disk_probe(const unsigned char *h, size_t len)
{
	if (len >= 520 && memcmp(h + 512, "EFI PART", 8) == 0)
		return true;
	if (len >= 4104 && memcmp(h + 4096, "EFI PART", 8) == 0)
		return true;
	return len >= 512 && mbr_valid(h);
}

struct parts {
	struct rain_imgfs_part *v;
	size_t n;
};

static int add_part(struct rain_imgfs_src *src, struct parts *p, const char *kind, int num, uint64_t off,
		    uint64_t len, bool linux_fs)
{
	struct rain_imgfs_part *part;
	char label[96];

	if (p->n >= MAX_PARTS)
		return 0;
	if (off >= src->size || len == 0)
		return 0;
	if (ARRAY_GROW1(p->v, p->n) < 0)
		return rain_error_oom();
	part = &p->v[p->n];
	snprintf(label, sizeof(label), "partition %d at byte %llu", num, (unsigned long long)off);
	*part = (struct rain_imgfs_part){ .linux_fs = linux_fs, .number = (unsigned)num };
	snprintf(part->label, sizeof(part->label), "%s", label);
	snprintf(label, sizeof(label), "%s partition %d", kind, num);
	part->src = rain_imgfs_src_range(src, off, len, label);
	if (!part->src)
		return rain_error_oom();
	p->n++;
	return 0;
}

static void guid_str(const unsigned char *g, char *out)
{
	snprintf(out, 37, "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X", le32(g), g[4] | g[5] << 8,
		 g[6] | g[7] << 8, g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

static bool gpt_linux(const char *guid)
{
	static const char *const types[] = {
		"0FC63DAF-8483-4772-8E79-3D69D8477DE4",  /* Linux file system data */
		"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",  /* root, x86-64 */
		"B921B045-1DF0-41C3-AF44-4C6F280D3FAE",  /* root, arm64 */
		"44479540-F297-41B2-9AF7-D131D5F0458A",  /* root, x86 */
		"72EC70A6-CF74-40E6-BD49-4BDA08E8F224",  /* root, riscv64 */
		"8484680C-9521-48C6-9C11-B0720656F69E",  /* /usr, x86-64 */
		"B0E01050-EE5F-4390-949A-9101B17104E9",  /* /usr, arm64 */
		NULL,
	};

	for (size_t i = 0; types[i]; i++)
		if (strcmp(guid, types[i]) == 0)
			return true;
	return false;
}

/* The GPT whose header is at sector hlba (sectors of ss bytes). */
static int gpt_at(struct rain_imgfs_src *src, uint64_t ss, uint64_t hlba, struct parts *p)
{
	unsigned char h[512];
	_cleanup_free_ unsigned char *ents = NULL;
	uint32_t hsize, crc, n, esize;
	uint64_t elba, last_lba = src->size / ss;
	int r;

	r = rain_imgfs_src_read(src, h, sizeof(h), hlba * ss, "the GPT header");
	if (r < 0)
		return r;
	if (memcmp(h, "EFI PART", 8) != 0)
		return rain_error_set(RAIN_EFORMAT, "gpt %s: no GPT header at sector %llu", src->name,
				      (unsigned long long)hlba);
	hsize = le32(h + 12);
	if (hsize < 92 || hsize > sizeof(h))
		return rain_error_set(RAIN_EFORMAT, "gpt %s: header size %u at byte %llu is absurd", src->name, hsize,
				      (unsigned long long)(hlba * ss + 12));
	crc = le32(h + 16);
	memset(h + 16, 0, 4);
	if (crc32(0, h, hsize) != crc)
		return rain_error_set(RAIN_EFORMAT, "gpt %s: the header's CRC does not match (a corrupt table): "
				      "repair it (sgdisk -v) or give the partition itself", src->name);
	elba = le64(h + 72);
	n = le32(h + 80);
	esize = le32(h + 84);
	if (esize < 128 || esize > 4096 || esize % 8 || n == 0 || n > 4096 || elba < 2 || elba >= last_lba)
		return rain_error_set(RAIN_EFORMAT, "gpt %s: %u entries of %u bytes at sector %llu: absurd",
				      src->name, n, esize, (unsigned long long)elba);
	ents = malloc((size_t)n * esize);
	if (!ents)
		return rain_error_oom();
	r = rain_imgfs_src_read(src, ents, (size_t)n * esize, elba * ss, "the GPT partition entries");
	if (r < 0)
		return r;
	if (crc32(0, ents, n * esize) != le32(h + 88))
		return rain_error_set(RAIN_EFORMAT, "gpt %s: the partition entries' CRC does not match (a corrupt "
				      "table)", src->name);
	for (uint32_t i = 0; i < n; i++) {
		const unsigned char *e = ents + (size_t)i * esize;
		uint64_t first = le64(e + 32), last = le64(e + 40);
		char guid[37];

		if (le64(e) == 0 && le64(e + 8) == 0)
			continue;
		if (first > last || first >= last_lba) {
			r = rain_error_set(RAIN_EFORMAT, "gpt %s: partition %u: sectors %llu to %llu lie outside the disk",
					   src->name, i + 1, (unsigned long long)first, (unsigned long long)last);
			return r;
		}
		guid_str(e, guid);
		r = add_part(src, p, "gpt", (int)i + 1, first * ss,
			     (last - first + 1) > UINT64_MAX / ss ? UINT64_MAX : (last - first + 1) * ss,
			     gpt_linux(guid));
		if (r < 0)
			return r;
	}
	return 0;
}

/* The primary GPT, else the backup at the disk's last sector (said). */
static int gpt(struct rain_imgfs *fs, struct rain_imgfs_src *src, uint64_t ss, struct parts *p)
{
	char primary[256];
	size_t n0 = p->n;
	int r = gpt_at(src, ss, 1, p);

	if (r != RAIN_EFORMAT || src->size / ss < 3)
		return r;
	snprintf(primary, sizeof(primary), "%s", rain_error_last());
	while (p->n > n0)
		rain_imgfs_src_free(p->v[--p->n].src);
	r = gpt_at(src, ss, src->size / ss - 1, p);
	if (r == RAIN_EFORMAT)
		return rain_error_set(RAIN_EFORMAT, "%s (and the backup table cannot be read either)", primary);
	if (r == 0)
		rain_imgfs_problem(fs, "%s; the backup table at the end of the disk was read", primary);
	return r;
}

static bool mbr_extended(unsigned type)
{
	return type == 0x05 || type == 0x0f || type == 0x85;
}

static int mbr(struct rain_imgfs_src *src, const unsigned char *s, struct parts *p)
{
	int r;

	for (int i = 0; i < 4; i++) {
		const unsigned char *e = s + 446 + 16 * i;
		uint64_t start = le32(e + 8), len = le32(e + 12);

		if (e[4] == 0)
			continue;
		if (mbr_extended(e[4])) {
			/* the chain of extended boot records, each relative
			 * to the extended partition's start */
			uint64_t ebr = start;

			for (int k = 0; k < MAX_LOGICAL; k++) {
				unsigned char b[512];
				const unsigned char *l = b + 446, *next = b + 462;

				r = rain_imgfs_src_read(src, b, sizeof(b), ebr * 512, "an extended boot record");
				if (r < 0 || b[510] != 0x55 || b[511] != 0xaa) {
					if (r == RAIN_ENOMEM)
						return r;
					break;
				}
				if (l[4] && le32(l + 12)) {
					r = add_part(src, p, "mbr", 5 + k, (ebr + le32(l + 8)) * 512,
						     (uint64_t)le32(l + 12) * 512, l[4] == 0x83);
					if (r < 0)
						return r;
				}
				/* each record lies after the one before (no loop) */
				if (!mbr_extended(next[4]) || start + le32(next + 8) <= ebr)
					break;
				ebr = start + le32(next + 8);
			}
			continue;
		}
		r = add_part(src, p, "mbr", i + 1, start * 512, len * 512, e[4] == 0x83);
		if (r < 0)
			return r;
	}
	return 0;
}

static int disk_contents(struct rain_imgfs *fs, struct rain_imgfs_src *src, struct rain_imgfs_part **out,
			 size_t *n, char *detail, size_t detail_len)
{
	unsigned char s[512];
	struct parts p = { 0 };
	bool is_gpt = false;
	uint64_t ss = 512;
	int r;

	*out = NULL;
	*n = 0;
	r = rain_imgfs_src_read(src, s, sizeof(s), 0, "the partition table");
	if (r < 0)
		return r;
	{
		unsigned char sig[8];

		for (uint64_t try = 512; try <= 4096 && !is_gpt; try *= 8)
			if (rain_imgfs_src_read(src, sig, 8, try, "the GPT header") == 0 &&
			    memcmp(sig, "EFI PART", 8) == 0) {
				is_gpt = true;
				ss = try;
			}
	}
	if (!is_gpt && mbr_valid(s))
		for (int i = 0; i < 4; i++)
			is_gpt |= s[446 + 16 * i + 4] == 0xee;  /* protective: the GPT header is lost */
	if (is_gpt)
		r = gpt(fs, src, ss, &p);
	else if (mbr_valid(s))
		r = mbr(src, s, &p);
	else
		r = rain_error_set(RAIN_EFORMAT, "disk %s: neither a GPT nor an MBR partition table", src->name);
	if (r == 0 && p.n == 0)
		r = rain_error_set(RAIN_EFORMAT, "disk %s: the %s partition table holds no partition", src->name,
				   is_gpt ? "GPT" : "MBR");
	if (r < 0) {
		for (size_t i = 0; i < p.n; i++)
			rain_imgfs_src_free(p.v[i].src);
		free(p.v);
		return r;
	}
	snprintf(detail, detail_len, "%s", is_gpt ? "gpt" : "mbr");
	*out = p.v;
	*n = p.n;
	return 0;
}

const struct rain_imgfs_backend rain_imgfs_disk = {
	.version = RAIN_IMGFS_BACKEND_VERSION,
	.name = "disk",
	.probe = disk_probe,
	.contents = disk_contents,
};
