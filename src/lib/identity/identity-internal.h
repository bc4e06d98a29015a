/* What the files of src/lib/identity share; not installed. */
#ifndef RAIN_IDENTITY_INTERNAL_H
#define RAIN_IDENTITY_INTERNAL_H

#include <pthread.h>

#include "rain/identity.h"
#include "util/log-callback.h"

struct login_place {
	bool used;
	char account[RAIN_USER_NAME_MAX + 1];   /* "": no account (not a name) */
	char addr[64];
};

struct rain_identity {
	struct rain_catalog *cat;               /* borrowed */
	struct rain_identity_config cfg;        /* cfg.ldap points to ldap below */
	struct rain_ldap_config ldap;
	char *ldap_url, *ldap_user_dn;
	/* the password-check places (login.c) */
	pthread_mutex_t lock;
	pthread_cond_t place_free;              /* on CLOCK_MONOTONIC */
	struct login_place places[RAIN_LOGIN_CHECKS + RAIN_LOGIN_WAITING];
	int running;
};

/* identity_log(id, level, fmt, ...): pass a message to the configured log
 * callback, if any. */
#define identity_log(id, level, ...) \
	LOG_CALLBACK((id)->cfg.log, (id)->cfg.log_ud, (level), __VA_ARGS__)

/* Issue a token of u (already read) for lifetime_us; see
 * rain_identity_token_issue. */
int identity_token_issue_user(struct rain_identity *id, const struct rain_user *u,
			      int64_t lifetime_us, const struct rain_token_hook *hook,
			      char *token, struct rain_token *out);

#endif
