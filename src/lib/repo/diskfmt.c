/* Disk-format inspection (see rain/diskfmt.h): detection, per-format
 * header checks, refusal of external references.
 *
 * Everything here must stay safe on arbitrary bytes. Data is only reached
 * through get(), which checks the range against the data's size (and says
 * "need more" for a prefix), and fields are decoded from local buffers of
 * the size read. Offsets and sizes from the data are 64-bit unsigned and
 * every sum or product of them is checked for overflow before use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/diskfmt.h"
#include "rain/error.h"

/* Returned inside this file: the prefix we have does not tell yet. */
#define NEED_MORE 1

#define KiB 1024ull
#define MiB (1024ull * 1024)

struct src {
	rain_diskfmt_read_fn read;
	void *ud;
	int64_t size;           /* < 0: a prefix only */
};

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static uint16_t be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static uint64_t be64(const unsigned char *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Read up to len bytes at off; the count read (short at the end). */
static ssize_t get_upto(struct src *s, uint64_t off, void *buf, size_t len)
{
	size_t got = 0;

	if (s->size >= 0) {
		if (off >= (uint64_t)s->size)
			return 0;
		if (len > (uint64_t)s->size - off)
			len = (size_t)((uint64_t)s->size - off);
	}
	while (got < len) {
		ssize_t n = s->read(s->ud, off + got, (char *)buf + got, len - got);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Read exactly len bytes at off: 0, NEED_MORE (a prefix that ends
 * before), or RAIN_EFORMAT (the data ends before: truncated). */
static int get(struct src *s, uint64_t off, void *buf, size_t len, const char *fmt,
	       const char *what)
{
	ssize_t n;

	if (s->size >= 0 && (off > (uint64_t)s->size || len > (uint64_t)s->size - off))
		goto fail;
	n = get_upto(s, off, buf, len);
	if (n < 0)
		return (int)n;
	if ((size_t)n == len)
		return 0;
	if (s->size < 0)
		return NEED_MORE;
fail:
	return rain_error_set(RAIN_EFORMAT,
			      "%s: the %s at offset %llu (%zu bytes) lies past the end of the data "
			      "(%lld bytes): the image is truncated or its header is corrupt",
			      fmt, what, (unsigned long long)off, len, (long long)s->size);
}

/* Is [off, off+len) inside the data? 0 (also for a prefix, which cannot
 * tell), or RAIN_EFORMAT naming the field that points there. */
static int in_data(struct src *s, uint64_t off, uint64_t len, const char *fmt,
		   const char *field, uint64_t field_off)
{
	if (s->size < 0)
		return 0;
	if (off <= (uint64_t)s->size && len <= (uint64_t)s->size - off)
		return 0;
	return rain_error_set(RAIN_EFORMAT,
			      "%s: %s (field at offset %llu) points to bytes %llu..%llu, past the end "
			      "of the data (%lld bytes): the image is truncated or corrupt",
			      fmt, field, (unsigned long long)field_off, (unsigned long long)off,
			      (unsigned long long)(off + len), (long long)s->size);
}

static int check_vsize(const char *fmt, const char *field, uint64_t off, uint64_t v,
		       uint64_t unit, int64_t *out)
{
	if (unit == 0 || v > (uint64_t)RAIN_DISKFMT_MAX_VIRTUAL_SIZE / unit)
		return rain_error_set(RAIN_EFORMAT,
				      "%s: the virtual size in %s (offset %llu) is %llu x %llu bytes, "
				      "more than the %lld bytes raind accepts",
				      fmt, field, (unsigned long long)off, (unsigned long long)v,
				      (unsigned long long)unit, (long long)RAIN_DISKFMT_MAX_VIRTUAL_SIZE);
	*out = (int64_t)(v * unit);
	return 0;
}

/* Copy printable ASCII of p[0..n) into out (for messages), at most 80. */
static void printable(char *out, size_t outsz, const unsigned char *p, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < n && p[i] && j + 1 < outsz && j < 80; i++)
		out[j++] = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' ? (char)p[i] : '?';
	out[j] = '\0';
}

/* ---- qcow2 ---- */

#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_INCOMPAT_KNOWN 0x1full
#define QCOW2_EXT_DATA_FILE 0x44415441u
#define QCOW2_MAX_EXTENSIONS 1024       /* qemu-img writes a handful */

static int inspect_qcow2(struct src *s, struct rain_diskfmt_info *out)
{
	unsigned char h[104], name[256];
	uint64_t backing, vsize, l1_off, rc_off, snap_off, cluster, incompat = 0, off, need, l2_bits;
	uint32_t version, cb, crypt, l1_size, rc_clusters, nb_snap, hlen = 72;
	char text[96];
	int r;

	if ((r = get(s, 0, h, 72, "qcow2", "header")))
		return r;
	version = be32(h + 4);
	if (version == 1)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2: version 1 (the old qcow format, field at offset 4) is not accepted: "
				      "it may name a backing file; convert it with qemu-img convert -O qcow2");
	if (version != 2 && version != 3)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2: version %u (offset 4) is not supported (only 2 and 3 are)", version);
	if (version == 3 && (r = get(s, 0, h, 104, "qcow2", "version 3 header")))
		return r;
	backing = be64(h + 8);
	cb = be32(h + 20);
	vsize = be64(h + 24);
	crypt = be32(h + 32);
	l1_size = be32(h + 36);
	l1_off = be64(h + 40);
	rc_off = be64(h + 48);
	rc_clusters = be32(h + 56);
	nb_snap = be32(h + 60);
	snap_off = be64(h + 64);

	if (backing) {
		uint32_t n = be32(h + 16);

		text[0] = '\0';
		if (n > sizeof(name))
			n = sizeof(name);
		if (get(s, backing, name, n, "qcow2", "backing file name") == 0)
			printable(text, sizeof(text), name, n);
		rain_error_clear();
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2: the image names a backing file%s%s%s (backing_file_offset %llu "
				      "at offset 8); images that refer to other files are refused "
				      "(OSSA-2024-001): flatten it with qemu-img convert -O qcow2",
				      text[0] ? " \"" : "", text, text[0] ? "\"" : "",
				      (unsigned long long)backing);
	}
	if (cb < 9 || cb > QCOW2_MAX_CLUSTER_BITS)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2: cluster_bits %u (offset 20) out of range (9 to %u)",
				      cb, QCOW2_MAX_CLUSTER_BITS);
	cluster = 1ull << cb;
	if (version == 3) {
		incompat = be64(h + 72);
		hlen = be32(h + 100);
		if (hlen < 104 || hlen % 8 != 0)
			return rain_error_set(RAIN_EFORMAT,
					      "qcow2: header_length %u (offset 100) is invalid (must be a multiple "
					      "of 8, at least 104)", hlen);
		if (hlen > cluster)
			return rain_error_set(RAIN_EFORMAT,
					      "qcow2: header_length %u (offset 100) is larger than a cluster "
					      "(%llu bytes)", hlen, (unsigned long long)cluster);
	}
	if (incompat & QCOW2_INCOMPAT_DATA_FILE)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2: the image uses an external data file (incompatible feature bit 2 "
				      "at offset 72); images that refer to other files are refused "
				      "(OSSA-2024-001): convert it with qemu-img convert -O qcow2");
	if (incompat & ~QCOW2_INCOMPAT_KNOWN)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2: unknown incompatible feature bits 0x%llx (offset 72); "
				      "raind cannot check such an image",
				      (unsigned long long)(incompat & ~QCOW2_INCOMPAT_KNOWN));
	if (crypt > 2)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2: crypt_method %u (offset 32) is unknown (0, 1 and 2 are)", crypt);
	if ((r = check_vsize("qcow2", "size", 24, vsize, 1, &out->virtual_size)))
		return r;

	/* the L1 table must cover the virtual size, as qemu requires */
	l2_bits = cb - ((incompat & QCOW2_INCOMPAT_EXTL2) ? 4 : 3);
	need = (vsize + (1ull << (cb + l2_bits)) - 1) >> (cb + l2_bits);
	if (l1_size < need || l1_size > (32 * MiB) / 8)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2: l1_size %u (offset 36) does not fit the virtual size %llu "
				      "(needs %llu entries, at most %llu)", l1_size,
				      (unsigned long long)vsize, (unsigned long long)need,
				      (unsigned long long)(4 * MiB));
	if (l1_size && l1_off % cluster)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2: l1_table_offset %llu (offset 40) is not aligned to a cluster",
				      (unsigned long long)l1_off);
	if (l1_size && (r = in_data(s, l1_off, (uint64_t)l1_size * 8, "qcow2", "l1_table_offset", 40)))
		return r;
	if (rc_off % cluster || rc_clusters == 0 || rc_clusters > (8 * MiB) / cluster + 1)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2: refcount table (offset %llu, %u clusters; fields at offsets 48 "
				      "and 56) is misaligned, empty or too large",
				      (unsigned long long)rc_off, rc_clusters);
	if ((r = in_data(s, rc_off, (uint64_t)rc_clusters << cb, "qcow2", "refcount_table_offset", 48)))
		return r;
	if (nb_snap > 65536)
		return rain_error_set(RAIN_EFORMAT,
				      "qcow2: nb_snapshots %u (offset 60) is more than the 65536 qemu allows",
				      nb_snap);
	if (nb_snap && (snap_off % cluster || (r = in_data(s, snap_off, 40, "qcow2", "snapshots_offset", 64))))
		return r ? r : rain_error_set(RAIN_EFORMAT,
					      "qcow2: snapshots_offset %llu (offset 64) is not aligned to a cluster",
					      (unsigned long long)snap_off);

	/* header extensions: from the header to a type-0 end marker or the
	 * end of the first cluster (there is no backing file name here) */
	off = hlen;
	for (unsigned n = 0; off < cluster; n++) {
		unsigned char e[8];
		uint32_t type, len;

		if (n == QCOW2_MAX_EXTENSIONS)
			return rain_error_set(RAIN_EFORMAT,
					      "qcow2: more than %u header extensions (the %uth at offset %llu)",
					      QCOW2_MAX_EXTENSIONS, n + 1, (unsigned long long)off);
		if (cluster - off < 8)
			return rain_error_set(RAIN_EFORMAT,
					      "qcow2: header extension at offset %llu is cut short by the end "
					      "of the first cluster", (unsigned long long)off);
		if ((r = get(s, off, e, 8, "qcow2", "header extension")))
			return r;
		type = be32(e);
		len = be32(e + 4);
		if (type == 0)
			break;
		if (type == QCOW2_EXT_DATA_FILE)
			return rain_error_set(RAIN_EFORMAT,
					      "qcow2: the image names an external data file (header extension "
					      "0x44415441 at offset %llu); images that refer to other files are "
					      "refused (OSSA-2024-001): convert it with qemu-img convert -O qcow2",
					      (unsigned long long)off);
		off += 8;
		if (len > cluster - off)
			return rain_error_set(RAIN_EFORMAT,
					      "qcow2: header extension 0x%08x at offset %llu is too large "
					      "(%u bytes, past the first cluster)", type,
					      (unsigned long long)(off - 8), len);
		off += ((uint64_t)len + 7) & ~7ull;
	}
	out->detail = "";
	return 0;
}

