/* The librain HTTP client: talks to an OpenStack Image API v2 (Glance)
 * endpoint such as raind, over libcurl.
 *
 * A client holds one curl handle and is not thread-safe: use one client per
 * thread.  Requests are synchronous.  Every function returns 0 or a
 * negative rain error code and sets the message (rain_error_last()).
 *
 * Paths are relative to the endpoint URL given at creation and start with
 * '/', e.g. "/v2/images?limit=20".  The caller percent-encodes anything it
 * puts in a path or query (see str_url_encode() in util/strutil.h).
 *
 * The token travels only in the X-Auth-Token request header.  It is never
 * put in an error message, and redirects are never followed, so it is only
 * ever sent to the configured endpoint.
 *
 * HTTP errors: when the server answers with a status of 300 or more, the
 * functions store that status in *status (where there is one), read the
 * server's error body (Glance's {"code": 409, "title": "Conflict",
 * "message": "..."} or plain text), set the message to "<message> (HTTP
 * <status> <title>)" and return the code rain_client_status_error() gives
 * for the status.  Transport failures (no connection, TLS, timeout) return
 * RAIN_ENET with *status 0; so does a transfer that moves less than one
 * byte a second for two minutes (a stalled server).
 */
#ifndef RAIN_CLIENT_H
#define RAIN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct rain_client;

/* Connection settings. Strings are copied by rain_client_new(). */
struct rain_client_config {
	const char *url;      /* endpoint, e.g. "http://127.0.0.1:9292"; required */
	const char *token;    /* sent as X-Auth-Token; NULL for none */
	const char *cacert;   /* PEM file of CA certificates; NULL: the system
				 store, which the environment replaces as for
				 curl(1): $CURL_CA_BUNDLE, else $SSL_CERT_FILE
				 and $SSL_CERT_DIR */
	bool insecure;        /* do not verify the server's TLS certificate */
	long connect_timeout; /* seconds; 0 means 30 */
	long timeout_ms;      /* the most a whole request may take, connecting
				 included, in milliseconds (a failure then is
				 RAIN_ENET); 0: no limit but the stall limit */
	/* more headers sent with every request ("Name: value", e.g. Ironic's
	 * "X-OpenStack-Ironic-API-Version: 1.31"), NULL-terminated; may be
	 * NULL. RAIN_EINVAL for a line without a name or with a control
	 * character. */
	const char *const *headers;
};

/* A new client in *out, owned by the caller (rain_client_free()).
 * RAIN_EINVAL when the URL is not http:// or https:// or when the token
 * holds characters that cannot go in an HTTP header. */
int rain_client_new(const struct rain_client_config *cfg, struct rain_client **out);
void rain_client_free(struct rain_client *c);

/* The endpoint URL the client was created with (without trailing '/'). */
const char *rain_client_url(const struct rain_client *c);

/* Called during uploads and downloads with the bytes transferred so far
 * and the total (-1 when unknown).  For a resumed download both count from
 * the start of the file.  Return non-zero to cancel the transfer, which
 * then fails with RAIN_ECANCELED.  It may be called many times a second
 * and with unchanged numbers; throttle any drawing in the callback. */
typedef int (*rain_progress_fn)(void *ud, int64_t done, int64_t total);

/* One JSON request.  method is "GET", "POST", "PUT", "PATCH", "DELETE" ...;
 * body, when not NULL, is serialised and sent with content_type (NULL
 * means "application/json"); the reference stays the caller's.
 * On success (2xx) *status is the HTTP status and *response, if response
 * is not NULL, a new reference to the parsed JSON body or NULL when the
 * body was empty.  A 2xx body that is not JSON is RAIN_EFORMAT.
 * On failure *response is NULL.  status may be NULL. */
int rain_client_request(struct rain_client *c, const char *method, const char *path,
			const char *content_type, json_t *body,
			long *status, json_t **response);

