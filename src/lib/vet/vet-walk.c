/* Vetting's walk over the tree (vet-internal.h has the plan), on two
 * threads: a reading thread walks the image (rain_imgfs_walk: the handle
 * is its alone until the walk ends) and reads the content the groups want
 * into the slots of a ring; the calling thread (the checker) takes the
 * slots in order and runs the groups' callbacks entry by entry, data then
 * entry, as one thread walking would: the rules, their state and the
 * report stay the calling thread's, and findings come in the walk's
 * order, the same as with one thread.
 *
 * The MD5 a group asks for (vet_group.md5: debsums's check of 600 MB of
 * files, most of the time a vetting takes) is computed by the reading
 * thread while the checker has BEHIND bytes or half the ring waiting (the
 * reader's own work, reading from the page cache, is light), and by the
 * checker from the slots when it runs short (the reader hands its MD5
 * over mid-file, P_MD5): the two threads share the hashing, and the walk
 * takes about half its time on two cores. The groups' part of a file (up
 * to WHOLE_MAX) comes in one piece, so that they need not copy it.
 *
 * With rain_vet_options.one_thread, or when no thread can be started, the
 * calling thread reads a slot and checks it in turn.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "rain/error.h"
#include "lib/vet/vet-internal.h"

#define N_SLOTS 4
#define SLOT_BYTES (2u << 20)
#define SLOT_PIECES 1024
/* the groups' part of a file's content up to this comes in one piece */
#define WHOLE_MAX (1u << 20)
/* bytes of content read at once past it (for the MD5) */
#define READ_CHUNK (256u << 10)
/* a slot with less room than this for content is handed over */
#define MIN_ROOM (16u << 10)
/* the reader hashes a file when this many bytes wait for the checker,
 * and hands the MD5 over to it when fewer than LOW do */
#define BEHIND (1u << 20)
#define LOW (256u << 10)
/* an idle checker gets the slot being filled once it holds this much */
#define FEED_PIECES 32
#define FEED_BYTES (64u << 10)
#define MAX_GROUPS 8

enum piece_kind {
	P_ENTRY,        /* an entry: content pieces and an end may follow */
	P_DATA,         /* more of the entry's content */
	P_MD5,          /* the checker goes on with the reader's MD5 (ctx) */
	P_END,          /* the entry's content ended */
	P_FAIL,         /* the walk failed: code, and the message in the bytes */
	P_DONE,         /* the walk ended */
};

struct piece {
	enum piece_kind kind;
	bool last;              /* P_ENTRY: no content follows */
	bool read;              /* P_ENTRY: a regular file whose content was offered */
	bool checker_md5;       /* P_ENTRY: the checker hashes the content */
	bool md5_ok;            /* P_END: md5 is the reader's digest; P_MD5: ctx is good */
	int code;               /* P_FAIL */
	unsigned char md5[16];
	struct rain_imgfs_entry e;      /* P_ENTRY: path and link in the slot's bytes or heap */
	char *heap;             /* P_ENTRY: path and link too long for a slot (free()) */
	EVP_MD_CTX *ctx;        /* P_MD5 (EVP_MD_CTX_free()) */
	uint64_t want[MAX_GROUPS];      /* P_ENTRY */
	size_t off, len;        /* bytes of the slot */
};

struct slot {
	char *bytes;            /* SLOT_BYTES */
	size_t used;
	struct piece *p;        /* SLOT_PIECES */
	size_t n;
};

struct walk {
	struct vet_ctx *c;
	const struct vet_group *const *groups;
	size_t n_groups;
	bool threaded;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct slot slots[N_SLOTS];
	uint64_t head, tail;    /* slots checked, slots handed over (under lock) */
	bool reader_waits;      /* under lock */
	atomic_bool checker_waits;
	atomic_bool stopped;    /* the checker gave up */
	atomic_uint_fast64_t queued;    /* bytes handed over, not checked yet */

	/* the reader's */
	struct slot *cur;       /* being filled (slots[tail % N_SLOTS]) */
	EVP_MD_CTX *rmd;
	char *rbuf;             /* content only the reader hashes */
	bool reader_done;       /* under lock */
	int reader_r;           /* under lock: how reader_run ended */
	char reader_msg[1024];  /* its message when it failed */

	/* the checker's: the entry being checked */
	struct rain_imgfs_entry e;
	char *path, *link;
	size_t path_cap, link_cap;
	uint64_t want[MAX_GROUPS], off;
	bool read, checker_md5, md5_ok;
	EVP_MD_CTX *cmd;
};