/* ---- vmdk ---- */

#define VMDK_GD_AT_END 0xffffffffffffffffull
#define VMDK_DESC_MAX_SECTORS 2048      /* 1 MiB, as qemu */
#define VMDK_TEXT_MAX (64 * KiB)        /* a descriptor file is read this far */

struct vmdk_desc {
	char create_type[64];
	unsigned extents, bad_line, hint_line, parent_line;
	uint64_t bad_off, extent_off, hint_off, parent_off;
	char extent_name[96];           /* the first extent's file */
	char extent_type[24];
	char parent[96];
	bool extent_foreign;            /* an extent that is not SPARSE */
};

static bool word_is(const char *p, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(p, w, n) == 0;
}

static const char *skip_blank(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static const char *skip_word(const char *p, const char *e)
{
	while (p < e && *p != ' ' && *p != '\t')
		p++;
	return p;
}

/* An extent line p..e: ACCESS SIZE TYPE ["NAME" [OFFSET]]. */
static void desc_extent(struct vmdk_desc *d, const char *p, const char *e, uint64_t off)
{
	const char *type = skip_blank(skip_word(skip_blank(skip_word(p, e), e), e), e);
	const char *type_end = skip_word(type, e);
	const char *name = memchr(type_end, '"', (size_t)(e - type_end));
	const char *name_end = name ? memchr(name + 1, '"', (size_t)(e - name - 1)) : NULL;
	size_t tl = (size_t)(type_end - type), nl = name_end ? (size_t)(name_end - name - 1) : 0;

	if (++d->extents == 1) {
		printable(d->extent_type, sizeof(d->extent_type), (const unsigned char *)type, tl);
		if (name_end)
			printable(d->extent_name, sizeof(d->extent_name),
				  (const unsigned char *)name + 1, nl);
		d->extent_off = off;
	}
	/* the file itself: a sparse extent, named without a directory */
	if (!word_is(type, tl, "SPARSE") || !nl || memchr(name + 1, '/', nl) ||
	    memchr(name + 1, '\\', nl))
		d->extent_foreign = true;
}

/* A key=value line; k..k+kl is the key, v..ve the value. */
static void desc_key(struct vmdk_desc *d, const char *k, size_t kl, const char *v,
		     const char *ve, unsigned line, uint64_t off)
{
	v = skip_blank(v, ve);
	if (v < ve && *v == '"')
		v++;
	if (ve > v && ve[-1] == '"')
		ve--;
	if (word_is(k, kl, "createType")) {
		printable(d->create_type, sizeof(d->create_type), (const unsigned char *)v,
			  (size_t)(ve - v));
	} else if (word_is(k, kl, "parentFileNameHint") && !d->hint_line) {
		d->hint_line = line;
		d->hint_off = off;
		printable(d->parent, sizeof(d->parent), (const unsigned char *)v, (size_t)(ve - v));
	} else if (word_is(k, kl, "parentCID") && !word_is(v, (size_t)(ve - v), "ffffffff") &&
		   !d->parent_line) {
		d->parent_line = line;
		d->parent_off = off;
	}
}

/* Parse descriptor text t (up to n bytes or the first NUL) that starts
 * at offset base of the data. Lines: blank, comments, ddb.*, key=value,
 * extents; anything else is remembered as the first bad line. */
static void vmdk_parse_desc(const char *t, size_t n, uint64_t base, struct vmdk_desc *d)
{
	const char *end = t + strnlen(t, n), *p = t;
	unsigned line = 0;

	memset(d, 0, sizeof(*d));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end, *a = skip_blank(p, e), *w;
		uint64_t off = base + (uint64_t)(p - t);

		line++;
		p = nl ? nl + 1 : end;
		while (e > a && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (a == e || *a == '#' || (e - a > 4 && !strncasecmp(a, "ddb.", 4)))
			continue;
		for (w = a; w < e && *w != ' ' && *w != '\t' && *w != '='; w++)
			;
		if (word_is(a, (size_t)(w - a), "RW") || word_is(a, (size_t)(w - a), "RDONLY") ||
		    word_is(a, (size_t)(w - a), "NOACCESS"))
			desc_extent(d, a, e, off);
		else if (w < e && *w == '=' && w > a)
			desc_key(d, a, (size_t)(w - a), w + 1, e, line, off);
		else if (!d->bad_line) {
			d->bad_line = line;
			d->bad_off = off;
		}
	}
}

#define VMDK_SELF_CONTAINED "upload a self-contained VMDK instead (qemu-img convert -O vmdk -o subformat=streamOptimized)"

/* A text descriptor: its data is always elsewhere. */
static int vmdk_refuse_text(struct src *s)
{
	struct vmdk_desc d;
	char *t = malloc(VMDK_TEXT_MAX);
	ssize_t n;

	if (!t)
		return rain_error_oom();
	n = get_upto(s, 0, t, VMDK_TEXT_MAX);
	if (n < 0) {
		free(t);
		return (int)n;
	}
	vmdk_parse_desc(t, (size_t)n, 0, &d);
	free(t);
	if (d.extents)
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: the data is a VMDK descriptor file (createType \"%s\") whose "
				      "extent \"%s\" (%s, at offset %llu) is another file; descriptors that "
				      "refer to other files are refused (OSSA-2024-001): " VMDK_SELF_CONTAINED,
				      d.create_type, d.extent_name, d.extent_type,
				      (unsigned long long)d.extent_off);
	return rain_error_set(RAIN_EFORMAT,
			      "vmdk: the data is a VMDK descriptor file (createType \"%s\"), which "
			      "holds no disk data and refers to other files; " VMDK_SELF_CONTAINED,
			      d.create_type);
}

static int vmdk_check_footer(struct src *s, const unsigned char *h)
{
	unsigned char f[1536];
	uint64_t off;
	int r;

	if (s->size < 0)
		return NEED_MORE;
	if ((uint64_t)s->size < 2048)
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: the header says the grain directory is in a footer (gdOffset at "
				      "offset 56), but the data (%lld bytes) is too short for one",
				      (long long)s->size);
	off = (uint64_t)s->size - 1536;
	if ((r = get(s, off, f, sizeof(f), "vmdk", "footer")))
		return r;
	if (le32(f + 8) != 0 || le32(f + 12) != 3 || !all_zero(f + 16, 496))
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: no footer marker at offset %llu (a streamOptimized VMDK ends "
				      "with footer marker, footer and end-of-stream marker)",
				      (unsigned long long)off);
	if (memcmp(f + 512, "KDMV", 4) || le32(f + 516) != le32(h + 4) ||
	    le64(f + 512 + 28) != le64(h + 28) || le64(f + 512 + 36) != le64(h + 36) ||
	    le64(f + 512 + 56) == VMDK_GD_AT_END)
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: the footer at offset %llu does not match the header (signature, "
				      "version or descriptor) or points to another footer",
				      (unsigned long long)(off + 512));
	if (!all_zero(f + 1024, 512))
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: the end-of-stream marker at offset %llu is not valid",
				      (unsigned long long)(off + 1024));
	return 0;
}

