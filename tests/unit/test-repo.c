/* Unit tests for src/lib/repo/repo.c in a temporary data directory: image
 * creation, the upload state machine, blob sharing, deletion rules,
 * deactivation, downloads, locking, crash recovery and quotas (also
 * under concurrent uploads and creates). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "rain/diskfmt.h"
#include "rain/error.h"
#include "rain/repo.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define SHA_WORLD "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"
#define SHA_HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define MD5_HELLO "5d41402abc4b2a76b9719d911017c592"
#define GiB (1024LL * 1024 * 1024)

static const struct rain_who alice = { .owner = "alice", .admin = false };
static const struct rain_who bob = { .owner = "bob", .admin = false };
static const struct rain_who admin = { .owner = "admin", .admin = true };

struct fixture {
	char base[64];
	char data[96];
	struct rain_repo_options opts;
	struct rain_repo *repo;
};

static int reopen(struct fixture *f, struct rain_repo_recovery *rec)
{
	rain_repo_close(f->repo);
	f->repo = NULL;
	return rain_repo_open(&f->repo, &f->opts, rec);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->base, sizeof(f->base), "/tmp/rain-test-repo.XXXXXX");
	if (!mkdtemp(f->base))
		return -1;
	snprintf(f->data, sizeof(f->data), "%s/data", f->base);
	f->opts.data_dir = f->data;
	umask(022);
	if (rain_repo_open(&f->repo, &f->opts, NULL) < 0) {
		fprintf(stderr, "open: %s\n", rain_error_last());
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rain_repo_close(f->repo);
	test_rmtree(f->base);
	free(f);
	return 0;
}

static int nfiles;

static int count_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_F)
		nfiles++;
	return 0;
}

/* Regular files under data/blobs (blobs and temporaries). */
static int blob_files(struct fixture *f)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/blobs", f->data);
	nfiles = 0;
	assert_int_equal(nftw(path, count_one, 16, FTW_PHYS), 0);
	return nfiles;
}

static struct rain_image *create(struct fixture *f, const struct rain_who *who, const char *json)
{
	json_error_t err;
	json_t *body = json_loads(json, 0, &err);
	struct rain_image *img = NULL;
	int r;

	if (!body)
		fail_msg("bad JSON in test: %s", err.text);
	r = rain_repo_image_create(f->repo, who, body, &img);
	json_decref(body);
	if (r < 0)
		fail_msg("create %s: %s", json, rain_error_last());
	return img;
}

static int try_create(struct fixture *f, const struct rain_who *who, const char *json)
{
	json_t *body = json_loads(json, 0, NULL);
	struct rain_image *img = NULL;
	int r;

	assert_non_null(body);
	r = rain_repo_image_create(f->repo, who, body, &img);
	json_decref(body);
	rain_image_free(img);
	return r;
}

static struct rain_image *get(struct fixture *f, const char *id)
{
	struct rain_image *img = NULL;

	if (rain_repo_image_get(f->repo, &admin, id, &img) < 0)
		fail_msg("get %s: %s", id, rain_error_last());
	return img;
}

static enum rain_image_status status_of(struct fixture *f, const char *id)
{
	struct rain_image *img = get(f, id);
	enum rain_image_status s = img->status;

	rain_image_free(img);
	return s;
}

static size_t count_images(struct fixture *f)
{
	struct rain_image_query q = { .limit = 1000, .requester_admin = true, .include_community = true,
				      .include_hidden = true };
	struct rain_image **imgs = NULL;
	size_t n = 0;
	bool more;

	assert_int_equal(rain_catalog_image_list(rain_repo_catalog(f->repo), &q, &imgs, &n, &more), 0);
	rain_catalog_list_free(imgs, n);
	return n;
}

/* Upload all of data in chunks; 0 or the first error (after which the
 * upload has been aborted, as the daemon does). */
static int upload(struct fixture *f, const char *id, const void *data, size_t len,
		  int64_t expected, struct rain_image **out)
{
	struct rain_upload *up = NULL;
	const char *p = data;
	int r = rain_repo_upload_begin(f->repo, &alice, id, expected, &up);

	if (r < 0)
		return r;
	for (size_t off = 0; off < len; off += 4096) {
		r = rain_repo_upload_write(up, p + off, len - off < 4096 ? len - off : 4096);
		if (r < 0) {
			char msg[1024];

			snprintf(msg, sizeof(msg), "%s", rain_error_last());
			rain_repo_upload_abort(up);
			rain_error_set(0, "%s", msg);
			return r;
		}
	}
	r = rain_repo_upload_finish(up, out);
	return r;
}

static struct rain_image *upload_ok(struct fixture *f, const char *id, const void *data, size_t len)
{
	struct rain_image *img = NULL;

	if (upload(f, id, data, len, (int64_t)len, &img) < 0)
		fail_msg("upload: %s", rain_error_last());
	return img;
}

static struct rain_image *raw_image(struct fixture *f, const char *name)
{
	char json[256];

	snprintf(json, sizeof(json),
		 "{\"name\": \"%s\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}", name);
	return create(f, &alice, json);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];

	assert_int_equal(EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL), 1);
	hex_encode(md, 32, out);
}

/* ---- open, lock ---- */

static void test_open_layout(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct stat st;

	assert_int_equal(stat(f->data, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/catalog.db", f->data);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/lock", f->data);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/blobs/sha256", f->data);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_non_null(rain_repo_catalog(f->repo));
	assert_int_equal(count_images(f), 0);
	rain_repo_close(NULL);
}

static void test_lock(void **state)
{
	struct fixture *f = *state;
	struct rain_repo *second = NULL;
	struct rain_image *img = raw_image(f, "kept");

	rain_error_clear();
	assert_int_equal(rain_repo_open(&second, &f->opts, NULL), RAIN_ECONFLICT);
	assert_error_contains("in use");
	assert_null(second);
	/* the refused open did not disturb the first one */
	rain_image_free(get(f, img->id));

	rain_repo_close(f->repo);
	f->repo = NULL;
	assert_int_equal(rain_repo_open(&second, &f->opts, NULL), 0);
	f->repo = second;
	rain_image_free(get(f, img->id));
	rain_image_free(img);
}

static void test_open_bad_dir(void **state)
{
	struct fixture *f = *state;
	struct rain_repo_options opts = { 0 };
	struct rain_repo *repo = NULL;
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/a-file", f->base);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	strcat(path, "/data");
	opts.data_dir = path;
	assert_int_equal(rain_repo_open(&repo, &opts, NULL), RAIN_EIO);
	assert_null(repo);
}

/* ---- create, get, patch, tags ---- */

static void test_create(void **state)
{
	struct fixture *f = *state;
	int64_t before = time_now_us(), after;
	struct rain_image *img, *got;

	img = create(f, &alice,
		     "{\"name\": \"cirros\", \"disk_format\": \"qcow2\","
		     " \"container_format\": \"bare\", \"min_disk\": 1, \"min_ram\": 64,"
		     " \"tags\": [\"t1\", \"t2\"], \"os_distro\": \"cirros\","
		     " \"protected\": false, \"visibility\": \"private\"}");
	after = time_now_us();
	assert_true(uuid_is_valid(img->id));
	assert_int_equal(img->id[14], '4');
	for (int i = 0; img->id[i]; i++)
		assert_true(img->id[i] < 'A' || img->id[i] > 'F');
	assert_string_equal(img->owner, "alice");
	assert_string_equal(img->name, "cirros");
	assert_int_equal(img->status, RAIN_STATUS_QUEUED);
	assert_int_equal(img->visibility, RAIN_VIS_PRIVATE);
	assert_string_equal(img->disk_format, "qcow2");
	assert_true(img->min_disk == 1 && img->min_ram == 64);
	assert_int_equal(img->ntags, 2);
	assert_string_equal(rain_image_prop_get(img, "os_distro"), "cirros");
	assert_true(img->size == -1);
	assert_null(img->os_hash_value);
	assert_true(img->created_at >= before && img->created_at <= after);
	assert_true(img->updated_at == img->created_at);

	got = get(f, img->id);
	assert_string_equal(got->owner, "alice");
	assert_string_equal(got->name, "cirros");
	assert_true(got->created_at == img->created_at);
	assert_true(rain_image_has_tag(got, "t2"));
	assert_string_equal(rain_image_prop_get(got, "os_distro"), "cirros");
	rain_image_free(got);
	rain_image_free(img);

	/* an empty body makes a bare queued image, visibility shared */
	img = create(f, &bob, "{}");
	assert_int_equal(img->visibility, RAIN_VIS_SHARED);
	assert_null(img->name);
	assert_string_equal(img->owner, "bob");
	rain_image_free(img);
	assert_int_equal(count_images(f), 2);
}

static void test_create_refused(void **state)
{
	struct fixture *f = *state;
	json_t *arr = json_array();
	struct rain_image *img = NULL;

	rain_error_clear();
	assert_int_equal(try_create(f, &alice, "{\"name\": \"x\", \"owner\": \"mallory\"}"),
			 RAIN_EFORBIDDEN);
	assert_error_contains("owner");
	assert_int_equal(try_create(f, &alice, "{\"status\": \"active\"}"), RAIN_EFORBIDDEN);
	assert_int_equal(try_create(f, &alice, "{\"size\": 5}"), RAIN_EFORBIDDEN);
	assert_int_equal(try_create(f, &alice, "{\"os_hash_value\": \"" SHA_HELLO "\"}"),
			 RAIN_EFORBIDDEN);
	assert_int_equal(try_create(f, &alice, "{\"min_disk\": -1}"), RAIN_EINVAL);
	assert_int_equal(try_create(f, &alice, "{\"disk_format\": \"exe\"}"), RAIN_EINVAL);
	assert_int_equal(try_create(f, &alice, "{\"os_distro\": 7}"), RAIN_EINVAL);
	assert_int_equal(try_create(f, &alice, "{\"name\": \"../../etc\"}"), RAIN_EINVAL);
	assert_int_equal(rain_repo_image_create(f->repo, &alice, arr, &img), RAIN_EINVAL);
	assert_null(img);
	json_decref(arr);
	assert_int_equal(count_images(f), 0);
}

static void test_create_ids(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"{\"id\": \"not-a-uuid\"}",
		"{\"id\": \"\"}",
		"{\"id\": 5}",
		"{\"id\": null}",
		"{\"id\": \"{7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f}\"}",
		"{\"id\": \"7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f0\"}",
		"{\"id\": \"../../../../../../../../../etc/passwd\"}",
	};
	struct rain_image *img, *got;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		rain_error_clear();
		if (try_create(f, &alice, bad[i]) != RAIN_EINVAL)
			fail_msg("%s accepted", bad[i]);
		assert_error_contains("'id' must be a UUID");
	}
	assert_int_equal(count_images(f), 0);

	/* a client's id is kept, in canonical (lower) case */
	img = create(f, &alice, "{\"id\": \"7D5C3A6E-2B1F-4E0A-9C3D-1A2B3C4D5E6F\", \"name\": \"mine\"}");
	assert_string_equal(img->id, "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f");
	got = get(f, "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f");
	assert_string_equal(got->name, "mine");
	rain_image_free(got);
	rain_image_free(img);

	/* taken: in either case */
	rain_error_clear();
	assert_int_equal(try_create(f, &bob, "{\"id\": \"7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f\"}"),
			 RAIN_EEXISTS);
	assert_error_contains("7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f");
	assert_int_equal(try_create(f, &bob, "{\"id\": \"7D5C3A6E-2B1F-4E0A-9C3D-1A2B3C4D5E6F\"}"),
			 RAIN_EEXISTS);
	got = get(f, "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f");
	assert_string_equal(got->owner, "alice");
	rain_image_free(got);
	assert_int_equal(count_images(f), 1);
}

