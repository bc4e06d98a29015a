#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rain/diskfmt.h"
#include "rain/error.h"
#include "rain/policy.h"
#include "rain/repo.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

/* Quotas with several raind on one catalog: the bytes of an upload in
 * flight are a charge in the catalog, "upload/ID" (rain/catalog.h), held
 * under a lease that the upload renews as it goes; each reservation is
 * checked against the owner's usage (stored data and every charge, of
 * every server) in the same step as it is written
 * (rain_catalog_charge_reserve). An upload takes its declared length at
 * its start, else its bytes in steps ahead of the data; a refused step
 * gives back all it held. At activation the image counts its bytes
 * before the charge goes: for a moment they count twice (a concurrent
 * upload may be refused), never not at all. A server that dies leaves
 * its charges to lapse and its images saving until a start or
 * rain_repo_recover() after the lease sets them back to queued.
 *
 * Blobs: an upload holds its hash in the catalog (rain_catalog_blob_hold)
 * from before publishing until its image refers to it, and a removal
 * holds the hash (refused while referenced or held) from before it
 * removes the blob until it is gone, so that no server removes a blob
 * another is publishing. */
#define UPLOAD_LEASE_DEFAULT (600LL * 1000000)
#define REMOVAL_LEASE (120LL * 1000000)
#define RESERVE_STEP_MAX (64LL << 20)

struct rain_repo {
	struct rain_catalog *cat;
	struct rain_blob_store *blobs;
	/* Held while a blob gains its first reference or loses its last, so
	 * that a delete never frees a blob that an upload is publishing. */
	pthread_mutex_t blob_lock;
	/* Serializes this process's checked creates (image count quota). */
	pthread_mutex_t create_lock;
	int lock_fd;
	bool md5;
	int64_t max_size;
	char *stage_dir;            /* DATA_DIR/staging: glance-direct's data */
	int64_t lease_us;           /* an upload's charge lapses after this */
	/* This data folder's id (16 hex digits, kept in DATA_DIR/instance):
	 * in the keys of its uploads' charges, "upload/ID/INSTANCE", so that
	 * the next start with the folder (its lock proves the last process
	 * gone) sets them back at once instead of after the lease. */
	char instance[17];
	bool opened;                /* rain_repo_open is done */
	int64_t tmp_grace_us;       /* temporary objects younger are kept */
};

struct rain_upload {
	struct rain_repo *repo;
	struct rain_blob_writer *w;
	char id[UUID_STR_LEN];
	char *disk_format;
	int64_t expected;
	int64_t limit;              /* most bytes allowed (max size); 0: none */
	struct rain_charge charge;  /* "upload/ID" of the image's owner; owner "": none */
	bool charged;               /* the charge is in the catalog */
	int64_t quota;              /* the uploader's quota_bytes; 0: none */
	int64_t reserved;           /* bytes the charge holds */
	int64_t room;               /* quota left at the last reservation */
	unsigned char *head;        /* first RAIN_DISKFMT_HEAD bytes */
	size_t headlen;
	bool head_checked;
	int64_t virtual_size;
	/* the image's status while the data comes: saving, or importing */
	enum rain_image_status busy;
	/* staging (rain_repo_stage_begin): the data goes to stage_fd, a file
	 * stage_part renamed to stage_path at the end; w is NULL */
	int stage_fd;
	char *stage_part;
	char *stage_path;
	/* an import of staged data: stage_src is the staged file (removed
	 * with its charge once the image is active or the import failed),
	 * src_fd the caller's to read it */
	char *stage_src;
	int src_fd;
	char *owner;                /* the image's owner (the stage charge's) */
	int64_t stage_size;
	bool import;
};

#define MODIFY_RETRIES 20

static int stage_recover(struct rain_repo *repo, int64_t *reset);
static void stage_remove(struct rain_repo *repo, const char *owner, const char *id);
#define VETTING_REPORT_MAX (64 << 20)   /* bytes of a stored report */

/* The vetting properties (rain_repo_vetting_set). */
#define VETTING_REPORT RAIN_IMAGE_VETTING_PREFIX "_report"
static const char *const vetting_props[] = {
	RAIN_IMAGE_VETTING_PREFIX, VETTING_REPORT, RAIN_IMAGE_VETTING_PREFIX "_policy",
	RAIN_IMAGE_VETTING_PREFIX "_feed", RAIN_IMAGE_VETTING_PREFIX "_at",
	RAIN_IMAGE_VETTING_PREFIX "_sha256",
};

static void vetting_drop(struct rain_image *img)
{
	for (size_t i = 0; i < ARRAY_SIZE(vetting_props); i++)
		rain_image_prop_remove(img, vetting_props[i]);
	rain_error_clear();
}

struct rain_catalog *rain_repo_catalog(struct rain_repo *repo)
{
	return repo->cat;
}

int rain_repo_ping(struct rain_repo *repo, bool *catalog_ok, bool *store_ok)
{
	static const char probe[] = "0000000000000000000000000000000000000000000000000000000000000000";
	char msg[1024] = "";
	int64_t users;
	bool yes;
	int rc, rs;

	rain_error_clear();
	rc = rain_catalog_user_count(repo->cat, &users);
	if (rc < 0)
		snprintf(msg, sizeof(msg), "%s", rain_error_last());
	rs = rain_blob_exists(repo->blobs, probe, &yes);
	*catalog_ok = rc == 0;
	*store_ok = rs == 0;
	if (rc < 0)
		return rain_error_set(rc, "%s", msg);
	return rs;
}

static bool release_blob(struct rain_repo *repo, const char *sha256);

struct gc_ctx {
	struct rain_repo *repo;
	int64_t removed;
};

static int gc_one(void *ud, const char *sha256)
{
	struct gc_ctx *gc = ud;
	int64_t n = 1;

	/* on error, keep the blob: losing data is worse than a stray file;
	 * the hold decides (another server may be publishing it) */
	if (rain_catalog_blob_refs(gc->repo->cat, sha256, &n) == 0 && n == 0) {
		pthread_mutex_lock(&gc->repo->blob_lock);
		if (release_blob(gc->repo, sha256))
			gc->removed++;
		pthread_mutex_unlock(&gc->repo->blob_lock);
	}
	return 0;
}

/* Set an image found saving back to queued (its upload is gone). */
static int do_requeue_stale(struct rain_image *img, void *ud)
{
	if (img->status != RAIN_STATUS_SAVING)
		return 1;
	img->status = RAIN_STATUS_QUEUED;
	return 0;
}

static const struct rain_who upload_self;
static int modify(struct rain_repo *repo, const struct rain_who *who, const char *id,
		  enum rain_action action, int (*fn)(struct rain_image *, void *), void *ud,
		  struct rain_image **out);

/* Images saving whose upload's lease lapsed (or that have none) back to
 * queued; lapsed upload charges dropped. */
static int requeue_stale(struct rain_repo *repo, int64_t *reset)
{
	struct rain_image_query q = {
		.terms = { { "status", RAIN_OP_EQ, "saving" } }, .nterms = 1,
		.limit = 200, .requester_admin = true, .include_community = true,
		.include_hidden = true,
	};
	struct rain_charge *ch = NULL;
	size_t nch = 0;
	int64_t now = time_now_us();
	char marker[UUID_STR_LEN] = "";
	bool more = true;
	int r;

	*reset = 0;
	r = rain_catalog_charge_list(repo->cat, "upload/", &ch, &nch);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nch; i++) {
		const char *inst = strrchr(ch[i].key, '/');

		/* ours from before this start (while opening), or lapsed: dead */
		if ((!repo->opened && inst && !strcmp(inst + 1, repo->instance)) ||
		    (ch[i].expires_at && ch[i].expires_at <= now)) {
			rain_catalog_charge_delete(repo->cat, ch[i].key);
			ch[i].expires_at = 1;
		}
	}
	while (r == 0 && more) {
		struct rain_image **imgs = NULL;
		size_t n = 0;

		q.marker = marker[0] ? marker : NULL;
		r = rain_catalog_image_list(repo->cat, &q, &imgs, &n, &more);
		for (size_t i = 0; r == 0 && i < n; i++) {
			bool live = false;

			for (size_t j = 0; j < nch && !live; j++)
				live = !strncmp(ch[j].key + strlen("upload/"), imgs[i]->id, UUID_STR_LEN - 1) &&
				       (!ch[j].expires_at || ch[j].expires_at > now);
			if (!live && modify(repo, &upload_self, imgs[i]->id, RAIN_ACT_UPLOAD,
					    do_requeue_stale, NULL, NULL) == 0)
				(*reset)++;
		}
		if (n)
			snprintf(marker, sizeof(marker), "%s", imgs[n - 1]->id);
		rain_catalog_list_free(imgs, n);
		if (!n)
			break;
	}
	free(ch);
	rain_error_clear();
	return r;
}

