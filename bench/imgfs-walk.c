/* bench/imgfs.sh's walker: open an image with rain_imgfs_open and walk it,
 * MD5 of every regular file's content (what debsums does), then print one
 * line: the format read, open and walk seconds, entries, files, MiB. */
#include <stdio.h>
#include <time.h>

#include <openssl/evp.h>

#include "rain/error.h"
#include "rain/imgfs.h"

struct totals {
	unsigned long long entries, files, bytes;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int md5_fn(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	static char buf[1 << 17];
	struct totals *t = ud;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	EVP_MD_CTX *c;
	ssize_t n;

	t->entries++;
	if (!f)
		return 0;
	c = EVP_MD_CTX_new();
	EVP_DigestInit_ex(c, EVP_md5(), NULL);
	while ((n = rain_imgfs_file_read(f, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(c, buf, (size_t)n);
		t->bytes += (unsigned long long)n;
	}
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	t->files++;
	return n < 0 ? (int)n : 0;
}

int main(int argc, char **argv)
{
	struct totals t = { 0 };
	struct rain_imgfs *fs;
	double a, b, c;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: imgfs-walk IMAGE\n");
		return 2;
	}
	a = now();
	if (rain_imgfs_open(argv[1], NULL, NULL, &fs) < 0) {
		fprintf(stderr, "imgfs-walk: %s\n", rain_error_last());
		return 1;
	}
	b = now();
	r = rain_imgfs_walk(fs, md5_fn, &t);
	c = now();
	if (r < 0) {
		fprintf(stderr, "imgfs-walk: %s\n", rain_error_last());
		rain_imgfs_close(fs);
		return 1;
	}
	printf("%s | open %.2f s | walk %.2f s | %llu entries, %llu files, %llu MiB\n", rain_imgfs_info(fs)->detail,
	       b - a, c - b, t.entries, t.files, t.bytes >> 20);
	rain_imgfs_close(fs);
	return 0;
}
