/* The rules of files by their mode and content: setuid-file (setuid or
 * setgid regular files not on the policy's list, as `find -type f -perm
 * /6000` lists them: critical when its content is not its package's or
 * anyone may write it, high otherwise), world-writable (regular files writable by all, and
 * directories writable by all without the sticky bit) and private-key (a
 * PEM or OpenSSH private key in a file; ssh host keys are ssh-host-key's).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rain/error.h"
#include "util/cleanup.h"
#include "util/strutil.h"
#include "lib/vet/vet-internal.h"
#include "lib/vet/vet-parse.h"

/* Files up to this size are searched whole for a key; larger ones, their
 * start. */
#define KEY_SCAN_WHOLE (1u << 20)
#define KEY_SCAN_START (64u << 10)

struct fi_state {
	char *buf;              /* the start of the current file, when it came in pieces */
	size_t len;
	/* the current file's start searched where the walk gave it: at,
	 * the key's offset (-1: none) and its kind */
	bool searched;
	ssize_t at;
	char kind[32];
};

static int fi_facts(struct vet_ctx *c)
{
	struct fi_state *st = calloc(1, sizeof(*st));

	if (!st)
		return rain_error_oom();
	c->fi = st;
	st->buf = malloc(KEY_SCAN_WHOLE);
	return st->buf ? 0 : rain_error_oom();
}

static void fi_free(struct vet_ctx *c)
{
	struct fi_state *st = c->fi;

	if (!st)
		return;
	free(st->buf);
	free(st);
	c->fi = NULL;
}

/* Paths whose keys another rule reports: sshd's host keys. */
static bool host_key_path(const char *p)
{
	return str_has_prefix(p, "/etc/ssh/ssh_host_");
}

static uint64_t fi_want(const struct vet_ctx *c, const struct rain_imgfs_entry *e)
{
	if (host_key_path(e->path) || e->size < 64)
		return 0;
	return e->size <= KEY_SCAN_WHOLE ? e->size : KEY_SCAN_START;
}

/* The kind of key of the "-----BEGIN X PRIVATE KEY-----" line at p. */
static void key_kind(const char *p, size_t n, char *out, size_t size)
{
	const char *s = p + 11, *e = memmem(s, n - 11, "PRIVATE KEY-----", 16);
	size_t k = e && e > s ? (size_t)(e - s - 1) : 0;

	if (k >= size)
		k = size - 1;
	memcpy(out, s, k);
	out[k] = '\0';
	for (size_t i = 0; i < k; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = '?';
}

static void key_search(struct fi_state *st, const char *buf, size_t n)
{
	st->at = vet_private_key_find(buf, n);
	if (st->at >= 0)
		key_kind(buf + st->at, n - (size_t)st->at, st->kind, sizeof(st->kind));
	st->searched = true;
}

static int fi_data(struct vet_ctx *c, const struct rain_imgfs_entry *e, const void *buf, size_t n)
{
	struct fi_state *st = c->fi;

	/* all that was wanted at once (vet-walk.c gives it so): no copy */
	if (!st->len && n == fi_want(c, e)) {
		key_search(st, buf, n);
		return 0;
	}
	if (n > KEY_SCAN_WHOLE - st->len)
		n = KEY_SCAN_WHOLE - st->len;
	memcpy(st->buf + st->len, buf, n);
	st->len += n;
	return 0;
}

static json_t *mode_json(const struct rain_imgfs_entry *e)
{
	char mode[8];

	snprintf(mode, sizeof(mode), "%04o", e->mode & 07777);
	return json_pack("{s:s, s:I, s:I}", "mode", mode, "uid", (json_int_t)e->uid, "gid", (json_int_t)e->gid);
}

static int setuid_check(struct vet_ctx *c, const struct rain_imgfs_entry *e)
{
	const char *what = (e->mode & S_ISUID) && (e->mode & S_ISGID) ? "setuid and setgid" :
			   (e->mode & S_ISUID) ? "setuid" : "setgid";
	const char *whose = (e->mode & S_ISUID) ? "owner" : "group";
	json_int_t id = (e->mode & S_ISUID) ? e->uid : e->gid;

	if (vet_glob_any(c->policy->allowed_setuid, c->policy->n_allowed_setuid, e->path))
		return 0;
	if (e->mode & S_IWOTH)
		return vet_finding(c, VET_SETUID_FILE, RAIN_VET_CRITICAL, e->path, c->cur_package,
				   mode_json(e), "%s and writable by anyone (%s %lld)", what, whose,
				   (long long)id);
	if (!c->cur_package)
		return vet_finding(c, VET_SETUID_FILE, RAIN_VET_HIGH, e->path, NULL, mode_json(e),
				   "%s (%s %lld), owned by no package and not on the policy's allowed_setuid",
				   what, whose, (long long)id);
	if (!c->cur_intact)
		return vet_finding(c, VET_SETUID_FILE, RAIN_VET_CRITICAL, e->path, c->cur_package,
				   mode_json(e), "%s (%s %lld) and its content is not its package's",
				   what, whose, (long long)id);
	/* dpkg keeps no modes: the bit may be the package's or added */
	return vet_finding(c, VET_SETUID_FILE, RAIN_VET_HIGH, e->path, c->cur_package, mode_json(e),
			   "%s (%s %lld), content as its package ships it, not on the policy's "
			   "allowed_setuid", what, whose, (long long)id);
}

static int key_check(struct vet_ctx *c, const struct rain_imgfs_entry *e, const char *kind)
{
	/* a key its package ships unchanged is test or example data */
	if (c->cur_package && c->cur_intact)
		return vet_finding(c, VET_PRIVATE_KEY, RAIN_VET_INFO, e->path, c->cur_package,
				   json_pack("{s:s}", "kind", kind),
				   "a %sprivate key, shipped so by its package", *kind ? "" : "PKCS#8 ");
	return vet_finding(c, VET_PRIVATE_KEY, RAIN_VET_HIGH, e->path, c->cur_package,
			   json_pack("{s:s}", "kind", kind),
			   "a %s%sprivate key: every machine made from the image has it", kind, *kind ? " " : "");
}

static int fi_entry(struct vet_ctx *c, const struct rain_imgfs_entry *e)
{
	struct fi_state *st = c->fi;
	bool key;
	int r;

	if (!st->searched)
		key_search(st, st->buf, st->len);
	key = st->at >= 0;
	st->len = 0;
	st->searched = false;
	if (S_ISREG(e->mode)) {
		if (e->mode & (S_ISUID | S_ISGID)) {
			r = setuid_check(c, e);
			if (r < 0)
				return r;
		}
		if (e->mode & S_IWOTH) {
			r = vet_finding(c, VET_WORLD_WRITABLE, RAIN_VET_HIGH, e->path, c->cur_package,
					mode_json(e), "a file anyone may write");
			if (r < 0)
				return r;
		}
		return key ? key_check(c, e, st->kind) : 0;
	}
	if (S_ISDIR(e->mode) && (e->mode & S_IWOTH) && !(e->mode & S_ISVTX))
		return vet_finding(c, VET_WORLD_WRITABLE, RAIN_VET_HIGH, e->path, c->cur_package, mode_json(e),
				   "a directory anyone may write, without the sticky bit (anyone may "
				   "remove or replace the files of others)");
	return 0;
}

const struct vet_group vet_group_files = {
	.name = "files",
	.facts = fi_facts,
	.want = fi_want,
	.data = fi_data,
	.entry = fi_entry,
	.free = fi_free,
};