static void test_create_visibility(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img;

	rain_error_clear();
	assert_int_equal(try_create(f, &alice, "{\"visibility\": \"public\"}"), RAIN_EFORBIDDEN);
	assert_error_contains("not authorized to publicize");
	assert_int_equal(count_images(f), 0);

	img = create(f, &admin, "{\"visibility\": \"public\"}");
	assert_int_equal(img->visibility, RAIN_VIS_PUBLIC);
	assert_string_equal(img->owner, "admin");
	rain_image_free(img);
	img = create(f, &alice, "{\"visibility\": \"community\"}");
	assert_int_equal(img->visibility, RAIN_VIS_COMMUNITY);
	rain_image_free(img);
	img = create(f, &alice, "{\"visibility\": \"private\"}");
	assert_int_equal(img->visibility, RAIN_VIS_PRIVATE);
	rain_image_free(img);
	assert_int_equal(try_create(f, &alice, "{\"visibility\": \"everyone\"}"), RAIN_EINVAL);
}

static void test_get_bad_ids(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = (struct rain_image *)0x1;

	assert_int_equal(rain_repo_image_get(f->repo, &admin, "../catalog.db", &img), RAIN_ENOTFOUND);
	assert_int_equal(rain_repo_image_get(f->repo, &admin, "", &img), RAIN_ENOTFOUND);
	assert_int_equal(rain_repo_image_get(f->repo, &admin, "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f", &img),
			 RAIN_ENOTFOUND);
	assert_error_contains("7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f");
	assert_ptr_equal(img, (struct rain_image *)0x1);
}

static int patch(struct fixture *f, const struct rain_who *who, const char *id,
		 const char *text, struct rain_image **out)
{
	struct rain_jsonpatch *p = NULL;
	int r;

	assert_int_equal(rain_jsonpatch_parse(text, strlen(text), &p), 0);
	r = rain_repo_image_patch(f->repo, who, id, p, out);
	rain_jsonpatch_free(p);
	return r;
}

static void test_patch(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "before"), *out = NULL, *got;

	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"after\"},"
			       " {\"op\":\"add\",\"path\":\"/os_distro\",\"value\":\"debian\"}]",
			       &out), 0);
	assert_non_null(out);
	assert_string_equal(out->name, "after");
	assert_string_equal(rain_image_prop_get(out, "os_distro"), "debian");
	assert_true(out->revision == 1);
	assert_true(out->updated_at >= img->updated_at);
	got = get(f, img->id);
	assert_string_equal(got->name, "after");
	assert_true(got->revision == 1);
	assert_true(got->updated_at == out->updated_at);
	rain_image_free(got);
	rain_image_free(out);

	/* no out pointer is fine */
	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"remove\",\"path\":\"/os_distro\"}]", NULL), 0);

	/* a failing patch stores nothing, not even its first operations */
	out = NULL;
	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"half\"},"
			       " {\"op\":\"replace\",\"path\":\"/nope\",\"value\":\"x\"}]",
			       &out), RAIN_ECONFLICT);
	assert_null(out);
	rain_error_clear();
	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/visibility\",\"value\":\"public\"}]",
			       NULL), RAIN_EFORBIDDEN);
	assert_error_contains("publicize");
	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/owner\",\"value\":\"bob\"}]",
			       NULL), RAIN_EFORBIDDEN);
	got = get(f, img->id);
	assert_string_equal(got->name, "after");
	assert_int_equal(got->visibility, RAIN_VIS_SHARED);
	assert_string_equal(got->owner, "alice");
	assert_null(rain_image_prop_get(got, "os_distro"));
	assert_true(got->revision == 2);
	rain_image_free(got);

	assert_int_equal(patch(f, &admin, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/visibility\",\"value\":\"public\"}]",
			       NULL), 0);
	/* once public, the owner may still edit other attributes ... */
	out = NULL;
	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"still mine\"}]",
			       &out), 0);
	assert_string_equal(out->name, "still mine");
	assert_int_equal(out->visibility, RAIN_VIS_PUBLIC);
	rain_image_free(out);
	/* ... and take it private again, but not make it public herself */
	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/visibility\",\"value\":\"public\"}]",
			       NULL), RAIN_EFORBIDDEN);
	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/visibility\",\"value\":\"private\"}]",
			       NULL), 0);
	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/visibility\",\"value\":\"public\"},"
			       " {\"op\":\"replace\",\"path\":\"/visibility\",\"value\":\"shared\"}]",
			       NULL), 0);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_QUEUED);
	got = get(f, img->id);
	assert_int_equal(got->visibility, RAIN_VIS_SHARED);
	rain_image_free(got);
	assert_int_equal(patch(f, &alice, "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f", "[]", NULL),
			 RAIN_ENOTFOUND);
	rain_image_free(img);
}

static void test_tags(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *got;

	assert_int_equal(rain_repo_tag_add(f->repo, &admin, img->id, "web"), 0);
	assert_int_equal(rain_repo_tag_add(f->repo, &admin, img->id, "db"), 0);
	got = get(f, img->id);
	assert_int_equal(got->ntags, 2);
	assert_true(rain_image_has_tag(got, "web") && rain_image_has_tag(got, "db"));
	assert_true(got->revision == 2);
	rain_image_free(got);

	/* adding a tag that is there writes nothing */
	assert_int_equal(rain_repo_tag_add(f->repo, &admin, img->id, "web"), 0);
	got = get(f, img->id);
	assert_true(got->revision == 2);
	rain_image_free(got);

	assert_int_equal(rain_repo_tag_remove(f->repo, &admin, img->id, "web"), 0);
	rain_error_clear();
	assert_int_equal(rain_repo_tag_remove(f->repo, &admin, img->id, "web"), RAIN_ENOTFOUND);
	assert_string_equal(rain_error_last(), "Tag web not found");
	assert_int_equal(rain_repo_tag_add(f->repo, &admin, img->id, ""), RAIN_EINVAL);
	assert_int_equal(rain_repo_tag_add(f->repo, &admin, img->id, "a\nb"), RAIN_EINVAL);
	assert_int_equal(rain_repo_tag_add(f->repo, &admin, "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f", "x"),
			 RAIN_ENOTFOUND);
	got = get(f, img->id);
	assert_int_equal(got->ntags, 1);
	assert_string_equal(got->tags[0], "db");
	rain_image_free(got);
	rain_image_free(img);
}

/* ---- uploads ---- */

static void test_upload_state_machine(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *out = NULL, *got;
	struct rain_upload *up = NULL, *up2 = NULL;

	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, 5, &up), 0);
	assert_non_null(up);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_SAVING);

	/* one upload at a time */
	rain_error_clear();
	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, 5, &up2), RAIN_ECONFLICT);
	assert_error_contains("saving");
	assert_null(up2);

	assert_int_equal(rain_repo_upload_write(up, "he", 2), 0);
	assert_int_equal(rain_repo_upload_write(up, "llo", 3), 0);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_SAVING);
	assert_int_equal(rain_repo_upload_finish(up, &out), 0);
	assert_non_null(out);
	assert_int_equal(out->status, RAIN_STATUS_ACTIVE);
	assert_true(out->size == 5);
	assert_true(out->virtual_size == 5);         /* raw: the data is the disk */
	assert_string_equal(out->os_hash_algo, "sha256");
	assert_string_equal(out->os_hash_value, SHA_HELLO);
	assert_null(out->checksum);                   /* md5 not enabled */

	got = get(f, img->id);
	assert_int_equal(got->status, RAIN_STATUS_ACTIVE);
	assert_true(got->size == 5);
	assert_true(got->virtual_size == 5);
	assert_string_equal(got->os_hash_value, SHA_HELLO);
	assert_true(got->revision == out->revision);
	rain_image_free(got);
	rain_image_free(out);
	assert_int_equal(blob_files(f), 1);

	/* active images take no more data */
	up2 = NULL;
	rain_error_clear();
	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, -1, &up2), RAIN_ECONFLICT);
	assert_error_contains("active to saving is not allowed");
	assert_null(up2);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_ACTIVE);

	/* nor an image that does not exist */
	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f",
						-1, &up2), RAIN_ENOTFOUND);
	rain_image_free(img);
}

