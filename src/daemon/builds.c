/* raind's build service; see daemon/builds.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/builds.h"
#include "daemon/log.h"
#include "rain/auth.h"
#include "rain/build-image.h"
#include "rain/build-record.h"
#include "rain/error.h"
#include "rain/policy.h"
#include "rain/recipe.h"
#include "util/base64.h"
#include "util/fsutil.h"
#include "util/process.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/uuid.h"

#define CANCEL_WAIT_S 60        /* how long a cancel waits for a running build */
#define ORPHAN_WAIT_S 15        /* how long start-up waits for leftover builds to stop */
#define STOPPED_MSG "raind stopped during the build"
#define TOKEN_FILE "token.sha256"   /* the hash of the build's token, while it may be live */

extern char **environ;

struct owner;

struct build {
	struct build *next;
	struct rain_build_record rec;
	char *dir;
	struct owner *owner;            /* rec.owner's figures */
	int64_t seq;                    /* submission order, for equal times */
	int64_t qidx;                   /* queued: how many of its owner's are older
					   (valid after queue_scan_locked()) */
	volatile sig_atomic_t cancel;   /* non-zero: stop the child */
	bool user_canceled;             /* ... because a user asked */
};

/* What the limits and the fair queue know of one user (the lock guards). */
struct owner {
	struct owner *next;
	char *name;
	int queued, running;            /* their builds in these states */
	int submitting;                 /* their submissions being received */
	int64_t last_started;           /* builds_started when one of theirs last
					   started; 0: not since raind started */
	/* queue_scan_locked()'s */
	struct build *oldest;           /* their oldest queued build */
	int64_t seen;
};

struct builds {
	struct builds_config cfg;       /* strings owned below */
	char *dir, *cache_dir, *rain_command, *disabled_why, *admin_token;
	char *repo_url, *repo_cacert;   /* where the builds reach the repository */
	struct rain_repo *repo;
	pthread_mutex_t lock;
	pthread_cond_t work;            /* a build was queued, or stopping */
	pthread_cond_t changed;         /* a log grew or a status changed */
	struct build *list;             /* newest first */
	struct owner *owners;
	int64_t next_seq;
	int64_t builds_started;
	bool stopping, quiescing;
	pthread_t *workers;
	int nworkers;
};

struct builds_log {
	struct builds *b;
	char id[UUID_STR_LEN];
	char *path;
	int fd;
	int64_t off;
	bool follow;
};

/* ---- records ---------------------------------------------------------- */

static struct build *find_locked(struct builds *b, const char *id)
{
	for (struct build *e = b->list; e; e = e->next)
		if (!strcasecmp(e->rec.id, id))
			return e;
	return NULL;
}

static bool may_see(const struct rain_who *who, const struct build *e, enum rain_action action)
{
	return rain_policy_check_owned(who, e->rec.owner, e->rec.id, action) == 0;
}

/* The build id names, if who may do action to it (rain/policy.h); others'
 * builds are not found. */
static struct build *find_visible(struct builds *b, const struct rain_who *who, const char *id,
				  enum rain_action action)
{
	struct build *e = uuid_is_valid(id) ? find_locked(b, id) : NULL;

	if (!e || !may_see(who, e, action)) {
		rain_error_set(RAIN_ENOTFOUND, "no build %s", id);
		return NULL;
	}
	return e;
}

/* Write the record into dir (atomically, durably). */
static int save_record(struct build *e, const char *dir)
{
	_cleanup_free_ char *path = fs_path_join(dir, "build.json"), *text = NULL;
	json_t *j = rain_build_record_to_json(&e->rec);
	int r;

	text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!path || !text)
		return RAIN_ENOMEM;
	r = fs_write_atomic(path, text, strlen(text), 0600);
	if (r < 0)
		log_printf(LOG_ERROR, "build %s: cannot save its record: %s", e->rec.id,
			   rain_error_last());
	return r;
}

/* Write the record (called with the lock held: records change under it). */
static int save_locked(struct build *e)
{
	return save_record(e, e->dir);
}

static bool older(const struct build *a, const struct build *b)
{
	return a->rec.created_us < b->rec.created_us ||
	       (a->rec.created_us == b->rec.created_us && a->seq < b->seq);
}

static void count_locked(struct build *e, int d);

/* Insert keeping the list newest first. */
static void insert_locked(struct builds *b, struct build *e)
{
	struct build **p = &b->list;

	while (*p && older(e, *p))
		p = &(*p)->next;
	e->next = *p;
	*p = e;
	count_locked(e, 1);
}

static void build_free(struct build *e)
{
	if (!e)
		return;
	rain_build_record_clear(&e->rec);
	free(e->dir);
	free(e);
}

static int64_t position_locked(struct builds *b, const struct build *e);

/* (queued builds: after queue_scan_locked()) */
static json_t *record_json_locked(struct builds *b, const struct build *e)
{
	json_t *j = rain_build_record_to_json(&e->rec);
	char link[80];

	if (!j)
		return NULL;
	snprintf(link, sizeof(link), "/rain/v1/builds/%s/log", e->rec.id);
	json_object_set_new(j, "log", json_string(link));
	if (e->rec.status == RAIN_BUILD_QUEUED)
		json_object_set_new(j, "position", json_integer(position_locked(b, e)));
	if (e->user_canceled && e->rec.status == RAIN_BUILD_RUNNING)
		json_object_set_new(j, "cancel_requested", json_true());
	return j;
}

/* ---- files ------------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Remove a tree without following symbolic links or leaving the file
 * system (a build's root tree may hold anything). */
