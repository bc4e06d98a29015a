/* Unit tests for the blob store (src/lib/repo/blob.c): hashing while
 * writing, content addressing, temporaries, reading, removal and garbage
 * collection, run once per store under test, each case on a new, empty
 * store: the filesystem backend (src/lib/repo/backends/blob-fs.c), then
 * each URI of RAIN_TEST_BLOBS (separated by spaces), in which %s stands
 * for a name of the case's own (a new bucket or container), such as
 * "s3://127.0.0.1:8080/t-%s?credentials=FILE&tls=no&part_size=5M"
 * (tests/integration/t0171-blob-objstore.sh runs them on a real Swift).
 * Checks of the filesystem's own layout run for it only. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "rain/blob.h"
#include "rain/error.h"
#include "util/strutil.h"

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define MD5_ABC "900150983cd24fb0d6963f7d28e17f72"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MD5_EMPTY "d41d8cd98f00b204e9800998ecf8427e"
/* SHA-256 of "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" */
#define MSG2 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define SHA_MSG2 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"

/* The store of the current run: a URI in which %s stands for the
 * case's name (the filesystem's is its temporary directory). */
static const char *current_uri;
static bool current_fs;
static unsigned int ncase;

struct fixture {
	char dir[64];
	char uri[512];
	bool fs;        /* the filesystem backend: its layout can be checked */
	struct rain_blob_store *bs;
};

/* What follows is about the filesystem's layout: other stores stop here. */
#define FS_ONLY(f) do { if (!(f)->fs) return; } while (0)

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char name[64];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/rain-test-blob.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	umask(022);
	f->fs = current_fs;
	if (f->fs)
		snprintf(name, sizeof(name), "%s", f->dir);
	else
		snprintf(name, sizeof(name), "t%ld-%u", (long)getpid(), ++ncase);
	snprintf(f->uri, sizeof(f->uri), current_uri, name);
	if (rain_blob_store_open(&f->bs, f->uri) < 0) {
		fprintf(stderr, "open %s: %s\n", f->uri, rain_error_last());
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rain_blob_store_close(f->bs);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

/* Count the regular files (and check the modes) under the store. */
static int nfiles;
static int bad_modes;

static int count_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_F) {
		nfiles++;
		if ((st->st_mode & 0777) != 0600) {
			fprintf(stderr, "%s has mode %o\n", path, st->st_mode & 0777);
			bad_modes++;
		}
	} else if (type == FTW_D) {
		if ((st->st_mode & 0777) != 0700) {
			fprintf(stderr, "%s has mode %o\n", path, st->st_mode & 0777);
			bad_modes++;
		}
	}
	return 0;
}

static bool keep_all(void *ud, const char *sha)
{
	(*(int *)ud)++;
	return true;
}

/* The number of blobs (any store; no write may be under way: the
 * collector's sweep of temporaries runs too, and must find nothing). On
 * the filesystem, the files, every mode checked. */
static int count_files(struct fixture *f)
{
	char path[128];

	if (!f->fs) {
		int64_t tmp = -1, removed = -1;
		int n = 0;

		if (rain_blob_store_gc(f->bs, keep_all, &n, &tmp, &removed) < 0)
			fail_msg("gc: %s", rain_error_last());
		assert_true(tmp == 0);
		assert_true(removed == 0);
		return n;
	}

	snprintf(path, sizeof(path), "%s/store", f->dir);
	nfiles = 0;
	bad_modes = 0;
	assert_int_equal(nftw(path, count_one, 16, FTW_PHYS), 0);
	assert_int_equal(bad_modes, 0);
	return nfiles;
}

static void blob_file(struct fixture *f, const char *sha, char *out, size_t len)
{
	snprintf(out, len, "%s/store/sha256/%.2s/%s", f->dir, sha, sha);
}

/* Store data in pieces of at most chunk bytes. */
static void put(struct fixture *f, const void *data, size_t len, size_t chunk, bool md5,
		struct rain_blob_result *res)
{
	struct rain_blob_writer *w = NULL;
	const char *p = data;

	assert_int_equal(rain_blob_write_open(f->bs, md5, &w), 0);
	assert_non_null(w);
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		assert_int_equal(rain_blob_write(w, p + off, n), 0);
		assert_true(rain_blob_write_size(w) == (int64_t)(off + n));
	}
	if (rain_blob_write_commit(w, res) < 0)
		fail_msg("commit: %s", rain_error_last());
}