static void test_upload_needs_formats(void **state)
{
	struct fixture *f = *state;
	struct rain_image *a = create(f, &alice, "{\"name\": \"none\"}");
	struct rain_image *b = create(f, &alice, "{\"disk_format\": \"raw\"}");
	struct rain_image *c = create(f, &alice, "{\"container_format\": \"bare\"}");
	struct rain_image *imgs[] = { a, b, c };
	struct rain_upload *up = NULL;

	for (int i = 0; i < 3; i++) {
		rain_error_clear();
		assert_int_equal(rain_repo_upload_begin(f->repo, &alice, imgs[i]->id, 5, &up),
				 RAIN_EINVAL);
		assert_error_contains("disk_format, container_format must be set");
		assert_null(up);
		assert_int_equal(status_of(f, imgs[i]->id), RAIN_STATUS_QUEUED);
		rain_image_free(imgs[i]);
	}
	assert_int_equal(blob_files(f), 0);
}

static void test_upload_abort(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *out;
	struct rain_upload *up = NULL;

	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, -1, &up), 0);
	assert_int_equal(rain_repo_upload_write(up, "partial data", 12), 0);
	rain_repo_upload_abort(up);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_QUEUED);
	assert_int_equal(blob_files(f), 0);
	rain_repo_upload_abort(NULL);

	/* the client may try again */
	out = upload_ok(f, img->id, "hello", 5);
	assert_int_equal(out->status, RAIN_STATUS_ACTIVE);
	assert_string_equal(out->os_hash_value, SHA_HELLO);
	rain_image_free(out);

	/* an upload of no bytes at all (unknown length) is an empty image */
	rain_image_free(img);
	img = raw_image(f, "empty");
	out = NULL;
	assert_int_equal(upload(f, img->id, "", 0, -1, &out), 0);
	assert_true(out->size == 0);
	assert_true(out->virtual_size == 0);
	assert_string_equal(out->os_hash_value,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	rain_image_free(out);
	rain_image_free(img);
}

static void test_upload_expected_size(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *out = NULL;
	struct rain_upload *up = NULL;

	/* less than announced */
	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, 10, &up), 0);
	assert_int_equal(rain_repo_upload_write(up, "hello", 5), 0);
	rain_error_clear();
	assert_int_equal(rain_repo_upload_finish(up, &out), RAIN_EINVAL);
	assert_error_contains("upload ended after 5 of 10 bytes");
	assert_null(out);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_QUEUED);
	assert_int_equal(blob_files(f), 0);

	/* more than announced */
	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, 3, &up), 0);
	assert_int_equal(rain_repo_upload_write(up, "he", 2), 0);
	rain_error_clear();
	assert_int_equal(rain_repo_upload_write(up, "llo", 3), RAIN_EINVAL);
	assert_error_contains("more data than the announced 3 bytes");
	rain_repo_upload_abort(up);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_QUEUED);
	assert_int_equal(blob_files(f), 0);

	/* exactly as announced */
	out = upload_ok(f, img->id, "hello", 5);
	assert_true(out->size == 5);
	rain_image_free(out);
	rain_image_free(img);
}

static void test_upload_max_size(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img, *out = NULL;
	struct rain_upload *up = NULL;
	char data[100];

	f->opts.max_image_size = 100;
	assert_int_equal(reopen(f, NULL), 0);
	img = raw_image(f, "x");
	memset(data, 'x', sizeof(data));

	/* refused up front from the announced length */
	rain_error_clear();
	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, 101, &up), RAIN_ETOOBIG);
	assert_error_contains("100");
	assert_null(up);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_QUEUED);

	/* or as the data streams in */
	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, -1, &up), 0);
	assert_int_equal(rain_repo_upload_write(up, data, 60), 0);
	assert_int_equal(rain_repo_upload_write(up, data, 41), RAIN_ETOOBIG);
	assert_error_contains("storage quota");
	rain_repo_upload_abort(up);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_QUEUED);
	assert_int_equal(blob_files(f), 0);

	/* exactly the limit is fine */
	assert_int_equal(upload(f, img->id, data, 100, -1, &out), 0);
	assert_true(out->size == 100);
	rain_image_free(out);
	rain_image_free(img);
}

/* A qcow2 v3 header as qemu-img writes it, in a zeroed buffer of at
 * least QCOW2_LEN bytes (the refcount and L1 tables are in clusters 1
 * and 3 of 64 KiB). */
#define QCOW2_LEN (4 << 16)

static void make_qcow2(unsigned char *buf, size_t len, uint64_t vsize)
{
	static const unsigned char magic[] = { 'Q', 'F', 'I', 0xfb };

	memset(buf, 0, len);
	memcpy(buf, magic, 4);
	buf[7] = 3;                              /* version */
	buf[23] = 16;                            /* cluster_bits */
	for (int i = 0; i < 8; i++)              /* size */
		buf[24 + i] = (unsigned char)(vsize >> (56 - 8 * i));
	buf[39] = (unsigned char)((vsize + (512u << 20) - 1) >> 29); /* l1_size */
	buf[45] = 3;                             /* l1_table_offset 3 << 16 */
	buf[53] = 1;                             /* refcount_table_offset 1 << 16 */
	buf[59] = 1;                             /* refcount_table_clusters */
	buf[99] = 4;                             /* refcount_order */
	buf[103] = 112;                          /* header_length */
}

static void test_upload_disk_formats(void **state)
{
	struct fixture *f = *state;
	struct rain_image *q1 = create(f, &alice, "{\"disk_format\": \"qcow2\", \"container_format\": \"bare\"}");
	struct rain_image *q2 = create(f, &alice, "{\"disk_format\": \"qcow2\", \"container_format\": \"bare\"}");
	struct rain_image *r1 = raw_image(f, "raw"), *out = NULL;
	unsigned char *small = calloc(1, QCOW2_LEN);
	unsigned char *big = calloc(1, 300000);
	char hex[65];

	assert_non_null(small);
	assert_non_null(big);

	/* declared qcow2, plain bytes: refused, back to queued, nothing kept */
	rain_error_clear();
	assert_int_equal(upload(f, q1->id, "this is not a disk image", 24, -1, &out), RAIN_EFORMAT);
	assert_error_contains("disk_format is qcow2, but the data is not a qcow2 image");
	assert_null(out);
	assert_int_equal(status_of(f, q1->id), RAIN_STATUS_QUEUED);
	assert_int_equal(blob_files(f), 0);

	/* a big upload is checked on its first 64 KiB, while streaming */
	assert_int_equal(upload(f, q1->id, big, 300000, -1, &out), RAIN_EFORMAT);
	assert_int_equal(status_of(f, q1->id), RAIN_STATUS_QUEUED);
	assert_int_equal(blob_files(f), 0);

	/* a real qcow2 header, small: virtual size from the header */
	make_qcow2(small, QCOW2_LEN, 1 * GiB);
	out = upload_ok(f, q1->id, small, QCOW2_LEN);
	assert_int_equal(out->status, RAIN_STATUS_ACTIVE);
	assert_true(out->size == QCOW2_LEN);
	assert_true(out->virtual_size == 1 * GiB);
	sha256_hex(small, QCOW2_LEN, hex);
	assert_string_equal(out->os_hash_value, hex);
	rain_image_free(out);

	/* the same in a big upload, in one write larger than the head */
	make_qcow2(big, 300000, 20 * GiB);
	{
		struct rain_upload *up = NULL;

		assert_int_equal(rain_repo_upload_begin(f->repo, &alice, q2->id, 300000, &up), 0);
		assert_int_equal(rain_repo_upload_write(up, big, 300000), 0);
		out = NULL;
		assert_int_equal(rain_repo_upload_finish(up, &out), 0);
	}
	assert_true(out->size == 300000);
	assert_true(out->virtual_size == 20 * GiB);
	rain_image_free(out);

	/* a qcow2 disguised as raw is refused */
	rain_error_clear();
	assert_int_equal(upload(f, r1->id, small, QCOW2_LEN, -1, &out), RAIN_EFORMAT);
	assert_error_contains("disk_format is raw, but the data is a qcow2 image");
	assert_int_equal(status_of(f, r1->id), RAIN_STATUS_QUEUED);

	/* a big raw upload: virtual size is the size */
	memset(big, 0xab, 200000);
	out = upload_ok(f, r1->id, big, 200000);
	assert_true(out->size == 200000);
	assert_true(out->virtual_size == 200000);
	rain_image_free(out);
	assert_int_equal(blob_files(f), 3);

	free(big);
	free(small);
	rain_image_free(q1);
	rain_image_free(q2);
	rain_image_free(r1);
}

/* The finding of issue 10: a VMDK descriptor whose extent is a host file
 * is refused when the upload ends (it is shorter than the head), and
 * nothing of it is kept. */
static void test_upload_vmdk_host_extent(void **state)
{
	static const char desc[] =
		"# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
		"createType=\"monolithicFlat\"\nRW 2048 FLAT \"/etc/passwd\" 0\n";
	struct fixture *f = *state;
	struct rain_image *v = create(f, &alice, "{\"disk_format\": \"vmdk\", \"container_format\": \"bare\"}");
	struct rain_image *a = create(f, &alice, "{\"disk_format\": \"ami\", \"container_format\": \"ami\"}");
	struct rain_image *out = NULL;

	rain_error_clear();
	assert_int_equal(upload(f, v->id, desc, strlen(desc), -1, &out), RAIN_EFORMAT);
	assert_error_contains("extent \"/etc/passwd\"");
	assert_null(out);
	assert_int_equal(status_of(f, v->id), RAIN_STATUS_QUEUED);
	assert_int_equal(upload(f, v->id, desc, strlen(desc), (int64_t)strlen(desc), &out), RAIN_EFORMAT);
	assert_int_equal(upload(f, a->id, desc, strlen(desc), -1, &out), RAIN_EFORMAT);
	assert_error_contains("disk_format is ami, but the data is a vmdk image");
	assert_int_equal(status_of(f, a->id), RAIN_STATUS_QUEUED);
	assert_int_equal(blob_files(f), 0);
	rain_image_free(v);
	rain_image_free(a);
}