/* What an upload did. */
struct rain_upload_info {
	long status;           /* the HTTP status (204 from Glance) */
	int64_t sent;          /* bytes read from fd and sent */
	char sha256[65];       /* lowercase hex of the bytes sent, to compare
				  with the image's os_hash_value afterwards */
	char md5[33];          /* with RAIN_HASH_MD5: Glance's "checksum";
				  "" when not asked or without MD5 (FIPS) */
	char sha512[129];      /* with RAIN_HASH_SHA512: Glance's os_hash_value
				  (os_hash_algo sha512) */
};

/* Flags of rain_client_upload_hashes(): the digests it computes of what
 * it sends, and RAIN_UPLOAD_CONTINUE: ask "Expect: 100-continue" (sized
 * uploads), so that a server refusing the upload (a quota: 413) answers
 * before the data goes out, instead of closing the connection on data it
 * did not read, which can lose its answer. */
enum {
	RAIN_HASH_SHA256 = 1 << 0,
	RAIN_HASH_MD5 = 1 << 1,
	RAIN_HASH_SHA512 = 1 << 2,
	RAIN_UPLOAD_CONTINUE = 1 << 8,
};

/* Stream fd to the server with PUT as application/octet-stream, reading
 * it in small blocks from its current position (memory use does not
 * depend on the size).  size is the number of bytes to send, giving a
 * Content-Length, or -1 to send until end of file with chunked transfer
 * encoding (pipes).  The fd is not closed.  progress and info may be NULL.
 * A read error on fd is RAIN_EIO; fewer than size bytes is RAIN_EIO too.
 * On an HTTP error info->status holds the status. */
int rain_client_upload(struct rain_client *c, const char *path, int fd, int64_t size,
		       rain_progress_fn progress, void *ud, struct rain_upload_info *info);
/* The same with flags (above): the digests in RAIN_HASH_* (the other
 * fields of info stay ""); rain_client_upload computes SHA-256. */
int rain_client_upload_hashes(struct rain_client *c, const char *path, int fd, int64_t size,
			      unsigned int flags, rain_progress_fn progress, void *ud,
			      struct rain_upload_info *info);

/* What a download did. */
struct rain_download_info {
	long status;           /* 200, 206 (range honoured), or 416 (nothing left) */
	int64_t offset;        /* where writing started: the offset asked for, or 0
				  when the server sent the whole file instead */
	int64_t written;       /* bytes written to fd by this call */
	int64_t total;         /* full size of the file from the headers, -1 unknown */
	char sha256[65];       /* lowercase hex of bytes 0 .. offset+written */
	char md5[33];          /* same bytes, MD5 (Glance's "checksum"); "" when
				  the crypto library offers no MD5 (FIPS mode) */
};

/* GET path and write the body to fd.
 *
 * offset 0: the body is written with write() at fd's current position, so
 * fd may be a pipe or stdout.
 * offset > 0: resume.  fd must be a regular file opened for reading and
 * writing that holds at least offset bytes; those bytes are read back to
 * seed the hashes, a "Range: bytes=<offset>-" header is sent, and the body
 * is written from offset on.  If the server ignores the range (200) the
 * file is truncated and rewritten from the start; if it answers 416 the
 * file is taken as complete (info->written 0) and the caller checks it.
 *
 * The hashes always cover the whole file as it stands after the call, so
 * they can be compared to the image's os_hash_value and checksum.
 * An error body is never written to fd.  info may be NULL. */
int rain_client_download(struct rain_client *c, const char *path, int fd, int64_t offset,
			 rain_progress_fn progress, void *ud,
			 struct rain_download_info *info);

/* The rain error code for an HTTP status: 400 RAIN_EINVAL, 401 RAIN_EAUTH,
 * 403 RAIN_EFORBIDDEN, 404 RAIN_ENOTFOUND, 409 RAIN_ECONFLICT,
 * 413 RAIN_ETOOBIG, 415 RAIN_EFORMAT, 507 RAIN_ENOSPC, other 4xx
 * RAIN_EINVAL, 5xx and the rest RAIN_EIO; 0 below 300. */
