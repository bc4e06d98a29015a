/* raind's HTTP layer on libmicrohttpd: an event-driven server, a route
 * table, JSON replies and errors in Glance's shape, request logging.
 *
 * Connections: a pool of `threads` workers ([server] threads, 32), each
 * with its own epoll loop over its share of the connections, so an idle
 * or slow connection costs memory (a few KiB) and no thread. A handler
 * runs on its connection's worker and holds it while it runs: handlers
 * must not wait for long. A response that has nothing to send yet (a
 * followed build log) parks its connection (http_park) instead of
 * waiting. Limits, each from raind.conf's [server] section (raind(8)):
 *   max_connections              in all (16384); RLIMIT_NOFILE is raised
 *                                to fit at start.
 *   connection_memory            bytes of libmicrohttpd's buffer per
 *                                connection (32768): the request header
 *                                must fit in about half; a kept-alive
 *                                connection holds all of it, because
 *                                libmicrohttpd 0.9.75 zeroes the whole
 *                                buffer after each request.
 *   max_connections_per_address  from one client address (64); counted
 *                                in on_connection/accept_policy, which
 *                                may overshoot by at most threads - 1
 *                                when connections arrive at once. A
 *                                trusted proxy (trusted_proxies) is not
 *                                limited by its own address; each request
 *                                it forwards counts against the client
 *                                address it names (X-Forwarded-For).
 *   header_timeout               seconds from the connection (or, on a
 *                                kept-alive one, from the request line)
 *                                to the end of the request header (30).
 *                                Not reset by arriving bytes.
 *   idle_timeout                 a kept-alive connection must complete
 *                                its next request line within this (60);
 *                                it is also libmicrohttpd's inactivity
 *                                timeout for every other state.
 *   body_timeout, body_min_rate  a request body must bring at least
 *                                body_min_rate bytes a second (500), at
 *                                least one byte, over every body_timeout
 *                                seconds (30), as Apache's mod_reqtimeout
 *                                body=30,MinRate=500.
 * A watchdog thread enforces the timeouts once a second: it shuts the
 * socket down (shutdown(2), never close), so the worker's own loop sees
 * the end and closes the connection; the descriptor stays the
 * connection's until libmicrohttpd's close notification, which takes the
 * same lock, so it cannot hit a reused descriptor.
 *
 * A route names a method, a path pattern ("/v2/images/{}/tags/{}": each {}
 * captures one path segment into req->params) and how its body is taken:
 *   BODY_NONE    the handler runs once; a body is refused.
 *   BODY_JSON    the body is collected (at most the route's body_max
 *                bytes, HTTP_JSON_MAX when 0; more is answered with 413)
 *                and the handler runs once when it is complete.
 *   BODY_STREAM  begin() runs before any body byte is read (it may reply
 *                at once, e.g. with an error), data() runs for each chunk,
 *                end() runs when the body is complete, and abort() when
 *                the request dies early (client gone, server stopping).
 * Handlers reply with one of the http_reply_*() functions and return 0;
 * a handler that returns a negative rain error code without replying gets
 * that error mapped to a status (rain_error_last() is the message).
 */
#ifndef RAIND_HTTP_H
#define RAIND_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "rain/identity.h"
#include "rain/policy.h"
#include "rain/repo.h"

#define HTTP_JSON_MAX (1 << 20)
#define HTTP_MAX_PARAMS 4

struct server;
struct builds;
struct vetting;
struct registrations;
struct runs;
struct rain_jobs;
struct imports;

struct request {
	struct server *srv;
	struct MHD_Connection *conn;
	const struct route *route;
	const char *method;
	const char *url;
	char *params[HTTP_MAX_PARAMS];
	struct rain_who who;
	/* who.owner points here for a user token; user_token tells that the
	 * caller came with a user's token (not the admin token) */
	char who_name[RAIN_USER_NAME_MAX + 1];
	bool user_token;
	/* the collected body of BODY_JSON routes */
	char *body;
	size_t body_len;
	bool body_too_big;
	/* set once a response is decided. libmicrohttpd keeps a connection
	 * alive only for responses queued after the first call, and cannot
	 * queue one while a body arrives: then the response waits in
	 * `pending` (the rest of the body is read and dropped) */
	bool replied;
	bool queued;       /* libmicrohttpd has the response */
	bool defer;
	bool deferred;     /* http_defer(): the reply comes from another thread */
	struct MHD_Response *pending;
	unsigned int queue_retries;
	unsigned int status;
	int64_t bytes_in;
	int64_t bytes_out;
	int64_t started_us;
	char request_id[4 + 37];
	/* what the audit log names when the path does not (a login's user) */
	char audit_target[65];   /* "req-UUID", as Glance's X-Openstack-Request-Id */
	void *state;       /* a streaming handler's own */
};

