/* Sites and registrations (daemon/registrations.h does the work):
 *
 *   GET    /rain/v1/sites                 {"sites": [...]}: name, kind, policy,
 *                                         kernels, users, may_register (admins
 *                                         also uri and settings, secrets hidden)
 *   GET    /rain/v1/sites/{name}          one site
 *   POST   /rain/v1/registrations         {"image": ID, "site": NAME,
 *                                         "ssh_key": "ssh-ed25519 ...",
 *                                         "override": bool} (the last two
 *                                         optional): 202 and the new record
 *                                         (Location /rain/v1/registrations/ID;
 *                                         its job is /rain/v1/jobs/ID), or 200
 *                                         and the earlier one when the same
 *                                         image data is registered there already;
 *                                         403 when the site's vetting policy
 *                                         refuses the image (the message names
 *                                         the failing rules) or who may not
 *                                         register there; 404 unknown image or
 *                                         site; 409 no data or disabled; 429
 *   GET    /rain/v1/registrations         {"registrations": [...]}, newest first;
 *                                         ?site=, ?image=, ?status= filter
 *   GET    /rain/v1/registrations/{id}    one record
 *   DELETE /rain/v1/registrations/{id}    deregister: what was made at the site
 *                                         is removed; 200 and the record
 *                                         (status removed); 409 while registering,
 *                                         or while a run uses it (nothing removed)
 *
 * Users see their own registrations, admins all. An admin's override of
 * the vetting gate is written to the audit log (method OVERRIDE).
 */
#include <stdio.h>
#include <string.h>

#include "daemon/http.h"
#include "daemon/log.h"
#include "daemon/registrations.h"
#include "rain/catalog.h"
#include "rain/error.h"
#include "util/cleanup-json.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define SSH_KEY_MAX 8192

static struct registrations *service(struct request *req)
{
	struct registrations *g = request_registrations(req);

	if (!g)
		http_reply_error(req, 409, "this raind does not register images");
	return g;
}