static void test_open(void **state)
{
	struct fixture *f = *state;
	struct rain_blob_store *bs = NULL;
	char path[128];
	struct stat st;

	/* opening the same store twice works */
	assert_int_equal(rain_blob_store_open(&bs, f->uri), 0);
	rain_blob_store_close(bs);
	FS_ONLY(f);
	/* the layout exists, private */
	snprintf(path, sizeof(path), "%s/store/sha256", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/store/tmp", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/store", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(count_files(f), 0);

	/* a bare directory works, opening twice too */
	assert_int_equal(rain_blob_store_open(&bs, path), 0);
	rain_blob_store_close(bs);
	rain_blob_store_close(NULL);

	bs = NULL;
	assert_int_equal(rain_blob_store_open(&bs, "gopher://bucket/images"), RAIN_EINVAL);
	assert_error_contains("unknown blob store in 'gopher://bucket/images' (known: file:DIR, "
			      "s3://HOST[:PORT]/BUCKET?credentials=FILE, "
			      "swift://HOST[:PORT]/CONTAINER?credentials=FILE)");
	assert_null(bs);
	assert_int_equal(rain_blob_store_open(&bs, "file:/proc/rain-cannot-be-here"), RAIN_EIO);
	assert_null(bs);
}

/* An object store's URI and credentials file are checked before any
 * request: what is wrong is named, a secret is never echoed. */
static void test_objstore_uri(void **state)
{
	struct fixture *f = *state;
	struct rain_blob_store *bs = NULL;
	char cred[128], uri[256];
	int fd;
	static const struct {
		const char *uri;
		int code;
		const char *msg;
	} bad[] = {
		{ "s3:bucket", RAIN_EINVAL, "expected s3://HOST[:PORT]/BUCKET" },
		{ "s3://host", RAIN_EINVAL, "expected s3://HOST[:PORT]/BUCKET" },
		{ "s3://host/a/b", RAIN_EINVAL, "one bucket name, no further path" },
		{ "s3://AKIA:hunter2@host/b", RAIN_EINVAL, "credentials do not go in the URI" },
		{ "s3://host/b?secret_key=hunter2", RAIN_EINVAL,
		  "credentials do not go in the URI ('secret_key=')" },
		{ "swift://host/c?key=hunter2", RAIN_EINVAL, "credentials do not go in the URI" },
		{ "s3://host/b?colour=red", RAIN_EINVAL, "unknown setting 'colour'" },
		{ "s3://host/b?part_size=1M", RAIN_EINVAL, "part_size=1M is not a size from 5M" },
		{ "s3://host/b?tls=maybe", RAIN_EINVAL, "tls=maybe is not yes or no" },
		{ "s3://host/b%2e?x=1", RAIN_EINVAL, "may hold only letters" },
		{ "s3://host/b", RAIN_EINVAL, "no credentials=FILE" },
		{ "swift://host/c", RAIN_EINVAL, "no credentials=FILE" },
		{ "s3://host/b?credentials=/nonexistent/cred", RAIN_ENOTFOUND,
		  "cannot open the credentials file /nonexistent/cred" },
	};

	FS_ONLY(f);   /* no server needed: once is enough */
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		rain_error_clear();
		if (rain_blob_store_open(&bs, bad[i].uri) != bad[i].code)
			fail_msg("%s: %s", bad[i].uri, rain_error_last());
		assert_error_contains(bad[i].msg);
		assert_null(strstr(rain_error_last(), "hunter2"));
		assert_null(bs);
	}
	/* a credentials file others can read is refused, so is a bad one */
	snprintf(cred, sizeof(cred), "%s/cred", f->dir);
	fd = open(cred, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "access_key = a\nsecret_key = hunter2\n", 36), 36);
	close(fd);
	assert_int_equal(chmod(cred, 0644), 0);
	snprintf(uri, sizeof(uri), "s3://127.0.0.1:1/b?credentials=%s", cred);
	assert_int_equal(rain_blob_store_open(&bs, uri), RAIN_EFORBIDDEN);
	assert_error_contains("has mode 0644: make it readable by its owner only");
	assert_int_equal(chmod(cred, 0600), 0);
	/* a store that is not there: unreachable, named */
	assert_int_equal(rain_blob_store_open(&bs, uri), RAIN_ENET);
	assert_error_contains("s3 store 127.0.0.1:1, bucket 'b'");
	assert_null(bs);
	snprintf(uri, sizeof(uri), "swift://127.0.0.1:1/c?credentials=%s&tls=no", cred);
	assert_int_equal(rain_blob_store_open(&bs, uri), RAIN_EINVAL);
	assert_error_contains(": unknown key 'access_key'");
	assert_null(strstr(rain_error_last(), "hunter2"));
}

