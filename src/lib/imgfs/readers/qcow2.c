/* imgfs reader "qcow2": the virtual disk of a qcow2 image (versions 2
 * and 3), read through its own L1/L2 tables: no qemu-img, no temporary
 * file. rain_diskfmt_inspect() checks the image first, so that an image
 * naming a backing or an external data file is refused before anything
 * is read through it. Standard and extended L2 entries (subclusters),
 * zero clusters, compressed clusters (deflate or zstd); clusters that are
 * not allocated read as zeros (there is no backing file). A container: it
 * gives the virtual disk as one source, which the front end opens as a
 * disk or a file system. Encrypted images are refused. Memory: the L1
 * table (at most 32 MiB), L2_CACHE L2 tables and Z_CACHE_BYTES of
 * decompressed clusters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "rain/diskfmt.h"
#include "rain/sys/imgfs.h"
#include "util/cleanup.h"

#define L2_CACHE 16
#define MAX_L1_BYTES (32u << 20)
#define Z_CACHE_BYTES (4u << 20)
#define Z_CACHE_MAX 64

struct qcow2 {
	struct rain_imgfs_src *file;    /* the qcow2 file */
	uint32_t cluster_bits;
	uint64_t cluster;               /* bytes */
	uint32_t l2_bits;               /* log2 of entries per L2 table */
	bool ext_l2, zstd;
	uint64_t *l1;                   /* host byte order */
	uint32_t l1_size;
	struct {
		uint64_t off;           /* of the table in the file; 0: empty slot */
		uint64_t *t;            /* raw (big-endian) entries */
	} l2[L2_CACHE];
	unsigned l2_next;
	/* decompressed clusters (a file system's metadata and its files'
	 * data interleave: one would be decompressed again and again) */
	unsigned char *zbuf[Z_CACHE_MAX];
	uint64_t zdesc[Z_CACHE_MAX];    /* their descriptors; 0: none */
	unsigned nz, znext;
	unsigned char *cbuf;            /* compressed input */
	ZSTD_DCtx *zd;
};

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static bool qcow2_probe(const unsigned char *h, size_t len)
{
	return len >= 4 && memcmp(h, "QFI\xfb", 4) == 0;
}

static ssize_t inspect_read(void *ud, uint64_t off, void *buf, size_t len)
{
	struct rain_imgfs_src *src = ud;

	return src->pread(src, buf, len, off);
}

static void q_free(struct rain_imgfs_src *src)
{
	struct qcow2 *q = src->impl;

	if (!q)
		return;
	free(q->l1);
	for (int i = 0; i < L2_CACHE; i++)
		free(q->l2[i].t);
	for (unsigned i = 0; i < q->nz; i++)
		free(q->zbuf[i]);
	free(q->cbuf);
	ZSTD_freeDCtx(q->zd);
	free(q);
}

static int bad(struct qcow2 *q, const char *what, uint64_t v)
{
	return rain_error_set(RAIN_EFORMAT, "qcow2 %s: %s (0x%llx) lies outside the file or is misaligned: "
			      "a corrupt image", q->file->name, what, (unsigned long long)v);
}

/* The L2 table at off (cached). */
static int l2_get(struct qcow2 *q, uint64_t off, uint64_t **out)
{
	int i, r;

	for (i = 0; i < L2_CACHE; i++)
		if (q->l2[i].off == off && q->l2[i].t) {
			*out = q->l2[i].t;
			return 0;
		}
	i = (int)(q->l2_next++ % L2_CACHE);
	if (!q->l2[i].t && !(q->l2[i].t = malloc(q->cluster)))
		return rain_error_oom();
	q->l2[i].off = 0;
	r = rain_imgfs_src_read(q->file, q->l2[i].t, q->cluster, off, "an L2 table");
	if (r < 0)
		return r;
	q->l2[i].off = off;
	*out = q->l2[i].t;
	return 0;
}

