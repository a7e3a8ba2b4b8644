/*
 * api_alloc.c — every allocation of api/ and of cJSON goes through here:
 * malloc's contract (NULL on failure), plus a count of failures per thread,
 * so that a decoder can tell "out of memory" (503) from "bad JSON" (400)
 * when cJSON gives up, and an encoder can tell a complete tree from one that
 * silently lost a node.
 *
 * DESIGN
 * The test hook api_alloc_fail_nth makes one chosen allocation fail, in any
 * thread; tests walk n = 1, 2, ... through a call until it succeeds, which
 * drives every allocation-failure path of that call once (under ASan, which
 * also proves nothing leaks). The common path costs one relaxed atomic load.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "api/api.h"

static atomic_long countdown; /* > 0: the countdown-th allocation from now fails */
static _Thread_local unsigned long failures;

void api_alloc_fail_nth(long n)
{
	atomic_store(&countdown, n > 0 ? n : 0);
}

bool api_alloc_fail_pending(void)
{
	return atomic_load(&countdown) > 0;
}

unsigned long api_alloc_failures(void)
{
	return failures;
}

/* Is this the allocation the hook chose? */
static bool injected(void)
{
	long left = atomic_load_explicit(&countdown, memory_order_relaxed);

	while (left > 0) {
		if (atomic_compare_exchange_weak(&countdown, &left, left - 1))
			return left == 1;
	}
	return false;
}

static void *counted(void *p)
{
	if (!p)
		failures++;
	return p;
}

void *api_malloc(size_t size)
{
	return counted(injected() ? NULL : malloc(size));
}

void *api_calloc(size_t n, size_t size)
{
	return counted(injected() ? NULL : calloc(n, size));
}

void *api_realloc(void *p, size_t size)
{
	return counted(injected() ? NULL : realloc(p, size));
}

char *api_strdup(const char *s)
{
	return counted(injected() ? NULL : strdup(s));
}

/* cJSON allocates through the same functions, in every program that links
 * api/ (the server, the tests, the fuzz targets), before main runs. */
__attribute__((constructor)) static void install_cjson_hooks(void)
{
	cJSON_Hooks hooks = {.malloc_fn = api_malloc, .free_fn = free};

	cJSON_InitHooks(&hooks);
}
