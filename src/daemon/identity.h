/* Settings of raind's identity areas (api/identity.c, api/users.c), set
 * once by main.c before the server starts and only read afterwards.
 *
 * min_password_length ([auth] min_password_length): new passwords (user
 * create, password change, the first admin's) need at least this many
 * characters; logins with older, shorter ones still work. */
#ifndef RAIND_IDENTITY_H
#define RAIND_IDENTITY_H

struct identity_config {
	int min_password_length;
};

void identity_configure(const struct identity_config *cfg);
/* RAIN_PASSWORD_MIN_DEFAULT until identity_configure sets it. */
int identity_min_password_length(void);

#endif