static int inspect_vmdk(struct src *s, struct rain_diskfmt_info *out)
{
	unsigned char h[80];
	uint64_t capacity, grain, desc_off, desc_sec, gd, rgd, l1;
	uint32_t version, gtes;
	struct vmdk_desc d;
	char *t;
	int r;

	if ((r = get(s, 0, h, 4, "vmdk", "magic")))
		return r;
	if (!memcmp(h, "COWD", 4))
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: a version-3 (COWD) sparse extent is not accepted: it may name a "
				      "parent disk; " VMDK_SELF_CONTAINED);
	if (memcmp(h, "KDMV", 4))
		return vmdk_refuse_text(s);
	if ((r = get(s, 0, h, sizeof(h), "vmdk", "sparse extent header")))
		return r;
	version = le32(h + 4);
	capacity = le64(h + 12);
	grain = le64(h + 20);
	desc_off = le64(h + 28);
	desc_sec = le64(h + 36);
	gtes = le32(h + 44);
	rgd = le64(h + 48);
	gd = le64(h + 56);
	if (version < 1 || version > 3)
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: version %u (offset 4) is not supported (1 to 3 are)", version);
	if ((r = check_vsize("vmdk", "capacity", 12, capacity, 512, &out->virtual_size)))
		return r;
	if (capacity == 0)
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: capacity 0 (offset 12): qemu would open the embedded "
				      "descriptor as a descriptor file and follow its extents into other "
				      "files; such images are refused (OSSA-2024-001)");
	if (grain == 0 || grain > 128 * KiB || gtes == 0)
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: grainSize %llu (offset 20) or numGTEsPerGT %u (offset 44) is "
				      "out of range", (unsigned long long)grain, gtes);
	l1 = (capacity + grain * gtes - 1) / (grain * gtes);
	if (l1 > 128 * MiB)
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: the grain directory would have %llu entries (capacity at offset "
				      "12, grainSize at 20, numGTEsPerGT at 44): too large",
				      (unsigned long long)l1);
	if (desc_off == 0 || desc_sec == 0)
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: the sparse extent has no embedded descriptor (descriptorOffset at "
				      "offset 28 is %llu, descriptorSize at 36 is %llu): it is one extent of a "
				      "VMDK made of several files; " VMDK_SELF_CONTAINED,
				      (unsigned long long)desc_off, (unsigned long long)desc_sec);
	if (desc_sec > VMDK_DESC_MAX_SECTORS || desc_off > (1ull << 40))
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: descriptor at sector %llu, %llu sectors (offsets 28 and 36): "
				      "out of range (at most %u sectors)", (unsigned long long)desc_off,
				      (unsigned long long)desc_sec, VMDK_DESC_MAX_SECTORS);
	if (gd != VMDK_GD_AT_END && (gd > (1ull << 54) ||
				     (r = in_data(s, gd * 512, 4, "vmdk", "gdOffset", 56))))
		return r ? r : rain_error_set(RAIN_EFORMAT, "vmdk: gdOffset %llu (offset 56) is out of range",
					      (unsigned long long)gd);
	if (rgd && gd != VMDK_GD_AT_END && (rgd > (1ull << 54) ||
					    (r = in_data(s, rgd * 512, 4, "vmdk", "rgdOffset", 48))))
		return r ? r : rain_error_set(RAIN_EFORMAT, "vmdk: rgdOffset %llu (offset 48) is out of range",
					      (unsigned long long)rgd);

	t = malloc(desc_sec * 512);
	if (!t)
		return rain_error_oom();
	r = get(s, desc_off * 512, t, desc_sec * 512, "vmdk", "embedded descriptor");
	if (r == 0)
		vmdk_parse_desc(t, desc_sec * 512, desc_off * 512, &d);
	free(t);
	if (r)
		return r;
	if (strcasecmp(d.create_type, "monolithicSparse") && strcasecmp(d.create_type, "streamOptimized"))
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: createType \"%s\" in the descriptor at offset %llu is not "
				      "accepted (only monolithicSparse and streamOptimized, which hold their "
				      "data themselves); " VMDK_SELF_CONTAINED, d.create_type,
				      (unsigned long long)desc_off * 512);
	if (d.hint_line || d.parent_line)
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: the image is a delta of a parent disk (%s at descriptor line %u, "
				      "offset %llu%s%s%s); images that refer to other files are refused "
				      "(OSSA-2024-001): " VMDK_SELF_CONTAINED,
				      d.hint_line ? "parentFileNameHint" : "parentCID",
				      d.hint_line ? d.hint_line : d.parent_line,
				      (unsigned long long)(d.hint_line ? d.hint_off : d.parent_off),
				      d.parent[0] ? ": \"" : "", d.parent, d.parent[0] ? "\"" : "");
	if (d.extents != 1 || d.extent_foreign)
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: the descriptor at offset %llu lists %u extents; the first is %s "
				      "\"%s\" (offset %llu): only one SPARSE extent, the file itself, is "
				      "accepted, never another file (OSSA-2024-001); " VMDK_SELF_CONTAINED,
				      (unsigned long long)desc_off * 512, d.extents, d.extent_type,
				      d.extent_name, (unsigned long long)d.extent_off);
	if (d.bad_line)
		return rain_error_set(RAIN_EFORMAT,
				      "vmdk: descriptor line %u (offset %llu) is not a comment, a key=value, "
				      "a ddb entry or an extent; raind refuses descriptors it cannot read",
				      d.bad_line, (unsigned long long)d.bad_off);
	out->detail = strcasecmp(d.create_type, "streamOptimized") ? "monolithicSparse" : "streamOptimized";
	if (gd == VMDK_GD_AT_END)
		return vmdk_check_footer(s, h);
	return 0;
}