static void remove_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Create path with data; sync: make it durable too. */
static int write_file(const char *path, const void *data, size_t len, mode_t mode, bool sync)
{
	const char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	int r = 0;

	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", path);
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = rain_error_errno(errno == ENOSPC ? RAIN_ENOSPC : RAIN_EIO, errno,
					     "cannot write %s", path);
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (r == 0 && fchmod(fd, mode) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot set the mode of %s", path);
	if (r == 0 && sync && fsync(fd) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot fsync %s", path);
	close(fd);
	return r;
}

/* ---- owners: per-user limits and the fair queue ------------------------ */

/* Find or add name's entry (NULL when out of memory). Entries stay until
 * builds_stop(): there is one per user who ever submitted. */
static struct owner *owner_get_locked(struct builds *b, const char *name)
{
	struct owner *o;

	for (o = b->owners; o; o = o->next)
		if (!strcmp(o->name, name))
			return o;
	o = calloc(1, sizeof(*o));
	if (!o || !(o->name = strdup(name))) {
		free(o);
		return NULL;
	}
	o->next = b->owners;
	b->owners = o;
	return o;
}

/* Count e (d = 1) or stop counting it (d = -1) in its owner's figures. */
static void count_locked(struct build *e, int d)
{
	if (!e->owner)
		return;
	if (e->rec.status == RAIN_BUILD_QUEUED)
		e->owner->queued += d;
	else if (e->rec.status == RAIN_BUILD_RUNNING)
		e->owner->running += d;
}

static void set_status_locked(struct build *e, enum rain_build_status st)
{
	count_locked(e, -1);
	e->rec.status = st;
	count_locked(e, 1);
}

/* Each owner's oldest queued build, and for each queued build how many
 * of its owner's are older (qidx): one pass over the list. */
static void queue_scan_locked(struct builds *b)
{
	for (struct owner *o = b->owners; o; o = o->next) {
		o->oldest = NULL;
		o->seen = 0;
	}
	for (struct build *e = b->list; e; e = e->next)     /* newest first */
		if (e->rec.status == RAIN_BUILD_QUEUED && e->owner) {
			e->qidx = e->owner->queued - 1 - e->owner->seen++;
			e->owner->oldest = e;
		}
}

/* Round robin between owners: o's turn comes before p's when a build of
 * o's last started longer ago (or never), then when o waits longer. */
static bool turn_before(const struct owner *o, const struct owner *p)
{
	if (o->last_started != p->last_started)
		return o->last_started < p->last_started;
	return o->oldest && p->oldest && older(o->oldest, p->oldest);
}

/* 1 for the build that starts next (after queue_scan_locked()): each
 * round of the queue starts one build of every owner who has one queued. */
static int64_t position_locked(struct builds *b, const struct build *e)
{
	int64_t pos = 1 + e->qidx;

	for (const struct owner *o = b->owners; o; o = o->next) {
		int64_t n;

		if (o == e->owner || !o->oldest)
			continue;
		n = e->qidx + (turn_before(o, e->owner) ? 1 : 0);
		pos += n < o->queued ? n : o->queued;
	}
	return pos;
}

/* The next build to start: the oldest queued build of the owner whose
 * turn it is, among those under [builds] max_running_per_user. */
static struct build *next_queued_locked(struct builds *b)
{
	struct owner *best = NULL;

	queue_scan_locked(b);
	for (struct owner *o = b->owners; o; o = o->next) {
		if (!o->oldest)
			continue;
		if (b->cfg.max_running_per_user > 0 && o->running >= b->cfg.max_running_per_user)
			continue;
		if (!best || turn_before(o, best))
			best = o;
	}
	return best ? best->oldest : NULL;
}

/* ---- submission ------------------------------------------------------- */

/* Set code with the last message prefixed by prefix and what (quoted
 * when prefix is "file "): "recipe: [files] copy: <message>". */
static int rewrap(int code, const char *prefix, const char *what)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s", rain_error_last());
	if (!*prefix)
		return rain_error_set(code, "%s", msg);
	if (!strcmp(prefix, "file "))
		return rain_error_set(code, "file '%s': %s", what, msg);
	return rain_error_set(code, "%s%s: %s", prefix, what, msg);
}

/* A set of strings (open addressing, FNV-1a), for checks in linear time
 * over the files of a submission. The strings are borrowed. */
struct name_set {
	const char **slots;
	size_t cap;                 /* a power of two, at least twice the entries */
};

static uint64_t name_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static int name_set_init(struct name_set *set, size_t n)
{
	set->cap = 16;
	while (set->cap < 2 * n + 2)
		set->cap *= 2;
	set->slots = calloc(set->cap, sizeof(*set->slots));
	return set->slots ? 0 : RAIN_ENOMEM;
}

/* The slot of the first len bytes of s: holding an equal string, or free. */
static const char **name_set_slot(const struct name_set *set, const char *s, size_t len)
{
	size_t i = (size_t)name_hash(s, len) & (set->cap - 1);

	while (set->slots[i] && (strncmp(set->slots[i], s, len) || set->slots[i][len]))
		i = (i + 1) & (set->cap - 1);
	return &set->slots[i];
}

static bool name_set_has(const struct name_set *set, const char *s, size_t len)
{
	return *name_set_slot(set, s, len) != NULL;
}

/* Add s (kept, not copied); false when it was there already. */
static bool name_set_add(struct name_set *set, const char *s)
{
	const char **slot = name_set_slot(set, s, strlen(s));

	if (*slot)
		return false;
	*slot = s;
	return true;
}

struct input_file {
	char *name;                 /* normalized */
	const char *data;           /* base64, in the request's JSON */
	size_t data_len;
	mode_t mode;
};

struct submission_files {
	struct input_file *files;
	size_t nfiles;
	struct name_set names;      /* the files' names */
	char **dirs;                /* their parent directories ("a", "a/b") */
	size_t ndirs;
};

static void files_clear(struct submission_files *s)
{
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i].name);
	free(s->files);
	strv_free(s->dirs, s->ndirs);
	free(s->names.slots);
}

/* "files": {"NAME": "BASE64" | {"data": "BASE64", "mode": N}, ...}: at
 * most max_files, RAIN_BUILD_FILES_MAX bytes, names unique once
 * normalized, none both a file and another's directory; all in time
 * linear in the size of the request. The data is decoded when written. */
static int parse_files(struct builds *b, json_t *files, struct submission_files *s)
{
	struct name_set dirs = { NULL, 0 };
	const char *key;
	json_t *v;
	int64_t total = 0;
	size_t n;
	int r;

	if (!files || json_is_null(files))
		return 0;
	if (!json_is_object(files))
		return rain_error_set(RAIN_EINVAL, "\"files\" must be an object of file name: base64 data");
	n = json_object_size(files);
	if (b->cfg.max_files > 0 && n > (size_t)b->cfg.max_files)
		return rain_error_set(RAIN_ETOOBIG, "the build sends %zu files, more than the %d one "
				      "build may have ([builds] max_files); pack them into fewer "
				      "files, e.g. a tar archive that the recipe's [scripts] unpack",
				      n, b->cfg.max_files);
	s->files = calloc(n + 1, sizeof(*s->files));
	if (!s->files || name_set_init(&s->names, n) < 0 || name_set_init(&dirs, n) < 0) {
		free(dirs.slots);
		return RAIN_ENOMEM;
	}
	r = 0;
	json_object_foreach(files, key, v) {
		struct input_file *f = &s->files[s->nfiles];
		json_t *data = v, *mode = NULL;

		r = rain_build_file_name(key, &f->name);
		if (r < 0)
			break;
		s->nfiles++;
		if (!name_set_add(&s->names, f->name)) {
			r = rain_error_set(RAIN_EINVAL, "file '%s' is sent twice", key);
			break;
		}
		f->mode = 0644;
		if (json_is_object(v)) {
			data = json_object_get(v, "data");
			mode = json_object_get(v, "mode");
		}
		if (!json_is_string(data)) {
			r = rain_error_set(RAIN_EINVAL, "file '%s': the data must be a base64 string", key);
			break;
		}
		if (mode) {
			if (!json_is_integer(mode) || json_integer_value(mode) < 0 ||
			    json_integer_value(mode) > 0777) {
				r = rain_error_set(RAIN_EINVAL, "file '%s': mode must be a number from 0 "
						   "to 0777", key);
				break;
			}
			f->mode = (mode_t)json_integer_value(mode);
		}
		f->data = json_string_value(data);
		f->data_len = json_string_length(data);
		total += (int64_t)base64_decoded_max(f->data_len);
		if (total > RAIN_BUILD_FILES_MAX + 2) {
			r = rain_error_set(RAIN_ETOOBIG, "the files sent with the build exceed %" PRId64
					   " MiB", RAIN_BUILD_FILES_MAX >> 20);
			break;
		}
		/* every directory above it, once, parents before children
		 * ("a/b/c": "a", then "a/b") */
		size_t first = s->ndirs;

		for (char *slash = strrchr(f->name, '/'); slash; ) {
			size_t len = (size_t)(slash - f->name);
			char *dir;

			if (name_set_has(&dirs, f->name, len))
				break;
			dir = strndup(f->name, len);
			if (!dir || strv_add(&s->dirs, &s->ndirs, dir) < 0) {
				free(dir);
				r = RAIN_ENOMEM;
				break;
			}
			free(dir);
			name_set_add(&dirs, s->dirs[s->ndirs - 1]);
			slash = memrchr(f->name, '/', len);
		}
		if (r < 0)
			break;
		for (size_t i = first, j = s->ndirs; i + 1 < j; i++, j--) {
			char *t = s->dirs[i];

			s->dirs[i] = s->dirs[j - 1];
			s->dirs[j - 1] = t;
		}
	}
	/* "a" and "a/b" cannot both be files */
	for (size_t i = 0; r == 0 && i < s->ndirs; i++)
		if (name_set_has(&s->names, s->dirs[i], strlen(s->dirs[i])))
			r = rain_error_set(RAIN_EINVAL, "file '%s' cannot be both a file and the "
					   "directory of other files", s->dirs[i]);
	free(dirs.slots);
	return r;
}

/* Every file the recipe reads must be relative and among those sent. */
static int check_recipe_files(const struct rain_recipe *r, const struct submission_files *s)
{
	for (size_t i = 0; i < r->nfiles + r->nscripts; i++) {
		const char *what = i < r->nfiles ? "[files] copy" : "[scripts] run";
		const char *src = i < r->nfiles ? r->files[i].src : r->scripts[i - r->nfiles];
		_cleanup_free_ char *name = NULL;
		int ret;

		if (src[0] == '/')
			return rain_error_set(RAIN_EINVAL, "recipe: %s: '%s' is an absolute path; a "
					      "build on the server can only use files sent with it, "
					      "named relative to the recipe", what, src);
		ret = rain_build_file_name(src, &name);
		if (ret < 0)
			return rewrap(ret, "recipe: ", what);
		if (!s->names.slots || !name_set_has(&s->names, name, strlen(name)))
			return rain_error_set(RAIN_EINVAL, "recipe: %s: '%s' was not sent in \"files\"",
					      what, src);
	}
	return 0;
}

