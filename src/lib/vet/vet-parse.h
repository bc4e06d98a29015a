/* The text formats vetting reads from an image, parsed from memory (an
 * image's files are untrusted input: tests/fuzz/fuzz-vet-parse.c).
 *
 * Every parser takes text of len bytes (a NUL byte ends the line it is
 * in), calls cb for each record with strings valid during the call only,
 * and returns 0, the callback's negative code, or RAIN_ENOMEM. Lines a
 * parser cannot read are skipped as the tool that owns the format skips
 * them (glibc for passwd, sshd, dpkg), and counted in *bad when bad is
 * not NULL.
 */
#ifndef RAIN_VET_PARSE_H
#define RAIN_VET_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* /etc/passwd: name:password:uid:gid:gecos:home:shell. */
struct vet_passwd_line {
	const char *name, *password, *gecos, *home, *shell;
	uint32_t uid, gid;
};
int vet_passwd_parse(const char *text, size_t len,
		     int (*cb)(void *ud, const struct vet_passwd_line *pw), void *ud, size_t *bad);

/* /etc/shadow: name:hash:... (only the first two fields). */
int vet_shadow_parse(const char *text, size_t len,
		     int (*cb)(void *ud, const char *name, const char *hash), void *ud, size_t *bad);

/* sshd_config: a keyword and its arguments per line ("Keyword arg ...",
 * "Keyword=arg"; double quotes group; '#' starts a comment where a word
 * would start). Limits the number of arguments to 256 per line. */
int vet_sshd_parse(const char *text, size_t len,
		   int (*cb)(void *ud, unsigned line, const char *keyword, char **args, size_t nargs),
		   void *ud, size_t *bad);

/* A package's md5sums: "MD5  path" (32 lowercase hex digits, spaces,
 * then the path relative to "/"; "./" is dropped). path is absolute. */
int vet_md5sums_parse(const char *text, size_t len,
		      int (*cb)(void *ud, const char *md5, const char *path), void *ud, size_t *bad);

/* A package's .list: one absolute path per line ("/." is skipped). */
int vet_list_parse(const char *text, size_t len, int (*cb)(void *ud, const char *path), void *ud,
		   size_t *bad);

/* /etc/inetd.conf: the enabled lines (service socktype proto wait user
 * server [args...]); lines of comments and "#<off>#" lines are off. */
struct vet_inetd_line {
	unsigned line;
	const char *service, *socktype, *proto, *wait, *user, *server;
	const char *args;       /* the rest of the line, may be "" */
};
int vet_inetd_parse(const char *text, size_t len,
		    int (*cb)(void *ud, const struct vet_inetd_line *l), void *ud, size_t *bad);

/* dpkg's status file: per stanza the package, its architecture, status,
 * and conffiles (paths, NULL terminated). */
struct vet_dpkg_stanza {
	unsigned line;          /* where the stanza starts */
	const char *package, *arch, *status;
	const char *const *conffiles;
	size_t n_conffiles;
};
int vet_dpkg_status_parse(const char *text, size_t len,
			  int (*cb)(void *ud, const struct vet_dpkg_stanza *s), void *ud, size_t *bad);

/* /var/lib/dpkg/diversions: three lines per diversion (from, to, the
 * diverting package; ":" for a local diversion). */
int vet_diversions_parse(const char *text, size_t len,
			 int (*cb)(void *ud, const char *from, const char *to, const char *by),
			 void *ud, size_t *bad);

/* dpkg.cfg and the files of dpkg.cfg.d: the path-exclude= and path-include= lines,
 * in order. */
int vet_dpkg_cfg_parse(const char *text, size_t len,
		       int (*cb)(void *ud, bool exclude, const char *glob), void *ud, size_t *bad);

/* os-release: KEY=VALUE (VALUE unquoted as the shell would). */
int vet_os_release_parse(const char *text, size_t len,
			 int (*cb)(void *ud, const char *key, const char *value), void *ud, size_t *bad);

/* An authorized_keys line: its options (may be ""), key type, base64 key
 * and comment (may be ""). 0, or RAIN_EINVAL when the line holds no key
 * (a blank or comment line, or garbage). Strings point into buf, which
 * the line is copied into (size bytes at least strlen(line)+1). */
struct vet_authkey {
	const char *options, *type, *key, *comment;
};
int vet_authkey_parse(const char *line, char *buf, size_t size, struct vet_authkey *out);

/* A PEM or OpenSSH private key starts in buf (n bytes): the offset of the
 * first "-----BEGIN ... PRIVATE KEY-----" line that starts a line and is
 * followed by a line of base64 or a header, else -1. */
ssize_t vet_private_key_find(const char *buf, size_t n);

#endif
