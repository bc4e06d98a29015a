/* Prometheus metrics: see metrics.h. */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "daemon/http.h"
#include "daemon/import.h"
#include "daemon/metrics.h"
#include "rain/error.h"
#include "rain/jobs.h"
#include "util/cleanup.h"
#include "util/cleanup-json.h"
#include "util/timeutil.h"

#define ROUTES_MAX 512
#define CODE_MIN 100
#define NCODES 500              /* 100..599 */
#define NERRORS 32              /* -1 .. -31 */

static const double buckets[] = {
	0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};
#define NBUCKETS (sizeof(buckets) / sizeof(*buckets))

struct route_stats {
	uint64_t codes[NCODES];
	uint64_t hist[NBUCKETS + 1];    /* per bucket (not cumulative), +Inf last */
	uint64_t count, sum_us;
	uint64_t bytes_in, bytes_out;
};

struct route_key {
	const struct route *route;
	size_t index;
};

/* index 0: requests no route took. Written by metrics_init only. */
static const struct route *routes[ROUTES_MAX + 1];
static struct route_key keys[ROUTES_MAX];
static size_t nroutes;
static struct route_stats stats[ROUTES_MAX + 1];
static int64_t uploads;
static uint64_t errors[NERRORS];
static int64_t started_us;

static int key_cmp(const void *a, const void *b)
{
	const struct route *x = ((const struct route_key *)a)->route;
	const struct route *y = ((const struct route_key *)b)->route;

	return x < y ? -1 : x > y;
}

void metrics_init(const struct route *const *tables, size_t ntables)
{
	nroutes = 0;
	started_us = time_now_us();
	for (size_t t = 0; t < ntables; t++)
		for (const struct route *r = tables[t]; r->pattern && nroutes < ROUTES_MAX; r++) {
			routes[nroutes + 1] = r;
			keys[nroutes] = (struct route_key){ r, nroutes + 1 };
			nroutes++;
		}
	qsort(keys, nroutes, sizeof(*keys), key_cmp);
}

static size_t route_index(const struct route *r)
{
	struct route_key k = { r, 0 }, *found;

	if (!r)
		return 0;
	found = bsearch(&k, keys, nroutes, sizeof(*keys), key_cmp);
	return found ? found->index : 0;
}

static void add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void metrics_request(const struct route *route, unsigned int status, int64_t bytes_in,
		     int64_t bytes_out, int64_t duration_us)
{
	struct route_stats *s = &stats[route_index(route)];
	double secs = (double)duration_us / 1e6;
	size_t b = 0;

	if (status >= CODE_MIN && status < CODE_MIN + NCODES)
		add(&s->codes[status - CODE_MIN], 1);
	while (b < NBUCKETS && secs > buckets[b])
		b++;
	add(&s->hist[b], 1);
	add(&s->count, 1);
	add(&s->sum_us, duration_us > 0 ? (uint64_t)duration_us : 0);
	add(&s->bytes_in, bytes_in > 0 ? (uint64_t)bytes_in : 0);
	add(&s->bytes_out, bytes_out > 0 ? (uint64_t)bytes_out : 0);
}

void metrics_upload_add(int delta)
{
	__atomic_fetch_add(&uploads, delta, __ATOMIC_RELAXED);
}

void metrics_error(int code)
{
	if (code < 0 && code > -NERRORS)
		add(&errors[-code], 1);
}

/* ---- the text format ---- */

static const char *error_name(int code)
{
	switch (code) {
	case RAIN_ENOMEM: return "ENOMEM";
	case RAIN_EIO: return "EIO";
	case RAIN_ENOSPC: return "ENOSPC";
	case RAIN_ENET: return "ENET";
	case RAIN_ECANCELED: return "ECANCELED";
	case RAIN_ETIMEDOUT: return "ETIMEDOUT";
	default: return NULL;
	}
}

static void route_labels(FILE *f, size_t i)
{
	const struct route *r = routes[i];

	fprintf(f, "route=\"%s\",method=\"%s\"", r ? r->pattern : "none", r ? r->method : "");
}

