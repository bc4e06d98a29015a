/* Image data: PUT /v2/images/{id}/file streams an upload into the blob
 * store; GET streams it back (sendfile when the blob is a local file),
 * with single-range requests. PUT /v2/images/{id}/stage takes
 * glance-direct's data the same way into the staging area (rain/repo.h;
 * the import itself is api/import.c's). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/http.h"
#include "daemon/metrics.h"
#include "rain/error.h"
#include "util/strutil.h"

static int data_begin(struct request *req, bool stage)
{
	const char *ctype = request_header(req, "Content-Type");
	const char *clen = request_header(req, "Content-Length");
	struct rain_upload *up;
	char host[1100];
	int64_t expected = -1;
	int r;

	if (!ctype || !str_has_prefix(ctype, "application/octet-stream"))
		return http_reply_error(req, 415,
					"Unsupported Content-Type '%s': image data is sent as application/octet-stream",
					ctype ? ctype : "(none)");
	if (clen && (str_to_i64(clen, &expected) < 0 || expected < 0))
		return http_reply_error(req, 400, "bad Content-Length '%s'", clen);
	if (stage) {
		/* staged data lives here: os_glance_stage_host names us */
		request_base_url(req, host, sizeof(host));
		r = rain_repo_stage_begin(request_repo(req), &req->who, req->params[0], expected,
					  host, &up);
	} else {
		r = rain_repo_upload_begin(request_repo(req), &req->who, req->params[0], expected, &up);
	}
	if (r < 0)
		return r;
	metrics_upload_add(1);
	req->state = up;
	return 0;
}

static int upload_begin(struct request *req)
{
	return data_begin(req, false);
}

static int stage_begin(struct request *req)
{
	return data_begin(req, true);
}

static int upload_data(struct request *req, const char *buf, size_t len)
{
	int r = rain_repo_upload_write(req->state, buf, len);

	if (r < 0) {
		rain_repo_upload_abort(req->state);
		req->state = NULL;
		metrics_upload_add(-1);
	}
	return r;
}

static int upload_end(struct request *req)
{
	struct rain_upload *up = req->state;
	struct rain_image *img;
	int r;

	req->state = NULL;
	metrics_upload_add(-1);
	r = rain_repo_upload_finish(up, &img);
	if (r < 0)
		return r;
	rain_image_free(img);
	return http_reply_empty(req, 204);
}

static void upload_abort(struct request *req)
{
	rain_repo_upload_abort(req->state);
	req->state = NULL;
	metrics_upload_add(-1);
}

struct stream {
	struct rain_repo *repo;
	struct rain_blob_reader reader;
	int64_t base;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	ssize_t n = rain_repo_download_read(s->repo, &s->reader, s->base + (int64_t)pos, buf, max);

	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	rain_repo_download_close(s->repo, &s->reader);
	free(s);
}

static int download(struct request *req)
{
	struct rain_repo *repo = request_repo(req);
	const char *range = request_header(req, "Range");
	struct rain_blob_reader reader;
	struct MHD_Response *resp;
	struct rain_image *img;
	int64_t start = 0, end, len;
	unsigned int status = 200;
	char crange[96];
	int r;

	r = rain_repo_download_open(repo, &req->who, req->params[0], &img, &reader);
	if (r == RAIN_ECONFLICT)
		return http_reply_empty(req, 204);   /* no data yet, as Glance answers */
	if (r < 0)
		return r;
	end = reader.size - 1;
	if (range) {
		if (http_parse_range(range, reader.size, &start, &end) < 0) {
			rain_repo_download_close(repo, &reader);
			rain_image_free(img);
			r = http_reply_error(req, 416, "Range '%s' cannot be satisfied (the image has %"
					     PRId64 " bytes)", range, reader.size);
			return r;
		}
		status = 206;
		snprintf(crange, sizeof(crange), "bytes %" PRId64 "-%" PRId64 "/%" PRId64,
			 start, end, reader.size);
	}
	len = end - start + 1;
	if (reader.fd >= 0) {
		/* MHD owns the descriptor from here and uses sendfile */
		resp = MHD_create_response_from_fd_at_offset64((uint64_t)len, reader.fd, (uint64_t)start);
		if (resp)
			reader.fd = -1;
		rain_repo_download_close(repo, &reader);
	} else {
		struct stream *s = calloc(1, sizeof(*s));

		resp = NULL;
		if (s) {
			s->repo = repo;
			s->reader = reader;
			s->base = start;
			resp = MHD_create_response_from_callback((uint64_t)len, 1 << 20, stream_read,
								 s, stream_free);
			if (!resp)
				free(s);
		}
		if (!resp)
			rain_repo_download_close(repo, &reader);
	}
	if (!resp) {
		rain_image_free(img);
		return rain_error_set(RAIN_ENOMEM, "cannot build the download response");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	if (img->checksum)
		MHD_add_response_header(resp, "Content-MD5", img->checksum);
	if (img->os_hash_value)
		MHD_add_response_header(resp, "X-Image-Meta-Os-Hash-Value", img->os_hash_value);
	if (status == 206)
		MHD_add_response_header(resp, "Content-Range", crange);
	rain_image_free(img);
	req->bytes_out = len;
	return http_reply_response(req, status, resp);
}

const struct route api_image_data_routes[] = {
	{ "PUT", "/v2/images/{}/file", BODY_STREAM, RAIN_ACT_UPLOAD, upload_begin, upload_data, upload_end, upload_abort, 0 },
	{ "GET", "/v2/images/{}/file", BODY_NONE, RAIN_ACT_DOWNLOAD, download, NULL, NULL, NULL, 0 },
	{ "PUT", "/v2/images/{}/stage", BODY_STREAM, RAIN_ACT_UPLOAD, stage_begin, upload_data, upload_end, upload_abort, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
