/* Identity rules of raind: password logins with their lock-outs and
 * password-check places, the LDAP first login, and the one token issuer
 * that logins and jobs share (issue, validate, revoke).
 *
 * A struct rain_identity is made once per catalog (rain_identity_new) and
 * shared by every thread; it borrows the catalog, which must outlive it.
 *
 * Logins:
 * - Every failed login costs one Argon2id verification (against a dummy
 *   hash for unknown names) so that the delay does not tell whether a user
 *   exists.
 * - After RAIN_LOGIN_ACCOUNT_LIMIT failures of one name within 15
 *   minutes, that name is refused for 15 minutes; the count is in the
 *   catalog, so a reopen does not reset it. So it is for a client address
 *   (login_address_limit failures), which is then refused before any
 *   password check.
 * - At most RAIN_LOGIN_CHECKS passwords are checked at once and
 *   RAIN_LOGIN_WAITING more wait (for RAIN_LOGIN_WAIT_MS at most); one
 *   account takes at most RAIN_LOGIN_PER_ACCOUNT of these places and one
 *   address RAIN_LOGIN_PER_ADDRESS. A login beyond is refused at once
 *   ("busy") with the time after which to retry.
 * - The name is found as rain_catalog_user_find does ("Alice" logs in as
 *   alice). A user without a local password is checked against the
 *   directory (when one is configured); a name the rule accepts that is
 *   not a user yet becomes one at its first directory login.
 *
 * Nothing here prints or logs: what raind used to log goes to the log
 * callback of the configuration (NULL: dropped). Neither tokens nor
 * passwords are ever in a message.
 */
#ifndef RAIN_IDENTITY_H
#define RAIN_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

#include "rain/auth.h"
#include "rain/catalog.h"
#include "rain/ldap.h"

#define RAIN_LOGIN_ACCOUNT_LIMIT 5
#define RAIN_LOGIN_CHECKS 4
#define RAIN_LOGIN_WAITING 4
#define RAIN_LOGIN_WAIT_MS 3000
#define RAIN_LOGIN_PER_ACCOUNT 1
#define RAIN_LOGIN_PER_ADDRESS 2

enum rain_identity_log_level {
	RAIN_IDENTITY_LOG_INFO,
	RAIN_IDENTITY_LOG_WARN,
	RAIN_IDENTITY_LOG_ERROR,
};

struct rain_identity_config {
	/* the directory for users without a local password; NULL: none
	 * (copied by rain_identity_new) */
	const struct rain_ldap_config *ldap;
	/* failed logins from one address within 15 minutes that refuse it
	 * for 15 minutes; 0 or less: no address rule */
	int64_t login_address_limit;
	/* lifetime of the tokens logins issue; 0 or less: one day */
	int64_t token_lifetime_us;
	/* what happened that an operator wants to know (failed logins,
	 * lock-outs, first LDAP logins, storage errors); NULL: nothing.
	 * Called from the login's thread, without a lock held. */
	void (*log)(void *ud, enum rain_identity_log_level level, const char *message);
	void *log_ud;
	/* for tests: checks a password against a stored hash instead of
	 * rain_password_verify (same contract); NULL: rain_password_verify */
	int (*verify)(void *ud, const char *encoded, const char *password);
	void *verify_ud;
	/* characters a new password needs at least ([auth]
	 * min_password_length); 0 or less: RAIN_PASSWORD_MIN_DEFAULT */
	int min_password_length;
};

struct rain_identity;

/* A new identity over cat (borrowed) in *out; free it with
 * rain_identity_free. RAIN_ENOMEM. */
int rain_identity_new(struct rain_catalog *cat, const struct rain_identity_config *cfg,
		      struct rain_identity **out);
void rain_identity_free(struct rain_identity *id);

/* New users and passwords. Names follow the one rule of
 * rain_user_name_normalize (rain/catalog.h: "Alice" is alice), which
 * rain_catalog_user_create enforces; passwords the rule below. */

