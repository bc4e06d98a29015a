/* The repository: the catalog and the blob store together, and the rules
 * that tie them (image state machine, uploads, downloads, sharing of blobs).
 *
 * The daemon's API handlers call these functions and map the error codes
 * to HTTP statuses; everything about images that is not HTTP lives here.
 * One process owns a data directory at a time (an exclusive lock file).
 *
 * Image state machine (Glance's):
 *   queued --upload starts--> saving --data stored--> active
 *   saving --upload fails--> queued        (the client may retry)
 *   saving --storage fails--> killed
 *   active <--deactivate / reactivate--> deactivated
 *   queued --stage--> uploading --import--> importing --data stored--> active
 *   queued --import (web-download)--> importing
 *   importing --import fails--> queued     (os_glance_failed_import set)
 *   any --delete--> (gone)
 * After a crash, images left in saving go back to queued.
 */
#ifndef RAIN_REPO_H
#define RAIN_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rain/blob.h"
#include "rain/catalog.h"
#include "rain/image.h"
#include "rain/jsonpatch.h"

/* Who asks: the owner recorded on new images, and whether they are admin. */
struct rain_who {
	const char *owner;
	bool admin;
	int64_t quota_bytes;    /* 0: no limit (admins, the service token) */
	int64_t quota_images;
};

struct rain_repo_options {
	const char *data_dir;      /* required; created 0700 if missing */
	const char *catalog_uri;   /* NULL: sqlite:DATA_DIR/catalog.db */
	const char *blob_uri;      /* NULL: file:DATA_DIR/blobs */
	bool md5_checksum;         /* also compute Glance's legacy MD5 checksum */
	int64_t max_image_size;    /* bytes; 0: no limit */
	/* An upload's bytes in flight are held in the catalog under a lease
	 * of this many microseconds (0: 10 minutes), renewed as data comes;
	 * a server that dies leaves its uploads saving until it lapses. */
	int64_t upload_lease_us;
	/* Temporary blob objects last written this long ago are swept at
	 * open (microseconds; 0: all, only when no other process writes to
	 * the store). */
	int64_t tmp_grace_us;
};

struct rain_repo_recovery {
	int64_t uploads_reset;     /* images found saving without a live upload, back to queued */
	int64_t tmp_removed;       /* temporary blob files removed */
	int64_t blobs_removed;     /* unreferenced blobs removed */
	int64_t imports_reset;     /* images found uploading or importing, reset */
};

struct rain_repo;
struct rain_upload;

/* Open (and lock) a repository; recover from a crash: reset interrupted
 * uploads, drop temporary and unreferenced blobs. *rec may be NULL. */
int rain_repo_open(struct rain_repo **out, const struct rain_repo_options *opts,
		   struct rain_repo_recovery *rec);
void rain_repo_close(struct rain_repo *repo);
struct rain_catalog *rain_repo_catalog(struct rain_repo *repo);

/* Whether the catalog and the blob store answer, each asked once (a
 * cheap read: a count of users, the presence of one hash). 0 when both
 * do; else the code of the first that failed, with its message set, and
 * *catalog_ok / *store_ok saying which answered. Any thread. */
int rain_repo_ping(struct rain_repo *repo, bool *catalog_ok, bool *store_ok);

/* What rain_repo_open does after a crash, safe beside other servers on
 * the same catalog and store: images saving whose upload's lease lapsed
 * back to queued, temporary objects older than the grace removed, blobs
 * no image refers to and no server holds removed: *rec's uploads_reset,
 * tmp_removed and blobs_removed say how many. */
int rain_repo_recover(struct rain_repo *repo, struct rain_repo_recovery *rec);
/* Only the first step of it: images saving whose upload's lease lapsed
 * (its server died) back to queued, *reset how many. Any thread. */
int rain_repo_requeue_lapsed(struct rain_repo *repo, int64_t *reset);

/* Create an image from a JSON object as POSTed to /v2/images: writable
 * attributes, optional "id" (a UUID not in use), properties as strings.
 * The owner is who, or for an admin the body's "owner" (a user who
 * exists: rain/policy.h's give). *out is the new record.
 * RAIN_ETOOBIG when who has as many images as its quota_images allows;
 * the count and the insert are one step for concurrent creates by who. */
int rain_repo_image_create(struct rain_repo *repo, const struct rain_who *who,
			   json_t *body, struct rain_image **out);

/* Every function taking who checks it against rain/policy.h first:
 * RAIN_ENOTFOUND for an image who may not see, RAIN_EFORBIDDEN for one who
 * may see but not change. */
int rain_repo_image_get(struct rain_repo *repo, const struct rain_who *who, const char *id,
			struct rain_image **out);