static void test_known_digests(void **state)
{
	struct fixture *f = *state;
	struct rain_blob_result res;
	char path[256];
	struct stat st;

	put(f, "abc", 3, 3, false, &res);
	assert_string_equal(res.sha256, SHA_ABC);
	assert_string_equal(res.md5, "");          /* not asked for */
	assert_true(res.size == 3);

	/* byte by byte, with MD5: the same hash */
	put(f, "abc", 3, 1, true, &res);
	assert_string_equal(res.sha256, SHA_ABC);
	assert_string_equal(res.md5, MD5_ABC);
	assert_true(res.size == 3);

	put(f, MSG2, strlen(MSG2), 7, true, &res);
	assert_string_equal(res.sha256, SHA_MSG2);
	assert_true(res.size == (int64_t)strlen(MSG2));

	put(f, "", 0, 1, true, &res);
	assert_string_equal(res.sha256, SHA_EMPTY);
	assert_string_equal(res.md5, MD5_EMPTY);
	assert_true(res.size == 0);

	assert_int_equal(count_files(f), 3);
	FS_ONLY(f);
	/* stored under its hash, mode 0600 in a 0700 directory */
	blob_file(f, SHA_ABC, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 3);
	blob_file(f, SHA_EMPTY, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(count_files(f), 3);       /* checks every mode too */
}

static void test_large_matches_openssl(void **state)
{
	struct fixture *f = *state;
	size_t len = 5 * 1024 * 1024 + 123;
	unsigned char *data = malloc(len), md[32];
	struct rain_blob_writer *w = NULL;
	struct rain_blob_result res;
	char hex[65];
	unsigned int seed = 7;
	size_t off = 0;

	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)rand_r(&seed);
	assert_int_equal(EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL), 1);
	hex_encode(md, 32, hex);

	/* uneven pieces, a sync in the middle, then more data */
	assert_int_equal(rain_blob_write_open(f->bs, false, &w), 0);
	while (off < len) {
		size_t n = (size_t)(rand_r(&seed) % 300000) + 1;

		if (n > len - off)
			n = len - off;
		assert_int_equal(rain_blob_write(w, data + off, n), 0);
		off += n;
		if (off > len / 2 && off - n <= len / 2)
			assert_int_equal(rain_blob_write_sync(w), 0);
	}
	assert_int_equal(rain_blob_write(w, data, 0), 0);       /* zero bytes: no-op */
	assert_true(rain_blob_write_size(w) == (int64_t)len);
	/* read back before commit: across the 5 MiB mark (a part boundary
	 * of an object store), at the end, past the end */
	{
		unsigned char back[8192];
		int64_t at = 5 * 1024 * 1024 - 4096;

		if (rain_blob_write_pread(w, at, back, 4196) != 4196)
			fail_msg("read back: %s", rain_error_last());
		assert_memory_equal(back, data + at, 4196);
		assert_int_equal(rain_blob_write_pread(w, 17, back, 100), 100);
		assert_memory_equal(back, data + 17, 100);
		assert_int_equal(rain_blob_write_pread(w, (int64_t)len - 23, back, sizeof(back)), 23);
		assert_memory_equal(back, data + len - 23, 23);
		assert_int_equal(rain_blob_write_pread(w, (int64_t)len, back, 10), 0);
	}
	assert_int_equal(rain_blob_write_commit(w, &res), 0);
	assert_string_equal(res.sha256, hex);
	assert_true(res.size == (int64_t)len);

	/* read back in full through the reader */
	{
		struct rain_blob_reader rd;
		unsigned char *back = malloc(len);
		int64_t got = 0;

		assert_non_null(back);
		assert_int_equal(rain_blob_read_open(f->bs, hex, &rd), 0);
		assert_true(rd.size == (int64_t)len);
		while (got < rd.size) {
			ssize_t n = rain_blob_read(f->bs, &rd, got, back + got, 65536);

			assert_true(n > 0);
			got += n;
		}
		assert_memory_equal(back, data, len);
		/* ranges: one across the 5 MiB mark, the last byte */
		assert_int_equal(rain_blob_read(f->bs, &rd, 5 * 1024 * 1024 - 10, back, 20), 20);
		assert_memory_equal(back, data + 5 * 1024 * 1024 - 10, 20);
		assert_int_equal(rain_blob_read(f->bs, &rd, (int64_t)len - 1, back, 20), 1);
		assert_int_equal(back[0], data[len - 1]);
		rain_blob_read_close(f->bs, &rd);
		/* the collector's sweep leaves a published blob whole */
		assert_int_equal(count_files(f), 1);
		assert_int_equal(rain_blob_read_open(f->bs, hex, &rd), 0);
		assert_true(rd.size == (int64_t)len);
		for (got = 0; got < rd.size;) {
			ssize_t n = rain_blob_read(f->bs, &rd, got, back + got, 1 << 20);

			assert_true(n > 0);
			got += n;
		}
		assert_memory_equal(back, data, len);
		rain_blob_read_close(f->bs, &rd);
		free(back);
	}
	free(data);
}

