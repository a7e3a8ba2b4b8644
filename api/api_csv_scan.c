/*
 * api_csv_scan.c — finds the next byte of a CSV that ends or opens a cell
 * (the delimiter, a double quote, LF or CR), many bytes at a time.
 *
 * DESIGN. The CSV reader (api_csv.c) copies an unquoted cell's bytes up to
 * that byte in one go instead of running its state machine on each. On
 * x86-64, SSE2 (part of the baseline, no newer instruction needed) compares
 * 16 bytes with the four values at once and the lowest bit of the movemask
 * is the answer; elsewhere, and for the last bytes of a buffer, SWAR on
 * 64-bit words: (x - 0x01..01) & ~x & 0x80..80 has its lowest set bit at
 * the first zero byte of x exactly (bits above it may be false, never
 * below), so the lowest set bit of the four tests OR-ed is the first match.
 * Reads stay inside p[0..len).
 */
#include <string.h>

#include "api/api_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t zero_bytes(uint64_t x)
{
	return (x - ONES) & ~x & HIGHS;
}

static inline size_t scan(const char *p, size_t len, char delim)
{
	size_t i = 0;

#if defined(__SSE2__)
	const __m128i d = _mm_set1_epi8(delim), q = _mm_set1_epi8('"'), lf = _mm_set1_epi8('\n'),
		      cr = _mm_set1_epi8('\r');

	for (; i + 16 <= len; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, q)),
					 _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);

		if (bits)
			return i + (size_t)__builtin_ctz(bits);
	}
#endif
	{
		const uint64_t wd = ONES * (unsigned char)delim, wq = ONES * '"', wlf = ONES * '\n', wcr = ONES * '\r';

		for (; i + 8 <= len; i += 8) {
			uint64_t x, hit;

			memcpy(&x, p + i, sizeof x); /* little-endian: byte 0 is the low byte */
			hit = zero_bytes(x ^ wd) | zero_bytes(x ^ wq) | zero_bytes(x ^ wlf) | zero_bytes(x ^ wcr);
			if (hit) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
				return i + (size_t)__builtin_ctzll(hit) / 8;
#else
				break; /* the bytes below find it */
#endif
			}
		}
	}
	for (; i < len; i++) {
		char c = p[i];

		if (c == delim || c == '"' || c == '\n' || c == '\r')
			return i;
	}
	return len;
}

size_t api_csv_scan(const char *p, size_t len, char delim)
{
	return scan(p, len, delim);
}

size_t api_csv_fast_cells(const char *p, size_t len, char delim, float *values, uint32_t max, uint32_t *n_read)
{
	size_t at = 0;
	uint32_t k = 0;

	while (k < max) {
		size_t n = 0;
		uint32_t w = 0;
		float v;
		int rc;

		/* an integer of up to 9 digits and its delimiter, in one pass: the
		 * common cell. w < 10^9 < 2^32, and converting it to float rounds
		 * correctly (to nearest, ties to even) like any IEEE conversion. */
		for (unsigned d; n < 10 && n < len - at && (d = (unsigned)(unsigned char)p[at + n] - '0') <= 9; n++)
			w = w * 10 + d;
		if (n - 1 < 9 && n < len - at && p[at + n] == delim) {
			values[k++] = (float)w;
			at += n + 1;
			continue;
		}
		n = scan(p + at, len - at, delim);

		/* a cell that ends at this delimiter, in this buffer, not empty, not over the limit */
		if (n == 0 || n > API_CSV_CELL_MAX || n >= len - at || p[at + n] != delim)
			break;
		rc = api_float_fast(p + at, n, &v);
		if (rc == 0 || (rc < 0 && !api_float_parse(p + at, n, &v)))
			break; /* not a number (or spaces around it): the reader says why */
		values[k++] = v;
		at += n + 1;
	}
	*n_read = k;
	return at;
}
