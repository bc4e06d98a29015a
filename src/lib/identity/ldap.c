/* LDAP simple binds; see rain/ldap.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include "rain/error.h"
#include "rain/ldap.h"

char *rain_ldap_user_dn(const char *user_dn, const char *user)
{
	const char *at = user_dn ? strstr(user_dn, "{user}") : NULL;
	size_t len = 0;
	char *out = NULL;
	FILE *f;

	if (!at || !(f = open_memstream(&out, &len)))
		return NULL;
	fwrite(user_dn, 1, (size_t)(at - user_dn), f);
	for (const char *p = user; *p; p++) {
		unsigned char c = (unsigned char)*p;

		/* RFC 4514: these, a leading space or '#', a trailing space */
		if (strchr(",+\"\\<>;=", c) || (p == user && (c == ' ' || c == '#')) ||
		    (c == ' ' && !p[1]))
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\%02x", c);
		else
			fputc(c, f);
	}
	fputs(at + strlen("{user}"), f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int rain_ldap_authenticate(const struct rain_ldap_config *cfg, const char *user, const char *password)
{
	char *dn = rain_ldap_user_dn(cfg->user_dn, user);
	struct timeval tv = { cfg->timeout_s > 0 ? cfg->timeout_s : 5, 0 };
	struct berval cred;
	LDAP *ld = NULL;
	int version = LDAP_VERSION3, rc, r;

	rain_error_clear();
	if (!dn)
		return rain_error_set(RAIN_EINVAL, "ldap: user_dn '%s' has no {user}", cfg->user_dn ? cfg->user_dn : "");
	/* an empty password would be an anonymous bind, which "succeeds" */
	if (!password || !*password) {
		free(dn);
		return rain_error_set(RAIN_EAUTH, "ldap: empty password");
	}
	rc = ldap_initialize(&ld, cfg->url);
	if (rc != LDAP_SUCCESS) {
		free(dn);
		return rain_error_set(RAIN_EINVAL, "ldap: bad URL %s: %s", cfg->url, ldap_err2string(rc));
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	cred.bv_val = (char *)password;
	cred.bv_len = strlen(password);
	rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc == LDAP_SUCCESS)
		r = 0;
	else if (rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_NO_SUCH_OBJECT || rc == LDAP_INAPPROPRIATE_AUTH ||
		 rc == LDAP_UNWILLING_TO_PERFORM)
		r = rain_error_set(RAIN_EAUTH, "ldap: %s refused the password of %s", cfg->url, dn);
	else
		r = rain_error_set(RAIN_ENET, "ldap: %s: %s", cfg->url, ldap_err2string(rc));
	ldap_unbind_ext_s(ld, NULL, NULL);
	free(dn);
	return r;
}
