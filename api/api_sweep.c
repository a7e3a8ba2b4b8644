/*
 * api_sweep.c — POST /v1/sweeps: a model template, a job template and a grid
 * or random search over parameter paths into them, expanded into one model
 * body and one job body per point, each judged by the ordinary decoders
 * (api_model_decode, api_job_decode) so that a sweep accepts exactly what the
 * model and job routes accept, fields added later included. Also the sweep
 * and its ranked points to JSON.
 *
 * DESIGN
 * Expansion works on cJSON trees: each point duplicates both templates, sets
 * its values at their paths, prints both and decodes the text. The order is
 * fixed (grid: the Cartesian product, the first parameter varying slowest;
 * random: trials in order, parameters in body order, one nn_rng stream seeded
 * by random.seed), so the same body gives the same points.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/api_sweep.h"

static const char *const metric_names[] = {"loss", "val_loss", "accuracy", "val_accuracy"};

const char *api_sweep_metric_name(enum nn_monitor metric)
{
	return (unsigned)metric < 4 ? metric_names[metric] : "loss";
}

/* ---- paths ----------------------------------------------------------------------- */

/* One parameter: where it goes and what it takes. */
struct param {
	const char *path;       /* as written (the body's key) */
	const char *sub;        /* path inside its template */
	bool job;               /* in the job template, else the model's */
	const cJSON *values;    /* grid: the array; random: "values" or NULL */
	double min, max;        /* random ranges */
	bool log, integer;
	char field[sizeof(((struct api_err *)0)->field)]; /* "grid.<path>" / "random.params.<path>" */
};

/* The next segment of a path at *p: a key (into key) or an [index]. Advances
 * *p past it and past a following '.'. False when malformed. */
static bool next_segment(const char **p, char *key, size_t key_size, bool *is_index, size_t *index)
{
	const char *s = *p;
	size_t n = 0;

	if (*s == '[') {
		size_t v = 0;

		s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9') {
			if (v > 100000000)
				return false;
			v = v * 10 + (size_t)(*s++ - '0');
		}
		if (*s++ != ']')
			return false;
		*is_index = true;
		*index = v;
	} else {
		while (s[n] && s[n] != '.' && s[n] != '[')
			n++;
		if (n == 0 || n >= key_size)
			return false;
		memcpy(key, s, n);
		key[n] = '\0';
		s += n;
		*is_index = false;
	}
	if (*s == '.') {
		s++;
		if (!*s || *s == '[' || *s == '.')
			return false;
	}
	*p = s;
	return true;
}

/* Sets value (takes ownership) at path inside root; 422 naming field. */
static int path_set(cJSON *root, const char *path, cJSON *value, const char *field, struct api_err *err)
{
	const char *p = path;
	cJSON *node = root;
	char key[128];

	for (;;) {
		bool is_index, last;
		size_t index = 0;
		cJSON *child;

		if (!next_segment(&p, key, sizeof key, &is_index, &index))
			goto bad;
		last = *p == '\0';
		if (is_index) {
			if (!cJSON_IsArray(node) || index >= (size_t)cJSON_GetArraySize(node))
				goto unknown;
			child = cJSON_GetArrayItem(node, (int)index);
		} else {
			if (!cJSON_IsObject(node))
				goto unknown;
			child = cJSON_GetObjectItemCaseSensitive(node, key);
		}
		if (last) {
			if (child) {
				/* ...InObject names the new item (ViaPointer would leave it nameless). */
				if (!(is_index ? cJSON_ReplaceItemInArray(node, (int)index, value)
					       : cJSON_ReplaceItemInObjectCaseSensitive(node, key, value)))
					goto oom;
			} else if (!api_json_add(node, key, value)) {
				return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
			}
			return 0;
		}
		if (!child && *p != '[' && cJSON_IsObject(node)) {
			/* An object the template leaves to its defaults ("optimizer"): the decoders judge it. */
			child = api_json_add(node, key, cJSON_CreateObject());
			if (!child)
				goto oom;
		}
		if (!child)
			goto unknown;
		node = child;
	}
bad:
	cJSON_Delete(value);
	return api_fail(err, API_VALIDATION_FAILED, field,
			"\"%s\" is not a parameter path: keys and [index]es joined by dots", path);
unknown:
	cJSON_Delete(value);
	return api_fail(err, API_VALIDATION_FAILED, field,
			"unknown path \"%s\": its template has no such object, array or index", path);
oom:
	cJSON_Delete(value);
	return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
}

