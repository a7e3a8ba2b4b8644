/*
 * app.h — what every route handler shares: the configuration and the
 * long-lived services. Built by main() before the server starts; read-only
 * afterwards (the services carry their own locks).
 */
#ifndef FITD_APP_H
#define FITD_APP_H

#include <stdatomic.h>

#include "api/api.h"
#include "server/cfg.h"
#include "server/http/http.h"
#include "server/jobs/jobq.h"
#include "server/store/mcache.h"
#include "server/jobs/predq.h"
#include "server/jobs/par.h"

struct app {
	const struct cfg *cfg;
	struct api_limits limits;
	struct jobq *jobq;
	struct predq *predq;
	struct mcache *mcache;
	struct par_pool *par; /* helper threads for a lone job's products */
	struct http *http;    /* set once the server runs */
	atomic_bool workers_running;
	/* GET /openapi.json: docs/openapi.json as read at start-up
	 * (route_openapi_load), NULL when it was missing or not JSON. */
	char *openapi;
	size_t openapi_len;
	char openapi_etag[68]; /* "sha256 hex", quoted */
};

#endif