int rain_client_status_error(long status);

/* Join the endpoint url and path into a new string (NULL on ENOMEM or
 * when it cannot be done; the message says why).  path starts with '/' and
 * is appended after the url's own path ("http://h/image" + "/v2/images" =
 * "http://h/image/v2/images").  path may also be a full URL, as some
 * servers give in "next" links, but only one under url itself; anything
 * else is refused so the token never goes to another host. */
char *rain_client_url_join(const char *url, const char *path);

/* Turn an HTTP error body into a message in out (always NUL-terminated):
 * Glance's JSON {"message", "title"} (also nested under "error" or
 * "badRequest" etc.), Ironic's {"error_message": "{\"faultstring\": ...}"}
 * (a JSON document in a string), else the first line of a text body, else the
 * status' reason phrase.  body need not be NUL-terminated. */
void rain_client_error_message(long status, const char *body, size_t len,
			       char *out, size_t outlen);

/* ---- images: the OpenStack Image API v2 (Glance, raind) ---------------- */

/* Every id must be a UUID (else RAIN_EINVAL, nothing sent).  Results are
 * new references the caller releases; on failure they are NULL. */

/* GET /v2/images with query (NULL, "", or a string starting with '?' whose
 * values the caller percent-encoded, e.g. "?name=a%20b&limit=20") and, with
 * follow, every page after it through the "next" links.  *images is an
 * array of all the images.  Links that loop are RAIN_EFORMAT. */
int rain_client_image_list(struct rain_client *c, const char *query, bool follow,
			   json_t **images);

/* Resolve ref, an image id or name, to an id (36 chars + NUL, lowercase).
 * A UUID is taken as is, without asking the server; anything else must be
 * the name of exactly one image the token can see (when the usual list
 * has none, the images shared with the caller whatever their answer,
 * pending or rejected, are looked at too): none is RAIN_ENOTFOUND
 * ("no image is named 'X'"), several RAIN_ECONFLICT (the message lists
 * their ids).  *matches (may be NULL) is the number of images so named,
 * or -1 when the list could not be read (the list's error is returned). */
int rain_client_image_resolve(struct rain_client *c, const char *ref, char id[37], int *matches);

/* GET /v2/images/ID: *image is the image record (a JSON object). */
int rain_client_image_get(struct rain_client *c, const char *id, json_t **image);
/* POST /v2/images with fields (name, disk_format, ..., properties); *image
 * is the new record, which has an "id" (else RAIN_EFORMAT). */
int rain_client_image_create(struct rain_client *c, json_t *fields, json_t **image);
/* PATCH /v2/images/ID with a JSON patch (an array of {"op", "path",
 * "value"}) sent as application/openstack-images-v2.1-json-patch;
 * *image (image may be NULL) is the record afterwards. */
int rain_client_image_patch(struct rain_client *c, const char *id, json_t *patch,
			    json_t **image);
int rain_client_image_delete(struct rain_client *c, const char *id);
/* PUT / GET /v2/images/ID/file: rain_client_upload() and
 * rain_client_download() on the image's data (see there). */
int rain_client_image_upload(struct rain_client *c, const char *id, int fd, int64_t size,
			     rain_progress_fn progress, void *ud, struct rain_upload_info *info);
int rain_client_image_upload_hashes(struct rain_client *c, const char *id, int fd, int64_t size,
				    unsigned int flags, rain_progress_fn progress, void *ud,
				    struct rain_upload_info *info);
int rain_client_image_download(struct rain_client *c, const char *id, int fd, int64_t offset,
			       rain_progress_fn progress, void *ud,
			       struct rain_download_info *info);