static int sites(struct request *req)
{
	struct registrations *g = service(req);
	json_t *out = NULL;
	int r;

	if (!g)
		return 0;
	r = registrations_sites(g, &req->who, req->params[0], &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

/* One line of an OpenSSH public key: "TYPE BASE64 [COMMENT]". */
static bool ssh_key_ok(const char *k)
{
	static const char *const types[] = { "ssh-", "ecdsa-", "sk-", NULL };
	bool known = false;

	for (size_t i = 0; types[i]; i++)
		known |= str_has_prefix(k, types[i]);
	return known && strchr(k, ' ') && str_is_printable(k, SSH_KEY_MAX);
}

static void audit_override(struct request *req, const char *image, const char *site,
			   json_t *rec)
{
	json_t *vet = json_object_get(rec, "vetting");
	struct rain_audit_entry e = { .at = time_now_us(), .status = 202 };
	const char *verdict = json_string_value(json_object_get(vet, "verdict"));

	snprintf(e.actor, sizeof(e.actor), "%s", req->who.owner ? req->who.owner : "");
	request_client_addr(req, e.address, sizeof(e.address));
	snprintf(e.method, sizeof(e.method), "OVERRIDE");
	snprintf(e.path, sizeof(e.path), "/rain/v1/registrations/%s: vetting gate of site %s "
		 "(policy %s, verdict %s)", json_string_value(json_object_get(rec, "id")), site,
		 json_string_value(json_object_get(vet, "policy")), verdict ? verdict : "none");
	snprintf(e.target, sizeof(e.target), "%s", image);
	if (rain_catalog_audit_append(rain_repo_catalog(request_repo(req)), &e) < 0)
		log_printf(LOG_WARN, "cannot append to the audit log: %s", rain_error_last());
	log_printf(LOG_WARN, "%s overrides the vetting gate of site %s for image %s", e.actor, site,
		   image);
}

static int submit(struct request *req)
{
	struct registrations *g = service(req);
	_cleanup_json_ json_t *body = NULL;
	json_t *rec = NULL, *image, *site, *key, *override;
	char location[96];
	bool created;
	int r;

	if (!g)
		return 0;
	body = request_json(req);
	if (!body)
		return 0;
	image = json_object_get(body, "image");
	site = json_object_get(body, "site");
	key = json_object_get(body, "ssh_key");
	override = json_object_get(body, "override");
	if (!json_is_object(body) || !json_is_string(image) || !json_is_string(site) ||
	    (key && !json_is_string(key)) || (override && !json_is_boolean(override)))
		return http_reply_error(req, 400, "the body must be {\"image\": ID, \"site\": NAME} "
					"with optional \"ssh_key\" (a string) and \"override\" "
					"(true or false)");
	if (json_object_size(body) > 2 + (size_t)!!key + !!override)
		return http_reply_error(req, 400, "the body may hold only \"image\", \"site\", "
					"\"ssh_key\" and \"override\"");
	if (!uuid_is_valid(json_string_value(image)))
		return http_reply_error(req, 400, "\"image\" must be an image id");
	if (key && !ssh_key_ok(json_string_value(key)))
		return http_reply_error(req, 400, "\"ssh_key\" must be one line of an OpenSSH public "
					"key (\"ssh-ed25519 AAAA... comment\")");
	snprintf(req->audit_target, sizeof(req->audit_target), "%s", json_string_value(image));
	r = registrations_submit(g, &req->who, json_string_value(image), json_string_value(site),
				 json_string_value(key), json_is_true(override), &rec, &created);
	if (r < 0)
		return r;
	if (created && json_is_true(json_object_get(json_object_get(rec, "vetting"), "override")))
		audit_override(req, json_string_value(image), json_string_value(site), rec);
	snprintf(location, sizeof(location), "/rain/v1/registrations/%s",
		 json_string_value(json_object_get(rec, "id")));
	return http_reply_json(req, created ? 202 : 200, rec, "Location", location, NULL);
}

static int list(struct request *req)
{
	struct registrations *g = service(req);
	json_t *out = NULL;
	int r;

	if (!g)
		return 0;
	r = registrations_list(g, &req->who, request_query(req, "site"), request_query(req, "image"),
			       request_query(req, "status"), &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int show(struct request *req)
{
	struct registrations *g = service(req);
	json_t *out = NULL;
	int r;

	if (!g)
		return 0;
	r = registrations_get(g, &req->who, req->params[0], &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

static int remove_one(struct request *req)
{
	struct registrations *g = service(req);
	json_t *out = NULL;
	int r;

	if (!g)
		return 0;
	r = registrations_remove(g, &req->who, req->params[0], &out);
	return r < 0 ? r : http_reply_json(req, 200, out, NULL);
}

const struct route api_registrations_routes[] = {
	{ "GET", "/rain/v1/sites", BODY_NONE, RAIN_ACT_ANY_USER, sites, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/sites/{}", BODY_NONE, RAIN_ACT_ANY_USER, sites, NULL, NULL, NULL, 0 },
	{ "POST", "/rain/v1/registrations", BODY_JSON, RAIN_ACT_ANY_USER, submit, NULL, NULL, NULL,
	  16384 },
	{ "GET", "/rain/v1/registrations", BODY_NONE, RAIN_ACT_ANY_USER, list, NULL, NULL, NULL, 0 },
	{ "GET", "/rain/v1/registrations/{}", BODY_NONE, RAIN_ACT_ANY_USER, show, NULL, NULL, NULL, 0 },
	{ "DELETE", "/rain/v1/registrations/{}", BODY_NONE, RAIN_ACT_ANY_USER, remove_one, NULL, NULL,
	  NULL, 0 },
	{ NULL, NULL, BODY_NONE, RAIN_ACT_PUBLIC, NULL, NULL, NULL, NULL, 0 },
};
