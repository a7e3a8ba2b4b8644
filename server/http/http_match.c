/*
 * http_match.c — pure route matching: a path against a pattern
 * ("/v1/jobs/{id}"), a request against the route table, the methods a path
 * allows. No I/O and no libmicrohttpd call (the fuzz target http_match
 * drives it with the real route patterns).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http_internal.h"

bool http_match(const char *pattern, const char *path, char **params, int max_params, int *n_params)
{
	int n = 0;

	while (*pattern && *path) {
		if (*pattern != '/' || *path != '/')
			goto fail;
		pattern++, path++;
		if (*pattern == '{') {
			const char *end = strchr(path, '/'), *close = strchr(pattern, '}');
			size_t len = end ? (size_t)(end - path) : strlen(path);

			if (len == 0 || !close || (params && n == max_params))
				goto fail;
			if (params && !(params[n] = strndup(path, len)))
				goto fail;
			n++;
			path += len;
			pattern = close + 1;
			continue;
		}
		while (*pattern && *pattern != '/' && *pattern == *path)
			pattern++, path++;
		if ((*pattern && *pattern != '/') || (*path && *path != '/'))
			goto fail;
	}
	if (*pattern == '\0' && *path == '\0') {
		if (n_params)
			*n_params = n;
		return true;
	}
fail:
	while (params && n > 0)
		free(params[--n]);
	return false;
}

/* The route pattern matches; r (may be NULL) receives the {..} segments. */
static bool match(const char *pattern, const char *path, struct http_req *r)
{
	return http_match(pattern, path, r ? r->params : NULL, MAX_PARAMS, r ? &r->n_params : NULL);
}

static bool method_is(const char *route_method, const char *method)
{
	return strcmp(route_method, method) == 0 || (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

bool http_static_path(const struct http_route *route, const char *method, const char *path)
{
	return (route->flags & HTTP_STATIC) && method_is("GET", method) && strncmp(path, "/v1/", 4) != 0 &&
	       strcmp(path, "/v1") != 0;
}

/* The allowed methods of a path, "GET, POST" (empty when the path is unknown). */
void http_allowed_methods(const struct http *h, const char *path, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < h->n_routes; i++) {
		const struct http_route *route = &h->routes[i];

		if ((route->flags & HTTP_STATIC) || !match(route->pattern, path, NULL) || strstr(out, route->method))
			continue;
		len += (size_t)snprintf(out + len, len < size ? size - len : 0, "%s%s", len ? ", " : "", route->method);
		if (strcmp(route->method, "GET") == 0)
			len += (size_t)snprintf(out + len, len < size ? size - len : 0, ", HEAD");
	}
	if (len && len < size)
		snprintf(out + len, size - len, ", OPTIONS");
}

void http_route_request(struct http_req *r)
{
	struct http *h = r->http;

	for (size_t i = 0; i < h->n_routes; i++) {
		const struct http_route *route = &h->routes[i];

		if ((route->flags & HTTP_STATIC) ? http_static_path(route, r->method, r->path)
						 : method_is(route->method, r->method) && match(route->pattern, r->path, r)) {
			r->route = route;
			r->route_index = (int)i;
			return;
		}
	}
}

/* ---- query-string names --------------------------------------------------------------------------- */

/* Calls fn on each name of a space-separated list; stops when it returns true. */
static bool each_name(const char *list, bool (*fn)(const char *name, size_t len, void *ctx), void *ctx)
{
	while (list && *list) {
		size_t len = strcspn(list, " ");

		if (len && fn(list, len, ctx))
			return true;
		list += len;
		list += strspn(list, " ");
	}
	return false;
}

struct lookup {
	const char *key;
	int index;
};

static bool same_name(const char *name, size_t len, void *ctx)
{
	struct lookup *l = ctx;

	l->index++;
	return strlen(l->key) == len && memcmp(name, l->key, len) == 0;
}

int http_query_index(const char *list, const char *key)
{
	struct lookup l = {key, -1};

	return key && each_name(list, same_name, &l) ? l.index : -1;
}

bool http_query_allowed(const char *list, const char *key)
{
	return http_query_index(list, key) >= 0;
}

#define SUGGEST_MAX 32

/* Optimal string alignment distance (a swap of two neighbours is one edit),
 * for strings shorter than SUGGEST_MAX; a larger number when either is longer. */
static size_t edit_distance(const char *a, size_t n, const char *b, size_t m)
{
	size_t d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];

	if (n > SUGGEST_MAX || m > SUGGEST_MAX)
		return (size_t)-1;
	for (size_t i = 0; i <= n; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= n; i++) {
		for (size_t j = 1; j <= m; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[n][m];
}

struct suggestion {
	const char *key;
	const char *best;
	size_t best_len, best_distance;
};

static bool nearer_name(const char *name, size_t len, void *ctx)
{
	struct suggestion *s = ctx;
	size_t d = edit_distance(s->key, strlen(s->key), name, len);

	if (d < s->best_distance) {
		s->best = name;
		s->best_len = len;
		s->best_distance = d;
	}
	return false;
}

const char *http_query_suggest(const char *list, const char *key, char *out, size_t size)
{
	struct suggestion s = {key, NULL, 0, 3};

	if (!key || !*key || size == 0)
		return NULL;
	each_name(list, nearer_name, &s);
	/* Two edits on a short key would make anything a typo of anything. */
	if (!s.best || 2 * s.best_distance >= strlen(key) || s.best_len >= size)
		return NULL;
	memcpy(out, s.best, s.best_len);
	out[s.best_len] = '\0';
	return out;
}
