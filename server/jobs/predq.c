/*
 * predq.c — batches of predictions, one transaction each (see predq.h).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "server/jobs/predq.h"

#define BATCH_MAX 512

struct predq {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct predq_item *head, *tail;
	bool stopping;
	pthread_t thread;
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

static void *writer(void *arg)
{
	struct predq *q = arg;
	struct db *db = db_thread();

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
		batch = last = q->head;
		while (last->next && n < BATCH_MAX) {
			last = last->next;
			n++;
		}
		q->head = last->next;
		if (!q->head)
			q->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&q->lock);
		write_batch(db, batch);
	}
	db_thread_close();
	return NULL;
}

struct predq *predq_start(void)
{
	struct predq *q = calloc(1, sizeof *q);

	if (!q)
		return NULL;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cv, NULL);
	if (pthread_create(&q->thread, NULL, writer, q) != 0) {
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->cv);
		free(q);
		return NULL;
	}
	return q;
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
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cv);
	free(q);
}