static void render_requests(FILE *f)
{
	fputs("# HELP raind_http_requests_total HTTP requests answered, by route and status.\n"
	      "# TYPE raind_http_requests_total counter\n", f);
	for (size_t i = 0; i <= nroutes; i++)
		for (size_t c = 0; c < NCODES; c++) {
			uint64_t n = get(&stats[i].codes[c]);

			if (!n)
				continue;
			fputs("raind_http_requests_total{", f);
			route_labels(f, i);
			fprintf(f, ",code=\"%zu\"} %llu\n", c + CODE_MIN, (unsigned long long)n);
		}
	fputs("# HELP raind_http_request_duration_seconds Time from the request line to the end "
	      "of the reply.\n# TYPE raind_http_request_duration_seconds histogram\n", f);
	for (size_t i = 0; i <= nroutes; i++) {
		uint64_t cum = 0, count = get(&stats[i].count);

		if (!count)
			continue;
		for (size_t b = 0; b <= NBUCKETS; b++) {
			cum += get(&stats[i].hist[b]);
			fputs("raind_http_request_duration_seconds_bucket{", f);
			route_labels(f, i);
			if (b < NBUCKETS)
				fprintf(f, ",le=\"%g\"} %llu\n", buckets[b], (unsigned long long)cum);
			else
				fprintf(f, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		fputs("raind_http_request_duration_seconds_sum{", f);
		route_labels(f, i);
		fprintf(f, "} %.6f\n", (double)get(&stats[i].sum_us) / 1e6);
		fputs("raind_http_request_duration_seconds_count{", f);
		route_labels(f, i);
		/* the buckets' total, so that +Inf and _count agree */
		fprintf(f, "} %llu\n", (unsigned long long)cum);
	}
	for (int dir = 0; dir < 2; dir++) {
		const char *name = dir ? "raind_http_response_bytes_total" : "raind_http_request_bytes_total";

		fprintf(f, "# HELP %s Bytes of HTTP %s bodies.\n# TYPE %s counter\n", name,
			dir ? "response" : "request", name);
		for (size_t i = 0; i <= nroutes; i++) {
			if (!get(&stats[i].count))
				continue;
			fprintf(f, "%s{", name);
			route_labels(f, i);
			fprintf(f, "} %llu\n", (unsigned long long)get(dir ? &stats[i].bytes_out :
								  &stats[i].bytes_in));
		}
	}
}

struct job_count {
	char kind[64];
	char status[32];
	uint64_t n;
};

static void render_jobs(FILE *f, const struct metrics_sources *src)
{
	static const struct rain_who admin = { .owner = "admin", .admin = true };
	struct job_count counts[64];
	size_t n = 0;

	for (size_t e = 0; e < sizeof(src->jobs) / sizeof(*src->jobs); e++) {
		_cleanup_json_ json_t *list = NULL;
		json_t *rec;
		size_t i;

		if (!src->jobs[e] || rain_jobs_list(src->jobs[e], &admin, RAIN_ACT_JOB_SHOW, NULL, &list) < 0)
			continue;
		json_array_foreach(list, i, rec) {
			const char *kind = json_string_value(json_object_get(rec, "kind"));
			const char *status = json_string_value(json_object_get(rec, "status"));
			size_t k;

			if (!kind || !status)
				continue;
			for (k = 0; k < n; k++)
				if (!strcmp(counts[k].kind, kind) && !strcmp(counts[k].status, status))
					break;
			if (k == n) {
				if (n == sizeof(counts) / sizeof(*counts))
					continue;
				snprintf(counts[k].kind, sizeof(counts[k].kind), "%s", kind);
				snprintf(counts[k].status, sizeof(counts[k].status), "%s", status);
				counts[k].n = 0;
				n++;
			}
			counts[k].n++;
		}
	}
	rain_error_clear();
	fputs("# HELP raind_jobs Jobs the job engines keep, by kind and status.\n"
	      "# TYPE raind_jobs gauge\n", f);
	for (size_t k = 0; k < n; k++)
		fprintf(f, "raind_jobs{kind=\"%s\",status=\"%s\"} %llu\n", counts[k].kind,
			counts[k].status, (unsigned long long)counts[k].n);
}

int metrics_render(FILE *f, const struct metrics_sources *src)
{
	render_requests(f);
	fprintf(f, "# HELP raind_uploads_in_flight Uploads and stages receiving data now.\n"
		"# TYPE raind_uploads_in_flight gauge\nraind_uploads_in_flight %lld\n",
		(long long)__atomic_load_n(&uploads, __ATOMIC_RELAXED));
	fprintf(f, "# HELP raind_imports_running Interoperable imports running now.\n"
		"# TYPE raind_imports_running gauge\nraind_imports_running %d\n",
		src->imports ? imports_running(src->imports) : 0);
	render_jobs(f, src);
	fputs("# HELP raind_errors_total Replies with a server-side error (storage, catalog, "
	      "network), by rain error code.\n# TYPE raind_errors_total counter\n", f);
	for (int c = 1; c < NERRORS; c++)
		if (error_name(-c))
			fprintf(f, "raind_errors_total{code=\"%s\"} %llu\n", error_name(-c),
				(unsigned long long)get(&errors[c]));
	fprintf(f, "# HELP raind_start_time_seconds When raind started (Unix time).\n"
		"# TYPE raind_start_time_seconds gauge\nraind_start_time_seconds %.3f\n",
		(double)started_us / 1e6);
	return ferror(f) ? rain_error_set(RAIN_ENOMEM, "cannot write the metrics") : 0;
}

/* ---- [metrics] listen ---- */

struct metrics_listener {
	struct MHD_Daemon *mhd;
	const struct metrics_sources *src;
};

static enum MHD_Result on_metrics(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	struct metrics_listener *l = cls;
	struct MHD_Response *resp;
	unsigned int status = 200;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	enum MHD_Result ret;

	if (*data_size)
		return MHD_NO;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = 405;
		text = strdup("only GET /metrics here\n");
	} else if (strcmp(url, "/metrics")) {
		status = 404;
		text = strdup("only /metrics here\n");
	} else if ((f = open_memstream(&text, &len))) {
		if (metrics_render(f, l->src) < 0)
			status = 500;
		fclose(f);
	}
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, status == 200 ?
				"text/plain; version=0.0.4; charset=utf-8" : "text/plain");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

int metrics_listen_start(struct metrics_listener **out, const char *addr,
			 const struct metrics_sources *src)
{
	struct metrics_listener *l;
	struct sockaddr_storage ss;
	socklen_t len;
	int r;

	*out = NULL;
	r = http_parse_listen(addr, &ss, &len);
	if (r < 0)
		return rain_error_set(r, "[metrics] listen: %s", rain_error_last());
	l = calloc(1, sizeof(*l));
	if (!l)
		return rain_error_oom();
	l->src = src;
	l->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
				  (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
				  on_metrics, l, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, 16U,
				  MHD_OPTION_CONNECTION_TIMEOUT, 30U, MHD_OPTION_END);
	if (!l->mhd) {
		free(l);
		return rain_error_set(RAIN_EIO, "[metrics] listen: cannot listen on %s", addr);
	}
	*out = l;
	return 0;
}

void metrics_listen_stop(struct metrics_listener *l)
{
	if (!l)
		return;
	MHD_stop_daemon(l->mhd);
	free(l);
}
