/*
 * heartbeat.c — the node's heartbeat thread (see heartbeat.h).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "server/jobs/heartbeat.h"
#include "server/log.h"
#include "server/store/db.h"

struct heartbeat {
	struct jobq *q;
	unsigned workers;
	unsigned interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool stop;
	bool failing; /* the last heartbeat failed (logged once per outage) */
	bool lost;    /* the leases ended during this outage (jobs stopped once) */
};

static void beat(struct heartbeat *hb)
{
	struct db *db = db_thread();
	struct api_err err = {0};
	int64_t *cancel = NULL, running[256];
	size_t n = 0, n_running = jobq_running(hb->q, running, sizeof running / sizeof running[0]);

	if (db && db_node_heartbeat(db, hb->workers, running, n_running, &cancel, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++)
			jobq_cancel(hb->q, cancel[i]);
		free(cancel);
		if (hb->failing)
			log_message("heartbeat: recorded again");
		hb->failing = hb->lost = false;
		return;
	}
	if (!hb->failing)
		log_message("heartbeat: cannot record it: %s", db ? err.message : "no database connection");
	hb->failing = true;
	if (!db_lease_held() && !hb->lost) {
		log_message("heartbeat: the leases ended; this node's running jobs stop (another node may resume them)");
		jobq_stop_running(hb->q);
		hb->lost = true;
	}
}

static void *heartbeat_main(void *arg)
{
	struct heartbeat *hb = arg;
	struct timespec until;

	pthread_mutex_lock(&hb->lock);
	while (!hb->stop) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += hb->interval_ms / 1000;
		until.tv_nsec += (long)(hb->interval_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&hb->cv, &hb->lock, &until);
		if (hb->stop)
			break;
		pthread_mutex_unlock(&hb->lock);
		beat(hb);
		pthread_mutex_lock(&hb->lock);
	}
	pthread_mutex_unlock(&hb->lock);
	db_thread_close();
	return NULL;
}

struct heartbeat *heartbeat_start(struct jobq *q, unsigned workers, unsigned interval_ms)
{
	struct heartbeat *hb = calloc(1, sizeof *hb);
	pthread_condattr_t attr;

	if (!hb)
		return NULL;
	hb->q = q;
	hb->workers = workers;
	hb->interval_ms = interval_ms;
	pthread_mutex_init(&hb->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&hb->cv, &attr);
	pthread_condattr_destroy(&attr);
	beat(hb);
	if (pthread_create(&hb->thread, NULL, heartbeat_main, hb) != 0) {
		pthread_mutex_destroy(&hb->lock);
		pthread_cond_destroy(&hb->cv);
		free(hb);
		return NULL;
	}
	return hb;
}

void heartbeat_stop(struct heartbeat *hb)
{
	struct db *db;
	struct api_err err = {0};

	if (!hb)
		return;
	pthread_mutex_lock(&hb->lock);
	hb->stop = true;
	pthread_cond_signal(&hb->cv);
	pthread_mutex_unlock(&hb->lock);
	pthread_join(hb->thread, NULL);
	db = db_thread();
	if (db && db_node_stop(db, &err))
		log_message("heartbeat: cannot mark the node stopped: %s", err.message);
	pthread_mutex_destroy(&hb->lock);
	pthread_cond_destroy(&hb->cv);
	free(hb);
}
