/* The kernel modules the netboot initramfs loads, in order, from the
 * image's modules.dep and modules.builtin (netboot-internal.h). The texts
 * are the image's, hence hostile: names are looked up in a sorted table,
 * dependencies are followed without recursion, and sizes are bounded. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netboot-internal.h"
#include "rain/error.h"
#include "util/cleanup.h"
#include "util/strutil.h"

struct kmod {
	char *name;                     /* normalized: '-' as '_' */
	char *path;                     /* as modules.dep names it */
	char **deps;                    /* names */
	size_t ndeps;
	int state;                      /* 0 new, 1 on the way, 2 in the order */
};

struct kmods {
	struct kmod *v;
	size_t n, cap;
	char **builtin;                 /* sorted */
	size_t nbuiltin;
	struct netboot_module *order;
	size_t norder, ordercap;
	const char *kver;
};

/* "kernel/fs/squashfs/squashfs.ko.xz" -> "squashfs" */
static char *kmod_name(const char *path, size_t len)
{
	const char *b = memrchr(path, '/', len);
	char *n, *dot;

	b = b ? b + 1 : path;
	if (!(n = strndup(b, len - (size_t)(b - path))))
		return NULL;
	if ((dot = strstr(n, ".ko")))
		*dot = '\0';
	for (char *p = n; *p; p++)
		if (*p == '-')
			*p = '_';
	return n;
}

static int kmod_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kmod *)a)->name, ((const struct kmod *)b)->name);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct kmod *kmods_find(struct kmods *k, const char *name)
{
	struct kmod key = { .name = (char *)name };

	return k->n ? bsearch(&key, k->v, k->n, sizeof(*k->v), kmod_cmp) : NULL;
}

static bool kmods_builtin(struct kmods *k, const char *name)
{
	return k->nbuiltin && bsearch(&name, k->builtin, k->nbuiltin, sizeof(char *), str_cmp);
}

static void kmods_clear(struct kmods *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->v[i].name);
		free(k->v[i].path);
		strv_free(k->v[i].deps, k->v[i].ndeps);
	}
	free(k->v);
	strv_free(k->builtin, k->nbuiltin);
	netboot_modules_free(k->order, k->norder);
}

