/* The web catalog under /ui/: plain HTML pages made here from the same
 * library calls as the API, for people rather than programs.
 *
 *   GET  /ui/login, POST /ui/login   a form (user, password): the session
 *                                    is a user token in the HttpOnly,
 *                                    SameSite=Strict cookie rain_session
 *                                    (Path=/ui; Secure when raind's base
 *                                    URL is https)
 *   POST /ui/logout                  revokes the session's token
 *   GET  /ui/images[?q=&tag=&owner=&visibility=&marker=&limit=]
 *   GET  /ui/images/{id}             fields, properties, recipe, package
 *                                    manifest, vetting report,
 *                                    registrations, history
 *   GET  /ui/builds, /ui/builds/{id}, /ui/runs, /ui/runs/{id}
 *   GET  /ui/builds/{id}/log, /ui/runs/{id}/log
 *                                    the API's log (?offset=N&follow=1)
 *                                    for the page's script
 *   GET  /ui/jobs                    jobs as GET /rain/v1/jobs lists them
 *   GET  /ui/jobs/{id}, /ui/jobs/{id}/log
 *                                    any job (builds, vettings,
 *                                    registrations, runs) and its log
 *   GET  /ui/registrations, /ui/usage
 *   GET  /ui/users/{name}            the user and admins: the account and
 *                                    its history
 *   GET  /ui/users, /ui/audit        admins
 *   GET  /ui/static/rain.css, /ui/static/rain.js
 *
 * Rights: a page acts as its session's user (req->who, as the API's
 * X-Auth-Token would), through the calls the API makes, so it shows what
 * the API shows that user and refuses what the API refuses (403 and the
 * policy's message). Every value goes through html_escape(); no page has
 * inline script or style (Content-Security-Policy), authenticated pages
 * are not cached. Every POST carries a CSRF token in a hidden field,
 * compared in constant time: for a session the hash of its token with a
 * fixed prefix (so no state is kept), for the login form the random
 * value of the rain_login cookie that GET /ui/login sets (double submit).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/builds.h"
#include "daemon/http.h"
#include "daemon/registrations.h"
#include "daemon/runs.h"
#include "rain/auth.h"
#include "rain/catalog.h"
#include "rain/error.h"
#include "rain/jobs.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"
#include "util/html.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define SESSION_COOKIE "rain_session"
#define LOGIN_COOKIE "rain_login"
#define CSRF_FIELD "csrf"
#define FORM_MAX (16 << 10)
#define LIST_LIMIT 25
#define LIST_LIMIT_MAX 200
#define SEARCH_BATCH 200
#define SEARCH_SCAN_MAX 20000   /* images looked at for one page of a search */
#define LOG_SHOWN_MAX (1 << 20) /* bytes of a log put in its page */
#define AUDIT_SHOWN 200

#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " \
	    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/* The assets, embedded at build time (web/meson.build). */
extern const unsigned char web_asset_css[], web_asset_js[];
extern const size_t web_asset_css_len, web_asset_js_len;

/* A page being written. */
struct page {
	struct request *req;
	FILE *f;
	char *buf;
	size_t len;
	bool session;
	char csrf[RAIN_TOKEN_HASH_LEN + 1];
};

/* ---- responses ----------------------------------------------------- */

/* Reply with body (malloc'ed, taken) and the headers every page has,
 * then the NULL-terminated name/value pairs of ap. */
static int reply_body(struct request *req, unsigned int status, char *body, size_t len,
		      const char *ctype, bool cache, va_list ap)
{
	struct MHD_Response *resp;
	const char *name;

	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return rain_error_set(RAIN_ENOMEM, "cannot build the page");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, "Content-Security-Policy", CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				cache ? "public, max-age=300" : "no-store");
	while ((name = va_arg(ap, const char *)))
		MHD_add_response_header(resp, name, va_arg(ap, const char *));
	req->bytes_out = (int64_t)len;
	return http_reply_response(req, status, resp);
}

static int reply(struct request *req, unsigned int status, char *body, size_t len,
		 const char *ctype, bool cache, ...)
{
	va_list ap;
	int r;

	va_start(ap, cache);
	r = reply_body(req, status, body, len, ctype, cache, ap);
	va_end(ap);
	return r;
}

/* 303 to location (a path of ours), with a Set-Cookie when cookie. */
static int redirect(struct request *req, const char *location, const char *cookie)
{
	if (cookie)
		return reply(req, 303, NULL, 0, "text/plain; charset=UTF-8", false,
			     "Location", location, "Set-Cookie", cookie, NULL);
	return reply(req, 303, NULL, 0, "text/plain; charset=UTF-8", false, "Location", location,
		     NULL);
}

static bool secure(struct request *req)
{
	char base[1100];

	request_base_url(req, base, sizeof(base));
	return str_has_prefix(base, "https://");
}

/* ---- sessions ------------------------------------------------------ */