/* The cluster of descriptor desc, decompressed into *out (cached). */
static int decompress(struct qcow2 *q, uint64_t desc, const unsigned char **out)
{
	unsigned slot;
	unsigned char *zbuf;
	uint32_t x = 62 - (q->cluster_bits - 8);
	uint64_t host = desc & ((1ull << x) - 1);
	uint64_t sectors = (desc >> x) & ((1ull << (62 - x)) - 1);
	uint64_t clen = (sectors + 1) * 512 - (host & 511);
	ssize_t n;

	for (unsigned i = 0; i < q->nz; i++)
		if (q->zdesc[i] == desc) {
			*out = q->zbuf[i];
			return 0;
		}
	slot = q->znext++ % q->nz;
	zbuf = q->zbuf[slot];
	q->zdesc[slot] = 0;
	if (host >= q->file->size)
		return bad(q, "a compressed cluster", host);
	if (clen > 2 * q->cluster)
		clen = 2 * q->cluster;
	n = q->file->pread(q->file, q->cbuf, (size_t)clen, host);
	if (n < 0)
		return (int)n;
	if (q->zstd) {
		ZSTD_inBuffer in = { q->cbuf, (size_t)n, 0 };
		ZSTD_outBuffer o = { zbuf, q->cluster, 0 };

		ZSTD_DCtx_reset(q->zd, ZSTD_reset_session_only);
		while (o.pos < o.size) {
			size_t z = ZSTD_decompressStream(q->zd, &o, &in);

			if (ZSTD_isError(z))
				return rain_error_set(RAIN_EFORMAT, "qcow2 %s: a compressed cluster at 0x%llx does not "
						      "decompress (zstd: %s)", q->file->name,
						      (unsigned long long)host, ZSTD_getErrorName(z));
			if (z == 0 || in.pos == in.size)
				break;
		}
		if (o.pos != o.size)
			return rain_error_set(RAIN_EFORMAT, "qcow2 %s: a compressed cluster at 0x%llx is short",
					      q->file->name, (unsigned long long)host);
	} else {
		z_stream zs = { .next_in = q->cbuf, .avail_in = (uInt)n, .next_out = zbuf,
				.avail_out = (uInt)q->cluster };
		int zr;

		if (inflateInit2(&zs, -12) != Z_OK)
			return rain_error_oom();
		zr = inflate(&zs, Z_FINISH);
		inflateEnd(&zs);
		if ((zr != Z_STREAM_END && zr != Z_OK && zr != Z_BUF_ERROR) || zs.avail_out != 0)
			return rain_error_set(RAIN_EFORMAT, "qcow2 %s: a compressed cluster at 0x%llx does not "
					      "decompress (deflate)", q->file->name, (unsigned long long)host);
	}
	q->zdesc[slot] = desc;
	*out = zbuf;
	return 0;
}

/* Read len bytes at guest off, all inside one cluster. */
static int read_in_cluster(struct qcow2 *q, void *buf, size_t len, uint64_t off)
{
	uint64_t ci = off >> q->cluster_bits, in = off & (q->cluster - 1);
	uint64_t l1i = ci >> q->l2_bits, l2i = ci & ((1ull << q->l2_bits) - 1);
	uint64_t l2off, desc, bitmap = 0, host;
	uint64_t *l2 = NULL;
	int r;

	if (l1i >= q->l1_size)
		goto zeros;
	l2off = q->l1[l1i] & 0x00fffffffffffe00ull;
	if (!l2off)
		goto zeros;
	if (l2off & (q->cluster - 1) || l2off > q->file->size - q->cluster || q->file->size < q->cluster)
		return bad(q, "an L2 table", l2off);
	r = l2_get(q, l2off, &l2);
	if (r < 0)
		return r;
	if (q->ext_l2) {
		desc = be64((unsigned char *)&l2[2 * l2i]);
		bitmap = be64((unsigned char *)&l2[2 * l2i + 1]);
	} else {
		desc = be64((unsigned char *)&l2[l2i]);
	}
	if (desc & (1ull << 62)) {
		const unsigned char *z = NULL;

		/* at byte 0 lies the header (and 0 marks a free cache slot) */
		if ((desc & ((1ull << 62) - 1)) == 0)
			return bad(q, "a compressed cluster", 0);
		r = decompress(q, desc & ((1ull << 62) - 1), &z);
		if (r < 0)
			return r;
		memcpy(buf, z + in, len);
		return 0;
	}
	host = desc & 0x00fffffffffffe00ull;
	if (!q->ext_l2 && (desc & 1))
		goto zeros;
	if (!host)
		goto zeros;
	if (host & (q->cluster - 1) || host > q->file->size - 1)
		return bad(q, "a data cluster", host);
	if (q->ext_l2) {
		/* 32 subclusters: bit i allocated, bit 32 + i reads as zeros */
		uint64_t sub = q->cluster / 32;
		size_t done = 0;

		while (done < len) {
			uint64_t pos = in + done, s = pos / sub, n = (s + 1) * sub - pos;

			if (n > len - done)
				n = len - done;
			if ((bitmap >> s) & 1 && !((bitmap >> (32 + s)) & 1)) {
				ssize_t k = q->file->pread(q->file, (char *)buf + done, (size_t)n, host + pos);

				if (k < 0)
					return (int)k;
				memset((char *)buf + done + k, 0, (size_t)n - (size_t)k);
			} else {
				memset((char *)buf + done, 0, (size_t)n);
			}
			done += (size_t)n;
		}
		return 0;
	}
	{
		/* a cluster cut by the end of the file reads as zeros past it */
		ssize_t k = q->file->pread(q->file, buf, len, host + in);

		if (k < 0)
			return (int)k;
		memset((char *)buf + k, 0, len - (size_t)k);
	}
	return 0;
zeros:
	memset(buf, 0, len);
	return 0;
}