static int kmods_parse(struct kmods *k, const char *dep_text, const char *builtin_text)
{
	_cleanup_free_ char *dep = strdup(dep_text), *builtin = builtin_text ? strdup(builtin_text) : NULL;
	char *save = NULL;

	if (!dep || (builtin_text && !builtin))
		return rain_error_oom();
	for (char *line = strtok_r(dep, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':'), *s2 = NULL;
		struct kmod *m;

		if (!colon || colon == line)
			continue;
		if (k->n == NETBOOT_MODULES_MAX)
			return rain_error_set(RAIN_ETOOBIG, "/lib/modules/%s/modules.dep names more than %d "
					      "modules", k->kver, NETBOOT_MODULES_MAX);
		if (ARRAY_GROW(k->v, k->n, k->cap) < 0)
			return rain_error_oom();
		m = &k->v[k->n];
		memset(m, 0, sizeof(*m));
		k->n++;
		if (!(m->path = strndup(line, (size_t)(colon - line))) ||
		    !(m->name = kmod_name(line, (size_t)(colon - line))))
			return rain_error_oom();
		for (char *d = strtok_r(colon + 1, " \t\r", &s2); d; d = strtok_r(NULL, " \t\r", &s2)) {
			_cleanup_free_ char *n = kmod_name(d, strlen(d));

			if (m->ndeps == NETBOOT_DEPS_MAX)
				return rain_error_set(RAIN_ETOOBIG, "/lib/modules/%s/modules.dep: %s has more "
						      "than %d dependencies", k->kver, m->name, NETBOOT_DEPS_MAX);
			if (!n || strv_add(&m->deps, &m->ndeps, n) < 0)
				return rain_error_oom();
		}
	}
	if (k->n)
		qsort(k->v, k->n, sizeof(*k->v), kmod_cmp);
	save = NULL;
	for (char *line = builtin ? strtok_r(builtin, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		_cleanup_free_ char *n = kmod_name(line, strlen(line));

		if (k->nbuiltin == NETBOOT_MODULES_MAX)
			return rain_error_set(RAIN_ETOOBIG, "/lib/modules/%s/modules.builtin names more than %d "
					      "modules", k->kver, NETBOOT_MODULES_MAX);
		if (!n || strv_add(&k->builtin, &k->nbuiltin, n) < 0)
			return rain_error_oom();
	}
	if (k->nbuiltin)
		qsort(k->builtin, k->nbuiltin, sizeof(char *), str_cmp);
	return 0;
}

static int order_add(struct kmods *k, struct kmod *m)
{
	struct netboot_module *o;

	if (ARRAY_GROW(k->order, k->norder, k->ordercap) < 0)
		return rain_error_oom();
	o = &k->order[k->norder];
	o->optional = false;
	o->name = strdup(m->name);
	o->path = strdup(m->path);
	if (!o->name || !o->path) {
		free(o->name);
		free(o->path);
		return rain_error_oom();
	}
	k->norder++;
	m->state = 2;
	return 0;
}

/* Put m after its dependencies into the order: a depth-first walk with a
 * stack of its own (a hostile chain of modules is no recursion). */
static int kmods_add(struct kmods *k, struct kmod *m)
{
	struct frame {
		struct kmod *m;
		size_t next;
	};
	_cleanup_free_ struct frame *stack = NULL;
	size_t depth = 0, cap = 0;
	int r;

	if (m->state == 2)
		return 0;
	if (ARRAY_GROW(stack, depth, cap) < 0)
		return rain_error_oom();
	stack[depth++] = (struct frame){ m, 0 };
	m->state = 1;
	while (depth) {
		struct frame *f = &stack[depth - 1];
		const char *dn;
		struct kmod *d;

		if (f->next == f->m->ndeps) {
			if ((r = order_add(k, f->m)) < 0)
				return r;
			depth--;
			continue;
		}
		dn = f->m->deps[f->next++];
		if (!(d = kmods_find(k, dn))) {
			if (kmods_builtin(k, dn))
				continue;
			return rain_error_set(RAIN_EFORMAT, "/lib/modules/%s/modules.dep: %s needs %s, which it "
					      "does not list", k->kver, f->m->name, dn);
		}
		if (d->state == 2)
			continue;
		if (d->state == 1)
			return rain_error_set(RAIN_EFORMAT, "/lib/modules/%s/modules.dep: %s depends on "
					      "itself (through %s)", k->kver, d->name, f->m->name);
		if (ARRAY_GROW(stack, depth, cap) < 0)
			return rain_error_oom();
		stack[depth++] = (struct frame){ d, 0 };
		d->state = 1;
	}
	return 0;
}

static int kmods_want(struct kmods *k, const char *const *names, bool required)
{
	char missing[512] = "";
	size_t len = 0;

	for (size_t i = 0; names && names[i]; i++) {
		_cleanup_free_ char *n = kmod_name(names[i], strlen(names[i]));
		struct kmod *m;
		int r;

		if (!n)
			return rain_error_oom();
		if ((m = kmods_find(k, n))) {
			if ((r = kmods_add(k, m)) < 0)
				return r;
		} else if (required && !kmods_builtin(k, n) && len < sizeof(missing)) {
			len += (size_t)snprintf(missing + len, sizeof(missing) - len, "%s%s", len ? ", " : "", n);
		}
	}
	if (len)
		return rain_error_set(RAIN_EINVAL, "the image's kernel %s has neither as a module nor built "
				      "in: %s (a netboot node needs them to reach its root)", k->kver, missing);
	return 0;
}

int netboot_modules_order(const char *dep, const char *builtin, const char *const *required,
			  const char *const *optional, const char *kver, struct netboot_module **out,
			  size_t *n)
{
	struct kmods k = { .kver = kver };
	size_t nreq = 0;
	int r;

	*out = NULL;
	*n = 0;
	r = kmods_parse(&k, dep, builtin);
	if (r >= 0)
		r = kmods_want(&k, required, true);
	if (r >= 0) {
		nreq = k.norder;
		r = kmods_want(&k, optional, false);
	}
	if (r >= 0) {
		for (size_t i = nreq; i < k.norder; i++)
			k.order[i].optional = true;
		*out = TAKE_PTR(k.order);
		*n = k.norder;
		k.norder = 0;
	}
	kmods_clear(&k);
	return r;
}

void netboot_modules_free(struct netboot_module *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].path);
	}
	free(v);
}
