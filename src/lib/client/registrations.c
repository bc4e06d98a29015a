/* The client's calls of sites and registrations (/rain/v1/sites,
 * /rain/v1/registrations); see include/rain/client.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/strutil.h"

int rain_client_sites(struct rain_client *c, json_t **sites)
{
	rain_error_clear();
	return client_get_array(c, "/rain/v1/sites", "sites", sites);
}

int rain_client_site_get(struct rain_client *c, const char *name, json_t **site)
{
	_cleanup_free_ char *enc = str_url_encode(name), *path = NULL;

	rain_error_clear();
	*site = NULL;
	if (!enc || asprintf(&path, "/rain/v1/sites/%s", enc) < 0)
		return rain_error_oom();
	return client_want_object(rain_client_request(c, "GET", path, NULL, NULL, NULL, site), site,
				  "site");
}

int rain_client_register(struct rain_client *c, const char *image_id, const char *site,
			 const char *ssh_key, bool override, json_t **reg)
{
	json_t *body = json_pack("{s:s, s:s}", "image", image_id, "site", site);
	int r;

	rain_error_clear();
	*reg = NULL;
	if (!body || (ssh_key && json_object_set_new(body, "ssh_key", json_string(ssh_key)) < 0) ||
	    (override && json_object_set_new(body, "override", json_true()) < 0)) {
		json_decref(body);
		return rain_error_oom();
	}
	r = rain_client_request(c, "POST", "/rain/v1/registrations", NULL, body, NULL, reg);
	json_decref(body);
	return client_want_object(r, reg, "registration");
}

int rain_client_registration_list(struct rain_client *c, const char *site, const char *image_id,
				  const char *status, json_t **regs)
{
	const char *keys[] = { "site", "image", "status" }, *vals[] = { site, image_id, status };
	_cleanup_free_ char *path = strdup("/rain/v1/registrations");

	rain_error_clear();
	for (size_t i = 0; path && i < 3; i++) {
		_cleanup_free_ char *enc = vals[i] ? str_url_encode(vals[i]) : NULL;
		char *more = NULL;

		if (!vals[i])
			continue;
		if (!enc || asprintf(&more, "%s%c%s=%s", path, strchr(path, '?') ? '&' : '?', keys[i],
				     enc) < 0)
			more = NULL;
		free(path);
		path = more;
	}
	if (!path)
		return rain_error_oom();
	return client_get_array(c, path, "registrations", regs);
}

static int reg_call(struct rain_client *c, const char *method, const char *id, json_t **out)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	*out = NULL;
	r = client_id_path("/rain/v1/registrations", "a registration", id, "", NULL, &path);
	if (r < 0)
		return r;
	return client_want_object(rain_client_request(c, method, path, NULL, NULL, NULL, out), out,
				  "registration");
}

int rain_client_registration_get(struct rain_client *c, const char *id, json_t **reg)
{
	return reg_call(c, "GET", id, reg);
}

int rain_client_deregister(struct rain_client *c, const char *id, json_t **reg)
{
	return reg_call(c, "DELETE", id, reg);
}
