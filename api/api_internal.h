/*
 * api_internal.h — helpers shared by the api_* translators: strict JSON
 * reading on top of cJSON, and a growable text buffer for large numeric
 * output (weights, predictions) where a cJSON node per number would cost
 * ~80 bytes each.
 */
#ifndef FITD_API_INTERNAL_H
#define FITD_API_INTERNAL_H

#include <cJSON.h>

#include "api/api.h"

/* ---- numeric output ----------------------------------------------------------- */

/* v[0..n) as api_buf_float writes each, comma-separated, no brackets:
 * "1,2.5,null" (nothing for n == 0). */
void api_buf_floats(struct api_buf *b, const float *v, size_t n);
/* v[0..rows * cols) row-major as rows arrays of cols: "[[1,2],[3,4]]". */
void api_buf_matrix(struct api_buf *b, const float *v, size_t rows, uint32_t cols);

/* ---- strict JSON reading ---------------------------------------------------- */

/* Parses len bytes (need not be NUL-terminated). Returns a new tree (free with
 * cJSON_Delete) or NULL with a 400 invalid_json naming line and column. The
 * body must hold exactly one JSON value, optionally surrounded by whitespace. */
cJSON *api_json_parse(const char *body, size_t len, struct api_err *err);

/* Fails with 422 unless obj is an object whose keys are all in allowed
 * (NULL-terminated) and none repeats; names the first offender. path is the
 * object's own JSON path ("" for the root). what names the object for the
 * type message ("the body", "layers[1]"). */
int api_obj_check(const cJSON *obj, const char *path, const char *what,
		  const char *const *allowed, struct api_err *err);

/* Child path: "" + "units" -> "units"; "layers[1]" + "units" -> "layers[1].units". */
void api_path(char *out, size_t size, const char *parent, const char *key);
void api_path_index(char *out, size_t size, const char *parent, size_t index);

/* Typed getters. Each looks up key in obj (case-sensitive). When absent:
 * required -> 422 "is required", else leave *out untouched and return 0.
 * Wrong type or out of range -> 422 naming path.key. */
int api_get_number(const cJSON *obj, const char *path, const char *key, bool required,
		   double lo, double hi, double *out, struct api_err *err);
int api_get_int(const cJSON *obj, const char *path, const char *key, bool required,
		int64_t lo, int64_t hi, int64_t *out, struct api_err *err);
int api_get_bool(const cJSON *obj, const char *path, const char *key, bool required,
		 bool *out, struct api_err *err);
/* Copies a UTF-8 string of 1..max bytes into out (max + 1 bytes). */
int api_get_string(const cJSON *obj, const char *path, const char *key, bool required,
		   size_t max, char *out, struct api_err *err);

/* One finite number within float32's range into *out; 422 naming path otherwise. */
int api_read_float(const cJSON *item, const char *path, float *out, struct api_err *err);
/* An array of exactly n such numbers into out[0..n). */
int api_read_floats(const cJSON *arr, const char *path, uint32_t n, float *out, struct api_err *err);

/* The length of the strict decimal number at the start of s[0..len):
 * [+-] digits [. digits] [(e|E) [+-] digits], at least one digit before the
 * exponent; 0 when there is none. JSON's number grammar is a subset. */
size_t api_float_syntax(const char *s, size_t len);
/* s[0..len) as a whole, a strict decimal number, rounded once to the nearest
 * float32 (glibc strtof: correctly rounded, ties to even). False when the
 * syntax is not exactly that or the value overflows float32; an underflow
 * gives zero or a subnormal. Thread-safe; s need not be terminated. */
bool api_float_parse(const char *s, size_t len, float *out);
/* The fast paths of api_float_parse (api_float_fast.c): 1 and *out the
 * correctly rounded float32, 0 refused (the grammar or an overflow), -1 too
 * close to a midpoint to tell without the exact path. */
int api_float_fast(const char *s, size_t len, float *out);
/* The index of the first byte of p[0..len) that is delim, '"', '\n' or '\r';
 * len when there is none (api_csv_scan.c: SSE2 or 64-bit words at a time). */
size_t api_csv_scan(const char *p, size_t len, char delim);
/* The CSV reader's fast lane: reads up to max cells of a record from
 * p[0..len), each an unquoted strict decimal number (nothing around it)
 * followed by delim, into values[0..*n_read). Stops before the first cell
 * that is anything else (quoted, empty, spaced, text, longer than
 * API_CSV_CELL_MAX bytes, the record's last, cut by the buffer's end), for
 * the byte-at-a-time reader to judge. Returns the bytes consumed: the cells
 * read and the delimiter after each. */
#define API_CSV_CELL_MAX 256
size_t api_csv_fast_cells(const char *p, size_t len, char delim, float *values, uint32_t max, uint32_t *n_read);
/* Is the finite double v exactly halfway between two adjacent float32 values
 * (or between FLT_MAX and 2^128)? Only there can double-then-float rounding
 * differ from rounding the decimal once. */
bool api_float_midpoint(double v);
/* After cJSON parsed body[0..len) into root: each number whose double lies
 * on a float midpoint gets the float its text rounds to (the double moves one
 * ulp toward it), so that (float)valuedouble is the correctly rounded value. */
void api_float_fix_json(cJSON *root, const char *body, size_t len);

/* The value itself, for arrays of numbers. */
bool api_number_value(const cJSON *item, double *out);
bool api_utf8_valid(const char *s, size_t len);
/* Copies s into out (size bytes), every byte that does not start a valid
 * UTF-8 sequence replaced by '?': messages quote request bytes and may have
 * been cut to fit their buffer in the middle of a character. */
void api_utf8_clean(const char *s, char *out, size_t size);

/* cJSON helpers for encoders. cJSON prints numbers with 15 significant
 * digits when they compare equal within a tolerance, which changes large
 * integers and some doubles; these print the shortest text that parses back
 * to exactly the same double. Non-finite values become null. */
cJSON *api_json_number_or_null(double v);
cJSON *api_add_number(cJSON *obj, const char *key, double v);
/* A float32 as the shortest text that parses back (strtof) to it: 40.3, not
 * 40.29999923706055. */
cJSON *api_json_float_or_null(float v);
/* cJSON_AddItemToObject / cJSON_AddItemToArray that take ownership of item
 * also on failure (cJSON's leave it to the caller, and a failed add leaked
 * it): item, or NULL when it could not be added and was deleted. */
cJSON *api_json_add(cJSON *obj, const char *key, cJSON *item);
cJSON *api_json_append(cJSON *arr, cJSON *item);
/* cJSON_PrintUnformatted + cJSON_Delete; NULL on failure, and NULL when an
 * allocation of this thread failed since api_alloc_failures() returned
 * failures (taken before the tree was built: a node may be missing). */
char *api_json_print_free(cJSON *root, unsigned long failures);

#endif
