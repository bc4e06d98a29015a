#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/builds.h"
#include "daemon/http.h"
#include "util/jsonw.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "rain/auth.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/netaddr.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define ADDR_BUCKETS 4096
#define REFUSAL_LOG_US (10 * 1000000LL)   /* at most one refusal line per 10 s */

/* Where a connection is (on_connection, on_uri, on_request, on_completed
 * move it on; the watchdog judges it). */
enum conn_phase {
	PH_HEADER,   /* the request header is coming: deadline */
	PH_BODY,     /* the body is coming: at least the minimum rate */
	PH_BUSY,     /* a handler runs or the response goes out */
	PH_IDLE,     /* kept alive between requests: deadline */
};

struct conn_track {
	struct conn_track *prev, *next;
	int fd;
	struct net_addr peer;
	bool trusted;            /* the peer is a trusted proxy: not counted */
	bool counted;            /* holds one count of peer */
	bool closing;            /* shut down by the watchdog */
	enum conn_phase phase;
	int64_t deadline_us;     /* PH_HEADER, PH_IDLE (monotonic) */
	int64_t window_us;       /* PH_BODY: when the current window began */
	int64_t window_bytes;    /* ... and bytes then */
	int64_t bytes;           /* body bytes of the current request */
};

/* Open connections (or forwarded requests) per client address. */
struct addr_count {
	struct addr_count *next;
	struct net_addr addr;
	int n;
};

struct server {
	struct MHD_Daemon *mhd;
	struct rain_repo *repo;
	struct builds *builds;
	struct vetting *vetting;
	char *const *netboot_sites;
	struct registrations *registrations;
	struct runs *runs;
	bool web_ui;
	struct imports *imports;
	char *admin_token;
	char *tls_cert;
	char *tls_key;
	char *public_url;
	struct rain_identity *identity;    /* borrowed (server_config) */
	unsigned int port;
	char base_url[1100];
	struct net_prefix *proxies;
	size_t nproxies;
	int per_address;
	int64_t header_timeout_us, idle_timeout_us, body_window_us, body_min_rate;
	/* connections: the list, the counts and the watchdog's state */
	pthread_mutex_t track_lock;
	pthread_cond_t track_cond;    /* the watchdog sleeps on it */
	struct conn_track *conns;
	struct addr_count *counts[ADDR_BUCKETS];
	int64_t refused, refused_logged_us;
	char refused_last[NET_ADDR_TEXT_MAX];
	/* parked connections (http_park) */
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;     /* the parker sleeps on it without builds */
	struct http_park *parked;
	int deferred;                 /* requests between http_defer and _done */
	bool stopping;                /* under both locks */
	bool locks_ready, watchdog_started, parker_started;
	pthread_t watchdog, parker;
};

static const struct route *const route_tables[] = {
	api_versions_routes,
	api_schemas_routes,
	api_images_routes,
	api_image_data_routes,
	api_builds_routes,
	api_jobs_routes,
	api_vetting_routes,
	api_registrations_routes,
	api_runs_routes,
	api_identity_routes,
	api_usage_routes,
	api_members_routes,
	api_audit_routes,
	api_netboot_routes,
	api_users_routes,
	api_web_routes,
	api_import_routes,
	api_metrics_routes,
};

/* Decoded strings handed out by request_query(), freed with the request;
 * the client's address; the count a forwarded request holds. */
struct req_private {
	struct request pub;
	char **allocs;
	size_t nallocs;
	struct conn_track *track;    /* NULL if on_connection could not */
	struct net_addr client;
	char client_text[NET_ADDR_TEXT_MAX];
	bool client_counted;         /* holds one count of client */
};