enum body_mode { BODY_NONE, BODY_JSON, BODY_STREAM };

struct route {
	const char *method;
	const char *pattern;
	enum body_mode body;
	enum rain_action action;   /* rain/policy.h: RAIN_ACT_PUBLIC needs no
				      token; see http.c for who checks it */
	int (*handler)(struct request *req);     /* BODY_NONE, BODY_JSON, and
						    BODY_STREAM's begin */
	int (*data)(struct request *req, const char *buf, size_t len);
	int (*end)(struct request *req);
	void (*abort)(struct request *req);
	size_t body_max;   /* BODY_JSON: 0 means HTTP_JSON_MAX */
};

struct server_config {
	const char *listen;        /* "HOST:PORT"; port 0 picks one */
	const char *tls_cert;      /* PEM files, both or neither */
	const char *tls_key;
	const char *admin_token;
	/* for links; NULL: derived from the address and port bound:
	 * http(s)://ADDR:PORT, and for a wildcard address (0.0.0.0, ::)
	 * the machine's host name (gethostname) instead of ADDR */
	const char *public_url;
	/* the login rules and token checks (borrowed: raind's one identity,
	 * which the build service shares; it must outlive the server) */
	struct rain_identity *identity;
	int threads;               /* worker threads; 0: 32 */
	int max_connections;       /* see the top of this file */
	int max_connections_per_address;
	int connection_memory;     /* bytes; 0: 32768 */
	int header_timeout_s, idle_timeout_s, body_timeout_s;
	int64_t body_min_rate;
	const char *trusted_proxies;   /* addresses and CIDR ranges; NULL: none */
	struct builds *builds;     /* the build service (daemon/builds.h) */
	struct vetting *vetting;   /* the vetting service (daemon/vetting.h) */
	/* netboot sites' folders, "SITE=DIR", NULL-terminated (borrowed;
	 * must outlive the server); NULL: none */
	char *const *netboot_sites;
	struct registrations *registrations;  /* daemon/registrations.h */
	struct runs *runs;                    /* daemon/runs.h */
	bool web_ui;               /* serve the web catalog (/ui/, api/web.c) */
	struct imports *imports;              /* daemon/import.h */
};

int server_start(struct server **out, const struct server_config *cfg, struct rain_repo *repo);
/* The port actually bound. */
unsigned int server_port(const struct server *srv);
/* Stop accepting, end every connection (aborting uploads), free. */
void server_stop(struct server *srv);

struct rain_repo *request_repo(struct request *req);
struct builds *request_builds(struct request *req);
struct vetting *request_vetting(struct request *req);
/* The folder of netboot site `site` (server_config.netboot_sites), or
 * NULL. Borrowed. */
const char *request_netboot_dir(struct request *req, const char *site);
/* A Range header "bytes=A-B", "bytes=A-" or "bytes=-N" against size bytes
 * into [*start, *end]; 0, or -1 when it is malformed, a list, or cannot
 * be satisfied. */
int http_parse_range(const char *h, int64_t size, int64_t *start, int64_t *end);
struct registrations *request_registrations(struct request *req);
struct runs *request_runs(struct request *req);
struct imports *request_imports(struct request *req);
/* "HOST:PORT" or "[ADDR]:PORT" (numeric; empty HOST: every address) into
 * a socket address. 0 or RAIN_EINVAL. */
int http_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len);
/* A query argument (the first, when repeated) or NULL. */
const char *request_query(struct request *req, const char *key);
const char *request_header(struct request *req, const char *key);
/* The client's address as text ("-" when unknown) into out: the TCP
 * peer's, or, when the peer is a trusted proxy ([server]
 * trusted_proxies), the rightmost address of X-Forwarded-For that is not
 * a trusted proxy itself. */
void request_client_addr(struct request *req, char *out, size_t outlen);
/* raind's base URL (no trailing '/') into out: [server] public_url, else
 * derived from the address bound (server_config.public_url). Never from
 * the request's Host header. */
void request_base_url(struct request *req, char *out, size_t outlen);
/* The identity rules (logins, tokens, new users and passwords) over the
 * repository's catalog: server_config.identity. */
struct rain_identity *request_identity(struct request *req);

/* Authentication, in one place (http.c): X-Auth-Token is the admin token
 * (the bootstrap and service credential: who = "admin", admin) or a user
 * token as rain_identity_token_validate finds it (expired, revoked,
 * unknown tokens and tokens of users who are not active are refused). Resolve token into *who (owner pointing into name, which
 * holds RAIN_USER_NAME_MAX + 1 bytes); *t (may be NULL) is the stored
 * token of a user token. Returns 0, or RAIN_EAUTH. */