/* disk_format and container_format change only while an image is queued:
 * data checked as ami cannot become vmdk afterwards. */
static void test_patch_formats_of_active(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *out = NULL;

	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/disk_format\",\"value\":\"ami\"}]", &out), 0);
	assert_string_equal(out->disk_format, "ami");
	rain_image_free(out);
	out = upload_ok(f, img->id, "hello", 5);
	rain_image_free(out);
	rain_error_clear();
	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/disk_format\",\"value\":\"vmdk\"}]", NULL),
			 RAIN_EFORBIDDEN);
	assert_error_contains("Attribute disk_format can be only replaced for a queued image");
	assert_error_contains("is active and its data was checked as ami bare");
	assert_int_equal(patch(f, &admin, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/container_format\",\"value\":\"ova\"}]", NULL),
			 RAIN_EFORBIDDEN);
	assert_error_contains("Attribute container_format");
	/* the same value, and other attributes, are fine */
	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/disk_format\",\"value\":\"ami\"},"
			       "{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"y\"}]", &out), 0);
	assert_string_equal(out->disk_format, "ami");
	assert_string_equal(out->name, "y");
	rain_image_free(out);
	assert_int_equal(rain_repo_image_deactivate(f->repo, &admin, img->id), 0);
	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/disk_format\",\"value\":\"qcow2\"}]", NULL),
			 RAIN_EFORBIDDEN);
	out = get(f, img->id);
	assert_string_equal(out->disk_format, "ami");
	rain_image_free(out);
	rain_image_free(img);
}

static void test_upload_md5(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img, *out;

	f->opts.md5_checksum = true;
	assert_int_equal(reopen(f, NULL), 0);
	img = raw_image(f, "x");
	out = upload_ok(f, img->id, "hello", 5);
	assert_string_equal(out->checksum, MD5_HELLO);
	assert_string_equal(out->os_hash_value, SHA_HELLO);
	rain_image_free(out);
	out = get(f, img->id);
	assert_string_equal(out->checksum, MD5_HELLO);
	rain_image_free(out);
	rain_image_free(img);
}

/* ---- blob sharing and deletion ---- */

static void test_dedup_and_delete(void **state)
{
	struct fixture *f = *state;
	struct rain_image *a = raw_image(f, "a"), *b = raw_image(f, "b"), *c = raw_image(f, "c");
	struct rain_image *out, *img = NULL;
	struct rain_blob_reader rd;
	char buf[8];

	out = upload_ok(f, a->id, "hello", 5);
	rain_image_free(out);
	out = upload_ok(f, b->id, "hello", 5);
	assert_string_equal(out->os_hash_value, SHA_HELLO);
	rain_image_free(out);
	out = upload_ok(f, c->id, "world", 5);
	rain_image_free(out);
	assert_int_equal(blob_files(f), 2);          /* "hello" once */

	/* deleting one keeps the shared blob for the other */
	assert_int_equal(rain_repo_image_delete(f->repo, &alice, a->id), 0);
	assert_int_equal(rain_repo_image_get(f->repo, &admin, a->id, &img), RAIN_ENOTFOUND);
	assert_int_equal(blob_files(f), 2);
	assert_int_equal(rain_repo_download_open(f->repo, &alice, b->id, &img, &rd), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(rain_repo_download_read(f->repo, &rd, 0, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "hello");
	rain_repo_download_close(f->repo, &rd);
	rain_image_free(img);

	/* deleting the last reference frees it */
	assert_int_equal(rain_repo_image_delete(f->repo, &alice, b->id), 0);
	assert_int_equal(blob_files(f), 1);
	assert_int_equal(rain_repo_image_delete(f->repo, &alice, c->id), 0);
	assert_int_equal(blob_files(f), 0);
	assert_int_equal(rain_repo_image_delete(f->repo, &alice, c->id), RAIN_ENOTFOUND);
	assert_int_equal(count_images(f), 0);

	/* a queued image (no blob) deletes fine */
	rain_image_free(a);
	a = raw_image(f, "q");
	assert_int_equal(rain_repo_image_delete(f->repo, &alice, a->id), 0);

	/* the same bytes stored again after all that */
	rain_image_free(b);
	b = raw_image(f, "again");
	out = upload_ok(f, b->id, "hello", 5);
	assert_string_equal(out->os_hash_value, SHA_HELLO);
	rain_image_free(out);
	assert_int_equal(blob_files(f), 1);
	rain_image_free(a);
	rain_image_free(b);
	rain_image_free(c);
}

static int parse_patch(const char *text, struct rain_jsonpatch **out)
{
	return rain_jsonpatch_parse(text, strlen(text), out);
}

/* A verdict is kept with the image's data: the report as a blob that
 * survives a restart's collection, replaced by a new vetting, dropped with
 * the image; users cannot forge or remove it; a stale hash is refused. */
static void test_vetting(void **state)
{
	struct fixture *f = *state;
	struct rain_image *a = raw_image(f, "vetted"), *out, *img = NULL;
	json_t *report = json_pack("{s:s,s:i}", "verdict", "failed", "findings", 3), *got = NULL;
	struct rain_vetting v = { .sha256 = SHA_HELLO, .verdict = "failed", .policy = "default",
				  .feed = "2026-12-01", .report = report };
	struct rain_jsonpatch *patch = NULL;
	char *old_report;

	/* before data: nothing to vet; not found before any vetting */
	assert_int_equal(rain_repo_vetting_set(f->repo, &alice, a->id, &v), RAIN_ECONFLICT);
	out = upload_ok(f, a->id, "hello", 5);
	rain_image_free(out);
	assert_int_equal(rain_repo_vetting_get(f->repo, &alice, a->id, &got), RAIN_ENOTFOUND);
	assert_non_null(strstr(rain_error_last(), "rain vet"));
	assert_int_equal(blob_files(f), 1);

	/* a hash that is not the image's: refused, no blob left */
	v.sha256 = SHA_WORLD;
	assert_int_equal(rain_repo_vetting_set(f->repo, &alice, a->id, &v), RAIN_ECONFLICT);
	assert_int_equal(blob_files(f), 1);
	/* another user may not */
	v.sha256 = SHA_HELLO;
	assert_int_not_equal(rain_repo_vetting_set(f->repo, &bob, a->id, &v), 0);
	assert_int_equal(blob_files(f), 1);

	assert_int_equal(rain_repo_vetting_set(f->repo, &alice, a->id, &v), 0);
	assert_int_equal(blob_files(f), 2);
	img = get(f, a->id);
	assert_string_equal(rain_image_prop_get(img, "rain_vetting"), "failed");
	assert_string_equal(rain_image_prop_get(img, "rain_vetting_policy"), "default");
	assert_string_equal(rain_image_prop_get(img, "rain_vetting_feed"), "2026-12-01");
	assert_string_equal(rain_image_prop_get(img, "rain_vetting_sha256"), SHA_HELLO);
	assert_non_null(rain_image_prop_get(img, "rain_vetting_at"));
	old_report = strdup(rain_image_prop_get(img, "rain_vetting_report"));
	rain_image_free(img);
	assert_int_equal(rain_repo_vetting_get(f->repo, &alice, a->id, &got), 0);
	assert_true(json_equal(got, report));
	json_decref(got);

	/* users cannot set or remove the verdict */
	assert_int_equal(parse_patch(
		"[{\"op\":\"replace\",\"path\":\"/rain_vetting\",\"value\":\"passed\"}]",
		&patch), 0);
	assert_int_equal(rain_repo_image_patch(f->repo, &alice, a->id, patch, NULL), RAIN_EFORBIDDEN);
	rain_jsonpatch_free(patch);
	assert_int_equal(parse_patch(
		"[{\"op\":\"remove\",\"path\":\"/rain_vetting_report\"}]", &patch), 0);
	assert_int_equal(rain_repo_image_patch(f->repo, &admin, a->id, patch, NULL), RAIN_EFORBIDDEN);
	rain_jsonpatch_free(patch);
	assert_int_equal(try_create(f, &alice, "{\"name\":\"x\",\"rain_vetting\":\"passed\"}"),
			 RAIN_EFORBIDDEN);

	/* the report survives a restart's collection of unreferenced blobs */
	assert_int_equal(reopen(f, NULL), 0);
	assert_int_equal(blob_files(f), 2);

	/* vetting again replaces the report and frees the old one */
	json_object_set_new(report, "verdict", json_string("passed"));
	v.verdict = "passed";
	v.feed = NULL;
	assert_int_equal(rain_repo_vetting_set(f->repo, &alice, a->id, &v), 0);
	assert_int_equal(blob_files(f), 2);
	img = get(f, a->id);
	assert_string_equal(rain_image_prop_get(img, "rain_vetting"), "passed");
	assert_string_equal(rain_image_prop_get(img, "rain_vetting_feed"), "none");
	assert_string_not_equal(rain_image_prop_get(img, "rain_vetting_report"), old_report);
	rain_image_free(img);
	free(old_report);

	/* deleting the image frees its data and its report */
	assert_int_equal(rain_repo_image_delete(f->repo, &alice, a->id), 0);
	assert_int_equal(blob_files(f), 0);
	json_decref(report);
	rain_image_free(a);
}

static void test_delete_while_saving(void **state)
{
	/* Glance lets an image be deleted during its upload; the upload then
	 * fails and leaves no blob behind */
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *out = NULL;
	struct rain_upload *up = NULL;

	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, -1, &up), 0);
	assert_int_equal(rain_repo_upload_write(up, "hello", 5), 0);
	assert_int_equal(rain_repo_image_delete(f->repo, &alice, img->id), 0);
	assert_int_equal(rain_repo_upload_finish(up, &out), RAIN_ENOTFOUND);
	assert_null(out);
	assert_int_equal(blob_files(f), 0);
	assert_int_equal(count_images(f), 0);
	rain_image_free(img);
}

