#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon/http.h"
#include "daemon/log.h"
#include "rain/auth.h"
#include "rain/error.h"
#include "util/fsutil.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

struct server {
	struct MHD_Daemon *mhd;
	struct rain_repo *repo;
	struct builds *builds;
	char *admin_token;
	char *tls_cert;
	char *tls_key;
	char *public_url;
	int64_t token_lifetime_us;
	int64_t login_address_limit;
	struct rain_ldap_config ldap;
	char *ldap_url, *ldap_user_dn;
	unsigned int port;
};

static const struct route *const route_tables[] = {
	api_versions_routes,
	api_schemas_routes,
	api_images_routes,
	api_image_data_routes,
	api_builds_routes,
	api_identity_routes,
	api_usage_routes,
	api_members_routes,
	api_audit_routes,
	api_users_routes,
};

/* Decoded strings handed out by request_query(), freed with the request. */
struct req_private {
	struct request pub;
	char **allocs;
	size_t nallocs;
};

char *request_keep(struct request *req, char *s)
{
	struct req_private *p = (struct req_private *)req;
	char **a;

	if (!s)
		return NULL;
	a = realloc(p->allocs, (p->nallocs + 1) * sizeof(*a));
	if (!a) {
		free(s);
		return NULL;
	}
	p->allocs = a;
	a[p->nallocs++] = s;
	return s;
}

static void req_free(struct request *req)
{
	struct req_private *p = (struct req_private *)req;

	for (size_t i = 0; i < p->nallocs; i++)
		free(p->allocs[i]);
	free(p->allocs);
	for (int i = 0; i < HTTP_MAX_PARAMS; i++)
		free(req->params[i]);
	if (req->body)
		explicit_bzero(req->body, req->body_len);   /* may hold a password */
	free(req->body);
	free(p);
}

struct rain_repo *request_repo(struct request *req)
{
	return req->srv->repo;
}

struct builds *request_builds(struct request *req)
{
	return req->srv->builds;
}

const char *request_header(struct request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, key);
}

static void addr_text(struct MHD_Connection *conn, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	snprintf(out, outlen, "-");
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
				  (socklen_t)outlen);
	}
}

void request_client_addr(struct request *req, char *out, size_t outlen)
{
	addr_text(req->conn, out, outlen);
}

void request_base_url(struct request *req, char *out, size_t outlen)
{
	const char *host = request_header(req, "Host");
	size_t n;

	if (req->srv->public_url)
		snprintf(out, outlen, "%s", req->srv->public_url);
	else
		snprintf(out, outlen, "%s://%s", req->srv->tls_cert ? "https" : "http",
			 host && str_is_printable(host, 255) && !strpbrk(host, "/\\\"<> ") ?
			 host : "localhost");
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
}

const struct rain_ldap_config *request_ldap(struct request *req)
{
	return req->srv->ldap.url ? &req->srv->ldap : NULL;
}

int64_t request_token_lifetime_us(struct request *req)
{
	return req->srv->token_lifetime_us;
}

int64_t request_login_address_limit(struct request *req)
{
	return req->srv->login_address_limit;
}

struct query_iter {
	struct request *req;
	void (*cb)(void *ud, const char *key, const char *value);
	void *ud;
};

static enum MHD_Result query_one(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct query_iter *it = cls;
	char *k = request_keep(it->req, str_url_decode(key));
	char *v = request_keep(it->req, str_url_decode(value ? value : ""));

	/* arguments with bad escapes (or an encoded NUL) are dropped here;
	 * request_query_valid() reports them */
	if (k && v)
		it->cb(it->ud, k, v);
	return MHD_YES;
}

void request_query_foreach(struct request *req,
			   void (*cb)(void *ud, const char *key, const char *value), void *ud)
{
	struct query_iter it = { req, cb, ud };

	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_one, &it);
}

struct query_find {
	const char *key;
	const char *value;
};

static void find_one(void *ud, const char *key, const char *value)
{
	struct query_find *f = ud;

	if (!f->value && !strcmp(key, f->key))
		f->value = value;
}

const char *request_query(struct request *req, const char *key)
{
	struct query_find f = { key, NULL };

	request_query_foreach(req, find_one, &f);
	return f.value;
}

static enum MHD_Result query_check(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	char *k = str_url_decode(key), *v = str_url_decode(value ? value : "");
	bool ok = k && v;

	free(k);
	free(v);
	if (!ok) {
		*(bool *)cls = false;
		return MHD_NO;
	}
	return MHD_YES;
}

