/* The client's calls of identity: Keystone v3 logins and tokens
 * (/v3/auth/tokens) and raind's users (/rain/v1/users); see
 * include/rain/client.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"
#include "rain/error.h"
#include "util/strutil.h"

/* ---- identity and users ------------------------------------------------ */

int rain_client_login_body(struct rain_client *c, json_t *req, char *token, json_t **body)
{
	json_t *resp = NULL;
	int r;

	rain_error_clear();
	token[0] = '\0';
	if (body)
		*body = NULL;
	r = rain_client_request(c, "POST", "/v3/auth/tokens", NULL, req, NULL, &resp);
	if (r == 0 && !c->subject[0])
		r = rain_error_set(RAIN_EFORMAT, "the server sent no X-Subject-Token");
	if (r == 0) {
		memcpy(token, c->subject, sizeof(c->subject));
		if (body)
			*body = resp;
		else
			json_decref(resp);
	} else {
		json_decref(resp);
	}
	explicit_bzero(c->subject, sizeof(c->subject));
	return r;
}

int rain_client_login(struct rain_client *c, const char *user, const char *password,
		      char *token, json_t **body)
{
	json_t *req = json_pack("{s:{s:{s:[s], s:{s:{s:s, s:{s:s}, s:s}}}}}", "auth", "identity",
				"methods", "password", "password", "user", "name", user,
				"domain", "id", "default", "password", password);
	int r;

	rain_error_clear();
	token[0] = '\0';
	if (body)
		*body = NULL;
	if (!req)
		return rain_error_set(RAIN_EINVAL, "the user name and password must be UTF-8");
	r = rain_client_login_body(c, req, token, body);
	json_decref(req);   /* rain_client_request wiped its own copy of the text */
	return r;
}

static int with_subject(struct rain_client *c, const char *method, const char *token,
			json_t **body)
{
	char *h = NULL;
	int r;

	if (!str_is_printable(token, RAIN_CLIENT_TOKEN_MAX))
		return rain_error_set(RAIN_EINVAL, "the token cannot go in an HTTP header");
	if (asprintf(&h, "X-Subject-Token: %s", token) < 0)
		return rain_error_oom();
	c->subject_header = h;
	r = rain_client_request(c, method, "/v3/auth/tokens", NULL, NULL, NULL, body);
	c->subject_header = NULL;
	explicit_bzero(h, strlen(h));
	free(h);
	return r;
}

int rain_client_token_validate(struct rain_client *c, const char *token, json_t **body)
{
	rain_error_clear();
	return with_subject(c, "GET", token, body);
}

int rain_client_token_revoke(struct rain_client *c, const char *token)
{
	rain_error_clear();
	return with_subject(c, "DELETE", token, NULL);
}

static int user_path(const char *name, char **out)
{
	_cleanup_free_ char *enc = NULL;

	*out = NULL;
	if (!name || !*name)
		return rain_error_set(RAIN_EINVAL, "no user name");
	enc = str_url_encode(name);
	if (!enc || asprintf(out, "/rain/v1/users/%s", enc) < 0) {
		*out = NULL;
		return rain_error_oom();
	}
	return 0;
}

int rain_client_user_list(struct rain_client *c, json_t **users)
{
	rain_error_clear();
	return client_get_list(c, "/rain/v1/users", "users", users);
}

int rain_client_user_create(struct rain_client *c, json_t *fields, json_t **user)
{
	rain_error_clear();
	return rain_client_request(c, "POST", "/rain/v1/users", NULL, fields, NULL, user);
}

int rain_client_user_get(struct rain_client *c, const char *name, json_t **user)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = user_path(name, &path);
	*user = NULL;
	return r < 0 ? r : rain_client_request(c, "GET", path, NULL, NULL, NULL, user);
}

int rain_client_user_update(struct rain_client *c, const char *name, json_t *fields,
			    json_t **user)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = user_path(name, &path);
	if (user)
		*user = NULL;
	return r < 0 ? r : rain_client_request(c, "PATCH", path, NULL, fields, NULL, user);
}

int rain_client_user_delete(struct rain_client *c, const char *name)
{
	_cleanup_free_ char *path = NULL;
	int r;

	rain_error_clear();
	r = user_path(name, &path);
	return r < 0 ? r : rain_client_request(c, "DELETE", path, NULL, NULL, NULL, NULL);
}
