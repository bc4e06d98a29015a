#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "rain/auth.h"
#include "rain/error.h"
#include "util/strutil.h"

#define SALT_LEN 16
#define HASH_LEN 32
#define PASSWORD_MAX RAIN_PASSWORD_MAX

int rain_password_check(const char *password, int min_chars)
{
	size_t bytes = password ? strlen(password) : 0, chars = 0;

	rain_error_clear();
	for (size_t i = 0; i < bytes; i++)
		chars += ((unsigned char)password[i] & 0xc0) != 0x80;   /* not a continuation byte */
	if (bytes > PASSWORD_MAX)
		return rain_error_set(RAIN_EINVAL, "the password is too long: at most %d bytes",
				      PASSWORD_MAX);
	if (bytes == 0 || chars < (size_t)(min_chars > 1 ? min_chars : 1))
		return rain_error_set(RAIN_EINVAL, "the password is too short: %zu character%s, at least "
				      "%d wanted ([auth] min_password_length)", chars,
				      chars == 1 ? "" : "s", min_chars > 1 ? min_chars : 1);
	return 0;
}

int rain_password_hash(const char *password, char **encoded)
{
	unsigned char salt[SALT_LEN];
	size_t plen = strlen(password), elen;
	char *out;
	int rc;

	rain_error_clear();
	*encoded = NULL;
	if (plen == 0 || plen > PASSWORD_MAX)
		return rain_error_set(RAIN_EINVAL, "a password must be 1 to %d bytes", PASSWORD_MAX);
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return rain_error_set(RAIN_EIO, "no randomness for the password salt");
	elen = argon2_encodedlen(RAIN_ARGON2_T, RAIN_ARGON2_M, RAIN_ARGON2_P, SALT_LEN, HASH_LEN,
				 Argon2_id);
	out = malloc(elen);
	if (!out)
		return rain_error_oom();
	rc = argon2id_hash_encoded(RAIN_ARGON2_T, RAIN_ARGON2_M, RAIN_ARGON2_P, password, plen,
				   salt, sizeof(salt), HASH_LEN, out, elen);
	if (rc != ARGON2_OK) {
		free(out);
		return rain_error_set(rc == ARGON2_MEMORY_ALLOCATION_ERROR ? RAIN_ENOMEM : RAIN_EIO,
				      "argon2id: %s", argon2_error_message(rc));
	}
	*encoded = out;
	return 0;
}

int rain_password_verify(const char *encoded, const char *password)
{
	size_t plen = strlen(password);
	int rc;

	rain_error_clear();
	if (!encoded || strncmp(encoded, "$argon2id$", 10) != 0)
		return rain_error_set(RAIN_EINVAL, "not an Argon2id password hash");
	if (plen > PASSWORD_MAX)
		plen = PASSWORD_MAX;   /* still costs a hash, and cannot match */
	rc = argon2id_verify(encoded, password, plen);
	if (rc == ARGON2_OK && plen == strlen(password))
		return 0;
	if (rc == ARGON2_OK || rc == ARGON2_VERIFY_MISMATCH)
		return rain_error_set(RAIN_EAUTH, "wrong password");
	if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
		return rain_error_set(RAIN_ENOMEM, "argon2id: %s", argon2_error_message(rc));
	return rain_error_set(RAIN_EINVAL, "bad Argon2id password hash: %s", argon2_error_message(rc));
}

/* Every request with a user token hashes it: fetch SHA-256 once, not per
 * call as OpenSSL 3's SHA256() does (a lookup under a lock each time). */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void rain_token_hash(const char *token, char *hash)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	pthread_once(&sha256_once, sha256_fetch);
	if (!sha256_md || !EVP_Digest(token, strlen(token), md, NULL, sha256_md, NULL))
		SHA256((const unsigned char *)token, strlen(token), md);
	hex_encode(md, sizeof(md), hash);
	OPENSSL_cleanse(md, sizeof(md));
}

int rain_token_new(char *token, char *hash)
{
	unsigned char raw[RAIN_TOKEN_LEN / 2];

	rain_error_clear();
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return rain_error_set(RAIN_EIO, "no randomness for a token");
	hex_encode(raw, sizeof(raw), token);
	OPENSSL_cleanse(raw, sizeof(raw));
	rain_token_hash(token, hash);
	return 0;
}

bool rain_token_hash_equal(const char *a, const char *b)
{
	return strlen(a) == RAIN_TOKEN_HASH_LEN && strlen(b) == RAIN_TOKEN_HASH_LEN &&
	       CRYPTO_memcmp(a, b, RAIN_TOKEN_HASH_LEN) == 0;
}

int rain_password_generate(char *out, size_t len)
{
	static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	const size_t n = sizeof(alphabet) - 1;   /* 57 */

	rain_error_clear();
	for (size_t i = 0; i < len;) {
		unsigned char b;

		if (RAND_bytes(&b, 1) != 1)
			return rain_error_set(RAIN_EIO, "no randomness for a password");
		if (b >= 256 - 256 % n)
			continue;   /* no modulo bias */
		out[i++] = alphabet[b % n];
	}
	out[len] = '\0';
	return 0;
}