static void test_protected_delete(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = create(f, &alice, "{\"protected\": true, \"disk_format\": \"raw\","
					" \"container_format\": \"bare\"}");
	struct rain_image *out = upload_ok(f, img->id, "hello", 5);

	rain_image_free(out);
	rain_error_clear();
	assert_int_equal(rain_repo_image_delete(f->repo, &alice, img->id), RAIN_EFORBIDDEN);
	assert_error_contains("protected");
	assert_int_equal(rain_repo_image_delete(f->repo, &admin, img->id), RAIN_EFORBIDDEN);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_ACTIVE);
	assert_int_equal(blob_files(f), 1);

	assert_int_equal(patch(f, &alice, img->id,
			       "[{\"op\":\"replace\",\"path\":\"/protected\",\"value\":false}]",
			       NULL), 0);
	assert_int_equal(rain_repo_image_delete(f->repo, &alice, img->id), 0);
	assert_int_equal(blob_files(f), 0);
	rain_image_free(img);
}

/* ---- deactivation and downloads ---- */

static void test_deactivate(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *out, *got;
	int64_t rev;

	/* only active images can be deactivated (403 like Glance) */
	rain_error_clear();
	assert_int_equal(rain_repo_image_deactivate(f->repo, &admin, img->id), RAIN_EFORBIDDEN);
	assert_error_contains("queued");
	assert_int_equal(rain_repo_image_reactivate(f->repo, &admin, img->id), RAIN_EFORBIDDEN);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_QUEUED);

	out = upload_ok(f, img->id, "hello", 5);
	rain_image_free(out);
	assert_int_equal(rain_repo_image_deactivate(f->repo, &admin, img->id), 0);
	got = get(f, img->id);
	assert_int_equal(got->status, RAIN_STATUS_DEACTIVATED);
	rev = got->revision;
	rain_image_free(got);

	/* again: a no-op, nothing written */
	assert_int_equal(rain_repo_image_deactivate(f->repo, &admin, img->id), 0);
	got = get(f, img->id);
	assert_int_equal(got->status, RAIN_STATUS_DEACTIVATED);
	assert_true(got->revision == rev);
	rain_image_free(got);

	/* no uploads into a deactivated image */
	{
		struct rain_upload *up = NULL;

		assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, -1, &up),
				 RAIN_ECONFLICT);
	}

	assert_int_equal(rain_repo_image_reactivate(f->repo, &admin, img->id), 0);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_ACTIVE);
	got = get(f, img->id);
	rev = got->revision;
	rain_image_free(got);
	assert_int_equal(rain_repo_image_reactivate(f->repo, &admin, img->id), 0);
	got = get(f, img->id);
	assert_int_equal(got->status, RAIN_STATUS_ACTIVE);
	assert_true(got->revision == rev);
	/* the data survived the round trip */
	assert_string_equal(got->os_hash_value, SHA_HELLO);
	rain_image_free(got);
	assert_int_equal(blob_files(f), 1);

	assert_int_equal(rain_repo_image_deactivate(f->repo, &admin, "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f"),
			 RAIN_ENOTFOUND);
	rain_image_free(img);
}

static void test_download(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *got = NULL, *out;
	struct rain_blob_reader rd = { .fd = -1 };
	int64_t before;
	char buf[16];

	/* nothing to download yet */
	rain_error_clear();
	assert_int_equal(rain_repo_download_open(f->repo, &alice, img->id, &got, &rd), RAIN_ECONFLICT);
	assert_error_contains("no data");
	assert_null(got);
	assert_int_equal(rain_repo_download_open(f->repo, &alice, "7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f",
						 &got, &rd), RAIN_ENOTFOUND);

	out = upload_ok(f, img->id, "hello", 5);
	rain_image_free(out);
	before = time_now_us();
	for (int i = 1; i <= 3; i++) {
		got = NULL;
		assert_int_equal(rain_repo_download_open(f->repo, &alice, img->id, &got, &rd), 0);
		assert_non_null(got);
		assert_string_equal(got->id, img->id);
		assert_true(got->size == 5);
		assert_true(rd.size == 5);
		assert_true(rd.fd >= 0);
		memset(buf, 0, sizeof(buf));
		assert_int_equal(rain_repo_download_read(f->repo, &rd, 1, buf, sizeof(buf)), 4);
		assert_string_equal(buf, "ello");
		memset(buf, 0, sizeof(buf));
		assert_int_equal(pread(rd.fd, buf, 5, 0), 5);
		assert_string_equal(buf, "hello");
		rain_repo_download_close(f->repo, &rd);
		rain_image_free(got);

		got = get(f, img->id);
		assert_true(got->download_count == i);
		assert_true(got->last_access >= before);
		rain_image_free(got);
	}

	/* deactivated: only for admins */
	assert_int_equal(rain_repo_image_deactivate(f->repo, &admin, img->id), 0);
	got = NULL;
	rain_error_clear();
	assert_int_equal(rain_repo_download_open(f->repo, &alice, img->id, &got, &rd), RAIN_EFORBIDDEN);
	assert_error_contains("deactivated");
	assert_null(got);
	assert_int_equal(rain_repo_download_open(f->repo, &admin, img->id, &got, &rd), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(rain_repo_download_read(f->repo, &rd, 0, buf, 5), 5);
	assert_string_equal(buf, "hello");
	rain_repo_download_close(f->repo, &rd);
	rain_image_free(got);
	got = get(f, img->id);
	assert_true(got->download_count == 4);
	rain_image_free(got);
	rain_image_free(img);
}

/* Data stored before the inspector existed (or refused by a newer one)
 * is not served: here a raw image's stored bytes become a qcow2 that
 * names a backing file, as an old upload could have been. */
static void test_download_inspects_stored_data(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "old"), *out, *got = NULL;
	unsigned char data[4096] = { 0 }, qcow[4096] = { 0 };
	struct rain_blob_reader rd;
	char sha[65], path[512];
	FILE *fp;

	out = upload_ok(f, img->id, data, sizeof(data));
	rain_image_free(out);
	assert_int_equal(rain_repo_download_open(f->repo, &alice, img->id, &got, &rd), 0);
	rain_repo_download_close(f->repo, &rd);
	rain_image_free(got);
	got = NULL;

	/* QFI\xfb, version 3, a backing file name at 512 of 11 bytes */
	memcpy(qcow, "QFI\xfb\0\0\0\3\0\0\0\0\0\0\x02\0\0\0\0\x0b\0\0\0\x10", 24);
	memcpy(qcow + 512, "/etc/passwd", 11);
	sha256_hex(data, sizeof(data), sha);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", f->data, sha, sha);
	fp = fopen(path, "r+");
	assert_non_null(fp);
	assert_int_equal(fwrite(qcow, 1, sizeof(qcow), fp), sizeof(qcow));
	fclose(fp);

	rain_error_clear();
	assert_int_equal(rain_repo_download_open(f->repo, &alice, img->id, &got, &rd), RAIN_EFORBIDDEN);
	assert_error_contains("inspection");
	assert_int_equal(rain_repo_data_open(f->repo, &admin, img->id, &got, &rd), RAIN_EFORBIDDEN);
	rain_image_free(img);
}

static void test_download_saving(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *got = NULL;
	struct rain_blob_reader rd = { .fd = -1 };
	struct rain_upload *up = NULL;

	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, -1, &up), 0);
	assert_int_equal(rain_repo_upload_write(up, "hel", 3), 0);
	assert_int_equal(rain_repo_download_open(f->repo, &admin, img->id, &got, &rd), RAIN_ECONFLICT);
	assert_null(got);
	rain_repo_upload_abort(up);
	rain_image_free(img);
}

/* ---- crash recovery ---- */

/* An upload that the "crash" leaves behind: kept reachable so that the
 * leak checker does not count it; never touched again. */
static struct rain_upload *crashed_upload, *crashed_upload2;

static void test_crash_recovery(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *other = raw_image(f, "y"), *got, *out;
	struct rain_repo_recovery rec = { -1, -1, -1, -1 };
	char path[256];
	int fd;

	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, -1, &crashed_upload), 0);
	assert_int_equal(rain_repo_upload_write(crashed_upload, "half of the ", 12), 0);
	assert_int_equal(rain_repo_upload_write(crashed_upload, "data", 4), 0);
	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, other->id, -1, &crashed_upload2), 0);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_SAVING);

	/* what a crash elsewhere could also leave: a named temporary and a
	 * blob whose image row never got written */
	snprintf(path, sizeof(path), "%s/blobs/tmp/upload.Xy12Zz", f->data);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	close(fd);
	snprintf(path, sizeof(path), "%s/blobs/sha256/2c", f->data);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/blobs/sha256/2c/%s", f->data, SHA_HELLO);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello", 5), 5);
	close(fd);

	/* the process dies: no finish, no abort */
	rain_repo_close(f->repo);
	f->repo = NULL;

	assert_int_equal(rain_repo_open(&f->repo, &f->opts, &rec), 0);
	assert_true(rec.uploads_reset == 2);
	assert_true(rec.tmp_removed == 1);
	assert_true(rec.blobs_removed == 1);
	got = get(f, img->id);
	assert_int_equal(got->status, RAIN_STATUS_QUEUED);
	assert_null(got->os_hash_value);
	assert_true(got->size == -1);
	rain_image_free(got);
	assert_int_equal(status_of(f, other->id), RAIN_STATUS_QUEUED);
	assert_int_equal(blob_files(f), 0);

	/* the upload can be done again */
	out = upload_ok(f, img->id, "hello", 5);
	assert_int_equal(out->status, RAIN_STATUS_ACTIVE);
	rain_image_free(out);
	assert_int_equal(blob_files(f), 1);

	/* a clean reopen keeps referenced blobs and resets nothing */
	rec = (struct rain_repo_recovery){ -1, -1, -1, -1 };
	assert_int_equal(reopen(f, &rec), 0);
	assert_true(rec.uploads_reset == 0);
	assert_true(rec.tmp_removed == 0);
	assert_true(rec.blobs_removed == 0);
	assert_int_equal(blob_files(f), 1);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_ACTIVE);
	rain_image_free(img);
	rain_image_free(other);
}