/* ---- the checker -------------------------------------------------------- */

static int copy_str(char **dst, size_t *cap, const char *s)
{
	size_t n = strlen(s) + 1;

	if (n > *cap) {
		char *p = realloc(*dst, n);

		if (!p)
			return rain_error_oom();
		*dst = p;
		*cap = n;
	}
	memcpy(*dst, s, n);
	return 0;
}

static int entry_begin(struct walk *w, const struct piece *pc)
{
	struct vet_ctx *c = w->c;
	int r;

	c->entries++;
	if (c->opts && c->opts->cancel && *c->opts->cancel)
		return rain_error_set(RAIN_ECANCELED, "vetting canceled");
	if (c->opts && c->opts->progress && c->entries % 4096 == 0)
		c->opts->progress(c->opts->progress_ud, c->entries);
	c->cur_package = NULL;
	c->cur_intact = false;
	c->cur_read = pc->read;
	c->cur_md5_ok = false;
	/* the entry outlives its slot when its content spans slots */
	w->e = pc->e;
	r = copy_str(&w->path, &w->path_cap, pc->e.path);
	if (r == 0 && pc->e.link)
		r = copy_str(&w->link, &w->link_cap, pc->e.link);
	if (r < 0)
		return r;
	w->e.path = w->path;
	w->e.link = pc->e.link ? w->link : NULL;
	memcpy(w->want, pc->want, sizeof(w->want));
	w->off = 0;
	w->checker_md5 = pc->checker_md5;
	if (w->checker_md5)
		w->md5_ok = EVP_DigestInit_ex(w->cmd, EVP_md5(), NULL) == 1;
	return 0;
}

static int entry_data(struct walk *w, const char *buf, size_t n)
{
	if (w->checker_md5 && w->md5_ok)
		w->md5_ok = EVP_DigestUpdate(w->cmd, buf, n) == 1;
	for (size_t g = 0; g < w->n_groups; g++) {
		int r;

		if (w->want[g] <= w->off || !w->groups[g]->data)
			continue;
		r = w->groups[g]->data(w->c, &w->e, buf, w->want[g] - w->off < n ? w->want[g] - w->off : n);
		if (r < 0)
			return r;
	}
	w->off += n;
	return 0;
}

static int entry_end(struct walk *w, const struct piece *end)
{
	struct vet_ctx *c = w->c;

	if (w->checker_md5) {
		unsigned int len = 0;

		c->cur_md5_ok = w->md5_ok && EVP_DigestFinal_ex(w->cmd, c->cur_md5, &len) == 1 &&
				len == sizeof(c->cur_md5);
	} else if (end && end->md5_ok) {
		memcpy(c->cur_md5, end->md5, sizeof(c->cur_md5));
		c->cur_md5_ok = true;
	}
	for (size_t g = 0; g < w->n_groups; g++)
		if (w->groups[g]->entry) {
			int r = w->groups[g]->entry(c, &w->e);

			if (r < 0)
				return r;
		}
	return 0;
}

/* The pieces of s in order: 0, 1 when the walk ended, or an error. */
static int check_slot(struct walk *w, const struct slot *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct piece *pc = &s->p[i];
		int r = 0;

		switch (pc->kind) {
		case P_ENTRY:
			r = entry_begin(w, pc);
			if (r == 0 && pc->last)
				r = entry_end(w, NULL);
			break;
		case P_DATA:
			r = entry_data(w, s->bytes + pc->off, pc->len);
			break;
		case P_MD5:
			w->checker_md5 = true;
			w->md5_ok = pc->md5_ok && EVP_MD_CTX_copy_ex(w->cmd, pc->ctx) == 1;
			break;
		case P_END:
			r = entry_end(w, pc);
			break;
		case P_FAIL:
			if (pc->code == RAIN_ENOMEM)
				return rain_error_oom();
			return rain_error_set(pc->code, "%s", s->bytes + pc->off);
		case P_DONE:
			return 1;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the reader --------------------------------------------------------- */

static void slot_reset(struct slot *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->p[i].heap);
		EVP_MD_CTX_free(s->p[i].ctx);
	}
	s->used = 0;
	s->n = 0;
}

