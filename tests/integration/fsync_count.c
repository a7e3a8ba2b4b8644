/*
 * fsync_count.c — an LD_PRELOAD shim for test_failures.py: counts the
 * process's fsync and fdatasync calls and writes the count to the file named
 * by FSYNC_COUNT_FILE after each one (before returning), so a test can see
 * whether an acknowledged write was flushed to disk.
 *
 *   cc -shared -fPIC -o fsync_count.so fsync_count.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_ulong calls;

static void record(void)
{
	const char *path = getenv("FSYNC_COUNT_FILE");
	char text[32];
	unsigned long n = atomic_fetch_add(&calls, 1) + 1;
	int fd, len;

	if (!path)
		return;
	len = snprintf(text, sizeof text, "%lu\n", n);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, (size_t)len) != len)
		(void)0;
	close(fd);
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
