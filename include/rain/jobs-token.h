/* Job tokens from the catalog: the token callbacks of rain/jobs.h made
 * by the token issuer of logins (rain/identity.h; only the hash is
 * stored). Pass rain_jobs_token_mint and rain_jobs_token_revoke as
 * token_mint and token_revoke, and a struct rain_jobs_tokens as ud. */
#ifndef RAIN_JOBS_TOKEN_H
#define RAIN_JOBS_TOKEN_H

#include <stdint.h>

#include "rain/identity.h"

struct rain_jobs_tokens {
	struct rain_identity *identity;     /* the issuer (borrowed) */
	/* The jobs of service_owner, when no user has that name, get
	 * service_token (not minted, never revoked); NULL: none. */
	const char *service_owner;
	const char *service_token;
};

/* A token of owner, who must be an active user (RAIN_ENOTFOUND,
 * RAIN_EAUTH otherwise, with a message), expiring at expires_us. */
int rain_jobs_token_mint(void *ud, const char *owner, int64_t expires_us,
			 int (*commit)(void *commit_ud, const char *hash), void *commit_ud,
			 char **token);
/* Revoke the token with hash (RAIN_ENOTFOUND when there is none). */
int rain_jobs_token_revoke(void *ud, const char *hash);

#endif