static ssize_t q_pread(struct rain_imgfs_src *src, void *buf, size_t len, uint64_t off)
{
	struct qcow2 *q = src->impl;
	size_t done = 0;

	len = rain_imgfs_src_clip(src, off, len);
	while (done < len) {
		uint64_t pos = off + done, n = q->cluster - (pos & (q->cluster - 1));
		int r;

		if (n > len - done)
			n = len - done;
		r = read_in_cluster(q, (char *)buf + done, (size_t)n, pos);
		if (r < 0)
			return r;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int qcow2_contents(struct rain_imgfs *fs, struct rain_imgfs_src *src, struct rain_imgfs_part **out,
			  size_t *n, char *detail, size_t detail_len)
{
	struct rain_diskfmt_info info;
	unsigned char h[112];
	struct rain_imgfs_src *v;
	struct qcow2 *q;
	uint32_t version, incompat = 0, hlen = 72;
	int r;

	*out = NULL;
	*n = 0;
	r = rain_diskfmt_inspect("qcow2", (int64_t)src->size, inspect_read, src, &info);
	if (r < 0)
		return rain_error_set(r, "qcow2 %s: %s", src->name, rain_error_last());
	r = rain_imgfs_src_read(src, h, sizeof(h), 0, "the qcow2 header");
	if (r < 0)
		return r;
	version = be32(h + 4);
	if (version >= 3) {
		incompat = (uint32_t)be64(h + 72);
		hlen = be32(h + 100);
	}
	if (be32(h + 32) != 0)
		return rain_error_set(RAIN_EFORMAT, "qcow2 %s: the image is encrypted: decrypt it first (qemu-img "
				      "convert)", src->name);
	if (incompat & 2)
		return rain_error_set(RAIN_EFORMAT, "qcow2 %s: the image is marked corrupt (incompatible feature "
				      "bit 1): repair it with qemu-img check -r all", src->name);
	v = rain_imgfs_src_new();
	q = calloc(1, sizeof(*q));
	if (!v || !q) {
		free(v);
		free(q);
		return rain_error_oom();
	}
	v->impl = q;
	v->free = q_free;
	v->pread = q_pread;
	v->size = (uint64_t)info.virtual_size;
	snprintf(v->name, sizeof(v->name), "%.300s: its virtual disk", src->name);
	q->file = src;
	q->cluster_bits = be32(h + 20);
	q->cluster = 1ull << q->cluster_bits;
	q->ext_l2 = incompat & 16;
	q->zstd = (incompat & 8) && hlen > 104 && h[104] == 1;
	if ((incompat & 8) && !(hlen > 104 && h[104] <= 1)) {
		r = rain_error_set(RAIN_EFORMAT, "qcow2 %s: unknown compression type %u", src->name, h[104]);
		goto fail;
	}
	q->l2_bits = q->cluster_bits - (q->ext_l2 ? 4 : 3);
	q->l1_size = be32(h + 36);
	if ((uint64_t)q->l1_size * 8 > MAX_L1_BYTES) {
		r = rain_error_set(RAIN_EFORMAT, "qcow2 %s: an L1 table of %u entries is absurd", src->name,
				   q->l1_size);
		goto fail;
	}
	q->l1 = malloc((size_t)q->l1_size * 8 + 1);
	q->nz = Z_CACHE_BYTES >> q->cluster_bits;
	if (q->nz < 1)
		q->nz = 1;
	if (q->nz > Z_CACHE_MAX)
		q->nz = Z_CACHE_MAX;
	for (unsigned i = 0; i < q->nz; i++)
		if (!(q->zbuf[i] = malloc(q->cluster)))
			q->nz = i;
	q->cbuf = malloc(2 * q->cluster);
	q->zd = ZSTD_createDCtx();
	if (!q->l1 || q->nz == 0 || !q->cbuf || !q->zd) {
		r = rain_error_oom();
		goto fail;
	}
	r = rain_imgfs_src_read(src, q->l1, (size_t)q->l1_size * 8, be64(h + 40), "the L1 table");
	if (r < 0)
		goto fail;
	for (uint32_t i = 0; i < q->l1_size; i++)
		q->l1[i] = be64((unsigned char *)&q->l1[i]);
	*out = calloc(1, sizeof(**out));
	if (!*out) {
		r = rain_error_oom();
		goto fail;
	}
	(*out)->src = v;
	(*out)->linux_fs = true;
	*n = 1;
	snprintf(detail, detail_len, "qcow2");
	return 0;
fail:
	rain_imgfs_src_free(v);
	return r;
}

const struct rain_imgfs_backend rain_imgfs_qcow2 = {
	.version = RAIN_IMGFS_BACKEND_VERSION,
	.name = "qcow2",
	.probe = qcow2_probe,
	.contents = qcow2_contents,
};