/* ---- vhd ---- */

static uint32_t vhd_checksum(const unsigned char *f)
{
	uint32_t sum = 0;

	for (int i = 0; i < 512; i++)
		if (i < 64 || i >= 68)
			sum += f[i];
	return ~sum;
}

static int inspect_vhd(struct src *s, struct rain_diskfmt_info *out)
{
	unsigned char f[512], dh[1024];
	uint64_t foff = 0, data_off, cur, table, per_entry;
	uint32_t type, entries, block;
	int r;

	if ((r = get(s, 0, f, 512, "vhd", "footer copy")))
		return r;
	if (memcmp(f, "conectix", 8)) {
		/* a fixed disk: the footer is only at the end */
		if (s->size < 512)
			return s->size < 0 ? NEED_MORE :
			       rain_error_set(RAIN_EFORMAT, "vhd: no footer (the data has %lld bytes)",
					      (long long)s->size);
		foff = (uint64_t)s->size - 512;
		if ((r = get(s, foff, f, 512, "vhd", "footer")))
			return r;
	}
	if (memcmp(f, "conectix", 8))
		return rain_error_set(RAIN_EFORMAT, "vhd: no \"conectix\" cookie at offset 0 or %llu",
				      (unsigned long long)foff);
	if (be32(f + 64) != vhd_checksum(f))
		return rain_error_set(RAIN_EFORMAT,
				      "vhd: the footer checksum 0x%08x at offset %llu does not match its "
				      "contents (0x%08x): the footer is corrupt", be32(f + 64),
				      (unsigned long long)foff + 64, vhd_checksum(f));
	if (be32(f + 12) != 0x00010000)
		return rain_error_set(RAIN_EFORMAT,
				      "vhd: file format version 0x%08x at offset %llu is not 1.0",
				      be32(f + 12), (unsigned long long)foff + 12);
	type = be32(f + 60);
	data_off = be64(f + 16);
	cur = be64(f + 48);
	if (type == 4)
		return rain_error_set(RAIN_EFORMAT,
				      "vhd: the image is a differencing disk (disk type 4 at offset %llu) "
				      "that needs a parent disk; images that refer to other files are "
				      "refused (OSSA-2024-001): merge it into a whole disk "
				      "(qemu-img convert -O vpc)", (unsigned long long)foff + 60);
	if (type != 2 && type != 3)
		return rain_error_set(RAIN_EFORMAT,
				      "vhd: disk type %u at offset %llu is not fixed (2) or dynamic (3)",
				      type, (unsigned long long)foff + 60);
	if ((r = check_vsize("vhd", "current size", foff + 48, cur, 1, &out->virtual_size)))
		return r;
	if (type == 2) {
		out->detail = "fixed";
		if (foff == 0)
			return rain_error_set(RAIN_EFORMAT,
					      "vhd: a fixed disk with its footer at offset 0 instead of at the end");
		if (cur > foff)
			return rain_error_set(RAIN_EFORMAT,
					      "vhd: current size %llu (offset %llu) is more than the %llu bytes "
					      "of data before the footer", (unsigned long long)cur,
					      (unsigned long long)foff + 48, (unsigned long long)foff);
		return 0;
	}
	out->detail = "dynamic";
	if (data_off < 512 || data_off > (1ull << 56))
		return rain_error_set(RAIN_EFORMAT,
				      "vhd: data offset %llu (offset 16) of a dynamic disk is out of range",
				      (unsigned long long)data_off);
	if ((r = get(s, data_off, dh, sizeof(dh), "vhd", "dynamic disk header")))
		return r;
	if (memcmp(dh, "cxsparse", 8))
		return rain_error_set(RAIN_EFORMAT, "vhd: no \"cxsparse\" dynamic disk header at offset %llu",
				      (unsigned long long)data_off);
	if (!all_zero(dh + 40, 16) || !all_zero(dh + 64, 512))
		return rain_error_set(RAIN_EFORMAT,
				      "vhd: the dynamic disk header at offset %llu names a parent disk "
				      "(parent UUID at +40 or name at +64); images that refer to other "
				      "files are refused (OSSA-2024-001)", (unsigned long long)data_off);
	for (int i = 0; i < 8; i++)
		if (be32(dh + 576 + 24 * i) != 0)
			return rain_error_set(RAIN_EFORMAT,
					      "vhd: parent locator %d at offset %llu names a parent disk; "
					      "images that refer to other files are refused (OSSA-2024-001)",
					      i, (unsigned long long)(data_off + 576 + 24 * i));
	table = be64(dh + 16);
	entries = be32(dh + 28);
	block = be32(dh + 32);
	if (!is_pow2(block) || block < 512 || block > 256 * MiB)
		return rain_error_set(RAIN_EFORMAT,
				      "vhd: block size %u at offset %llu is not a power of two from 512 bytes "
				      "to 256 MiB", block, (unsigned long long)data_off + 32);
	per_entry = block;
	if ((uint64_t)entries * per_entry < cur)
		return rain_error_set(RAIN_EFORMAT,
				      "vhd: the block table (%u entries at offset %llu) covers less than the "
				      "current size %llu", entries, (unsigned long long)data_off + 28,
				      (unsigned long long)cur);
	if (table > (1ull << 56))
		return rain_error_set(RAIN_EFORMAT, "vhd: table offset %llu at offset %llu is out of range",
				      (unsigned long long)table, (unsigned long long)data_off + 16);
	return in_data(s, table, (uint64_t)entries * 4, "vhd", "the block table offset", data_off + 16);
}