char *request_keep(struct request *req, char *s)
{
	struct req_private *p = (struct req_private *)req;
	if (!s)
		return NULL;
	if (ARRAY_GROW1(p->allocs, p->nallocs) < 0) {
		free(s);
		return NULL;
	}
	p->allocs[p->nallocs++] = s;
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

struct vetting *request_vetting(struct request *req)
{
	return req->srv->vetting;
}

const char *request_netboot_dir(struct request *req, const char *site)
{
	size_t len = strlen(site);

	for (size_t i = 0; req->srv->netboot_sites && req->srv->netboot_sites[i]; i++)
		if (!strncmp(req->srv->netboot_sites[i], site, len) && req->srv->netboot_sites[i][len] == '=')
			return req->srv->netboot_sites[i] + len + 1;
	return NULL;
}

int http_parse_range(const char *h, int64_t size, int64_t *start, int64_t *end)
{
	char *e;
	long long a, b;

	if (!str_has_prefix(h, "bytes=") || strchr(h, ','))
		return -1;
	h += 6;
	if (*h == '-') {
		b = strtoll(h + 1, &e, 10);
		if (e == h + 1 || *e || b <= 0)
			return -1;
		*start = b >= size ? 0 : size - b;
		*end = size - 1;
		return size > 0 ? 0 : -1;
	}
	a = strtoll(h, &e, 10);
	if (e == h || *e != '-' || a < 0 || a >= size)
		return -1;
	h = e + 1;
	if (*h == '\0') {
		b = size - 1;
	} else {
		b = strtoll(h, &e, 10);
		if (e == h || *e || b < a)
			return -1;
		if (b >= size)
			b = size - 1;
	}
	*start = a;
	*end = b;
	return 0;
}

struct registrations *request_registrations(struct request *req)
{
	return req->srv->registrations;
}

struct imports *request_imports(struct request *req)
{
	return req->srv->imports;
}

struct runs *request_runs(struct request *req)
{
	return req->srv->runs;
}

const char *request_header(struct request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, key);
}

void request_client_addr(struct request *req, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", ((struct req_private *)req)->client_text);
}

void request_base_url(struct request *req, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", req->srv->base_url);
}

struct rain_identity *request_identity(struct request *req)
{
	return req->srv->identity;
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

/* ---- connections: counts, timeouts, the client behind a proxy ---------- */

static struct addr_count **count_slot(struct server *srv, const struct net_addr *a)
{
	struct addr_count **p = &srv->counts[net_addr_hash(a) % ADDR_BUCKETS];

	while (*p && !net_addr_equal(&(*p)->addr, a))
		p = &(*p)->next;
	return p;
}

/* With track_lock held: a's count (0 when none). */
static int count_get(struct server *srv, const struct net_addr *a)
{
	struct addr_count *c = *count_slot(srv, a);

	return c ? c->n : 0;
}

/* With track_lock held: add delta (+1 or -1) to a's count; the new count,
 * or -1 when out of memory (nothing counted). */
static int count_add(struct server *srv, const struct net_addr *a, int delta)
{
	struct addr_count **p = count_slot(srv, a), *c = *p;

	if (!c) {
		if (delta < 0)
			return 0;
		c = calloc(1, sizeof(*c));
		if (!c)
			return -1;
		c->addr = *a;
		*p = c;
	}
	c->n += delta;
	if (c->n > 0)
		return c->n;
	*p = c->next;
	free(c);
	return 0;
}

static bool is_trusted(const struct server *srv, const struct net_addr *a)
{
	return net_prefix_list_match(srv->proxies, srv->nproxies, a);
}

/* libmicrohttpd asks before it takes a connection on: refuse one more
 * from an address that has max_connections_per_address already. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *sa, socklen_t len)
{
	struct server *srv = cls;
	struct net_addr a;
	bool ok;
	int64_t now, refused = 0;
	char last[NET_ADDR_TEXT_MAX];

	if (!net_addr_from_sockaddr(sa, &a) || is_trusted(srv, &a))
		return MHD_YES;
	pthread_mutex_lock(&srv->track_lock);
	ok = count_get(srv, &a) < srv->per_address;
	if (!ok) {
		srv->refused++;
		net_addr_text(&a, srv->refused_last, sizeof(srv->refused_last));
		now = time_mono_us();
		if (now - srv->refused_logged_us >= REFUSAL_LOG_US) {
			refused = srv->refused;
			memcpy(last, srv->refused_last, sizeof(last));
			srv->refused = 0;
			srv->refused_logged_us = now;
		}
	}
	pthread_mutex_unlock(&srv->track_lock);
	if (refused)
		log_printf(LOG_WARN, "refused %lld connection(s) over the limit of %d from one "
			   "address ([server] max_connections_per_address), the last from %s",
			   (long long)refused, srv->per_address, last);
	return ok ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct server *srv = cls;
	struct conn_track *t = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ad =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		t = calloc(1, sizeof(*t));
		*socket_context = t;
		if (!t) {
			/* untracked: no timeouts would hold it, so do not keep it */
			if (fd)
				shutdown(fd->connect_fd, SHUT_RDWR);
			return;
		}
		t->fd = fd ? fd->connect_fd : -1;
		net_addr_from_sockaddr(ad ? ad->client_addr : NULL, &t->peer);
		t->trusted = t->peer.family && is_trusted(srv, &t->peer);
		t->phase = PH_HEADER;
		t->deadline_us = time_mono_us() + srv->header_timeout_us;
		pthread_mutex_lock(&srv->track_lock);
		if (t->peer.family && !t->trusted)
			t->counted = count_add(srv, &t->peer, 1) > 0;
		t->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = t;
		srv->conns = t;
		pthread_mutex_unlock(&srv->track_lock);
		return;
	}
	if (!t)
		return;
	/* closed: libmicrohttpd closes the descriptor only after this */
	pthread_mutex_lock(&srv->track_lock);
	if (t->counted)
		count_add(srv, &t->peer, -1);
	if (t->prev)
		t->prev->next = t->next;
	else
		srv->conns = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&srv->track_lock);
	free(t);
	*socket_context = NULL;
}