static const char *status_title(unsigned int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Request Entity Too Large";
	case 415: return "Unsupported Media Type";
	case 416: return "Requested Range Not Satisfiable";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Error";
}

int http_reply_response(struct request *req, unsigned int status, struct MHD_Response *resp)
{
	enum MHD_Result ok;

	if (req->replied) {
		MHD_destroy_response(resp);
		return 0;
	}
	MHD_add_response_header(resp, "X-Openstack-Request-Id", req->request_id);
	req->replied = true;
	req->status = status;
	if (req->defer) {
		req->pending = resp;
		return 0;
	}
	ok = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	req->queued = ok == MHD_YES;
	return ok == MHD_YES ? 0 : rain_error_set(RAIN_EIO, "cannot queue the response");
}

static int reply_text(struct request *req, unsigned int status, char *text, const char *ctype,
		      va_list headers)
{
	size_t len = text ? strlen(text) : 0;
	struct MHD_Response *resp;
	const char *name;

	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return rain_error_set(RAIN_ENOMEM, "cannot build a response");
	}
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	while ((name = va_arg(headers, const char *)))
		MHD_add_response_header(resp, name, va_arg(headers, const char *));
	req->bytes_out = (int64_t)len;
	return http_reply_response(req, status, resp);
}

int http_reply_json(struct request *req, unsigned int status, json_t *json, ...)
{
	char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
	va_list ap;
	int r;

	json_decref(json);
	if (!text)
		return http_reply_error(req, 500, "cannot encode the response");
	va_start(ap, json);
	r = reply_text(req, status, text, "application/json; charset=UTF-8", ap);
	va_end(ap);
	return r;
}

static int reply_headers(struct request *req, unsigned int status, char *text, const char *ctype, ...)
{
	va_list ap;
	int r;

	va_start(ap, ctype);
	r = reply_text(req, status, text, ctype, ap);
	va_end(ap);
	return r;
}

int http_reply_empty(struct request *req, unsigned int status)
{
	return reply_headers(req, status, NULL, NULL, NULL);
}

int http_reply_error(struct request *req, unsigned int status, const char *fmt, ...)
{
	char msg[1024];
	json_t *body;
	char *text;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	body = json_pack("{s:i, s:s, s:s}", "code", (int)status, "title", status_title(status),
			 "message", msg);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (status == 401)
		return reply_headers(req, status, text, "application/json; charset=UTF-8",
				     "WWW-Authenticate", "Keystone uri=\"/v3\"", NULL);
	return reply_headers(req, status, text, "application/json; charset=UTF-8", NULL);
}

int http_reply_rain_error(struct request *req, int code)
{
	unsigned int status;

	switch (code) {
	case RAIN_EINVAL:
	case RAIN_EFORMAT: status = 400; break;
	case RAIN_EAUTH: status = 401; break;
	case RAIN_EFORBIDDEN: status = 403; break;
	case RAIN_ENOTFOUND: status = 404; break;
	case RAIN_ECONFLICT:
	case RAIN_EEXISTS: status = 409; break;
	case RAIN_ETOOBIG:
	case RAIN_ENOSPC: status = 413; break;
	default: status = 500; break;
	}
	if (code == RAIN_ENOSPC)
		return http_reply_error(req, status, "Image storage media is full: %s",
					rain_error_last());
	return http_reply_error(req, status, "%s", rain_error_last());
}

json_t *request_json(struct request *req)
{
	json_error_t err;
	json_t *j;

	if (!req->body_len) {
		http_reply_error(req, 400, "the request needs a JSON body");
		return NULL;
	}
	j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		http_reply_error(req, 400, "malformed JSON in request body at line %d column %d: %s",
				 err.line, err.column, err.text);
	return j;
}

/* Match path against pattern; captured segments are decoded into params.
 * Returns 1 on a match, 0 if not, a negative code on a bad escape. */
static int route_match(const char *pattern, const char *path, char **params)
{
	const char *p = pattern, *u = path;
	int n = 0;

	while (*p && *u) {
		if (p[0] == '{' && p[1] == '}') {
			const char *end = strchrnul(u, '/');
			char *seg;

			if (end == u || n >= HTTP_MAX_PARAMS)
				goto nomatch;
			seg = strndup(u, (size_t)(end - u));
			params[n] = seg ? str_url_decode(seg) : NULL;
			free(seg);
			if (!params[n]) {
				for (int i = 0; i < n; i++) {
					free(params[i]);
					params[i] = NULL;
				}
				return RAIN_EINVAL;
			}
			n++;
			p += 2;
			u = end;
			continue;
		}
		if (*p != *u)
			goto nomatch;
		p++;
		u++;
	}
	if (*p == '\0' && (*u == '\0' || (u[0] == '/' && u[1] == '\0')))
		return 1;
nomatch:
	for (int i = 0; i < n; i++) {
		free(params[i]);
		params[i] = NULL;
	}
	return 0;
}