/* Add (PUT) or remove (DELETE) a tag; an empty tag is RAIN_EINVAL. */
int rain_client_image_tag(struct rain_client *c, const char *id, const char *tag, bool add);
/* POST /v2/images/ID/actions/ACTION, action "deactivate" or "reactivate". */
int rain_client_image_action(struct rain_client *c, const char *id, const char *action);

/* Members of a shared image: *members is {"members": [...]}; member
 * records are {"member_id", "status", ...}; status is pending, accepted
 * or rejected (set by the member). */
int rain_client_image_member_list(struct rain_client *c, const char *id, json_t **members);
int rain_client_image_member_add(struct rain_client *c, const char *id, const char *member,
				 json_t **out);
int rain_client_image_member_get(struct rain_client *c, const char *id, const char *member,
				 json_t **out);
int rain_client_image_member_update(struct rain_client *c, const char *id, const char *member,
				    const char *status, json_t **out);
int rain_client_image_member_delete(struct rain_client *c, const char *id, const char *member);

/* ---- raind's build service (/rain/v1/builds, see raind(8)) ------------ */

/* Submit a build: request is {"recipe": TEXT, "files": {NAME: BASE64 |
 * {"data": BASE64, "mode": N}}, "store": bool, "boot_check": bool}.
 * *build is the new record (a new reference). */
int rain_client_build_submit(struct rain_client *c, json_t *request, json_t **build);
/* The record of build id (id is checked to be a UUID). */
int rain_client_build_get(struct rain_client *c, const char *id, json_t **build);
/* {"builds": [...]}, newest first. */
int rain_client_build_list(struct rain_client *c, json_t **builds);
/* Cancel; *build (may be NULL) is the record afterwards. RAIN_ECONFLICT
 * when the build has finished. */
int rain_client_build_cancel(struct rain_client *c, const char *id, json_t **build);
int rain_client_build_delete(struct rain_client *c, const char *id);
/* Write output name of a finished build (a file its manifest lists:
 * vmlinuz, initrd.img, manifest.json, build.log, ...) to fd. */
int rain_client_build_file(struct rain_client *c, const char *id, const char *name, int fd);

/* Receives log text as it arrives (any chunking, not whole lines); also
 * called with len 0 about once a second while nothing arrives.
 * Return non-zero to stop (the call then fails with RAIN_ECANCELED). */
typedef int (*rain_log_fn)(void *ud, const char *data, size_t len);

/* GET the build's log from byte offset on and hand it to fn. With follow
 * the server keeps sending as the build writes and ends when the build
 * has finished. *received (may be NULL) counts the bytes passed to fn,
 * also on failure, so that a caller can reconnect at offset + *received.
 * A stream that stays silent for two minutes fails with RAIN_ENET (the
 * log may just be quiet: check the build and reconnect). */
int rain_client_build_log(struct rain_client *c, const char *id, int64_t offset, bool follow,
			  rain_log_fn fn, void *ud, int64_t *received);

/* ---- raind's jobs of every kind (/rain/v1/jobs) ----------------------- */

/* The record of job id (a build, a vetting, ...). */
int rain_client_job_get(struct rain_client *c, const char *id, json_t **job);
/* Cancel it (as rain_client_build_cancel); *job (may be NULL): the record after. */
int rain_client_job_cancel(struct rain_client *c, const char *id, json_t **job);
/* Its log, as rain_client_build_log. */
int rain_client_job_log(struct rain_client *c, const char *id, int64_t offset, bool follow,
			rain_log_fn fn, void *ud, int64_t *received);

/* ---- vetting (rain/vet.h; raind(8)) ------------------------------------ */

/* Ask raind to vet image_id with policy (NULL: the server's default),
 * booting it too with runtime; *job is the vetting's job record. */
int rain_client_vet(struct rain_client *c, const char *image_id, const char *policy,
		    bool runtime, json_t **job);
