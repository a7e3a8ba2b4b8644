/*
 * fsync_count.c — an LD_PRELOAD shim for test_failures.py: counts the
 * process's fsync and fdatasync calls and writes the count to the file named
 * by FSYNC_COUNT_FILE after each one (before returning), so a test can see
 * whether an acknowledged write was flushed to disk. Threads record in turn
 * (the count only grows) and each count replaces the file by a rename, so a
 * reader never sees it empty or half-written.
 *
 *   cc -shared -fPIC -o fsync_count.so fsync_count.c -ldl -pthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long calls;

static void record(void)
{
	const char *path = getenv("FSYNC_COUNT_FILE");
	char text[32], tmp[4096];
	int fd, len;

	if (!path || snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return;
	pthread_mutex_lock(&lock);
	len = snprintf(text, sizeof text, "%lu\n", ++calls);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, text, (size_t)len) != len)
			(void)0;
		close(fd);
		rename(tmp, path);
	}
	pthread_mutex_unlock(&lock);
}

int fsync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	int rc = real(fd);
	record();
	return rc;
}

int fdatasync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	int rc = real(fd);
	record();
	return rc;
}
