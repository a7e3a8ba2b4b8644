/*
 * mcache.h — a small cache of loaded models for the read paths (predict,
 * weights, evaluate), so a prediction does not re-read and re-decode the
 * model's definition and state on every request.
 *
 * DESIGN
 * Entries are reference-counted: nn_predict only reads a model, so many
 * requests share one entry. Every write of a model's state (a job's commit,
 * PUT weights, delete) goes through this process and calls
 * mcache_invalidate, which drops the entry and bumps a global epoch; a
 * reader that loaded a model while an invalidation ran does not cache it.
 * On a database several nodes share (db_shared), a hit also compares the
 * model's revision with the one it loaded: another node's write reloads it.
 * Thread-safe.
 */
#ifndef FITD_MCACHE_H
#define FITD_MCACHE_H

#include <stdint.h>

#include "server/store/db.h"

struct mcache;
struct mcache_ref;

/* Returns a new cache holding at most capacity models, or NULL. */
struct mcache *mcache_create(unsigned capacity);
/* NULL is a no-op. No reference may be outstanding. */
void mcache_destroy(struct mcache *c);

/* The model id, loaded from db when not cached: returns a reference (release
 * with mcache_release) and sets *model and *info (borrowed from the
 * reference), or NULL with *err filled. */
struct mcache_ref *mcache_get(struct mcache *c, struct db *db, int64_t id, const struct nn_model **model,
			      const struct api_model_info **info, struct api_err *err);
void mcache_release(struct mcache *c, struct mcache_ref *ref);
/* The model's state or definition changed (or it was deleted). */
void mcache_invalidate(struct mcache *c, int64_t id);

#endif