/* ---- concurrency ---- */

struct tagger {
	struct fixture *f;
	const char *id;
	int base;
	int err;
};

static void *tagger_run(void *arg)
{
	struct tagger *t = arg;
	char tag[16];

	for (int i = 0; i < 8 && !t->err; i++) {
		snprintf(tag, sizeof(tag), "t%d", t->base + i);
		t->err = rain_repo_tag_add(t->f->repo, &admin, t->id, tag);
	}
	return NULL;
}

static void test_concurrent_tags(void **state)
{
	/* read-modify-write retries: no tag is lost to a racing writer */
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *got;
	struct tagger t[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		t[i] = (struct tagger){ f, img->id, i * 100, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, tagger_run, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].err, 0);
	}
	got = get(f, img->id);
	assert_int_equal(got->ntags, 32);
	assert_true(got->revision == 32);
	rain_image_free(got);
	rain_image_free(img);
}

/* ---- quotas ---- */

static const struct rain_who dora = { .owner = "dora", .admin = false, .quota_bytes = 100, .quota_images = 0 };

static struct rain_image *dora_image(struct fixture *f)
{
	return create(f, &dora, "{\"disk_format\": \"raw\", \"container_format\": \"bare\"}");
}

static struct rain_upload *begin_as(struct fixture *f, const struct rain_who *who, const char *id,
				    int64_t expected)
{
	struct rain_upload *up = NULL;

	if (rain_repo_upload_begin(f->repo, who, id, expected, &up) < 0)
		fail_msg("begin %s: %s", id, rain_error_last());
	return up;
}

static void finish_ok(struct rain_upload *up)
{
	struct rain_image *out = NULL;

	if (rain_repo_upload_finish(up, &out) < 0)
		fail_msg("finish: %s", rain_error_last());
	rain_image_free(out);
}

static int64_t stored_bytes(struct fixture *f, const char *owner)
{
	struct rain_usage u;

	assert_int_equal(rain_catalog_usage(rain_repo_catalog(f->repo), owner, &u), 0);
	return u.bytes;
}

/* Uploads are counted against the quota while in flight, by one handle
 * after another in a fixed order, so each case is exact. */
static void test_quota_in_flight(void **state)
{
	struct fixture *f = *state;
	struct rain_image *a = dora_image(f), *b = dora_image(f), *c = dora_image(f);
	struct rain_upload *ua, *ub, *uc = NULL;
	char data[100];

	memset(data, 'd', sizeof(data));

	/* two chunked uploads: the chunk that crosses the quota fails, the
	 * other upload goes on to exactly the quota */
	ua = begin_as(f, &dora, a->id, -1);
	ub = begin_as(f, &dora, b->id, -1);
	assert_int_equal(rain_repo_upload_write(ua, data, 60), 0);
	assert_int_equal(rain_repo_upload_write(ub, data, 30), 0);
	rain_error_clear();
	assert_int_equal(rain_repo_upload_write(ub, data, 11), RAIN_ETOOBIG);
	assert_error_contains("storage quota");
	rain_repo_upload_abort(ub);
	assert_int_equal(status_of(f, b->id), RAIN_STATUS_QUEUED);
	assert_int_equal(rain_repo_upload_write(ua, data, 40), 0);
	/* nothing left, even before A is stored */
	assert_int_equal(rain_repo_upload_begin(f->repo, &dora, c->id, -1, &uc), RAIN_ETOOBIG);
	assert_null(uc);
	finish_ok(ua);
	assert_true(stored_bytes(f, "dora") == 100);
	assert_int_equal(rain_repo_upload_begin(f->repo, &dora, c->id, 0, &uc), RAIN_ETOOBIG);
	assert_int_equal(status_of(f, c->id), RAIN_STATUS_QUEUED);
	assert_int_equal(blob_files(f), 1);
	assert_int_equal(rain_repo_image_delete(f->repo, &dora, a->id), 0);
	rain_image_free(a);
	a = dora_image(f);

	/* declared lengths are taken whole at the start */
	ub = begin_as(f, &dora, b->id, 60);
	rain_error_clear();
	assert_int_equal(rain_repo_upload_begin(f->repo, &dora, c->id, 41, &uc), RAIN_ETOOBIG);
	assert_error_contains("storage quota");
	assert_int_equal(status_of(f, c->id), RAIN_STATUS_QUEUED);
	uc = begin_as(f, &dora, c->id, -1);
	assert_int_equal(rain_repo_upload_write(uc, data, 40), 0);
	assert_int_equal(rain_repo_upload_write(uc, data, 1), RAIN_ETOOBIG);
	rain_repo_upload_abort(uc);
	/* an abort gives its bytes back */
	rain_repo_upload_abort(ub);
	uc = begin_as(f, &dora, c->id, 100);
	rain_repo_upload_abort(uc);

	/* at finish the bytes move from in flight to stored: counted once */
	ub = begin_as(f, &dora, b->id, -1);
	uc = begin_as(f, &dora, c->id, -1);
	assert_int_equal(rain_repo_upload_write(ub, data, 50), 0);
	assert_int_equal(rain_repo_upload_write(uc, data + 50, 40), 0);
	finish_ok(ub);
	assert_true(stored_bytes(f, "dora") == 50);
	assert_int_equal(rain_repo_upload_write(uc, data, 10), 0);
	assert_int_equal(rain_repo_upload_write(uc, data, 1), RAIN_ETOOBIG);
	rain_repo_upload_abort(uc);
	assert_int_equal(status_of(f, c->id), RAIN_STATUS_QUEUED);
	assert_true(stored_bytes(f, "dora") == 50);
	assert_int_equal(rain_repo_image_delete(f->repo, &dora, b->id), 0);

	/* a refused chunk gives its upload's bytes back at once, before the
	 * abort: the other upload, refused a moment ago, now fits */
	ub = begin_as(f, &dora, c->id, -1);
	uc = begin_as(f, &dora, a->id, -1);
	assert_int_equal(rain_repo_upload_write(ub, data, 50), 0);
	assert_int_equal(rain_repo_upload_write(uc, data, 50), 0);
	assert_int_equal(rain_repo_upload_write(ub, data, 10), RAIN_ETOOBIG);
	assert_int_equal(rain_repo_upload_write(uc, data, 50), 0);
	rain_repo_upload_abort(ub);
	finish_ok(uc);
	assert_true(stored_bytes(f, "dora") == 100);
	rain_image_free(a);
	rain_image_free(b);
	rain_image_free(c);
}

/* Charges (bytes stored outside images: a build's files) count in the
 * usage and against the quota together with uploads in flight; a
 * re-measure without quota always holds; a drop gives the bytes back. */