/* Does the model (or job) decoder know the top-level key? Asked by decoding
 * the template with key: null added: an unknown key is refused as such before
 * any other check. -1 when out of memory. */
static int decoder_knows(const cJSON *tmpl, bool job, const char *key, struct api_err *err)
{
	cJSON *copy = cJSON_Duplicate(tmpl, 1);
	struct api_err probe = {0};
	char *text = NULL;
	int rc = -1;

	if (!copy || !api_json_add(copy, key, cJSON_CreateNull()) || (job && !api_add_number(copy, "model_id", 1)) ||
	    !(text = cJSON_PrintUnformatted(copy))) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		goto out;
	}
	if (job) {
		struct api_job_req req;

		rc = api_job_decode(text, strlen(text), &req, &probe) == 0;
	} else {
		struct api_model_def def;

		rc = api_model_decode(text, strlen(text), &def, &probe) == 0;
	}
	if (probe.code == API_UNAVAILABLE) {
		*err = probe;
		rc = -1;
	} else if (!rc) {
		rc = !(strcmp(probe.field, key) == 0 && strncmp(probe.message, "unknown field", 13) == 0);
	}
out:
	cJSON_Delete(copy);
	free(text);
	return rc;
}

/* Which template a path addresses, and the path inside it. */
static int param_resolve(struct param *pm, const cJSON *model, const cJSON *job, struct api_err *err)
{
	const char *p = pm->path;
	char key[128];
	bool is_index, in_model, in_job;
	size_t index;

	if (strncmp(p, "model.", 6) == 0 || strncmp(p, "job.", 4) == 0) {
		pm->job = p[0] == 'j';
		pm->sub = p + (pm->job ? 4 : 6);
		return 0;
	}
	if (!next_segment(&p, key, sizeof key, &is_index, &index) || is_index)
		return api_fail(err, API_VALIDATION_FAILED, pm->field,
				"\"%s\" is not a parameter path: keys and [index]es joined by dots", pm->path);
	in_model = cJSON_GetObjectItemCaseSensitive(model, key) != NULL;
	in_job = cJSON_GetObjectItemCaseSensitive(job, key) != NULL;
	if (!in_model && !in_job) {
		/* A field the templates leave to its default: whose body takes it? */
		int m = decoder_knows(model, false, key, err), j = m < 0 ? -1 : decoder_knows(job, true, key, err);

		if (m < 0 || j < 0)
			return -1;
		in_model = m;
		in_job = j;
	}
	if (in_model && in_job)
		return api_fail(err, API_VALIDATION_FAILED, pm->field,
				"\"%s\" is a field of both the model and the job body: write model.%s or job.%s", key,
				pm->path, pm->path);
	if (!in_model && !in_job)
		return api_fail(err, API_VALIDATION_FAILED, pm->field,
				"unknown path \"%s\": neither the model nor the job body has a field \"%s\"", pm->path,
				key);
	pm->job = in_job;
	pm->sub = pm->path;
	return 0;
}

/* ---- grid and random ------------------------------------------------------------------ */

