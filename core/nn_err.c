/*
 * nn_err.c — English text for every enum nn_status.
 */
#include "nn.h"

/* Indexed by -status: one row per code of enum nn_status. */
static const char *const nn_status_text[] = {
	[-NN_OK] = "success",
	[-NN_EINVAL] = "invalid specification, option or data",
	[-NN_ENOMEM] = "out of memory",
	[-NN_ELIMIT] = "size limit exceeded",
	[-NN_EFORMAT] = "malformed or mismatched serialized state",
	[-NN_EDIVERGED] = "training diverged: the loss is not finite",
	[-NN_ECANCELLED] = "cancelled",
};

const char *nn_strerror(int status)
{
	int index = -status;
	if (index < 0 || index >= (int)(sizeof nn_status_text / sizeof nn_status_text[0]))
		return "unknown status";
	return nn_status_text[index];
}
