/*
 * test_db_version.c — model names and versions in the store
 * (server/store/db_version.c, the names, removal and PUT weights of
 * db_model.c, the version a job's final commit writes in db_job.c, and
 * migration 0005 on a database that already holds duplicate names). Each test
 * has its own fresh database; what the code wrote is read back through an
 * independent connection.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/server/store/test_db_util.h"

Suite *suite_db_version(void);

struct fixture {
	struct tmp t;
	struct db *db;
	int64_t dataset_id;
};

/* A model named name ("" for none) whose state blob is state_len bytes of fill. */
static int create_model(struct db *db, const char *name, uint8_t fill, int64_t *id, struct api_err *err)
{
	struct api_model_info m;
	uint8_t state[16];

	memset(state, fill, sizeof state);
	model_info(&m, MODEL_JSON);
	snprintf(m.def.name, sizeof m.def.name, "%s", name);
	if (db_model_create(db, &m, state, sizeof state, NULL, err))
		return -1;
	*id = m.id;
	return 0;
}

static int64_t add_model(struct db *db, const char *name, uint8_t fill)
{
	struct api_err err = {0};
	int64_t id = 0;

	ck_assert_msg(create_model(db, name, fill, &id, &err) == 0, "%s", err.message);
	return id;
}

static void setup(struct fixture *f)
{
	struct api_dataset_info d;
	struct api_err err = {0};
	float x[4 * 64] = {0}, y[4] = {1, 2, 3, 9};

	f->db = fresh_db(&f->t);
	memset(&d, 0, sizeof d);
	snprintf(d.name, sizeof d.name, "digits");
	d.n_samples = 4;
	d.n_features = 64;
	d.y_kind = API_Y_CLASS;
	d.n_classes = 10;
	d.y_max = 9;
	d.y_integral = true;
	ck_assert_msg(db_dataset_create(f->db, &d, x, y, NULL, &err) == 0, "%s", err.message);
	f->dataset_id = d.id;
}

static void teardown(struct fixture *f)
{
	db_close(f->db);
	tmp_remove(&f->t);
}

/* Submits and claims a job of epochs on model_id; returns its id. */
static int64_t start_job(struct fixture *f, int64_t model_id, uint32_t epochs)
{
	char body[200];
	struct api_job_req req;
	struct api_job_info info;
	struct api_err err = {0};
	struct db_run run;
	char *options;

	snprintf(body, sizeof body, "{\"model_id\": %lld, \"dataset_id\": %lld, \"epochs\": %u, \"seed\": 7}",
		 (long long)model_id, (long long)f->dataset_id, epochs);
	ck_assert_msg(api_job_decode(body, strlen(body), &req, &err) == 0, "%s", err.message);
	options = api_job_req_encode(&req);
	ck_assert_ptr_nonnull(options);
	ck_assert_msg(db_job_submit(f->db, &req, options, 100, NULL, &info, &err) == 0, "%s", err.message);
	free(options);
	ck_assert_int_eq(db_job_claim(f->db, &run, &err), 1);
	ck_assert_int_eq(run.job_id, info.id);
	db_run_free(&run);
	return info.id;
}

/* Commits epochs first .. first + n - 1 (n may be 0) with the model state
 * filled with fill, and an end. */
static int finish(struct fixture *f, int64_t job, uint32_t first, uint32_t n, uint8_t fill, enum api_job_status end,
		  const char *sha, struct api_err *err)
{
	struct api_epoch e[4];
	uint8_t state[16], checkpoint[4] = {0};
	struct db_commit c = {.epochs = e, .n_epochs = n, .model_state = state, .model_state_len = sizeof state,
			      .checkpoint = checkpoint, .checkpoint_len = sizeof checkpoint,
			      .samples_per_second = NAN, .end = end, .weights_sha256 = sha};

	ck_assert_uint_le(n, 4);
	for (uint32_t i = 0; i < n; i++)
		e[i] = (struct api_epoch){.epoch = first + i, .loss = 1.0 / (first + i), .accuracy = 0.5, .val_loss = NAN,
					  .val_accuracy = NAN, .seconds = 0.01};
	memset(state, fill, sizeof state);
	return db_job_commit(f->db, job, &c, err);
}

/* ---- names ---------------------------------------------------------------------------- */