int rain_repo_requeue_lapsed(struct rain_repo *repo, int64_t *reset)
{
	rain_error_clear();
	return requeue_stale(repo, reset);
}

int rain_repo_recover(struct rain_repo *repo, struct rain_repo_recovery *rec)
{
	int r;

	rain_error_clear();
	rec->uploads_reset = rec->tmp_removed = rec->blobs_removed = 0;
	r = requeue_stale(repo, &rec->uploads_reset);
	if (r == 0)
		r = rain_blob_purge_tmp(repo->blobs, repo->tmp_grace_us > 0 ?
					time_now_us() - repo->tmp_grace_us : INT64_MAX, &rec->tmp_removed);
	if (r == 0) {
		struct gc_ctx gc = { repo, 0 };

		r = rain_blob_list(repo->blobs, gc_one, &gc);
		rec->blobs_removed = gc.removed;
	}
	return r;
}

/* The data folder's instance id: read, or made on first use. */
static int instance_id(const char *data_dir, char out[17])
{
	_cleanup_free_ char *path = fs_path_join(data_dir, "instance"), *text = NULL;
	char uuid[UUID_STR_LEN];
	size_t len = 0;
	int r;

	if (!path)
		return rain_error_oom();
	if (fs_read_small(path, 64, &text, &len) == 0 && len >= 16 && hex_is_valid(text, 16)) {
		memcpy(out, text, 16);
		out[16] = '\0';
		return 0;
	}
	rain_error_clear();
	r = uuid_generate(uuid);
	if (r < 0)
		return r;
	/* the hex digits of a random UUID, without its dashes */
	for (size_t i = 0, n = 0; n < 16; i++)
		if (uuid[i] != '-')
			out[n++] = uuid[i];
	out[16] = '\0';
	return fs_write_atomic(path, out, 16, 0600);
}

int rain_repo_open(struct rain_repo **out, const struct rain_repo_options *opts,
		   struct rain_repo_recovery *rec)
{
	_cleanup_free_ char *lockpath = NULL, *catalog = NULL, *blobs = NULL;
	struct rain_repo_recovery tmp = { 0 };
	struct rain_repo *repo;
	int r;

	rain_error_clear();
	if (!rec)
		rec = &tmp;
	r = fs_mkdir_p(opts->data_dir, 0700);
	if (r < 0)
		return r;
	repo = calloc(1, sizeof(*repo));
	if (!repo)
		return rain_error_oom();
	repo->lock_fd = -1;
	pthread_mutex_init(&repo->blob_lock, NULL);
	pthread_mutex_init(&repo->create_lock, NULL);
	repo->md5 = opts->md5_checksum;
	repo->max_size = opts->max_image_size;
	repo->lease_us = opts->upload_lease_us > 0 ? opts->upload_lease_us : UPLOAD_LEASE_DEFAULT;
	repo->tmp_grace_us = opts->tmp_grace_us;
	lockpath = fs_path_join(opts->data_dir, "lock");
	if (!lockpath) {
		r = rain_error_oom();
		goto fail;
	}
	repo->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (repo->lock_fd < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot open %s", lockpath);
		goto fail;
	}
	if (flock(repo->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = rain_error_set(RAIN_ECONFLICT,
				   "data directory %s is in use by another raind (lock %s)",
				   opts->data_dir, lockpath);
		goto fail;
	}
	r = instance_id(opts->data_dir, repo->instance);
	if (r < 0)
		goto fail;
	if (opts->catalog_uri)
		catalog = strdup(opts->catalog_uri);
	else if (asprintf(&catalog, "sqlite:%s/catalog.db", opts->data_dir) < 0)
		catalog = NULL;
	if (opts->blob_uri)
		blobs = strdup(opts->blob_uri);
	else if (asprintf(&blobs, "file:%s/blobs", opts->data_dir) < 0)
		blobs = NULL;
	if (!catalog || !blobs) {
		r = rain_error_oom();
		goto fail;
	}
	r = rain_catalog_open(&repo->cat, catalog);
	if (r < 0)
		goto fail;
	r = rain_blob_store_open(&repo->blobs, blobs);
	if (r < 0)
		goto fail;
	repo->stage_dir = fs_path_join(opts->data_dir, "staging");
	if (!repo->stage_dir) {
		r = rain_error_oom();
		goto fail;
	}
	r = fs_mkdir_p(repo->stage_dir, 0700);
	if (r < 0)
		goto fail;
	r = stage_recover(repo, &rec->imports_reset);
	if (r < 0)
		goto fail;
	r = rain_repo_recover(repo, rec);
	if (r < 0)
		goto fail;
	repo->opened = true;
	*out = repo;
	return 0;
fail:
	rain_repo_close(repo);
	return r;
}

void rain_repo_close(struct rain_repo *repo)
{
	if (!repo)
		return;
	rain_blob_store_close(repo->blobs);
	rain_catalog_close(repo->cat);
	if (repo->lock_fd >= 0)
		close(repo->lock_fd);
	pthread_mutex_destroy(&repo->blob_lock);
	pthread_mutex_destroy(&repo->create_lock);
	free(repo->stage_dir);
	free(repo);
}

/* An upload's own steps after its start (requeue, activate): the start
 * was checked against the uploader. */
static const struct rain_who upload_self = { .owner = "", .admin = true };

/* The image id, if who may do action to it (rain/policy.h). */
static int load(struct rain_repo *repo, const struct rain_who *who, const char *id,
		enum rain_action action, struct rain_image **out)
{
	struct rain_image *img = NULL;
	struct rain_member m;
	bool member = false;
	int r;

