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

static void timestamp(char out[64], size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000) % 1000);
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
		printf("%s %s \"%s %.900s\" %d %.3fms %zuB\n", ts, remote, method, path, status, ms, bytes);
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