/* ---- vhdx ---- */

/* GUIDs as text; on disk the first three fields are little-endian. */
static void guid_bytes(const char *g, unsigned char out[16])
{
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	unsigned char raw[16];
	int n = 0;

	for (const char *p = g; *p && n < 16; p++) {
		if (*p == '-')
			continue;
		unsigned hi = (unsigned)(p[0] <= '9' ? p[0] - '0' : (p[0] | 0x20) - 'a' + 10);
		unsigned lo = (unsigned)(p[1] <= '9' ? p[1] - '0' : (p[1] | 0x20) - 'a' + 10);

		raw[n++] = (unsigned char)(hi << 4 | lo);
		p++;
	}
	for (int i = 0; i < 16; i++)
		out[i] = raw[order[i]];
}

static bool guid_is(const unsigned char *p, const char *g)
{
	unsigned char b[16];

	guid_bytes(g, b);
	return memcmp(p, b, 16) == 0;
}

#define VHDX_BAT "2DC27766-F623-4200-9D64-115E9BFD4A08"
#define VHDX_METADATA "8B7CA206-4790-4B9A-B8FE-575F050F886E"
#define VHDX_FILE_PARAMS "CAA16737-FA36-4D43-B3B6-33F0AA44E76B"
#define VHDX_DISK_SIZE "2FA54224-CD1B-4876-B211-5DBED83BF4B8"
#define VHDX_PAGE83 "BECA12AB-B2E6-4523-93EF-C309E000C746"
#define VHDX_LOGICAL_SECTOR "8141BF1D-A96F-4709-BA47-F233A8FAAB5F"
#define VHDX_PHYSICAL_SECTOR "CDA348C7-445D-4471-9CC9-E9885251C556"
#define VHDX_PARENT_LOCATOR "A8D35F2D-B30B-454D-ABF7-D3D84834AB0C"

static int vhdx_region(struct src *s, uint64_t field_off, uint64_t off, uint64_t len,
		       const char *what)
{
	if (off < MiB || off % MiB || len == 0 || len % MiB || off > (1ull << 56) || len > (1ull << 32))
		return rain_error_set(RAIN_EFORMAT,
				      "vhdx: the %s region (entry at offset %llu: offset %llu, length %llu) "
				      "is not 1 MiB-aligned or out of range", what,
				      (unsigned long long)field_off, (unsigned long long)off,
				      (unsigned long long)len);
	return in_data(s, off, len, "vhdx", what, field_off);
}