static void test_quota_charges(void **state)
{
	struct fixture *f = *state;
	const struct rain_who dora_free = { .owner = "dora", .admin = false };
	struct rain_image *a = dora_image(f);
	struct rain_upload *ua = NULL;
	struct rain_charge *ch = NULL;
	size_t n = 0;
	char data[100];

	memset(data, 'c', sizeof(data));
	assert_int_equal(rain_repo_charge_set(f->repo, &dora, "build/x", 60), 0);
	assert_true(stored_bytes(f, "dora") == 60);
	rain_error_clear();
	assert_int_equal(rain_repo_charge_set(f->repo, &dora, "build/y", 41), RAIN_ETOOBIG);
	assert_error_contains("storage quota");
	assert_true(stored_bytes(f, "dora") == 60);
	assert_int_equal(rain_repo_upload_begin(f->repo, &dora, a->id, 41, &ua), RAIN_ETOOBIG);
	/* an upload in flight leaves a charge less room */
	ua = begin_as(f, &dora, a->id, -1);
	assert_int_equal(rain_repo_upload_write(ua, data, 40), 0);
	assert_int_equal(rain_repo_charge_set(f->repo, &dora, "build/y", 1), RAIN_ETOOBIG);
	rain_repo_upload_abort(ua);
	assert_int_equal(rain_repo_charge_drop(f->repo, "dora", "build/x"), 0);
	assert_true(stored_bytes(f, "dora") == 0);
	assert_int_equal(rain_repo_charge_drop(f->repo, "dora", "build/x"), 0);
	assert_int_equal(rain_repo_charge_set(f->repo, &dora, "build/y", 100), 0);
	/* re-measured without a quota: what is stored is stored */
	assert_int_equal(rain_repo_charge_set(f->repo, &dora_free, "build/y", 150), 0);
	assert_true(stored_bytes(f, "dora") == 150);
	assert_int_equal(rain_repo_upload_begin(f->repo, &dora, a->id, 1, &ua), RAIN_ETOOBIG);
	assert_int_equal(rain_catalog_charge_list(rain_repo_catalog(f->repo), "build/", &ch, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ch[0].key, "build/y");
	assert_string_equal(ch[0].owner, "dora");
	assert_true(ch[0].bytes == 150);
	free(ch);
	assert_int_equal(rain_repo_charge_set(f->repo, &dora, "", 1), RAIN_EINVAL);
	assert_int_equal(rain_repo_charge_set(f->repo, &dora, "build/z", -1), RAIN_EINVAL);
	assert_int_equal(rain_repo_charge_drop(f->repo, "dora", "build/y"), 0);
	ua = begin_as(f, &dora, a->id, 100);
	rain_repo_upload_abort(ua);
	rain_image_free(a);
}

/* Deletes during an upload free their bytes for the next check; an
 * admin's upload into a user's image counts to that user; identical
 * data counts once per image, as the catalog's usage does. */
static void test_quota_accounting(void **state)
{
	struct fixture *f = *state;
	struct rain_image *a = dora_image(f), *b = dora_image(f), *c = dora_image(f);
	struct rain_image *d = dora_image(f);
	struct rain_upload *ub, *uc = NULL, *ud;
	char data[100];

	memset(data, 'e', sizeof(data));
	ub = begin_as(f, &dora, a->id, 50);
	assert_int_equal(rain_repo_upload_write(ub, data, 50), 0);
	finish_ok(ub);
	/* keep dora's account alive with an upload in flight */
	ub = begin_as(f, &dora, b->id, -1);
	assert_int_equal(rain_repo_upload_begin(f->repo, &dora, c->id, 60, &uc), RAIN_ETOOBIG);
	assert_int_equal(rain_repo_image_delete(f->repo, &dora, a->id), 0);
	uc = begin_as(f, &dora, c->id, 60);
	rain_repo_upload_abort(uc);
	rain_repo_upload_abort(ub);

	/* the admin has no quota, but what it uploads into dora's image is
	 * hers: it leaves her less room while in flight and once stored */
	ud = begin_as(f, &admin, d->id, -1);
	assert_int_equal(rain_repo_upload_write(ud, data, 70), 0);
	assert_int_equal(rain_repo_upload_begin(f->repo, &dora, c->id, 31, &uc), RAIN_ETOOBIG);
	finish_ok(ud);
	assert_true(stored_bytes(f, "dora") == 70);
	assert_int_equal(rain_repo_upload_begin(f->repo, &dora, c->id, 31, &uc), RAIN_ETOOBIG);
	assert_int_equal(rain_repo_image_delete(f->repo, &dora, d->id), 0);

	/* the same 40 bytes in two images: 80 bytes of quota, one blob */
	ub = begin_as(f, &dora, b->id, 40);
	uc = begin_as(f, &dora, c->id, -1);
	assert_int_equal(rain_repo_upload_write(ub, data, 40), 0);
	assert_int_equal(rain_repo_upload_write(uc, data, 40), 0);
	finish_ok(ub);
	finish_ok(uc);
	assert_true(stored_bytes(f, "dora") == 80);
	assert_int_equal(blob_files(f), 1);
	rain_image_free(d);
	d = dora_image(f);
	assert_int_equal(rain_repo_upload_begin(f->repo, &dora, d->id, 21, &uc), RAIN_ETOOBIG);
	ud = begin_as(f, &dora, d->id, 20);
	assert_int_equal(rain_repo_upload_write(ud, data, 20), 0);
	finish_ok(ud);
	assert_true(stored_bytes(f, "dora") == 100);
	rain_image_free(a);
	rain_image_free(b);
	rain_image_free(c);
	rain_image_free(d);
}

#define QUOTA_THREADS 8
#define QUOTA_SIZE 300          /* of a 1000-byte quota: 3 fit */

struct quota_uploader {
	struct fixture *f;
	pthread_barrier_t *start;
	struct rain_who who;
	char id[UUID_STR_LEN];
	int64_t expected;           /* QUOTA_SIZE or -1 */
	int seed;
	int err;
};

static void *quota_upload_run(void *arg)
{
	struct quota_uploader *q = arg;
	struct rain_upload *up = NULL;
	struct rain_image *out = NULL;
	unsigned char data[QUOTA_SIZE];

	for (int i = 0; i < QUOTA_SIZE; i++)
		data[i] = (unsigned char)(q->seed * 31 + i);
	pthread_barrier_wait(q->start);
	q->err = rain_repo_upload_begin(q->f->repo, &q->who, q->id, q->expected, &up);
	/* small chunks, so that the uploads interleave */
	for (int off = 0; q->err == 0 && off < QUOTA_SIZE; off += 7) {
		q->err = rain_repo_upload_write(up, data + off, QUOTA_SIZE - off < 7 ? (size_t)(QUOTA_SIZE - off) : 7);
		if (q->err < 0)
			rain_repo_upload_abort(up);
		sched_yield();
	}
	if (q->err == 0)
		q->err = rain_repo_upload_finish(up, &out);
	rain_image_free(out);
	return NULL;
}

/* Whatever the interleaving, uploads of S bytes each under a quota Q
 * store exactly min(N, Q / S) of them: none overruns Q, and a refusal
 * happens only when the others in flight would otherwise not fit. */
static void test_quota_concurrent_uploads(void **state)
{
	struct fixture *f = *state;
	struct quota_uploader q[QUOTA_THREADS];
	pthread_t th[QUOTA_THREADS];
	pthread_barrier_t start;
	int stored = 0, refused = 0;

	for (int round = 0; round < 20; round++) {
		assert_int_equal(pthread_barrier_init(&start, NULL, QUOTA_THREADS), 0);
		for (int i = 0; i < QUOTA_THREADS; i++) {
			struct rain_image *img;

			q[i] = (struct quota_uploader){ f, &start, dora, "", i % 2 ? QUOTA_SIZE : -1,
							round * QUOTA_THREADS + i, 0 };
			q[i].who.owner = "carl";
			q[i].who.quota_bytes = 1000;
			img = create(f, &q[i].who, "{\"disk_format\": \"raw\", \"container_format\": \"bare\"}");
			snprintf(q[i].id, sizeof(q[i].id), "%s", img->id);
			rain_image_free(img);
		}
		for (int i = 0; i < QUOTA_THREADS; i++)
			assert_int_equal(pthread_create(&th[i], NULL, quota_upload_run, &q[i]), 0);
		stored = refused = 0;
		for (int i = 0; i < QUOTA_THREADS; i++) {
			pthread_join(th[i], NULL);
			if (q[i].err == 0) {
				stored++;
				assert_int_equal(status_of(f, q[i].id), RAIN_STATUS_ACTIVE);
			} else {
				assert_int_equal(q[i].err, RAIN_ETOOBIG);
				assert_int_equal(status_of(f, q[i].id), RAIN_STATUS_QUEUED);
				refused++;
			}
		}
		pthread_barrier_destroy(&start);
		assert_int_equal(stored, 3);
		assert_int_equal(refused, QUOTA_THREADS - 3);
		assert_true(stored_bytes(f, "carl") == 3 * QUOTA_SIZE);
		assert_int_equal(blob_files(f), 3);
		/* nothing stays reserved: what is left is exactly free */
		{
			struct rain_upload *up = NULL;

			assert_int_equal(rain_repo_upload_begin(f->repo, &q[0].who, q[0].id, 101, &up),
					 q[0].err == 0 ? RAIN_ECONFLICT : RAIN_ETOOBIG);
		}
		for (int i = 0; i < QUOTA_THREADS; i++)
			assert_int_equal(rain_repo_image_delete(f->repo, &admin, q[i].id), 0);
		assert_int_equal(blob_files(f), 0);
	}
}

struct quota_creator {
	struct fixture *f;
	pthread_barrier_t *start;
	int made, refused, other;
};

static void *quota_create_run(void *arg)
{
	static const struct rain_who ivy = { .owner = "ivy", .quota_images = 5 };
	struct quota_creator *c = arg;

	pthread_barrier_wait(c->start);
	for (int i = 0; i < 4; i++) {
		json_t *body = json_pack("{s:s}", "name", "n");
		struct rain_image *img = NULL;
		int r = body ? rain_repo_image_create(c->f->repo, &ivy, body, &img) : RAIN_ENOMEM;

		json_decref(body);
		rain_image_free(img);
		if (r == 0)
			c->made++;
		else if (r == RAIN_ETOOBIG)
			c->refused++;
		else
			c->other++;
	}
	return NULL;
}

/* Concurrent creates never exceed the image-count quota. */
static void test_quota_concurrent_creates(void **state)
{
	struct fixture *f = *state;
	struct quota_creator c[QUOTA_THREADS];
	pthread_t th[QUOTA_THREADS];
	pthread_barrier_t start;
	struct rain_usage u;
	int made = 0, refused = 0;

	assert_int_equal(pthread_barrier_init(&start, NULL, QUOTA_THREADS), 0);
	for (int i = 0; i < QUOTA_THREADS; i++) {
		c[i] = (struct quota_creator){ f, &start, 0, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, quota_create_run, &c[i]), 0);
	}
	for (int i = 0; i < QUOTA_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(c[i].other, 0);
		made += c[i].made;
		refused += c[i].refused;
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(made, 5);
	assert_int_equal(refused, 4 * QUOTA_THREADS - 5);
	assert_int_equal(rain_catalog_usage(rain_repo_catalog(f->repo), "ivy", &u), 0);
	assert_true(u.images == 5);
	assert_int_equal(count_images(f), 5);
}

static bool staged_file(struct fixture *f, const char *id, const char *suffix)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/staging/%s%s", f->data, id, suffix);
	return access(path, F_OK) == 0;
}

static int64_t usage_bytes(struct fixture *f, const char *owner)
{
	struct rain_usage u;

	assert_int_equal(rain_catalog_usage(rain_repo_catalog(f->repo), owner, &u), 0);
	return u.bytes;
}

/* glance-direct: stage (uploading, charged, on disk), import (importing,
 * then active through the upload's checks), staged data gone after. */
