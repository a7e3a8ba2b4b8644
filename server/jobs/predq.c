/*
 * predq.c — batches of predictions, one transaction each (see predq.h).
 *
 * The writer's commits do not checkpoint the write-ahead log: a checkpoint
 * (copying the log into the database file and syncing it) inside a commit
 * made that commit ten times slower than the others, and every request of
 * the batch, and of the batches queued behind it, waited for it. A second
 * thread checkpoints instead, every CHECKPOINT_MS, on its own connection:
 * a passive checkpoint neither waits for nor blocks the writer. The writer's
 * commits stay one fsync of the log each.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "server/jobs/predq.h"

#define BATCH_MAX 512
#define CHECKPOINT_MS 100
#define WAL_FRAMES_MAX 4000 /* pages: 16 MB of log at SQLite's 4 KiB pages */
#define QUIET_US 500
#define LINGER_US 3000

struct predq {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	pthread_cond_t tick; /* the checkpointer's timer (CLOCK_MONOTONIC); signalled at stop */
	struct predq_item *head, *tail;
	size_t len;
	bool wal_full; /* the checkpointer asks the writer to checkpoint */
	bool stopping;
	pthread_t thread;
	pthread_t checkpointer;
};

static void write_batch(struct db *db, struct predq_item *items)
{
	struct db_prediction rows[BATCH_MAX];
	struct api_err err = {0};
	struct predq_item *it;
	size_t n = 0;
	int rc;

	for (it = items; it; it = it->next)
		rows[n++] = it->p;
	if (!db) {
		api_fail(&err, API_UNAVAILABLE, NULL, "the database cannot be opened");
		rc = -1;
	} else {
		rc = db_prediction_insert(db, rows, n, &err);
	}
	n = 0;
	for (it = items; it;) {
		struct predq_item *next = it->next;

		it->p.id = rows[n++].id;
		it->done(it, rc == 0 ? NULL : &err);
		it = next;
	}
}

static void add_us(struct timespec *t, long us)
{
	t->tv_nsec += us * 1000;
	t->tv_sec += t->tv_nsec / 1000000000L;
	t->tv_nsec %= 1000000000L;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* With q->lock held and a prediction queued: waits (the lock released
 * meanwhile) while more keep arriving, within LINGER_US. */
static void linger(struct predq *q)
{
	struct timespec now, end, quiet;

	clock_gettime(CLOCK_MONOTONIC, &now);
	end = now;
	add_us(&end, LINGER_US);
	while (!q->stopping && q->len < BATCH_MAX && before(&now, &end)) {
		size_t seen = q->len;

		quiet = now;
		add_us(&quiet, QUIET_US);
		if (before(&end, &quiet))
			quiet = end;
		/* Woken by each submit: a quiet period is one in which none came. */
		while (q->len == seen && !q->stopping && pthread_cond_timedwait(&q->cv, &q->lock, &quiet) == 0)
			;
		if (q->len == seen)
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
	}
}

static void *writer(void *arg)
{
	struct predq *q = arg;
	struct db *db = NULL;
	size_t last_n = 0; /* predictions in the last batch */

	for (;;) {
		struct predq_item *batch, *last;
		size_t n = 1;

		pthread_mutex_lock(&q->lock);
		while (!q->head && !q->stopping)
			pthread_cond_wait(&q->cv, &q->lock);
		if (!q->head) {
			pthread_mutex_unlock(&q->lock);
			break;
		}
		if (last_n > 1)
			linger(q);
		batch = last = q->head;
		while (last->next && n < BATCH_MAX) {
			last = last->next;
			n++;
		}
		q->head = last->next;
		q->len -= n;
		if (!q->head)
			q->tail = NULL;
		last->next = NULL;
		last_n = n;
		pthread_mutex_unlock(&q->lock);
		/* each batch: a connection opened read-only is reopened once writable */
		db = db_thread();
		if (db)
			db_autocheckpoint_off(db);
		write_batch(db, batch);
		pthread_mutex_lock(&q->lock);
		if (q->wal_full) {
			q->wal_full = false;
			pthread_mutex_unlock(&q->lock);
			if (db)
				db_checkpoint(db, NULL, NULL);
		} else {
			pthread_mutex_unlock(&q->lock);
		}
	}
	db_thread_close();
	return NULL;
}

static void *checkpointer(void *arg)
{
	struct predq *q = arg;
	struct db *db = db_thread();
	struct timespec at;
	int wal;

	pthread_mutex_lock(&q->lock);
	while (!q->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_nsec += CHECKPOINT_MS * 1000000L;
		at.tv_sec += at.tv_nsec / 1000000000L;
		at.tv_nsec %= 1000000000L;
		while (!q->stopping && pthread_cond_timedwait(&q->tick, &q->lock, &at) == 0)
			;
		if (q->stopping)
			break;
		pthread_mutex_unlock(&q->lock);
		wal = 0;
		db = db_thread();
		if (db)
			db_checkpoint(db, &wal, NULL); /* an I/O error shows in the next commit */
		pthread_mutex_lock(&q->lock);
		if (wal > WAL_FRAMES_MAX)
			q->wal_full = true;
	}
	pthread_mutex_unlock(&q->lock);
	if (db)
		db_checkpoint(db, NULL, NULL);
	db_thread_close();
	return NULL;
}

struct predq *predq_start(void)
{
	struct predq *q = calloc(1, sizeof *q);
	pthread_condattr_t attr;

	if (!q)
		return NULL;
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &attr);
	pthread_cond_init(&q->tick, &attr);
	pthread_condattr_destroy(&attr);
	/* The checkpointer first: without it the writer's log would only grow. */
	if (pthread_create(&q->checkpointer, NULL, checkpointer, q) != 0)
		goto fail;
	if (pthread_create(&q->thread, NULL, writer, q) != 0) {
		pthread_mutex_lock(&q->lock);
		q->stopping = true;
		pthread_cond_signal(&q->tick);
		pthread_mutex_unlock(&q->lock);
		pthread_join(q->checkpointer, NULL);
		goto fail;
	}
	return q;
fail:
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cv);
	pthread_cond_destroy(&q->tick);
	free(q);
	return NULL;
}

void predq_submit(struct predq *q, struct predq_item *item)
{
	item->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = item;
	else
		q->head = item;
	q->tail = item;
	q->len++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->lock);
}

void predq_stop(struct predq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_signal(&q->cv);
	pthread_cond_signal(&q->tick);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	pthread_join(q->checkpointer, NULL);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cv);
	pthread_cond_destroy(&q->tick);
	free(q);
}