	if (!uuid_is_valid(id))
		return rain_error_set(RAIN_ENOTFOUND, "No image found with ID %s", id);
	r = rain_catalog_image_get(repo->cat, id, &img);
	if (r < 0)
		return r;
	/* membership matters only for others' shared images */
	if (img->visibility == RAIN_VIS_SHARED && who->owner &&
	    (action == RAIN_ACT_ANSWER || (!who->admin && (!img->owner || strcmp(img->owner, who->owner)))))
		member = rain_catalog_member_get(repo->cat, img->id, who->owner, &m) == 0;
	r = rain_policy_check(who, img, member ? &m : NULL, action);
	if (r < 0) {
		rain_image_free(img);
		return r;
	}
	*out = img;
	return 0;
}

int rain_repo_image_get(struct rain_repo *repo, const struct rain_who *who, const char *id,
			struct rain_image **out)
{
	rain_error_clear();
	return load(repo, who, id, RAIN_ACT_SHOW, out);
}

int rain_repo_image_load(struct rain_repo *repo, const struct rain_who *who, const char *id,
			 enum rain_action action, struct rain_image **out)
{
	rain_error_clear();
	return load(repo, who, id, action, out);
}

static int check_publicize(const struct rain_who *who, const struct rain_image *img)
{
	return img->visibility == RAIN_VIS_PUBLIC ? rain_policy_check(who, img, NULL, RAIN_ACT_PUBLICIZE) : 0;
}

/* The name of a user as a client gave it ("Alice"), as stored ("alice";
 * rain_catalog_user_find) into buf (RAIN_USER_NAME_MAX + 1 bytes), and
 * returned; name itself when no user has it (then *found, if found is not
 * NULL, is false). */
static const char *stored_name(struct rain_repo *repo, const char *name, char *buf, bool *found)
{
	struct rain_user *u = NULL;
	bool is_user = rain_catalog_user_find(repo->cat, name, &u) == 0;

	if (is_user) {
		snprintf(buf, RAIN_USER_NAME_MAX + 1, "%s", u->name);
		name = buf;
	}
	rain_user_free(u);
	if (found)
		*found = is_user;
	return name;
}

/* Give img to owner: admins only, not while an upload is in flight (it
 * holds the old owner's quota), only to a user who exists. Naming the
 * owner it has (in any case) is no give. */
static int give(struct rain_repo *repo, const struct rain_who *who, struct rain_image *img,
		const char *owner)
{
	char buf[RAIN_USER_NAME_MAX + 1];
	bool found;
	char *copy;
	int r;

	owner = stored_name(repo, owner, buf, &found);
	if (found && img->owner && !strcmp(img->owner, owner))
		return 0;
	r = rain_policy_check(who, img, NULL, RAIN_ACT_GIVE);
	if (r < 0)
		return r;
	if (img->status == RAIN_STATUS_SAVING)
		return rain_error_set(RAIN_ECONFLICT, "image %s is being uploaded; change its owner "
				      "once the upload is done", img->id);
	if (!found)
		return rain_error_set(RAIN_EINVAL, "owner: there is no user %s to give the image to",
				      rain_user_name_valid(owner) ? owner : "of that name");
	if (!(copy = strdup(owner)))
		return rain_error_oom();
	free(img->owner);
	img->owner = copy;
	return 0;
}

int rain_repo_image_create(struct rain_repo *repo, const struct rain_who *who,
			   json_t *body, struct rain_image **out)
{
	struct rain_image *img = NULL;
	const char *key, *give_to = NULL;
	bool locked = false;
	json_t *v;
	int r = 0;

	rain_error_clear();
	if (!json_is_object(body))
		return rain_error_set(RAIN_EINVAL, "the request body must be a JSON object");
	img = rain_image_new();
	if (!img)
		return rain_error_oom();
	json_object_foreach(body, key, v) {
		if (!strcmp(key, "owner")) {
			/* an admin may create an image for another user */
			if (!(give_to = json_string_value(v))) {
				r = rain_error_set(RAIN_EINVAL, "owner must be a user name");
				break;
			}
			continue;
		}
		if (!strcmp(key, "id")) {
			const char *id = json_string_value(v);

			if (!id || !uuid_is_valid(id)) {
				r = rain_error_set(RAIN_EINVAL, "'id' must be a UUID such as "
						   "'7d5c3a6e-2b1f-4e0a-9c3d-1a2b3c4d5e6f'");
				break;
			}
			snprintf(img->id, sizeof(img->id), "%s", id);
			uuid_canonicalize(img->id);
			continue;
		}
		r = rain_image_attr_set(img, key, v);
		if (r < 0)
			break;
	}
	if (r == 0 && !img->id[0])
		r = uuid_generate(img->id);
	if (r == 0 && !(img->owner = strdup(who->owner)))
		r = rain_error_oom();
	if (r == 0 && give_to && strcmp(give_to, who->owner))
		r = give(repo, who, img, give_to);
	if (r == 0)
		r = check_publicize(who, img);
	/* count and insert under a lock, so that concurrent creates through
	 * this process cannot all pass the count and overrun the quota */
	if (r == 0 && who->quota_images > 0) {
		struct rain_usage u;

		pthread_mutex_lock(&repo->create_lock);
		locked = true;
			r = rain_catalog_usage(repo->cat, who->owner, &u);
		if (r == 0 && u.images >= who->quota_images)
			r = rain_error_set(RAIN_ETOOBIG, "Image count quota exceeded: %s has %lld of %lld images",
					   who->owner, (long long)u.images, (long long)who->quota_images);
	}
	if (r == 0) {
		img->created_at = img->updated_at = time_now_us();
		r = rain_catalog_image_create(repo->cat, img);
	}
	if (locked)
		pthread_mutex_unlock(&repo->create_lock);
	if (r < 0) {
		rain_image_free(img);
		return r;
	}
	*out = img;
	return 0;
}

/* Read-modify-write with optimistic concurrency: fn changes a fresh copy,
 * which is stored only if nobody wrote in between; else start over. */
typedef int (*modify_fn)(struct rain_image *img, void *ud);

static int modify(struct rain_repo *repo, const struct rain_who *who, const char *id,
		  enum rain_action action, modify_fn fn, void *ud, struct rain_image **out)
{
	for (int attempt = 0; ; attempt++) {
		struct rain_image *img = NULL;
		int r = load(repo, who, id, action, &img);

		if (r < 0)
			return r;
		r = fn(img, ud);
		if (r == 1) {           /* nothing to change */
			r = 0;
		} else if (r == 0) {
			img->updated_at = time_now_us();
			r = rain_catalog_image_update(repo->cat, img);
			if (r == RAIN_ECONFLICT && attempt < MODIFY_RETRIES) {
				rain_image_free(img);
				continue;
			}
			if (r == 0)
				img->revision++;
		}
		if (r < 0 || !out)
			rain_image_free(img);
		else
			*out = img;
		return r;
	}
}

struct patch_ctx {
	struct rain_repo *repo;
	const struct rain_who *who;
	const struct rain_jsonpatch *patch;
	const char *owner;          /* the patch gives the image to this user */
};

static bool str_changed(const char *a, const char *b)
{
	return !a != !b || (a && strcmp(a, b));
}

/* As Glance: the formats say how to read the data, which was checked
 * against them when it came (rain/diskfmt.h), so they change only while
 * there is no data, else a file checked as ami could be relabelled vmdk. */
static int check_formats_kept(const struct rain_image *img, const char *disk,
			      const char *container)
{
	const char *attr = str_changed(disk, img->disk_format) ? "disk_format" :
			   str_changed(container, img->container_format) ? "container_format" : NULL;

	if (!attr || img->status == RAIN_STATUS_QUEUED)
		return 0;
	return rain_error_set(RAIN_EFORBIDDEN,
			      "Attribute %s can be only replaced for a queued image: image %s is %s "
			      "and its data was checked as %s %s; create a new image for the data "
			      "in another format", attr, img->id, rain_image_status_name(img->status),
			      disk ? disk : "(none)", container ? container : "(none)");
}

static int do_patch(struct rain_image *img, void *ud)
{
	struct patch_ctx *pc = ud;
	struct rain_jsonpatch rest = { .items = calloc(pc->patch->n + 1, sizeof(*rest.items)) };
	_cleanup_free_ char *disk = img->disk_format ? strdup(img->disk_format) : NULL;
	_cleanup_free_ char *container = img->container_format ? strdup(img->container_format) : NULL;
	int r = rest.items && !(img->disk_format && !disk) &&
		!(img->container_format && !container) ? 0 : rain_error_oom();

	/* the owner is the repository's business; the rest the image's */
	for (size_t i = 0; i < pc->patch->n && r == 0; i++) {
		if (strcmp(pc->patch->items[i].attr, "owner"))
			rest.items[rest.n++] = pc->patch->items[i];
		else if (pc->patch->items[i].op == RAIN_PATCH_REMOVE)
			r = rain_error_set(RAIN_EFORBIDDEN, "Attribute 'owner' cannot be removed.");
	}
	if (r == 0 && pc->owner && (!img->owner || strcmp(pc->owner, img->owner)))
		r = give(pc->repo, pc->who, img, pc->owner);
	if (r == 0)
		r = rain_image_apply_patch(img, &rest);
	if (r == 0)
		r = check_formats_kept(img, disk, container);
	free(rest.items);
	if (r < 0)
		return r;
	/* as Glance: publicizing is checked when visibility is set, so the
	 * owner of a public image may still edit its other attributes */
	for (size_t i = 0; i < pc->patch->n; i++)
		if (!strcmp(pc->patch->items[i].attr, "visibility"))
			return check_publicize(pc->who, img);
	return 0;
}

int rain_repo_image_patch(struct rain_repo *repo, const struct rain_who *who, const char *id,
			  const struct rain_jsonpatch *patch, struct rain_image **out)
{
	struct patch_ctx pc = { repo, who, patch, NULL };
	char buf[RAIN_USER_NAME_MAX + 1];

	rain_error_clear();
	for (size_t i = 0; i < patch->n; i++)
		if (!strcmp(patch->items[i].attr, "owner") && patch->items[i].op != RAIN_PATCH_REMOVE &&
		    !(pc.owner = json_string_value(patch->items[i].value)))
			return rain_error_set(RAIN_EINVAL, "owner must be a user name");
	if (pc.owner)
		pc.owner = stored_name(repo, pc.owner, buf, NULL);
	return modify(repo, who, id, RAIN_ACT_MODIFY, do_patch, &pc, out);
}

/* Drop hash's blob if no image refers to it and no server holds it (an
 * upload publishing it): the removal's own hold in the catalog makes
 * the check and the removal one step for every raind. Caller holds
 * blob_lock. Whether it was removed. */
static bool release_blob(struct rain_repo *repo, const char *sha256)
{
	char holder[UUID_STR_LEN];
	bool removed = false;

	if (uuid_generate(holder) < 0)
		return false;
	if (rain_catalog_blob_hold(repo->cat, sha256, holder, true, time_now_us() + REMOVAL_LEASE) < 0) {
		rain_error_clear();
		return false;
	}
	removed = rain_blob_remove(repo->blobs, sha256) == 0;
	rain_catalog_blob_release(repo->cat, sha256, holder);
	rain_error_clear();
	return removed;
}

/* Publish w's data, held in the catalog for holder until the caller
 * releases it (once an image refers to the hash): *res its result. A
 * removal of the same hash by another server is waited for (it is
 * short); w is freed either way. */
static int publish_held(struct rain_repo *repo, struct rain_blob_writer *w, const char *holder,
			int64_t lease_us, struct rain_blob_result *res)
{
	int r = rain_blob_write_seal(w, res);

	for (int64_t waited = 0; r == 0; waited += 50000) {
		r = rain_catalog_blob_hold(repo->cat, res->sha256, holder, false, time_now_us() + lease_us);
		if (r != RAIN_ECONFLICT || waited > REMOVAL_LEASE)
			break;
		r = 0;
		usleep(50000);
	}
	if (r < 0) {
		rain_blob_write_abort(w);
		return r;
	}
	r = rain_blob_write_commit(w, res);
	if (r < 0)
		rain_catalog_blob_release(repo->cat, res->sha256, holder);
	return r;
}

int rain_repo_image_delete(struct rain_repo *repo, const struct rain_who *who, const char *id)
{
	rain_error_clear();
	for (int attempt = 0; ; attempt++) {
		struct rain_image *img = NULL;
		int r = load(repo, who, id, RAIN_ACT_DELETE, &img);

		if (r < 0)
			return r;
		if (img->protected_) {
			rain_image_free(img);
			return rain_error_set(RAIN_EFORBIDDEN,
					      "Image %s is protected and cannot be deleted.", id);
		}
		pthread_mutex_lock(&repo->blob_lock);
		r = rain_catalog_image_delete(repo->cat, img);
		if (r == 0 && img->os_hash_value)
			release_blob(repo, img->os_hash_value);
		if (r == 0 && rain_image_prop_get(img, VETTING_REPORT))
			release_blob(repo, rain_image_prop_get(img, VETTING_REPORT));
		pthread_mutex_unlock(&repo->blob_lock);
		if (r == 0 && img->status == RAIN_STATUS_UPLOADING)
			stage_remove(repo, img->owner, img->id);
		rain_image_free(img);
		if (r == RAIN_ECONFLICT && attempt < MODIFY_RETRIES)
			continue;
		return r;
	}
}

static int do_tag_add(struct rain_image *img, void *ud)
{
	return rain_image_has_tag(img, ud) ? 1 : rain_image_tag_add(img, ud);
}

static int do_tag_remove(struct rain_image *img, void *ud)
{
	int r = rain_image_tag_remove(img, ud);

	return r == RAIN_ENOTFOUND ? rain_error_set(r, "Tag %s not found", (char *)ud) : r;
}

int rain_repo_tag_add(struct rain_repo *repo, const struct rain_who *who, const char *id, const char *tag)
{
	rain_error_clear();
	return modify(repo, who, id, RAIN_ACT_TAG, do_tag_add, (void *)tag, NULL);
}

int rain_repo_tag_remove(struct rain_repo *repo, const struct rain_who *who, const char *id,
			 const char *tag)
{
	rain_error_clear();
	return modify(repo, who, id, RAIN_ACT_TAG, do_tag_remove, (void *)tag, NULL);
}

static int do_deactivate(struct rain_image *img, void *ud)
{
	if (img->status == RAIN_STATUS_DEACTIVATED)
		return 1;
	if (img->status != RAIN_STATUS_ACTIVE)
		return rain_error_set(RAIN_EFORBIDDEN, "Not allowed to deactivate image in status '%s'",
				      rain_image_status_name(img->status));
	img->status = RAIN_STATUS_DEACTIVATED;
	return 0;
}

static int do_reactivate(struct rain_image *img, void *ud)
{
	if (img->status == RAIN_STATUS_ACTIVE)
		return 1;
	if (img->status != RAIN_STATUS_DEACTIVATED)
		return rain_error_set(RAIN_EFORBIDDEN, "Not allowed to reactivate image in status '%s'",
				      rain_image_status_name(img->status));
	img->status = RAIN_STATUS_ACTIVE;
	return 0;
}

int rain_repo_image_deactivate(struct rain_repo *repo, const struct rain_who *who, const char *id)
{
	rain_error_clear();
	return modify(repo, who, id, RAIN_ACT_DEACTIVATE, do_deactivate, NULL, NULL);
}

int rain_repo_image_reactivate(struct rain_repo *repo, const struct rain_who *who, const char *id)
{
	rain_error_clear();
	return modify(repo, who, id, RAIN_ACT_DEACTIVATE, do_reactivate, NULL, NULL);
}

/* ---- uploads ---- */

struct begin_ctx {
	char *disk_format;
	char *owner;
	enum rain_image_status from, to;
	const char *task;           /* an import's task id (os_glance_import_task) */
	const char *stage_host;     /* a stage's host (os_glance_stage_host) */
};

static int do_begin(struct rain_image *img, void *ud)
{
	struct begin_ctx *bc = ud;

	if (img->status != bc->from)
		return rain_error_set(RAIN_ECONFLICT,
				      "Image status transition from %s to %s is not allowed",
				      rain_image_status_name(img->status), rain_image_status_name(bc->to));
	if (!img->disk_format || !img->container_format)
		return rain_error_set(RAIN_EINVAL,
				      "Properties disk_format, container_format must be set prior to saving data.");
	free(bc->disk_format);
	free(bc->owner);
	bc->disk_format = strdup(img->disk_format);
	bc->owner = img->owner ? strdup(img->owner) : NULL;
	if (!bc->disk_format || (img->owner && !bc->owner))
		return rain_error_oom();
	img->status = bc->to;
	if (bc->task) {
		rain_image_prop_remove(img, "os_glance_failed_import");
		rain_image_prop_remove(img, RAIN_IMAGE_IMPORT_ERROR);
		rain_error_clear();
		if (rain_image_prop_set(img, "os_glance_import_task", bc->task) < 0)
			return rain_error_oom();
	}
	if (bc->stage_host && rain_image_prop_set(img, "os_glance_stage_host", bc->stage_host) < 0)
		return rain_error_oom();
	return 0;
}

struct requeue_ctx {
	enum rain_image_status from, to;
	const char *error;          /* an import's: recorded on the image */
};

static int do_requeue(struct rain_image *img, void *ud)
{
	struct requeue_ctx *rc = ud;

	if (img->status != rc->from)
		return 1;
	img->status = rc->to;
	if (rc->error && (rain_image_prop_set(img, "os_glance_failed_import", RAIN_STORE_ID) < 0 ||
			  rain_image_prop_set(img, RAIN_IMAGE_IMPORT_ERROR, rc->error) < 0))
		return rain_error_oom();
	return 0;
}

static char *stage_path(struct rain_repo *repo, const char *id, const char *suffix)
{
	char *p;

	return asprintf(&p, "%s/%s%s", repo->stage_dir, id, suffix) < 0 ? NULL : p;
}

/* Forget image id's staged data: the file and its charge. */
static void stage_remove(struct rain_repo *repo, const char *owner, const char *id)
{
	_cleanup_free_ char *path = stage_path(repo, id, "");
	char key[RAIN_CHARGE_KEY_MAX + 1];

	if (path)
		unlink(path);
	snprintf(key, sizeof(key), "stage/%s", id);
	if (owner)
		rain_repo_charge_drop(repo, owner, key);
	else
		rain_catalog_charge_delete(repo->cat, key);
	rain_error_clear();
}

/* Give back what the upload holds of its owner's usage. */
static void upload_release(struct rain_upload *up)
{
	if (!up->charged)
		return;
	rain_catalog_charge_delete(up->repo->cat, up->charge.key);
	up->charged = false;
	up->reserved = 0;
}

/* Hold n bytes for the upload in the catalog, under a renewed lease,
 * checked against the uploader's quota (0: none) unless just renewing. */
static int upload_reserve(struct rain_upload *up, int64_t n, bool check)
{
	struct rain_charge ch = up->charge;
	int64_t used = 0;
	int r;

	ch.bytes = n;
	ch.expires_at = time_now_us() + up->repo->lease_us;
	r = rain_catalog_charge_reserve(up->repo->cat, &ch, check ? up->quota : 0, &used);
	if (r == RAIN_ETOOBIG)
		return rain_error_set(RAIN_ETOOBIG, "Image exceeds the storage quota: %s has %lld of "
				      "%lld bytes stored or being uploaded, no room for %lld more",
				      ch.owner, (long long)used, (long long)up->quota,
				      (long long)(n > 0 ? n : 1));
	if (r < 0)
		return r;
	up->charge = ch;
	up->charged = true;
	up->reserved = n;
	up->room = up->quota - used - n;
	return 0;
}

static void upload_free(struct rain_upload *up)
{
	rain_blob_write_abort(up->w);
	upload_release(up);
	if (up->stage_fd >= 0)
		close(up->stage_fd);
	if (up->stage_part)
		unlink(up->stage_part);
	if (up->src_fd >= 0)
		close(up->src_fd);
	free(up->stage_part);
	free(up->stage_path);
	free(up->stage_src);
	free(up->owner);
	free(up->disk_format);
	free(up->head);
	free(up);
}

static void upload_fail(struct rain_upload *up, enum rain_image_status to)
{
	/* keep the caller's message: the requeue below may overwrite it */
	char msg[1024];
	struct requeue_ctx rc = { up->busy, to, NULL };

	snprintf(msg, sizeof(msg), "%s", rain_error_last());
	if (up->import) {
		/* a failed import starts over from nothing (Glance's) */
		rc.to = RAIN_STATUS_QUEUED;
		rc.error = msg;
	}
	modify(up->repo, &upload_self, up->id, RAIN_ACT_UPLOAD, do_requeue, &rc, NULL);
	if (up->stage_src)
		stage_remove(up->repo, up->owner, up->id);
	upload_free(up);
	rain_error_set(0, "%s", msg);
}

/* Start an upload moving image id from bc->from to bc->to (who must be
 * allowed to upload), its bytes held against quota (0: none). */
static int begin(struct rain_repo *repo, const struct rain_who *who, const char *id,
		 int64_t expected_size, int64_t quota, struct begin_ctx *bcp,
		 struct rain_upload **out)
{
	struct begin_ctx bc = *bcp;
	struct rain_image *img = NULL;
	struct rain_upload *up;
	int64_t limit = repo->max_size;
	int r;