static int inspect_vhdx(struct src *s, struct rain_diskfmt_info *out)
{
	unsigned char h[80], e[32], v[8];
	uint64_t bat_off = 0, bat_len = 0, meta_off = 0, meta_len = 0, best = 0, vsize = 0;
	uint32_t count, block = 0, lss = 0;
	bool have_hdr = false, have_params = false, have_size = false;
	int r;

	for (uint64_t ho = 64 * KiB; ho <= 128 * KiB; ho += 64 * KiB) {
		if ((r = get(s, ho, h, sizeof(h), "vhdx", "header")))
			return r;
		if (memcmp(h, "head", 4))
			continue;
		if (le16(h + 66) != 1)
			return rain_error_set(RAIN_EFORMAT, "vhdx: version %u at offset %llu is not 1",
					      le16(h + 66), (unsigned long long)ho + 66);
		if (!have_hdr || le64(h + 8) > best) {
			best = le64(h + 8);
			have_hdr = true;
			if (!all_zero(h + 48, 16) &&
			    (r = vhdx_region(s, ho + 72, le64(h + 72), le32(h + 68), "log")))
				return r;
		}
	}
	if (!have_hdr)
		return rain_error_set(RAIN_EFORMAT, "vhdx: no \"head\" header at offset 65536 or 131072");

	if ((r = get(s, 192 * KiB, h, 16, "vhdx", "region table")))
		return r;
	count = le32(h + 8);
	if (memcmp(h, "regi", 4) || count > 2047)
		return rain_error_set(RAIN_EFORMAT,
				      "vhdx: no valid region table at offset 196608 (signature \"regi\", at "
				      "most 2047 entries; it has %u)", count);
	for (uint32_t i = 0; i < count; i++) {
		uint64_t eo = 192 * KiB + 16 + 32ull * i;

		if ((r = get(s, eo, e, 32, "vhdx", "region table entry")))
			return r;
		if (guid_is(e, VHDX_BAT)) {
			bat_off = le64(e + 16);
			bat_len = le32(e + 24);
			if ((r = vhdx_region(s, eo, bat_off, bat_len, "BAT")))
				return r;
		} else if (guid_is(e, VHDX_METADATA)) {
			meta_off = le64(e + 16);
			meta_len = le32(e + 24);
			if ((r = vhdx_region(s, eo, meta_off, meta_len, "metadata")))
				return r;
		} else if (le32(e + 28) & 1) {
			return rain_error_set(RAIN_EFORMAT,
					      "vhdx: region table entry %u at offset %llu is an unknown region "
					      "marked required", i, (unsigned long long)eo);
		}
	}
	if (!bat_len || !meta_len)
		return rain_error_set(RAIN_EFORMAT,
				      "vhdx: the region table at offset 196608 lacks the BAT or the metadata region");

	if ((r = get(s, meta_off, h, 32, "vhdx", "metadata table")))
		return r;
	count = le16(h + 10);
	if (memcmp(h, "metadata", 8) || count > 2047)
		return rain_error_set(RAIN_EFORMAT,
				      "vhdx: no valid metadata table at offset %llu (signature \"metadata\", "
				      "at most 2047 entries; it has %u)", (unsigned long long)meta_off, count);
	for (uint32_t i = 0; i < count; i++) {
		uint64_t eo = meta_off + 32 + 32ull * i, io;
		uint32_t ioff, ilen;

		if ((r = get(s, eo, e, 32, "vhdx", "metadata table entry")))
			return r;
		ioff = le32(e + 16);
		ilen = le32(e + 20);
		io = meta_off + ioff;
		if (guid_is(e, VHDX_PARENT_LOCATOR))
			return rain_error_set(RAIN_EFORMAT,
					      "vhdx: the image has a parent locator (metadata entry %u at offset "
					      "%llu): it is a differencing disk that refers to a parent file; "
					      "images that refer to other files are refused (OSSA-2024-001): "
					      "merge it into a whole disk (qemu-img convert -O vhdx)",
					      i, (unsigned long long)eo);
		if (ilen && (ioff < 64 * KiB || ilen > meta_len || ioff > meta_len - ilen))
			return rain_error_set(RAIN_EFORMAT,
					      "vhdx: metadata entry %u at offset %llu points outside the "
					      "metadata region (offset %u, length %u)", i,
					      (unsigned long long)eo, ioff, ilen);
		if (guid_is(e, VHDX_FILE_PARAMS) || guid_is(e, VHDX_DISK_SIZE) ||
		    guid_is(e, VHDX_LOGICAL_SECTOR) || guid_is(e, VHDX_PHYSICAL_SECTOR)) {
			if (ilen < 4 || (guid_is(e, VHDX_FILE_PARAMS) || guid_is(e, VHDX_DISK_SIZE) ? ilen < 8 : 0))
				return rain_error_set(RAIN_EFORMAT,
						      "vhdx: metadata entry %u at offset %llu is too short (%u bytes)",
						      i, (unsigned long long)eo, ilen);
			if ((r = get(s, io, v, 8, "vhdx", "metadata item")))
				return r;
		}
		if (guid_is(e, VHDX_FILE_PARAMS)) {
			block = le32(v);
			have_params = true;
			if (le32(v + 4) & 2)
				return rain_error_set(RAIN_EFORMAT,
						      "vhdx: the file parameters at offset %llu say HasParent: the "
						      "image is a differencing disk that refers to a parent file; "
						      "images that refer to other files are refused (OSSA-2024-001)",
						      (unsigned long long)io);
			if (!is_pow2(block) || block < MiB || block > 256 * MiB)
				return rain_error_set(RAIN_EFORMAT,
						      "vhdx: block size %u at offset %llu is not a power of two "
						      "from 1 MiB to 256 MiB", block, (unsigned long long)io);
		} else if (guid_is(e, VHDX_DISK_SIZE)) {
			vsize = le64(v);
			have_size = true;
			if ((r = check_vsize("vhdx", "virtual disk size", io, vsize, 1, &out->virtual_size)))
				return r;
		} else if (guid_is(e, VHDX_LOGICAL_SECTOR)) {
			lss = le32(v);
			if (lss != 512 && lss != 4096)
				return rain_error_set(RAIN_EFORMAT,
						      "vhdx: logical sector size %u at offset %llu is not 512 or 4096",
						      lss, (unsigned long long)io);
		} else if (!guid_is(e, VHDX_PAGE83) && !guid_is(e, VHDX_PHYSICAL_SECTOR) &&
			   (le32(e + 24) & 4)) {
			return rain_error_set(RAIN_EFORMAT,
					      "vhdx: metadata entry %u at offset %llu is unknown and marked "
					      "required", i, (unsigned long long)eo);
		}
	}
	if (!have_params || !have_size || !lss)
		return rain_error_set(RAIN_EFORMAT,
				      "vhdx: the metadata table at offset %llu lacks the file parameters, "
				      "the virtual disk size or the logical sector size",
				      (unsigned long long)meta_off);
	/* the BAT must hold an entry per block plus one per chunk */
	{
		uint64_t chunk = (8 * MiB * lss) / block, blocks = (vsize + block - 1) / block;
		uint64_t need = blocks + (blocks ? (blocks - 1) / chunk : 0);

		if (need > bat_len / 8)
			return rain_error_set(RAIN_EFORMAT,
					      "vhdx: the BAT region (%llu bytes at offset %llu) is too small for "
					      "the virtual disk size %llu", (unsigned long long)bat_len,
					      (unsigned long long)bat_off, (unsigned long long)vsize);
	}
	out->detail = "";
	return 0;
}

/* ---- vdi ---- */

static int inspect_vdi(struct src *s, struct rain_diskfmt_info *out)
{
	unsigned char h[512];
	uint32_t type, bmap, data, bsize, blocks, alloc;
	uint64_t disk;
	int r;

	if ((r = get(s, 0, h, sizeof(h), "vdi", "header")))
		return r;
	if (le32(h + 0x44) != 0x00010001)
		return rain_error_set(RAIN_EFORMAT,
				      "vdi: version 0x%08x at offset 68 is not 1.1", le32(h + 0x44));
	type = le32(h + 0x4c);
	if (type == 3 || type == 4 || !all_zero(h + 0x1a8, 32))
		return rain_error_set(RAIN_EFORMAT,
				      "vdi: the image is %s (image type %u at offset 76, parent UUIDs at "
				      "offsets 424 and 440): it refers to a parent image; images that refer "
				      "to other files are refused (OSSA-2024-001): merge it into a whole "
				      "disk (qemu-img convert -O vdi)",
				      type == 3 ? "an undo image" : "a differencing image", type);
	if (type != 1 && type != 2)
		return rain_error_set(RAIN_EFORMAT,
				      "vdi: image type %u at offset 76 is not normal (1) or fixed (2)", type);
	out->detail = type == 1 ? "dynamic" : "fixed";
	bmap = le32(h + 0x154);
	data = le32(h + 0x158);
	disk = le64(h + 0x170);
	bsize = le32(h + 0x178);
	blocks = le32(h + 0x180);
	alloc = le32(h + 0x184);
	if (le32(h + 0x168) != 512 || bsize != MiB || le32(h + 0x17c) != 0)
		return rain_error_set(RAIN_EFORMAT,
				      "vdi: sector size %u (offset 360), block size %u (offset 376) or block "
				      "extra %u (offset 380) is not 512, 1 MiB, 0", le32(h + 0x168), bsize,
				      le32(h + 0x17c));
	if ((r = check_vsize("vdi", "disk size", 0x170, disk, 1, &out->virtual_size)))
		return r;
	if ((uint64_t)blocks * bsize < disk || blocks > (1u << 30) || alloc > blocks)
		return rain_error_set(RAIN_EFORMAT,
				      "vdi: %u blocks in image (offset 384), %u allocated (offset 388) do not "
				      "fit the disk size %llu", blocks, alloc, (unsigned long long)disk);
	if (bmap % 512 || data % 512 || bmap < 512 || (uint64_t)data < (uint64_t)bmap + 4ull * blocks)
		return rain_error_set(RAIN_EFORMAT,
				      "vdi: block map offset %u (offset 340) and data offset %u (offset 344) "
				      "are misaligned or overlap", bmap, data);
	if ((r = in_data(s, bmap, 4ull * blocks, "vdi", "the block map offset", 0x154)))
		return r;
	return in_data(s, data, (uint64_t)alloc * bsize, "vdi", "the data offset", 0x158);
}

