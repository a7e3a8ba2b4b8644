/*
 * predq.h — the prediction writer: one thread that stores predictions in
 * batches. SQLite manages a few thousand durable commits a second; one commit
 * per prediction would cap the predict route there. Requests queue their rows
 * here and are answered once the transaction holding them commits, so every
 * acknowledged prediction is on disk and a commit carries many of them.
 *
 * Thread-safety: predq_submit may be called from any thread.
 */
#ifndef FITD_PREDQ_H
#define FITD_PREDQ_H

#include "server/store/db.h"

struct predq_item {
	struct db_prediction p;  /* arrays borrowed until done runs */
	/* Runs on the writer thread once the batch committed (err NULL, p.id set)
	 * or failed (err set). */
	void (*done)(struct predq_item *item, const struct api_err *err);
	void *ctx;
	struct predq_item *next; /* private */
};

struct predq;

/* Starts the writer (its own connection); NULL on failure. */
struct predq *predq_start(void);
/* Queues an item; it is always answered through done, also during shutdown. */
void predq_submit(struct predq *q, struct predq_item *item);
/* Writes what is queued, stops the thread, frees q; NULL is a no-op. */
void predq_stop(struct predq *q);

#endif
