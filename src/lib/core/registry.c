#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "rain/sys/registry.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const struct rain_driver *registered[RAIN_DRIVERS_MAX];
static size_t nregistered;

/* Whether uri starts with d's scheme and a ':'. */
static bool serves(const struct rain_driver *d, const char *kind, const char *uri)
{
	size_t n = strlen(d->scheme);

	return !strcmp(d->kind, kind) && !strncmp(uri, d->scheme, n) && uri[n] == ':';
}

/* The driver of kind whose scheme starts uri, or NULL. Under lock. */
static const struct rain_driver *find(const char *kind, const char *uri,
				      const struct rain_driver *const *builtin)
{
	for (size_t i = 0; builtin && builtin[i]; i++)
		if (serves(builtin[i], kind, uri))
			return builtin[i];
	for (size_t i = 0; i < nregistered; i++)
		if (serves(registered[i], kind, uri))
			return registered[i];
	return NULL;
}

int rain_driver_register(const struct rain_driver *d)
{
	char prefix[64];
	int r = 0;

	if (!d || !d->kind || !d->scheme || !d->scheme[0] || !d->usage || !d->table ||
	    strchr(d->scheme, ':'))
		return rain_error_set(RAIN_EINVAL, "a driver needs a kind, a scheme without ':', "
				      "a usage and a table");
	snprintf(prefix, sizeof(prefix), "%s:", d->scheme);
	pthread_mutex_lock(&lock);
	if (find(d->kind, prefix, NULL))
		r = rain_error_set(RAIN_EEXISTS, "a %s driver for '%s:' is registered already",
				   d->kind, d->scheme);
	else if (nregistered == RAIN_DRIVERS_MAX)
		r = rain_error_set(RAIN_ETOOBIG, "at most %d drivers can be registered",
				   RAIN_DRIVERS_MAX);
	else
		registered[nregistered++] = d;
	pthread_mutex_unlock(&lock);
	return r;
}

/* "unknown WHAT in 'URI' (known: a, b)", listing every driver of kind. */
static int unknown(const char *kind, const char *what, const char *uri,
		   const struct rain_driver *const *builtin)
{
	char known[512] = "";
	size_t len = 0;

	for (size_t i = 0; builtin[i] && len < sizeof(known); i++)
		len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s",
					len ? ", " : "", builtin[i]->usage);
	for (size_t i = 0; i < nregistered && len < sizeof(known); i++)
		if (!strcmp(registered[i]->kind, kind))
			len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s",
						len ? ", " : "", registered[i]->usage);
	return rain_error_set(RAIN_EINVAL, "unknown %s in '%s' (known: %s)", what, uri, known);
}

static int check_version(const char *kind, const struct rain_driver *d, unsigned int version)
{
	if (*(const unsigned int *)d->table != version)
		return rain_error_set(RAIN_EINVAL, "the %s driver '%s' is of table version %u; "
				      "this librain takes version %u (rebuild the driver)",
				      kind, d->scheme, *(const unsigned int *)d->table, version);
	return 0;
}

int rain_driver_lookup(const char *kind, const char *what, const char *uri,
		       const struct rain_driver *const *builtin, unsigned int version,
		       const struct rain_driver **out, const char **location)
{
	const struct rain_driver *d;
	int r = 0;

	pthread_mutex_lock(&lock);
	d = find(kind, uri, builtin);
	if (d)
		*location = uri + strlen(d->scheme) + 1;
	else if (strstr(uri, "://"))
		r = unknown(kind, what, uri, builtin);
	else {
		d = builtin[0];
		*location = uri;
	}
	pthread_mutex_unlock(&lock);
	if (r < 0)
		return r;
	if ((r = check_version(kind, d, version)) < 0)
		return r;
	*out = d;
	return 0;
}

int rain_driver_find(const char *kind, const char *scheme, const struct rain_driver *const *builtin,
		     unsigned int version, const struct rain_driver **out)
{
	char prefix[64];
	const struct rain_driver *d;
	int r;

	*out = NULL;
	if (snprintf(prefix, sizeof(prefix), "%s:", scheme) >= (int)sizeof(prefix))
		return rain_error_set(RAIN_ENOTFOUND, "no %s driver for '%s'", kind, scheme);
	pthread_mutex_lock(&lock);
	d = find(kind, prefix, builtin);
	pthread_mutex_unlock(&lock);
	if (!d)
		return rain_error_set(RAIN_ENOTFOUND, "no %s driver for '%s'", kind, scheme);
	if ((r = check_version(kind, d, version)) < 0)
		return r;
	*out = d;
	return 0;
}