static struct conn_track *conn_track(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void track_phase(struct server *srv, struct conn_track *t, enum conn_phase phase)
{
	int64_t now = time_mono_us();

	if (!t)
		return;
	pthread_mutex_lock(&srv->track_lock);
	t->phase = phase;
	if (phase == PH_HEADER)
		t->deadline_us = now + srv->header_timeout_us;
	else if (phase == PH_IDLE)
		t->deadline_us = now + srv->idle_timeout_us;
	else if (phase == PH_BODY) {
		t->window_us = now;
		t->window_bytes = 0;
		t->bytes = 0;
	}
	pthread_mutex_unlock(&srv->track_lock);
}

/* The request line is in: on a kept-alive connection, the header's time
 * starts now (the first request's started at the connection). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct server *srv = cls;
	struct conn_track *t = conn_track(conn);

	if (t) {
		pthread_mutex_lock(&srv->track_lock);
		if (t->phase == PH_IDLE) {
			t->phase = PH_HEADER;
			t->deadline_us = time_mono_us() + srv->header_timeout_us;
		}
		pthread_mutex_unlock(&srv->track_lock);
	}
	return NULL;
}

/* Once a second: shut down the connections past their deadline. */
static void *watchdog_main(void *ud)
{
	struct server *srv = ud;

	pthread_mutex_lock(&srv->track_lock);
	while (!srv->stopping) {
		struct timespec until;
		int64_t now, n_header = 0, n_body = 0;
		char header_from[NET_ADDR_TEXT_MAX] = "", body_from[NET_ADDR_TEXT_MAX] = "";

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&srv->track_cond, &srv->track_lock, &until);
		if (srv->stopping)
			break;
		now = time_mono_us();
		for (struct conn_track *t = srv->conns; t; t = t->next) {
			int64_t elapsed, need;

			if (t->closing || t->fd < 0)
				continue;
			switch (t->phase) {
			case PH_HEADER:
			case PH_IDLE:
				if (now < t->deadline_us)
					continue;
				if (t->phase == PH_HEADER) {
					n_header++;
					net_addr_text(&t->peer, header_from, sizeof(header_from));
				}
				break;
			case PH_BODY:
				elapsed = now - t->window_us;
				if (elapsed < srv->body_window_us)
					continue;
				need = srv->body_min_rate * elapsed / 1000000;
				if (t->bytes - t->window_bytes >= (need > 0 ? need : 1)) {
					t->window_us = now;
					t->window_bytes = t->bytes;
					continue;
				}
				n_body++;
				net_addr_text(&t->peer, body_from, sizeof(body_from));
				break;
			case PH_BUSY:
				continue;
			}
			/* the worker's loop sees the end and closes it */
			shutdown(t->fd, SHUT_RDWR);
			t->closing = true;
		}
		pthread_mutex_unlock(&srv->track_lock);
		if (n_header)
			log_printf(LOG_INFO, "closed %lld connection(s) whose request header was not "
				   "complete within %llds ([server] header_timeout), the last from %s",
				   (long long)n_header, (long long)(srv->header_timeout_us / 1000000),
				   header_from);
		if (n_body)
			log_printf(LOG_INFO, "closed %lld connection(s) whose request body came slower "
				   "than %lld bytes/s over %llds ([server] body_min_rate, body_timeout), "
				   "the last from %s", (long long)n_body, (long long)srv->body_min_rate,
				   (long long)(srv->body_window_us / 1000000), body_from);
		pthread_mutex_lock(&srv->track_lock);
	}
	pthread_mutex_unlock(&srv->track_lock);
	return NULL;
}