static void test_stage_import(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *got;
	struct rain_upload *up = NULL, *up2 = NULL;
	struct rain_who quota = { .owner = "alice", .quota_bytes = 8 };
	char buf[16];
	int fd;

	assert_int_equal(rain_repo_stage_begin(f->repo, &alice, img->id, 5, "http://h:1", &up), 0);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_UPLOADING);
	assert_int_equal(rain_repo_upload_write(up, "hello", 5), 0);
	assert_true(staged_file(f, img->id, ".part"));
	assert_int_equal(rain_repo_upload_finish(up, NULL), 0);
	assert_false(staged_file(f, img->id, ".part"));
	assert_true(staged_file(f, img->id, ""));
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_UPLOADING);
	assert_true(usage_bytes(f, "alice") == 5);
	got = get(f, img->id);
	assert_string_equal(rain_image_prop_get(got, "os_glance_stage_host"), "http://h:1");
	rain_image_free(got);

	/* no upload, second stage or web-download on a staged image; bob
	 * cannot import it */
	rain_error_clear();
	assert_int_equal(rain_repo_upload_begin(f->repo, &alice, img->id, -1, &up2), RAIN_ECONFLICT);
	assert_int_equal(rain_repo_stage_begin(f->repo, &alice, img->id, -1, NULL, &up2), RAIN_ECONFLICT);
	assert_int_equal(rain_repo_import_begin(f->repo, &alice, img->id, false, "t0", &up2),
			 RAIN_ECONFLICT);
	assert_int_equal(rain_repo_import_begin(f->repo, &bob, img->id, true, "t0", &up2),
			 RAIN_ENOTFOUND);

	/* the import: its bytes were charged, a small quota does not refuse it */
	quota.quota_bytes = 6;
	assert_int_equal(rain_repo_import_begin(f->repo, &quota, img->id, true, "task-1", &up), 0);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_IMPORTING);
	fd = rain_repo_upload_source_fd(up);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	assert_int_equal(rain_repo_upload_write(up, buf, 5), 0);
	assert_int_equal(rain_repo_upload_finish(up, &got), 0);
	assert_int_equal(got->status, RAIN_STATUS_ACTIVE);
	assert_string_equal(got->os_hash_value, SHA_HELLO);
	assert_string_equal(rain_image_prop_get(got, "os_glance_import_task"), "task-1");
	assert_null(rain_image_prop_get(got, "os_glance_stage_host"));
	rain_image_free(got);
	assert_false(staged_file(f, img->id, ""));
	assert_true(usage_bytes(f, "alice") == 5);      /* stored, no longer charged */
	rain_image_free(img);
}

/* Failures: a stage over the quota or cut leaves nothing; a failed
 * import goes back to queued with the reason, its staged data dropped;
 * deleting a staged image drops its data and charge. */
static void test_stage_import_failures(void **state)
{
	struct fixture *f = *state;
	struct rain_image *img = raw_image(f, "x"), *img2 = raw_image(f, "y"), *got;
	struct rain_who quota = { .owner = "alice", .quota_bytes = 4 };
	struct rain_upload *up = NULL;

	rain_error_clear();
	assert_int_equal(rain_repo_stage_begin(f->repo, &quota, img->id, -1, NULL, &up), 0);
	assert_int_equal(rain_repo_upload_write(up, "hello", 5), RAIN_ETOOBIG);
	rain_repo_upload_abort(up);
	assert_int_equal(status_of(f, img->id), RAIN_STATUS_QUEUED);
	assert_false(staged_file(f, img->id, ".part"));
	assert_false(staged_file(f, img->id, ""));

	/* a failed import */
	assert_int_equal(rain_repo_stage_begin(f->repo, &alice, img->id, -1, NULL, &up), 0);
	assert_int_equal(rain_repo_upload_write(up, "hello", 5), 0);
	assert_int_equal(rain_repo_upload_finish(up, NULL), 0);
	assert_int_equal(rain_repo_import_begin(f->repo, &alice, img->id, true, "t", &up), 0);
	rain_error_set(RAIN_ENET, "the network went away");
	rain_repo_upload_abort(up);
	got = get(f, img->id);
	assert_int_equal(got->status, RAIN_STATUS_QUEUED);
	assert_string_equal(rain_image_prop_get(got, "os_glance_failed_import"), RAIN_STORE_ID);
	assert_string_equal(rain_image_prop_get(got, RAIN_IMAGE_IMPORT_ERROR), "the network went away");
	rain_image_free(got);
	assert_false(staged_file(f, img->id, ""));
	assert_true(usage_bytes(f, "alice") == 0);

	/* a web-download (no staged data) whose data is not its format */
	rain_image_free(img);
	img = create(f, &alice, "{\"disk_format\": \"qcow2\", \"container_format\": \"bare\"}");
	assert_int_equal(rain_repo_import_begin(f->repo, &alice, img->id, false, "t2", &up), 0);
	assert_int_equal(rain_repo_upload_source_fd(up), -1);
	assert_int_equal(rain_repo_upload_write(up, "hello", 5), 0);
	assert_true(rain_repo_upload_finish(up, NULL) < 0);
	got = get(f, img->id);
	assert_int_equal(got->status, RAIN_STATUS_QUEUED);
	assert_non_null(rain_image_prop_get(got, RAIN_IMAGE_IMPORT_ERROR));
	rain_image_free(got);

	/* delete a staged image */
	assert_int_equal(rain_repo_stage_begin(f->repo, &alice, img2->id, -1, NULL, &up), 0);
	assert_int_equal(rain_repo_upload_write(up, "hello", 5), 0);
	assert_int_equal(rain_repo_upload_finish(up, NULL), 0);
	assert_true(usage_bytes(f, "alice") == 5);
	assert_int_equal(rain_repo_image_delete(f->repo, &alice, img2->id), 0);
	assert_false(staged_file(f, img2->id, ""));
	assert_true(usage_bytes(f, "alice") == 0);
	blob_files(f);
	rain_image_free(img);
	rain_image_free(img2);
}

/* After a crash: a cut stage goes back to queued without its partial
 * file, a cut import of staged data back to uploading (to import again),
 * a cut web-download to queued with the failure recorded. */
static struct rain_upload *crashed_stage, *crashed_import, *crashed_fetch;

static void test_stage_recovery(void **state)
{
	struct fixture *f = *state;
	struct rain_image *a = raw_image(f, "a"), *b = raw_image(f, "b"), *c = raw_image(f, "c"), *got;
	struct rain_upload *ub = NULL;
	struct rain_repo_recovery rec;

	assert_int_equal(rain_repo_stage_begin(f->repo, &alice, a->id, -1, NULL, &crashed_stage), 0);
	assert_int_equal(rain_repo_upload_write(crashed_stage, "hel", 3), 0);
	assert_int_equal(rain_repo_stage_begin(f->repo, &alice, b->id, -1, NULL, &ub), 0);
	assert_int_equal(rain_repo_upload_write(ub, "hello", 5), 0);
	assert_int_equal(rain_repo_upload_finish(ub, NULL), 0);
	assert_int_equal(rain_repo_import_begin(f->repo, &alice, b->id, true, "tb", &crashed_import), 0);
	assert_int_equal(rain_repo_import_begin(f->repo, &alice, c->id, false, "tc", &crashed_fetch), 0);
	assert_int_equal(rain_repo_upload_write(crashed_fetch, "hel", 3), 0);
	/* the crash: the handles are left as they are (kept reachable for
	 * the leak checker, never touched again) */
	assert_int_equal(reopen(f, &rec), 0);
	assert_true(rec.imports_reset == 3);
	assert_int_equal(status_of(f, a->id), RAIN_STATUS_QUEUED);
	assert_false(staged_file(f, a->id, ".part"));
	assert_int_equal(status_of(f, b->id), RAIN_STATUS_UPLOADING);
	assert_true(staged_file(f, b->id, ""));
	got = get(f, c->id);
	assert_int_equal(got->status, RAIN_STATUS_QUEUED);
	assert_string_equal(rain_image_prop_get(got, "os_glance_failed_import"), RAIN_STORE_ID);
	rain_image_free(got);
	assert_true(usage_bytes(f, "alice") == 5);
	/* b imports again */
	assert_int_equal(rain_repo_import_begin(f->repo, &alice, b->id, true, "tb2", &ub), 0);
	assert_int_equal(rain_repo_upload_write(ub, "hello", 5), 0);
	assert_int_equal(rain_repo_upload_finish(ub, NULL), 0);
	assert_int_equal(status_of(f, b->id), RAIN_STATUS_ACTIVE);
	rain_image_free(a);
	rain_image_free(b);
	rain_image_free(c);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_layout),
		T(test_lock),
		T(test_open_bad_dir),
		T(test_create),
		T(test_create_refused),
		T(test_create_ids),
		T(test_create_visibility),
		T(test_get_bad_ids),
		T(test_patch),
		T(test_tags),
		T(test_upload_state_machine),
		T(test_upload_needs_formats),
		T(test_upload_abort),
		T(test_upload_expected_size),
		T(test_upload_max_size),
		T(test_upload_disk_formats),
		T(test_upload_vmdk_host_extent),
		T(test_patch_formats_of_active),
		T(test_upload_md5),
		T(test_dedup_and_delete),
		T(test_vetting),
		T(test_delete_while_saving),
		T(test_protected_delete),
		T(test_deactivate),
		T(test_download),
		T(test_download_saving),
		T(test_download_inspects_stored_data),
		T(test_crash_recovery),
		T(test_concurrent_tags),
		T(test_quota_in_flight),
		T(test_quota_accounting),
		T(test_quota_charges),
		T(test_quota_concurrent_uploads),
		T(test_quota_concurrent_creates),
		T(test_stage_import),
		T(test_stage_import_failures),
		T(test_stage_recovery),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
