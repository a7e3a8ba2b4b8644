/*
 * http_stream.c — responses that outlive their handler call without holding a
 * thread: a stream's reader suspends its connection when it has nothing to
 * say, and http_wake_streams (called by whoever has news, and by the 1 s
 * ticker) resumes every sleeper. See http.c's DESIGN for the lock and the
 * generation counter that keep a wake-up from being missed.
 */
#include <stdlib.h>

#include "server/http/http_internal.h"

ssize_t http_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	struct http *h = s->http;
	unsigned long gen = atomic_load(&h->wake_gen);
	ssize_t n;

	(void)pos;
	n = s->fn(s->ctx, buf, max);
	if (n > 0)
		return n;
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	pthread_mutex_lock(&h->suspend_lock);
	if (atomic_load(&h->wake_gen) != gen) {
		/* Woken while we looked: look again at once. */
		pthread_mutex_unlock(&h->suspend_lock);
		return 0;
	}
	s->sleeping = true;
	s->next_sleeper = h->sleepers;
	h->sleepers = s;
	MHD_suspend_connection(s->conn);
	pthread_mutex_unlock(&h->suspend_lock);
	return 0;
}

void http_stream_free(void *cls)
{
	struct stream *s = cls;

	if (s->free_fn)
		s->free_fn(s->ctx);
	free(s);
}

void http_wake_streams(struct http *h)
{
	struct stream *s;

	atomic_fetch_add(&h->wake_gen, 1);
	pthread_mutex_lock(&h->suspend_lock);
	s = h->sleepers;
	h->sleepers = NULL;
	while (s) {
		struct stream *next = s->next_sleeper;

		s->sleeping = false;
		s->next_sleeper = NULL;
		MHD_resume_connection(s->conn);
		s = next;
	}
	pthread_mutex_unlock(&h->suspend_lock);
}

void *http_ticker(void *arg)
{
	struct http *h = arg;
	struct timespec until;

	pthread_mutex_lock(&h->tick_lock);
	while (!h->tick_stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += TICK_MS / 1000;
		pthread_cond_timedwait(&h->tick_cv, &h->tick_lock, &until);
		pthread_mutex_unlock(&h->tick_lock);
		http_wake_streams(h);
		pthread_mutex_lock(&h->tick_lock);
	}
	pthread_mutex_unlock(&h->tick_lock);
	return NULL;
}