/* Find the route; *status is 404 or 405 when none fits. */
static const struct route *route_find(struct request *req, unsigned int *status)
{
	bool path_known = false;

	*status = 404;
	for (size_t t = 0; t < sizeof(route_tables) / sizeof(*route_tables); t++) {
		for (const struct route *r = route_tables[t]; r->pattern; r++) {
			char *params[HTTP_MAX_PARAMS] = { NULL };
			int m = route_match(r->pattern, req->url, params);

			if (m < 0) {
				*status = 400;
				return NULL;
			}
			if (m == 0)
				continue;
			if (strcmp(r->method, req->method) != 0 &&
			    !(strcmp(r->method, "GET") == 0 && strcmp(req->method, "HEAD") == 0)) {
				path_known = true;
				for (int i = 0; i < HTTP_MAX_PARAMS; i++)
					free(params[i]);
				continue;
			}
			memcpy(req->params, params, sizeof(params));
			return r;
		}
	}
	if (path_known)
		*status = 405;
	return NULL;
}

int request_resolve_token(struct request *req, const char *token, struct rain_who *who,
			  char *name, struct rain_token *t, bool *user_token)
{
	char hash[RAIN_TOKEN_HASH_LEN + 1];
	struct rain_token tok;

	*user_token = false;
	if (!token || !*token)
		return RAIN_EAUTH;
	if (str_equal_ct(token, req->srv->admin_token)) {
		who->owner = "admin";
		who->admin = true;
		return 0;
	}
	if (strlen(token) != RAIN_TOKEN_LEN)
		return RAIN_EAUTH;
	rain_token_hash(token, hash);
	if (rain_catalog_token_lookup(rain_repo_catalog(req->srv->repo), hash, &tok) < 0)
		return RAIN_EAUTH;
	if (!rain_token_hash_equal(tok.hash, hash) || tok.revoked ||
	    tok.expires_at <= time_now_us() || tok.status != RAIN_USER_ACTIVE)
		return RAIN_EAUTH;
	memcpy(name, tok.user, sizeof(tok.user));
	who->owner = name;
	who->admin = tok.role == RAIN_ROLE_ADMIN;
	who->quota_bytes = who->admin ? 0 : tok.quota_bytes;
	who->quota_images = who->admin ? 0 : tok.quota_images;
	*user_token = true;
	if (t)
		*t = tok;
	return 0;
}

static bool authenticate(struct request *req)
{
	return request_resolve_token(req, request_header(req, "X-Auth-Token"), &req->who,
				     req->who_name, NULL, &req->user_token) == 0;
}

/* The route's action, when the path alone decides it (rain/policy.h);
 * image, build and token actions are checked when the object is found. */
static bool authorize(struct request *req)
{
	enum rain_action a = req->route->action;
	enum rain_resource res = rain_policy_resource(a);
	int r;

	if (a == RAIN_ACT_PUBLIC || res == RAIN_RES_IMAGE || res == RAIN_RES_BUILD ||
	    res == RAIN_RES_TOKEN)
		return true;
	r = rain_policy_check_owned(&req->who, res == RAIN_RES_USER ? req->params[0] : NULL,
				    req->params[0], a);
	if (r < 0)
		http_reply_rain_error(req, r);
	return r == 0;
}