	if (limit > 0 && expected_size > limit)
		return rain_error_set(RAIN_ETOOBIG,
				      "Image exceeds the storage quota: %lld bytes is more than the %lld allowed",
				      (long long)expected_size, (long long)limit);
	up = calloc(1, sizeof(*up));
	if (!up)
		return rain_error_oom();
	up->head = malloc(RAIN_DISKFMT_HEAD);
	if (!up->head) {
		free(up);
		return rain_error_oom();
	}
	up->repo = repo;
	up->expected = expected_size;
	up->limit = limit;
	up->quota = quota > 0 ? quota : 0;
	up->virtual_size = -1;
	up->busy = bc.to;
	up->stage_fd = -1;
	up->src_fd = -1;
	snprintf(up->id, sizeof(up->id), "%s", id);
	/* who may start it, and may it start: errors before the quota's;
	 * then the bytes are counted to the image's owner (only the owner
	 * and admins, who have no quota, upload: rain/policy.h) */
	r = load(repo, who, id, RAIN_ACT_UPLOAD, &img);
	if (r == 0)
		r = do_begin(img, &bc);
	/* an ownerless image's upload is charged to nobody (owner "") */
	snprintf(up->charge.key, sizeof(up->charge.key), "upload/%s/%s", up->id, repo->instance);
	if (r == 0 && img->owner)
		snprintf(up->charge.owner, sizeof(up->charge.owner), "%s", img->owner);
	rain_image_free(img);
	free(bc.disk_format);
	bc.disk_format = NULL;
	free(bc.owner);
	bc.owner = NULL;
	/* a declared length is taken whole now, else in steps as it comes;
	 * the charge also marks the upload live for the other servers */
	if (r == 0)
		r = upload_reserve(up, expected_size > 0 ? expected_size : 0,
				   up->charge.owner[0] != '\0' && up->quota > 0);
	if (r == 0)
		r = modify(repo, who, id, RAIN_ACT_UPLOAD, do_begin, &bc, NULL);
	up->disk_format = bc.disk_format;
	up->owner = bc.owner;
	if (r < 0) {
		upload_free(up);
		return r;
	}
	*out = up;
	return 0;
}

int rain_repo_upload_begin(struct rain_repo *repo, const struct rain_who *who, const char *id,
			   int64_t expected_size, struct rain_upload **out)
{
	struct begin_ctx bc = { .from = RAIN_STATUS_QUEUED, .to = RAIN_STATUS_SAVING };
	struct rain_upload *up;
	int r;

	rain_error_clear();
	r = begin(repo, who, id, expected_size, who->quota_bytes, &bc, &up);
	if (r < 0)
		return r;
	r = rain_blob_write_open(repo->blobs, repo->md5, &up->w);
	if (r < 0) {
		upload_fail(up, RAIN_STATUS_QUEUED);
		return r;
	}
	*out = up;
	return 0;
}

/* The head of a streaming upload: refuse early what it already shows
 * to be wrong (rain/diskfmt.h); the rest is judged at the end. */
static int check_head(struct rain_upload *up)
{
	up->head_checked = true;
	return rain_diskfmt_check(up->disk_format, up->head, up->headlen, -1, NULL);
}

static ssize_t upload_read(void *ud, uint64_t off, void *buf, size_t len)
{
	return off > INT64_MAX ? 0 : rain_blob_write_pread(ud, (int64_t)off, buf, len);
}

/* The whole upload as written, before it is published: what it is, that
 * it is what was declared and refers to no other file, its virtual size. */
static int inspect_upload(struct rain_upload *up, int64_t size)
{
	struct rain_diskfmt_info info;
	int r = rain_diskfmt_inspect(up->disk_format, size, upload_read, up->w, &info);

	if (r == 0)
		up->virtual_size = info.virtual_size;
	return r;
}

static int64_t upload_size(const struct rain_upload *up)
{
	return up->stage_fd >= 0 ? up->stage_size : rain_blob_write_size(up->w);
}

static int upload_error_status(int r)
{
	return r == RAIN_EIO ? RAIN_STATUS_KILLED : RAIN_STATUS_QUEUED;
}

int rain_repo_upload_write(struct rain_upload *up, const void *buf, size_t len)
{
	int64_t size;
	int r;

	rain_error_clear();
	size = upload_size(up) + (int64_t)len;
	if (up->limit > 0 && size > up->limit)
		return rain_error_set(RAIN_ETOOBIG,
				      "Image exceeds the storage quota: more than the %lld bytes allowed",
				      (long long)up->limit);
	if (up->expected >= 0 && size > up->expected)
		return rain_error_set(RAIN_EINVAL, "more data than the announced %lld bytes",
				      (long long)up->expected);
	/* the chunk's bytes are taken before they are written (an upload
	 * with a declared length took them all at its start): under a quota
	 * exactly, or with plenty of room left (or no quota: an admin's
	 * upload into a user's image still counts to the user) in steps of
	 * up to RESERVE_STEP_MAX ahead (one catalog write per step); one refused
	 * gives back the rest, so that it never makes a concurrent upload
	 * fail after it failed itself. The lease is renewed at half its
	 * time. */
	if (up->charge.owner[0] && size > up->reserved) {
		int64_t ahead = size < RESERVE_STEP_MAX ? size : RESERVE_STEP_MAX;

		if (up->quota > 0 && up->room < 16 * RESERVE_STEP_MAX)
			ahead = 0;
		if (up->limit > 0 && size + ahead > up->limit)
			ahead = up->limit - size;
		r = upload_reserve(up, size + ahead, up->quota > 0);
		if (r == RAIN_ETOOBIG && ahead > 0)
			r = upload_reserve(up, size, true);
		if (r < 0) {
			upload_release(up);
			return r;
		}
	} else if (up->charged && up->charge.expires_at - time_now_us() < up->repo->lease_us / 2) {
		r = upload_reserve(up, up->reserved, false);
		if (r < 0)
			return r;
	}
	if (!up->head_checked) {
		size_t n = RAIN_DISKFMT_HEAD - up->headlen;

		if (n > len)
			n = len;
		memcpy(up->head + up->headlen, buf, n);
		up->headlen += n;
		if (up->headlen == RAIN_DISKFMT_HEAD) {
			r = check_head(up);
			if (r < 0)
				return r;
		}
	}
	if (up->stage_fd >= 0) {
		r = fs_write_all(up->stage_fd, buf, len, up->stage_part);
		if (r == 0)
			up->stage_size += (int64_t)len;
		return r;
	}
	return rain_blob_write(up->w, buf, len);
}

static int do_activate(struct rain_image *img, void *ud)
{
	const struct rain_image *data = ud;

	if (img->status != RAIN_STATUS_SAVING && img->status != RAIN_STATUS_IMPORTING)
		return rain_error_set(RAIN_ECONFLICT,
				      "image %s changed to %s during the upload", img->id,
				      rain_image_status_name(img->status));
	img->status = RAIN_STATUS_ACTIVE;
	rain_image_prop_remove(img, "os_glance_stage_host");
	rain_error_clear();
	/* new data: a verdict was about the old (its report is released by
	 * the collection of unreferenced blobs at the next start) */
	vetting_drop(img);
	img->size = data->size;
	img->virtual_size = data->virtual_size;
	free(img->checksum);
	free(img->os_hash_algo);
	free(img->os_hash_value);
	img->checksum = data->checksum ? strdup(data->checksum) : NULL;
	img->os_hash_algo = strdup("sha256");
	img->os_hash_value = strdup(data->os_hash_value);
	if ((data->checksum && !img->checksum) || !img->os_hash_algo || !img->os_hash_value)
		return rain_error_oom();
	return 0;
}

/* The end of a stage: the data durable under its final name, its bytes
 * moved from the upload's hold to the charge "stage/ID" in one step (as
 * an upload's move to stored), the image left uploading. */
static int stage_finish(struct rain_upload *up, struct rain_image **out)
{
	struct rain_charge ch = { .bytes = up->stage_size };
	int r;

	if (up->expected >= 0 && up->stage_size != up->expected) {
		r = rain_error_set(RAIN_EINVAL, "upload ended after %lld of %lld bytes",
				   (long long)up->stage_size, (long long)up->expected);
		upload_fail(up, RAIN_STATUS_QUEUED);
		return r;
	}
	if (fsync(up->stage_fd) < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot write %s", up->stage_part);
		upload_fail(up, RAIN_STATUS_QUEUED);
		return r;
	}
	/* the staged bytes count as the charge "stage/ID" before the
	 * upload's own goes (upload_free): for a moment twice, never not */
	r = 0;
	if (up->owner) {
		snprintf(ch.key, sizeof(ch.key), "stage/%s", up->id);
		snprintf(ch.owner, sizeof(ch.owner), "%s", up->owner);
		r = rain_catalog_charge_set(up->repo->cat, &ch);
	}
	if (r == 0 && rename(up->stage_part, up->stage_path) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot rename %s", up->stage_part);
	if (r == 0) {
		free(up->stage_part);
		up->stage_part = NULL;
		fs_fsync_dir(up->repo->stage_dir);
	}
	if (r < 0) {
		if (up->owner)
			rain_repo_charge_drop(up->repo, up->owner, ch.key);
		upload_fail(up, RAIN_STATUS_QUEUED);
		return r;
	}
	r = out ? rain_repo_image_get(up->repo, &upload_self, up->id, out) : 0;
	upload_free(up);
	return r;
}

int rain_repo_upload_finish(struct rain_upload *up, struct rain_image **out)
{
	struct rain_repo *repo = up->repo;
	struct rain_blob_result res;
	struct rain_image data = { 0 };
	char holder[UUID_STR_LEN];
	int64_t size;
	int r;

	rain_error_clear();
	if (up->stage_fd >= 0)
		return stage_finish(up, out);
	size = rain_blob_write_size(up->w);
	if (up->expected >= 0 && size != up->expected) {
		r = rain_error_set(RAIN_EINVAL, "upload ended after %lld of %lld bytes",
				   (long long)size, (long long)up->expected);
		upload_fail(up, RAIN_STATUS_QUEUED);
		return r;
	}
	r = inspect_upload(up, size);
	if (r == 0)
		r = rain_blob_write_sync(up->w);    /* the slow part, outside the lock */
	if (r < 0) {
		upload_fail(up, upload_error_status(r));
		return r;
	}
	pthread_mutex_lock(&repo->blob_lock);
	r = uuid_generate(holder);
	if (r == 0)
		r = publish_held(repo, up->w, holder, repo->lease_us, &res);
	else
		rain_blob_write_abort(up->w);
	up->w = NULL;
	if (r == 0) {
		data.size = res.size;
		data.virtual_size = up->virtual_size;
		data.checksum = res.md5[0] ? res.md5 : NULL;
		data.os_hash_value = res.sha256;
		/* the image counts its bytes before the charge goes (see the
		 * top of this file) */
		r = modify(repo, &upload_self, up->id, RAIN_ACT_UPLOAD, do_activate, &data, out);
		rain_catalog_blob_release(repo->cat, res.sha256, holder);
		if (r < 0)
			release_blob(repo, res.sha256);
	}
	pthread_mutex_unlock(&repo->blob_lock);
	if (r < 0) {
		upload_fail(up, upload_error_status(r));
		return r;
	}
	if (up->stage_src)
		stage_remove(repo, up->owner, up->id);
	upload_free(up);
	return 0;
}

void rain_repo_upload_abort(struct rain_upload *up)
{
	if (up)
		upload_fail(up, RAIN_STATUS_QUEUED);
}

/* ---- interoperable import (Glance's stage and import) ---- */

int rain_repo_stage_begin(struct rain_repo *repo, const struct rain_who *who, const char *id,
			  int64_t expected_size, const char *stage_host, struct rain_upload **out)
{
	struct begin_ctx bc = { .from = RAIN_STATUS_QUEUED, .to = RAIN_STATUS_UPLOADING,
				.stage_host = stage_host };
	struct rain_upload *up;
	int r;

	rain_error_clear();
	r = begin(repo, who, id, expected_size, who->quota_bytes, &bc, &up);
	if (r < 0)
		return r;
	up->stage_path = stage_path(repo, up->id, "");
	up->stage_part = stage_path(repo, up->id, ".part");
	if (!up->stage_path || !up->stage_part) {
		r = rain_error_oom();
		upload_fail(up, RAIN_STATUS_QUEUED);
		return r;
	}
	/* one stage at a time per image (queued -> uploading is one step) */
	up->stage_fd = open(up->stage_part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (up->stage_fd < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", up->stage_part);
		free(up->stage_part);
		up->stage_part = NULL;
		upload_fail(up, RAIN_STATUS_QUEUED);
		return r;
	}
	*out = up;
	return 0;
}

int rain_repo_import_begin(struct rain_repo *repo, const struct rain_who *who, const char *id,
			   bool staged, const char *task, struct rain_upload **out)
{
	struct begin_ctx bc = { .from = staged ? RAIN_STATUS_UPLOADING : RAIN_STATUS_QUEUED,
				.to = RAIN_STATUS_IMPORTING, .task = task };
	_cleanup_free_ char *src = NULL;
	_cleanup_close_ int fd = -1;
	struct rain_upload *up;
	int64_t expected = -1;
	int r;

	rain_error_clear();
	if (!uuid_is_valid(id))
		return rain_error_set(RAIN_ENOTFOUND, "No image found with ID %s", id);
	if (staged) {
		struct rain_image *img = NULL;
		struct stat st;

		src = stage_path(repo, id, "");
		if (!src)
			return rain_error_oom();
		r = load(repo, who, id, RAIN_ACT_UPLOAD, &img);
		if (r < 0)
			return r;
		fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fstat(fd, &st) < 0) {
			const char *host = rain_image_prop_get(img, "os_glance_stage_host");

			r = img->status != RAIN_STATUS_UPLOADING ?
			    rain_error_set(RAIN_ECONFLICT, "Image %s has no staged data (its status is "
					   "%s): stage it first with PUT /v2/images/%s/stage", id,
					   rain_image_status_name(img->status), id) :
			    rain_error_set(RAIN_ECONFLICT, "the data of image %s was staged on another "
					   "server (%s): import it there", id, host ? host : "unknown");
			rain_image_free(img);
			return r;
		}
		rain_image_free(img);
		expected = st.st_size;
	}
	/* staged bytes are charged already: the import holds them again
	 * without a quota until they move to stored and the charge goes */
	r = begin(repo, who, id, expected, staged ? 0 : who->quota_bytes, &bc, &up);
	if (r < 0)
		return r;
	up->import = true;
	if (staged) {
		up->stage_src = TAKE_PTR(src);
		up->src_fd = TAKE_FD(fd);
	}
	r = rain_blob_write_open(repo->blobs, repo->md5, &up->w);
	if (r < 0) {
		upload_fail(up, RAIN_STATUS_QUEUED);
		return r;
	}
	*out = up;
	return 0;
}

int rain_repo_upload_source_fd(const struct rain_upload *up)
{
	return up->src_fd;
}

/* After a crash: an image left importing goes back to uploading when its
 * staged data is there (the import can be asked again), else to queued;
 * one left uploading without staged data (the stage was cut) to queued.
 * Partial stage files, staged files of images that no longer wait for an
 * import and charges without a file are removed. */
static int do_recover(struct rain_image *img, void *ud)
{
	bool *staged = ud;

	if (img->status == RAIN_STATUS_IMPORTING) {
		img->status = *staged ? RAIN_STATUS_UPLOADING : RAIN_STATUS_QUEUED;
		if (rain_image_prop_set(img, "os_glance_failed_import", RAIN_STORE_ID) < 0 ||
		    rain_image_prop_set(img, RAIN_IMAGE_IMPORT_ERROR,
					"the server stopped during the import; import again") < 0)
			return rain_error_oom();
		return 0;
	}
	if (img->status == RAIN_STATUS_UPLOADING && !*staged) {
		img->status = RAIN_STATUS_QUEUED;
		return 0;
	}
	return 1;
}

static int stage_recover(struct rain_repo *repo, int64_t *reset)
{
	struct rain_image_query q = { .nterms = 1, .limit = 1000, .requester_admin = true,
				      .include_community = true, .include_hidden = true,
				      .member_status = "all" };
	_cleanup_free_ struct rain_charge *charges = NULL;
	DIR *d;
	struct rain_image **imgs = NULL;
	struct dirent *de;
	size_t n = 0, nch = 0;
	bool more = false;
	int r;

	*reset = 0;
	q.terms[0] = (struct rain_query_term){ "status", RAIN_OP_IN, "uploading,importing" };
	r = rain_catalog_image_list(repo->cat, &q, &imgs, &n, &more);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = stage_path(repo, imgs[i]->id, "");
		bool staged = path && access(path, F_OK) == 0;

		if (modify(repo, &upload_self, imgs[i]->id, RAIN_ACT_UPLOAD, do_recover, &staged,
			   NULL) == 0)
			(*reset)++;
	}
	rain_catalog_list_free(imgs, n);
	rain_error_clear();
	d = opendir(repo->stage_dir);
	while (d && (de = readdir(d))) {
		char id[UUID_STR_LEN];
		struct rain_image *img = NULL;
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(len > 36 ? 36 : len), de->d_name);
		if (len == 36 && uuid_is_valid(id) &&
		    rain_catalog_image_get(repo->cat, id, &img) == 0 &&
		    img->status == RAIN_STATUS_UPLOADING) {
			rain_image_free(img);
			continue;
		}
		stage_remove(repo, img ? img->owner : NULL, id);
		if (len != 36) {
			_cleanup_free_ char *p = fs_path_join(repo->stage_dir, de->d_name);

			if (p)
				unlink(p);
		}
		rain_image_free(img);
	}
	if (d)
		closedir(d);
	if (rain_catalog_charge_list(repo->cat, "stage/", &charges, &nch) == 0) {
		for (size_t i = 0; i < nch; i++) {
			_cleanup_free_ char *path = stage_path(repo, charges[i].key + 6, "");

			if (path && access(path, F_OK) < 0)
				rain_repo_charge_drop(repo, charges[i].owner, charges[i].key);
		}
	}
	rain_error_clear();
	return 0;
}