static int decode_grid(const cJSON *grid, struct param *pm, size_t *n_params, size_t *n_points, struct api_err *err)
{
	size_t n = 0;
	uint64_t points = 1;

	if (!cJSON_IsObject(grid) || !grid->child)
		return api_fail(err, API_VALIDATION_FAILED, "grid",
				"grid must be an object of one or more parameter paths, each with an array of values");
	for (const cJSON *it = grid->child; it; it = it->next) {
		int count;

		if (n == API_SWEEP_MAX_PARAMS)
			return api_fail(err, API_VALIDATION_FAILED, "grid", "a sweep has at most %d parameters",
					API_SWEEP_MAX_PARAMS);
		memset(&pm[n], 0, sizeof pm[n]);
		pm[n].path = it->string;
		api_path(pm[n].field, sizeof pm[n].field, "grid", it->string);
		count = cJSON_IsArray(it) ? cJSON_GetArraySize(it) : 0;
		if (count == 0)
			return api_fail(err, API_VALIDATION_FAILED, pm[n].field,
					"%s must be a non-empty array of values", pm[n].field);
		pm[n].values = it;
		points *= (uint64_t)count;
		if (points > API_SWEEP_MAX_POINTS)
			return api_fail(err, API_VALIDATION_FAILED, "grid",
					"the grid has more than %d points, the maximum of a sweep", API_SWEEP_MAX_POINTS);
		n++;
	}
	*n_params = n;
	*n_points = (size_t)points;
	return 0;
}

static int decode_range(const cJSON *spec, struct param *pm, struct api_err *err)
{
	static const char *const keys[] = {"values", "min", "max", "scale", "integer", NULL};
	const cJSON *values = cJSON_GetObjectItemCaseSensitive(spec, "values");
	char scale[8] = "linear", f[sizeof pm->field + 8];

	if (api_obj_check(spec, pm->field, pm->field, keys, err))
		return -1;
	if (values) {
		if (cJSON_GetArraySize(spec) != 1)
			return api_fail(err, API_VALIDATION_FAILED, pm->field,
					"%s gives either values or min and max, not both", pm->field);
		if (!cJSON_IsArray(values) || cJSON_GetArraySize(values) == 0) {
			api_path(f, sizeof f, pm->field, "values");
			return api_fail(err, API_VALIDATION_FAILED, f, "%s must be a non-empty array", f);
		}
		pm->values = values;
		return 0;
	}
	if (api_get_number(spec, pm->field, "min", true, -1e300, 1e300, &pm->min, err) ||
	    api_get_number(spec, pm->field, "max", true, -1e300, 1e300, &pm->max, err) ||
	    api_get_string(spec, pm->field, "scale", false, sizeof scale - 1, scale, err) ||
	    api_get_bool(spec, pm->field, "integer", false, &pm->integer, err))
		return -1;
	api_path(f, sizeof f, pm->field, "min");
	if (pm->min > pm->max)
		return api_fail(err, API_VALIDATION_FAILED, f, "%s (%g) is above max (%g)", f, pm->min, pm->max);
	if (strcmp(scale, "log") == 0) {
		pm->log = true;
		if (pm->min <= 0)
			return api_fail(err, API_VALIDATION_FAILED, f, "%s must be above 0 on a log scale", f);
	} else if (strcmp(scale, "linear") != 0) {
		api_path(f, sizeof f, pm->field, "scale");
		return api_fail(err, API_VALIDATION_FAILED, f, "%s must be linear or log", f);
	}
	if (pm->integer && (pm->min != floor(pm->min) || pm->max != floor(pm->max)))
		return api_fail(err, API_VALIDATION_FAILED, f, "an integer range needs integral min and max");
	return 0;
}

