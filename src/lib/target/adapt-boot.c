/* The boot loader's configuration of an image, read and changed as text:
 * what the default entry boots (kernel, initramfs, command line) and a
 * serial console added to every command line. The text is the image's
 * (untrusted): lines of any length and content, no NUL assumed; fuzzed by
 * tests/fuzz/fuzz-adapt-boot.c. Also the module lists of a kernel
 * (modules.dep, modules.builtin).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/target/adapt-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"

#define MAX_TEXT (1u << 20)

void adapt_boot_clear(struct adapt_boot *b)
{
	free(b->kernel);
	free(b->initrd);
	free(b->cmdline);
	memset(b, 0, sizeof(*b));
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* One line of text: [*s, *e) without the newline. */
struct line {
	const char *s, *e;
};

static bool next_line(const char **p, const char *end, struct line *l)
{
	const char *nl;

	if (*p >= end)
		return false;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	l->s = *p;
	l->e = nl ? nl : end;
	*p = nl ? nl + 1 : end;
	return true;
}

/* The first word of l (after blanks) in [*ws, *we), the rest (blanks
 * skipped, trailing blanks cut) in [*rs, *re). */
static void split_word(const struct line *l, const char **ws, const char **we, const char **rs,
		       const char **re)
{
	const char *p = l->s, *e = l->e;

	while (p < e && is_space(*p))
		p++;
	*ws = p;
	while (p < e && !is_space(*p))
		p++;
	*we = p;
	while (p < e && is_space(*p))
		p++;
	while (e > p && is_space(e[-1]))
		e--;
	*rs = p;
	*re = e;
}

static bool word_is(const char *ws, const char *we, const char *w, bool nocase)
{
	size_t n = strlen(w);

	if ((size_t)(we - ws) != n)
		return false;
	return nocase ? strncasecmp(ws, w, n) == 0 : memcmp(ws, w, n) == 0;
}

static bool grub_linux(const char *ws, const char *we)
{
	return word_is(ws, we, "linux", false) || word_is(ws, we, "linux16", false) ||
	       word_is(ws, we, "linuxefi", false);
}

static bool grub_initrd(const char *ws, const char *we)
{
	return word_is(ws, we, "initrd", false) || word_is(ws, we, "initrd16", false) ||
	       word_is(ws, we, "initrdefi", false);
}

static char *dup_range(const char *s, const char *e)
{
	char *r = malloc((size_t)(e - s) + 1);

	if (r) {
		memcpy(r, s, (size_t)(e - s));
		r[e - s] = '\0';
		/* a NUL inside the image's text ends the string there */
	}
	return r;
}

/* The first word of [s, e) as a path, a grub device prefix "(hd0,1)" cut. */
static char *path_word(const char *s, const char *e, bool grub)
{
	const char *we = s;

	while (we < e && !is_space(*we))
		we++;
	if (grub && s < we && *s == '(') {
		const char *close = memchr(s, ')', (size_t)(we - s));

		if (close)
			s = close + 1;
	}
	return dup_range(s, we);
}

static int parse_grub(const char *text, size_t len, struct adapt_boot *out)
{
	const char *p = text, *end = text + len;
	struct line l;
	bool have = false;

	while (next_line(&p, end, &l)) {
		const char *ws, *we, *rs, *re, *args;

		split_word(&l, &ws, &we, &rs, &re);
		if (!have && grub_linux(ws, we) && rs < re) {
			out->kernel = path_word(rs, re, true);
			args = rs;
			while (args < re && !is_space(*args))
				args++;
			while (args < re && is_space(*args))
				args++;
			out->cmdline = dup_range(args, re);
			if (!out->kernel || !out->cmdline)
				return rain_error_oom();
			have = true;
		} else if (have && grub_initrd(ws, we) && rs < re) {
			out->initrd = path_word(rs, re, true);
			return out->initrd ? 0 : rain_error_oom();
		} else if (have && (grub_linux(ws, we) || (ws < we && *ws == '}') ||
				    word_is(ws, we, "menuentry", false))) {
			break;          /* the entry ended without an initrd */
		}
	}
	return have ? 0 : rain_error_set(RAIN_ENOTFOUND, "no 'linux' line");
}