/* ---- downloads ---- */

/* ---- charges (bytes stored outside images) ---- */

int rain_repo_charge_set(struct rain_repo *repo, const struct rain_who *who, const char *key,
			 int64_t bytes)
{
	struct rain_charge ch = { .bytes = bytes };
	int64_t quota = who->quota_bytes > 0 ? who->quota_bytes : 0, used = 0;
	int r;

	rain_error_clear();
	if (!who->owner || !*who->owner || strlen(who->owner) >= sizeof(ch.owner))
		return rain_error_set(RAIN_EINVAL, "a charge needs the name of its owner");
	if (!key || !*key || strlen(key) >= sizeof(ch.key) || bytes < 0)
		return rain_error_set(RAIN_EINVAL, "bad charge '%s' of %lld bytes", key ? key : "",
				      (long long)bytes);
	snprintf(ch.key, sizeof(ch.key), "%s", key);
	snprintf(ch.owner, sizeof(ch.owner), "%s", who->owner);
	r = rain_catalog_charge_reserve(repo->cat, &ch, quota, &used);
	if (r == RAIN_ETOOBIG)
		return rain_error_set(RAIN_ETOOBIG, "Image exceeds the storage quota: %s has %lld of "
				      "%lld bytes stored or being uploaded, no room for %lld more",
				      ch.owner, (long long)used, (long long)quota,
				      (long long)(bytes > 0 ? bytes : 1));
	return r;
}

