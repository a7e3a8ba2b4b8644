/*
 * log.c — request, job and message lines on stdout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/log.h"

static enum cfg_log_format log_format = CFG_LOG_TEXT;

void log_init(enum cfg_log_format format)
{
	log_format = format;
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* d as exactly width decimal digits at p. */
static char *put_digits(char *p, unsigned long d, int width)
{
	for (int i = width - 1; i >= 0; i--, d /= 10)
		p[i] = (char)('0' + d % 10);
	return p + width;
}

/* "2026-12-01T17:09:09.123Z" (24 characters and a NUL) into out. Written by
 * hand, the date part cached per thread and second: the access log runs once
 * per request, and snprintf with gmtime_r was a visible share of a one-row
 * predict's time (perf, bench/README.md). */
static void timestamp(char out[64], size_t size)
{
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[20]; /* "2026-12-01T17:09:09" */
	struct timespec ts;

	(void)size;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_sec) {
		struct tm tm;
		char *p = cached;

		gmtime_r(&ts.tv_sec, &tm);
		p = put_digits(p, (unsigned long)(tm.tm_year + 1900) % 10000, 4);
		*p++ = '-';
		p = put_digits(p, (unsigned long)tm.tm_mon + 1, 2);
		*p++ = '-';
		p = put_digits(p, (unsigned long)tm.tm_mday, 2);
		*p++ = 'T';
		p = put_digits(p, (unsigned long)tm.tm_hour, 2);
		*p++ = ':';
		p = put_digits(p, (unsigned long)tm.tm_min, 2);
		*p++ = ':';
		put_digits(p, (unsigned long)tm.tm_sec, 2);
		cached_sec = ts.tv_sec;
	}
	memcpy(out, cached, 19);
	out[19] = '.';
	put_digits(out + 20, (unsigned long)(ts.tv_nsec / 1000000) % 1000, 3);
	out[23] = 'Z';
	out[24] = '\0';
}

/* Copies s into out as the inside of a JSON string. */
static void json_escape(const char *s, char *out, size_t size)
{
	size_t o = 0;

	for (; *s && o + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

void log_access(const char *remote, const char *method, const char *path, int status, double ms, size_t bytes)
{
	char ts[64], esc[1024];

	timestamp(ts, sizeof ts);
	if (log_format == CFG_LOG_JSON) {
		json_escape(path, esc, sizeof esc);
		printf("{\"time\":\"%s\",\"type\":\"request\",\"remote\":\"%s\",\"method\":\"%s\",\"path\":\"%s\","
		       "\"status\":%d,\"ms\":%.3f,\"bytes\":%zu}\n",
		       ts, remote, method, esc, status, ms, bytes);
	} else {
		/* "%s %s \"%s %.900s\" %d %.3fms %zuB\n" without printf (see timestamp). */
		char line[1400], num[24], *p = line, *q;
		size_t n;
		unsigned long us = ms > 0 && ms < 1e15 ? (unsigned long)(ms * 1000.0 + 0.5) : 0;

#define PUT(s, len) (memcpy(p, (s), (len)), p += (len))
		PUT(ts, strlen(ts));
		*p++ = ' ';
		n = strnlen(remote, 64);
		PUT(remote, n);
		*p++ = ' ';
		*p++ = '"';
		n = strnlen(method, 200);
		PUT(method, n);
		*p++ = ' ';
		n = strnlen(path, 900);
		PUT(path, n);
		*p++ = '"';
		*p++ = ' ';
		q = num + sizeof num;
		for (unsigned long v = (unsigned long)(status < 0 ? 0 : status); q == num + sizeof num || v; v /= 10)
			*--q = (char)('0' + v % 10);
		PUT(q, (size_t)(num + sizeof num - q));
		*p++ = ' ';
		q = num + sizeof num;
		for (unsigned long v = us / 1000; q == num + sizeof num || v; v /= 10)
			*--q = (char)('0' + v % 10);
		PUT(q, (size_t)(num + sizeof num - q));
		*p++ = '.';
		p = put_digits(p, us % 1000, 3);
		PUT("ms ", 3);
		q = num + sizeof num;
		for (size_t v = bytes; q == num + sizeof num || v; v /= 10)
			*--q = (char)('0' + v % 10);
		PUT(q, (size_t)(num + sizeof num - q));
		PUT("B\n", 2);
#undef PUT
		fwrite(line, 1, (size_t)(p - line), stdout);
	}
}

void log_job(int64_t job_id, const char *status, const char *detail)
{
	char ts[64], esc[1024];

	timestamp(ts, sizeof ts);
	if (log_format == CFG_LOG_JSON) {
		json_escape(detail ? detail : "", esc, sizeof esc);
		printf("{\"time\":\"%s\",\"type\":\"job\",\"job_id\":%lld,\"status\":\"%s\",\"detail\":\"%s\"}\n", ts,
		       (long long)job_id, status, esc);
	} else {
		printf("%s job %lld %s%s%s\n", ts, (long long)job_id, status, detail && *detail ? ": " : "",
		       detail ? detail : "");
	}
}

void log_message(const char *fmt, ...)
{
	char ts[64], msg[1024], esc[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	timestamp(ts, sizeof ts);
	if (log_format == CFG_LOG_JSON) {
		json_escape(msg, esc, sizeof esc);
		printf("{\"time\":\"%s\",\"type\":\"message\",\"message\":\"%s\"}\n", ts, esc);
	} else {
		printf("%s %s\n", ts, msg);
	}
}
