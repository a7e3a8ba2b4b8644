/*
 * fuzz_train_state.c — nn_train_state_load on checkpoints read from the
 * database (jobs.checkpoint), for trainers with and without early stopping
 * and a validation split.
 *
 * Input: byte 0 picks the trainer options (byte % 4) and the mode (bit 2):
 * clear, the rest is the blob as is; set, the rest is laid into a buffer of
 * the exact size with a valid checksum, so the fuzzer reaches the field
 * checks (epochs, flags, RNG state, best value) and what the trainer does
 * with values that pass them.
 *
 * Properties: no crash, leak or undefined behaviour; a refusal leaves the
 * trainer unchanged; an accepted checkpoint saves back to the same bytes, and
 * the trainer then runs to the end (as a resumed job does) within its epochs,
 * each epoch numbered after the last.
 */
#include <math.h>

#include "core/nn_internal.h"
#include "tests/fuzz/fuzz_common.h"

#define ROWS 10
#define EPOCHS 4

static struct nn_model *model;
static uint8_t *model_state;
static float xs[ROWS * 3], ys[ROWS];

/* FITD_FUZZ_WRITE_SEEDS=DIR: writes the seed corpus (checkpoints after 0, 1
 * and 3 epochs, for each set of options, raw and checksum-fixing) and exits.
 * make_corpus.py runs this. */
static void write_seeds(const char *dir)
{
	for (int o = 0; o < 4; o++) {
		struct nn_data d = {xs, ys, ROWS, 3, 1};
		struct nn_fit_opts opts = {.epochs = EPOCHS, .batch_size = 3, .shuffle = true, .seed = 5};
		struct nn_epoch_log log;
		struct nn_train *t;
		int status;

		if (o & 1) {
			opts.early_stopping = true;
			opts.monitor = (o & 2) ? NN_MONITOR_VAL_LOSS : NN_MONITOR_ACCURACY;
			opts.patience = 1;
			opts.min_delta = 0.01;
		}
		if (o & 2)
			opts.validation_split = 0.3;
		if (nn_model_state_load(model, model_state, nn_model_state_size(model)) != NN_OK)
			abort();
		t = nn_train_create(model, &d, NULL, &opts, &status);
		if (!t)
			abort();
		for (int epochs = 0; epochs <= 3; epochs++) {
			uint8_t buf[256];
			size_t n = nn_train_state_size(t);

			if (epochs > 0 && !nn_train_done(t) && nn_train_epoch(t, NULL, &log) != NN_OK)
				abort();
			if (epochs == 2)
				continue;
			nn_train_state_save(t, buf + 1);
			for (int fix = 0; fix < 2; fix++) {
				char path[4096];
				FILE *f;

				buf[0] = (uint8_t)(o | (fix ? 4 : 0));
				snprintf(path, sizeof path, "%s/o%d-e%d-%s", dir, o, epochs, fix ? "fixsum" : "raw");
				f = fopen(path, "wb");
				if (!f || fwrite(buf, 1, n + 1, f) != n + 1 || fclose(f))
					abort();
			}
		}
		nn_train_destroy(t);
	}
	exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("FITD_FUZZ_WRITE_SEEDS");
	struct nn_model_spec spec = {0};
	struct nn_rng rng;

	(void)argc, (void)argv;
	nn_blas_single_threaded();
	spec.input_dim = 3;
	spec.n_layers = 3;
	nn_dense_defaults(&spec.layers[0], 4, NN_ACT_TANH);
	spec.layers[1].kind = NN_LAYER_DROPOUT;
	spec.layers[1].rate = 0.3;
	nn_dense_defaults(&spec.layers[2], 3, NN_ACT_SOFTMAX);
	spec.loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	model = nn_model_create(&spec);
	if (!model)
		abort();
	nn_rng_seed(&rng, 11);
	nn_model_init(model, &rng);
	model_state = malloc(nn_model_state_size(model));
	if (!model_state)
		abort();
	nn_model_state_save(model, model_state);
	for (int i = 0; i < ROWS; i++) {
		xs[3 * i] = (float)i / ROWS;
		xs[3 * i + 1] = (float)(i % 4) - 1.5f;
		xs[3 * i + 2] = (float)(i % 3);
		ys[i] = (float)(i % 3);
	}
	if (seeds)
		write_seeds(seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nn_data d = {xs, ys, ROWS, 3, 1};
	struct nn_fit_opts opts = {.epochs = EPOCHS, .batch_size = 3, .shuffle = true, .seed = 5};
	uint8_t before[256], after[256], *fixed = NULL;
	const uint8_t *blob;
	struct nn_train *t;
	size_t len, want;
	int rc, status = 0;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		opts.early_stopping = true;
		opts.monitor = (data[0] & 2) ? NN_MONITOR_VAL_LOSS : NN_MONITOR_ACCURACY;
		opts.patience = 1;
		opts.min_delta = 0.01;
	}
	if (data[0] & 2)
		opts.validation_split = 0.3;
	/* Each input starts from the same model. */
	if (nn_model_state_load(model, model_state, nn_model_state_size(model)) != NN_OK)
		abort();
	t = nn_train_create(model, &d, NULL, &opts, &status);
	FUZZ_CHECK(t != NULL, "trainer: %s", nn_strerror(status));
	want = nn_train_state_size(t);
	FUZZ_CHECK(want <= sizeof before, "state size %zu", want);
	blob = data + 1;
	len = size - 1;
	if (data[0] & 4) {
		fixed = calloc(1, want);
		if (!fixed)
			abort();
		memcpy(fixed, blob, len < want ? len : want);
		nn_put_u64(fixed + want - 8, nn_checksum(fixed, want - 8));
		blob = fixed;
		len = want;
	}
	nn_train_state_save(t, before);
	rc = nn_train_state_load(t, blob, len);
	nn_train_state_save(t, after);
	if (rc != NN_OK) {
		FUZZ_CHECK(rc == NN_EFORMAT, "load returned %d", rc);
		FUZZ_CHECK(memcmp(before, after, want) == 0, "a refused checkpoint changed the trainer");
		goto out;
	}
	if (len == 72 && nn_get_u32(blob + 4) == 1) {
		/* a version-1 checkpoint (from before the plateau state) saves as
		 * the current version with its fields kept */
		FUZZ_CHECK(memcmp(after, blob, 4) == 0 && memcmp(after + 8, blob + 8, 56) == 0,
			   "an accepted version-1 checkpoint loses a field");
	} else {
		FUZZ_CHECK(len == want && memcmp(after, blob, want) == 0,
			   "an accepted checkpoint does not save back to itself");
	}
	{
		uint32_t done = nn_train_epochs_done(t), runs = 0;

		while (!nn_train_done(t)) {
			struct nn_epoch_log log;

			rc = nn_train_epoch(t, NULL, &log);
			if (rc == NN_EDIVERGED)
				break;
			FUZZ_CHECK(rc == NN_OK, "epoch after load: %s", nn_strerror(rc));
			FUZZ_CHECK(log.epoch == done + runs + 1, "epoch %u logged after %u done and %u run", log.epoch, done,
				   runs);
			FUZZ_CHECK(++runs <= EPOCHS, "a resumed trainer ran %u epochs of %u", runs, EPOCHS);
		}
	}
out:
	nn_train_destroy(t);
	free(fixed);
	return 0;
}