static int run_handler(struct request *req, int (*fn)(struct request *), bool must_reply)
{
	int r = fn(req);

	if (r < 0 && !req->replied)
		http_reply_rain_error(req, r);
	else if (!req->replied && must_reply)
		http_reply_error(req, 500, "the handler did not reply");
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct request *req = *con_cls;
	size_t n = *upload_data_size;
	int r;

	if (!req) {
		struct req_private *p = calloc(1, sizeof(*p));
		unsigned int status;
		bool query_ok = true;

		if (!p)
			return MHD_NO;
		req = &p->pub;
		*con_cls = req;
		req->srv = cls;
		req->conn = conn;
		req->method = method;
		req->url = url;
		req->started_us = time_mono_us();
		memcpy(req->request_id, "req-", 4);
		if (uuid_generate(req->request_id + 4) < 0)
			snprintf(req->request_id, sizeof(req->request_id), "req-unknown");
		/* without a body, answer on the next call so the connection
		 * stays alive; with one, answer now so an error stops it */
		req->defer = !request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH) &&
			     !request_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
		if (!req->defer && request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH) &&
		    !strcmp(request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH), "0"))
			req->defer = true;
		MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_check, &query_ok);
		req->route = query_ok ? route_find(req, &status) : NULL;
		if (!query_ok)
			http_reply_error(req, 400, "bad percent-escape in the query string");
		else if (!req->route && status == 400)
			http_reply_error(req, 400, "bad percent-escape in the path %s", url);
		else if (!req->route && status == 405)
			http_reply_error(req, 405, "method %s is not allowed on %s", method, url);
		else if (!req->route)
			http_reply_error(req, 404, "no such resource: %s", url);
		else if (req->route->action != RAIN_ACT_PUBLIC && !authenticate(req))
			http_reply_error(req, 401, "This server could not verify that you are "
					 "authorized to access the document you requested: "
					 "send a valid X-Auth-Token header.");
		else if (!authorize(req))
			;       /* replied */
		else if (req->route->body == BODY_STREAM)
			run_handler(req, req->route->handler, false);
		else if (req->route->body == BODY_NONE)
			run_handler(req, req->route->handler, true);
		return MHD_YES;
	}
	if (n > 0) {
		*upload_data_size = 0;
		req->defer = true;
		req->bytes_in += (int64_t)n;
		if (req->replied)
			return MHD_YES;   /* the answer is out; drop the rest */
		if (req->route->body == BODY_JSON) {
			size_t max = req->route->body_max ? req->route->body_max : HTTP_JSON_MAX;

			if (req->body_len + n > max) {
				req->body_too_big = true;
				http_reply_error(req, 413, "the request body is larger than %zu bytes", max);
				return MHD_YES;
			}
			char *b = realloc(req->body, req->body_len + n + 1);

			if (!b)
				return MHD_NO;
			memcpy(b + req->body_len, upload_data, n);
			req->body = b;
			req->body_len += n;
			b[req->body_len] = '\0';
		} else if (req->route->body == BODY_STREAM) {
			r = req->route->data(req, upload_data, n);
			if (r < 0 && !req->replied)
				http_reply_rain_error(req, r);
		} else {
			http_reply_error(req, 400, "%s %s takes no request body", method, url);
		}
		return MHD_YES;
	}
	req->defer = false;
	if (req->pending) {
		/* libmicrohttpd refuses a response until the body is complete;
		 * should it call with no data before that, keep waiting (but
		 * give up on a connection that never gets there) */
		if (MHD_queue_response(conn, req->status, req->pending) != MHD_YES) {
			req->defer = true;
			return ++req->queue_retries < 10000 ? MHD_YES : MHD_NO;
		}
		MHD_destroy_response(req->pending);
		req->pending = NULL;
		req->queued = true;
		return MHD_YES;
	}
	/* a reply that could not be queued: close rather than spin */
	if (req->replied)
		return req->queued ? MHD_YES : MHD_NO;
	if (req->route->body == BODY_JSON)
		run_handler(req, req->route->handler, true);
	else if (req->route->body == BODY_STREAM)
		run_handler(req, req->route->end, true);
	return MHD_YES;
}

/* Every request that changes something, whatever its outcome, goes to
 * the catalog's append-only audit log: who, from where, what, the status.
 * (Reads are in the access log only.) */
