/* raind's metrics in Prometheus' text format (version 0.0.4), served as
 * GET /metrics to admins (api/metrics.c) and, with [metrics] listen, on
 * an address of their own without a token (metrics_listen_start).
 *
 *   raind_http_requests_total{route,method,code}   requests by route (the
 *                                     pattern, "/v2/images/{}"; "none"
 *                                     for a path no route takes)
 *   raind_http_request_duration_seconds{route,method}  a histogram
 *   raind_http_request_bytes_total{route,method}, raind_http_response_bytes_total{...}
 *   raind_uploads_in_flight           uploads and stages receiving data
 *   raind_imports_running             interoperable imports running
 *   raind_jobs{kind,status}           the job engines' jobs
 *   raind_errors_total{code}          replies with a server-side error
 *                                     (storage, catalog, network: the
 *                                     rain error code, e.g. EIO)
 *   raind_start_time_seconds
 *
 * The counters are process-wide atomics: any thread may count at any
 * time, at no more cost than a few relaxed atomic additions; a scrape
 * reads each counter once (counters of one request may be seen in
 * different scrapes). metrics_init() must run before the first count. */
#ifndef RAIND_METRICS_H
#define RAIND_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct route;
struct rain_jobs;
struct imports;

/* Number the routes of the NULL-pattern-terminated tables. */
void metrics_init(const struct route *const *tables, size_t ntables);
/* One request done: route NULL when none matched. */
void metrics_request(const struct route *route, unsigned int status, int64_t bytes_in,
		     int64_t bytes_out, int64_t duration_us);
void metrics_upload_add(int delta);
/* A reply with rain error code (rain/error.h) that is the server's fault. */
void metrics_error(int code);

/* What a scrape shows besides the counters (each may be NULL). */
struct metrics_sources {
	struct rain_jobs *jobs[4];
	struct imports *imports;
};
/* The text of every metric into f. 0 or a rain error code. */
int metrics_render(FILE *f, const struct metrics_sources *src);

/* [metrics] listen: serve GET /metrics on addr ("HOST:PORT") from a
 * thread of its own; src must stay valid until metrics_listen_stop. */
struct metrics_listener;
int metrics_listen_start(struct metrics_listener **out, const char *addr,
			 const struct metrics_sources *src);
void metrics_listen_stop(struct metrics_listener *l);

#endif
