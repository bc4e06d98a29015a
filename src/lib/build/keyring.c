/* Archive and repository signing keys (keyring.h). librpm's OpenPGP code
 * reads the keys: pgpParsePkts takes the armor off, pgpPubKeyCertLen
 * splits a keyring into its certificates and pgpPubkeyFingerprint hashes
 * a certificate's primary key (v4 only; v3 keys are long gone). */
#include <rpm/rpmpgp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/build/keyring.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/strutil.h"

/* A keyring of more certificates than this is no archive's. */
#define KEYRING_MAX_KEYS 256

int keyring_fingerprints(const void *data, size_t len, const char *where, char ***fps, size_t *n)
{
	_cleanup_free_ uint8_t *armored = NULL;
	_cleanup_free_ char *text = NULL;
	const uint8_t *pkts = data;
	size_t pktlen = len, off = 0;
	int ret = 0;

	*fps = NULL;
	*n = 0;
	if (len == 0 || len > KEYRING_MAX)
		return rain_error_set(RAIN_EFORMAT, "%s: %s", where,
				      len ? "is over 1 MiB, which no keyring is" : "is empty, not a keyring");
	/* a binary packet starts with its tag's high bit set; armor is text */
	if (!(pkts[0] & 0x80)) {
		if (memchr(data, '\0', len))
			return rain_error_set(RAIN_EFORMAT, "%s: is neither an OpenPGP keyring nor ASCII armor", where);
		if (!(text = strndup(data, len)))
			return rain_error_oom();
		if (pgpParsePkts(text, &armored, &pktlen) != PGPARMOR_PUBKEY || !armored)
			return rain_error_set(RAIN_EFORMAT, "%s: is no ASCII-armored public key block "
					      "(-----BEGIN PGP PUBLIC KEY BLOCK-----) and no binary keyring", where);
		pkts = armored;
	}
	while (off < pktlen && ret == 0) {
		size_t certlen = 0, fplen = 0;
		uint8_t *fp = NULL;

		if (pgpPubKeyCertLen(pkts + off, pktlen - off, &certlen) != 0 || certlen == 0 ||
		    certlen > pktlen - off) {
			ret = rain_error_set(RAIN_EFORMAT, "%s: byte %zu: no OpenPGP public key certificate there",
					     where, off);
			break;
		}
		if (*n == KEYRING_MAX_KEYS)
			ret = rain_error_set(RAIN_EFORMAT, "%s: holds more than %d keys", where, KEYRING_MAX_KEYS);
		else if (pgpPubkeyFingerprint(pkts + off, certlen, &fp, &fplen) == 0 && fplen == 20) {
			char hex[RAIN_FINGERPRINT_LEN + 1];

			hex_encode(fp, fplen, hex);
			for (char *p = hex; *p; p++)
				if (*p >= 'a' && *p <= 'f')
					*p = (char)(*p - 'a' + 'A');
			ret = strv_add(fps, n, hex);
		}
		/* else a v3 or v5 key, or one librpm cannot read: not a pin's */
		free(fp);
		off += certlen;
	}
	if (ret == 0 && *n == 0)
		ret = rain_error_set(RAIN_EFORMAT, "%s: holds no OpenPGP v4 public key", where);
	if (ret < 0) {
		strv_free(*fps, *n);
		*fps = NULL;
		*n = 0;
	}
	return ret;
}

static bool holds(char *const *fps, size_t n, const char *fp)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(fps[i], fp))
			return true;
	return false;
}

int keyring_check(const struct rain_recipe *r, const char *where, char *const *fps, size_t n)
{
	_cleanup_free_ char *held = strv_join(fps, n, ", ");
	char want[512] = "";
	size_t used = 0;

	if (!held)
		return rain_error_oom();
	if (r->key_fingerprint) {
		if (holds(fps, n, r->key_fingerprint))
			return 0;
		return rain_error_set(RAIN_EINVAL, "%s: [image] keyring %s holds no key with the fingerprint "
				      "%s that [image] key_fingerprint pins (it holds %s): give the keyring "
				      "with that key, or pin one of its keys", r->file, where,
				      r->key_fingerprint, held);
	}
	for (const struct rain_archive_key *k = rain_recipe_archive_keys; k->distribution; k++) {
		if (strcmp(k->distribution, r->distribution))
			continue;
		if (holds(fps, n, k->fingerprint))
			return 0;
		used += (size_t)snprintf(want + used, used < sizeof(want) ? sizeof(want) - used : 0,
					 "%s%s %s", used ? " or " : "", k->name, k->fingerprint);
	}
	if (!want[0])
		return 0;
	return rain_error_set(RAIN_EINVAL, "%s: [image] keyring %s holds none of %s's archive keys (%s); "
			      "it holds %s: give %s's archive keyring (ubuntu-archive-keyring.gpg), or pin "
			      "the key that signs your mirror with [image] key_fingerprint", r->file, where,
			      r->distribution, want, held, r->distribution);
}

int keyring_missing(const struct rain_recipe *r)
{
	const struct rain_archive_key *k;

	for (k = rain_recipe_archive_keys; k->distribution; k++)
		if (!strcmp(k->distribution, r->distribution))
			break;
	if (!k->distribution)
		return rain_error_set(RAIN_ENOTFOUND, "%s: %s needs [image] keyring, the key its packages "
				      "are signed with", r->file, r->distribution);
	return rain_error_set(RAIN_ENOTFOUND, "%s: %s %s is signed with the %s, fingerprint %s, and this "
			      "machine has no keyring holding it (Debian ships none): set [image] keyring "
			      "to one, such as ubuntu-archive-keyring.gpg from the archive's ubuntu-keyring "
			      "package (pool/main/u/ubuntu-keyring/)", r->file, r->distribution, r->release,
			      k->name, k->fingerprint);
}