/* extlinux: the LABEL block named by DEFAULT, else the first one. */
static int parse_extlinux(const char *text, size_t len, struct adapt_boot *out)
{
	const char *p = text, *end = text + len, *def = NULL, *def_end = NULL;
	const char *block = NULL;       /* where the chosen block's lines start */
	struct line l;

	/* DEFAULT and the block it names (or the first LABEL) */
	while (next_line(&p, end, &l)) {
		const char *ws, *we, *rs, *re;

		split_word(&l, &ws, &we, &rs, &re);
		if (word_is(ws, we, "default", true) && !def) {
			def = rs;
			def_end = re;
		}
	}
	for (int pass = 0; pass < 2 && !block; pass++) {
		p = text;
		while (next_line(&p, end, &l)) {
			const char *ws, *we, *rs, *re;

			split_word(&l, &ws, &we, &rs, &re);
			if (!word_is(ws, we, "label", true))
				continue;
			if (pass == 1 || (def && re - rs == def_end - def && memcmp(rs, def, (size_t)(re - rs)) == 0)) {
				block = p;
				break;
			}
		}
	}
	/* no LABEL: the global LINUX/APPEND lines */
	p = block ? block : text;
	while (next_line(&p, end, &l)) {
		const char *ws, *we, *rs, *re;
		char **dst = NULL;

		split_word(&l, &ws, &we, &rs, &re);
		if (block && word_is(ws, we, "label", true))
			break;
		if ((word_is(ws, we, "linux", true) || word_is(ws, we, "kernel", true)) && !out->kernel)
			dst = &out->kernel;
		else if (word_is(ws, we, "initrd", true) && !out->initrd)
			dst = &out->initrd;
		else if (word_is(ws, we, "append", true) && !out->cmdline) {
			if (!(out->cmdline = dup_range(rs, re)))
				return rain_error_oom();
			continue;
		}
		if (dst && rs < re && !(*dst = path_word(rs, re, false)))
			return rain_error_oom();
	}
	if (!out->kernel)
		return rain_error_set(RAIN_ENOTFOUND, "no LINUX or KERNEL line");
	if (!out->cmdline && !(out->cmdline = strdup("")))
		return rain_error_oom();
	/* "initrd=PATH" on the APPEND line names it too */
	if (!out->initrd) {
		const char *s = out->cmdline;

		while (*s) {
			while (is_space(*s))
				s++;
			if (strncmp(s, "initrd=", 7) == 0) {
				const char *e = s + 7;

				while (*e && !is_space(*e) && *e != ',')
					e++;
				if (!(out->initrd = dup_range(s + 7, e)))
					return rain_error_oom();
				break;
			}
			while (*s && !is_space(*s))
				s++;
		}
	}
	return 0;
}

int adapt_boot_parse(enum adapt_boot_kind kind, const char *text, size_t len, struct adapt_boot *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (len > MAX_TEXT)
		return rain_error_set(RAIN_ETOOBIG, "the boot loader's configuration is larger than 1 MiB");
	if (kind == ADAPT_BOOT_GRUB_DEFAULT)
		return rain_error_set(RAIN_ENOTFOUND, "/etc/default/grub names no kernel");
	r = kind == ADAPT_BOOT_GRUB ? parse_grub(text, len, out) : parse_extlinux(text, len, out);
	if (r < 0)
		adapt_boot_clear(out);
	return r;
}

/* Whether [s, e) has the word console=DEV or console=DEV,OPTIONS. */
static bool range_has_console(const char *s, const char *e, const char *dev)
{
	size_t dl = strlen(dev);

	while (s < e) {
		const char *we;

		while (s < e && is_space(*s))
			s++;
		we = s;
		while (we < e && !is_space(*we))
			we++;
		if ((size_t)(we - s) >= 8 + dl && memcmp(s, "console=", 8) == 0 && memcmp(s + 8, dev, dl) == 0 &&
		    (s + 8 + dl == we || s[8 + dl] == ','))
			return true;
		s = we;
	}
	return false;
}

bool adapt_cmdline_has_console(const char *cmdline, const char *dev)
{
	return range_has_console(cmdline, cmdline + strlen(cmdline), dev);
}

struct buf {
	char *d;
	size_t n, cap;
};

static int buf_put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *d;

		while (cap < b->n + n + 1)
			cap *= 2;
		d = realloc(b->d, cap);
		if (!d)
			return rain_error_oom();
		b->d = d;
		b->cap = cap;
	}
	memcpy(b->d + b->n, s, n);
	b->n += n;
	b->d[b->n] = '\0';
	return 0;
}

/* Insert s at offset at of b. */
static int buf_insert(struct buf *b, size_t at, const char *s)
{
	size_t n = strlen(s), tail = b->n - at;
	int r = buf_put(b, s, n);

	if (r < 0)
		return r;
	memmove(b->d + at + n, b->d + at, tail);
	memcpy(b->d + at, s, n);
	return 0;
}

/* A line GRUB_CMDLINE_LINUX="VALUE" (or '...'): the value in [*vs, *ve),
 * *ve at its closing quote. */
