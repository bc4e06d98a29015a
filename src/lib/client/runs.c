/* The client's calls of runs (/rain/v1/runs); see include/rain/client.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/strutil.h"

int rain_client_run(struct rain_client *c, json_t *request, json_t **run)
{
	rain_error_clear();
	*run = NULL;
	return client_want_object(rain_client_request(c, "POST", "/rain/v1/runs", NULL, request,
						      NULL, run), run, "run");
}

int rain_client_run_list(struct rain_client *c, const char *status, json_t **runs)
{
	_cleanup_free_ char *enc = status ? str_url_encode(status) : NULL, *path = NULL;

	rain_error_clear();
	*runs = NULL;
	if ((status && !enc) || asprintf(&path, "/rain/v1/runs%s%s", enc ? "?status=" : "",
					 enc ? enc : "") < 0)
		return rain_error_oom();
	return client_get_array(c, path, "runs", runs);
}

static int run_call(struct rain_client *c, const char *method, const char *id, const char *suffix,
		    json_t **out)
{
	_cleanup_free_ char *path = NULL;
	json_t *resp = NULL;
	int r;

	rain_error_clear();
	if (out)
		*out = NULL;
	r = client_id_path("/rain/v1/runs", "a run", id, suffix, NULL, &path);
	if (r < 0)
		return r;
	r = client_want_object(rain_client_request(c, method, path, NULL, NULL, NULL, &resp), &resp,
			       "run");
	if (r == 0 && out)
		*out = resp;
	else
		json_decref(resp);
	return r;
}

int rain_client_run_get(struct rain_client *c, const char *id, json_t **run)
{
	return run_call(c, "GET", id, "", run);
}

int rain_client_run_stop(struct rain_client *c, const char *id, json_t **run)
{
	return run_call(c, "POST", id, "/stop", run);
}

int rain_client_run_file(struct rain_client *c, const char *id, const char *name, int fd)
{
	return client_file_get(c, "/rain/v1/runs", "a run", id, name, fd);
}