/* The image, if who may do action (rain/policy.h, which includes this
 * header: hence the forward declaration) to it: for the checks of
 * endpoints that are not the repository's own (an image's history). */
enum rain_action;
int rain_repo_image_load(struct rain_repo *repo, const struct rain_who *who, const char *id,
			 enum rain_action action, struct rain_image **out);

/* Apply a JSON patch atomically (retried on concurrent writes). */
int rain_repo_image_patch(struct rain_repo *repo, const struct rain_who *who, const char *id,
			  const struct rain_jsonpatch *patch, struct rain_image **out);

/* RAIN_EFORBIDDEN for protected images. Frees the blob when unreferenced. */
int rain_repo_image_delete(struct rain_repo *repo, const struct rain_who *who, const char *id);

int rain_repo_tag_add(struct rain_repo *repo, const struct rain_who *who, const char *id, const char *tag);
int rain_repo_tag_remove(struct rain_repo *repo, const struct rain_who *who, const char *id,
			 const char *tag);

/* active <-> deactivated; RAIN_EFORBIDDEN (Glance's 403 and message) from
 * other states; deactivating a deactivated image or reactivating an active one
 * is a no-op, as in Glance. */
int rain_repo_image_deactivate(struct rain_repo *repo, const struct rain_who *who, const char *id);
int rain_repo_image_reactivate(struct rain_repo *repo, const struct rain_who *who, const char *id);

/* Members of shared images (Glance's members API; rules in rain/policy.h):
 * add (owner or admin; the image must be shared: RAIN_EFORBIDDEN;
 * RAIN_ECONFLICT when already a member) makes a pending member; list gives
 * the owner and admins every member and a member its own entry (*out a new
 * array); answer (the member itself) accepts, rejects or resets to
 * pending; delete (owner or admin) removes one. */
int rain_repo_member_add(struct rain_repo *repo, const struct rain_who *who, const char *id,
			 const char *member, struct rain_member *out);
int rain_repo_member_list(struct rain_repo *repo, const struct rain_who *who, const char *id,
			  struct rain_member **out, size_t *n);
int rain_repo_member_get(struct rain_repo *repo, const struct rain_who *who, const char *id,
			 const char *member, struct rain_member *out);
int rain_repo_member_answer(struct rain_repo *repo, const struct rain_who *who, const char *id,
			    const char *member, enum rain_member_status status, struct rain_member *out);
int rain_repo_member_delete(struct rain_repo *repo, const struct rain_who *who, const char *id,
			    const char *member);

/* Uploads. begin moves queued -> saving (RAIN_ECONFLICT otherwise);
 * expected_size is the Content-Length or -1. write streams data (checking
 * the disk format on the first bytes and the size limit as it goes);
 * finish makes the data durable, stores it under its hash and activates
 * the image; abort (or any failed write/finish) discards the data and puts
 * the image back to queued. finish and abort free up.
 *
 * Byte quota: who->quota_bytes at begin (0: none), against the usage of
 * the image's owner (rain_usage.bytes: the size of each active or
 * deactivated image, identical data counted once per image). However
 * uploads interleave, the owner's stored bytes plus the bytes held by all
 * of their uploads in flight never exceed it. An upload with a declared
 * length holds it whole from begin, one without holds each chunk from
 * the write that brings it. The step that would cross the quota fails
 * with RAIN_ETOOBIG and stores nothing: begin (for the declared length,
 * or when not a byte is left) or the write of that chunk, which gives
 * back what the upload held at once. finish moves the bytes from in
 * flight to stored in one step with the image's activation (never
 * counted twice, never not at all); abort and a failed finish give them
 * back. */
int rain_repo_upload_begin(struct rain_repo *repo, const struct rain_who *who, const char *id,
			   int64_t expected_size, struct rain_upload **out);
int rain_repo_upload_write(struct rain_upload *up, const void *buf, size_t len);
int rain_repo_upload_finish(struct rain_upload *up, struct rain_image **out);
void rain_repo_upload_abort(struct rain_upload *up);

/* Glance's interoperable import. The one store raind has, as
 * /v2/info/stores and os_glance_failed_import name it. */
#define RAIN_STORE_ID "local"

/* Stage (glance-direct): queued -> uploading; the data, written with
 * rain_repo_upload_write and checked as an upload's (size limit, the
 * head of the disk format, the byte quota), goes to DATA_DIR/staging/ID
 * (0600) through ID.part. rain_repo_upload_finish makes it durable under
 * its name and moves its bytes to the owner's charge "stage/ID" (counted
 * in their usage until the import is done); the image stays uploading
 * and *out (may be NULL) is its record. abort, or a failed write or
 * finish, removes the partial file and puts the image back to queued.
 * stage_host (may be NULL) is recorded as os_glance_stage_host: staged
 * data lives on the server that took it. Deleting an uploading image
 * removes its staged data. */
