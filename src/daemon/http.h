/* raind's HTTP layer on libmicrohttpd: one thread per connection, a route
 * table, JSON replies and errors in Glance's shape, request logging.
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

#include <jansson.h>
#include <microhttpd.h>

#include "rain/ldap.h"
#include "rain/policy.h"
#include "rain/repo.h"

#define HTTP_JSON_MAX (1 << 20)
#define HTTP_MAX_PARAMS 4

struct server;
struct builds;

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
	const char *public_url;    /* for links; NULL: derived */
	int64_t token_lifetime_s;  /* of user tokens ([auth] token_lifetime) */
	int64_t login_address_limit;   /* [auth]; 0: none */
	const char *ldap_url;      /* NULL: no LDAP */
	const char *ldap_user_dn;
	int max_connections;
	struct builds *builds;     /* the build service (daemon/builds.h) */
};

int server_start(struct server **out, const struct server_config *cfg, struct rain_repo *repo);
/* The port actually bound. */
unsigned int server_port(const struct server *srv);
/* Stop accepting, end every connection (aborting uploads), free. */
void server_stop(struct server *srv);

struct rain_repo *request_repo(struct request *req);
struct builds *request_builds(struct request *req);
/* A query argument (the first, when repeated) or NULL. */
const char *request_query(struct request *req, const char *key);
const char *request_header(struct request *req, const char *key);
/* The client's address as text ("-" when unknown) into out. */
void request_client_addr(struct request *req, char *out, size_t outlen);
/* raind's base URL as this client reached it: public_url, else
 * http(s)://HOST from the Host header (no trailing '/'), into out. */
void request_base_url(struct request *req, char *out, size_t outlen);
int64_t request_token_lifetime_us(struct request *req);
/* Failed logins from one address that lock it ([auth]
 * login_address_limit); 0: no limit. */
int64_t request_login_address_limit(struct request *req);

/* Authentication, in one place (http.c): X-Auth-Token is the admin token
 * (the bootstrap and service credential: who = "admin", admin) or a user
 * token from the catalog, found by its SHA-256 in one indexed lookup;
 * expired, revoked, unknown tokens and tokens of users who are not active
 * are refused. Resolve token into *who (owner pointing into name, which
 * holds RAIN_USER_NAME_MAX + 1 bytes); *t (may be NULL) is the stored
 * token of a user token. Returns 0, or RAIN_EAUTH. */
int request_resolve_token(struct request *req, const char *token, struct rain_who *who,
			  char *name, struct rain_token *t, bool *user_token);
/* Call cb for every query argument in order. */
void request_query_foreach(struct request *req,
			   void (*cb)(void *ud, const char *key, const char *value), void *ud);
/* Keep s (malloc'ed) until the request ends; returns s (NULL stays NULL). */
char *request_keep(struct request *req, char *s);
/* The LDAP directory that checks passwords, or NULL. */
const struct rain_ldap_config *request_ldap(struct request *req);
/* Parse the collected body as JSON; replies 400 itself on failure. */
json_t *request_json(struct request *req);

/* Replies. json is consumed. Extra headers: NULL-terminated name/value
 * pairs, e.g. http_reply_json(req, 201, obj, "Location", url, NULL). */
int http_reply_json(struct request *req, unsigned int status, json_t *json, ...);
int http_reply_empty(struct request *req, unsigned int status);
/* {"code": N, "title": "...", "message": "..."} as Glance (webob) sends. */
int http_reply_error(struct request *req, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Reply with the status a rain error code means, and the last message. */
int http_reply_rain_error(struct request *req, int code);
int http_reply_response(struct request *req, unsigned int status, struct MHD_Response *resp);

/* Route tables of the API areas (one file each). */
extern const struct route api_versions_routes[];
extern const struct route api_images_routes[];
extern const struct route api_image_data_routes[];
extern const struct route api_schemas_routes[];
extern const struct route api_builds_routes[];
extern const struct route api_identity_routes[];
extern const struct route api_users_routes[];
extern const struct route api_usage_routes[];
extern const struct route api_members_routes[];
extern const struct route api_audit_routes[];

#endif
