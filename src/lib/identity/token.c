/* The one token issuer of raind (logins and jobs), validation and
 * revocation; see rain/identity.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity-internal.h"
#include "rain/error.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define DAY_US (86400LL * 1000000)

int identity_token_issue_user(struct rain_identity *id, const struct rain_user *u,
			      int64_t lifetime_us, const struct rain_token_hook *hook,
			      char *token, struct rain_token *out)
{
	struct rain_token t = { .revoked = false };
	int64_t now = time_now_us();
	int r;

	token[0] = '\0';
	snprintf(t.user, sizeof(t.user), "%s", u->name);
	t.role = u->role;
	t.status = u->status;
	t.issued_at = now;
	t.expires_at = now + (lifetime_us > 0 ? lifetime_us : DAY_US);
	r = rain_token_new(token, t.hash);
	if (r == 0 && hook && hook->before_store)
		r = hook->before_store(hook->ud, t.hash);
	if (r == 0)
		r = rain_catalog_token_create(id->cat, &t);
	if (r < 0) {
		explicit_bzero(token, RAIN_TOKEN_LEN + 1);
		return r;
	}
	if (out)
		*out = t;
	return 0;
}

int rain_identity_token_issue(struct rain_identity *id, const char *user, int64_t lifetime_us,
			      const char *purpose, const struct rain_token_hook *hook,
			      char *token, struct rain_token *out)
{
	struct rain_user *u = NULL;
	int r;

	rain_error_clear();
	token[0] = '\0';
	r = rain_catalog_user_get(id->cat, user, &u);
	if (r == RAIN_ENOTFOUND)
		return rain_error_set(RAIN_ENOTFOUND, "%s '%s' is not a user any more",
				      purpose ? purpose : "the user", user);
	if (r < 0)
		return r;
	if (u->status != RAIN_USER_ACTIVE) {
		r = rain_error_set(RAIN_EAUTH, "%s '%s' is %s, and only active users get a token",
				   purpose ? purpose : "the user", user,
				   rain_user_status_name(u->status));
		rain_user_free(u);
		return r;
	}
	r = identity_token_issue_user(id, u, lifetime_us, hook, token, out);
	rain_user_free(u);
	return r;
}

int rain_identity_token_validate(struct rain_identity *id, const char *token,
				 struct rain_token *out)
{
	char hash[RAIN_TOKEN_HASH_LEN + 1];
	struct rain_token tok;

	rain_error_clear();
	if (!token || strlen(token) != RAIN_TOKEN_LEN)
		return RAIN_EAUTH;
	rain_token_hash(token, hash);
	if (rain_catalog_token_lookup(id->cat, hash, &tok) < 0)
		return RAIN_EAUTH;
	if (!rain_token_hash_equal(tok.hash, hash) || tok.revoked ||
	    tok.expires_at <= time_now_us() || tok.status != RAIN_USER_ACTIVE)
		return RAIN_EAUTH;
	*out = tok;
	return 0;
}

int rain_identity_token_revoke(struct rain_identity *id, const char *hash)
{
	return rain_catalog_token_revoke(id->cat, hash);
}