static int decode_random(cJSON *random, uint64_t seed, struct param *pm, size_t *n_params, size_t *n_points,
			 uint64_t *seed_out, struct api_err *err)
{
	static const char *const keys[] = {"trials", "seed", "params", NULL};
	const cJSON *params;
	int64_t trials = 0, s = (int64_t)seed;
	size_t n = 0;

	if (api_obj_check(random, "random", "random", keys, err) ||
	    api_get_int(random, "random", "trials", true, 1, API_SWEEP_MAX_POINTS, &trials, err) ||
	    api_get_int(random, "random", "seed", false, 0, 9007199254740991LL, &s, err))
		return -1;
	params = cJSON_GetObjectItemCaseSensitive(random, "params");
	if (!cJSON_IsObject(params) || !params->child)
		return api_fail(err, API_VALIDATION_FAILED, "random.params",
				"random.params must be an object of one or more parameter paths");
	for (const cJSON *it = params->child; it; it = it->next) {
		if (n == API_SWEEP_MAX_PARAMS)
			return api_fail(err, API_VALIDATION_FAILED, "random.params", "a sweep has at most %d parameters",
					API_SWEEP_MAX_PARAMS);
		memset(&pm[n], 0, sizeof pm[n]);
		pm[n].path = it->string;
		api_path(pm[n].field, sizeof pm[n].field, "random.params", it->string);
		if (decode_range(it, &pm[n], err))
			return -1;
		n++;
	}
	/* The stored definition names the seed, so the sweep can be re-run. */
	if (!cJSON_GetObjectItemCaseSensitive(random, "seed") && !api_add_number(random, "seed", (double)s))
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	*n_params = n;
	*n_points = (size_t)trials;
	*seed_out = (uint64_t)s;
	return 0;
}

/* A random parameter's value for the next trial. */
static cJSON *draw(const struct param *pm, struct nn_rng *rng)
{
	double u, v;

	if (pm->values)
		return cJSON_Duplicate(cJSON_GetArrayItem(pm->values,
							  (int)nn_rng_below(rng, (uint64_t)cJSON_GetArraySize(pm->values))),
				       1);
	u = nn_rng_uniform(rng);
	if (pm->integer && !pm->log) {
		/* Each integer of [min, max] equally likely. */
		v = pm->min + floor(u * (pm->max - pm->min + 1));
		v = fmin(v, pm->max);
	} else if (pm->log) {
		v = exp(log(pm->min) + u * (log(pm->max) - log(pm->min)));
		if (pm->integer)
			v = round(v);
		v = fmin(fmax(v, pm->min), pm->max);
	} else {
		v = pm->min + u * (pm->max - pm->min);
	}
	return cJSON_CreateNumber(v);
}

/* ---- points ---------------------------------------------------------------------------- */

/* Renames a decoder's error as the sweep's: the parameter whose path it
 * names, else the template's field; the message names the point. */
static int point_fail(struct api_err *err, const struct param *pm, size_t n_params, bool job, size_t index,
		      const char *params)
{
	struct api_err inner = *err;
	const char *field = NULL;
	char f[sizeof err->field];

	for (size_t k = 0; k < n_params && inner.field[0]; k++) {
		size_t l = strlen(pm[k].sub);

		if (pm[k].job == job && strncmp(inner.field, pm[k].sub, l) == 0 &&
		    (inner.field[l] == '\0' || inner.field[l] == '.' || inner.field[l] == '['))
			field = pm[k].field;
	}
	if (!field) {
		api_path(f, sizeof f, job ? "job" : "model", inner.field);
		field = inner.field[0] ? f : (job ? "job" : "model");
	}
	return api_fail(err, inner.code, field, "point %zu %s: %s", index, params, inner.message);
}

struct expand {
	const char *name; /* the sweep's */
	const cJSON *model, *job;
	struct param *pm;
	size_t n_params;
	const struct api_sweep_seeds *seeds;
};