static void digest_hex_of(const EVP_MD *md, const void *data, size_t len, char *hex)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(data, len, d, &n, md, NULL), 1);
	hex_encode(d, n, hex);
}

/* The writer's pipeline (a hasher thread fed by a ring of buffers, see
 * blob.c): whatever the pieces (one byte, odd sizes, around and across the
 * buffer size), with reads of what was written in between (which write
 * out a partial buffer), the digests are those of the data and the stored
 * bytes are the data. */
/* Blob sha reads back as the n bytes of data (back: n bytes to read into). */
static void read_equal(struct fixture *f, const char *sha, const unsigned char *data, size_t n,
		       unsigned char *back)
{
	struct rain_blob_reader rd;
	int64_t got = 0;

	assert_int_equal(rain_blob_read_open(f->bs, sha, &rd), 0);
	assert_true(rd.size == (int64_t)n);
	while (got < rd.size) {
		ssize_t m = rain_blob_read(f->bs, &rd, got, back + got, 1 << 20);

		assert_true(m > 0);
		got += m;
	}
	rain_blob_read_close(f->bs, &rd);
	assert_memory_equal(back, data, n);
}

static void test_pipeline_odd_chunks(void **state)
{
	static const size_t chunks[] = { 1, 7, 4093, 65537, 524287, 524288, 524289, 1048579 };
	struct fixture *f = *state;
	size_t len = 3 * 1024 * 1024 + 4099;
	unsigned char *data = malloc(len), *back = malloc(len);
	char sha[65], md5[33];
	unsigned int seed = 11;

	assert_non_null(data);
	assert_non_null(back);
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)rand_r(&seed);
	for (size_t c = 0; c < sizeof(chunks) / sizeof(*chunks); c++) {
		/* byte by byte over a smaller blob: still several buffers */
		size_t n = chunks[c] == 1 ? 1300 * 1024 + 5 : len - c;
		struct rain_blob_writer *w = NULL;
		struct rain_blob_result res;
		size_t off = 0, reads = 0;

		digest_hex_of(EVP_sha256(), data, n, sha);
		digest_hex_of(EVP_md5(), data, n, md5);
		assert_int_equal(rain_blob_write_open(f->bs, c % 2 == 0, &w), 0);
		while (off < n) {
			size_t k = n - off < chunks[c] ? n - off : chunks[c];

			assert_int_equal(rain_blob_write(w, data + off, k), 0);
			off += k;
			assert_true(rain_blob_write_size(w) == (int64_t)off);
			/* now and then, read back a piece of what was written */
			if ((off / chunks[c]) % 97 == 3 && reads < 8) {
				unsigned char piece[64];
				int64_t at = (int64_t)(off > 70 ? off - 70 : 0);
				ssize_t m = rain_blob_write_pread(w, at, piece, sizeof(piece));

				assert_true(m == (ssize_t)((int64_t)off - at < 64 ? (int64_t)off - at : 64));
				assert_memory_equal(piece, data + at, (size_t)m);
				reads++;
			}
		}
		if (rain_blob_write_commit(w, &res) < 0)
			fail_msg("commit: %s", rain_error_last());
		assert_string_equal(res.sha256, sha);
		if (c % 2 == 0)
			assert_string_equal(res.md5, md5);
		else
			assert_string_equal(res.md5, "");
		assert_true(res.size == (int64_t)n);
		read_equal(f, sha, data, n, back);
		assert_int_equal(rain_blob_remove(f->bs, sha), 0);
	}
	assert_int_equal(count_files(f), 0);
	free(data);
	free(back);
}