struct builds_submission {
	struct builds *b;
	struct owner *owner;
	struct rain_who who;        /* who.owner points to owner->name */
	bool (*gone)(void *ud);
	void *gone_ud;
};

/* Whether the client went away, or raind is stopping: then the
 * submission is dropped. */
static int check_gone(struct builds_submission *sub)
{
	bool stopping;

	pthread_mutex_lock(&sub->b->lock);
	stopping = sub->b->quiescing;
	pthread_mutex_unlock(&sub->b->lock);
	if (stopping)
		return rain_error_set(RAIN_ECANCELED, "raind is stopping; submit the build again "
				      "once it is back");
	if (sub->gone && sub->gone(sub->gone_ud))
		return rain_error_set(RAIN_ECANCELED, "the client went away before the build was "
				      "accepted");
	return 0;
}

/* Lay out the build in the private directory stage (under the builds
 * directory, named .staging-ID: removed at start-up if raind stops
 * meanwhile) and make it durable; *bytes is what it takes. Nothing here
 * holds the lock. */
static int stage_build(struct builds_submission *sub, struct build *e, const char *stage,
		       const char *recipe, const struct submission_files *s, int64_t *bytes)
{
	_cleanup_free_ char *input = fs_path_join(stage, "input");
	_cleanup_free_ char *copy = input ? fs_path_join(input, RAIN_BUILD_RECIPE_NAME) : NULL;
	_cleanup_free_ char *text = fs_path_join(stage, "recipe");
	_cleanup_free_ char *logp = fs_path_join(stage, "log");
	size_t rlen = strlen(recipe);
	int fd, r = 0;

	*bytes = 0;
	if (!input || !copy || !text || !logp)
		return RAIN_ENOMEM;
	if (mkdir(stage, 0700) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", stage);
	if (mkdir(input, 0700) < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot create %s", input);
	for (size_t i = 0; r == 0 && i < s->ndirs; i++) {       /* parents first */
		_cleanup_free_ char *path = fs_path_join(input, s->dirs[i]);

		if (!path)
			return RAIN_ENOMEM;
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			r = rain_error_errno(RAIN_EIO, errno, "cannot create %s", path);
	}
	for (size_t i = 0; r == 0 && i < s->nfiles; i++) {
		const struct input_file *f = &s->files[i];
		_cleanup_free_ char *path = fs_path_join(input, f->name);
		unsigned char *data = NULL;
		size_t len = 0;

		if (!path)
			return RAIN_ENOMEM;
		if (i % 256 == 255 && (r = check_gone(sub)) < 0)
			break;
		r = base64_decode(f->data, f->data_len, &data, &len);
		if (r < 0 && r != RAIN_ENOMEM)
			r = rewrap(RAIN_EINVAL, "file ", f->name);
		if (r == 0)
			r = write_file(path, data, len, f->mode, false);
		*bytes += (int64_t)len;
		free(data);
	}
	if (r == 0)
		r = write_file(copy, recipe, rlen, 0600, false);
	if (r == 0)
		r = write_file(text, recipe, rlen, 0600, false);
	if (r == 0)
		r = write_file(logp, "", 0, 0600, false);
	if (r == 0)
		r = save_record(e, stage);
	*bytes += 2 * (int64_t)rlen;
	if (r < 0)
		return r;
	/* one flush of the file system for all of it (a few thousand fsyncs
	 * of small files would take seconds) */
	fd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot open %s", stage);
	if (syncfs(fd) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot flush %s to disk", stage);
	close(fd);
	return r;
}

const char *builds_unavailable(struct builds *b)
{
	if (!b->cfg.enabled)
		return b->disabled_why;
	return NULL;
}

/* Whether owner may queue one more build; BUILDS_ELIMIT when not. */
static int check_queued_locked(struct builds *b, const struct owner *o)
{
	int max = b->cfg.max_queued_per_user;

	if (max > 0 && o->queued >= max)
		return rain_error_set(BUILDS_ELIMIT, "%s has %d builds queued, as many as one user "
				      "may ([builds] max_queued_per_user = %d); submit more once "
				      "some have started, or cancel some (rain build cancel ID)",
				      o->name, o->queued, max);
	return 0;
}

int builds_submit_begin(struct builds *b, const struct rain_who *who,
			struct builds_submission **out)
{
	struct builds_submission *sub;
	struct owner *o;
	int r = 0;

	*out = NULL;
	sub = calloc(1, sizeof(*sub));
	if (!sub)
		return RAIN_ENOMEM;
	pthread_mutex_lock(&b->lock);
	o = owner_get_locked(b, who->owner ? who->owner : "");
	if (!o)
		r = RAIN_ENOMEM;
	else if (o->submitting >= BUILDS_SUBMITTING_MAX)
		r = rain_error_set(BUILDS_ELIMIT, "%s has %d build submissions being received "
				   "already, as many as one user may send at once; wait for their "
				   "answers, then send this one again", o->name, o->submitting);
	else
		r = check_queued_locked(b, o);
	if (r == 0)
		o->submitting++;
	pthread_mutex_unlock(&b->lock);
	if (r < 0) {
		free(sub);
		return r;
	}
	sub->b = b;
	sub->owner = o;
	sub->who = *who;
	sub->who.owner = o->name;
	*out = sub;
	return 0;
}

void builds_submit_end(struct builds_submission *sub)
{
	if (!sub)
		return;
	pthread_mutex_lock(&sub->b->lock);
	sub->owner->submitting--;
	pthread_mutex_unlock(&sub->b->lock);
	free(sub);
}

int builds_submit(struct builds_submission *sub, json_t *body, bool (*gone)(void *ud), void *ud,
		  json_t **out)
{
	struct builds *b = sub->b;
	const char *text = json_string_value(json_object_get(body, "recipe"));
	json_t *store = json_object_get(body, "store"), *boot = json_object_get(body, "boot_check");
	_cleanup_free_ char *stage = NULL, *key = NULL, *final = NULL;
	struct submission_files s = { 0 };
	struct rain_recipe *recipe = NULL;
	struct build *e = NULL;
	bool staged = false, charged = false;
	int64_t bytes = 0, t0 = time_mono_us(), t_checked = 0, t_staged = 0;
	int r;

	*out = NULL;
	sub->gone = gone;
	sub->gone_ud = ud;
	if (!json_is_object(body))
		return rain_error_set(RAIN_EINVAL, "the body must be a JSON object with a \"recipe\"");
	if (!text)
		return rain_error_set(RAIN_EINVAL, "\"recipe\" must be the recipe's text (rain-recipe(5))");
	if ((store && !json_is_boolean(store)) || (boot && !json_is_boolean(boot)))
		return rain_error_set(RAIN_EINVAL, "\"store\" and \"boot_check\" must be true or false");
	if (strlen(text) != json_string_length(json_object_get(body, "recipe")))
		return rain_error_set(RAIN_EINVAL, "the recipe holds a NUL character");
	r = rain_recipe_parse(text, "recipe", ".", &recipe);
	if (r < 0)
		return r == RAIN_ENOMEM ? r : rewrap(RAIN_EINVAL, "", "");
	r = parse_files(b, json_object_get(body, "files"), &s);
	if (r == 0)
		r = check_recipe_files(recipe, &s);
	if (r == 0 && json_is_true(store) && !rain_build_image_storable(recipe))
		r = rain_error_set(RAIN_EINVAL, "\"store\" needs a disk or qcow2 output; add one to "
				   "the recipe's [output] formats, or send \"store\": false");
	if (r == 0)
		r = check_gone(sub);
	if (r < 0)
		goto out;
	t_checked = time_mono_us();
	e = calloc(1, sizeof(*e));
	if (!e) {
		r = RAIN_ENOMEM;
		goto out;
	}
	r = uuid_generate(e->rec.id);
	if (r < 0)
		goto out;
	e->rec.owner = strdup(sub->who.owner);
	e->rec.name = strdup(recipe->name ? recipe->name : "image");
	if (asprintf(&stage, "%s/.staging-%s", b->dir, e->rec.id) < 0)
		stage = NULL;
	if (asprintf(&key, "build/%s", e->rec.id) < 0)
		key = NULL;
	final = fs_path_join(b->dir, e->rec.id);
	if (!e->rec.owner || !e->rec.name || !stage || !key || !final) {
		r = RAIN_ENOMEM;
		goto out;
	}
	e->rec.status = RAIN_BUILD_QUEUED;
	e->rec.created_us = time_now_us();
	/* store by default when the recipe makes something storable */
	e->rec.store = store ? json_is_true(store) : rain_build_image_storable(recipe);
	e->rec.boot_check = json_is_true(boot);
	staged = true;
	r = stage_build(sub, e, stage, text, &s, &bytes);
	t_staged = time_mono_us();
	if (r == 0)
		r = check_gone(sub);
	/* the bytes count against the owner's quota (admins have none)
	 * before the build exists; a crash before it does leaves a charge
	 * that the next start drops */
	if (r == 0) {
		r = rain_repo_charge_set(b->repo, &sub->who, key, bytes);
		charged = r == 0;
		if (r == RAIN_ETOOBIG) {
			char why[512];

			snprintf(why, sizeof(why), "%s", rain_error_last());
			rain_error_set(r, "the build's %lld bytes of files do not fit in the storage "
				       "quota (%s); delete images or finished builds (rain build "
				       "delete ID) first", (long long)bytes, why);
		}
	}
	if (r == 0)
		r = check_gone(sub);
	if (r < 0)
		goto out;
	/* publish: one rename under the lock */
	pthread_mutex_lock(&b->lock);
	r = check_queued_locked(b, sub->owner);
	if (r == 0 && rename(stage, final) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot rename %s to %s", stage, final);
	if (r == 0) {
		staged = false;
		e->dir = final;
		final = NULL;
		e->seq = b->next_seq++;
		e->owner = sub->owner;
		insert_locked(b, e);
		queue_scan_locked(b);
		*out = record_json_locked(b, e);
		pthread_cond_signal(&b->work);
	}
	pthread_mutex_unlock(&b->lock);
	if (r < 0)
		goto out;
	/* the rename durable before the answer says the build is accepted */
	if (fs_fsync_dir(b->dir) < 0)
		log_printf(LOG_ERROR, "build %s: %s", e->rec.id, rain_error_last());
	log_printf(LOG_INFO, "build %s (%s) queued for %s (%zu files, %lld bytes; checked in "
		   "%.1f ms, written in %.1f ms)", e->rec.id, e->rec.name, e->rec.owner, s.nfiles,
		   (long long)bytes, (double)(t_checked - t0) / 1000, (double)(t_staged - t_checked) / 1000);
	e = NULL;
	if (!*out)
		r = RAIN_ENOMEM;
out:
	if (r < 0 && (staged || charged)) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", rain_error_last());
		if (staged)
			remove_tree(stage);
		if (charged && rain_repo_charge_drop(b->repo, sub->who.owner, key) < 0)
			log_printf(LOG_ERROR, "cannot drop the charge %s: %s (the next start does)",
				   key, rain_error_last());
		rain_error_set(r, "%s", msg);
	}
	if (r == RAIN_ECANCELED)
		log_printf(LOG_INFO, "a build submission of %s was dropped: %s", sub->who.owner,
			   rain_error_last());
	build_free(e);
	rain_recipe_free(recipe);
	files_clear(&s);
	return r;
}

/* ---- bytes counted against the owner's quota --------------------------- */

static __thread int64_t sum_bytes;     /* tree_bytes()'s, per thread */

static int sum_size(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_F && S_ISREG(st->st_mode))
		sum_bytes += (int64_t)st->st_size;
	return 0;
}

/* The bytes of the regular files under dir (not following links or
 * leaving the file system). */
static int64_t tree_bytes(const char *dir)
{
	sum_bytes = 0;
	nftw(dir, sum_size, 16, FTW_PHYS | FTW_MOUNT);
	return sum_bytes;
}

static char *charge_key(const char *id)
{
	char *key;

	return asprintf(&key, "build/%s", id) < 0 ? NULL : key;
}

/* Count the build's folder as it is now, over what it had (no quota
 * check: it is stored already). */
static void charge_measure(struct builds *b, struct build *e)
{
	struct rain_who who = { .owner = e->rec.owner };
	_cleanup_free_ char *key = charge_key(e->rec.id);

	if (!key || rain_repo_charge_set(b->repo, &who, key, tree_bytes(e->dir)) < 0)
		log_printf(LOG_ERROR, "build %s: cannot count its bytes: %s", e->rec.id,
			   key ? rain_error_last() : "out of memory");
}

static int charge_drop(struct builds *b, struct build *e)
{
	_cleanup_free_ char *key = charge_key(e->rec.id);

	return key ? rain_repo_charge_drop(b->repo, e->rec.owner, key) : RAIN_ENOMEM;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp((*(struct build *const *)a)->rec.id, (*(struct build *const *)b)->rec.id);
}

/* At start: drop the charges of builds that are gone (raind stopped
 * between a charge and the build's publication or deletion), and count
 * builds that have none (from before they were counted). */
static void charges_reconcile(struct builds *b)
{
	struct rain_charge *ch = NULL;
	struct build **ids = NULL;
	size_t n = 0, nids = 0;
	int r;

	r = rain_catalog_charge_list(rain_repo_catalog(b->repo), "build/", &ch, &n);
	for (struct build *e = b->list; r == 0 && e; e = e->next)
		nids++;
	if (r == 0 && !(ids = calloc(nids + 1, sizeof(*ids))))
		r = RAIN_ENOMEM;
	if (r < 0) {
		log_printf(LOG_ERROR, "cannot check what the builds count in quotas: %s",
			   rain_error_last());
		free(ch);
		return;
	}
	nids = 0;
	for (struct build *e = b->list; e; e = e->next)
		ids[nids++] = e;
	qsort(ids, nids, sizeof(*ids), cmp_id);
	/* the charges come sorted by key, as the ids are: one merge */
	for (size_t i = 0, j = 0; i < n || j < nids; ) {
		const char *cid = i < n ? ch[i].key + strlen("build/") : NULL;
		int c = !cid ? 1 : j >= nids ? -1 : strcmp(cid, ids[j]->rec.id);

		if (c < 0) {
			log_printf(LOG_INFO, "dropping the charge of %lld bytes of %s for build %s, "
				   "which is gone", (long long)ch[i].bytes, ch[i].owner, cid);
			if (rain_repo_charge_drop(b->repo, ch[i].owner, ch[i].key) < 0)
				log_printf(LOG_ERROR, "%s", rain_error_last());
			i++;
			continue;
		}
		if (c > 0)
			charge_measure(b, ids[j]);
		if (c == 0)
			i++;
		j++;
	}
	free(ids);
	free(ch);
}

/* ---- queries ---------------------------------------------------------- */

int builds_get(struct builds *b, const struct rain_who *who, const char *id, json_t **out)
{
	_cleanup_free_ char *manifest = NULL;
	struct build *e;
	json_t *j;

	*out = NULL;
	pthread_mutex_lock(&b->lock);
	e = find_visible(b, who, id, RAIN_ACT_BUILD_SHOW);
	queue_scan_locked(b);
	j = e ? record_json_locked(b, e) : NULL;
	if (e && e->rec.status == RAIN_BUILD_SUCCEEDED)
		manifest = fs_path_join(e->dir, "out/manifest.json");
	pthread_mutex_unlock(&b->lock);
	if (!e)
		return RAIN_ENOTFOUND;
	if (!j)
		return RAIN_ENOMEM;
	if (manifest) {
		json_t *m = json_load_file(manifest, 0, NULL);

		if (m)
			json_object_set_new(j, "manifest", m);
	}
	*out = j;
	return 0;
}

int builds_list(struct builds *b, const struct rain_who *who, json_t **out)
{
	json_t *list = json_array();

	*out = NULL;
	if (!list)
		return RAIN_ENOMEM;
	pthread_mutex_lock(&b->lock);
	queue_scan_locked(b);
	for (struct build *e = b->list; e; e = e->next)
		if (may_see(who, e, RAIN_ACT_BUILD_SHOW))
			json_array_append_new(list, record_json_locked(b, e));
	pthread_mutex_unlock(&b->lock);
	*out = json_pack("{s:o}", "builds", list);
	return *out ? 0 : RAIN_ENOMEM;
}

static void finish_locked(struct builds *b, struct build *e, enum rain_build_status st,
			  const char *error)
{
	/* a worker may wait for its owner's running builds to drop */
	if (e->rec.status == RAIN_BUILD_RUNNING)
		pthread_cond_broadcast(&b->work);
	set_status_locked(e, st);
	e->rec.finished_us = time_now_us();
	free(e->rec.error);
	e->rec.error = error ? strdup(error) : NULL;
	save_locked(e);
	pthread_cond_broadcast(&b->changed);
}

int builds_cancel(struct builds *b, const struct rain_who *who, const char *id, json_t **out)
{
	struct timespec until;
	struct build *e;
	int r = 0;

	*out = NULL;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CANCEL_WAIT_S;
	pthread_mutex_lock(&b->lock);
	e = find_visible(b, who, id, RAIN_ACT_BUILD_CANCEL);
	if (!e) {
		r = RAIN_ENOTFOUND;
	} else if (rain_build_status_finished(e->rec.status)) {
		r = rain_error_set(RAIN_ECONFLICT, "build %s has %s already; there is nothing to cancel",
				   e->rec.id, rain_build_status_name(e->rec.status));
	} else if (e->rec.status == RAIN_BUILD_QUEUED) {
		e->user_canceled = true;
		finish_locked(b, e, RAIN_BUILD_CANCELED, NULL);
		log_printf(LOG_INFO, "build %s canceled while queued", e->rec.id);
	} else if (e->cancel) {
		/* being stopped already: answer at once rather than hold one
		 * more HTTP worker for the same wait */
	} else {
		e->user_canceled = true;
		e->cancel = 1;
		/* the worker stops the child and records the end; e stays in
		 * the list meanwhile (only finished builds can be deleted) */
		while (e->rec.status == RAIN_BUILD_RUNNING &&
		       pthread_cond_timedwait(&b->changed, &b->lock, &until) != ETIMEDOUT)
			;
	}
	if (r == 0) {
		queue_scan_locked(b);
		*out = record_json_locked(b, e);
		if (!*out)
			r = RAIN_ENOMEM;
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

int builds_delete(struct builds *b, const struct rain_who *who, const char *id)
{
	_cleanup_free_ char *gone = NULL;
	struct build *e, **p;
	int r = 0;

	pthread_mutex_lock(&b->lock);
	e = find_visible(b, who, id, RAIN_ACT_BUILD_DELETE);
	if (!e) {
		r = RAIN_ENOTFOUND;
	} else if (!rain_build_status_finished(e->rec.status)) {
		r = rain_error_set(RAIN_ECONFLICT, "build %s is %s; cancel it first", e->rec.id,
				   rain_build_status_name(e->rec.status));
	} else if (asprintf(&gone, "%s/.deleted-%s", b->dir, e->rec.id) < 0) {
		gone = NULL;
		r = RAIN_ENOMEM;
	} else if (rename(e->dir, gone) < 0) {
		r = rain_error_errno(RAIN_EIO, errno, "cannot remove %s", e->dir);
	} else {
		/* gone from here on: a crash leaves a .deleted- directory that
		 * the next start removes */
		fs_fsync_dir(b->dir);
		for (p = &b->list; *p != e; p = &(*p)->next)
			;
		*p = e->next;
		pthread_cond_broadcast(&b->changed);
	}
	pthread_mutex_unlock(&b->lock);
	if (r < 0)
		return r;
	log_printf(LOG_INFO, "build %s deleted", e->rec.id);
	/* its bytes go back to the owner (a crash before leaves a charge
	 * without a build, which the next start drops) */
	if (charge_drop(b, e) < 0)
		log_printf(LOG_ERROR, "build %s: cannot give its bytes back: %s (the next start "
			   "does)", e->rec.id, rain_error_last());
	build_free(e);
	remove_tree(gone);
	return 0;
}

int64_t builds_count_owned(struct builds *b, const char *owner)
{
	int64_t n = 0;

	pthread_mutex_lock(&b->lock);
	for (struct build *e = b->list; e; e = e->next)
		n += e->rec.owner && !strcmp(e->rec.owner, owner);
	pthread_mutex_unlock(&b->lock);
	return n;
}

/* ---- logs ------------------------------------------------------------- */

int builds_log_open(struct builds *b, const struct rain_who *who, const char *id,
		    int64_t offset, bool follow, struct builds_log **out)
{
	struct builds_log *l;
	struct build *e;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return RAIN_ENOMEM;
	l->b = b;
	l->fd = -1;
	l->off = offset < 0 ? 0 : offset;
	l->follow = follow;
	pthread_mutex_lock(&b->lock);
	e = find_visible(b, who, id, RAIN_ACT_BUILD_SHOW);
	if (e) {
		memcpy(l->id, e->rec.id, sizeof(l->id));
		l->path = fs_path_join(e->dir, "log");
	}
	pthread_mutex_unlock(&b->lock);
	if (!e || !l->path) {
		free(l->path);
		free(l);
		return e ? RAIN_ENOMEM : RAIN_ENOTFOUND;
	}
	l->fd = open(l->path, O_RDONLY | O_CLOEXEC);
	*out = l;
	return 0;
}

static ssize_t log_pread(struct builds_log *l, char *buf, size_t max)
{
	ssize_t n;

	if (l->fd < 0)
		l->fd = open(l->path, O_RDONLY | O_CLOEXEC);
	if (l->fd < 0)
		return 0;
	do
		n = pread(l->fd, buf, max, l->off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return rain_error_errno(RAIN_EIO, errno, "cannot read the build log");
	l->off += n;
	return n;
}

ssize_t builds_log_read(struct builds_log *l, char *buf, size_t max)
{
	return log_pread(l, buf, max);
}

bool builds_log_more(struct builds_log *l)
{
	struct builds *b = l->b;
	struct build *e;
	bool more;

	if (!l->follow)
		return false;
	pthread_mutex_lock(&b->lock);
	e = find_locked(b, l->id);
	more = e && !rain_build_status_finished(e->rec.status) && !b->quiescing;
	pthread_mutex_unlock(&b->lock);
	return more;
}

bool builds_log_ready(struct builds_log *l)
{
	struct stat st;

	if (l->fd < 0)
		l->fd = open(l->path, O_RDONLY | O_CLOEXEC);
	if (l->fd >= 0 && (fstat(l->fd, &st) < 0 || st.st_size > l->off))
		return true;
	return !builds_log_more(l);
}

void builds_wait_change(struct builds *b, int timeout_ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&b->lock);
	pthread_cond_timedwait(&b->changed, &b->lock, &until);
	pthread_mutex_unlock(&b->lock);
}

void builds_log_close(struct builds_log *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l->path);
	free(l);
}

/* ---- a build's access to the repository -------------------------------- */

/* Revoke the token whose hash DIR/token.sha256 holds, then remove the
 * file. 1 when there was one, 0 when not, or a negative rain error code
 * (the file stays, for the next start to try again). */
static int token_revoke_file(struct builds *b, const char *dir)
{
	_cleanup_free_ char *path = fs_path_join(dir, TOKEN_FILE), *text = NULL;
	size_t len = 0;
	int r;

	if (!path)
		return RAIN_ENOMEM;
	r = fs_read_small(path, 256, &text, &len);
	if (r < 0 && access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (r < 0)
		return r;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		text[--len] = '\0';
	if (len == RAIN_TOKEN_HASH_LEN) {
		r = rain_catalog_token_revoke(rain_repo_catalog(b->repo), text);
		if (r == RAIN_ENOTFOUND)    /* never created, or purged */
			r = 0;
		if (r < 0)
			return r;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return rain_error_errno(RAIN_EIO, errno, "cannot remove %s", path);
	return 1;
}

static void token_revoke(struct builds *b, struct build *e)
{
	if (token_revoke_file(b, e->dir) < 0)
		log_printf(LOG_ERROR, "build %s: cannot revoke its token: %s (the next start "
			   "tries again)", e->rec.id, rain_error_last());
}

/* What the child gets to reach the repository as the build's owner. */
struct creds {
	char *token;                /* NULL: none (the build clones nothing) */
	bool minted;                /* a token of ours, to revoke at the end */
	char *vars[3];              /* RAIN_URL=, RAIN_TOKEN=, RAIN_CACERT= */
	const char **envp;          /* the child's environment */
};

static void secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void creds_clear(struct creds *c)
{
	secret_free(c->token);
	for (size_t i = 0; i < sizeof(c->vars) / sizeof(*c->vars); i++)
		secret_free(c->vars[i]);
	free(c->envp);
	memset(c, 0, sizeof(*c));
}

/* A token of the build's owner, valid for the build's time limit, with
 * its hash committed to DIR/token.sha256 before it exists in the catalog
 * (so that a crash at any point leaves nothing live that the next start
 * does not revoke). The service token for the service token's builds. */
static int creds_mint(struct builds *b, struct build *e, struct creds *c)
{
	struct rain_catalog *cat = rain_repo_catalog(b->repo);
	_cleanup_free_ char *path = fs_path_join(e->dir, TOKEN_FILE);
	struct rain_token t = { .revoked = false };
	struct rain_user *u = NULL;
	char token[RAIN_TOKEN_LEN + 1], line[RAIN_TOKEN_HASH_LEN + 2];
	int64_t now = time_now_us();
	int r;

	if (!path)
		return RAIN_ENOMEM;
	r = rain_catalog_user_get(cat, e->rec.owner, &u);
	if (r == RAIN_ENOTFOUND && !strcmp(e->rec.owner, "admin") && b->admin_token) {
		c->token = strdup(b->admin_token);
		return c->token ? 0 : RAIN_ENOMEM;
	}
	if (r == RAIN_ENOTFOUND)
		return rain_error_set(RAIN_ENOTFOUND, "the build's owner '%s' is not a user any more",
				      e->rec.owner);
	if (r < 0)
		return r;
	if (u->status != RAIN_USER_ACTIVE) {
		r = rain_error_set(RAIN_EAUTH, "the build's owner '%s' is %s, and cloning a "
				   "repository image needs their rights", e->rec.owner,
				   rain_user_status_name(u->status));
		rain_user_free(u);
		return r;
	}
	snprintf(t.user, sizeof(t.user), "%s", u->name);
	t.role = u->role;
	t.status = u->status;
	rain_user_free(u);
	r = rain_token_new(token, t.hash);
	if (r < 0)
		return r;
	t.issued_at = now;
	t.expires_at = now + (int64_t)(b->cfg.timeout_s > 0 ? b->cfg.timeout_s : 86400) * 1000000;
	snprintf(line, sizeof(line), "%s\n", t.hash);
	unlink(path);
	r = write_file(path, line, strlen(line), 0600, true);
	if (r == 0)
		r = fs_fsync_dir(e->dir);
	if (r == 0)
		r = rain_catalog_token_create(cat, &t);
	if (r == 0 && !(c->token = strdup(token)))
		r = RAIN_ENOMEM;
	explicit_bzero(token, sizeof(token));
	if (r < 0) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", rain_error_last());
		rain_catalog_token_revoke(cat, t.hash);
		unlink(path);
		return rain_error_set(r, "%s", msg);
	}
	c->minted = true;
	return 0;
}

/* What a build child gets of raind's environment: the search path, the
 * locale and time zone, and the proxies; nothing else (raind's own
 * RAIN_*, OS_* and RAIN_ADMIN_PASSWORD least of all). */
static bool env_allowed(const char *entry)
{
	static const char *const names[] = {
		"PATH=", "LANG=", "LANGUAGE=", "TZ=", "http_proxy=", "https_proxy=", "no_proxy=",
		"HTTP_PROXY=", "HTTPS_PROXY=", "NO_PROXY=", NULL,
	};

	if (str_has_prefix(entry, "LC_") && strchr(entry, '='))
		return true;
	for (size_t i = 0; names[i]; i++)
		if (str_has_prefix(entry, names[i]))
			return true;
	return false;
}

/* The allowed part of raind's environment, with the build's own. */
static int creds_env(struct builds *b, struct creds *c)
{
	size_t n = 0, k = 0;
	bool path = false;

	if (c->token) {
		if (asprintf(&c->vars[0], "RAIN_URL=%s", b->repo_url) < 0)
			c->vars[0] = NULL;
		if (asprintf(&c->vars[1], "RAIN_TOKEN=%s", c->token) < 0)
			c->vars[1] = NULL;
		if (b->repo_cacert && asprintf(&c->vars[2], "RAIN_CACERT=%s", b->repo_cacert) < 0)
			c->vars[2] = NULL;
		if (!c->vars[0] || !c->vars[1] || (b->repo_cacert && !c->vars[2]))
			return RAIN_ENOMEM;
	}
	for (char **v = environ; v && *v; v++)
		n++;
	c->envp = calloc(n + 5, sizeof(*c->envp));
	if (!c->envp)
		return RAIN_ENOMEM;
	for (char **v = environ; v && *v; v++)
		if (env_allowed(*v)) {
			c->envp[k++] = *v;
			path = path || str_has_prefix(*v, "PATH=");
		}
	if (!path)
		c->envp[k++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (size_t i = 0; i < sizeof(c->vars) / sizeof(*c->vars); i++)
		if (c->vars[i])
			c->envp[k++] = c->vars[i];
	c->envp[k] = NULL;
	return 0;
}

/* Whether the build's recipe clones a repository image. */
static bool recipe_clones(const char *path)
{
	struct rain_recipe *r = NULL;
	bool clones = rain_recipe_parse_file(path, &r) == 0 && r->base;

	rain_recipe_free(r);
	return clones;
}

/* ---- running a build -------------------------------------------------- */

struct run {
	struct builds *b;
	struct build *e;
	int log_fd;
	char *last_error;           /* the child's last "rain: error: " line */
};

static void log_append(struct run *run, const char *line)
{
	size_t len = strlen(line);
	char *s = malloc(len + 2);

	if (!s)
		return;
	memcpy(s, line, len);
	s[len] = '\n';
	/* one write per line with O_APPEND: readers never see half a line */
	if (write(run->log_fd, s, len + 1) < 0)
		log_printf(LOG_WARN, "build %s: cannot write its log: %s", run->e->rec.id,
			   strerror(errno));
	free(s);
	pthread_mutex_lock(&run->b->lock);
	pthread_cond_broadcast(&run->b->changed);
	pthread_mutex_unlock(&run->b->lock);
}

__attribute__((format(printf, 2, 3)))
static void log_note(struct run *run, const char *fmt, ...)
{
	char line[1200], msg[1100];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "== raind: %s", msg);
	log_append(run, line);
}

static void on_line(void *ud, const char *line)
{
	struct run *run = ud;
	static const char prefix[] = "rain: error: ";

	if (str_has_prefix(line, prefix)) {
		free(run->last_error);
		run->last_error = strdup(line + strlen(prefix));
	}
	log_append(run, line);
}

/* Put the build's image into the repository as its owner. */
static int store_result(struct run *run, json_t *manifest, char **image_id)
{
	struct build *e = run->e;
	struct rain_who who = { .owner = e->rec.owner, .admin = false };
	struct rain_user *user = NULL;
	_cleanup_free_ char *recipe_path = fs_path_join(e->dir, "input/" RAIN_BUILD_RECIPE_NAME);
	_cleanup_free_ char *data = NULL;
	struct rain_build_image bi = { 0 };
	struct rain_recipe *recipe = NULL;
	struct rain_image *img = NULL, *done = NULL;
	struct rain_upload *up = NULL;
	struct stat st;
	char *buf = NULL;
	int fd = -1, r;

	*image_id = NULL;
	if (!recipe_path)
		return RAIN_ENOMEM;
	/* the owner's role and quotas, as when they upload themselves (the
	 * service token's builds belong to "admin", who may not be a user) */
	if (rain_catalog_user_get(rain_repo_catalog(run->b->repo), e->rec.owner, &user) == 0) {
		who.admin = user->role == RAIN_ROLE_ADMIN;
		who.quota_bytes = who.admin ? 0 : user->quota_bytes;
		who.quota_images = who.admin ? 0 : user->quota_images;
		rain_user_free(user);
	} else if (!strcmp(e->rec.owner, "admin")) {
		who.admin = true;
	}
	r = rain_recipe_parse_file(recipe_path, &recipe);
	if (r == 0)
		r = rain_build_image_make(recipe, manifest, &bi);
	if (r == 0 && asprintf(&data, "%s/out/%s", e->dir, bi.file) < 0) {
		data = NULL;
		r = RAIN_ENOMEM;
	}
	if (r == 0 && (strchr(bi.file, '/') || (fd = open(data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0))
		r = rain_error_errno(RAIN_EIO, errno, "cannot open the build's %s output", bi.format);
	if (r == 0 && fstat(fd, &st) < 0)
		r = rain_error_errno(RAIN_EIO, errno, "cannot stat %s", data);
	if (r == 0)
		r = rain_repo_image_create(run->b->repo, &who, bi.fields, &img);
	if (r == 0)
		r = rain_repo_upload_begin(run->b->repo, &who, img->id, (int64_t)st.st_size, &up);
	if (r == 0 && !(buf = malloc(1 << 20)))
		r = RAIN_ENOMEM;
	while (r == 0) {
		ssize_t n = read(fd, buf, 1 << 20);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = rain_error_errno(RAIN_EIO, errno, "cannot read %s", data);
		if (n <= 0)
			break;
		if (e->cancel)
			r = rain_error_set(RAIN_ECANCELED, "the build was stopped while being stored");
		else
			r = rain_repo_upload_write(up, buf, (size_t)n);
	}
	if (r == 0) {
		r = rain_repo_upload_finish(up, &done);
		up = NULL;
	}
	if (up)
		rain_repo_upload_abort(up);
	if (r < 0 && img) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", rain_error_last());
		rain_repo_image_delete(run->b->repo, &who, img->id);
		rain_error_set(r, "%s", msg);
	}
	if (r == 0) {
		*image_id = strdup(img->id);
		if (!*image_id)
			r = RAIN_ENOMEM;
	}
	free(buf);
	if (fd >= 0)
		close(fd);
	rain_image_free(done);
	rain_image_free(img);
	rain_build_image_clear(&bi);
	rain_recipe_free(recipe);
	return r;
}

static void run_build(struct builds *b, struct build *e)
{
	_cleanup_free_ char *recipe = fs_path_join(e->dir, "input/" RAIN_BUILD_RECIPE_NAME);
	_cleanup_free_ char *outdir = fs_path_join(e->dir, "out");
	_cleanup_free_ char *logp = fs_path_join(e->dir, "log");
	_cleanup_free_ char *manifest_path = fs_path_join(e->dir, "out/manifest.json");
	_cleanup_free_ char *error = NULL, *image_id = NULL;
	struct run run = { .b = b, .e = e, .log_fd = -1 };
	struct creds creds = { .token = NULL };
	char run_error[1024] = "";
	enum rain_build_status st = RAIN_BUILD_FAILED;
	const char *argv[16];
	int n = 0, status = -1, r;
	int64_t t0 = time_mono_us();

	if (!recipe || !outdir || !logp || !manifest_path) {
		error = strdup("out of memory");
		goto done;
	}
	run.log_fd = open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (run.log_fd < 0) {
		if (asprintf(&error, "cannot open the build log: %s", strerror(errno)) < 0)
			error = NULL;
		goto done;
	}
	if (!b->rain_command) {
		error = strdup("raind cannot find the rain program; set [builds] rain_command");
		goto done;
	}
	argv[n++] = b->rain_command;
	argv[n++] = "generate";
	argv[n++] = recipe;
	argv[n++] = "-o";
	argv[n++] = outdir;
	argv[n++] = "--cache";
	argv[n++] = b->cache_dir;
	/* no --timeout: rain generate 0.1.0 exits early when given one; the
	 * time limit below ends it instead (it cleans up on SIGTERM) */
	if (e->rec.boot_check)
		argv[n++] = "--boot-check";
	argv[n] = NULL;
	log_note(&run, "build %s of '%s' for %s started", e->rec.id, e->rec.name, e->rec.owner);
	if (recipe_clones(recipe)) {
		r = creds_mint(b, e, &creds);
		if (r < 0) {
			if (asprintf(&error, "cannot give the build access to the repository: %s",
				     rain_error_last()) < 0)
				error = NULL;
			goto done;
		}
		log_note(&run, "the base image comes from %s, read with %s's rights%s", b->repo_url,
			 e->rec.owner, creds.minted ? " (a token for this build only)" : "");
	}
	r = creds_env(b, &creds);
	if (r < 0) {
		error = strdup("out of memory");
		goto done;
	}
	{
		/* cwd is the build's directory: a raind that restarts after a
		 * crash finds leftover builds by it */
		struct process_opts po = {
			.argv = argv,
			.envp = creds.envp,
			.cwd = e->dir,
			.stdin_fd = -1,
			.timeout_s = b->cfg.timeout_s,
			.cancel = &e->cancel,
			.on_line = on_line,
			.ud = &run,
		};

		r = process_run(&po, &status);
	}
	if (r < 0)
		snprintf(run_error, sizeof(run_error), "%s", rain_error_last());
	/* the child is gone: nothing needs its token any more */
	creds_clear(&creds);
	token_revoke(b, e);
	if (r == RAIN_ECANCELED && e->user_canceled) {
		st = RAIN_BUILD_CANCELED;
	} else if (r == RAIN_ECANCELED && e->cancel) {
		error = strdup(STOPPED_MSG);
	} else if (r == RAIN_ECANCELED) {
		if (asprintf(&error, "the build took longer than %d s ([builds] timeout) and was "
			     "stopped", b->cfg.timeout_s) < 0)
			error = NULL;
	} else if (r < 0) {
		error = strdup(run_error);
	} else if (status != 0) {
		if (run.last_error)
			error = strdup(run.last_error);
		else if (asprintf(&error, "rain generate exited with status %d", status) < 0)
			error = NULL;
	} else {
		json_t *m = json_load_file(manifest_path, 0, NULL);

		if (!m) {
			error = strdup("the build left no manifest.json");
		} else if (e->rec.store) {
			r = store_result(&run, m, &image_id);
			if (r == RAIN_ECANCELED && e->user_canceled)
				st = RAIN_BUILD_CANCELED;
			else if (r < 0 && asprintf(&error, "the image was built but not stored: %s",
						   rain_error_last()) < 0)
				error = NULL;
			else if (r == 0) {
				log_note(&run, "stored as image %s", image_id);
				st = RAIN_BUILD_SUCCEEDED;
			}
		} else {
			st = RAIN_BUILD_SUCCEEDED;
		}
		json_decref(m);
	}
done:
	creds_clear(&creds);
	/* (again, for the ways here that skip the above) before the build
	 * ends: whoever sees it ended finds its token dead */
	token_revoke(b, e);
	if (st == RAIN_BUILD_FAILED && !error)
		error = strdup("the build failed");
	if (run.log_fd >= 0) {
		log_note(&run, "build %s %s after %.1f s%s%s", e->rec.id, rain_build_status_name(st),
			 (double)(time_mono_us() - t0) / 1e6, error ? ": " : "", error ? error : "");
		close(run.log_fd);
	}
	log_printf(st == RAIN_BUILD_FAILED ? LOG_WARN : LOG_INFO, "build %s %s%s%s", e->rec.id,
		   rain_build_status_name(st), error ? ": " : "", error ? error : "");
	free(run.last_error);
	/* what the build left (log, outputs) counts too, from now on */
	charge_measure(b, e);
	pthread_mutex_lock(&b->lock);
	if (image_id) {
		e->rec.image_id = image_id;
		image_id = NULL;
	}
	finish_locked(b, e, st, error);
	pthread_mutex_unlock(&b->lock);
}

static void *worker(void *arg)
{
	struct builds *b = arg;

	pthread_mutex_lock(&b->lock);
	while (!b->stopping) {
		struct build *e = next_queued_locked(b);

		if (!e) {
			pthread_cond_wait(&b->work, &b->lock);
			continue;
		}
		set_status_locked(e, RAIN_BUILD_RUNNING);
		e->owner->last_started = ++b->builds_started;
		e->rec.started_us = time_now_us();
		save_locked(e);
		pthread_cond_broadcast(&b->changed);
		pthread_mutex_unlock(&b->lock);
		run_build(b, e);
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* ---- start-up and shutdown --------------------------------------------- */

/* Processes whose working directory is dir: a `rain generate` that a
 * previous raind started and that outlived it. End their process groups
 * (the program cleans up on SIGTERM), then make sure. */
static int64_t stop_leftovers(const char *dir)
{
	int64_t found = 0;

	for (int round = 0; round < ORPHAN_WAIT_S * 5 + 2; round++) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		int64_t n = 0;

		if (!d)
			return found;
		while ((de = readdir(d))) {
			char link[300], target[4096];
			ssize_t len;
			pid_t pid;

			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			snprintf(link, sizeof(link), "/proc/%s/cwd", de->d_name);
			len = readlink(link, target, sizeof(target) - 1);
			if (len < 0)
				continue;
			target[len] = '\0';
			if (strcmp(target, dir))
				continue;
			pid = (pid_t)atoi(de->d_name);
			n++;
			if (round == 0) {
				pid_t pg = getpgid(pid);

				kill(pg > 1 ? -pg : pid, SIGTERM);
			} else if (round > ORPHAN_WAIT_S * 5) {
				kill(pid, SIGKILL);
			}
		}
		closedir(d);
		if (round == 0)
			found = n;
		if (n == 0)
			break;
		usleep(200000);
	}
	return found;
}

static int load_one(struct builds *b, const char *name, struct builds_recovery *rec)
{
	_cleanup_free_ char *dir = fs_path_join(b->dir, name);
	_cleanup_free_ char *path = dir ? fs_path_join(dir, "build.json") : NULL;
	json_error_t err;
	struct build *e;
	json_t *j;
	int r;

	if (!path)
		return RAIN_ENOMEM;
	j = json_load_file(path, 0, &err);
	if (!j) {
		struct stat st;

		if (stat(path, &st) < 0 && errno == ENOENT) {
			/* a submission that never committed */
			log_printf(LOG_WARN, "removing %s: a build submission that did not finish", dir);
			remove_tree(dir);
			return 0;
		}
		log_printf(LOG_WARN, "build %s: cannot read %s: %s; leaving it alone", name, path,
			   err.text);
		rec->unreadable++;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		json_decref(j);
		return RAIN_ENOMEM;
	}
	r = rain_build_record_from_json(j, &e->rec);
	json_decref(j);
	if (r == 0 && strcmp(e->rec.id, name))
		r = rain_error_set(RAIN_EFORMAT, "the record's id is not its directory's name");
	if (r < 0) {
		log_printf(LOG_WARN, "build %s: %s; leaving it alone", name, rain_error_last());
		rec->unreadable++;
		build_free(e);
		return r == RAIN_ENOMEM ? r : 0;
	}
	e->dir = dir;
	dir = NULL;
	e->seq = b->next_seq++;
	if (e->rec.status == RAIN_BUILD_RUNNING)
		rec->stopped += stop_leftovers(e->dir);
	/* a build that was running when raind stopped: its token dies now */
	r = token_revoke_file(b, e->dir);
	if (r < 0)
		log_printf(LOG_ERROR, "build %s: cannot revoke its token: %s", e->rec.id,
			   rain_error_last());
	else
		rec->tokens_revoked += r;
	if (e->rec.status == RAIN_BUILD_RUNNING) {
		finish_locked(b, e, RAIN_BUILD_FAILED, STOPPED_MSG);
		rec->failed++;
	} else if (e->rec.status == RAIN_BUILD_QUEUED) {
		rec->requeued++;
	}
	/* counted from here on, in the state it stays in */
	e->owner = owner_get_locked(b, e->rec.owner);
	if (!e->owner) {
		build_free(e);
		return RAIN_ENOMEM;
	}
	insert_locked(b, e);
	return 0;
}

static int load_all(struct builds *b, struct builds_recovery *rec)
{
	DIR *d = opendir(b->dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return rain_error_errno(RAIN_EIO, errno, "cannot read %s", b->dir);
	while (r == 0 && (de = readdir(d))) {
		/* deleted, or submissions that were not accepted */
		if (str_has_prefix(de->d_name, ".deleted-") || str_has_prefix(de->d_name, ".staging-")) {
			_cleanup_free_ char *p = fs_path_join(b->dir, de->d_name);

			if (p)
				remove_tree(p);
			continue;
		}
		if (uuid_is_valid(de->d_name))
			r = load_one(b, de->d_name, rec);
	}
	closedir(d);
	return r;
}

int builds_start(struct builds **out, const struct builds_config *cfg, struct rain_repo *repo,
		 struct builds_recovery *rec)
{
	struct builds_recovery dummy;
	struct builds *b;
	int r;

	*out = NULL;
	if (!rec)
		rec = &dummy;
	memset(rec, 0, sizeof(*rec));
	b = calloc(1, sizeof(*b));
	if (!b)
		return RAIN_ENOMEM;
	b->cfg = *cfg;
	b->repo = repo;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->work, NULL);
	pthread_cond_init(&b->changed, NULL);
	b->dir = strdup(cfg->dir);
	b->cache_dir = strdup(cfg->cache_dir);
	b->rain_command = cfg->rain_command ? strdup(cfg->rain_command) : NULL;
	b->disabled_why = strdup(cfg->disabled_why ? cfg->disabled_why : "the build service is disabled");
	b->admin_token = cfg->admin_token ? strdup(cfg->admin_token) : NULL;
	if (!b->dir || !b->cache_dir || (cfg->rain_command && !b->rain_command) || !b->disabled_why ||
	    (cfg->admin_token && !b->admin_token)) {
		builds_stop(b);
		return RAIN_ENOMEM;
	}
	b->cfg.dir = b->dir;
	b->cfg.cache_dir = b->cache_dir;
	b->cfg.rain_command = b->rain_command;
	b->cfg.disabled_why = b->disabled_why;
	b->cfg.admin_token = b->admin_token;
	r = fs_mkdir_p(b->dir, 0700);
	if (r == 0)
		r = load_all(b, rec);
	if (r == 0)
		charges_reconcile(b);
	if (r < 0) {
		builds_stop(b);
		return r;
	}
	*out = b;
	return 0;
}

int builds_serve(struct builds *b, const char *url, const char *cacert)
{
	int r;

	if (b->repo_url || b->workers)
		return rain_error_set(RAIN_ECONFLICT, "the build service runs already");
	b->repo_url = strdup(url);
	b->repo_cacert = cacert ? strdup(cacert) : NULL;
	if (!b->repo_url || (cacert && !b->repo_cacert))
		return RAIN_ENOMEM;
	if (!b->cfg.enabled)
		return 0;
	b->workers = calloc((size_t)b->cfg.max_concurrent, sizeof(*b->workers));
	if (!b->workers)
		return RAIN_ENOMEM;
	for (int i = 0; i < b->cfg.max_concurrent; i++) {
		r = pthread_create(&b->workers[i], NULL, worker, b);
		if (r != 0)     /* builds_stop() joins those that started */
			return rain_error_errno(RAIN_EIO, r, "cannot start the build workers");
		b->nworkers++;
	}
	return 0;
}

void builds_quiesce(struct builds *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->quiescing = true;
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
}

void builds_stop(struct builds *b)
{
	struct build *e, *next;

	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	b->quiescing = true;
	for (e = b->list; e; e = e->next)
		if (e->rec.status == RAIN_BUILD_RUNNING)
			e->cancel = 1;
	pthread_cond_broadcast(&b->work);
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
	for (int i = 0; i < b->nworkers; i++)
		pthread_join(b->workers[i], NULL);
	for (e = b->list; e; e = next) {
		next = e->next;
		build_free(e);
	}
	while (b->owners) {
		struct owner *o = b->owners;

		b->owners = o->next;
		free(o->name);
		free(o);
	}
	free(b->workers);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->work);
	pthread_cond_destroy(&b->changed);
	free(b->dir);
	free(b->cache_dir);
	free(b->rain_command);
	free(b->disabled_why);
	secret_free(b->admin_token);
	free(b->repo_url);
	free(b->repo_cacert);
	free(b);
}