int rain_repo_stage_begin(struct rain_repo *repo, const struct rain_who *who, const char *id,
			  int64_t expected_size, const char *stage_host, struct rain_upload **out);
/* Import: staged (glance-direct) moves uploading -> importing and the
 * caller copies rain_repo_upload_source_fd(up) (the staged data, owned by
 * up) into rain_repo_upload_write; otherwise (web-download) queued ->
 * importing and the caller writes what it fetched, against who's quota.
 * task is recorded as os_glance_import_task. finish checks everything an
 * upload's finish does and activates the image; abort, or any failure,
 * puts it back to queued with os_glance_failed_import and
 * rain_import_error (the message) set. Either way staged data and its
 * charge are gone afterwards. RAIN_ECONFLICT when the image is not in the
 * state the method needs or its data was staged on another server.
 * After a crash, rain_repo_open puts images left importing back to
 * uploading when their staged data is complete, else to queued. */
int rain_repo_import_begin(struct rain_repo *repo, const struct rain_who *who, const char *id,
			   bool staged, const char *task, struct rain_upload **out);
int rain_repo_upload_source_fd(const struct rain_upload *up);

/* Charges: bytes who->owner stores outside images under key (a build's
 * files: "build/ID"; rain/catalog.h's struct rain_charge), counted in the
 * owner's usage (bytes_used) and against the byte quota like image data.
 * set records bytes under key, replacing what key held. With
 * who->quota_bytes (0: no limit; admins have none) a new charge must fit
 * besides everything the owner stores or is uploading, or it fails with
 * RAIN_ETOOBIG and nothing changes; the check and the change are one step
 * against the owner's concurrent uploads and charges. Use a quota of 0
 * to re-measure an existing charge (what is stored is stored). drop
 * forgets key (nothing to forget is fine). */
int rain_repo_charge_set(struct rain_repo *repo, const struct rain_who *who, const char *key,
			 int64_t bytes);
int rain_repo_charge_drop(struct rain_repo *repo, const char *owner, const char *key);

/* Vetting (rain/vet.h) kept with an image: the report, a JSON object,
 * is stored as a blob whose SHA-256 is the property rain_vetting_report;
 * with it the properties rain_vetting (the verdict), rain_vetting_policy,
 * rain_vetting_feed (the feed's date, or "none"), rain_vetting_at (ISO
 * 8601) and rain_vetting_sha256 (the data that was vetted). Only these
 * functions set them (rain/image.h refuses the names to users); an image
 * that gets new data loses them; deleting the image or vetting it again
 * drops the old report.
 *
 * set: who must be allowed to modify the image; RAIN_ECONFLICT when the
 * image's data is no longer sha256 (changed while it was vetted). get:
 * the stored report (a new reference) of an image who may see;
 * RAIN_ENOTFOUND when it has none. */
struct rain_vetting {
	const char *sha256;         /* the data that was vetted */
	const char *verdict;        /* "passed", "warned", "failed" */
	const char *policy;
	const char *feed;           /* the feed's date; NULL: none */
	const json_t *report;
};
int rain_repo_vetting_set(struct rain_repo *repo, const struct rain_who *who, const char *id,
			  const struct rain_vetting *v);
int rain_repo_vetting_get(struct rain_repo *repo, const struct rain_who *who, const char *id,
			  json_t **report);

/* Downloads: RAIN_ECONFLICT when the image has no data, RAIN_EFORBIDDEN
 * for a deactivated image unless admin, or when the stored data fails
 * the disk-format inspection (rain/diskfmt.h: data stored before the
 * inspector existed, or refused by a newer one, is never served). Counts the download. The reader
 * is closed with rain_repo_download_close(). */
int rain_repo_download_open(struct rain_repo *repo, const struct rain_who *who, const char *id,
			    struct rain_image **img, struct rain_blob_reader *reader);
/* The same for the service's own reads of the data (vetting,
 * registration): not counted as a download. Read and close it with the
 * two functions below. */
int rain_repo_data_open(struct rain_repo *repo, const struct rain_who *who, const char *id,
			struct rain_image **img, struct rain_blob_reader *reader);
ssize_t rain_repo_download_read(struct rain_repo *repo, struct rain_blob_reader *reader,
				int64_t off, void *buf, size_t len);
void rain_repo_download_close(struct rain_repo *repo, struct rain_blob_reader *reader);

#endif