/* Builds point i from its values (vals[k] for parameter k, taken). */
static int make_point(const struct expand *x, size_t i, cJSON **vals, struct api_sweep_point *pt, struct api_err *err)
{
	cJSON *model = cJSON_Duplicate(x->model, 1), *job = cJSON_Duplicate(x->job, 1);
	cJSON *params = cJSON_CreateObject();
	char *model_text = NULL, *job_text = NULL;
	unsigned long failures = api_alloc_failures();
	int rc = -1;
	size_t k;

	if (!model || !job || !params || !api_add_number(job, "model_id", 1)) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		goto out;
	}
	if (!cJSON_GetObjectItemCaseSensitive(model, "name") && !cJSON_GetObjectItemCaseSensitive(model, "keras")) {
		/* "<sweep name> #i", the sweep's name cut at a character boundary to fit. */
		char name[API_NAME_MAX + 1], suffix[24];
		size_t n = strlen(x->name), room;

		snprintf(suffix, sizeof suffix, " #%zu", i);
		room = API_NAME_MAX - strlen(suffix);
		if (n > room) {
			n = room;
			while (n > 0 && ((unsigned char)x->name[n] & 0xC0) == 0x80)
				n--;
		}
		memcpy(name, x->name, n);
		memcpy(name + n, suffix, strlen(suffix) + 1);
		if (!api_json_add(model, "name", cJSON_CreateString(name))) {
			api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
			goto out;
		}
	}
	for (k = 0; k < x->n_params; k++) {
		cJSON *copy = cJSON_Duplicate(vals[k], 1);

		if (!copy || !api_json_add(params, x->pm[k].path, copy)) {
			api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
			goto out;
		}
		rc = path_set(x->pm[k].job ? job : model, x->pm[k].sub, vals[k], x->pm[k].field, err);
		vals[k] = NULL;
		if (rc)
			goto out;
		rc = -1;
	}
	pt->params = cJSON_PrintUnformatted(params);
	model_text = cJSON_PrintUnformatted(model);
	job_text = cJSON_PrintUnformatted(job);
	if (!pt->params || !model_text || !job_text || api_alloc_failures() != failures) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		goto out;
	}
	if (api_model_decode(model_text, strlen(model_text), &pt->model, err)) {
		point_fail(err, x->pm, x->n_params, false, i, pt->params);
		goto out;
	}
	if (api_job_decode(job_text, strlen(job_text), &pt->job, err)) {
		point_fail(err, x->pm, x->n_params, true, i, pt->params);
		goto out;
	}
	pt->job.model_id = 0;
	if (!pt->model.has_seed) {
		pt->model.seed = x->seeds->model;
		pt->model.has_seed = true;
	}
	if (!pt->job.has_seed) {
		pt->job.fit.seed = x->seeds->job;
		pt->job.has_seed = true;
	}
	rc = 0;
out:
	for (k = 0; k < x->n_params; k++)
		cJSON_Delete(vals[k]);
	cJSON_Delete(model);
	cJSON_Delete(job);
	cJSON_Delete(params);
	free(model_text);
	free(job_text);
	return rc;
}

/* The metric must exist for every point: validation data for val_*, the
 * accuracy metric for *accuracy. */
static int metric_fits(const struct api_sweep_req *req, const struct api_sweep_point *pt, size_t i,
		       struct api_err *err)
{
	const char *m = metric_names[req->metric];

	if ((req->metric == NN_MONITOR_VAL_LOSS || req->metric == NN_MONITOR_VAL_ACCURACY) &&
	    !pt->job.validation_dataset_id && !(pt->job.fit.validation_split > 0))
		return api_fail(err, API_VALIDATION_FAILED, "metric",
				"point %zu %s: metric %s needs validation data (validation_dataset_id or "
				"validation_split in the job)",
				i, pt->params, m);
	if ((req->metric == NN_MONITOR_ACCURACY || req->metric == NN_MONITOR_VAL_ACCURACY) && !pt->model.accuracy)
		return api_fail(err, API_VALIDATION_FAILED, "metric",
				"point %zu %s: metric %s needs \"accuracy\" among the model's metrics", i, pt->params,
				m);
	return 0;
}

