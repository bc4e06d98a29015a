/* A hash map from strings to pointers, for vetting's tables of paths
 * (files of packages, their checksums, link lookups). Keys are copied;
 * values are the caller's. Not thread-safe. */
#ifndef RAIN_VET_MAP_H
#define RAIN_VET_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vet_map_slot {
	char *key;              /* NULL: empty */
	void *value;
	uint64_t hash;
};

struct vet_map {
	struct vet_map_slot *slots;
	size_t cap, n;          /* cap: 0 or a power of two */
};

/* Set key to value (replacing an older value, which is returned through
 * old when not NULL). 0 or RAIN_ENOMEM. */
int vet_map_put(struct vet_map *m, const char *key, void *value, void **old);
/* The slot of key, or NULL. */
struct vet_map_slot *vet_map_find(const struct vet_map *m, const char *key);
/* The value of key, or NULL (also when the value is NULL). */
void *vet_map_get(const struct vet_map *m, const char *key);
/* Free the keys and the table (values: free_value when not NULL). */
void vet_map_free(struct vet_map *m, void (*free_value)(void *));

#endif