/* ---- ploop (parallels) ---- */

static int inspect_ploop(struct src *s, struct rain_diskfmt_info *out)
{
	unsigned char h[64];
	uint64_t sectors, ext;
	uint32_t tracks, data;
	int r;

	if ((r = get(s, 0, h, sizeof(h), "ploop", "header")))
		return r;
	if (le32(h + 16) != 2)
		return rain_error_set(RAIN_EFORMAT, "ploop: version %u at offset 16 is not 2", le32(h + 16));
	tracks = le32(h + 28);
	sectors = le64(h + 36);
	if (!memcmp(h, "WithoutFreeSpace", 16))
		sectors &= 0xffffffffu;
	data = le32(h + 48);
	ext = le64(h + 56);
	if (tracks == 0 || tracks > (1u << 22))
		return rain_error_set(RAIN_EFORMAT,
				      "ploop: cluster size %u sectors (offset 28) out of range", tracks);
	if ((r = check_vsize("ploop", "nb_sectors", 36, sectors, 512, &out->virtual_size)))
		return r;
	if ((r = in_data(s, (uint64_t)data * 512, 0, "ploop", "data_off", 48)))
		return r;
	if (ext && (ext > (1ull << 54) || (r = in_data(s, ext * 512, 512, "ploop", "ext_off", 56))))
		return r ? r : rain_error_set(RAIN_EFORMAT, "ploop: ext_off %llu (offset 56) is out of range",
					      (unsigned long long)ext);
	out->detail = "";
	return 0;
}

/* ---- iso ---- */

#define ISO_DESC 32768u

#define ISO_FOUND 2

/* ISO_FOUND: an ISO 9660 or UDF volume (*is_udf when UDF only); 0: none;
 * NEED_MORE, or an error. */
static int iso_scan(struct src *s, struct rain_diskfmt_info *out, bool *is_udf)
{
	unsigned char d[136];
	bool udf = false, iso = false;
	int r;

	for (unsigned i = 0; i < 64; i++) {
		uint64_t off = ISO_DESC + 2048ull * i;

		r = get(s, off, d, sizeof(d), "iso", "volume descriptor");
		if (r == NEED_MORE || (r < 0 && (r != RAIN_EFORMAT || iso || udf)))
			return r;
		if (r < 0) {            /* too short to be an ISO */
			rain_error_clear();
			return 0;
		}
		if (!memcmp(d + 1, "CD001", 5)) {
			iso = true;
			if (d[0] == 1 && out) {
				uint32_t blocks = le32(d + 80);
				uint16_t bs = le16(d + 128);

				if (blocks != be32(d + 84) || bs != be16(d + 130) ||
				    (bs != 512 && bs != 1024 && bs != 2048))
					return rain_error_set(RAIN_EFORMAT,
							      "iso: the primary volume descriptor at offset %llu "
							      "has an invalid volume space size (offset %llu) or "
							      "block size (offset %llu)", (unsigned long long)off,
							      (unsigned long long)off + 80,
							      (unsigned long long)off + 128);
				out->virtual_size = (int64_t)blocks * bs;
				if (s->size >= 0 && out->virtual_size > s->size)
					return rain_error_set(RAIN_EFORMAT,
							      "iso: the volume space size at offset %llu says "
							      "%lld bytes, but the data has %lld: the ISO is "
							      "truncated", (unsigned long long)off + 80,
							      (long long)out->virtual_size, (long long)s->size);
			}
			if (d[0] == 255)
				break;
		} else if (!memcmp(d + 1, "BEA01", 5) || !memcmp(d + 1, "NSR02", 5) ||
			   !memcmp(d + 1, "NSR03", 5) || !memcmp(d + 1, "TEA01", 5) ||
			   !memcmp(d + 1, "BOOT2", 5)) {
			udf = udf || d[1] == 'N';
		} else {
			break;
		}
	}
	*is_udf = udf && !iso;
	return iso || udf ? ISO_FOUND : 0;
}

/* ---- detection ---- */

struct fmt {
	const char *name;
	const char *sig;        /* where its signature is, for messages */
	int (*inspect)(struct src *s, struct rain_diskfmt_info *out);
	bool refused;           /* raind does not take it at all */
};

static const struct fmt fmts[] = {
	{ "qcow2", "\"QFI\\xfb\" at offset 0", inspect_qcow2, false },
	{ "vmdk", "\"KDMV\" at offset 0 or a text descriptor", inspect_vmdk, false },
	{ "vhd", "\"conectix\" at offset 0 or in the last 512 bytes", inspect_vhd, false },
	{ "vhdx", "\"vhdxfile\" at offset 0", inspect_vhdx, false },
	{ "vdi", "0xbeda107f at offset 64", inspect_vdi, false },
	{ "ploop", "\"WithoutFreeSpace\" at offset 0", inspect_ploop, false },
	{ "iso", "\"CD001\" or a UDF descriptor at offset 32769", NULL, false },
	{ "raw", "", NULL, false },
	{ "qed", "\"QED\\0\" at offset 0", NULL, true },
	{ "luks", "\"LUKS\\xba\\xbe\" at offset 0", NULL, true },
	{ "bochs", "\"Bochs Virtual HD Image\" at offset 0", NULL, true },
	{ "cloop", "a cloop script at offset 0", NULL, true },
};

static const struct fmt *fmt_named(const char *name)
{
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++)
		if (!strcmp(fmts[i].name, name))
			return &fmts[i];
	return NULL;
}

/* qemu's own VMDK text probe: comment and blank lines, then "version=N". */
static bool vmdk_text_probe(const unsigned char *b, size_t n)
{
	size_t p = 0;

	if (n >= 21 && !memcmp(b, "# Disk DescriptorFile", 21))
		return true;
	while (p < n) {
		if (b[p] == '#') {
			while (p < n && b[p] != '\n')
				p++;
			p++;
			continue;
		}
		if (b[p] == ' ' || b[p] == '\r' || b[p] == '\n') {
			while (p < n && b[p] == ' ')
				p++;
			if (p < n && b[p] == '\r')
				p++;
			if (p >= n || b[p] != '\n')
				return false;
			p++;
			continue;
		}
		return n - p >= 10 && !memcmp(b + p, "version=", 8) && b[p + 8] >= '1' &&
		       b[p + 8] <= '3' && (b[p + 9] == '\n' || b[p + 9] == '\r');
	}
	return false;
}

#define MAGIC(m, fmt) { m, sizeof(m) - 1, fmt }

/* Signatures at offset 0, of the formats qemu would probe there. */
static const struct {
	const char *magic;
	size_t len;
	const char *name;
} magics[] = {
	MAGIC("QFI\xfb", "qcow2"),
	MAGIC("QED\0", "qed"),
	MAGIC("KDMV", "vmdk"),
	MAGIC("COWD", "vmdk"),
	MAGIC("vhdxfile", "vhdx"),
	MAGIC("conectix", "vhd"),
	MAGIC("WithoutFreeSpace", "ploop"),
	MAGIC("WithouFreSpacExt", "ploop"),
	MAGIC("LUKS\xba\xbe", "luks"),
	MAGIC("Bochs Virtual HD Image", "bochs"),
	MAGIC("#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$IMAGE\n", "cloop"),
};

