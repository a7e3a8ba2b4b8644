/*
 * fuzz_job.c — POST /v1/jobs bodies through api_job_decode.
 *
 * Properties: no crash, leak or undefined behaviour; a refusal is a proper
 * error; an accepted job is within the limits (epochs, batch size, split),
 * and its canonical options (api_job_req_encode, stored in the jobs table
 * and read back by every GET and by the worker) decode to the same options.
 */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_job_req req, again;
	struct api_err err = {0};
	char *canon, *canon2;

	if (api_job_decode((const char *)data, size, &req, &err) != 0) {
		fuzz_check_err(&err);
		return 0;
	}
	/* model_id may be a model's name: the route resolves it to an id before
	 * the options are stored */
	FUZZ_CHECK((req.model_id >= 1) != (req.model_name[0] != '\0') && req.dataset_id >= 1 &&
			   req.validation_dataset_id >= 0,
		   "ids");
	if (req.model_name[0]) {
		req.model_id = 1;
		req.model_name[0] = '\0';
	}
	FUZZ_CHECK(req.fit.epochs >= 1 && req.fit.epochs <= NN_MAX_EPOCHS, "epochs %u", req.fit.epochs);
	FUZZ_CHECK(req.fit.batch_size >= 1 && req.fit.batch_size <= NN_MAX_BATCH, "batch_size %u", req.fit.batch_size);
	FUZZ_CHECK(req.fit.validation_split >= 0 && req.fit.validation_split < 1, "validation_split %g",
		   req.fit.validation_split);
	canon = api_job_req_encode(&req);
	FUZZ_CHECK(canon != NULL, "api_job_req_encode returned NULL");
	memset(&err, 0, sizeof err);
	FUZZ_CHECK(api_job_decode(canon, strlen(canon), &again, &err) == 0,
		   "the stored options of an accepted job are refused: %s (field %s)\n  stored: %s", err.message,
		   err.field, canon);
	canon2 = api_job_req_encode(&again);
	FUZZ_CHECK(canon2 && strcmp(canon, canon2) == 0, "stored options are not a fixed point:\n  %s\n  %s", canon,
		   canon2 ? canon2 : "(null)");
	FUZZ_CHECK(again.fit.epochs == req.fit.epochs && again.fit.batch_size == req.fit.batch_size &&
			   again.fit.seed == req.fit.seed && again.fit.shuffle == req.fit.shuffle &&
			   again.fit.early_stopping == req.fit.early_stopping && again.model_id == req.model_id &&
			   again.dataset_id == req.dataset_id && again.validation_dataset_id == req.validation_dataset_id,
		   "options changed through the stored form: %s", canon);
	free(canon);
	free(canon2);
	return 0;
}