/* The report kept with the image; RAIN_ENOTFOUND when it has none. */
int rain_client_vetting_get(struct rain_client *c, const char *image_id, json_t **report);

/* ---- sites and registrations (rain/target.h; raind(8)) ----------------- */

/* {"sites": [...]} into *sites (the array), or one site by name. */
int rain_client_sites(struct rain_client *c, json_t **sites);
int rain_client_site_get(struct rain_client *c, const char *name, json_t **site);
/* Register image_id at site (ssh_key: one public key line, may be NULL;
 * override: past the vetting gate, admins); *reg is the registration's
 * record: a new one (status registering; its job has the same id) or the
 * earlier one of the same image data there. */
int rain_client_register(struct rain_client *c, const char *image_id, const char *site,
			 const char *ssh_key, bool override, json_t **reg);
/* The registrations the caller may see (the array), filtered by site,
 * image and status when not NULL. */
int rain_client_registration_list(struct rain_client *c, const char *site, const char *image_id,
				  const char *status, json_t **regs);
int rain_client_registration_get(struct rain_client *c, const char *id, json_t **reg);
/* Remove what the registration made at its site; *reg: the record after. */
int rain_client_deregister(struct rain_client *c, const char *id, json_t **reg);

/* ---- runs (rain/run-kind.h; raind(8)) ---------------------------------- */

/* Submit a run (request: {"image", "site", "command" or "script", "n",
 * "walltime", "each", "keep", "out"}, as POST /rain/v1/runs takes it);
 * *run is its record. Its log is the job's (rain_client_job_log). */
int rain_client_run(struct rain_client *c, json_t *request, json_t **run);
/* The runs the caller may see (the array); status: a job status or
 * "active" (queued, running or kept), NULL: all. */
int rain_client_run_list(struct rain_client *c, const char *status, json_t **runs);
int rain_client_run_get(struct rain_client *c, const char *id, json_t **run);
/* Stop a run, or take a kept run's instances down; *run (may be NULL):
 * the record after. */
int rain_client_run_stop(struct rain_client *c, const char *id, json_t **run);
/* Write the run's fetched file name (as its record's "files" has it) to
 * fd. */
int rain_client_run_file(struct rain_client *c, const char *id, const char *name, int fd);

/* ---- identity (Keystone v3) and users (/rain/v1/users) ----------------- */

#define RAIN_CLIENT_TOKEN_MAX 255

/* Log in with the password method (domain "default"); token (at least
 * RAIN_CLIENT_TOKEN_MAX + 1 bytes) receives the X-Subject-Token, *body
 * (may be NULL) the token document. Wrong credentials: RAIN_EAUTH. */
int rain_client_login(struct rain_client *c, const char *user, const char *password,
		      char *token, json_t **body);
/* The same with the request body given (Keystone v3's {"auth": {...}},
 * e.g. scoped to a project: rain/clouds.h builds one); the reference
 * stays the caller's. */
int rain_client_login_body(struct rain_client *c, json_t *req, char *token, json_t **body);
/* GET / DELETE /v3/auth/tokens for token (as X-Subject-Token), with the
 * client's own token as X-Auth-Token. Unknown or expired: RAIN_ENOTFOUND
 * (validate) ; revoke answers 204. */
int rain_client_token_validate(struct rain_client *c, const char *token, json_t **body);
int rain_client_token_revoke(struct rain_client *c, const char *token);

/* Admin only. fields: {name, password, role, status, quota_bytes,
 * quota_images} (create) or any but name (update). Results are new
 * references; *users is {"users": [...]}. */
int rain_client_user_list(struct rain_client *c, json_t **users);
int rain_client_user_create(struct rain_client *c, json_t *fields, json_t **user);
int rain_client_user_get(struct rain_client *c, const char *name, json_t **user);
int rain_client_user_update(struct rain_client *c, const char *name, json_t *fields,
			    json_t **user);
int rain_client_user_delete(struct rain_client *c, const char *name);

#endif