static bool grub_default_value(const struct line *l, const char **vs, const char **ve)
{
	static const char key[] = "GRUB_CMDLINE_LINUX=";
	const char *p = l->s, *e = l->e;

	while (p < e && is_space(*p))
		p++;
	while (e > p && is_space(e[-1]))
		e--;
	if ((size_t)(e - p) < sizeof(key) + 1 || memcmp(p, key, sizeof(key) - 1) != 0)
		return false;
	p += sizeof(key) - 1;
	if ((*p != '"' && *p != '\'') || e[-1] != *p)
		return false;
	*vs = p + 1;
	*ve = e - 1;
	return true;
}

int adapt_boot_add_console(enum adapt_boot_kind kind, const char *text, size_t len, const char *dev,
			   char **out, bool *changed)
{
	_cleanup_free_ char *arg = NULL, *append = NULL;
	struct buf b = { 0 };
	const char *p = text, *end = text + len;
	struct line l;
	/* extlinux: the current LABEL block (before the first: the global
	 * lines), where its kernel line ended in b, and whether it has an
	 * APPEND line */
	bool in_label = kind == ADAPT_BOOT_EXTLINUX, has_append = false;
	size_t after_kernel = 0;
	int r = 0;

	*out = NULL;
	*changed = false;
	if (len > MAX_TEXT)
		return rain_error_set(RAIN_ETOOBIG, "the boot loader's configuration is larger than 1 MiB");
	if (asprintf(&arg, " console=%s,115200", dev) < 0 || asprintf(&append, "\tAPPEND%s\n", arg) < 0)
		return rain_error_oom();
	r = buf_put(&b, "", 0);
	while (r == 0 && next_line(&p, end, &l)) {
		const char *ws, *we, *rs, *re;
		bool nl = l.e < end;
		bool edit = false;

		split_word(&l, &ws, &we, &rs, &re);
		if (kind == ADAPT_BOOT_GRUB) {
			edit = grub_linux(ws, we) && rs < re;
			/* the console is looked for after the kernel's path */
			while (rs < re && !is_space(*rs))
				rs++;
		} else if (kind == ADAPT_BOOT_GRUB_DEFAULT) {
			edit = grub_default_value(&l, &rs, &re);
		} else {
			if (word_is(ws, we, "label", true)) {
				if (in_label && after_kernel && !has_append) {
					r = buf_insert(&b, after_kernel, append);
					*changed = true;
				}
				in_label = true;
				has_append = false;
				after_kernel = 0;
			}
			if (word_is(ws, we, "append", true)) {
				has_append = true;
				edit = true;
			}
		}
		if (r < 0)
			break;
		if (edit && !range_has_console(rs, re, dev)) {
			/* the line up to its last word, the console, what followed */
			const char *a = kind == ADAPT_BOOT_GRUB_DEFAULT && rs == re ? arg + 1 : arg;

			r = buf_put(&b, l.s, (size_t)(re - l.s));
			if (r == 0)
				r = buf_put(&b, a, strlen(a));
			if (r == 0)
				r = buf_put(&b, re, (size_t)(l.e - re));
			*changed = true;
		} else {
			r = buf_put(&b, l.s, (size_t)(l.e - l.s));
		}
		if (r == 0 && nl)
			r = buf_put(&b, "\n", 1);
		if (r == 0 && kind == ADAPT_BOOT_EXTLINUX && in_label &&
		    (word_is(ws, we, "linux", true) || word_is(ws, we, "kernel", true))) {
			if (!nl)
				r = buf_put(&b, "\n", 1);
			after_kernel = b.n;
		}
	}
	if (r == 0 && kind == ADAPT_BOOT_EXTLINUX && in_label && after_kernel && !has_append) {
		r = buf_insert(&b, after_kernel, append);
		*changed = true;
	}
	if (r < 0) {
		free(b.d);
		return r;
	}
	*out = b.d;
	return 0;
}

bool adapt_modules_has(const char *text, size_t len, const char *module)
{
	static const char *const exts[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz", NULL };
	const char *p = text, *end = text + len;
	size_t ml = strlen(module);
	struct line l;

	while (next_line(&p, end, &l)) {
		const char *colon = memchr(l.s, ':', (size_t)(l.e - l.s));
		const char *e = colon ? colon : l.e, *base = e;

		while (base > l.s && base[-1] != '/')
			base--;
		for (size_t i = 0; exts[i]; i++) {
			size_t xl = strlen(exts[i]);
			bool same = true;

			if ((size_t)(e - base) != ml + xl || memcmp(base + ml, exts[i], xl) != 0)
				continue;
			/* "-" and "_" are the same in module names */
			for (size_t j = 0; j < ml && same; j++) {
				char a = base[j] == '-' ? '_' : base[j], m = module[j] == '-' ? '_' : module[j];

				same = a == m;
			}
			if (same)
				return true;
		}
	}
	return false;
}
