/* Glance's interoperable import: see import.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "daemon/import-url.h"
#include "daemon/import.h"
#include "daemon/log.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/netaddr.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define REDIRECTS_MAX 5
#define COPY_CHUNK (1 << 20)

struct task {
	struct task *next;
	struct imports *im;
	char id[UUID_STR_LEN];
	char image_id[UUID_STR_LEN];
	char request_id[48];
	char *owner;
	char *method;
	char *uri;                  /* web-download's; NULL otherwise */
	const char *status;         /* pending, processing, success, failure */
	char *message;
	int64_t created_at, updated_at;
	bool done;
	struct rain_upload *up;     /* the thread's while it runs */
};

struct imports {
	struct rain_repo *repo;
	struct url_allow allow;
	bool glance_direct, web_download;
	int64_t max_size;
	long timeout;
	int max_concurrent;
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* a thread ended */
	struct task *tasks;         /* newest first */
	size_t ntasks;
	int running;
	bool stopping;              /* read by the threads without the lock */
};

static void task_free(struct task *t)
{
	if (!t)
		return;
	free(t->owner);
	free(t->method);
	free(t->uri);
	free(t->message);
	free(t);
}

int imports_new(struct imports **out, const struct import_config *cfg, struct rain_repo *repo)
{
	struct imports *im;
	int r;

	*out = NULL;
	im = calloc(1, sizeof(*im));
	if (!im)
		return rain_error_oom();
	r = url_allow_parse(&im->allow, cfg->web_download_allow, cfg->web_download_private);
	if (r < 0) {
		free(im);
		return r;
	}
	im->repo = repo;
	im->glance_direct = cfg->glance_direct;
	im->web_download = im->allow.n > 0;
	im->max_size = cfg->web_download_max_size;
	im->timeout = cfg->web_download_timeout > 0 ? cfg->web_download_timeout : 3600;
	im->max_concurrent = cfg->max_concurrent > 0 ? cfg->max_concurrent : 4;
	pthread_mutex_init(&im->lock, NULL);
	pthread_cond_init(&im->cond, NULL);
	*out = im;
	return 0;
}

void imports_free(struct imports *im)
{
	if (!im)
		return;
	pthread_mutex_lock(&im->lock);
	__atomic_store_n(&im->stopping, true, __ATOMIC_RELAXED);
	while (im->running > 0)
		pthread_cond_wait(&im->cond, &im->lock);
	pthread_mutex_unlock(&im->lock);
	while (im->tasks) {
		struct task *t = im->tasks;

		im->tasks = t->next;
		task_free(t);
	}
	url_allow_free(&im->allow);
	pthread_mutex_destroy(&im->lock);
	pthread_cond_destroy(&im->cond);
	free(im);
}

static bool stopping(struct imports *im)
{
	return __atomic_load_n(&im->stopping, __ATOMIC_RELAXED);
}

const char *imports_methods_header(struct imports *im)
{
	if (!im)
		return "";
	if (im->glance_direct && im->web_download)
		return "glance-direct,web-download";
	return im->glance_direct ? "glance-direct" : im->web_download ? "web-download" : "";
}

json_t *imports_methods(struct imports *im)
{
	json_t *a = json_array();

	if (a && im->glance_direct)
		json_array_append_new(a, json_string("glance-direct"));
	if (a && im->web_download)
		json_array_append_new(a, json_string("web-download"));
	return a;
}

int imports_running(struct imports *im)
{
	int n;

	pthread_mutex_lock(&im->lock);
	n = im->running;
	pthread_mutex_unlock(&im->lock);
	return n;
}

/* ---- glance-direct: the staged data ---- */