/* The field to blame for too many epochs: the parameter that sets them, else the template's. */
static const char *epochs_field(const struct expand *x)
{
	for (size_t k = 0; k < x->n_params; k++)
		if (x->pm[k].job && strcmp(x->pm[k].sub, "epochs") == 0)
			return x->pm[k].field;
	return "job.epochs";
}

static int expand(struct api_sweep_req *out, const struct expand *x, uint64_t random_seed, struct api_err *err)
{
	cJSON *vals[API_SWEEP_MAX_PARAMS];
	struct nn_rng rng;

	out->points = api_calloc(out->n_points, sizeof *out->points);
	if (!out->points)
		return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
	nn_rng_seed(&rng, random_seed);
	for (size_t i = 0; i < out->n_points; i++) {
		size_t rest = i;
		bool oom = false;

		/* Grid: mixed radix, the last parameter varying fastest. */
		for (size_t k = x->n_params; k-- > 0;) {
			const struct param *pm = &x->pm[k];

			if (out->kind == API_SWEEP_GRID) {
				size_t count = (size_t)cJSON_GetArraySize(pm->values);

				vals[k] = cJSON_Duplicate(cJSON_GetArrayItem(pm->values, (int)(rest % count)), 1);
				rest /= count;
			}
		}
		for (size_t k = 0; out->kind == API_SWEEP_RANDOM && k < x->n_params; k++)
			vals[k] = draw(&x->pm[k], &rng);
		for (size_t k = 0; k < x->n_params; k++)
			oom |= vals[k] == NULL;
		if (oom) {
			for (size_t k = 0; k < x->n_params; k++)
				cJSON_Delete(vals[k]);
			return api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		}
		if (make_point(x, i, vals, &out->points[i], err) || metric_fits(out, &out->points[i], i, err))
			return -1;
		out->total_epochs += out->points[i].job.fit.epochs;
		if (out->total_epochs > API_SWEEP_MAX_EPOCHS)
			return api_fail(err, API_VALIDATION_FAILED, epochs_field(x),
					"the sweep's points would train more than %d epochs in all (points x epochs)",
					API_SWEEP_MAX_EPOCHS);
	}
	return 0;
}

