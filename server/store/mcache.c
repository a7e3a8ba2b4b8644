/*
 * mcache.c — reference-counted, least-recently-used cache of loaded models
 * (see mcache.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/mcache.h"

struct mcache_ref {
	int64_t id;              /* 0: free slot (or an uncached, private load) */
	struct nn_model *model;
	struct api_model_info info;
	int64_t revision;        /* the model's revision when loaded (checked on a shared database) */
	unsigned refs;
	bool cached;             /* lives in the table; else freed on release */
	bool stale;              /* invalidated while referenced: free on last release */
	uint64_t last_use;
};

struct mcache {
	pthread_mutex_t lock;
	uint64_t epoch;          /* bumped by every invalidation */
	uint64_t tick;
	unsigned capacity;
	struct mcache_ref *slots[];
};

struct mcache *mcache_create(unsigned capacity)
{
	struct mcache *c = calloc(1, sizeof *c + capacity * sizeof c->slots[0]);

	if (!c)
		return NULL;
	c->capacity = capacity;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void ref_free(struct mcache_ref *ref)
{
	nn_model_destroy(ref->model);
	free(ref);
}

void mcache_destroy(struct mcache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->capacity; i++)
		if (c->slots[i])
			ref_free(c->slots[i]);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct mcache_ref *load(struct db *db, int64_t id, struct api_err *err)
{
	struct mcache_ref *ref = calloc(1, sizeof *ref);
	uint8_t *state = NULL;
	size_t len;

	if (!ref) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		return NULL;
	}
	/* The revision first: a change landing between the two reads leaves
	 * an older revision with the newer state, which the next get reloads. */
	if ((db_shared(db) && db_model_revision(db, id, &ref->revision, err)) ||
	    db_model_get_state(db, id, &ref->info, &state, &len, err))
		goto fail;
	ref->model = nn_model_create(&ref->info.def.spec);
	if (!ref->model) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory loading model %lld", (long long)id);
		goto fail;
	}
	if (nn_model_state_load(ref->model, state, len) != NN_OK) {
		api_fail(err, API_INTERNAL, NULL, "model %lld has a damaged state", (long long)id);
		goto fail;
	}
	free(state);
	ref->id = id;
	ref->refs = 1;
	return ref;
fail:
	free(state);
	ref_free(ref);
	return NULL;
}

/* Puts a fresh load in the least recently used idle slot, if any. */
static void insert(struct mcache *c, struct mcache_ref *ref)
{
	struct mcache_ref **victim = NULL;

	for (unsigned i = 0; i < c->capacity; i++) {
		struct mcache_ref **s = &c->slots[i];

		if (*s && (*s)->id == ref->id)
			return; /* another request cached it meanwhile */
		if (!*s) {
			victim = s;
			break;
		}
		if ((*s)->refs == 0 && (!victim || (*s)->last_use < (*victim)->last_use))
			victim = s;
	}
	if (!victim)
		return;
	if (*victim)
		ref_free(*victim);
	*victim = ref;
	ref->cached = true;
}

struct mcache_ref *mcache_get(struct mcache *c, struct db *db, int64_t id, const struct nn_model **model,
			      const struct api_model_info **info, struct api_err *err)
{
	struct mcache_ref *ref = NULL;
	uint64_t epoch;

	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->capacity && !ref; i++) {
		if (c->slots[i] && c->slots[i]->id == id) {
			ref = c->slots[i];
			ref->refs++;
			ref->last_use = ++c->tick;
		}
	}
	epoch = c->epoch;
	pthread_mutex_unlock(&c->lock);
	/* Over a database several nodes share, another node may have changed
	 * the model: one small read tells. */
	if (ref && db_shared(db)) {
		int64_t revision;

		if (db_model_revision(db, id, &revision, err)) {
			mcache_release(c, ref);
			return NULL;
		}
		if (revision != ref->revision) {
			mcache_release(c, ref);
			mcache_invalidate(c, id);
			ref = NULL;
			pthread_mutex_lock(&c->lock);
			epoch = c->epoch;
			pthread_mutex_unlock(&c->lock);
		}
	}
	if (!ref) {
		ref = load(db, id, err);
		if (!ref)
			return NULL;
		pthread_mutex_lock(&c->lock);
		ref->last_use = ++c->tick;
		if (c->epoch == epoch)
			insert(c, ref);
		pthread_mutex_unlock(&c->lock);
	}
	*model = ref->model;
	*info = &ref->info;
	return ref;
}

void mcache_release(struct mcache *c, struct mcache_ref *ref)
{
	bool free_it;

	if (!ref)
		return;
	pthread_mutex_lock(&c->lock);
	free_it = --ref->refs == 0 && (!ref->cached || ref->stale);
	pthread_mutex_unlock(&c->lock);
	if (free_it)
		ref_free(ref);
}

void mcache_invalidate(struct mcache *c, int64_t id)
{
	struct mcache_ref *drop = NULL;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->epoch++;
	for (unsigned i = 0; i < c->capacity; i++) {
		struct mcache_ref *ref = c->slots[i];

		if (ref && ref->id == id) {
			c->slots[i] = NULL;
			if (ref->refs == 0)
				drop = ref;
			else
				ref->stale = true; /* the last release frees it */
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (drop)
		ref_free(drop);
}
