/* Passwords and tokens of raind's users.
 *
 * Passwords are hashed with Argon2id (libargon2) and kept in the standard
 * encoded form "$argon2id$v=19$m=32768,t=3,p=1$SALT$HASH" (16 random salt
 * bytes, 32 hash bytes, base64 without padding). The parameters cost about
 * 60 ms and 32 MiB per hash on a 2020s x86 core (see bench/); the encoded
 * form records them, so raising them later keeps old hashes verifiable.
 *
 * Tokens are 32 random bytes (OpenSSL RAND_bytes) written as 64 lowercase
 * hex characters. The client sees a token once; the catalog keeps only its
 * SHA-256 (rain_token_hash) and looks tokens up by that hash.
 *
 * Nothing here prints; errors are rain error codes with a message.
 */
#ifndef RAIN_AUTH_H
#define RAIN_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define RAIN_ARGON2_T 3         /* passes */
#define RAIN_ARGON2_M 32768     /* KiB */
#define RAIN_ARGON2_P 1         /* lanes */

#define RAIN_TOKEN_LEN 64       /* hex characters of a token */
#define RAIN_TOKEN_HASH_LEN 64  /* hex characters of its SHA-256 */

/* The default of [auth] min_password_length: NIST SP 800-63B's minimum
 * for passwords a user chooses; and the most raind allows to ask. */
#define RAIN_PASSWORD_MIN_DEFAULT 8
#define RAIN_PASSWORD_MAX 4096  /* bytes */

/* Whether password may be set as a new one: at least min_chars characters
 * (Unicode code points of its UTF-8, as NIST SP 800-63B counts them; a
 * byte that is not UTF-8 counts as one) and at most RAIN_PASSWORD_MAX
 * bytes. 0, or RAIN_EINVAL with a message that says what is wanted (the
 * password itself is never in it). Existing passwords are not checked at
 * login: only new ones. */
int rain_password_check(const char *password, int min_chars);

/* Hash password (any bytes up to NUL, at most 4096) into a new string
 * *encoded (free() it). RAIN_EINVAL for an empty or too long password. */
int rain_password_hash(const char *password, char **encoded);

/* 0 when password matches encoded, RAIN_EAUTH when it does not,
 * RAIN_EINVAL when encoded is not an Argon2id hash. Takes as long as
 * hashing does. */
int rain_password_verify(const char *encoded, const char *password);

/* A new random token in token (RAIN_TOKEN_LEN + 1 bytes, NUL-terminated)
 * and its hash in hash (RAIN_TOKEN_HASH_LEN + 1). RAIN_EIO without
 * randomness. */
int rain_token_new(char *token, char *hash);

/* The hash (RAIN_TOKEN_HASH_LEN + 1 bytes) of any token text: the hex of
 * SHA-256 over its bytes. */
void rain_token_hash(const char *token, char *hash);

/* Compare two token hashes in constant time (CRYPTO_memcmp). */
bool rain_token_hash_equal(const char *a, const char *b);

/* A random password of len characters (letters and digits) into out
 * (len + 1 bytes). RAIN_EIO without randomness. */
int rain_password_generate(char *out, size_t len);

#endif
