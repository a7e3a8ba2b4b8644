/*
 * test_route_openapi.c — server/routes/route_ops.c's route_openapi_load: the
 * OpenAPI document read from <share_dir>/docs/openapi.json, byte for byte,
 * with its ETag (the SHA-256 expected here is Python hashlib's of the same
 * bytes), and every way the file can be unusable: missing, empty, past
 * ROUTE_OPENAPI_MAX (a sparse file, refused before any allocation), not JSON,
 * a NUL inside, JSON that is no OpenAPI object, a folder or a FIFO in its place.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/routes/route.h"

Suite *suite_route_openapi(void);

struct share {
	char dir[64];
	char docs[96];
	char file[128];
};

static void share_make(struct share *s)
{
	snprintf(s->dir, sizeof s->dir, "/tmp/fitd-openapi-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	snprintf(s->docs, sizeof s->docs, "%s/docs", s->dir);
	snprintf(s->file, sizeof s->file, "%s/openapi.json", s->docs);
	ck_assert_int_eq(mkdir(s->docs, 0700), 0);
}

static void share_write(const struct share *s, const char *bytes, size_t n)
{
	FILE *f = fopen(s->file, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

static void share_remove(struct share *s)
{
	struct stat st;

	if (stat(s->file, &st) == 0 && S_ISDIR(st.st_mode))
		rmdir(s->file);
	else
		unlink(s->file);
	rmdir(s->docs);
	rmdir(s->dir);
}

/* route_openapi_load must fail, saying why (msg holds want), and leave no document. */
static void assert_refused(const char *share_dir, const char *want)
{
	struct app app;
	char msg[512] = "";

	memset(&app, 0, sizeof app);
	ck_assert_int_eq(route_openapi_load(&app, share_dir, msg, sizeof msg), -1);
	ck_assert_ptr_null(app.openapi);
	ck_assert_uint_eq(app.openapi_len, 0);
	ck_assert_msg(strstr(msg, "docs/openapi.json") && strstr(msg, want), "message %s lacks %s", msg, want);
}

START_TEST(test_loads_the_file_with_its_etag)
{
	static const char doc[] = "{\"openapi\": \"3.1.0\", \"paths\": {}}\n";
	struct share s;
	struct app app;
	char msg[256] = "";

	share_make(&s);
	share_write(&s, doc, sizeof doc - 1);
	memset(&app, 0, sizeof app);
	ck_assert_int_eq(route_openapi_load(&app, s.dir, msg, sizeof msg), 0);
	ck_assert_uint_eq(app.openapi_len, sizeof doc - 1);
	ck_assert_mem_eq(app.openapi, doc, sizeof doc - 1);
	/* /usr/bin/python3 -c "import hashlib; print(hashlib.sha256(b'...').hexdigest())" */
	ck_assert_str_eq(app.openapi_etag, "\"69a02ba1ea9594244807e5d999f3bcb19028824d7037318a8d343f7528fb3d00\"");
	free(app.openapi);
	share_remove(&s);
}
END_TEST

START_TEST(test_missing_is_refused)
{
	struct share s;

	share_make(&s);
	assert_refused(s.dir, "No such file");
	share_remove(&s);
	assert_refused("/nonexistent-fitd-share", "No such file");
}
END_TEST

START_TEST(test_empty_and_too_large_are_refused)
{
	struct share s;
	int fd;

	share_make(&s);
	share_write(&s, "", 0);
	assert_refused(s.dir, "not a regular file of 1..16777216 bytes");
	/* valid JSON at its start, then holes up to one byte past the limit */
	share_write(&s, "{\"openapi\": \"3.1.0\"}", 20);
	fd = open(s.file, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)ROUTE_OPENAPI_MAX + 1), 0);
	close(fd);
	assert_refused(s.dir, "not a regular file of 1..16777216 bytes");
	share_remove(&s);
}
END_TEST

START_TEST(test_a_folder_or_fifo_is_refused)
{
	struct share s;

	share_make(&s);
	ck_assert_int_eq(mkdir(s.file, 0700), 0);
	assert_refused(s.dir, "not a regular file");
	ck_assert_int_eq(rmdir(s.file), 0);
	/* a FIFO with no writer: refused at once, not a start-up that hangs */
	ck_assert_int_eq(mkfifo(s.file, 0600), 0);
	assert_refused(s.dir, "not a regular file");
	share_remove(&s);
}
END_TEST

START_TEST(test_not_an_openapi_json_object_is_refused)
{
	static const struct {
		const char *bytes;
		size_t n;
	} bad[] = {
		{"{\"openapi\": \"3.1.0\",", 20},          /* cut short */
		{"openapi: 3.1.0\n", 15},                  /* the YAML itself */
		{"[\"openapi\"]", 11},                     /* not an object */
		{"{\"info\": {}}", 12},                    /* no openapi key */
		{"{\"openapi\": 3.1}", 16},                /* not a version string */
		{"{\"openapi\": \"3.1.0\"} x", 22},        /* trailing bytes */
		{"{\"openapi\": \"3.1.0\"}\0\0", 22},      /* a NUL inside */
	};
	struct share s;

	share_make(&s);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		share_write(&s, bad[i].bytes, bad[i].n);
		assert_refused(s.dir, "not an OpenAPI document in JSON");
	}
	share_remove(&s);
}
END_TEST

Suite *suite_route_openapi(void)
{
	Suite *s = suite_create("route_openapi");
	TCase *tc = tcase_create("load");

	tcase_add_test(tc, test_loads_the_file_with_its_etag);
	tcase_add_test(tc, test_missing_is_refused);
	tcase_add_test(tc, test_empty_and_too_large_are_refused);
	tcase_add_test(tc, test_a_folder_or_fifo_is_refused);
	tcase_add_test(tc, test_not_an_openapi_json_object_is_refused);
	suite_add_tcase(s, tc);
	return s;
}
