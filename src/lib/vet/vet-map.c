/* vet-map.h: open addressing, linear probing, FNV-1a, grown at half full. */
#include <stdlib.h>
#include <string.h>

#include "rain/error.h"
#include "lib/vet/vet-map.h"

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static struct vet_map_slot *slot_of(const struct vet_map *m, const char *key, uint64_t h)
{
	size_t i = h & (m->cap - 1);

	while (m->slots[i].key) {
		if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
			return &m->slots[i];
		i = (i + 1) & (m->cap - 1);
	}
	return &m->slots[i];
}

static int grow(struct vet_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct vet_map_slot *old = m->slots, *slots;
	size_t oldcap = m->cap;

	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return rain_error_oom();
	m->slots = slots;
	m->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key)
			*slot_of(m, old[i].key, old[i].hash) = old[i];
	free(old);
	return 0;
}

int vet_map_put(struct vet_map *m, const char *key, void *value, void **old)
{
	struct vet_map_slot *s;
	uint64_t h = hash_str(key);
	int r;

	if (old)
		*old = NULL;
	if ((m->n + 1) * 2 > m->cap) {
		r = grow(m);
		if (r < 0)
			return r;
	}
	s = slot_of(m, key, h);
	if (s->key) {
		if (old)
			*old = s->value;
		s->value = value;
		return 0;
	}
	s->key = strdup(key);
	if (!s->key)
		return rain_error_oom();
	s->value = value;
	s->hash = h;
	m->n++;
	return 0;
}

struct vet_map_slot *vet_map_find(const struct vet_map *m, const char *key)
{
	struct vet_map_slot *s;

	if (!m->cap)
		return NULL;
	s = slot_of(m, key, hash_str(key));
	return s->key ? s : NULL;
}

void *vet_map_get(const struct vet_map *m, const char *key)
{
	struct vet_map_slot *s = vet_map_find(m, key);

	return s ? s->value : NULL;
}

void vet_map_free(struct vet_map *m, void (*free_value)(void *))
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key) {
			free(m->slots[i].key);
			if (free_value)
				free_value(m->slots[i].value);
		}
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}
