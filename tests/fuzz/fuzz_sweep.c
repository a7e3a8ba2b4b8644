/*
 * fuzz_sweep.c — POST /v1/sweeps bodies through api_sweep_decode (the
 * parameter paths into the templates, grid and random expansion, each
 * point's model and job decode).
 *
 * Properties: no crash, leak or undefined behaviour; a refusal is a proper
 * error; an accepted sweep is within the limits (points, epochs summed over
 * points), every point has its seeds and no model_id, its parameters are an
 * object; and the stored definition, with the metric and mode, expands into
 * the same points again (a random sweep's seed is written into it).
 */
#include "api/api_sweep.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct api_sweep_seeds seeds = {11, 22, 33}, other = {44, 55, 66};
	struct api_sweep_req req, again;
	struct api_err err = {0};
	uint64_t epochs = 0;
	cJSON *def;
	char *body;

	if (api_sweep_decode((const char *)data, size, &seeds, &req, &err) != 0) {
		fuzz_check_err(&err);
		return 0;
	}
	FUZZ_CHECK(req.n_points >= 1 && req.n_points <= API_SWEEP_MAX_POINTS, "%zu points", req.n_points);
	for (size_t i = 0; i < req.n_points; i++) {
		const struct api_sweep_point *p = &req.points[i];
		cJSON *params = cJSON_Parse(p->params);

		FUZZ_CHECK(cJSON_IsObject(params), "point %zu's params are not an object: %s", i, p->params);
		cJSON_Delete(params);
		FUZZ_CHECK(p->model.has_seed && p->job.has_seed && p->job.model_id == 0, "point %zu's seeds", i);
		epochs += p->job.fit.epochs;
	}
	FUZZ_CHECK(epochs == req.total_epochs && epochs <= API_SWEEP_MAX_EPOCHS, "%llu epochs",
		   (unsigned long long)epochs);

	def = cJSON_Parse(req.definition);
	FUZZ_CHECK(cJSON_IsObject(def), "the stored definition is not an object: %s", req.definition);
	cJSON_AddStringToObject(def, "metric", api_sweep_metric_name(req.metric));
	cJSON_AddStringToObject(def, "mode", req.maximize ? "max" : "min");
	body = cJSON_PrintUnformatted(def);
	cJSON_Delete(def);
	FUZZ_CHECK(body != NULL, "print");
	memset(&err, 0, sizeof err);
	FUZZ_CHECK(api_sweep_decode(body, strlen(body), &other, &again, &err) == 0,
		   "the stored definition is refused: %s (field %s)\n  %s", err.message, err.field, body);
	FUZZ_CHECK(again.n_points == req.n_points && again.kind == req.kind, "the stored definition expands otherwise");
	for (size_t i = 0; i < req.n_points; i++)
		FUZZ_CHECK(strcmp(again.points[i].params, req.points[i].params) == 0, "point %zu: %s, then %s", i,
			   req.points[i].params, again.points[i].params);
	free(body);
	api_sweep_req_free(&again);
	api_sweep_req_free(&req);
	return 0;
}
