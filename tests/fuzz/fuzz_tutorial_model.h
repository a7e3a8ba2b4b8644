/*
 * fuzz_tutorial_model.h — the set-up of the predict-path targets
 * (fuzz_instances, fuzz_v2_infer): libFuzzer's LLVMFuzzerInitialize builds
 * `model`, tutorial-shaped (input FUZZ_INPUT_DIM -> Dense(25, relu) ->
 * Dense(15, relu) -> Dense(FUZZ_OUTPUTS, softmax), sparse categorical
 * cross-entropy, Adam), initialised from seed 42, BLAS single-threaded.
 * Include it from the target's one .c file.
 */
#ifndef FITD_FUZZ_TUTORIAL_MODEL_H
#define FITD_FUZZ_TUTORIAL_MODEL_H

#include <stdlib.h>

#include "core/nn.h"

#define FUZZ_INPUT_DIM 4
#define FUZZ_OUTPUTS 4

static struct nn_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct nn_model_spec spec = {.input_dim = FUZZ_INPUT_DIM, .n_layers = 3,
				     .loss.kind = NN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY};
	struct nn_rng rng;

	(void)argc, (void)argv;
	nn_dense_defaults(&spec.layers[0], 25, NN_ACT_RELU);
	nn_dense_defaults(&spec.layers[1], 15, NN_ACT_RELU);
	nn_dense_defaults(&spec.layers[2], FUZZ_OUTPUTS, NN_ACT_SOFTMAX);
	nn_opt_defaults(NN_OPT_ADAM, &spec.opt);
	nn_blas_single_threaded();
	model = nn_model_create(&spec);
	if (!model)
		abort();
	nn_rng_seed(&rng, 42);
	nn_model_init(model, &rng);
	return 0;
}

#endif