static int copy_staged(struct task *t)
{
	_cleanup_free_ char *buf = malloc(COPY_CHUNK);
	int fd = rain_repo_upload_source_fd(t->up);
	ssize_t n;
	int r;

	if (!buf)
		return rain_error_oom();
	for (;;) {
		if (stopping(t->im))
			return rain_error_set(RAIN_ECANCELED, "raind stopped during the import; "
					      "import again");
		n = read(fd, buf, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rain_error_errno(RAIN_EIO, errno, "cannot read the staged data of image %s",
						t->image_id);
		if (n == 0)
			return 0;
		r = rain_repo_upload_write(t->up, buf, (size_t)n);
		if (r < 0)
			return r;
	}
}

/* ---- web-download ---- */

struct fetch {
	struct task *t;
	CURL *c;
	int64_t got;
	bool refused, too_big, write_failed;
	char refused_addr[NET_ADDR_TEXT_MAX];
	char write_error[512];
};

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct fetch *f = ud;
	struct net_addr na;

	if (!net_addr_from_sockaddr(&a->addr, &na) || !url_addr_allowed(&f->t->im->allow, &na)) {
		f->refused = true;
		net_addr_text(&na, f->refused_addr, sizeof(f->refused_addr));
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct fetch *f = ud;
	size_t len = size * nmemb;
	long code = 0;

	curl_easy_getinfo(f->c, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 300 && code < 400)
		return len;             /* a redirect's body: dropped */
	if (code < 200 || code >= 300)
		return 0;               /* the status says what went wrong */
	if (f->t->im->max_size > 0 && f->got + (int64_t)len > f->t->im->max_size) {
		f->too_big = true;
		return 0;
	}
	if (rain_repo_upload_write(f->t->up, buf, len) < 0) {
		f->write_failed = true;
		snprintf(f->write_error, sizeof(f->write_error), "%s", rain_error_last());
		return 0;
	}
	f->got += (int64_t)len;
	return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct fetch *f = ud;

	return stopping(f->t->im) ? 1 : 0;
}

/* One request of the fetch: 1 and *next (a new string) for a redirect,
 * 0 when the data is written, or an error. */
static int fetch_one(struct fetch *f, const char *url, char **next)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct imports *im = f->t->im;
	long code = 0;
	char *loc = NULL;
	CURLcode rc;
	int r;

	r = url_allow_check(&im->allow, url);
	if (r < 0)
		return r;
	curl_easy_setopt(f->c, CURLOPT_URL, url);
	curl_easy_setopt(f->c, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(f->c);
	curl_easy_getinfo(f->c, CURLINFO_RESPONSE_CODE, &code);
	if (stopping(im))
		return rain_error_set(RAIN_ECANCELED, "raind stopped during the import; import again");
	if (f->refused)
		return rain_error_set(RAIN_EFORBIDDEN, "web-download of %s refused: %s is a private, "
				      "loopback or link-local address; allow its range in [import] "
				      "web_download_private to fetch from it", url, f->refused_addr);
	if (f->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		return rain_error_set(RAIN_ETOOBIG, "web-download of %s refused: larger than the "
				      "%lld bytes allowed ([import] web_download_max_size)", url,
				      (long long)im->max_size);
	if (f->write_failed)
		return rain_error_set(RAIN_EINVAL, "web-download of %s: %s", url, f->write_error);
	if (code >= 300 && code < 400) {
		if (curl_easy_getinfo(f->c, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK || !loc)
			return rain_error_set(RAIN_ENET, "web-download of %s: HTTP %ld without a "
					      "Location", url, code);
		*next = strdup(loc);
		return *next ? 1 : rain_error_oom();
	}
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && code >= 400))
		return rain_error_set(RAIN_ENET, "web-download of %s: %s", url,
				      errbuf[0] ? errbuf : curl_easy_strerror(rc));
	if (code != 200)
		return rain_error_set(RAIN_ENET, "web-download of %s: the server answered HTTP %ld",
				      url, code);
	return 0;
}

static int fetch_url(struct task *t)
{
	struct imports *im = t->im;
	struct fetch f = { .t = t };
	_cleanup_free_ char *url = strdup(t->uri);
	int r = 0;

	if (!url)
		return rain_error_oom();
	f.c = curl_easy_init();
	if (!f.c)
		return rain_error_set(RAIN_ENOMEM, "cannot start a request to %s", url);
	curl_easy_setopt(f.c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(f.c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(f.c, CURLOPT_FOLLOWLOCATION, 0L);   /* each hop checked here */
	curl_easy_setopt(f.c, CURLOPT_PROXY, "");            /* never the environment's */
	curl_easy_setopt(f.c, CURLOPT_USERAGENT, "raind web-download");
	curl_easy_setopt(f.c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(f.c, CURLOPT_TIMEOUT, im->timeout);
	curl_easy_setopt(f.c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(f.c, CURLOPT_LOW_SPEED_TIME, 60L);
	if (im->max_size > 0)
		curl_easy_setopt(f.c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)im->max_size);
	curl_easy_setopt(f.c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(f.c, CURLOPT_OPENSOCKETDATA, &f);
	curl_easy_setopt(f.c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(f.c, CURLOPT_WRITEDATA, &f);
	curl_easy_setopt(f.c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(f.c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(f.c, CURLOPT_XFERINFODATA, &f);
	for (int hop = 0; ; hop++) {
		char *next = NULL;

		r = fetch_one(&f, url, &next);
		if (r <= 0)
			break;
		free(url);
		url = next;
		if (hop == REDIRECTS_MAX) {
			r = rain_error_set(RAIN_ENET, "web-download of %s: more than %d redirects",
					   t->uri, REDIRECTS_MAX);
			break;
		}
	}
	curl_easy_cleanup(f.c);
	return r;
}

static void task_set(struct task *t, const char *status, const char *message)
{
	struct imports *im = t->im;

	pthread_mutex_lock(&im->lock);
	t->status = status;
	t->updated_at = time_now_us();
	if (message) {
		free(t->message);
		t->message = strdup(message);
	}
	pthread_mutex_unlock(&im->lock);
}

static void *task_main(void *ud)
{
	struct task *t = ud;
	struct imports *im = t->im;
	int r;

	task_set(t, "processing", NULL);
	r = t->uri ? fetch_url(t) : copy_staged(t);
	if (r == 0) {
		r = rain_repo_upload_finish(t->up, NULL);
	} else {
		rain_repo_upload_abort(t->up);   /* keeps the message, records it */
	}
	t->up = NULL;
	if (r == 0)
		log_printf(LOG_INFO, "import %s of image %s (%s) done", t->id, t->image_id, t->method);
	else
		log_printf(LOG_WARN, "import %s of image %s (%s) failed: %s", t->id, t->image_id,
			   t->method, rain_error_last());
	task_set(t, r == 0 ? "success" : "failure", r == 0 ? "" : rain_error_last());
	pthread_mutex_lock(&im->lock);
	t->done = true;
	im->running--;
	pthread_cond_broadcast(&im->cond);
	pthread_mutex_unlock(&im->lock);
	return NULL;
}

/* Keep at most IMPORT_TASKS_MAX tasks: drop the oldest finished. Caller
 * holds the lock. */
static void tasks_trim(struct imports *im)
{
	struct task **pp = &im->tasks, **last = NULL;

	if (im->ntasks <= IMPORT_TASKS_MAX)
		return;
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->done)
			last = pp;
	if (last) {
		struct task *t = *last;

		*last = t->next;
		task_free(t);
		im->ntasks--;
	}
}

int imports_start(struct imports *im, const struct rain_who *who, const char *id,
		  const char *method, const char *uri, const char *request_id)
{
	bool staged = !strcmp(method, "glance-direct");
	struct task *t;
	pthread_attr_t attr;
	pthread_t th;
	int r;

	rain_error_clear();
	if (staged ? !im->glance_direct :
	    strcmp(method, "web-download") || !im->web_download)
		return rain_error_set(RAIN_EINVAL, "Import method %s is not supported by this "
				      "server (GET /v2/info/import lists those offered)", method);
	if (!staged) {
		if (!uri)
			return rain_error_set(RAIN_EINVAL, "web-download needs the URI of the data: "
					      "\"method\": {\"name\": \"web-download\", \"uri\": URL}");
		r = url_allow_check(&im->allow, uri);
		if (r < 0)
			return r;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return rain_error_oom();
	t->im = im;
	t->status = "pending";
	t->created_at = t->updated_at = time_now_us();
	snprintf(t->image_id, sizeof(t->image_id), "%s", id);
	snprintf(t->request_id, sizeof(t->request_id), "%s", request_id ? request_id : "");
	t->owner = strdup(who->owner ? who->owner : "");
	t->method = strdup(method);
	t->uri = staged ? NULL : strdup(uri);
	if (!t->owner || !t->method || (!staged && !t->uri) || uuid_generate(t->id) < 0) {
		task_free(t);
		return rain_error_oom();
	}
	pthread_mutex_lock(&im->lock);
	if (im->running >= im->max_concurrent) {
		pthread_mutex_unlock(&im->lock);
		task_free(t);
		return rain_error_set(RAIN_ELIMIT, "%d imports run already ([import] "
				      "max_concurrent); try again later", im->max_concurrent);
	}
	im->running++;
	pthread_mutex_unlock(&im->lock);
	r = rain_repo_import_begin(im->repo, who, id, staged, t->id, &t->up);
	if (r == 0) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_mutex_lock(&im->lock);
		t->next = im->tasks;
		im->tasks = t;
		im->ntasks++;
		tasks_trim(im);
		if (pthread_create(&th, &attr, task_main, t) != 0) {
			im->tasks = t->next;
			im->ntasks--;
			r = RAIN_EIO;
		}
		pthread_mutex_unlock(&im->lock);
		pthread_attr_destroy(&attr);
		if (r < 0) {
			rain_error_set(r, "cannot start a thread for the import");
			rain_repo_upload_abort(t->up);
		}
	}
	if (r < 0) {
		pthread_mutex_lock(&im->lock);
		im->running--;
		pthread_cond_broadcast(&im->cond);
		pthread_mutex_unlock(&im->lock);
		task_free(t);
	}
	return r;
}

static json_t *task_json(const char *id, const char *image_id, const char *owner,
			 const char *method, const char *uri, const char *status,
			 const char *message, int64_t created, int64_t updated,
			 const char *request_id)
{
	char c[64], u[64];
	json_t *m, *o;

	time_format_iso(created, c, sizeof(c));
	time_format_iso(updated, u, sizeof(u));
	m = json_pack("{s:s}", "name", method);
	if (m && uri)
		json_object_set_new(m, "uri", json_string(uri));
	o = json_pack("{s:s, s:s, s:s, s:s, s:n, s:s, s:s, s:s, s:{s:s, s:{s:o}, s:[s]}, s:s, "
		      "s:s?, s:s, s:s, s:s}",
		      "id", id, "type", "api_image_import", "status", status, "owner", owner,
		      "expires_at", "created_at", c, "updated_at", u, "message", message,
		      "input", "image_id", image_id, "import_req", "method", m, "backend",
		      RAIN_STORE_ID, "image_id", image_id, "request_id", request_id,
		      "user_id", owner, "self", "", "schema", "/v2/schemas/task");
	if (o) {
		char self[64];

		snprintf(self, sizeof(self), "/v2/tasks/%s", id);
		json_object_set_new(o, "self", json_string(self));
		json_object_set_new(o, "result", !strcmp(status, "success") ?
				    json_pack("{s:s}", "image_id", image_id) : json_null());
	}
	return o;
}

json_t *imports_tasks(struct imports *im, const struct rain_image *img)
{
	const char *task_id = rain_image_prop_get(img, "os_glance_import_task");
	json_t *a = json_array();
	bool found = false;

	if (!a)
		return NULL;
	pthread_mutex_lock(&im->lock);
	for (struct task *t = im->tasks; t; t = t->next) {
		if (strcmp(t->image_id, img->id))
			continue;
		found = found || (task_id && !strcmp(task_id, t->id));
		json_array_append_new(a, task_json(t->id, t->image_id, t->owner, t->method, t->uri,
						   t->status, t->message ? t->message : "",
						   t->created_at, t->updated_at,
						   t->request_id[0] ? t->request_id : NULL));
	}
	pthread_mutex_unlock(&im->lock);
	if (task_id && !found) {
		/* a task of an earlier run of raind, from what the image keeps */
		const char *err = rain_image_prop_get(img, RAIN_IMAGE_IMPORT_ERROR);
		const char *status = img->status == RAIN_STATUS_ACTIVE ||
				     img->status == RAIN_STATUS_DEACTIVATED ? "success" :
				     img->status == RAIN_STATUS_IMPORTING ? "processing" : "failure";

		json_array_append_new(a, task_json(task_id, img->id, img->owner ? img->owner : "",
						   "unknown", NULL, status, err ? err : "",
						   img->updated_at, img->updated_at, NULL));
	}
	return a;
}