static void audit(struct request *req, const char *addr)
{
	struct rain_audit_entry e = { .at = time_now_us(), .status = (int)req->status };

	if (!req->route || !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD"))
		return;
	snprintf(e.actor, sizeof(e.actor), "%s", req->who.owner ? req->who.owner : "");
	snprintf(e.address, sizeof(e.address), "%s", addr);
	snprintf(e.method, sizeof(e.method), "%s", req->method);
	snprintf(e.path, sizeof(e.path), "%s", req->url);
	snprintf(e.target, sizeof(e.target), "%s", req->params[0] ? req->params[0] :
		 req->audit_target[0] ? req->audit_target : "");
	if (rain_catalog_audit_append(rain_repo_catalog(req->srv->repo), &e) < 0)
		log_printf(LOG_WARN, "cannot append to the audit log: %s", rain_error_last());
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *req = *con_cls;
	char addr[INET6_ADDRSTRLEN] = "-";

	if (!req)
		return;
	if (req->state && req->route && req->route->abort)
		req->route->abort(req);
	addr_text(conn, addr, sizeof(addr));
	log_request(addr, req->request_id, req->method, req->url, req->status,
		    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (interrupted)",
		    req->bytes_in, req->bytes_out, time_mono_us() - req->started_us);
	audit(req, addr);
	*con_cls = NULL;
	if (req->pending)
		MHD_destroy_response(req->pending);
	req_free(req);
}

/* Leave percent-escapes alone: paths and query values are decoded per
 * segment by the router, so an encoded '/' or NUL cannot sneak in. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	log_vprintf(LOG_WARN, fmt, ap);
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
	_cleanup_free_ char *host = NULL;
	const char *colon, *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	int rc;

	if (listen[0] == '[') {
		const char *end = strchr(listen, ']');

		if (!end || end[1] != ':')
			return rain_error_set(RAIN_EINVAL, "bad listen address '%s' (use [ADDR]:PORT)", listen);
		host = strndup(listen + 1, (size_t)(end - listen - 1));
		port = end + 2;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return rain_error_set(RAIN_EINVAL, "bad listen address '%s' (use HOST:PORT)", listen);
		host = strndup(listen, (size_t)(colon - listen));
		port = colon + 1;
	}
	if (!host)
		return RAIN_ENOMEM;
	rc = getaddrinfo(*host ? host : "0.0.0.0", port, &hints, &ai);
	if (rc != 0)
		return rain_error_set(RAIN_EINVAL, "bad listen address '%s': %s", listen, gai_strerror(rc));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int server_start(struct server **out, const struct server_config *cfg, struct rain_repo *repo)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			     MHD_USE_POLL | MHD_USE_ERROR_LOG;
	struct server *srv;
	const union MHD_DaemonInfo *di;
	char *cert = NULL, *key = NULL;
	int r;

	r = parse_listen(cfg->listen, &ss, &sslen);
	if (r < 0)
		return r;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (!!cfg->tls_cert != !!cfg->tls_key)
		return rain_error_set(RAIN_EINVAL, "TLS needs both tls_cert and tls_key");
	if (cfg->tls_cert) {
		r = fs_read_small(cfg->tls_cert, 1 << 20, &cert, NULL);
		if (r == 0)
			r = fs_read_small(cfg->tls_key, 1 << 20, &key, NULL);
		if (r < 0) {
			free(cert);
			return r;
		}
		flags |= MHD_USE_TLS;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		free(cert);
		free(key);
		return RAIN_ENOMEM;
	}
	srv->repo = repo;
	srv->builds = cfg->builds;
	srv->admin_token = strdup(cfg->admin_token);
	srv->tls_cert = cert;
	srv->tls_key = key;
	srv->token_lifetime_us = (cfg->token_lifetime_s > 0 ? cfg->token_lifetime_s : 86400) * 1000000LL;
	srv->login_address_limit = cfg->login_address_limit;
	if (cfg->ldap_url && cfg->ldap_user_dn) {
		srv->ldap_url = strdup(cfg->ldap_url);
		srv->ldap_user_dn = strdup(cfg->ldap_user_dn);
		srv->ldap.url = srv->ldap_url;
		srv->ldap.user_dn = srv->ldap_user_dn;
	}
	if (cfg->public_url && !(srv->public_url = strdup(cfg->public_url))) {
		server_stop(srv);
		return RAIN_ENOMEM;
	}
	if (cert)
		srv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
					    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
					    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
					    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
					    MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
					    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
					    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)300,
					    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
					    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
					    MHD_OPTION_HTTPS_MEM_CERT, cert,
					    MHD_OPTION_HTTPS_MEM_KEY, key,
					    MHD_OPTION_END);
	else
		srv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
					    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
					    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
					    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
					    MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
					    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
					    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)300,
					    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
					    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
					    MHD_OPTION_END);
	if (!srv->mhd || !srv->admin_token) {
		int e = errno;

		server_stop(srv);
		return rain_error_errno(RAIN_EIO, e, "cannot listen on %s", cfg->listen);
	}
	di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? di->port : 0;
	*out = srv;
	return 0;
}

unsigned int server_port(const struct server *srv)
{
	return srv->port;
}

void server_stop(struct server *srv)
{
	if (!srv)
		return;
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	free(srv->admin_token);
	free(srv->ldap_url);
	free(srv->ldap_user_dn);
	free(srv->tls_cert);
	free(srv->tls_key);
	free(srv->public_url);
	free(srv);
}