/* The hash of a new password (a user's first, a changed one, the first
 * admin's) in *hash (free() it): password (NULL: none was given) must
 * have at least the configured min_password_length characters and at
 * most RAIN_PASSWORD_MAX bytes (rain_password_check). RAIN_EINVAL with a
 * message that says what is wanted (never the password). Logins with
 * older, shorter passwords still work: only new ones are checked. */
int rain_identity_password_new(struct rain_identity *id, const char *password, char **hash);

/* Set *u to a new user named name (borrowed): role user, active, quota
 * RAIN_USER_QUOTA_BYTES_DEFAULT bytes and no image limit, created now,
 * never logged in, no password. */
void rain_identity_user_init(struct rain_user *u, char *name);

/* Why a login was refused (0: it was not). */
enum rain_login_refusal {
	RAIN_LOGIN_OK = 0,
	RAIN_LOGIN_BAD_CREDENTIALS,   /* no such user, or the password is wrong */
	RAIN_LOGIN_LOCKED,            /* the account is locked out (password not looked at) */
	RAIN_LOGIN_ADDRESS_LOCKED,    /* the address failed too often; no check was made */
	RAIN_LOGIN_BUSY_ACCOUNT,      /* a login of this account is being checked */
	RAIN_LOGIN_BUSY_ADDRESS,      /* this address has its share of the places */
	RAIN_LOGIN_BUSY_GLOBAL,       /* every place is taken */
	RAIN_LOGIN_INACTIVE,          /* the password was right; the user is not active */
};

struct rain_login {
	/* whom the login was for: the user's stored name, else the name as
	 * the rule makes it, else (printable) as given; "" for none. Set in
	 * every case, for audit logs. */
	char account[RAIN_USER_NAME_MAX + 1];
	enum rain_login_refusal refusal;
	int retry_after_s;            /* busy and address lock: when to retry */
	int64_t locked_until;         /* LOCKED: until when (us since the epoch) */
	char token[RAIN_TOKEN_LEN + 1];   /* success: the secret; explicit_bzero it after use */
	struct rain_token t;          /* success: the stored token (user, times, role) */
};

/* Log name (may be NULL: no name was given in a valid form) in with
 * password from client address addr (text, for the address rule and the
 * places). 0 with out->token and out->t on success; RAIN_EAUTH for
 * BAD_CREDENTIALS, LOCKED and INACTIVE; RAIN_ELIMIT for ADDRESS_LOCKED and
 * the BUSY refusals; another error when the catalog fails. out->refusal
 * says which, with a message set. */
int rain_identity_login(struct rain_identity *id, const char *name, const char *password,
			const char *addr, struct rain_login *out);

/* Called with a new token's hash before it is stored (e.g. to write it
 * where a crash recovery finds it); an error stops the issue. */
struct rain_token_hook {
	int (*before_store)(void *ud, const char *hash);
	void *ud;
};

/* Issue a token of user (an active user of the catalog) valid for
 * lifetime_us (0 or less: one day): the secret in token (RAIN_TOKEN_LEN +
 * 1 bytes; explicit_bzero it after use) and the stored record in *out
 * (may be NULL). purpose names the user in messages ("the build's
 * owner"; NULL: "the user"). hook may be NULL. RAIN_ENOTFOUND when user is not a user,
 * RAIN_EAUTH when not active; nothing stays stored on an error. */
int rain_identity_token_issue(struct rain_identity *id, const char *user, int64_t lifetime_us,
			      const char *purpose, const struct rain_token_hook *hook,
			      char *token, struct rain_token *out);

/* Who token is: 0 with *out (the token's user, role, status and quotas)
 * when it is a stored token, not revoked, not expired, of an active user;
 * RAIN_EAUTH otherwise (no message: this runs for every request). */
int rain_identity_token_validate(struct rain_identity *id, const char *token,
				 struct rain_token *out);

/* Revoke the token whose hash is hash (struct rain_token's). 0, or
 * RAIN_ENOTFOUND. */
int rain_identity_token_revoke(struct rain_identity *id, const char *hash);

#endif