static const char *cookie(struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

/* The CSRF token of a session: the hash of its token with a prefix, so
 * that it is fixed for the session, needs no state and does not reveal
 * the token. */
static void csrf_of(const char *token, char *out)
{
	_cleanup_free_ char *s = NULL;

	out[0] = '\0';
	if (asprintf(&s, "rain-ui-csrf:%s", token) < 0) {
		s = NULL;
		return;
	}
	rain_token_hash(s, out);
	explicit_bzero(s, strlen(s));
}

/* Who the session cookie is, into req->who (as authenticate() does for
 * X-Auth-Token). */
static bool session(struct request *req, char *csrf)
{
	const char *tok = cookie(req, SESSION_COOKIE);

	csrf[0] = '\0';
	if (request_resolve_token(req, tok, &req->who, req->who_name, NULL, &req->user_token) < 0) {
		req->who = (struct rain_who){ 0 };
		return false;
	}
	csrf_of(tok, csrf);
	return true;
}

/* Whether the form's csrf field is expected (constant time). */
static bool csrf_ok(struct request *req, const char *expected)
{
	_cleanup_free_ char *given = form_value(req->body ? req->body : "", req->body_len, CSRF_FIELD);

	return given && expected && expected[0] && strlen(given) == strlen(expected) &&
	       str_equal_ct(given, expected);
}

/* ---- writing pages ------------------------------------------------- */

#define W(p, s) fputs((s), (p)->f)
#define H(p, s) html_escape((p)->f, (s))

static void page_nav_link(struct page *p, const char *href, const char *label)
{
	W(p, "<a href=\"");
	H(p, href);
	W(p, "\">");
	H(p, label);
	W(p, "</a> ");
}

static void hidden_csrf(struct page *p, const char *value)
{
	W(p, "<input type=\"hidden\" name=\"" CSRF_FIELD "\" value=\"");
	H(p, value);
	W(p, "\">");
}

static int page_begin(struct page *p, struct request *req, const char *title)
{
	memset(p, 0, sizeof(*p));
	p->req = req;
	p->f = open_memstream(&p->buf, &p->len);
	if (!p->f)
		return rain_error_oom();
	p->session = session(req, p->csrf);
	W(p, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	     "<title>");
	H(p, title);
	W(p, " - rain</title><link rel=\"stylesheet\" href=\"/ui/static/rain.css\">"
	     "<script src=\"/ui/static/rain.js\" defer></script></head>\n<body>\n<header><nav>"
	     "<a class=\"brand\" href=\"/ui/images\">rain</a> ");
	if (p->session) {
		page_nav_link(p, "/ui/images", "Images");
		page_nav_link(p, "/ui/builds", "Builds");
		page_nav_link(p, "/ui/runs", "Runs");
		page_nav_link(p, "/ui/jobs", "Jobs");
		page_nav_link(p, "/ui/registrations", "Registrations");
		page_nav_link(p, "/ui/usage", "Usage");
		if (req->who.admin) {
			page_nav_link(p, "/ui/users", "Users");
			page_nav_link(p, "/ui/audit", "Audit");
		}
		W(p, "<form class=\"logout\" method=\"post\" action=\"/ui/logout\"><span class=\"who\">");
		H(p, req->who.owner);
		W(p, req->who.admin ? " (admin)" : "");
		W(p, "</span> ");
		hidden_csrf(p, p->csrf);
		W(p, "<button type=\"submit\">Log out</button></form>");
	}
	W(p, "</nav></header>\n<main>\n<h1>");
	H(p, title);
	W(p, "</h1>\n");
	return 0;
}

static void page_discard(struct page *p)
{
	if (p->f)
		fclose(p->f);
	free(p->buf);
	p->f = NULL;
	p->buf = NULL;
}

/* Finish and send p; extra headers as NULL-terminated pairs. */
static int page_end(struct page *p, unsigned int status, ...)
{
	va_list ap;
	int r;

	W(p, "</main>\n</body></html>\n");
	if (fclose(p->f) != 0) {
		p->f = NULL;
		free(p->buf);
		return rain_error_oom();
	}
	p->f = NULL;
	va_start(ap, status);
	r = reply_body(p->req, status, p->buf, p->len, "text/html; charset=utf-8", false, ap);
	va_end(ap);
	p->buf = NULL;
	return r;
}

/* A page saying why not (status 4xx or 5xx). */
static int error_page(struct request *req, unsigned int status, const char *title, const char *msg)
{
	/* a copy: msg may be rain_error_last(), which the session check clears */
	_cleanup_free_ char *text = strdup(msg ? msg : "");
	struct page p;
	int r = page_begin(&p, req, title);

	if (r < 0)
		return r;
	W(&p, "<p class=\"error\">");
	H(&p, text ? text : "(out of memory)");
	W(&p, "</p>\n");
	return page_end(&p, status, NULL);
}

static unsigned int status_of(int code)
{
	switch (code) {
	case RAIN_EINVAL:
	case RAIN_EFORMAT: return 400;
	case RAIN_EAUTH: return 401;
	case RAIN_EFORBIDDEN: return 403;
	case RAIN_ENOTFOUND: return 404;
	case RAIN_ECONFLICT:
	case RAIN_EEXISTS: return 409;
	case RAIN_ELIMIT: return 429;
	}
	return 500;
}

/* The page of a library error r (its message). */
static int rain_error_page(struct request *req, int r)
{
	unsigned int status = status_of(r);

	return error_page(req, status, status == 403 ? "Forbidden" : status == 404 ? "Not found" :
			  "Error", rain_error_last());
}

/* Start an authenticated page; false (a redirect to the log-in page was
 * sent, or an error) when there is no session. */
static bool page_auth(struct page *p, struct request *req, const char *title, int *r)
{
	*r = page_begin(p, req, title);
	if (*r < 0)
		return false;
	if (p->session)
		return true;
	page_discard(p);
	*r = redirect(req, "/ui/login", NULL);
	return false;
}

static void time_cell(struct page *p, int64_t us)
{
	char t[64];

	if (us <= 0) {
		W(p, "-");
		return;
	}
	time_format_iso(us, t, sizeof(t));
	H(p, t);
}

static void size_cell(struct page *p, int64_t bytes)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 0) {
		W(p, "-");
		return;
	}
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(*units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		fprintf(p->f, "%lld bytes", (long long)bytes);
	else
		fprintf(p->f, "%.1f %s", v, units[u]);
}

/* href="BASE/ID" with id escaped for a path and for HTML */
static void link_to(struct page *p, const char *base, const char *id, const char *label)
{
	_cleanup_free_ char *enc = str_url_encode(id);

	W(p, "<a href=\"");
	H(p, base);
	H(p, enc ? enc : "");
	W(p, "\">");
	H(p, label);
	W(p, "</a>");
}

static void row(struct page *p, const char *key, const char *value)
{
	W(p, "<tr><th>");
	H(p, key);
	W(p, "</th><td>");
	H(p, value ? value : "-");
	W(p, "</td></tr>\n");
}

/* ---- JSON records as HTML ------------------------------------------ */

static void json_html(struct page *p, json_t *v, int depth, const char *link_base);