/* What the data is; NEED_MORE when a prefix is too short to say. */
static int detect(struct src *s, const struct fmt **f, const char **detail)
{
	unsigned char b[2048];
	const char *name = "raw";
	ssize_t n;
	bool udf;
	int r;

	*detail = "";
	n = get_upto(s, 0, b, sizeof(b));
	if (n < 0)
		return (int)n;
	if (s->size < 0 && (size_t)n < sizeof(b))
		return NEED_MORE;
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if ((size_t)n >= magics[i].len && !memcmp(b, magics[i].magic, magics[i].len)) {
			name = magics[i].name;
			break;
		}
	if (!strcmp(name, "raw") && n >= 68 && le32(b + 64) == 0xbeda107f)
		name = "vdi";
	else if (!strcmp(name, "raw") && vmdk_text_probe(b, (size_t)n))
		name = "vmdk";
	if (!strcmp(name, "raw") && s->size >= 512) {
		unsigned char c[8];

		if ((r = get(s, (uint64_t)s->size - 512, c, 8, "vhd", "footer")))
			return r;
		if (!memcmp(c, "conectix", 8))
			name = "vhd";
	}
	if (!strcmp(name, "raw")) {
		r = iso_scan(s, NULL, &udf);
		if (r < 0 || r == NEED_MORE)
			return r;
		if (r == ISO_FOUND)
			name = "iso";
	}
	if (!strcmp(name, "raw") || !strcmp(name, "iso")) {
		if (n >= 520 && !memcmp(b + 512, "EFI PART", 8))
			*detail = "gpt";
		else if (n >= 512 && b[510] == 0x55 && b[511] == 0xaa)
			*detail = "mbr";
	}
	*f = fmt_named(name);
	return 0;
}

/* "a" or "an", for a format's name in a message */
static const char *a_an(const char *word)
{
	return strchr("aeiou", word[0]) ? "an" : "a";
}

bool rain_diskfmt_is_raw(const char *disk_format)
{
	return disk_format && (!strcmp(disk_format, "raw") || !strcmp(disk_format, "ami") ||
			       !strcmp(disk_format, "ari") || !strcmp(disk_format, "aki"));
}

int rain_diskfmt_inspect(const char *declared, int64_t size, rain_diskfmt_read_fn read,
			 void *ud, struct rain_diskfmt_info *out)
{
	struct src s = { read, ud, size < 0 ? -1 : size };
	struct rain_diskfmt_info info = { "raw", "", -1, false };
	const struct fmt *f = NULL;
	const char *detail;
	bool udf = false;
	int r;

	rain_error_clear();
	if (out)
		*out = info;
	r = detect(&s, &f, &detail);
	if (r < 0)
		return r;
	if (r == NEED_MORE)
		return 0;
	info.format = f->name;
	info.detail = detail;
	if (f->refused)
		return rain_error_set(RAIN_EFORMAT,
				      "the data is %s %s image (%s), which raind does not accept%s%s; "
				      "convert it (qemu-img convert -O qcow2, or -O raw)", a_an(f->name),
				      f->name, f->sig,
				      declared ? " as " : "", declared ? declared : "");
	if (declared && strcmp(declared, f->name) &&
	    !(rain_diskfmt_is_raw(declared) && (!strcmp(f->name, "raw") || !strcmp(f->name, "iso")))) {
		/* a prefix that looks raw may still end in a VHD footer */
		if (s.size < 0 && !strcmp(declared, "vhd") && !strcmp(f->name, "raw"))
			return 0;
		if (!strcmp(f->name, "raw"))
			return rain_error_set(RAIN_EFORMAT,
					      "disk_format is %s, but the data is not %s %s image (no %s; "
					      "it looks like raw data%s%s): set the image's disk_format to raw "
					      "while it is queued (rain image set ID --disk-format raw), or "
					      "upload %s %s file", declared, a_an(declared), declared,
					      fmt_named(declared) ? fmt_named(declared)->sig : "signature",
					      detail[0] ? ", a disk with " : "", detail, a_an(declared),
					      declared);
		return rain_error_set(RAIN_EFORMAT,
				      "disk_format is %s, but the data is %s %s image (%s): set the image's "
				      "disk_format to %s while it is queued (rain image set ID "
				      "--disk-format %s), or upload %s %s file%s", declared, a_an(f->name),
				      f->name, f->sig, f->name, f->name, a_an(declared), declared,
				      rain_diskfmt_is_raw(declared) ?
				      " (qemu-img convert -O raw)" : "");
	}
	if (f->inspect) {
		r = f->inspect(&s, &info);
	} else if (!strcmp(f->name, "iso")) {
		r = iso_scan(&s, &info, &udf);
		r = r == ISO_FOUND ? 0 : r;
		if (udf)
			info.detail = "udf";
		/* raw data (also an ISO's) is as large as it is long */
		if (r == 0 && (udf || rain_diskfmt_is_raw(declared)))
			info.virtual_size = s.size;
	} else {
		info.virtual_size = s.size;
		r = 0;
	}
	if (r < 0)
		return r;
	if (r == NEED_MORE) {
		info.virtual_size = -1;
	} else {
		info.complete = s.size >= 0;
		if (s.size < 0 && (!strcmp(f->name, "raw") || !strcmp(f->name, "iso")))
			info.virtual_size = -1;
	}
	if (out)
		*out = info;
	return 0;
}

/* ---- buffers ---- */

struct membuf {
	const unsigned char *p;
	size_t len;
};

static ssize_t mem_read(void *ud, uint64_t off, void *buf, size_t len)
{
	const struct membuf *m = ud;

	if (off >= m->len)
		return 0;
	if (len > m->len - off)
		len = (size_t)(m->len - off);
	memcpy(buf, m->p + off, len);
	return (ssize_t)len;
}

int rain_diskfmt_check(const char *declared, const unsigned char *head, size_t len,
		       int64_t total_size, int64_t *virtual_size)
{
	struct membuf m = { head, head ? len : 0 };
	struct rain_diskfmt_info info;
	int64_t size;
	int r;

	rain_error_clear();
	size = total_size >= 0 && (uint64_t)total_size == m.len ? total_size : -1;
	r = rain_diskfmt_inspect(declared, size, mem_read, &m, &info);
	if (virtual_size)
		*virtual_size = r == 0 ? info.virtual_size : -1;
	return r;
}

const char *rain_diskfmt_detect(const unsigned char *head, size_t len)
{
	struct membuf m = { head, head ? len : 0 };
	struct src s = { mem_read, &m, -1 };
	const struct fmt *f = NULL;
	const char *detail;

	/* a short head is all there is: judge it whole */
	if (m.len < 2048)
		s.size = (int64_t)m.len;
	if (detect(&s, &f, &detail) != 0 || !f) {
		rain_error_clear();
		return "raw";
	}
	return f->name;
}