/* An upload given up at any point of the pipeline (the hasher idle, busy,
 * or with a full queue, the caller waiting) leaves nothing behind. */
static void test_pipeline_abort(void **state)
{
	static const size_t stops[] = { 0, 1, 524288, 524289, 1572864 + 17, 3 * 1048576, 4194304 + 1 };
	struct fixture *f = *state;
	size_t len = 5 * 1048576;
	unsigned char *data = malloc(len);
	unsigned int seed = 5;

	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)rand_r(&seed);
	for (size_t s = 0; s < sizeof(stops) / sizeof(*stops); s++) {
		struct rain_blob_writer *w = NULL;
		char sha[65];
		bool yes = true;

		assert_int_equal(rain_blob_write_open(f->bs, s % 2 == 1, &w), 0);
		for (size_t off = 0; off < stops[s]; off += 65536)
			assert_int_equal(rain_blob_write(w, data + off,
							 stops[s] - off < 65536 ? stops[s] - off : 65536), 0);
		rain_blob_write_abort(w);
		assert_int_equal(count_files(f), 0);
		digest_hex_of(EVP_sha256(), data, stops[s], sha);
		assert_int_equal(rain_blob_exists(f->bs, sha, &yes), 0);
		assert_false(yes);
	}
	free(data);
}

/* A backend write that fails (the file size limit: EFBIG) after the data
 * was taken: the error comes back from a later write or the commit, and
 * nothing is published. */
static void test_pipeline_write_error(void **state)
{
	struct fixture *f = *state;
	size_t len = 4 * 1048576;
	unsigned char *data = calloc(1, len);
	struct rain_blob_writer *w = NULL;
	struct rain_blob_result res;
	struct rlimit old, lim = { 1048576, 1048576 };
	void (*old_handler)(int);
	int r = 0;

	assert_non_null(data);
	if (!f->fs) {
		/* a file size limit is the filesystem's failure */
		free(data);
		skip();
	}
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim.rlim_max = old.rlim_max;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(rain_blob_write_open(f->bs, false, &w), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (size_t off = 0; off < len && r == 0; off += 100000)
		r = rain_blob_write(w, data + off, len - off < 100000 ? len - off : 100000);
	if (r == 0)
		r = rain_blob_write_commit(w, &res);
	else
		rain_blob_write_abort(w);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);
	assert_int_equal(r, RAIN_EIO);
	assert_error_contains("blob data");
	assert_int_equal(count_files(f), 0);
	free(data);
}