int request_resolve_token(struct request *req, const char *token, struct rain_who *who,
			  char *name, struct rain_token *t, bool *user_token);
/* Call cb for every query argument in order. */
void request_query_foreach(struct request *req,
			   void (*cb)(void *ud, const char *key, const char *value), void *ud);
/* Keep s (malloc'ed) until the request ends; returns s (NULL stays NULL). */
char *request_keep(struct request *req, char *s);
/* Parse the collected body as JSON; replies 400 itself on failure. */
json_t *request_json(struct request *req);

/* Parking: a content reader (MHD_ContentReaderCallback) that has nothing
 * to send yet, and more may come, parks its connection rather than wait
 * (which would hold a worker and everything else on it) or return 0
 * (which libmicrohttpd calls again at once: a busy loop). The server
 * checks ready(ud) of the parked connections whenever the build service
 * reports a change and at least once a second, and resumes those that
 * are ready; server_stop() resumes all of them.
 * http_park_init() before the response is queued; http_park() from the
 * reader: 1 parked (return 0 from the reader), 0 ready already (read
 * again), -1 the server is stopping (end the stream); http_park_done()
 * from the response's free callback. */
struct http_park {
	struct http_park *prev, *next;
	struct server *srv;
	struct MHD_Connection *conn;
	bool (*ready)(void *ud);
	void *ud;
	bool parked;
};
void http_park_init(struct http_park *p, struct request *req, bool (*ready)(void *ud), void *ud);
int http_park(struct http_park *p);
void http_park_done(struct http_park *p);

/* Deferred replies: a handler with slow work (a build submission writing
 * its files) calls http_defer() and returns 0 without replying; its
 * connection is suspended, so that its worker serves the others. Another
 * thread does the work, replies (http_reply_*(); 500 if it does not) and
 * calls http_defer_done(), which resumes the connection to send the reply;
 * req must not be touched after it. server_stop() waits for every
 * deferred request to be done. */
void http_defer(struct request *req);
void http_defer_done(struct request *req);

/* Replies. json is consumed. Extra headers: NULL-terminated name/value
 * pairs, e.g. http_reply_json(req, 201, obj, "Location", url, NULL). */
int http_reply_json(struct request *req, unsigned int status, json_t *json, ...);
/* The JSON text written in w (util/jsonw.h), which it takes over: w is
 * empty afterwards; a writer that failed gets a 500 instead. */
struct jsonw;
int http_reply_jsonw(struct request *req, unsigned int status, struct jsonw *w, ...);
int http_reply_empty(struct request *req, unsigned int status);
/* {"code": N, "title": "...", "message": "..."} as Glance (webob) sends. */
int http_reply_error(struct request *req, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Reply with the status a rain error code means, and the last message. */
int http_reply_rain_error(struct request *req, int code);
int http_reply_response(struct request *req, unsigned int status, struct MHD_Response *resp);

/* Reply with job id's log (of kind, NULL: any) in jobs, if who may do
 * action: ?offset=N, ?follow=1 (api/jobs.c). */
int api_job_log(struct request *req, struct rain_jobs *jobs, const char *kind,
		enum rain_action action, const char *id);

/* The job engines raind runs (builds, vettings, registrations, runs; some
 * may be NULL), in this fixed order (api/jobs.c). */
#define API_JOB_ENGINES 4
void api_job_engines(struct request *req, struct rain_jobs *out[API_JOB_ENGINES]);
/* The jobs req's caller may see as GET /rain/v1/jobs lists them (builds
 * and vettings), newest first: a new array in *out. */
int api_job_list(struct request *req, json_t **out);

/* Route tables of the API areas (one file each). */
extern const struct route api_versions_routes[];
extern const struct route api_images_routes[];
extern const struct route api_image_data_routes[];
extern const struct route api_schemas_routes[];
extern const struct route api_builds_routes[];
extern const struct route api_jobs_routes[];
extern const struct route api_vetting_routes[];
extern const struct route api_registrations_routes[];
extern const struct route api_runs_routes[];
extern const struct route api_identity_routes[];
extern const struct route api_users_routes[];
extern const struct route api_usage_routes[];
extern const struct route api_members_routes[];
extern const struct route api_audit_routes[];
extern const struct route api_netboot_routes[];
extern const struct route api_web_routes[];   /* the web catalog, /ui/ */
extern const struct route api_import_routes[];
extern const struct route api_metrics_routes[];

#endif
