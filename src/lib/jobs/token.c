/* Job tokens from the catalog; see include/rain/jobs-token.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/auth.h"
#include "rain/error.h"
#include "rain/jobs-token.h"
#include "util/timeutil.h"

int rain_jobs_token_mint(void *ud, const char *owner, int64_t expires_us,
			 int (*commit)(void *commit_ud, const char *hash), void *commit_ud,
			 char **token)
{
	const struct rain_jobs_tokens *tk = ud;
	struct rain_token t = { .revoked = false };
	struct rain_user *u = NULL;
	char secret[RAIN_TOKEN_LEN + 1];
	int r;

	*token = NULL;
	r = rain_catalog_user_get(tk->cat, owner, &u);
	if (r == RAIN_ENOTFOUND && tk->service_owner && tk->service_token &&
	    !strcmp(owner, tk->service_owner)) {
		*token = strdup(tk->service_token);
		return *token ? 0 : rain_error_oom();
	}
	if (r == RAIN_ENOTFOUND)
		return rain_error_set(RAIN_ENOTFOUND, "the build's owner '%s' is not a user any more",
				      owner);
	if (r < 0)
		return r;
	if (u->status != RAIN_USER_ACTIVE) {
		r = rain_error_set(RAIN_EAUTH, "the build's owner '%s' is %s, and cloning a "
				   "repository image needs their rights", owner,
				   rain_user_status_name(u->status));
		rain_user_free(u);
		return r;
	}
	snprintf(t.user, sizeof(t.user), "%s", u->name);
	t.role = u->role;
	t.status = u->status;
	rain_user_free(u);
	r = rain_token_new(secret, t.hash);
	if (r < 0)
		return r;
	t.issued_at = time_now_us();
	t.expires_at = expires_us;
	/* the hash is where the next start finds it before the token exists */
	r = commit(commit_ud, t.hash);
	if (r == 0)
		r = rain_catalog_token_create(tk->cat, &t);
	if (r == 0 && !(*token = strdup(secret)))
		r = rain_error_oom();
	explicit_bzero(secret, sizeof(secret));
	if (r < 0) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", rain_error_last());
		rain_catalog_token_revoke(tk->cat, t.hash);
		return rain_error_set(r, "%s", msg);
	}
	return 0;
}

int rain_jobs_token_revoke(void *ud, const char *hash)
{
	const struct rain_jobs_tokens *tk = ud;

	if (strlen(hash) != RAIN_TOKEN_HASH_LEN)
		return 0;       /* not one of ours */
	return rain_catalog_token_revoke(tk->cat, hash);
}
