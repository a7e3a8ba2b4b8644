/*
 * fuzz_model_state.c — nn_model_state_load on blobs read from the database
 * (models.state), for small models of every optimizer layout (no slot, one
 * slot, two slots) and a dropout layer.
 *
 * Input: byte 0 picks the model (byte % N_MODELS) and the mode: even, the
 * rest is the blob as is; odd, the rest is laid into a buffer of the exact
 * size and given a valid checksum, so that the fuzzer reaches the checks
 * behind it (magic, version, sizes, optimizer, layout) and the values past
 * them (steps, NaN or huge parameters and slots).
 *
 * Properties: no crash, leak or undefined behaviour; a refusal leaves the
 * model unchanged; an accepted blob saves back to the same bytes, and the
 * model then predicts and trains an epoch (as the worker does after loading)
 * without fault.
 */
#include <math.h>

#include "core/nn_internal.h"
#include "tests/fuzz/fuzz_common.h"

#define N_MODELS 5
#define ROWS 8

static struct nn_model *models[N_MODELS];
static float xs[ROWS * 3], ys[ROWS];

static struct nn_model *make(enum nn_opt_kind kind, double momentum, bool dropout, uint64_t seed)
{
	struct nn_model_spec spec = {0};
	struct nn_model *m;
	struct nn_rng rng;
	uint32_t i = 0;

	spec.input_dim = 3;
	nn_dense_defaults(&spec.layers[i++], 5, NN_ACT_RELU);
	if (dropout) {
		spec.layers[i].kind = NN_LAYER_DROPOUT;
		spec.layers[i++].rate = 0.25;
	}
	nn_dense_defaults(&spec.layers[i], 2, NN_ACT_SOFTMAX);
	spec.layers[i++].use_bias = !dropout;
	spec.n_layers = i;
	spec.loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
	nn_opt_defaults(kind, &spec.opt);
	spec.opt.momentum = momentum;
	m = nn_model_create(&spec);
	if (!m)
		abort();
	nn_rng_seed(&rng, seed);
	nn_model_init(m, &rng);
	return m;
}

/* FITD_FUZZ_WRITE_SEEDS=DIR: writes the seed corpus (each model's blob fresh
 * and after two epochs of training, raw and in checksum-fixing mode) and
 * exits. make_corpus.py runs this. */
static void write_seeds(const char *dir)
{
	struct nn_data d = {xs, ys, ROWS, 3, 1};
	struct nn_fit_opts opts = {.epochs = 2, .batch_size = 4, .shuffle = true, .seed = 3};

	for (int i = 0; i < N_MODELS; i++) {
		for (int trained = 0; trained < 2; trained++) {
			size_t n = nn_model_state_size(models[i]);
			uint8_t *buf = malloc(n + 1);

			if (!buf)
				abort();
			if (trained && nn_fit(models[i], &d, NULL, &opts, NULL, NULL, NULL, NULL) != NN_OK)
				abort();
			nn_model_state_save(models[i], buf + 1);
			for (int fix = 0; fix < 2; fix++) {
				char path[4096];
				FILE *f;

				/* byte 0: model i, even = raw, odd = checksum fixed */
				buf[0] = (uint8_t)(i + N_MODELS * ((i & 1) ^ fix));
				snprintf(path, sizeof path, "%s/m%d-%s-%s", dir, i, trained ? "trained" : "fresh",
					 fix ? "fixsum" : "raw");
				f = fopen(path, "wb");
				if (!f || fwrite(buf, 1, n + 1, f) != n + 1 || fclose(f))
					abort();
			}
			free(buf);
		}
	}
	exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("FITD_FUZZ_WRITE_SEEDS");

	(void)argc, (void)argv;
	nn_blas_single_threaded();
	models[0] = make(NN_OPT_SGD, 0.0, false, 1);
	models[1] = make(NN_OPT_SGD, 0.9, true, 2);
	models[2] = make(NN_OPT_ADAGRAD, 0.0, false, 3);
	models[3] = make(NN_OPT_RMSPROP, 0.5, true, 4);
	models[4] = make(NN_OPT_ADAM, 0.0, false, 5);
	for (int i = 0; i < ROWS; i++) {
		xs[3 * i] = (float)i / ROWS;
		xs[3 * i + 1] = (float)(i % 3) - 1.0f;
		xs[3 * i + 2] = 0.5f;
		ys[i] = (float)(i % 2);
	}
	if (seeds)
		write_seeds(seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nn_model *m;
	const uint8_t *blob;
	uint8_t *fixed = NULL, *before, *after;
	size_t len, want;
	int rc;

	if (size < 1)
		return 0;
	m = models[data[0] % N_MODELS];
	want = nn_model_state_size(m);
	blob = data + 1;
	len = size - 1;
	if (data[0] & 1) {
		fixed = calloc(1, want);
		if (!fixed)
			abort();
		memcpy(fixed, blob, len < want ? len : want);
		nn_put_u64(fixed + want - 8, nn_checksum(fixed, want - 8));
		blob = fixed;
		len = want;
	}
	before = malloc(want);
	after = malloc(want);
	if (!before || !after)
		abort();
	nn_model_state_save(m, before);
	rc = nn_model_state_load(m, blob, len);
	nn_model_state_save(m, after);
	if (rc != NN_OK) {
		FUZZ_CHECK(rc == NN_EFORMAT, "load returned %d", rc);
		FUZZ_CHECK(memcmp(before, after, want) == 0, "a refused blob changed the model");
		goto out;
	}
	FUZZ_CHECK(len == want && memcmp(after, blob, want) == 0, "an accepted blob does not save back to itself");
	{
		/* What the server does with a loaded model: predict, and train. */
		struct nn_data d = {xs, ys, ROWS, 3, 1};
		struct nn_fit_opts opts = {.epochs = 1, .batch_size = 4, .shuffle = true, .seed = 7};
		struct nn_train *t;
		struct nn_epoch_log log;
		float out[ROWS * 2];
		int32_t classes[ROWS];
		int status = 0;

		FUZZ_CHECK(nn_predict(m, xs, ROWS, out) == NN_OK, "predict after load");
		FUZZ_CHECK(nn_classes(nn_model_spec(m), out, ROWS, classes) == NN_OK, "classes after load");
		for (int i = 0; i < ROWS; i++)
			FUZZ_CHECK(classes[i] == 0 || classes[i] == 1, "class %d", classes[i]);
		t = nn_train_create(m, &d, NULL, &opts, &status);
		FUZZ_CHECK(t != NULL, "trainer after load: %s", nn_strerror(status));
		rc = nn_train_epoch(t, NULL, &log);
		FUZZ_CHECK(rc == NN_OK || rc == NN_EDIVERGED, "epoch after load: %s", nn_strerror(rc));
		nn_train_destroy(t);
	}
	/* Put the model back as it was for the next input. */
	FUZZ_CHECK(nn_model_state_load(m, before, want) == NN_OK, "cannot restore the model");
out:
	free(before);
	free(after);
	free(fixed);
	return 0;
}
