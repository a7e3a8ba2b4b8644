/*
 * route_sse.c — the Server-Sent Events stream shared by GET /v1/jobs/{id}/events
 * and GET /v1/sweeps/{id}/events: the stored events after the client's
 * Last-Event-ID, read a page at a time and woken by the job queue's
 * generation, with a heartbeat comment while nothing happens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/routes/route.h"

#define HEARTBEAT_SECONDS 15
#define EVENTS_PER_QUERY 64

struct sse {
	struct app *app;
	int64_t id;               /* the job's or the sweep's */
	route_events_fn fetch;    /* its stored events */
	int64_t last_seq;        /* last event sent */
	unsigned long seen_gen;  /* jobq generation of the last look */
	bool looked;
	/* Several nodes share the database: another node's events may come
	 * without this node's generation changing (no notification): look at
	 * the log on every tick, at most once a second. */
	bool shared;
	time_t looked_at;
	bool more;               /* the last look filled a whole page: look again */
	bool final_sent;
	time_t last_write;
	struct api_buf out;      /* formatted events not yet handed out */
	size_t off;              /* bytes of out handed out */
};

static void sse_free(void *ctx)
{
	struct sse *s = ctx;

	api_buf_free(&s->out);
	free(s);
}

static bool sse_append(struct sse *s, const char *text, size_t n)
{
	api_buf_put(&s->out, text, n);
	return !s->out.failed;
}

/* Formats the events after last_seq into the buffer. Returns -1 on error. */
static int sse_fetch(struct sse *s, bool *final)
{
	struct db_event *events;
	struct api_err err = {0};
	struct db *db = db_thread();
	size_t n;
	char head[96];

	*final = false;
	if (!db || s->fetch(db, s->id, s->last_seq, EVENTS_PER_QUERY, &events, &n, final, &err))
		return -1;
	s->more = n == EVENTS_PER_QUERY;
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(head, sizeof head, "id: %lld\nevent: %s\ndata: ", (long long)events[i].seq,
				   events[i].status ? "status" : "epoch");

		if (!sse_append(s, head, (size_t)len) || !sse_append(s, events[i].data, strlen(events[i].data)) ||
		    !sse_append(s, "\n\n", 2)) {
			db_events_free(events, n);
			return -1;
		}
		s->last_seq = events[i].seq;
	}
	db_events_free(events, n);
	return 0;
}

static ssize_t sse_read(void *ctx, char *buf, size_t max)
{
	struct sse *s = ctx;
	unsigned long gen = jobq_generation(s->app->jobq);
	time_t now = time(NULL);
	bool final = false;
	size_t n;

	if (s->off == s->out.len) {
		s->off = 0;
		api_buf_clear(&s->out);
		if (s->final_sent)
			return -1;
		if (!s->looked || gen != s->seen_gen || s->more || (s->shared && now != s->looked_at)) {
			s->looked = true;
			s->seen_gen = gen;
			s->looked_at = now;
			if (sse_fetch(s, &final))
				return -1;
			s->final_sent = final;
		}
		if (s->out.len == 0) {
			if (s->final_sent || http_stopping(s->app->http))
				return -1;
			if (now - s->last_write < HEARTBEAT_SECONDS)
				return 0; /* sleep until woken */
			if (!sse_append(s, ": heartbeat\n\n", 13))
				return -1;
		}
	}
	n = s->out.len - s->off < max ? s->out.len - s->off : max;
	memcpy(buf, s->out.data + s->off, n);
	s->off += n;
	s->last_write = now;
	return (ssize_t)n;
}

void route_events_stream(struct http_req *r, int64_t id, route_events_fn fetch)
{
	const char *last = http_header(r, "Last-Event-ID");
	struct sse *s;
	int64_t after = 0;

	if (!last)
		last = http_query(r, "last_event_id");
	if (last && *last && !api_id_parse(last, &after) && strcmp(last, "0") != 0) {
		http_fail(r, API_VALIDATION_FAILED, "Last-Event-ID", "Last-Event-ID must be an event id");
		return;
	}
	s = calloc(1, sizeof *s);
	if (!s || !sse_append(s, "retry: 2000\n\n", 13)) {
		if (s)
			sse_free(s);
		http_fail(r, API_UNAVAILABLE, NULL, "out of memory");
		return;
	}
	s->app = route_app(r);
	s->shared = db_thread() && db_shared(db_thread()); /* the caller has read the job: not NULL */
	s->id = id;
	s->fetch = fetch;
	s->last_seq = after;
	s->last_write = time(NULL);
	http_reply_stream(r, "text/event-stream", sse_read, s, sse_free);
}