int rain_repo_charge_drop(struct rain_repo *repo, const char *owner, const char *key)
{
	int r;

	rain_error_clear();
	r = rain_catalog_charge_delete(repo->cat, key);
	if (r == RAIN_ENOTFOUND) {
		rain_error_clear();
		r = 0;
	}
	return r;
}

struct stored_data {
	struct rain_repo *repo;
	struct rain_blob_reader *reader;
};

static ssize_t stored_read(void *ud, uint64_t off, void *buf, size_t len)
{
	struct stored_data *d = ud;

	return off > INT64_MAX ? 0 : rain_blob_read(d->repo->blobs, d->reader, (int64_t)off, buf, len);
}

static int data_open(struct rain_repo *repo, const struct rain_who *who, const char *id,
		     bool count, struct rain_image **out, struct rain_blob_reader *reader)
{
	struct rain_image *img = NULL;
	int r;

	rain_error_clear();
	r = load(repo, who, id, RAIN_ACT_DOWNLOAD, &img);
	if (r < 0)
		return r;
	if ((img->status != RAIN_STATUS_ACTIVE && img->status != RAIN_STATUS_DEACTIVATED) ||
		 !img->os_hash_value)
		r = rain_error_set(RAIN_ECONFLICT, "Image %s has no data (status %s); upload it first",
				   id, rain_image_status_name(img->status));
	if (r == 0)
		r = rain_blob_read_open(repo->blobs, img->os_hash_value, reader);
	if (r == 0 && reader->size != img->size) {
		rain_blob_read_close(repo->blobs, reader);
		r = rain_error_set(RAIN_EIO, "stored data of image %s has %lld bytes, expected %lld",
				   id, (long long)reader->size, (long long)img->size);
	} else if (r == 0) {
		/* data stored before the inspector (or by an older one) is
		 * checked as it leaves: a few small reads, never the whole */
		struct stored_data d = { repo, reader };

		r = rain_diskfmt_inspect(img->disk_format, reader->size, stored_read, &d, NULL);
		if (r < 0) {
			rain_blob_read_close(repo->blobs, reader);
			r = rain_error_set(RAIN_EFORBIDDEN, "the stored data of image %s fails the "
					   "disk-format inspection (%s); it is not served: delete the "
					   "image and upload a self-contained copy", id, rain_error_last());
		}
	}
	if (r < 0) {
		rain_image_free(img);
		return r;
	}
	if (count)
		rain_catalog_image_touch(repo->cat, id, time_now_us());
	*out = img;
	return 0;
}

