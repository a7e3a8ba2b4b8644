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
