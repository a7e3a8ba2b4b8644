/* tests/export/driver.c — runs an exported C model (compiled in with
 * -DFITD_MODEL_FILE='"path.c"'): reads rows of FITD_MODEL_INPUTS numbers from
 * stdin, prints FITD_MODEL_OUTPUTS values per row with %.9g (round-trips
 * float32). Built by tests/integration/test_export.py with cc -std=c99
 * -pedantic -Wall -Wextra -Werror. */
#include <stdio.h>

#include FITD_MODEL_FILE

int main(void)
{
	float x[FITD_MODEL_INPUTS], y[FITD_MODEL_OUTPUTS];
	int i;

	for (;;) {
		for (i = 0; i < FITD_MODEL_INPUTS; i++)
			if (scanf("%f", &x[i]) != 1)
				return i == 0 ? 0 : 1;
		fitd_model_predict(x, y);
		for (i = 0; i < FITD_MODEL_OUTPUTS; i++)
			printf(i ? " %.9g" : "%.9g", (double)y[i]);
		printf("\n");
	}
}