static void test_dedup(void **state)
{
	struct fixture *f = *state;
	struct rain_blob_result a, b;
	char path[256];
	struct stat st1, st2;

	put(f, "abc", 3, 3, false, &a);
	put(f, "abc", 3, 2, true, &b);
	assert_string_equal(a.sha256, b.sha256);
	assert_string_equal(b.md5, MD5_ABC);
	assert_int_equal(count_files(f), 1);
	FS_ONLY(f);
	blob_file(f, SHA_ABC, path, sizeof(path));
	put(f, "abc", 3, 3, false, &a);
	assert_int_equal(stat(path, &st1), 0);
	put(f, "abc", 3, 2, true, &b);
	/* the first copy is the one kept */
	assert_int_equal(stat(path, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino);
	assert_int_equal(st2.st_nlink, 1);
}

static void test_abort(void **state)
{
	struct fixture *f = *state;
	struct rain_blob_writer *w = NULL;
	bool yes = true;

	assert_int_equal(rain_blob_write_open(f->bs, true, &w), 0);
	assert_int_equal(rain_blob_write(w, "abc", 3), 0);
	assert_int_equal(rain_blob_write_sync(w), 0);
	rain_blob_write_abort(w);
	assert_int_equal(count_files(f), 0);
	assert_int_equal(rain_blob_exists(f->bs, SHA_ABC, &yes), 0);
	assert_false(yes);
	rain_blob_write_abort(NULL);

	/* nothing is visible before commit, not even in pieces */
	assert_int_equal(rain_blob_write_open(f->bs, false, &w), 0);
	assert_int_equal(rain_blob_write(w, "abc", 3), 0);
	assert_int_equal(rain_blob_write_sync(w), 0);
	assert_int_equal(rain_blob_exists(f->bs, SHA_ABC, &yes), 0);
	assert_false(yes);
	if (f->fs) {
		char tmp[128];
		int n = count_files(f);

		/* a named temporary may exist (no O_TMPFILE), only in tmp/ */
		snprintf(tmp, sizeof(tmp), "%s/store/sha256", f->dir);
		nfiles = 0;
		assert_int_equal(nftw(tmp, count_one, 16, FTW_PHYS), 0);
		assert_int_equal(nfiles, 0);
		assert_true(n <= 1);
	}
	rain_blob_write_abort(w);
	assert_int_equal(count_files(f), 0);
}

static void test_read(void **state)
{
	struct fixture *f = *state;
	struct rain_blob_result res;
	struct rain_blob_reader rd;
	char buf[16];

	put(f, "hello, world", 12, 5, false, &res);
	memset(&rd, 0, sizeof(rd));
	assert_int_equal(rain_blob_read_open(f->bs, res.sha256, &rd), 0);
	assert_true(f->fs ? rd.fd >= 0 : rd.fd == -1);
	assert_true(rd.size == 12);

	memset(buf, 0, sizeof(buf));
	assert_int_equal(rain_blob_read(f->bs, &rd, 0, buf, sizeof(buf)), 12);
	assert_string_equal(buf, "hello, world");
	memset(buf, 0, sizeof(buf));
	assert_int_equal(rain_blob_read(f->bs, &rd, 7, buf, 3), 3);
	assert_string_equal(buf, "wor");
	assert_int_equal(rain_blob_read(f->bs, &rd, 12, buf, 4), 0);   /* end */
	assert_int_equal(rain_blob_read(f->bs, &rd, 100, buf, 4), 0);
	if (!f->fs) {
		rain_blob_read_close(f->bs, &rd);
		rain_blob_read_close(f->bs, &rd);    /* twice is harmless */
		/* an empty blob reads as such */
		put(f, "", 0, 1, false, &res);
		assert_int_equal(rain_blob_read_open(f->bs, res.sha256, &rd), 0);
		assert_true(rd.size == 0);
		assert_int_equal(rain_blob_read(f->bs, &rd, 0, buf, 4), 0);
		rain_blob_read_close(f->bs, &rd);
		return;
	}

	/* the descriptor is usable directly (sendfile) and read-only */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(pread(rd.fd, buf, 5, 0), 5);
	assert_string_equal(buf, "hello");
	assert_int_equal(write(rd.fd, "x", 1), -1);
	assert_true(fcntl(rd.fd, F_GETFD) & FD_CLOEXEC);

	rain_blob_read_close(f->bs, &rd);
	assert_int_equal(rd.fd, -1);
	rain_blob_read_close(f->bs, &rd);    /* twice is harmless */
}

static void test_read_errors(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"", "abc", "../../../../etc/passwd",
		"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
		SHA_ABC "0",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		"../7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	};
	struct rain_blob_reader rd = { .fd = -1 };
	bool yes;

	assert_int_equal(rain_blob_read_open(f->bs, SHA_ABC, &rd), RAIN_ENOTFOUND);
	assert_error_contains(SHA_ABC);
	assert_int_equal(rd.fd, -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		rain_error_clear();
		assert_int_equal(rain_blob_read_open(f->bs, bad[i], &rd), RAIN_EINVAL);
		assert_error_contains("is not a SHA-256 hex digest");
		assert_int_equal(rain_blob_exists(f->bs, bad[i], &yes), RAIN_EINVAL);
		assert_int_equal(rain_blob_remove(f->bs, bad[i]), RAIN_EINVAL);
	}
	assert_int_equal(rain_blob_read_open(f->bs, NULL, &rd), RAIN_EINVAL);
}

static void test_exists_remove(void **state)
{
	struct fixture *f = *state;
	struct rain_blob_result a, b;
	bool yes = false;
	char path[256];

	put(f, "abc", 3, 3, false, &a);
	put(f, MSG2, strlen(MSG2), 100, false, &b);
	assert_int_equal(rain_blob_exists(f->bs, SHA_ABC, &yes), 0);
	assert_true(yes);
	assert_int_equal(rain_blob_exists(f->bs, SHA_EMPTY, &yes), 0);
	assert_false(yes);

	assert_int_equal(rain_blob_remove(f->bs, SHA_ABC), 0);
	assert_int_equal(rain_blob_exists(f->bs, SHA_ABC, &yes), 0);
	assert_false(yes);
	blob_file(f, SHA_ABC, path, sizeof(path));
	if (f->fs)
		assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(rain_blob_exists(f->bs, SHA_MSG2, &yes), 0);
	assert_true(yes);
	assert_int_equal(count_files(f), 1);
	/* removing what is gone is fine */
	assert_int_equal(rain_blob_remove(f->bs, SHA_ABC), 0);

	/* storing it again after removal works */
	put(f, "abc", 3, 3, false, &a);
	assert_int_equal(rain_blob_exists(f->bs, SHA_ABC, &yes), 0);
	assert_true(yes);
}

/* is_referenced callback: the hashes in a NULL-terminated list. */
static bool in_keep_list(void *ud, const char *sha)
{
	const char *const *keep = ud;

	for (; *keep; keep++)
		if (!strcmp(*keep, sha))
			return true;
	return false;
}

/* A process that opens the store, writes len bytes, syncs and dies
 * before commit or abort, leaving what it stored behind. */
static void crashed_upload(struct fixture *f, size_t len)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rain_blob_store *bs = NULL;
		struct rain_blob_writer *w = NULL;
		char *data = calloc(1, len);

		/* the sync: what was written reached the store (the writer's
		 * pipeline would still hold the last buffers) */
		if (!data || rain_blob_store_open(&bs, f->uri) < 0 ||
		    rain_blob_write_open(bs, false, &w) < 0 || rain_blob_write(w, data, len) < 0 ||
		    rain_blob_write_sync(w) < 0) {
			fprintf(stderr, "crashed upload: %s\n", rain_error_last());
			_exit(1);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_gc(void **state)
{
	struct fixture *f = *state;
	struct rain_blob_result a, b, c;
	const char *keep[] = { SHA_MSG2, NULL };
	int64_t tmp_removed = -1, blobs_removed = -1;
	char path[256];
	struct rain_blob_reader rd;
	bool yes;
	int fd;

	put(f, "abc", 3, 3, false, &a);
	put(f, MSG2, strlen(MSG2), 100, false, &b);
	put(f, "", 0, 1, false, &c);

	if (f->fs) {
		/* named temporaries a crash left behind */
		snprintf(path, sizeof(path), "%s/store/tmp/upload.AbC123", f->dir);
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "partial", 7), 7);
		close(fd);
		snprintf(path, sizeof(path), "%s/store/tmp/upload.zzzzzz", f->dir);
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(count_files(f), 5);
	} else {
		/* two uploads that die after storing a part and a sync (the
		 * store's part_size is 5M) before commit or abort */
		for (int i = 0; i < 2; i++)
			crashed_upload(f, 5 * 1024 * 1024 + 1 + (size_t)i);
	}

	assert_int_equal(rain_blob_store_gc(f->bs, in_keep_list, keep, &tmp_removed,
					    &blobs_removed), 0);
	assert_true(tmp_removed == 2);
	assert_true(blobs_removed == 2);
	assert_int_equal(count_files(f), 1);
	assert_int_equal(rain_blob_exists(f->bs, SHA_MSG2, &yes), 0);
	assert_true(yes);
	assert_int_equal(rain_blob_exists(f->bs, SHA_ABC, &yes), 0);
	assert_false(yes);
	assert_int_equal(rain_blob_exists(f->bs, SHA_EMPTY, &yes), 0);
	assert_false(yes);
	/* the kept blob is intact */
	assert_int_equal(rain_blob_read_open(f->bs, SHA_MSG2, &rd), 0);
	assert_true(rd.size == (int64_t)strlen(MSG2));
	rain_blob_read_close(f->bs, &rd);

	/* a second run finds nothing; NULL counters are fine */
	assert_int_equal(rain_blob_store_gc(f->bs, in_keep_list, keep, &tmp_removed,
					    &blobs_removed), 0);
	assert_true(tmp_removed == 0);
	assert_true(blobs_removed == 0);
	assert_int_equal(rain_blob_store_gc(f->bs, in_keep_list, keep, NULL, NULL), 0);
	assert_int_equal(count_files(f), 1);
}