/* Hand the slot being filled to the checker (one thread: check it now). */
static int give(struct walk *w)
{
	struct slot *s = w->cur;
	int r;

	if (!s)
		return 0;
	w->cur = NULL;
	if (!w->threaded) {
		r = check_slot(w, s);
		slot_reset(s);
		if (r < 0)
			atomic_store(&w->stopped, true);
		return r < 0 ? r : 0;
	}
	atomic_fetch_add(&w->queued, s->used);
	pthread_mutex_lock(&w->lock);
	w->tail++;
	if (atomic_load(&w->checker_waits))
		pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* A free slot to fill, once the checker has taken one. */
static int take(struct walk *w)
{
	struct slot *s;

	if (w->threaded) {
		pthread_mutex_lock(&w->lock);
		while (w->tail - w->head >= N_SLOTS && !atomic_load(&w->stopped)) {
			w->reader_waits = true;
			pthread_cond_wait(&w->cond, &w->lock);
			w->reader_waits = false;
		}
		s = &w->slots[w->tail % N_SLOTS];
		pthread_mutex_unlock(&w->lock);
	} else {
		s = &w->slots[0];
	}
	if (atomic_load(&w->stopped))
		return rain_error_set(RAIN_ECANCELED, "vetting stopped");
	if (!s->bytes)
		s->bytes = malloc(SLOT_BYTES);
	if (!s->p)
		s->p = malloc(SLOT_PIECES * sizeof(*s->p));
	if (!s->bytes || !s->p)
		return rain_error_oom();
	slot_reset(s);
	w->cur = s;
	return 0;
}

/* A new piece of kind with room for at least min (up to want) bytes:
 * *room says how many it has. */
static int piece_add(struct walk *w, enum piece_kind kind, size_t min, size_t want, struct piece **out,
		     size_t *room)
{
	struct slot *s = w->cur;
	struct piece *pc;
	int r;

	if (s && (s->n == SLOT_PIECES || SLOT_BYTES - s->used < min)) {
		r = give(w);
		if (r < 0)
			return r;
		s = NULL;
	}
	if (!s) {
		r = take(w);
		if (r < 0)
			return r;
		s = w->cur;
	}
	pc = &s->p[s->n++];
	memset(pc, 0, offsetof(struct piece, e));
	pc->heap = NULL;
	pc->ctx = NULL;
	pc->kind = kind;
	pc->off = s->used;
	pc->len = 0;
	*room = SLOT_BYTES - s->used < want ? SLOT_BYTES - s->used : want;
	s->used += *room;
	*out = pc;
	return 0;
}

/* The piece just added holds len of the bytes it had room for. */
static void piece_fill(struct walk *w, struct piece *pc, size_t room, size_t len)
{
	pc->len = len;
	w->cur->used -= room - len;
}

/* Whether the checker has enough to do while the reader hashes: bytes
 * waiting for it, or half the ring. */
static bool behind(struct walk *w, uint64_t bytes)
{
	uint64_t slots;

	if (!w->threaded)
		return false;
	if (atomic_load(&w->queued) >= bytes)
		return true;
	pthread_mutex_lock(&w->lock);
	slots = w->tail - w->head;
	pthread_mutex_unlock(&w->lock);
	return slots >= N_SLOTS / 2;
}

/* The checker goes on with the MD5 the reader began (ok: so far). */
static int hand_over(struct walk *w, bool ok)
{
	struct piece *pc;
	size_t room;
	int r = piece_add(w, P_MD5, 0, 0, &pc, &room);

	if (r < 0)
		return r;
	pc->ctx = EVP_MD_CTX_new();
	if (!pc->ctx)
		return rain_error_oom();
	pc->md5_ok = ok && EVP_MD_CTX_copy_ex(pc->ctx, w->rmd) == 1;
	return 0;
}

/* The content of a regular file: up to max bytes for the groups, all of
 * it when md5. The reader hashes while the checker is behind, and hands
 * the MD5 over when the checker runs short. */
static int read_content(struct walk *w, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f,
			uint64_t max, bool md5, struct piece *entry)
{
	bool mine = md5 && behind(w, BEHIND), ok = true;
	uint64_t limit = md5 ? UINT64_MAX : max, off = 0;
	struct piece *end;
	size_t room;
	int r;

	entry->checker_md5 = md5 && !mine;
	if (mine) {
		/* the checker has this to do while the reader hashes */
		if (e->size >= READ_CHUNK) {
			r = give(w);
			if (r < 0)
				return r;
		}
		ok = EVP_DigestInit_ex(w->rmd, EVP_md5(), NULL) == 1;
	}
	while (off < limit) {
		size_t n = limit - off < READ_CHUNK ? (size_t)(limit - off) : READ_CHUNK, got = 0;
		bool whole = off < max && max - off <= WHOLE_MAX;
		struct piece *pc = NULL;
		char *dst = w->rbuf;
		ssize_t k = 0;

		if (mine && off > 0 && !behind(w, LOW)) {
			r = hand_over(w, ok);
			if (r < 0)
				return r;
			mine = false;
		} else if (mine && atomic_load(&w->checker_waits)) {
			r = give(w);
			if (r < 0)
				return r;
		}
		if (whole || (mine && off < max && n > max - off))
			n = (size_t)(max - off);
		/* what the checker reads or hashes goes in a slot: what the
		 * groups want in one piece (rules-files.c searches it where
		 * it is) */
		if (!mine || off < max) {
			r = piece_add(w, P_DATA, whole || n < MIN_ROOM ? n : MIN_ROOM, n, &pc, &room);
			if (r < 0)
				return r;
			n = room;
			dst = w->cur->bytes + pc->off;
		} else if (atomic_load(&w->stopped)) {
			return rain_error_set(RAIN_ECANCELED, "vetting stopped");
		}
		while (got < n && (k = rain_imgfs_file_read(f, dst + got, n - got)) > 0)
			got += (size_t)k;
		if (pc) {
			piece_fill(w, pc, room, got);
			if (!got)
				w->cur->n--;
		}
		if (k < 0)
			return (int)k;
		if (!got)
			break;
		if (mine && ok)
			ok = EVP_DigestUpdate(w->rmd, dst, got) == 1;
		off += got;
		if (k == 0)
			break;
	}
	r = piece_add(w, P_END, 0, 0, &end, &room);
	if (r < 0)
		return r;
	if (mine) {
		unsigned int len = 0;

		end->md5_ok = ok && EVP_DigestFinal_ex(w->rmd, end->md5, &len) == 1 && len == sizeof(end->md5);
	}
	return 0;
}

static int read_entry(void *ud, const struct rain_imgfs_entry *e, struct rain_imgfs_file *f)
{
	struct walk *w = ud;
	struct vet_ctx *c = w->c;
	size_t plen = strlen(e->path) + 1, llen = e->link ? strlen(e->link) + 1 : 0, room;
	uint64_t max = 0;
	bool md5 = false;
	struct piece *pc;
	char *p;
	int r;

	if (atomic_load(&w->stopped))
		return rain_error_set(RAIN_ECANCELED, "vetting stopped");
	/* a tar's link may be long */
	r = piece_add(w, P_ENTRY, plen + llen <= MIN_ROOM ? plen + llen : 0,
		      plen + llen <= MIN_ROOM ? plen + llen : 0, &pc, &room);
	if (r < 0)
		return r;
	if (plen + llen <= MIN_ROOM) {
		p = w->cur->bytes + pc->off;
	} else {
		p = pc->heap = malloc(plen + llen);
		if (!p) {
			w->cur->n--;
			return rain_error_oom();
		}
	}
	pc->e = *e;
	memcpy(p, e->path, plen);
	pc->e.path = p;
	if (e->link) {
		memcpy(p + plen, e->link, llen);
		pc->e.link = p + plen;
	}
	if (!f || !S_ISREG(e->mode)) {
		pc->last = true;
		memset(pc->want, 0, sizeof(pc->want));
	} else {
		pc->read = true;
		for (size_t g = 0; g < w->n_groups; g++) {
			pc->want[g] = w->groups[g]->want ? w->groups[g]->want(c, e) : 0;
			if (pc->want[g] > max)
				max = pc->want[g];
			if (w->groups[g]->md5 && w->groups[g]->md5(c, e))
				md5 = true;
		}
		for (size_t g = w->n_groups; g < MAX_GROUPS; g++)
			pc->want[g] = 0;
		r = read_content(w, e, f, max, md5, pc);
		if (r < 0)
			return r;
	}
	/* an idle checker gets what there is */
	if (w->threaded && atomic_load(&w->checker_waits) && w->cur &&
	    (w->cur->n >= FEED_PIECES || w->cur->used >= FEED_BYTES))
		return give(w);
	return 0;
}

/* The walk, then its end (or failure) for the checker. */
static int reader_run(struct walk *w)
{
	int r = rain_imgfs_walk(w->c->fs, read_entry, w), r2;
	char msg[1024] = "";
	size_t len, room;
	struct piece *pc;

	if (atomic_load(&w->stopped))
		return r;       /* the checker's failure, already known */
	if (r < 0)
		snprintf(msg, sizeof(msg), "%s", rain_error_last());
	len = strlen(msg) + 1;
	r2 = piece_add(w, r < 0 ? P_FAIL : P_DONE, len, len, &pc, &room);
	if (r2 < 0)
		return r2;
	if (r < 0) {
		pc->code = r;
		memcpy(w->cur->bytes + pc->off, msg, len);
	}
	return give(w);
}

static void *reader_main(void *ud)
{
	struct walk *w = ud;
	int r = reader_run(w);

	pthread_mutex_lock(&w->lock);
	w->reader_r = r;
	if (r < 0)
		snprintf(w->reader_msg, sizeof(w->reader_msg), "%s", rain_error_last());
	w->reader_done = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* ---- the walk ----------------------------------------------------------- */

/* The checker's side of a threaded walk: slots in order until the walk's
 * end or a failure, then the reader is stopped and joined. */
static int check_all(struct walk *w, pthread_t reader)
{
	int r = 0;

	while (r == 0) {
		struct slot *s;
		size_t used;

		pthread_mutex_lock(&w->lock);
		while (w->head == w->tail && !w->reader_done) {
			atomic_store(&w->checker_waits, true);
			pthread_cond_wait(&w->cond, &w->lock);
		}
		atomic_store(&w->checker_waits, false);
		if (w->head == w->tail) {
			/* the reader ended without saying how: it failed to */
			r = w->reader_r < 0 ? w->reader_r : RAIN_EIO;
			if (r == RAIN_ENOMEM)
				rain_error_oom();
			else
				rain_error_set(r, "%s", w->reader_r < 0 ? w->reader_msg : "vetting: the walk ended early");
			pthread_mutex_unlock(&w->lock);
			break;
		}
		s = &w->slots[w->head % N_SLOTS];
		pthread_mutex_unlock(&w->lock);
		r = check_slot(w, s);
		used = s->used;
		pthread_mutex_lock(&w->lock);
		w->head++;
		if (r < 0)
			atomic_store(&w->stopped, true);
		if (w->reader_waits || r < 0)
			pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		atomic_fetch_sub(&w->queued, used);
	}
	pthread_join(reader, NULL);
	return r < 0 ? r : 0;
}

int vet_walk(struct vet_ctx *c, const struct vet_group *const *groups, size_t n_groups)
{
	struct walk w = { .c = c, .groups = groups, .n_groups = n_groups };
	pthread_t reader;
	sigset_t all, old;
	int r;

	if (n_groups > MAX_GROUPS)
		return rain_error_set(RAIN_EINVAL, "vetting: %zu groups of rules, at most %d", n_groups, MAX_GROUPS);
	atomic_init(&w.checker_waits, false);
	atomic_init(&w.stopped, false);
	atomic_init(&w.queued, 0);
	w.rmd = EVP_MD_CTX_new();
	w.cmd = EVP_MD_CTX_new();
	w.rbuf = malloc(READ_CHUNK);
	if (!w.rmd || !w.cmd || !w.rbuf) {
		r = rain_error_oom();
		goto done;
	}
	w.threaded = !(c->opts && c->opts->one_thread) && pthread_mutex_init(&w.lock, NULL) == 0;
	if (w.threaded && pthread_cond_init(&w.cond, NULL) != 0) {
		pthread_mutex_destroy(&w.lock);
		w.threaded = false;
	}
	if (w.threaded) {
		/* signals stay the caller's (its handlers may set opts->cancel) */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (pthread_create(&reader, NULL, reader_main, &w) != 0) {
			pthread_cond_destroy(&w.cond);
			pthread_mutex_destroy(&w.lock);
			w.threaded = false;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (w.threaded) {
		r = check_all(&w, reader);
		pthread_cond_destroy(&w.cond);
		pthread_mutex_destroy(&w.lock);
	} else {
		r = reader_run(&w);
	}
done:
	for (size_t i = 0; i < N_SLOTS; i++) {
		if (w.slots[i].p)
			slot_reset(&w.slots[i]);
		free(w.slots[i].bytes);
		free(w.slots[i].p);
	}
	free(w.rbuf);
	free(w.path);
	free(w.link);
	EVP_MD_CTX_free(w.rmd);
	EVP_MD_CTX_free(w.cmd);
	return r;
}
