/* Password checks against an LDAP directory (as FutureGrid did): a simple
 * bind as the user's DN with their password. The directory decides; rain
 * keeps no copy of the password.
 *
 * user_dn is a DN with "{user}" where the user name goes, e.g.
 * "uid={user},ou=people,dc=example,dc=org"; the name is escaped as RFC
 * 4514 says, so it cannot change the DN's structure.
 */
#ifndef RAIN_LDAP_H
#define RAIN_LDAP_H

struct rain_ldap_config {
	const char *url;        /* ldap:// or ldaps:// */
	const char *user_dn;
	int timeout_s;          /* connect and bind; 0: 5 */
};

/* 0 when the directory accepts user's password; RAIN_EAUTH when it
 * refuses it (or the user is not there); RAIN_ENET when the directory
 * cannot be reached; RAIN_EINVAL for a user_dn without "{user}". */
int rain_ldap_authenticate(const struct rain_ldap_config *cfg, const char *user, const char *password);

/* The DN for user (a new string), or NULL (ENOMEM, or no "{user}"). */
char *rain_ldap_user_dn(const char *user_dn, const char *user);

#endif