struct header_join {
	char buf[8192];
	size_t len;
	bool truncated;
};

static enum MHD_Result join_forwarded(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct header_join *j = cls;
	size_t n;

	if (strcasecmp(key, "X-Forwarded-For") != 0 || !value)
		return MHD_YES;
	n = strlen(value);
	if (j->len + n + 2 > sizeof(j->buf)) {
		j->truncated = true;
		return MHD_NO;
	}
	if (j->len)
		j->buf[j->len++] = ',';
	memcpy(j->buf + j->len, value, n + 1);
	j->len += n;
	return MHD_YES;
}

/* The client: the peer, or behind trusted proxies the rightmost address
 * of X-Forwarded-For (every X-Forwarded-For header, in order) that is not
 * a trusted proxy. Walking from the right stops at the first entry that
 * is not an address: what is left of it is the client's to write. */
static void find_client(struct request *req, const struct net_addr *peer, struct net_addr *out)
{
	struct header_join *j;
	char *end;

	*out = *peer;
	if (!peer->family || !is_trusted(req->srv, peer))
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, join_forwarded, j);
	end = j->buf + j->len;
	while (!j->truncated && end > j->buf) {
		char *start = end, *item;
		struct net_addr a;

		while (start > j->buf && start[-1] != ',')
			start--;
		*end = '\0';
		item = start + strspn(start, " \t");
		for (char *e = item + strlen(item); e > item && (e[-1] == ' ' || e[-1] == '\t'); )
			*--e = '\0';
		if (net_addr_parse(item, &a) < 0)
			break;
		*out = a;
		if (!is_trusted(req->srv, &a))
			break;
		end = start > j->buf ? start - 1 : j->buf;
	}
	free(j);
}

struct header_counter {
	const char *name;
	unsigned int n;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	struct header_counter *c = cls;

	if (!strcasecmp(key, c->name))
		c->n++;
	return MHD_YES;
}

/* How many times the request has header name (libmicrohttpd keeps each). */
static unsigned int header_count(struct request *req, const char *name)
{
	struct header_counter c = { name, 0 };

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_header, &c);
	return c.n;
}

/* ---- parked connections ------------------------------------------------ */

void http_park_init(struct http_park *p, struct request *req, bool (*ready)(void *ud), void *ud)
{
	memset(p, 0, sizeof(*p));
	p->srv = req->srv;
	p->conn = req->conn;
	p->ready = ready;
	p->ud = ud;
}

static void unpark_locked(struct http_park *p)
{
	struct server *srv = p->srv;

	if (!p->parked)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		srv->parked = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	p->parked = false;
	MHD_resume_connection(p->conn);
}

int http_park(struct http_park *p)
{
	struct server *srv = p->srv;
	int r;

	pthread_mutex_lock(&srv->park_lock);
	if (srv->stopping) {
		r = -1;
	} else if (p->ready(p->ud)) {
		r = 0;
	} else {
		MHD_suspend_connection(p->conn);
		p->parked = true;
		p->prev = NULL;
		p->next = srv->parked;
		if (srv->parked)
			srv->parked->prev = p;
		srv->parked = p;
		r = 1;
	}
	pthread_mutex_unlock(&srv->park_lock);
	return r;
}

void http_park_done(struct http_park *p)
{
	if (!p->srv)
		return;
	pthread_mutex_lock(&p->srv->park_lock);
	if (p->parked) {
		/* not reached in practice: a parked connection does not end */
		unpark_locked(p);
	}
	pthread_mutex_unlock(&p->srv->park_lock);
}