int rain_repo_download_open(struct rain_repo *repo, const struct rain_who *who, const char *id,
			    struct rain_image **out, struct rain_blob_reader *reader)
{
	return data_open(repo, who, id, true, out, reader);
}

int rain_repo_data_open(struct rain_repo *repo, const struct rain_who *who, const char *id,
			struct rain_image **out, struct rain_blob_reader *reader)
{
	return data_open(repo, who, id, false, out, reader);
}

ssize_t rain_repo_download_read(struct rain_repo *repo, struct rain_blob_reader *reader,
				int64_t off, void *buf, size_t len)
{
	return rain_blob_read(repo->blobs, reader, off, buf, len);
}

void rain_repo_download_close(struct rain_repo *repo, struct rain_blob_reader *reader)
{
	rain_blob_read_close(repo->blobs, reader);
}

/* ---- members of shared images ---- */

int rain_repo_member_add(struct rain_repo *repo, const struct rain_who *who, const char *id,
			 const char *member, struct rain_member *out)
{
	struct rain_image *img = NULL;
	char buf[RAIN_USER_NAME_MAX + 1];
	bool found = false;
	int r;

	rain_error_clear();
	r = load(repo, who, id, RAIN_ACT_SHARE, &img);
	if (r < 0)
		return r;
	if (img->visibility != RAIN_VIS_SHARED)
		r = rain_error_set(RAIN_EFORBIDDEN, "Only shared images have members.");
	else if (!rain_user_name_valid(member))
		r = rain_error_set(RAIN_EINVAL, "'%s' is not a user name", member);
	else if (member = stored_name(repo, member, buf, &found), !found)
		/* a name nobody has yet would let its later user in */
		r = rain_error_set(RAIN_ENOTFOUND, "no user %s: an image is shared only with existing "
				   "users (see 'rain user list')", member);
	else if (img->owner && !strcmp(img->owner, member))
		r = rain_error_set(RAIN_EINVAL, "the owner cannot be a member of their own image");
	if (r == 0) {
		memset(out, 0, sizeof(*out));
		snprintf(out->image_id, sizeof(out->image_id), "%s", img->id);
		snprintf(out->member, sizeof(out->member), "%s", member);
		out->status = RAIN_MEMBER_PENDING;
		out->created_at = out->updated_at = time_now_us();
		r = rain_catalog_member_add(repo->cat, out);
		if (r == RAIN_EEXISTS)
			r = rain_error_set(RAIN_ECONFLICT, "%s is already a member of image %s", member, img->id);
	}
	rain_image_free(img);
	return r;
}

