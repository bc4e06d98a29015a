/* New users and new passwords: the defaults and the password rule that
 * raind's user API, the first admin and the LDAP first login share; see
 * rain/identity.h. */
#include <string.h>

#include "identity-internal.h"
#include "rain/error.h"
#include "util/timeutil.h"

int rain_identity_password_new(struct rain_identity *id, const char *password, char **hash)
{
	int r;

	rain_error_clear();
	*hash = NULL;
	if (!password)
		return rain_error_set(RAIN_EINVAL, "password must be a string of %d to %d characters",
				      id->cfg.min_password_length, RAIN_PASSWORD_MAX);
	r = rain_password_check(password, id->cfg.min_password_length);
	if (r < 0)
		return r;
	return rain_password_hash(password, hash);
}

void rain_identity_user_init(struct rain_user *u, char *name)
{
	memset(u, 0, sizeof(*u));
	u->name = name;
	u->role = RAIN_ROLE_USER;
	u->status = RAIN_USER_ACTIVE;
	u->quota_bytes = RAIN_USER_QUOTA_BYTES_DEFAULT;
	u->created_at = time_now_us();
	u->last_login = -1;
}
