/*
 * log.h — fitd's log: one line per request and per job state change on
 * stdout, as text or as JSON objects (--log-format json) for log collectors.
 * Thread-safe: each line is written with a single locked stdio call.
 */
#ifndef FITD_LOG_H
#define FITD_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "server/cfg.h"

void log_init(enum cfg_log_format format);
void log_access(const char *remote, const char *method, const char *path, int status, double ms, size_t bytes);
void log_job(int64_t job_id, const char *status, const char *detail);
void log_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