/* ---- deferred replies -------------------------------------------------- */

void http_defer(struct request *req)
{
	pthread_mutex_lock(&req->srv->park_lock);
	req->srv->deferred++;
	pthread_mutex_unlock(&req->srv->park_lock);
	req->deferred = true;
	req->defer = true;      /* the reply waits in pending until the resume */
	MHD_suspend_connection(req->conn);
}

void http_defer_done(struct request *req)
{
	struct server *srv = req->srv;

	if (!req->replied)
		http_reply_error(req, 500, "the handler did not reply");
	pthread_mutex_lock(&srv->park_lock);
	/* from here on libmicrohttpd may send the reply and free req */
	MHD_resume_connection(req->conn);
	srv->deferred--;
	pthread_cond_broadcast(&srv->park_cond);
	pthread_mutex_unlock(&srv->park_lock);
}

/* Resume the parked connections that are ready (all of them once the
 * server stops), whenever the build service changes and every second. */
static void *parker_main(void *ud)
{
	struct server *srv = ud;

	for (;;) {
		bool stop;

		if (srv->builds) {
			builds_wait_change(srv->builds, 1000);
			pthread_mutex_lock(&srv->park_lock);
		} else {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_mutex_lock(&srv->park_lock);
			if (!srv->stopping)
				pthread_cond_timedwait(&srv->park_cond, &srv->park_lock, &until);
		}
		stop = srv->stopping;
		for (struct http_park *p = srv->parked, *next; p; p = next) {
			next = p->next;
			if (stop || p->ready(p->ud))
				unpark_locked(p);
		}
		pthread_mutex_unlock(&srv->park_lock);
		if (stop)
			return NULL;
	}
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
	case 429: return "Too Many Requests";
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

int http_reply_jsonw(struct request *req, unsigned int status, struct jsonw *w, ...)
{
	char *text;
	size_t len;
	va_list ap;
	int r;

	if (jsonw_finish(w, &text, &len) < 0)
		return http_reply_error(req, 500, "cannot encode the response: %s", rain_error_last());
	va_start(ap, w);
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

	metrics_error(code);
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
	case RAIN_ELIMIT: status = 429; break;
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
 * Returns 1 on a match, 0 if not, a negative code on a bad escape. A path
 * that is the pattern with its last segment, an id, left empty
 * ("/v2/images/") does not match but returns 2. */
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
	if (*u == '\0' && !strcmp(p, "{}") && p > pattern && p[-1] == '/') {
		for (int i = 0; i < n; i++) {
			free(params[i]);
			params[i] = NULL;
		}
		return 2;
	}
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
	/* an empty id is no id, as with Glance: not the collection that a
	 * trailing slash would otherwise name */
	if (str_has_suffix(req->url, "/")) {
		for (size_t t = 0; t < sizeof(route_tables) / sizeof(*route_tables); t++) {
			for (const struct route *r = route_tables[t]; r->pattern; r++) {
				char *params[HTTP_MAX_PARAMS] = { NULL };

				if (route_match(r->pattern, req->url, params) == 2)
					return NULL;
				for (int i = 0; i < HTTP_MAX_PARAMS; i++)
					free(params[i]);
			}
		}
	}
	for (size_t t = 0; t < sizeof(route_tables) / sizeof(*route_tables); t++) {
		if (route_tables[t] == api_web_routes && !req->srv->web_ui)
			continue;
		for (const struct route *r = route_tables[t]; r->pattern; r++) {
			char *params[HTTP_MAX_PARAMS] = { NULL };
			int m = route_match(r->pattern, req->url, params);

			if (m < 0) {
				*status = 400;
				return NULL;
			}
			if (m == 0 || m == 2)
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
	struct rain_token tok;

	*user_token = false;
	if (!token || !*token)
		return RAIN_EAUTH;
	if (str_equal_ct(token, req->srv->admin_token)) {
		who->owner = "admin";
		who->admin = true;
		return 0;
	}
	if (rain_identity_token_validate(req->srv->identity, token, &tok) < 0)
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
/* The user a path names, as the caller's own name when it is that name
 * by the name rule ("ALICE" is alice); names of older catalogs match as
 * written. */
static const char *request_user_name(struct request *req, const char *name, char *norm,
				     size_t normlen)
{
	if (name && req->who.owner && strcmp(name, req->who.owner) &&
	    rain_user_name_normalize(name, norm, normlen) == 0 && !strcmp(norm, req->who.owner))
		return req->who.owner;
	return name;
}

static bool authorize(struct request *req)
{
	enum rain_action a = req->route->action;
	enum rain_resource res = rain_policy_resource(a);
	char norm[RAIN_USER_NAME_MAX + 1];
	const char *user = NULL;
	int r;

	if (a == RAIN_ACT_PUBLIC || res == RAIN_RES_IMAGE || res == RAIN_RES_BUILD ||
	    res == RAIN_RES_TOKEN)
		return true;
	if (res == RAIN_RES_USER)
		user = request_user_name(req, req->params[0], norm, sizeof(norm));
	r = rain_policy_check_owned(&req->who, user, req->params[0], a);
	if (r < 0)
		http_reply_rain_error(req, r);
	return r == 0;
}

static int run_handler(struct request *req, int (*fn)(struct request *), bool must_reply)
{
	int r = fn(req);

	if (r < 0 && !req->replied)
		http_reply_rain_error(req, r);
	else if (!req->replied && must_reply && !req->deferred)
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
		unsigned int status = 404;
		bool query_ok = true;

		const union MHD_ConnectionInfo *ad;
		struct net_addr peer;
		unsigned int n_length, n_te;
		int n_client = 0;

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
		p->track = conn_track(conn);
		ad = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		net_addr_from_sockaddr(ad ? ad->client_addr : NULL, &peer);
		find_client(req, &peer, &p->client);
		net_addr_text(&p->client, p->client_text, sizeof(p->client_text));
		if (p->track && p->track->trusted && p->client.family &&
		    !net_addr_equal(&p->client, &peer)) {
			/* a forwarded request counts against its client */
			pthread_mutex_lock(&req->srv->track_lock);
			n_client = count_add(req->srv, &p->client, 1);
			pthread_mutex_unlock(&req->srv->track_lock);
			p->client_counted = n_client > 0;
		}
		n_length = header_count(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
		n_te = header_count(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
		/* without a body, answer on the next call so the connection
		 * stays alive; with one, answer now so an error stops it */
		req->defer = !n_length && !n_te;
		if (!req->defer && n_length == 1 && !n_te &&
		    !strcmp(request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH), "0"))
			req->defer = true;
		track_phase(req->srv, p->track, req->defer ? PH_BUSY : PH_BODY);
		MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_check, &query_ok);
		req->route = query_ok ? route_find(req, &status) : NULL;
		/* two lengths (or a length and chunks) could be read two ways by
		 * raind and a proxy in front: refuse, as RFC 9112 6.3 allows */
		if (n_length > 1)
			http_reply_error(req, 400, "the request has %u Content-Length headers; send "
					 "one", n_length);
		else if (n_length && n_te)
			http_reply_error(req, 400, "the request has both Content-Length and "
					 "Transfer-Encoding; send one");
		else if (n_client > req->srv->per_address)
			http_reply_error(req, 429, "too many requests at once from %s (at most %d; "
					 "[server] max_connections_per_address)", p->client_text,
					 req->srv->per_address);
		else if (!query_ok)
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
		struct conn_track *t = ((struct req_private *)req)->track;

		*upload_data_size = 0;
		req->defer = true;
		req->bytes_in += (int64_t)n;
		if (t) {
			pthread_mutex_lock(&req->srv->track_lock);
			t->bytes += (int64_t)n;
			pthread_mutex_unlock(&req->srv->track_lock);
		}
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
	track_phase(req->srv, ((struct req_private *)req)->track, PH_BUSY);
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
	struct req_private *p = (struct req_private *)req;
	const char *addr;

	if (!req)
		return;
	addr = p->client_text;
	if (req->state && req->route && req->route->abort)
		req->route->abort(req);
	if (p->client_counted) {
		pthread_mutex_lock(&req->srv->track_lock);
		count_add(req->srv, &p->client, -1);
		pthread_mutex_unlock(&req->srv->track_lock);
	}
	track_phase(req->srv, p->track, PH_IDLE);
	metrics_request(req->route, req->status, req->bytes_in, req->bytes_out,
			time_mono_us() - req->started_us);
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

int http_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
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
		return rain_error_oom();
	rc = getaddrinfo(*host ? host : "0.0.0.0", port, &hints, &ai);
	if (rc != 0)
		return rain_error_set(RAIN_EINVAL, "bad listen address '%s': %s", listen, gai_strerror(rc));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* The base URL of links: public_url, else the scheme, the address bound
 * (a wildcard one: this machine's host name) and the port. */
static void derive_base_url(struct server *srv, const struct server_config *cfg,
			    const struct sockaddr_storage *ss)
{
	const char *scheme = cfg->tls_cert ? "https" : "http";
	char host[256] = "localhost";
	struct net_addr a;
	size_t n;

	if (cfg->public_url) {
		snprintf(srv->base_url, sizeof(srv->base_url), "%s", cfg->public_url);
		n = strlen(srv->base_url);
		while (n > 0 && srv->base_url[n - 1] == '/')
			srv->base_url[--n] = '\0';
		return;
	}
	net_addr_from_sockaddr((const struct sockaddr *)ss, &a);
	if (ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr))
		a.family = 0;
	else if (ss->ss_family == AF_INET &&
		 ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY))
		a.family = 0;
	if (!a.family) {
		if (gethostname(host, sizeof(host)) < 0 || !host[0] ||
		    strpbrk(host, "/\\\"<> @?#") || !str_is_printable(host, sizeof(host) - 1))
			snprintf(host, sizeof(host), "localhost");
		snprintf(srv->base_url, sizeof(srv->base_url), "%s://%s:%u", scheme, host, srv->port);
	} else {
		net_addr_text(&a, host, sizeof(host));
		snprintf(srv->base_url, sizeof(srv->base_url), a.family == AF_INET6 ?
			 "%s://[%s]:%u" : "%s://%s:%u", scheme, host, srv->port);
	}
}

int server_start(struct server **out, const struct server_config *cfg, struct rain_repo *repo)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	unsigned int threads = cfg->threads > 0 ? (unsigned int)cfg->threads : 32;
	unsigned int limit = cfg->max_connections > 0 ? (unsigned int)cfg->max_connections : 16384;
	size_t memory = cfg->connection_memory > 0 ? (size_t)cfg->connection_memory : 32768;
	struct server *srv;
	const union MHD_DaemonInfo *di;
	char *cert = NULL, *key = NULL;
	int r;

	r = http_parse_listen(cfg->listen, &ss, &sslen);
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
		return rain_error_oom();
	}
	pthread_mutex_init(&srv->track_lock, NULL);
	pthread_cond_init(&srv->track_cond, NULL);
	pthread_mutex_init(&srv->park_lock, NULL);
	pthread_cond_init(&srv->park_cond, NULL);
	srv->locks_ready = true;
	srv->repo = repo;
	srv->builds = cfg->builds;
	srv->identity = cfg->identity;
	srv->vetting = cfg->vetting;
	srv->netboot_sites = cfg->netboot_sites;
	srv->registrations = cfg->registrations;
	srv->runs = cfg->runs;
	srv->web_ui = cfg->web_ui;
	srv->imports = cfg->imports;
	metrics_init(route_tables, sizeof(route_tables) / sizeof(*route_tables));
	srv->admin_token = strdup(cfg->admin_token);
	srv->tls_cert = cert;
	srv->tls_key = key;
	srv->per_address = cfg->max_connections_per_address > 0 ? cfg->max_connections_per_address : 64;
	srv->header_timeout_us = (cfg->header_timeout_s > 0 ? cfg->header_timeout_s : 30) * 1000000LL;
	srv->idle_timeout_us = (cfg->idle_timeout_s > 0 ? cfg->idle_timeout_s : 60) * 1000000LL;
	srv->body_window_us = (cfg->body_timeout_s > 0 ? cfg->body_timeout_s : 30) * 1000000LL;
	srv->body_min_rate = cfg->body_min_rate >= 0 ? cfg->body_min_rate : 500;
	if (cfg->public_url && !(srv->public_url = strdup(cfg->public_url))) {
		server_stop(srv);
		return rain_error_oom();
	}
	if (cfg->trusted_proxies &&
	    (r = net_prefix_list_parse(cfg->trusted_proxies, &srv->proxies, &srv->nproxies)) < 0) {
		server_stop(srv);
		return rain_error_set(r, "[server] trusted_proxies: %s", rain_error_last());
	}
	/* every worker has a share of the connections */
	if (threads > limit)
		threads = limit;
	if (pthread_create(&srv->watchdog, NULL, watchdog_main, srv) != 0) {
		server_stop(srv);
		return rain_error_set(RAIN_EIO, "cannot start the connection watchdog");
	}
	srv->watchdog_started = true;
	if (cert)
		srv->mhd = MHD_start_daemon(flags, 0, accept_policy, srv, on_request, srv,
					    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
					    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
					    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
					    MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
					    MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
					    MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
					    MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory,
					    MHD_OPTION_CONNECTION_TIMEOUT,
					    (unsigned int)(srv->idle_timeout_us / 1000000),
					    MHD_OPTION_CONNECTION_LIMIT, limit,
					    MHD_OPTION_THREAD_POOL_SIZE, threads,
					    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
					    MHD_OPTION_HTTPS_MEM_CERT, cert,
					    MHD_OPTION_HTTPS_MEM_KEY, key,
					    MHD_OPTION_END);
	else
		srv->mhd = MHD_start_daemon(flags, 0, accept_policy, srv, on_request, srv,
					    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
					    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
					    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
					    MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
					    MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
					    MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
					    MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory,
					    MHD_OPTION_CONNECTION_TIMEOUT,
					    (unsigned int)(srv->idle_timeout_us / 1000000),
					    MHD_OPTION_CONNECTION_LIMIT, limit,
					    MHD_OPTION_THREAD_POOL_SIZE, threads,
					    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
					    MHD_OPTION_END);
	if (!srv->mhd || !srv->admin_token) {
		int e = errno;

		server_stop(srv);
		return rain_error_errno(RAIN_EIO, e, "cannot listen on %s", cfg->listen);
	}
	if (pthread_create(&srv->parker, NULL, parker_main, srv) != 0) {
		server_stop(srv);
		return rain_error_set(RAIN_EIO, "cannot start the thread that resumes streams");
	}
	srv->parker_started = true;
	di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? di->port : 0;
	derive_base_url(srv, cfg, &ss);
	log_printf(LOG_INFO, "%u worker threads, at most %u connections, %d from one address; "
		   "links use %s%s", threads, limit, srv->per_address, srv->base_url,
		   cfg->public_url ? "" : " (set [server] public_url to change)");
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
	if (srv->locks_ready) {
		pthread_mutex_lock(&srv->track_lock);
		pthread_mutex_lock(&srv->park_lock);
		srv->stopping = true;
		pthread_cond_broadcast(&srv->park_cond);
		pthread_mutex_unlock(&srv->park_lock);
		pthread_cond_broadcast(&srv->track_cond);
		pthread_mutex_unlock(&srv->track_lock);
	}
	/* the parker resumes every parked connection as it ends, deferred
	 * requests resume theirs when done: none may be suspended when
	 * libmicrohttpd stops */
	if (srv->parker_started)
		pthread_join(srv->parker, NULL);
	if (srv->locks_ready) {
		pthread_mutex_lock(&srv->park_lock);
		while (srv->deferred > 0)
			pthread_cond_wait(&srv->park_cond, &srv->park_lock);
		pthread_mutex_unlock(&srv->park_lock);
	}
	if (srv->watchdog_started)
		pthread_join(srv->watchdog, NULL);
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	for (size_t i = 0; i < ADDR_BUCKETS; i++)
		while (srv->counts[i]) {
			struct addr_count *c = srv->counts[i];

			srv->counts[i] = c->next;
			free(c);
		}
	if (srv->locks_ready) {
		pthread_mutex_destroy(&srv->track_lock);
		pthread_cond_destroy(&srv->track_cond);
		pthread_mutex_destroy(&srv->park_lock);
		pthread_cond_destroy(&srv->park_cond);
	}
	free(srv->proxies);
	free(srv->admin_token);
	free(srv->tls_cert);
	free(srv->tls_key);
	free(srv->public_url);
	free(srv);
}
