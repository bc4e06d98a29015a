/* Inputs of the disk-image harnesses (fuzz-diskfmt.h, fuzz-imgfs.h) read
 * two ways: plain (the input as it is) or sparse, so that a small input
 * can reach offsets megabytes into an image: an 8-byte little-endian
 * size, then segments of a 4-byte offset, a 2-byte length and that many
 * bytes; everything else reads as zeros. Both readers have the shape of
 * rain_diskfmt_read_fn (and rain_imgfs_read_fn).
 */
#ifndef RAIN_FUZZ_SPARSE_H
#define RAIN_FUZZ_SPARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

struct sparse {
	const uint8_t *data;
	size_t size;
	uint64_t vsize;
};

static uint64_t fz_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Plain bytes: the input as it is. */
static ssize_t plain_read(void *ud, uint64_t off, void *buf, size_t len)
{
	const struct sparse *s = ud;

	if (off >= s->size)
		return 0;
	if (len > s->size - off)
		len = (size_t)(s->size - off);
	memcpy(buf, s->data + off, len);
	return (ssize_t)len;
}

static ssize_t sparse_read(void *ud, uint64_t off, void *buf, size_t len)
{
	const struct sparse *s = ud;
	size_t p = 8;

	if (off >= s->vsize)
		return 0;
	if (len > s->vsize - off)
		len = (size_t)(s->vsize - off);
	memset(buf, 0, len);
	while (p + 6 <= s->size) {
		uint64_t so = fz_le(s->data + p, 4);
		size_t sl = (size_t)fz_le(s->data + p + 4, 2);

		p += 6;
		if (sl > s->size - p)
			sl = s->size - p;
		if (so < off + len && so + sl > off) {
			uint64_t a = so > off ? so : off, b = so + sl < off + len ? so + sl : off + len;

			memcpy((uint8_t *)buf + (a - off), s->data + p + (a - so), (size_t)(b - a));
		}
		p += sl;
	}
	return (ssize_t)len;
}

#endif