static void json_scalar(struct page *p, json_t *v)
{
	char n[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		html_escape_n(p->f, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		fprintf(p->f, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(n, sizeof(n), "%g", json_real_value(v));
		H(p, n);
		break;
	case JSON_TRUE: W(p, "true"); break;
	case JSON_FALSE: W(p, "false"); break;
	default: W(p, "-"); break;
	}
}

/* An array of objects as a table: the scalar members of the first
 * objects as columns (at most 10, "id" first when they have one, whatever
 * the kinds of record mixed), "id" linked to link_base + id. */
static void json_table(struct page *p, json_t *arr, const char *link_base)
{
	const char *cols[10];
	size_t ncols = 0, i;
	json_t *o, *v;
	const char *k;

	json_array_foreach(arr, i, o) {
		if (json_is_string(json_object_get(o, "id"))) {
			cols[ncols++] = "id";
			break;
		}
	}
	json_array_foreach(arr, i, o) {
		json_object_foreach(o, k, v) {
			bool have = false;

			if (json_is_object(v) || json_is_array(v))
				continue;
			for (size_t c = 0; c < ncols; c++)
				have = have || !strcmp(cols[c], k);
			if (!have && ncols < sizeof(cols) / sizeof(*cols))
				cols[ncols++] = k;
		}
		if (i >= 20)
			break;
	}
	W(p, "<table class=\"list\"><thead><tr>");
	for (size_t c = 0; c < ncols; c++) {
		W(p, "<th>");
		H(p, cols[c]);
		W(p, "</th>");
	}
	W(p, "</tr></thead><tbody>\n");
	json_array_foreach(arr, i, o) {
		W(p, "<tr>");
		for (size_t c = 0; c < ncols; c++) {
			v = json_object_get(o, cols[c]);
			W(p, "<td>");
			if (link_base && !strcmp(cols[c], "id") && json_is_string(v))
				link_to(p, link_base, json_string_value(v), json_string_value(v));
			else if (v)
				json_scalar(p, v);
			W(p, "</td>");
		}
		W(p, "</tr>\n");
	}
	W(p, "</tbody></table>\n");
}

static void json_html(struct page *p, json_t *v, int depth, const char *link_base)
{
	const char *k;
	json_t *m;
	size_t i;
	bool objects = true;

	if (depth > 4 && (json_is_object(v) || json_is_array(v))) {
		_cleanup_free_ char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);

		W(p, "<pre>");
		H(p, s);
		W(p, "</pre>");
		return;
	}
	if (json_is_object(v)) {
		W(p, "<table class=\"kv\">\n");
		json_object_foreach(v, k, m) {
			W(p, "<tr><th>");
			H(p, k);
			W(p, "</th><td>");
			if (!strcmp(k, "image_id") && json_is_string(m))
				link_to(p, "/ui/images/", json_string_value(m), json_string_value(m));
			else
				json_html(p, m, depth + 1, NULL);
			W(p, "</td></tr>\n");
		}
		W(p, "</table>\n");
	} else if (json_is_array(v)) {
		if (!json_array_size(v)) {
			W(p, "<span class=\"none\">none</span>");
			return;
		}
		json_array_foreach(v, i, m)
			objects = objects && json_is_object(m);
		if (objects) {
			json_table(p, v, link_base);
			return;
		}
		W(p, "<ul>");
		json_array_foreach(v, i, m) {
			W(p, "<li>");
			json_html(p, m, depth + 1, NULL);
			W(p, "</li>");
		}
		W(p, "</ul>");
	} else {
		json_scalar(p, v);
	}
}

/* ---- static files -------------------------------------------------- */

static int asset(struct request *req, const unsigned char *data, size_t len, const char *ctype)
{
	char *copy = malloc(len ? len : 1);

	if (!copy)
		return rain_error_oom();
	memcpy(copy, data, len);
	return reply(req, 200, copy, len, ctype, true, NULL);
}

static int css(struct request *req)
{
	return asset(req, web_asset_css, web_asset_css_len, "text/css; charset=utf-8");
}

static int js(struct request *req)
{
	return asset(req, web_asset_js, web_asset_js_len, "text/javascript; charset=utf-8");
}

static int root(struct request *req)
{
	return redirect(req, "/ui/images", NULL);
}

/* ---- logging in and out -------------------------------------------- */

static int login_form(struct request *req, unsigned int status, const char *msg, const char *user)
{
	char nonce[RAIN_TOKEN_LEN + 1], hash[RAIN_TOKEN_HASH_LEN + 1];
	_cleanup_free_ char *set = NULL;
	struct page p;
	int r;

	r = rain_token_new(nonce, hash);
	if (r < 0)
		return r;
	if (asprintf(&set, LOGIN_COOKIE "=%s; Path=/ui; HttpOnly; SameSite=Strict%s", nonce,
		     secure(req) ? "; Secure" : "") < 0) {
		set = NULL;
		return rain_error_oom();
	}
	r = page_begin(&p, req, "Log in");
	if (r < 0)
		return r;
	if (msg) {
		W(&p, "<p class=\"error\" role=\"alert\">");
		H(&p, msg);
		W(&p, "</p>\n");
	}
	W(&p, "<form class=\"login\" method=\"post\" action=\"/ui/login\">");
	hidden_csrf(&p, nonce);
	W(&p, "<label>User <input name=\"user\" autocomplete=\"username\" required value=\"");
	H(&p, user ? user : "");
	W(&p, "\"></label>\n<label>Password <input type=\"password\" name=\"password\" "
	      "autocomplete=\"current-password\" required></label>\n"
	      "<button type=\"submit\">Log in</button></form>\n");
	explicit_bzero(nonce, sizeof(nonce));
	return page_end(&p, status, "Set-Cookie", set, NULL);
}

static int login_get(struct request *req)
{
	char csrf[RAIN_TOKEN_HASH_LEN + 1];

	if (session(req, csrf))
		return redirect(req, "/ui/images", NULL);
	return login_form(req, 200, NULL, NULL);
}

static int login_post(struct request *req)
{
	_cleanup_free_ char *user = NULL, *set = NULL;
	char *password = NULL;
	struct rain_login lg;
	char addr[64];
	int r;

	if (!csrf_ok(req, cookie(req, LOGIN_COOKIE)))
		return login_form(req, 403, "The form has expired or did not come from this site "
				  "(its CSRF token does not match): log in again.", NULL);
	user = form_value(req->body, req->body_len, "user");
	password = form_value(req->body, req->body_len, "password");
	if (!user || !password || !*user) {
		str_free_secret(password);
		return login_form(req, 400, "Give a user name and a password.", user);
	}
	request_client_addr(req, addr, sizeof(addr));
	r = rain_identity_login(request_identity(req), user, password, addr, &lg);
	str_free_secret(password);
	snprintf(req->audit_target, sizeof(req->audit_target), "%s", lg.account);
	if (r < 0 && lg.refusal == RAIN_LOGIN_BAD_CREDENTIALS)
		return login_form(req, 401, "Wrong user name or password.", user);
	if (r < 0 && lg.refusal != RAIN_LOGIN_OK)
		return login_form(req, r == RAIN_ELIMIT ? 429 : 401, rain_error_last(), user);
	if (r < 0)
		return rain_error_page(req, r);
	snprintf(req->who_name, sizeof(req->who_name), "%s", lg.t.user);
	req->who.owner = req->who_name;
	r = asprintf(&set, SESSION_COOKIE "=%s; Path=/ui; HttpOnly; SameSite=Strict%s", lg.token,
		     secure(req) ? "; Secure" : "");
	explicit_bzero(lg.token, sizeof(lg.token));
	if (r < 0) {
		set = NULL;
		return rain_error_oom();
	}
	r = redirect(req, "/ui/images", set);
	explicit_bzero(set, strlen(set));
	return r;
}

static int logout(struct request *req)
{
	char csrf[RAIN_TOKEN_HASH_LEN + 1], hash[RAIN_TOKEN_HASH_LEN + 1];
	const char *tok = cookie(req, SESSION_COOKIE);
	_cleanup_free_ char *clear = NULL;
	int r;

	if (!session(req, csrf))
		return redirect(req, "/ui/login", NULL);
	if (!csrf_ok(req, csrf))
		return error_page(req, 403, "Forbidden", "The form did not come from this site "
				  "(its CSRF token does not match); nothing was done.");
	if (req->user_token) {
		rain_token_hash(tok, hash);
		r = rain_identity_token_revoke(request_identity(req), hash);
		if (r < 0 && r != RAIN_ENOTFOUND)
			return rain_error_page(req, r);
	}
	if (asprintf(&clear, SESSION_COOKIE "=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0%s",
		     secure(req) ? "; Secure" : "") < 0) {
		clear = NULL;
		return rain_error_oom();
	}
	return redirect(req, "/ui/login", clear);
}

/* ---- images -------------------------------------------------------- */

static const char *prop(const struct rain_image *img, const char *name)
{
	for (size_t i = 0; i < img->nprops; i++)
		if (!strcmp(img->props[i].name, name))
			return img->props[i].value;
	return NULL;
}

static void verdict(struct page *p, const char *v)
{
	if (!v) {
		W(p, "<span class=\"none\">not vetted</span>");
		return;
	}
	W(p, "<span class=\"verdict ");
	W(p, !strcmp(v, "passed") ? "passed" : !strcmp(v, "warned") ? "warned" : "failed");
	W(p, "\">");
	H(p, v);
	W(p, "</span>");
}

static void search_field(struct page *p, const char *name, const char *label, const char *value)
{
	W(p, "<label>");
	H(p, label);
	W(p, " <input name=\"");
	H(p, name);
	W(p, "\" value=\"");
	H(p, value ? value : "");
	W(p, "\"></label>\n");
}

/* Append "&key=value" (encoded) to the query f when value is set. */
static void query_add(FILE *f, const char *key, const char *value)
{
	_cleanup_free_ char *v = value && *value ? str_url_encode(value) : NULL;

	if (v)
		fprintf(f, "&%s=%s", key, v);
}

static bool matches(const struct rain_image *img, const char *q)
{
	if (!q || !*q)
		return true;
	return (img->name && strcasestr(img->name, q)) || strcasestr(img->id, q);
}

static int images(struct request *req)
{
	const char *q = request_query(req, "q"), *tag = request_query(req, "tag");
	const char *owner = request_query(req, "owner"), *vis = request_query(req, "visibility");
	const char *marker = request_query(req, "marker"), *limit_s = request_query(req, "limit");
	struct rain_image_query iq = { 0 };
	struct rain_image **shown = NULL;
	size_t nshown = 0, scanned = 0, limit = LIST_LIMIT;
	char last[37] = "";
	bool more = true;
	enum rain_visibility v;
	_cleanup_free_ char *nextq = NULL;
	size_t nextlen = 0;
	FILE *nf;
	struct page p;
	int64_t n;
	int r;

	if (!page_auth(&p, req, "Images", &r))
		return r;
	if (limit_s && str_to_i64(limit_s, &n) == 0 && n > 0)
		limit = n > LIST_LIMIT_MAX ? LIST_LIMIT_MAX : (size_t)n;
	iq.requester = req->who.owner;
	iq.requester_admin = req->who.admin;
	if (owner && *owner)
		iq.terms[iq.nterms++] = (struct rain_query_term){ "owner", RAIN_OP_EQ, owner };
	if (vis && *vis && strcmp(vis, "any")) {
		if (rain_visibility_parse(vis, &v) < 0) {
			page_discard(&p);
			return error_page(req, 400, "Bad search", "visibility must be public, "
					  "community, shared, private or any");
		}
		iq.terms[iq.nterms++] = (struct rain_query_term){ "visibility", RAIN_OP_EQ, vis };
	}
	iq.include_community = true;
	if (tag && *tag)
		iq.tags[iq.ntags++] = tag;
	if (marker && *marker) {
		if (!uuid_is_valid(marker)) {
			page_discard(&p);
			return error_page(req, 400, "Bad search", "marker must be an image id");
		}
		snprintf(last, sizeof(last), "%s", marker);
	}
	/* a page of matches: the catalog filters what it can, the name search
	 * looks through batches */
	while (more && nshown < limit && scanned < SEARCH_SCAN_MAX) {
		struct rain_image **batch = NULL;
		size_t nb = 0;

		iq.marker = last[0] ? last : NULL;
		iq.limit = q && *q ? SEARCH_BATCH : limit - nshown;
		r = rain_catalog_image_list(rain_repo_catalog(request_repo(req)), &iq, &batch, &nb,
					    &more);
		if (r < 0)
			break;
		for (size_t i = 0; i < nb; i++) {
			snprintf(last, sizeof(last), "%s", batch[i]->id);
			scanned++;
			if (nshown < limit && matches(batch[i], q)) {
				if (ARRAY_GROW1(shown, nshown) < 0) {
					r = rain_error_oom();
					break;
				}
				shown[nshown++] = batch[i];
				batch[i] = NULL;
			} else if (nshown >= limit) {
				more = true;
				break;
			}
		}
		rain_catalog_list_free(batch, nb);
		if (r < 0 || nb == 0)
			break;
	}
	if (r < 0) {
		rain_catalog_list_free(shown, nshown);
		page_discard(&p);
		return rain_error_page(req, r);
	}
	W(&p, "<form class=\"search\" method=\"get\" action=\"/ui/images\">\n");
	search_field(&p, "q", "Name", q);
	search_field(&p, "tag", "Tag", tag);
	search_field(&p, "owner", "Owner", owner);
	W(&p, "<label>Visibility <select name=\"visibility\">");
	{
		static const char *const vs[] = { "any", "public", "community", "shared", "private" };

		for (size_t i = 0; i < sizeof(vs) / sizeof(*vs); i++) {
			W(&p, "<option");
			if (vis && !strcmp(vis, vs[i]))
				W(&p, " selected");
			W(&p, ">");
			H(&p, vs[i]);
			W(&p, "</option>");
		}
	}
	W(&p, "</select></label>\n<button type=\"submit\">Search</button></form>\n");
	if (!nshown) {
		W(&p, "<p class=\"none\">No image matches.</p>\n");
	} else {
		W(&p, "<table class=\"list\" id=\"images\"><thead><tr><th>Name</th><th>Status</th>"
		      "<th>Visibility</th><th>Owner</th><th>Format</th><th>Size</th><th>Tags</th>"
		      "<th>Vetting</th><th>Created</th></tr></thead><tbody>\n");
		for (size_t i = 0; i < nshown; i++) {
			struct rain_image *img = shown[i];

			W(&p, "<tr><td>");
			link_to(&p, "/ui/images/", img->id, img->name && *img->name ? img->name : img->id);
			W(&p, "</td><td>");
			H(&p, rain_image_status_name(img->status));
			W(&p, "</td><td>");
			H(&p, rain_visibility_name(img->visibility));
			W(&p, "</td><td>");
			H(&p, img->owner);
			W(&p, "</td><td>");
			H(&p, img->disk_format ? img->disk_format : "-");
			W(&p, "</td><td>");
			size_cell(&p, img->size);
			W(&p, "</td><td>");
			for (size_t t = 0; t < img->ntags; t++) {
				W(&p, "<span class=\"tag\">");
				H(&p, img->tags[t]);
				W(&p, "</span> ");
			}
			W(&p, "</td><td>");
			verdict(&p, prop(img, "rain_vetting"));
			W(&p, "</td><td>");
			time_cell(&p, img->created_at);
			W(&p, "</td></tr>\n");
		}
		W(&p, "</tbody></table>\n");
	}
	nf = open_memstream(&nextq, &nextlen);
	if (nf) {
		query_add(nf, "q", q);
		query_add(nf, "tag", tag);
		query_add(nf, "owner", owner);
		query_add(nf, "visibility", vis);
		fprintf(nf, "&limit=%zu", limit);
		fclose(nf);
	}
	W(&p, "<p class=\"paging\">");
	if (marker && *marker) {
		W(&p, "<a href=\"/ui/images?");
		H(&p, nextq && nextq[0] ? nextq + 1 : "");
		W(&p, "\">First page</a> ");
	}
	if (more && nshown == limit && nextq) {
		W(&p, "<a rel=\"next\" href=\"/ui/images?marker=");
		H(&p, shown[nshown - 1]->id);
		H(&p, nextq);
		W(&p, "\">Next page</a>");
	}
	W(&p, "</p>\n");
	rain_catalog_list_free(shown, nshown);
	return page_end(&p, 200, NULL);
}

static void section(struct page *p, const char *id, const char *title)
{
	W(p, "<section id=\"");
	H(p, id);
	W(p, "\"><h2>");
	H(p, title);
	W(p, "</h2>\n");
}

/* The package manifest kept with an image: "NAME VERSION ARCH" lines in
 * rain_package_list, rain_package_list_2, ... (rain/build-image.h). */
#define PACKAGE_LIST "rain_package_list"
#define PACKAGE_LIST_PARTS_MAX 64

static bool is_manifest(const char *name)
{
	return str_has_prefix(name, PACKAGE_LIST);
}

static void packages_section(struct page *p, const struct rain_image *img)
{
	size_t count = 0;

	section(p, "packages", "Packages");
	for (int n = 1; n <= PACKAGE_LIST_PARTS_MAX; n++) {
		char key[48];
		const char *part, *line, *end;

		snprintf(key, sizeof(key), n == 1 ? PACKAGE_LIST : PACKAGE_LIST "_%d", n);
		part = prop(img, key);
		if (!part)
			break;
		if (n == 1)
			W(p, "<table class=\"list\" id=\"package-list\"><thead><tr><th>Package</th>"
			     "<th>Version</th><th>Architecture</th></tr></thead><tbody>\n");
		for (line = part; *line; line = *end ? end + 1 : end) {
			const char *sp1, *sp2;

			end = strchrnul(line, '\n');
			if (end == line)
				continue;
			sp1 = memchr(line, ' ', (size_t)(end - line));
			sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
			W(p, "<tr><td>");
			html_escape_n(p->f, line, (size_t)((sp1 ? sp1 : end) - line));
			W(p, "</td><td>");
			if (sp1)
				html_escape_n(p->f, sp1 + 1, (size_t)((sp2 ? sp2 : end) - sp1 - 1));
			W(p, "</td><td>");
			if (sp2)
				html_escape_n(p->f, sp2 + 1, (size_t)(end - sp2 - 1));
			W(p, "</td></tr>\n");
			count++;
		}
	}
	if (count) {
		fprintf(p->f, "</tbody></table>\n<p>%zu packages.</p>", count);
	} else {
		if (prop(img, PACKAGE_LIST))
			W(p, "</tbody></table>\n");
		W(p, "<p class=\"none\">No package manifest is stored with this image");
		if (prop(img, "rain_packages")) {
			W(p, " (it has ");
			H(p, prop(img, "rain_packages"));
			W(p, " packages)");
		}
		W(p, ".</p>");
	}
	W(p, "</section>\n");
}

static void vetting_section(struct page *p, struct request *req, const struct rain_image *img)
{
	_cleanup_json_ json_t *rep = NULL;
	json_t *findings, *f;
	size_t i, nfail = 0;
	int r;

	section(p, "vetting", "Vetting report");
	r = rain_repo_vetting_get(request_repo(req), &req->who, img->id, &rep);
	if (r < 0) {
		W(p, "<p class=\"none\">");
		H(p, r == RAIN_ENOTFOUND ? "This image has not been vetted." : rain_error_last());
		W(p, "</p></section>\n");
		return;
	}
	W(p, "<table class=\"kv\">\n<tr><th>Verdict</th><td>");
	verdict(p, json_string_value(json_object_get(rep, "verdict")));
	W(p, "</td></tr>\n");
	row(p, "Policy", prop(img, "rain_vetting_policy"));
	row(p, "Feed", prop(img, "rain_vetting_feed"));
	row(p, "Vetted at", prop(img, "rain_vetting_at"));
	row(p, "Data vetted (SHA-256)", prop(img, "rain_vetting_sha256"));
	W(p, "</table>\n");
	findings = json_object_get(rep, "findings");
	W(p, "<h3>Failing rules</h3>\n<ul class=\"failing\">");
	json_array_foreach(findings, i, f) {
		const char *action = json_string_value(json_object_get(f, "action"));

		if (!action || strcmp(action, "fail"))
			continue;
		nfail++;
		W(p, "<li><strong>");
		H(p, json_string_value(json_object_get(f, "rule")));
		W(p, "</strong>: ");
		H(p, json_string_value(json_object_get(f, "message")));
		if (json_is_string(json_object_get(f, "path"))) {
			W(p, " (");
			H(p, json_string_value(json_object_get(f, "path")));
			W(p, ")");
		}
		W(p, "</li>");
	}
	if (!nfail)
		W(p, "<li class=\"none\">none</li>");
	W(p, "</ul>\n<h3>All findings</h3>\n");
	if (json_is_array(findings))
		json_html(p, findings, 1, NULL);
	W(p, "\n<h3>Counts</h3>\n");
	json_html(p, json_object_get(rep, "counts"), 1, NULL);
	W(p, "</section>\n");
}

/* Audit entries as a table (with their targets when target). */
static void events_table(struct page *p, const struct rain_audit_entry *v, size_t n, bool target)
{
	W(p, "<table class=\"list\"><thead><tr><th>When</th><th>Who</th><th>From</th>"
	     "<th>Request</th>");
	W(p, target ? "<th>Target</th>" : "");
	W(p, "<th>Status</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < n; i++) {
		W(p, "<tr><td>");
		time_cell(p, v[i].at);
		W(p, "</td><td>");
		H(p, v[i].actor);
		W(p, "</td><td>");
		H(p, v[i].address);
		W(p, "</td><td>");
		H(p, v[i].method);
		W(p, " ");
		H(p, v[i].path);
		if (target) {
			W(p, "</td><td>");
			H(p, v[i].target);
		}
		fprintf(p->f, "</td><td>%d</td></tr>\n", v[i].status);
	}
	W(p, "</tbody></table>\n");
}

static void history_section(struct page *p, struct request *req, const char *id)
{
	struct rain_image *img = NULL;
	struct rain_audit_query q = { .target = id };
	struct rain_audit_entry *v = NULL;
	size_t n = 0;
	int r;

	section(p, "history", "History");
	r = rain_repo_image_load(request_repo(req), &req->who, id, RAIN_ACT_HISTORY, &img);
	if (r == 0)
		r = rain_catalog_audit_query(rain_repo_catalog(request_repo(req)), &q, &v, &n);
	if (r < 0) {
		W(p, "<p class=\"none\">");
		H(p, rain_error_last());
		W(p, "</p></section>\n");
		rain_image_free(img);
		return;
	}
	W(p, "<table class=\"kv\">");
	W(p, "<tr><th>Downloads</th><td>");
	fprintf(p->f, "%lld", (long long)img->download_count);
	W(p, "</td></tr><tr><th>Last accessed</th><td>");
	time_cell(p, img->last_access);
	W(p, "</td></tr></table>\n");
	events_table(p, v, n, false);
	W(p, "</section>\n");
	free(v);
	rain_image_free(img);
}

static int image(struct request *req)
{
	struct rain_image *img = NULL;
	struct registrations *g = request_registrations(req);
	_cleanup_json_ json_t *regs = NULL;
	const char *recipe;
	struct page p;
	int r;

	if (!page_auth(&p, req, "Image", &r))
		return r;
	r = rain_repo_image_get(request_repo(req), &req->who, req->params[0], &img);
	if (r < 0) {
		page_discard(&p);
		return rain_error_page(req, r);
	}
	W(&p, "<h2 class=\"name\">");
	H(&p, img->name && *img->name ? img->name : img->id);
	W(&p, "</h2>\n<nav class=\"toc\"><a href=\"#fields\">Fields</a> <a href=\"#properties\">"
	      "Properties</a> <a href=\"#recipe\">Recipe</a> <a href=\"#packages\">Packages</a> "
	      "<a href=\"#vetting\">Vetting</a> <a href=\"#registrations\">Registrations</a> "
	      "<a href=\"#history\">History</a></nav>\n");
	section(&p, "fields", "Fields");
	W(&p, "<table class=\"kv\">\n");
	row(&p, "ID", img->id);
	row(&p, "Name", img->name);
	row(&p, "Status", rain_image_status_name(img->status));
	row(&p, "Visibility", rain_visibility_name(img->visibility));
	row(&p, "Owner", img->owner);
	row(&p, "Protected", img->protected_ ? "yes" : "no");
	row(&p, "Disk format", img->disk_format);
	row(&p, "Container format", img->container_format);
	W(&p, "<tr><th>Size</th><td>");
	size_cell(&p, img->size);
	W(&p, "</td></tr>\n<tr><th>Virtual size</th><td>");
	size_cell(&p, img->virtual_size);
	W(&p, "</td></tr>\n");
	row(&p, "SHA-256", img->os_hash_value);
	row(&p, "MD5", img->checksum);
	W(&p, "<tr><th>Created</th><td>");
	time_cell(&p, img->created_at);
	W(&p, "</td></tr>\n<tr><th>Updated</th><td>");
	time_cell(&p, img->updated_at);
	W(&p, "</td></tr>\n<tr><th>Tags</th><td>");
	for (size_t t = 0; t < img->ntags; t++) {
		W(&p, "<span class=\"tag\">");
		H(&p, img->tags[t]);
		W(&p, "</span> ");
	}
	W(&p, "</td></tr>\n</table></section>\n");
	section(&p, "properties", "Properties");
	W(&p, "<table class=\"kv\">\n");
	for (size_t i = 0; i < img->nprops; i++) {
		const char *name = img->props[i].name;

		if (!strcmp(name, "rain_recipe") || is_manifest(name))
			continue;
		if (!strcmp(name, "rain_recipe_inputs")) {
			W(&p, "<tr><th>rain_recipe_inputs</th><td>");
			fprintf(p.f, "(%zu bytes of packed recipe inputs)",
				strlen(img->props[i].value));
			W(&p, "</td></tr>\n");
			continue;
		}
		row(&p, name, img->props[i].value);
	}
	W(&p, "</table></section>\n");
	section(&p, "recipe", "Recipe");
	recipe = prop(img, "rain_recipe");
	if (recipe) {
		W(&p, "<pre class=\"recipe\">");
		H(&p, recipe);
		W(&p, "</pre>");
	} else {
		W(&p, "<p class=\"none\">No recipe is stored with this image.</p>");
	}
	W(&p, "</section>\n");
	packages_section(&p, img);
	vetting_section(&p, req, img);
	section(&p, "registrations", "Registrations");
	if (g && registrations_list(g, &req->who, NULL, img->id, NULL, &regs) == 0)
		json_html(&p, json_object_get(regs, "registrations"), 1, NULL);
	else
		W(&p, "<p class=\"none\">This raind does not register images.</p>");
	W(&p, "</section>\n");
	history_section(&p, req, img->id);
	rain_image_free(img);
	return page_end(&p, 200, NULL);
}

/* ---- builds, runs, registrations ----------------------------------- */

/* A list page from a service's {"KEY": [...]}; r is the service's result. */
static int list_page(struct request *req, struct page *p, int r, json_t *out, const char *key,
		     const char *link_base, const char *what)
{
	json_t *arr;

	if (r < 0) {
		page_discard(p);
		json_decref(out);
		return rain_error_page(req, r);
	}
	arr = json_object_get(out, key);
	if (!json_array_size(arr)) {
		W(p, "<p class=\"none\">No ");
		H(p, what);
		W(p, ".</p>\n");
	} else {
		json_html(p, arr, 0, link_base);
	}
	json_decref(out);
	return page_end(p, 200, NULL);
}

static int builds_page(struct request *req)
{
	json_t *out = NULL;
	struct page p;
	int r;

	if (!page_auth(&p, req, "Builds", &r))
		return r;
	r = request_builds(req) ? builds_list(request_builds(req), &req->who, &out) : 0;
	if (!out && r == 0)
		out = json_pack("{s:[]}", "builds");
	return list_page(req, &p, r, out, "builds", "/ui/builds/", "builds");
}

static int runs_page(struct request *req)
{
	json_t *out = NULL;
	struct page p;
	int r;

	if (!page_auth(&p, req, "Runs", &r))
		return r;
	r = request_runs(req) ? runs_list(request_runs(req), &req->who, NULL, &out) : 0;
	if (!out && r == 0)
		out = json_pack("{s:[]}", "runs");
	return list_page(req, &p, r, out, "runs", "/ui/runs/", "runs");
}

static int registrations_page(struct request *req)
{
	struct registrations *g = request_registrations(req);
	json_t *out = NULL;
	struct page p;
	int r;

	if (!page_auth(&p, req, "Registrations", &r))
		return r;
	r = g ? registrations_list(g, &req->who, NULL, NULL, NULL, &out) : 0;
	if (!out && r == 0)
		out = json_pack("{s:[]}", "registrations");
	return list_page(req, &p, r, out, "registrations", NULL, "registrations");
}

/* The log of job id so far, and a script hook to follow it. */
static void log_section(struct page *p, struct request *req, struct rain_jobs *jobs,
			const char *kind, enum rain_action action, const char *id, const char *base)
{
	struct rain_job_log *l = NULL;
	_cleanup_free_ char *buf = NULL, *enc = str_url_encode(id);
	size_t len = 0;
	bool live;
	ssize_t n;
	int r;

	section(p, "job-log", "Log");
	r = jobs ? rain_jobs_log_open(jobs, &req->who, action, kind, id, 0, true, &l) :
		   rain_error_set(RAIN_ENOTFOUND, "this raind keeps no such jobs");
	buf = malloc(LOG_SHOWN_MAX);
	if (r < 0 || !buf || !enc) {
		W(p, "<p class=\"none\">");
		H(p, r < 0 ? rain_error_last() : "out of memory");
		W(p, "</p></section>\n");
		rain_jobs_log_close(l);
		return;
	}
	/* opened to follow, so that rain_jobs_log_more() tells whether the
	 * job may still write; the reads never wait */
	while (len < LOG_SHOWN_MAX && (n = rain_jobs_log_read(l, buf + len, LOG_SHOWN_MAX - len)) > 0)
		len += (size_t)n;
	live = rain_jobs_log_more(l);
	rain_jobs_log_close(l);
	W(p, "<p class=\"logstate\">");
	W(p, live ? "The job is still running: this page follows its log with JavaScript; without "
		    "it, <a href=\"\">reload</a>." : "The job has finished.");
	W(p, " <a href=\"");
	H(p, base);
	H(p, enc);
	W(p, "/log\">Plain text</a></p>\n<pre id=\"log\" class=\"log\"");
	if (live) {
		W(p, " data-follow=\"");
		H(p, base);
		H(p, enc);
		fprintf(p->f, "/log\" data-offset=\"%zu\"", len);
	}
	W(p, ">");
	html_escape_n(p->f, buf, len);
	W(p, "</pre>\n");
	if (len >= LOG_SHOWN_MAX)
		W(p, "<p>The log goes on: see the plain text.</p>\n");
	W(p, "</section>\n");
}

static int record_page(struct request *req, const char *title, int r, json_t *out,
		       struct rain_jobs *jobs, const char *kind, enum rain_action action,
		       const char *base)
{
	struct page p;
	int pr;

	pr = page_begin(&p, req, title);
	if (pr < 0) {
		json_decref(out);
		return pr;
	}
	if (r < 0) {
		page_discard(&p);
		json_decref(out);
		return rain_error_page(req, r);
	}
	json_html(&p, out, 0, NULL);
	json_decref(out);
	log_section(&p, req, jobs, kind, action, req->params[0], base);
	return page_end(&p, 200, NULL);
}

/* Whether there is a session; if not, the redirect to the log-in page is
 * sent and *r is its result. */
static bool need_session(struct request *req, int *r)
{
	char csrf[RAIN_TOKEN_HASH_LEN + 1];

	if (session(req, csrf))
		return true;
	*r = redirect(req, "/ui/login", NULL);
	return false;
}

static int build_page(struct request *req)
{
	struct builds *b = request_builds(req);
	json_t *out = NULL;
	int r;

	if (!need_session(req, &r))
		return r;
	r = b ? builds_get(b, &req->who, req->params[0], &out) :
		rain_error_set(RAIN_ENOTFOUND, "no build %s", req->params[0]);
	return record_page(req, "Build", r, out, b ? builds_jobs(b) : NULL, "build",
			   RAIN_ACT_BUILD_SHOW, "/ui/builds/");
}

static int run_page(struct request *req)
{
	struct runs *g = request_runs(req);
	json_t *out = NULL;
	int r;

	if (!need_session(req, &r))
		return r;
	r = g ? runs_get(g, &req->who, req->params[0], &out) :
		rain_error_set(RAIN_ENOTFOUND, "no run %s", req->params[0]);
	return record_page(req, "Run", r, out, g ? runs_jobs(g) : NULL, "run", RAIN_ACT_JOB_SHOW,
			   "/ui/runs/");
}

static int log_refused(struct request *req)
{
	return reply(req, 401, strdup("log in first: /ui/login\n"), 24, "text/plain; charset=UTF-8",
		     false, NULL);
}

static int build_log(struct request *req)
{
	char csrf[RAIN_TOKEN_HASH_LEN + 1];

	if (!session(req, csrf))
		return log_refused(req);
	if (!request_builds(req))
		return http_reply_error(req, 404, "no build %s", req->params[0]);
	return api_job_log(req, builds_jobs(request_builds(req)), "build", RAIN_ACT_BUILD_SHOW,
			   req->params[0]);
}

static int run_log(struct request *req)
{
	char csrf[RAIN_TOKEN_HASH_LEN + 1];

	if (!session(req, csrf))
		return log_refused(req);
	if (!request_runs(req))
		return http_reply_error(req, 404, "no run %s", req->params[0]);
	return api_job_log(req, runs_jobs(request_runs(req)), "run", RAIN_ACT_JOB_SHOW,
			   req->params[0]);
}

#define NENGINES API_JOB_ENGINES

/* The engine that has job id visible to the caller, with its record; NULL
 * (and RAIN_ENOTFOUND set) when none. */
static struct rain_jobs *job_find(struct request *req, const char *id, json_t **rec)
{
	struct rain_jobs *e[NENGINES];

	api_job_engines(req, e);
	for (size_t i = 0; i < NENGINES; i++)
		if (e[i] && rain_jobs_get(e[i], &req->who, RAIN_ACT_JOB_SHOW, NULL, id, rec) == 0)
			return e[i];
	*rec = NULL;
	rain_error_set(RAIN_ENOTFOUND, "no job %s", id);
	return NULL;
}

static int jobs_page(struct request *req)
{
	json_t *all = NULL;
	struct page p;
	int r;

	if (!page_auth(&p, req, "Jobs", &r))
		return r;
	r = api_job_list(req, &all);
	return list_page(req, &p, r, r < 0 ? NULL : json_pack("{s:o}", "jobs", all), "jobs",
			 "/ui/jobs/", "jobs");
}

static int job_page(struct request *req)
{
	struct rain_jobs *e;
	json_t *out = NULL;
	int r;

	if (!need_session(req, &r))
		return r;
	e = job_find(req, req->params[0], &out);
	return record_page(req, "Job", e ? 0 : RAIN_ENOTFOUND, out, e, NULL, RAIN_ACT_JOB_SHOW,
			   "/ui/jobs/");
}

static int job_log(struct request *req)
{
	char csrf[RAIN_TOKEN_HASH_LEN + 1];
	struct rain_jobs *e;
	json_t *rec = NULL;

	if (!session(req, csrf))
		return log_refused(req);
	e = job_find(req, req->params[0], &rec);
	json_decref(rec);
	if (!e)
		return http_reply_error(req, 404, "no job %s", req->params[0]);
	return api_job_log(req, e, NULL, RAIN_ACT_JOB_SHOW, req->params[0]);
}

/* ---- usage, users, audit ------------------------------------------- */

static void quota_cell(struct page *p, int64_t used, int64_t quota, bool bytes)
{
	if (bytes)
		size_cell(p, used);
	else
		fprintf(p->f, "%lld", (long long)used);
	W(p, " of ");
	if (quota <= 0)
		W(p, "no limit");
	else if (bytes)
		size_cell(p, quota);
	else
		fprintf(p->f, "%lld", (long long)quota);
}

static int usage(struct request *req)
{
	struct rain_usage u;
	struct page p;
	int r;

	if (!page_auth(&p, req, "Usage", &r))
		return r;
	r = rain_catalog_usage(rain_repo_catalog(request_repo(req)), req->who.owner, &u);
	if (r < 0) {
		page_discard(&p);
		return rain_error_page(req, r);
	}
	W(&p, "<table class=\"kv\"><tr><th>User</th><td>");
	H(&p, req->who.owner);
	W(&p, "</td></tr><tr><th>Stored</th><td>");
	quota_cell(&p, u.bytes, req->who.quota_bytes, true);
	W(&p, "</td></tr><tr><th>Images</th><td>");
	quota_cell(&p, u.images, req->who.quota_images, false);
	fprintf(p.f, "</td></tr><tr><th>Uploading</th><td>%lld</td></tr></table>\n<p>",
		(long long)u.uploading);
	link_to(&p, "/ui/users/", req->who.owner, "Your account and its history");
	W(&p, "</p>\n");
	return page_end(&p, 200, NULL);
}

/* An admin page: 403 with the policy's message otherwise. */
static bool admin_only(struct page *p, struct request *req, enum rain_action a, int *r)
{
	*r = rain_policy_check_owned(&req->who, NULL, NULL, a);
	if (*r == 0)
		return true;
	page_discard(p);
	*r = error_page(req, 403, "Forbidden", rain_error_last());
	return false;
}

static int users(struct request *req)
{
	struct rain_catalog *cat = rain_repo_catalog(request_repo(req));
	struct rain_user **v = NULL;
	size_t n = 0;
	struct page p;
	int r;

	if (!page_auth(&p, req, "Users and quotas", &r) ||
	    !admin_only(&p, req, RAIN_ACT_USER_LIST, &r))
		return r;
	r = rain_catalog_user_list(cat, &v, &n);
	if (r < 0) {
		page_discard(&p);
		return rain_error_page(req, r);
	}
	W(&p, "<table class=\"list\" id=\"users\"><thead><tr><th>Name</th><th>Role</th><th>Status"
	      "</th><th>Stored (of quota)</th><th>Images (of quota)</th><th>Created</th>"
	      "<th>Last login</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < n; i++) {
		struct rain_usage u = { 0 };

		rain_catalog_usage(cat, v[i]->name, &u);
		W(&p, "<tr><td>");
		link_to(&p, "/ui/users/", v[i]->name, v[i]->name);
		W(&p, "</td><td>");
		H(&p, rain_user_role_name(v[i]->role));
		W(&p, "</td><td>");
		H(&p, rain_user_status_name(v[i]->status));
		W(&p, "</td><td>");
		quota_cell(&p, u.bytes, v[i]->quota_bytes, true);
		W(&p, "</td><td>");
		quota_cell(&p, u.images, v[i]->quota_images, false);
		W(&p, "</td><td>");
		time_cell(&p, v[i]->created_at);
		W(&p, "</td><td>");
		time_cell(&p, v[i]->last_login);
		W(&p, "</td></tr>\n");
	}
	W(&p, "</tbody></table>\n");
	rain_user_list_free(v, n);
	return page_end(&p, 200, NULL);
}

/* One account: the user or an admin (the API's RAIN_ACT_USER_HISTORY):
 * role, status, use against the quotas, and every change it made or that
 * was made to it. */
static int user_page(struct request *req)
{
	struct rain_catalog *cat = rain_repo_catalog(request_repo(req));
	struct rain_audit_query q = { 0 };
	struct rain_audit_entry *v = NULL;
	struct rain_user *u = NULL;
	struct rain_usage use = { 0 };
	size_t n = 0;
	struct page p;
	int r;

	if (!page_auth(&p, req, "User", &r))
		return r;
	r = rain_catalog_user_find(cat, req->params[0], &u);
	if (r == 0)
		r = rain_policy_check_owned(&req->who, u->name, NULL, RAIN_ACT_USER_HISTORY);
	if (r == 0)
		r = rain_catalog_usage(cat, u->name, &use);
	if (r == 0) {
		q.party = u->name;
		r = rain_catalog_audit_query(cat, &q, &v, &n);
	}
	if (r < 0) {
		rain_user_free(u);
		page_discard(&p);
		return rain_error_page(req, r);
	}
	W(&p, "<h2 class=\"name\">");
	H(&p, u->name);
	W(&p, "</h2>\n<table class=\"kv\">\n");
	row(&p, "Role", rain_user_role_name(u->role));
	row(&p, "Status", rain_user_status_name(u->status));
	W(&p, "<tr><th>Stored</th><td>");
	quota_cell(&p, use.bytes, u->quota_bytes, true);
	W(&p, "</td></tr>\n<tr><th>Images</th><td>");
	quota_cell(&p, use.images, u->quota_images, false);
	W(&p, "</td></tr>\n<tr><th>Created</th><td>");
	time_cell(&p, u->created_at);
	W(&p, "</td></tr>\n<tr><th>Last login</th><td>");
	time_cell(&p, u->last_login);
	W(&p, "</td></tr>\n</table>\n");
	section(&p, "history", "History");
	events_table(&p, v, n, true);
	W(&p, "</section>\n");
	free(v);
	rain_user_free(u);
	return page_end(&p, 200, NULL);
}

static int audit(struct request *req)
{
	struct rain_audit_query q = { .limit = AUDIT_SHOWN, .actor = request_query(req, "actor"),
				      .target = request_query(req, "target") };
	struct rain_audit_entry *v = NULL;
	size_t n = 0;
	struct page p;
	int r;

	if (!page_auth(&p, req, "Audit log", &r) || !admin_only(&p, req, RAIN_ACT_AUDIT_READ, &r))
		return r;
	if (q.actor && !*q.actor)
		q.actor = NULL;
	if (q.target && !*q.target)
		q.target = NULL;
	r = rain_catalog_audit_query(rain_repo_catalog(request_repo(req)), &q, &v, &n);
	if (r < 0) {
		page_discard(&p);
		return rain_error_page(req, r);
	}
	W(&p, "<form class=\"search\" method=\"get\" action=\"/ui/audit\">");
	search_field(&p, "actor", "Who", q.actor);
	search_field(&p, "target", "Target", q.target);
	W(&p, "<button type=\"submit\">Filter</button></form>\n<p>The newest ");
	fprintf(p.f, "%d", AUDIT_SHOWN);
	W(&p, " changes, oldest first.</p>\n");
	events_table(&p, v, n, true);
	free(v);
	return page_end(&p, 200, NULL);
}

const struct route api_web_routes[] = {
	{ "GET", "/ui", BODY_NONE, RAIN_ACT_PUBLIC, root, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/static/rain.css", BODY_NONE, RAIN_ACT_PUBLIC, css, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/static/rain.js", BODY_NONE, RAIN_ACT_PUBLIC, js, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/login", BODY_NONE, RAIN_ACT_PUBLIC, login_get, NULL, NULL, NULL, 0 },
	{ "POST", "/ui/login", BODY_JSON, RAIN_ACT_PUBLIC, login_post, NULL, NULL, NULL, FORM_MAX },
	{ "POST", "/ui/logout", BODY_JSON, RAIN_ACT_PUBLIC, logout, NULL, NULL, NULL, FORM_MAX },
	{ "GET", "/ui/images", BODY_NONE, RAIN_ACT_PUBLIC, images, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/images/{}", BODY_NONE, RAIN_ACT_PUBLIC, image, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/builds", BODY_NONE, RAIN_ACT_PUBLIC, builds_page, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/builds/{}", BODY_NONE, RAIN_ACT_PUBLIC, build_page, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/builds/{}/log", BODY_NONE, RAIN_ACT_PUBLIC, build_log, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/runs", BODY_NONE, RAIN_ACT_PUBLIC, runs_page, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/runs/{}", BODY_NONE, RAIN_ACT_PUBLIC, run_page, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/runs/{}/log", BODY_NONE, RAIN_ACT_PUBLIC, run_log, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/jobs", BODY_NONE, RAIN_ACT_PUBLIC, jobs_page, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/jobs/{}", BODY_NONE, RAIN_ACT_PUBLIC, job_page, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/jobs/{}/log", BODY_NONE, RAIN_ACT_PUBLIC, job_log, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/registrations", BODY_NONE, RAIN_ACT_PUBLIC, registrations_page, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/usage", BODY_NONE, RAIN_ACT_PUBLIC, usage, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/users", BODY_NONE, RAIN_ACT_PUBLIC, users, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/users/{}", BODY_NONE, RAIN_ACT_PUBLIC, user_page, NULL, NULL, NULL, 0 },
	{ "GET", "/ui/audit", BODY_NONE, RAIN_ACT_PUBLIC, audit, NULL, NULL, NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
