/* The driver registry: which table serves a URI scheme, per kind of driver.
 *
 * For backend and driver authors (as libgit2's git2/sys/): the user API
 * names a store by URI ("sqlite:/var/lib/rain/catalog.db", "file:DIR",
 * later "postgresql://...", "s3://...", "openstack:..."); the part before
 * the first ':' picks the driver of that kind. A kind ("catalog", "blob",
 * later "target", "provisioner") has a table type in include/rain/sys/,
 * whose first member is `unsigned int version`, the version of that table
 * type the driver was written against.
 *
 * A kind passes its built-in drivers to rain_driver_lookup(); others are
 * added with rain_driver_register() before the first open (say, by a
 * program at start-up). Lookups are safe from many threads at once.
 */
#ifndef RAIN_SYS_REGISTRY_H
#define RAIN_SYS_REGISTRY_H

/* One driver. Everything it points to is static: the registry keeps the
 * pointer, not a copy. */
struct rain_driver {
	const char *kind;       /* "catalog", "blob", ... */
	const char *scheme;     /* "sqlite": serves URIs "sqlite:..." */
	const char *usage;      /* what such a URI looks like: "sqlite:PATH" */
	const void *table;      /* the kind's table; starts with unsigned int version */
};

/* At most this many drivers registered (built-in ones not counted). */
#define RAIN_DRIVERS_MAX 32

/* Add d. RAIN_EEXISTS when its kind already has a registered driver of
 * that scheme (a built-in driver of the scheme is taken first anyway),
 * RAIN_EINVAL when a field is missing, RAIN_ETOOBIG when the registry is
 * full. */
int rain_driver_register(const struct rain_driver *d);

/* Find the driver of `kind` for uri. builtin: the kind's built-in drivers
 * (NULL-terminated, at least one); the first serves a URI that names no
 * scheme (a bare path, "/srv/catalog.db"). A URI whose text up to the
 * first ':' is a known scheme goes to that driver, and *location is the
 * rest; otherwise a URI with "://" is an unknown scheme, and anything else
 * is a bare location for the first built-in driver. The driver's table
 * must be of version `version`.
 *
 * RAIN_EINVAL for an unknown scheme, with a message "unknown WHAT in
 * 'URI' (known: USAGE, ...)" (what: "catalog backend", "blob store"), or
 * for a table of another version. */
int rain_driver_lookup(const char *kind, const char *what, const char *uri,
		       const struct rain_driver *const *builtin, unsigned int version,
		       const struct rain_driver **out, const char **location);

/* The driver of kind for exactly scheme (built-in ones first, builtin may
 * be empty or NULL): a kind that follows another's schemes (a site's
 * provider, of the site's scheme). RAIN_ENOTFOUND when there is none,
 * RAIN_EINVAL for a table of another version. */
int rain_driver_find(const char *kind, const char *scheme, const struct rain_driver *const *builtin,
		     unsigned int version, const struct rain_driver **out);

#endif