START_TEST(test_names_unique_resolve_rename)
{
	struct fixture f;
	struct api_model_info info;
	struct api_err err = {0};
	int64_t a, b, id = 0;

	setup(&f);
	a = add_model(f.db, "alpha", 1);
	b = add_model(f.db, "beta", 2);
	add_model(f.db, "", 3); /* models without a name do not collide */
	add_model(f.db, "", 4);
	ck_assert_int_eq(create_model(f.db, "alpha", 5, &id, &err), -1);
	ck_assert_int_eq(err.code, API_CONFLICT);
	ck_assert_str_eq(err.field, "name");
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM models"), 4);

	ck_assert_int_eq(db_model_resolve(f.db, "alpha", &id, &err), 0);
	ck_assert_int_eq(id, a);
	ck_assert_int_eq(db_model_resolve(f.db, "77", &id, &err), 0); /* an id passes as it is */
	ck_assert_int_eq(id, 77);
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(db_model_resolve(f.db, "gamma", &id, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(db_model_resolve(f.db, "007", &id, &err), -1); /* neither an id nor a name */
	ck_assert_int_eq(err.code, API_NOT_FOUND);

	memset(&err, 0, sizeof err);
	ck_assert_int_eq(db_model_rename(f.db, a, "beta", &info, &err), -1);
	ck_assert_int_eq(err.code, API_CONFLICT);
	ck_assert_msg(db_model_rename(f.db, a, "gamma", &info, &err) == 0, "%s", err.message);
	ck_assert_str_eq(info.def.name, "gamma");
	ck_assert(info.named);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT named FROM models WHERE name = 'gamma'"), 1);
	ck_assert_int_eq(db_model_resolve(f.db, "alpha", &id, &err), -1);
	ck_assert_msg(db_model_rename(f.db, b, "alpha", &info, &err) == 0, "%s", err.message); /* freed */
	ck_assert_msg(db_model_rename(f.db, b, "", &info, &err) == 0, "%s", err.message);   /* unnamed */
	ck_assert_str_eq(info.def.name, "");
	ck_assert(!info.named);
	ck_assert_int_eq(db_model_resolve(f.db, "alpha", &id, &err), -1);
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(db_model_rename(f.db, 999, "delta", &info, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	teardown(&f);
}
END_TEST

/* Copies migrations/<name> into dir. */
static void copy_migration(const char *dir, const char *name)
{
	char src[256], dst[256], buf[8192];
	FILE *in, *out;
	size_t n;

	snprintf(src, sizeof src, "%s/%s", REAL_MIGRATIONS, name);
	snprintf(dst, sizeof dst, "%s/%s", dir, name);
	in = fopen(src, "rb");
	ck_assert_msg(in != NULL, "cannot read %s", src);
	out = fopen(dst, "wb");
	ck_assert_ptr_nonnull(out);
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

/* A database from before 0005 with duplicate names keeps working: the
 * duplicates stay labels, a unique valid name becomes addressable, jobs get
 * their lineage. */
START_TEST(test_migration_keeps_duplicate_names)
{
	struct dirent *e;
	DIR *d;
	struct tmp t;
	struct db *db;
	struct api_err err = {0};
	int64_t id = 0;
	char msg[512] = "";

	tmp_make(&t);
	ck_assert_int_eq(mkdir(t.mig, 0700), 0);
	/* every real migration before 0005, whatever other branches numbered them */
	d = opendir(REAL_MIGRATIONS);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strlen(e->d_name) > 9 && strncmp(e->d_name, "0005", 4) < 0 && e->d_name[0] == '0' &&
		    strcmp(e->d_name + strlen(e->d_name) - 4, ".sql") == 0)
			copy_migration(t.mig, e->d_name);
	closedir(d);
	db = open_db(t.db);
	migrate_ok(db, t.mig);
	db_close(db);
	peek_exec(t.db, "INSERT INTO models (name, definition, n_params, state, created_at, updated_at) VALUES "
			"('dup', '{}', 0, x'00', 'now', 'now'), ('dup', '{}', 0, x'00', 'now', 'now'), "
			"('solo', '{}', 0, x'00', 'now', 'now'), ('123', '{}', 0, x'00', 'now', 'now'); "
			"INSERT INTO datasets (name, n_features, y_dim, created_at) VALUES ('old-data', 2, 0, 'now'); "
			"INSERT INTO jobs (model_id, dataset_id, options, epochs, created_at) VALUES (3, 1, '{}', 1, 'now');");
	copy_migration(t.mig, "0005_model_versions.sql");
	db = open_db(t.db);
	ck_assert_msg(db_migrate(db, t.mig, msg, sizeof msg) == 0, "%s", msg);
	ck_assert_int_eq(peek_int(t.db, "SELECT count(*) FROM models WHERE named = 1"), 1);
	ck_assert_int_eq(peek_int(t.db, "SELECT named FROM models WHERE name = 'solo'"), 1);
	ck_assert_int_eq(peek_int(t.db, "SELECT count(*) FROM models WHERE name = 'dup'"), 2);
	ck_assert_int_eq(db_model_resolve(db, "solo", &id, &err), 0);
	ck_assert_int_eq(id, 3);
	ck_assert_int_eq(db_model_resolve(db, "dup", &id, &err), -1);
	ck_assert_int_eq(peek_int(t.db, "SELECT dataset_ref FROM jobs WHERE id = 1"), 1);
	ck_assert_int_eq(peek_int(t.db, "SELECT dataset_name = 'old-data' FROM jobs WHERE id = 1"), 1);
	db_close(db);
	tmp_remove(&t);
}
END_TEST

/* ---- versions ---------------------------------------------------------------------------- */

START_TEST(test_job_end_writes_one_version)
{
	struct fixture f;
	struct api_version_info v, *items = NULL;
	struct api_model_info info;
	struct api_err err = {0};
	uint8_t *state = NULL;
	size_t len = 0, n = 0;
	uint64_t total = 0;
	int64_t m, j1, j2, j3;

	setup(&f);
	m = add_model(f.db, "versioned", 0);
	/* progress commits write no version; the end writes one, in the same transaction */
	j1 = start_job(&f, m, 3);
	ck_assert_msg(finish(&f, j1, 1, 2, 0x11, API_JOB_RUNNING, NULL, &err) == 0, "%s", err.message);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM model_versions"), 0);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT version IS NULL FROM models"), 1);
	ck_assert_msg(finish(&f, j1, 3, 1, 0x22, API_JOB_SUCCEEDED, "aa11", &err) == 0, "%s", err.message);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM model_versions"), 1);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT state = (SELECT state FROM models) FROM model_versions"), 1);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT hex(state) = '22222222222222222222222222222222' FROM model_versions"),
			 1);
	ck_assert_msg(db_version_get(f.db, m, 1, &v, &err) == 0, "%s", err.message);
	ck_assert_int_eq(v.job_id, j1);
	ck_assert_int_eq(v.source, API_VERSION_JOB);
	ck_assert_str_eq(v.weights_sha256, "aa11");
	ck_assert_uint_eq(v.epoch, 3);
	ck_assert_double_eq_tol(v.loss, 1.0 / 3, 1e-12); /* the last epoch's */
	ck_assert(v.current);

	/* a step of the version's insert fails: the whole final commit rolls back */
	j2 = start_job(&f, m, 2);
	db_fault_step("INSERT INTO model_versions", 0, 10 /* SQLITE_IOERR */);
	ck_assert_int_eq(finish(&f, j2, 1, 2, 0x33, API_JOB_SUCCEEDED, "bb22", &err), -1);
	db_fault_step(NULL, 0, 0);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT status = 'running' AND epoch = 0 FROM jobs WHERE id = 2"), 1);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM job_epochs WHERE job_id = 2"), 0);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM model_versions"), 1);
	/* the retry lands: version 2, current */
	ck_assert_msg(finish(&f, j2, 1, 2, 0x33, API_JOB_SUCCEEDED, "bb22", &err) == 0, "%s", err.message);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT max(version) FROM model_versions"), 2);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT version FROM models"), 2);

	/* cancelled after epochs: a version and the hash; cancelled with none: neither */
	j3 = start_job(&f, m, 4);
	ck_assert_msg(finish(&f, j3, 1, 1, 0x44, API_JOB_CANCELLED, "cc33", &err) == 0, "%s", err.message);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT weights_sha256 = 'cc33' FROM jobs WHERE id = 3"), 1);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT job_id FROM model_versions WHERE version = 3"), 3);
	j3 = start_job(&f, m, 4);
	ck_assert_msg(finish(&f, j3, 1, 0, 0x55, API_JOB_CANCELLED, "dd44", &err) == 0, "%s", err.message);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT weights_sha256 IS NULL FROM jobs WHERE id = 4"), 1);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM model_versions"), 3);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT version FROM models"), 3);
	/* failed: no version, and the current weights are no version any more */
	j3 = start_job(&f, m, 4);
	ck_assert_msg(finish(&f, j3, 1, 1, 0x66, API_JOB_FAILED, NULL, &err) == 0, "%s", err.message);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM model_versions"), 3);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT version IS NULL FROM models"), 1);

	/* newest first; a version's own state, not the model's */
	ck_assert_msg(db_version_list(f.db, m, 2, 0, &items, &n, &total, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(total, 3);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(items[0].version, 3);
	ck_assert_uint_eq(items[1].version, 2);
	ck_assert(!items[0].current);
	free(items);
	ck_assert_msg(db_version_get_state(f.db, m, 1, "version", &info, &state, &len, &err) == 0, "%s",
		      err.message);
	ck_assert_uint_eq(len, 16);
	for (size_t i = 0; i < len; i++)
		ck_assert_uint_eq(state[i], 0x22);
	free(state);
	ck_assert_int_eq(db_version_get_state(f.db, m, 9, "version", &info, &state, &len, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);
	ck_assert_str_eq(err.field, "version");
	ck_assert_ptr_null(state);
	teardown(&f);
}
END_TEST

START_TEST(test_restore_put_weights_and_remove)
{
	struct fixture f;
	struct api_version_info v;
	struct api_err err = {0};
	uint8_t mine[16];
	uint32_t made = 0;
	int64_t m, j;

	setup(&f);
	m = add_model(f.db, "restorable", 0);
	j = start_job(&f, m, 1);
	ck_assert_msg(finish(&f, j, 1, 1, 0x77, API_JOB_SUCCEEDED, "ee55", &err) == 0, "%s", err.message);
	memset(mine, 0x88, sizeof mine);
	ck_assert_msg(db_model_put_weights(f.db, m, mine, sizeof mine, "ff66", &made, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(made, 2);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT source = 'weights' AND job_id IS NULL FROM model_versions "
					  "WHERE version = 2"),
			 1);
	ck_assert_msg(db_version_restore(f.db, m, 1, &v, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(v.version, 3);
	ck_assert_int_eq(v.source, API_VERSION_RESTORE);
	ck_assert_uint_eq(v.restored_from, 1);
	ck_assert_str_eq(v.weights_sha256, "ee55");
	ck_assert(v.current);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT hex(state) = '77777777777777777777777777777777' FROM models"), 1);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM model_versions WHERE version = 1 AND "
					  "hex(state) = '77777777777777777777777777777777'"),
			 1);
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(db_version_restore(f.db, m, 7, &v, &err), -1);
	ck_assert_int_eq(err.code, API_NOT_FOUND);

	/* a model with history goes only with cascade, and takes it along */
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(db_model_remove(f.db, m, false, &err), -1);
	ck_assert_int_eq(err.code, API_CONFLICT);
	ck_assert_ptr_nonnull(strstr(err.message, "cascade=true"));
	ck_assert_int_eq(db_model_delete(f.db, m, &err), -1);
	ck_assert_msg(db_model_remove(f.db, m, true, &err) == 0, "%s", err.message);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM model_versions"), 0);
	ck_assert_int_eq(peek_int(f.t.db, "SELECT count(*) FROM jobs"), 0);
	/* a model without history goes without */
	m = add_model(f.db, "", 1);
	ck_assert_msg(db_model_remove(f.db, m, false, &err) == 0, "%s", err.message);
	teardown(&f);
}
END_TEST

Suite *suite_db_version(void)
{
	Suite *s = suite_create("db_version");
	TCase *names = tcase_create("names");
	TCase *versions = tcase_create("versions");

	tcase_add_test(names, test_names_unique_resolve_rename);
	tcase_add_test(names, test_migration_keeps_duplicate_names);
	tcase_add_test(versions, test_job_end_writes_one_version);
	tcase_add_test(versions, test_restore_put_weights_and_remove);
	suite_add_tcase(s, names);
	suite_add_tcase(s, versions);
	return s;
}