int api_sweep_decode(const char *body, size_t len, const struct api_sweep_seeds *seeds, struct api_sweep_req *out,
		     struct api_err *err)
{
	static const char *const keys[] = {"name", "model", "job", "grid", "random", "metric", "mode", NULL};
	struct param pm[API_SWEEP_MAX_PARAMS];
	cJSON *root = api_json_parse(body, len, err), *grid, *random;
	const cJSON *model, *job;
	char metric[16] = "", mode[8] = "";
	struct expand x = {0};
	uint64_t random_seed = seeds->random;
	bool found = false;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!root)
		return -1;
	snprintf(out->name, sizeof out->name, "sweep");
	if (api_obj_check(root, "", "the sweep body", keys, err) ||
	    api_get_string(root, "", "name", false, API_NAME_MAX, out->name, err) ||
	    api_get_string(root, "", "metric", true, sizeof metric - 1, metric, err) ||
	    api_get_string(root, "", "mode", false, sizeof mode - 1, mode, err))
		goto out;
	if (!api_name_valid(out->name)) {
		api_fail(err, API_VALIDATION_FAILED, "name", "name must be 1..%d bytes of UTF-8 without control characters",
			 API_NAME_MAX);
		goto out;
	}
	for (int i = 0; i < 4; i++) {
		if (strcmp(metric, metric_names[i]) == 0) {
			out->metric = (enum nn_monitor)i;
			found = true;
		}
	}
	if (!found) {
		api_fail(err, API_VALIDATION_FAILED, "metric", "metric must be loss, val_loss, accuracy or val_accuracy");
		goto out;
	}
	if (!mode[0])
		out->maximize = out->metric == NN_MONITOR_ACCURACY || out->metric == NN_MONITOR_VAL_ACCURACY;
	else if (strcmp(mode, "min") == 0 || strcmp(mode, "max") == 0)
		out->maximize = mode[1] == 'a';
	else {
		api_fail(err, API_VALIDATION_FAILED, "mode", "mode must be min or max");
		goto out;
	}
	model = cJSON_GetObjectItemCaseSensitive(root, "model");
	job = cJSON_GetObjectItemCaseSensitive(root, "job");
	if (!cJSON_IsObject(model)) {
		api_fail(err, API_VALIDATION_FAILED, "model", "model must be an object: a POST /v1/models body");
		goto out;
	}
	if (!cJSON_IsObject(job)) {
		api_fail(err, API_VALIDATION_FAILED, "job", "job must be an object: a POST /v1/jobs body without model_id");
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(job, "model_id")) {
		api_fail(err, API_VALIDATION_FAILED, "job.model_id",
			 "job must not name model_id: the sweep creates each point's model");
		goto out;
	}
	grid = cJSON_GetObjectItemCaseSensitive(root, "grid");
	random = cJSON_GetObjectItemCaseSensitive(root, "random");
	if (!grid == !random) {
		api_fail(err, API_VALIDATION_FAILED, "grid", "give either grid or random, not %s", grid ? "both" : "neither");
		goto out;
	}
	out->kind = grid ? API_SWEEP_GRID : API_SWEEP_RANDOM;
	if (grid ? decode_grid(grid, pm, &x.n_params, &out->n_points, err)
		 : decode_random(random, seeds->random, pm, &x.n_params, &out->n_points, &random_seed, err))
		goto out;
	for (size_t k = 0; k < x.n_params; k++)
		if (param_resolve(&pm[k], model, job, err))
			goto out;
	x.name = out->name;
	x.model = model;
	x.job = job;
	x.pm = pm;
	x.seeds = seeds;
	if (expand(out, &x, random_seed, err))
		goto out;
	/* What is stored: the body without name, metric and mode (columns of their own). */
	cJSON_DeleteItemFromObjectCaseSensitive(root, "name");
	cJSON_DeleteItemFromObjectCaseSensitive(root, "metric");
	cJSON_DeleteItemFromObjectCaseSensitive(root, "mode");
	out->definition = cJSON_PrintUnformatted(root);
	if (!out->definition) {
		api_fail(err, API_UNAVAILABLE, NULL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	if (rc)
		api_sweep_req_free(out);
	return rc;
}

void api_sweep_req_free(struct api_sweep_req *req)
{
	for (size_t i = 0; req->points && i < req->n_points; i++)
		free(req->points[i].params);
	free(req->points);
	free(req->definition);
	req->points = NULL;
	req->definition = NULL;
	req->n_points = 0;
}

/* ---- reading back ---------------------------------------------------------------------- */

const char *api_sweep_status(const struct api_sweep_info *s)
{
	const uint64_t *c = s->counts;

	if (c[API_JOB_RUNNING] || c[API_JOB_QUEUED])
		return c[API_JOB_QUEUED] == s->n_points ? "queued" : "running";
	if (s->cancel_requested || c[API_JOB_CANCELLED])
		return c[API_JOB_FAILED] ? "failed" : "cancelled";
	return c[API_JOB_FAILED] ? "failed" : "succeeded";
}

static bool better(const struct api_sweep_point_info *a, const struct api_sweep_point_info *b, bool maximize)
{
	bool ha = !isnan(a->best), hb = !isnan(b->best);

	if (ha != hb)
		return ha;
	if (ha && a->best != b->best)
		return maximize ? a->best > b->best : a->best < b->best;
	return a->index < b->index;
}

void api_sweep_rank(struct api_sweep_point_info *p, size_t n, bool maximize)
{
	/* Insertion sort: at most API_SWEEP_MAX_POINTS items, and stable. */
	for (size_t i = 1; i < n; i++) {
		struct api_sweep_point_info v = p[i];
		size_t j = i;

		while (j > 0 && better(&v, &p[j - 1], maximize)) {
			p[j] = p[j - 1];
			j--;
		}
		p[j] = v;
	}
	for (size_t i = 0; i < n; i++)
		p[i].rank = (uint32_t)i + 1;
}

static cJSON *sweep_json(const struct api_sweep_info *s, const struct api_sweep_point_info *pts, size_t n)
{
	cJSON *o = cJSON_CreateObject(), *def = s->definition ? cJSON_Parse(s->definition) : NULL, *counts, *arr;

	api_add_number(o, "id", (double)s->id);
	cJSON_AddStringToObject(o, "name", s->name);
	cJSON_AddStringToObject(o, "status", api_sweep_status(s));
	cJSON_AddStringToObject(o, "kind", s->kind == API_SWEEP_GRID ? "grid" : "random");
	cJSON_AddStringToObject(o, "metric", api_sweep_metric_name(s->metric));
	cJSON_AddStringToObject(o, "mode", s->maximize ? "max" : "min");
	api_add_number(o, "n_points", s->n_points);
	cJSON_AddBoolToObject(o, "cancel_requested", s->cancel_requested);
	counts = cJSON_AddObjectToObject(o, "counts");
	for (int i = 0; i < API_JOB_N_STATUS; i++)
		api_add_number(counts, api_job_status_name((enum api_job_status)i), (double)s->counts[i]);
	cJSON_AddStringToObject(o, "created_at", s->created_at);
	for (const char *const *k = (const char *const[]){"model", "job", "grid", "random", NULL}; *k; k++) {
		cJSON *item = def ? cJSON_DetachItemFromObjectCaseSensitive(def, *k) : NULL;

		if (item)
			api_json_add(o, *k, item);
	}
	cJSON_Delete(def);
	if (!pts)
		return o;
	arr = cJSON_AddArrayToObject(o, "points");
	for (size_t i = 0; i < n; i++) {
		const struct api_sweep_point_info *p = &pts[i];
		cJSON *po = cJSON_CreateObject();

		api_add_number(po, "index", p->index);
		api_add_number(po, "rank", p->rank);
		api_json_add(po, "params", p->params ? cJSON_Parse(p->params) : cJSON_CreateObject());
		api_json_add(po, "model_id", p->model_id ? api_json_number_or_null((double)p->model_id) : cJSON_CreateNull());
		api_json_add(po, "job_id", p->job_id ? api_json_number_or_null((double)p->job_id) : cJSON_CreateNull());
		cJSON_AddStringToObject(po, "status", api_job_status_name(p->status));
		api_add_number(po, "epoch", p->epoch);
		api_add_number(po, "epochs", p->epochs);
		api_json_add(po, "best", api_json_number_or_null(p->best));
		api_json_add(po, "best_epoch", isnan(p->best) ? cJSON_CreateNull() : api_json_number_or_null(p->best_epoch));
		api_json_append(arr, po);
	}
	return o;
}

char *api_sweep_encode(const struct api_sweep_info *s, const struct api_sweep_point_info *points, size_t n)
{
	unsigned long failures = api_alloc_failures();

	return api_json_print_free(sweep_json(s, points, n), failures);
}

char *api_sweep_list_encode(const struct api_sweep_info *items, size_t n, uint64_t total)
{
	unsigned long failures = api_alloc_failures();
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "items");

	for (size_t i = 0; i < n; i++)
		api_json_append(arr, sweep_json(&items[i], NULL, 0));
	api_add_number(o, "total", (double)total);
	return api_json_print_free(o, failures);
}

char *api_sweep_event_encode(uint32_t point, int64_t job_id, const char *data)
{
	struct api_buf b = {0};

	api_buf_printf(&b, "{\"point\":%u,\"job_id\":%lld,\"event\":%s}", point, (long long)job_id, data);
	return api_buf_finish(&b);
}
