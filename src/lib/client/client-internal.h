/* What the files of src/lib/client share: the client object and the
 * transport's helpers (client.c) that the API areas (images.c, jobs.c,
 * identity.c) call; not installed. */
#ifndef RAIN_CLIENT_INTERNAL_H
#define RAIN_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

#include "rain/client.h"

#define USER_AGENT "rain/0.1"
#define ERRBODY_MAX (64 * 1024)          /* error bodies are cut here */
#define JSONBODY_MAX (64 * 1024 * 1024)  /* refuse JSON answers past this */
#define LOW_SPEED_TIME 120               /* seconds below 1 byte/s = stalled */
#define IO_BLOCK (128 * 1024)

struct rain_client {
	CURL *curl;
	char *url;
	char *auth_header;   /* "X-Auth-Token: ..." or NULL */
	struct curl_slist *extra;    /* the config's headers, copied */
	const char *subject_header;  /* "X-Subject-Token: ..." for one request */
	char subject[RAIN_CLIENT_TOKEN_MAX + 1];   /* X-Subject-Token of the answer */
	char *cacert;        /* CAINFO, or NULL for libcurl's built-in bundle */
	char *capath;        /* CAPATH from $SSL_CERT_DIR, or NULL */
	bool insecure;
	bool expect_continue; /* the next request asks "Expect: 100-continue" */
	long connect_timeout;
	long timeout_ms;        /* 0: none */
	char errbuf[CURL_ERROR_SIZE];
};

struct buf {
	char *data;
	size_t len, cap, max;
	bool truncated;
};

/* libcurl's write callback into a struct buf (ud): grows it up to max
 * bytes, the rest only sets truncated. */
size_t client_buf_write_cb(char *p, size_t size, size_t nmemb, void *ud);
/* The rain error for an HTTP error answer status with body (the server's
 * message when it sent one). */
int client_http_error(long status, const struct buf *body);
/* Reset c's handle for method on path (relative to the client's URL) and
 * set what every request shares; *headers (free with
 * curl_slist_free_all) holds the common headers. */
int client_setup(struct rain_client *c, const char *method, const char *path,
		 struct curl_slist **headers);
/* Append line to *h. 0 or RAIN_ENOMEM. */
int client_add_header(struct curl_slist **h, const char *line);
/* The rain error for libcurl's failure rc (connection, TLS, timeout). */
int client_transport_error(struct rain_client *c, CURLcode rc);

/* *out = base/ID[suffix][/urlencoded(name)] (free()), after checking that
 * id is a UUID (what names it in the message: "an image"). */
int client_id_path(const char *base, const char *what, const char *id, const char *suffix,
		   const char *name, char **out);
/* Download base/ID/files/NAME (a job's file: a build's output, a run's
 * result) into fd, id checked as client_id_path does. */
int client_file_get(struct rain_client *c, const char *base, const char *what, const char *id,
		    const char *name, int fd);
/* r, or RAIN_EFORMAT when r is 0 but *out (a 2xx answer) is no JSON
 * object (what it should be, for the message); *out is then NULL. */
int client_want_object(int r, json_t **out, const char *what);
/* GET path, which answers {key: [...]}, into *out. */
int client_get_list(struct rain_client *c, const char *path, const char *key, json_t **out);
/* The same, the array itself in *out. */
int client_get_array(struct rain_client *c, const char *path, const char *key, json_t **out);

#endif
