/*
 * api_pb.c — protocol-buffers encoding onto an api_buf (api_pb.h).
 */
#include <string.h>

#include "api/api_pb.h"

void api_pb_varint(struct api_buf *b, uint64_t v)
{
	char out[10];
	size_t n = 0;

	do {
		uint8_t byte = v & 0x7f;

		v >>= 7;
		out[n++] = (char)(v ? byte | 0x80 : byte);
	} while (v);
	api_buf_put(b, out, n);
}

void api_pb_tag(struct api_buf *b, uint32_t field, enum api_pb_wire wire)
{
	api_pb_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

void api_pb_uint(struct api_buf *b, uint32_t field, uint64_t v)
{
	api_pb_tag(b, field, API_PB_VARINT);
	api_pb_varint(b, v);
}

static void put_u32_le(struct api_buf *b, uint32_t u)
{
	char out[4] = {(char)(u & 0xff), (char)((u >> 8) & 0xff), (char)((u >> 16) & 0xff), (char)(u >> 24)};

	api_buf_put(b, out, 4);
}

void api_pb_float(struct api_buf *b, uint32_t field, float v)
{
	uint32_t u;

	memcpy(&u, &v, sizeof u);
	api_pb_tag(b, field, API_PB_FIXED32);
	put_u32_le(b, u);
}

void api_pb_bytes(struct api_buf *b, uint32_t field, const void *data, size_t n)
{
	api_pb_tag(b, field, API_PB_LEN);
	api_pb_varint(b, n);
	api_buf_put(b, data, n);
}

void api_pb_string(struct api_buf *b, uint32_t field, const char *s)
{
	api_pb_bytes(b, field, s, strlen(s));
}

void api_pb_message(struct api_buf *b, uint32_t field, struct api_buf *sub)
{
	if (sub->failed) {
		b->failed = true;
		return;
	}
	api_pb_bytes(b, field, sub->data ? sub->data : "", sub->len);
	api_buf_clear(sub);
}

void api_pb_floats_le(struct api_buf *b, const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u;

		memcpy(&u, &v[i], sizeof u);
		put_u32_le(b, u);
	}
}
