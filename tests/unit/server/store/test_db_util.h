/*
 * test_db_util.h — helpers shared by the store's unit tests (test_db.c,
 * test_db_job.c). Every helper fails the running test (ck_assert) instead
 * of returning an error.
 */
#ifndef FITD_TEST_DB_UTIL_H
#define FITD_TEST_DB_UTIL_H

#include <sqlite3.h>

#include "server/store/db.h"

/* The real migrations: the runner starts from the repository root. */
#define REAL_MIGRATIONS "migrations/sqlite"

struct tmp {
	char dir[64];
	char db[128];  /* dir/test.db */
	char mig[128]; /* dir/migrations, created on demand */
};

/* A new temporary folder; tmp_remove deletes it and what it holds. */
void tmp_make(struct tmp *t);
void tmp_remove(struct tmp *t);

/* An independent connection to path (close with sqlite3_close). */
sqlite3 *peek_open(const char *path);
/* The first column of the first row of sql as an integer (-1: no row). */
long long peek_int(const char *path, const char *sql);
/* Runs sql (any number of statements) through its own connection. */
void peek_exec(const char *path, const char *sql);

/* db_open / db_migrate that must succeed. */
struct db *open_db(const char *path);
void migrate_ok(struct db *db, const char *dir);
/* A temporary folder holding a database with the real migrations applied. */
struct db *fresh_db(struct tmp *t);

/* Decodes json (which must be a valid model) into *m with its n_params. */
void model_info(struct api_model_info *m, const char *json);

#define MODEL_JSON                                                                                              \
	"{\"name\": \"digits-mlp\", \"input_dim\": 64, \"layers\": [{\"units\": 25, \"activation\": \"relu\"}, " \
	"{\"type\": \"dropout\", \"rate\": 0.25}, {\"units\": 10, \"activation\": \"softmax\"}], "                 \
	"\"loss\": \"sparse_categorical_crossentropy\", \"optimizer\": {\"type\": \"adam\", \"learning_rate\": " \
	"0.002}, \"metrics\": [\"accuracy\"], \"seed\": 42}"

#endif
