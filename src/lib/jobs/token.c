/* Job tokens, issued by the one token issuer of rain/identity.h; see
 * include/rain/jobs-token.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "rain/identity.h"
#include "rain/jobs-token.h"
#include "util/timeutil.h"

int rain_jobs_token_mint(void *ud, const char *owner, int64_t expires_us,
			 int (*commit)(void *commit_ud, const char *hash), void *commit_ud,
			 char **token)
{
	const struct rain_jobs_tokens *tk = ud;
	/* the hash is where the next start finds it before the token exists */
	struct rain_token_hook hook = { commit, commit_ud };
	char secret[RAIN_TOKEN_LEN + 1];
	int64_t lifetime = expires_us - time_now_us();
	struct rain_token t;
	int r;

	*token = NULL;
	r = rain_identity_token_issue(tk->identity, owner, lifetime > 0 ? lifetime : 1,
				      "the build's owner", &hook, secret, &t);
	if (r == RAIN_ENOTFOUND && tk->service_owner && tk->service_token &&
	    !strcmp(owner, tk->service_owner)) {
		*token = strdup(tk->service_token);
		return *token ? 0 : rain_error_oom();
	}
	if (r < 0)
		return r;
	*token = strdup(secret);
	explicit_bzero(secret, sizeof(secret));
	if (!*token) {
		rain_identity_token_revoke(tk->identity, t.hash);
		return rain_error_oom();
	}
	return 0;
}

int rain_jobs_token_revoke(void *ud, const char *hash)
{
	const struct rain_jobs_tokens *tk = ud;

	if (strlen(hash) != RAIN_TOKEN_HASH_LEN)
		return 0;       /* not one of ours */
	return rain_identity_token_revoke(tk->identity, hash);
}