int rain_repo_member_list(struct rain_repo *repo, const struct rain_who *who, const char *id,
			  struct rain_member **out, size_t *n)
{
	struct rain_image *img = NULL;
	int r;

	rain_error_clear();
	r = load(repo, who, id, RAIN_ACT_SHOW, &img);
	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	if (rain_policy_check(who, img, NULL, RAIN_ACT_SHARE) == 0) {
		r = rain_catalog_member_list(repo->cat, img->id, out, n);
	} else if (img->visibility == RAIN_VIS_SHARED) {
		/* a member sees only their own entry */
		struct rain_member *m = calloc(1, sizeof(*m));

		r = m ? rain_catalog_member_get(repo->cat, img->id, who->owner, m) : rain_error_oom();
		if (r == 0) {
			*out = m;
			*n = 1;
		} else {
			free(m);
			r = r == RAIN_ENOTFOUND ? 0 : r;
		}
	} else {
		r = rain_error_set(RAIN_EFORBIDDEN, "Only shared images have members.");
	}
	rain_image_free(img);
	return r;
}

int rain_repo_member_get(struct rain_repo *repo, const struct rain_who *who, const char *id,
			 const char *member, struct rain_member *out)
{
	struct rain_image *img = NULL;
	char buf[RAIN_USER_NAME_MAX + 1];
	int r;

	rain_error_clear();
	r = load(repo, who, id, RAIN_ACT_SHOW, &img);
	if (r < 0)
		return r;
	member = stored_name(repo, member, buf, NULL);
	/* the owner and admins see every member; a member only itself */
	if (rain_policy_check(who, img, NULL, RAIN_ACT_SHARE) < 0 && (!who->owner || strcmp(who->owner, member)))
		r = rain_error_set(RAIN_ENOTFOUND, "%s is not a member of image %s", member, id);
	if (r == 0)
		r = rain_catalog_member_get(repo->cat, img->id, member, out);
	rain_image_free(img);
	return r;
}

int rain_repo_member_answer(struct rain_repo *repo, const struct rain_who *who, const char *id,
			    const char *member, enum rain_member_status status, struct rain_member *out)
{
	struct rain_image *img = NULL;
	char buf[RAIN_USER_NAME_MAX + 1];
	int r;

	rain_error_clear();
	member = stored_name(repo, member, buf, NULL);
	if (!who->owner || strcmp(who->owner, member))
		return rain_error_set(RAIN_EFORBIDDEN, "Only the member itself may accept or reject an image.");
	r = load(repo, who, id, RAIN_ACT_ANSWER, &img);
	if (r < 0)
		return r;
	r = rain_catalog_member_get(repo->cat, img->id, member, out);
	if (r == 0) {
		out->status = status;
		out->updated_at = time_now_us();
		r = rain_catalog_member_set(repo->cat, out);
	}
	rain_image_free(img);
	return r;
}

int rain_repo_member_delete(struct rain_repo *repo, const struct rain_who *who, const char *id,
			    const char *member)
{
	struct rain_image *img = NULL;
	char buf[RAIN_USER_NAME_MAX + 1];
	int r;

	rain_error_clear();
	r = load(repo, who, id, RAIN_ACT_SHARE, &img);
	if (r < 0)
		return r;
	r = rain_catalog_member_delete(repo->cat, img->id, stored_name(repo, member, buf, NULL));
	rain_image_free(img);
	return r;
}

/* ---- vetting ---- */

struct vetting_ctx {
	const struct rain_vetting *v;
	const char *report;         /* the new report's blob */
	char old[RAIN_SHA256_HEX];  /* the report it replaces, or "" */
};

static int do_vetting(struct rain_image *img, void *ud)
{
	struct vetting_ctx *vc = ud;
	const char *old = rain_image_prop_get(img, VETTING_REPORT);
	char at[40];
	int r;

	if (!img->os_hash_value || strcmp(img->os_hash_value, vc->v->sha256))
		return rain_error_set(RAIN_ECONFLICT, "image %s has other data than was vetted "
				      "(%s, now %s): vet it again", img->id, vc->v->sha256,
				      img->os_hash_value ? img->os_hash_value : "none");
	snprintf(vc->old, sizeof(vc->old), "%s", old ? old : "");
	vetting_drop(img);
	time_format_iso(time_now_us(), at, sizeof(at));
	r = rain_image_prop_set(img, RAIN_IMAGE_VETTING_PREFIX, vc->v->verdict);
	if (r == 0)
		r = rain_image_prop_set(img, VETTING_REPORT, vc->report);
	if (r == 0)
		r = rain_image_prop_set(img, RAIN_IMAGE_VETTING_PREFIX "_policy", vc->v->policy);
	if (r == 0)
		r = rain_image_prop_set(img, RAIN_IMAGE_VETTING_PREFIX "_feed",
					vc->v->feed ? vc->v->feed : "none");
	if (r == 0)
		r = rain_image_prop_set(img, RAIN_IMAGE_VETTING_PREFIX "_at", at);
	if (r == 0)
		r = rain_image_prop_set(img, RAIN_IMAGE_VETTING_PREFIX "_sha256", vc->v->sha256);
	return r;
}

int rain_repo_vetting_set(struct rain_repo *repo, const struct rain_who *who, const char *id,
			  const struct rain_vetting *v)
{
	_cleanup_free_ char *text = NULL;
	struct rain_blob_writer *w = NULL;
	struct rain_blob_result res;
	struct vetting_ctx vc = { .v = v };
	char holder[UUID_STR_LEN];
	int r;

	rain_error_clear();
	if (!v->sha256 || !v->verdict || !v->policy || !json_is_object(v->report))
		return rain_error_set(RAIN_EINVAL, "a vetting needs the data's hash, a verdict, "
				      "a policy and a report");
	text = json_dumps(v->report, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return rain_error_oom();
	r = rain_blob_write_open(repo->blobs, false, &w);
	if (r == 0)
		r = rain_blob_write(w, text, strlen(text));
	if (r < 0) {
		rain_blob_write_abort(w);
		return r;
	}
	r = rain_blob_write_sync(w);
	if (r < 0) {
		rain_blob_write_abort(w);
		return r;
	}
	pthread_mutex_lock(&repo->blob_lock);
	r = uuid_generate(holder);
	if (r == 0)
		r = publish_held(repo, w, holder, REMOVAL_LEASE, &res);
	else
		rain_blob_write_abort(w);
	if (r == 0) {
		vc.report = res.sha256;
		r = modify(repo, who, id, RAIN_ACT_MODIFY, do_vetting, &vc, NULL);
		rain_catalog_blob_release(repo->cat, res.sha256, holder);
		if (r < 0)
			release_blob(repo, res.sha256);
		else if (vc.old[0] && strcmp(vc.old, res.sha256))
			release_blob(repo, vc.old);
	}
	pthread_mutex_unlock(&repo->blob_lock);
	return r;
}

int rain_repo_vetting_get(struct rain_repo *repo, const struct rain_who *who, const char *id,
			  json_t **report)
{
	_cleanup_free_ char *text = NULL;
	struct rain_image *img = NULL;
	struct rain_blob_reader rd;
	const char *hash;
	json_error_t err;
	int64_t off = 0;
	int r;

	rain_error_clear();
	*report = NULL;
	r = load(repo, who, id, RAIN_ACT_SHOW, &img);
	if (r < 0)
		return r;
	hash = rain_image_prop_get(img, VETTING_REPORT);
	if (!hash) {
		r = rain_error_set(RAIN_ENOTFOUND, "image %s has not been vetted: vet it with "
				   "'rain vet %s'", id, id);
		goto out;
	}
	r = rain_blob_read_open(repo->blobs, hash, &rd);
	if (r < 0)
		goto out;
	if (rd.size > VETTING_REPORT_MAX) {
		r = rain_error_set(RAIN_ETOOBIG, "the vetting report of image %s is %lld bytes",
				   id, (long long)rd.size);
	} else if (!(text = malloc((size_t)rd.size + 1))) {
		r = rain_error_oom();
	} else {
		while (r == 0 && off < rd.size) {
			ssize_t n = rain_blob_read(repo->blobs, &rd, off, text + off,
						   (size_t)(rd.size - off));

			if (n < 0)
				r = (int)n;
			else if (n == 0)
				r = rain_error_set(RAIN_EIO, "the vetting report of image %s is "
						   "shorter than stored", id);
			off += n > 0 ? n : 0;
		}
	}
	rain_blob_read_close(repo->blobs, &rd);
	if (r == 0 && !(*report = json_loadb(text, (size_t)rd.size, 0, &err)))
		r = rain_error_set(RAIN_EFORMAT, "the vetting report of image %s is not JSON: %s",
				   id, err.text);
out:
	rain_image_free(img);
	return r;
}
