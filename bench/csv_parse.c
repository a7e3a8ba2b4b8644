/*
 * csv_parse.c — the CSV reader alone (api_csv_feed in 16 KiB pieces, as the
 * HTTP layer hands them over; no HTTP, hashing or SQLite), MB per CPU-second,
 * best of three passes over a file held in memory. Built and run by
 * bench/csv_ingest.py --parse-only:
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -I. $(pkg-config --cflags libcjson) -o build/csv_parse \
 *      bench/csv_parse.c api/api_csv*.c api/api_float*.c api/api_err.c api/api_alloc.c \
 *      api/api_json.c $(pkg-config --libs libcjson) -lm
 *   build/csv_parse FILE.csv
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "api/api.h"

static double cpu_seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double checksum;

static int on_row(void *ctx, const float *features, uint32_t n_features, float label, struct api_err *err)
{
	(void)ctx;
	(void)err;
	checksum += (double)features[n_features / 2] + (double)label;
	return 0;
}

int main(int argc, char **argv)
{
	FILE *f;
	long size;
	char *buf;
	double best = 1e30;

	if (argc != 2 || !(f = fopen(argv[1], "rb"))) {
		fprintf(stderr, "usage: csv_parse FILE.csv\n");
		return 2;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)size);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
		return 1;
	fclose(f);
	for (int pass = 0; pass < 3; pass++) {
		struct api_csv_opts opts = {.header = API_CSV_HEADER_AUTO, .label_index = -1, .max_rows = 100000000,
					    .max_cells = 100000000000ull};
		struct api_csv *csv = api_csv_create(&opts, on_row, NULL);
		struct api_err err = {0};
		double t = cpu_seconds();

		for (long at = 0; at < size; at += 16384) {
			long n = size - at < 16384 ? size - at : 16384;

			if (api_csv_feed(csv, buf + at, (size_t)n, &err)) {
				fprintf(stderr, "%s\n", err.message);
				return 1;
			}
		}
		if (api_csv_finish(csv, &err)) {
			fprintf(stderr, "%s\n", err.message);
			return 1;
		}
		t = cpu_seconds() - t;
		if (t < best)
			best = t;
		api_csv_destroy(csv);
	}
	printf("%.3f %.1f %g\n", best, (double)size / 1e6 / best, checksum);
	free(buf);
	return 0;
}