static void test_gc_ignores_strangers(void **state)
{
	/* files that are not blobs are not the collector's business */
	struct fixture *f = *state;
	const char *keep[] = { NULL };
	int64_t tmp_removed = -1, blobs_removed = -1;
	char path[256];
	int fd;

	if (!f->fs)
		skip();

	snprintf(path, sizeof(path), "%s/store/sha256/README", f->dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/store/sha256/ab", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/store/sha256/ab/not-a-hash", f->dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	/* a hash filed under the wrong prefix is not a blob of this store */
	snprintf(path, sizeof(path), "%s/store/sha256/ab/%s", f->dir, SHA_ABC);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(rain_blob_store_gc(f->bs, in_keep_list, keep, &tmp_removed,
					    &blobs_removed), 0);
	assert_true(tmp_removed == 0);
	assert_true(blobs_removed == 0);
	assert_int_equal(count_files(f), 3);
}

static void test_commit_frees_writer(void **state)
{
	/* commit and abort free the writer; the sanitizer build checks it.
	 * Many open writers at once work, each with its own temporary. */
	struct fixture *f = *state;
	struct rain_blob_writer *w[8];
	struct rain_blob_result res;
	char data[8];

	for (int i = 0; i < 8; i++) {
		assert_int_equal(rain_blob_write_open(f->bs, i % 2, &w[i]), 0);
		data[i] = (char)('a' + i);
	}
	for (int i = 0; i < 8; i++)
		assert_int_equal(rain_blob_write(w[i], data, (size_t)i + 1), 0);
	for (int i = 0; i < 8; i++) {
		if (i % 3 == 0) {
			rain_blob_write_abort(w[i]);
			continue;
		}
		assert_int_equal(rain_blob_write_commit(w[i], &res), 0);
		assert_true(res.size == i + 1);
		assert_int_equal(strlen(res.md5), i % 2 ? 32 : 0);
	}
	assert_int_equal(count_files(f), 5);
}

/* Blocks of zeros are stored as holes: the blob reads back the same,
 * whatever the pieces it came in, and takes the space of its data. */
static void test_sparse(void **state)
{
	static const size_t chunks[] = { 1, 4095, 4096, 65537, 1 << 20 };
	/* islands of data, at and across block boundaries */
	static const size_t islands[][2] = {
		{ 0, 10 }, { 4090, 12 }, { 65536, 4096 }, { 1 << 20, 1 }, { 2097151, 2 },
	};
	struct fixture *f = *state;
	size_t len = 3 * 1024 * 1024 + 4099;
	unsigned char *data = calloc(1, len), *back = malloc(len);
	unsigned int seed = 5;

	assert_non_null(data);
	assert_non_null(back);
	for (size_t i = 0; i < sizeof(islands) / sizeof(*islands); i++)
		for (size_t k = 0; k < islands[i][1]; k++)
			data[islands[i][0] + k] = (unsigned char)(rand_r(&seed) | 1);
	for (size_t c = 0; c < sizeof(chunks) / sizeof(*chunks); c++) {
		/* each round a different length: the last a hole, or data */
		size_t n = c % 2 ? len : 2097153;
		struct rain_blob_result res;
		char sha[65], path[300];
		struct stat st;

		digest_hex_of(EVP_sha256(), data, n, sha);
		put(f, data, n, chunks[c], false, &res);
		assert_string_equal(res.sha256, sha);
		assert_true(res.size == (int64_t)n);
		read_equal(f, sha, data, n, back);
		if (f->fs) {
			snprintf(path, sizeof(path), "%s/store/sha256/%.2s/%s", f->dir, sha, sha);
			assert_int_equal(stat(path, &st), 0);
			assert_true(st.st_size == (off_t)n);
			/* 5 blocks of data (and the file system's own) */
			if (st.st_blocks * 512 > 256 * 1024)
				fail_msg("chunks of %zu: %lld bytes allocated for %zu", chunks[c],
					 (long long)st.st_blocks * 512, n);
		}
		assert_int_equal(rain_blob_remove(f->bs, sha), 0);
	}
	free(data);
	free(back);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open),
		T(test_objstore_uri),
		T(test_known_digests),
		T(test_large_matches_openssl),
		T(test_pipeline_odd_chunks),
		T(test_pipeline_abort),
		T(test_pipeline_write_error),
		T(test_dedup),
		T(test_abort),
		T(test_read),
		T(test_read_errors),
		T(test_exists_remove),
		T(test_gc),
		T(test_gc_ignores_strangers),
		T(test_commit_frees_writer),
		T(test_sparse),
	};

	const char *env = getenv("RAIN_TEST_BLOBS");
	char *extra = strdup(env ? env : ""), *save = NULL;
	int failed;

	current_uri = "file:%s/store";
	current_fs = true;
	failed = cmocka_run_group_tests_name("file", tests, NULL, NULL);
	current_fs = false;
	for (char *uri = strtok_r(extra, " ", &save); uri; uri = strtok_r(NULL, " ", &save)) {
		current_uri = uri;
		failed += cmocka_run_group_tests_name(uri, tests, NULL, NULL);
	}
	free(extra);
	return failed;
}
