/*
 * api_pb.h — the few protocol-buffers encoding rules the ONNX export needs
 * (api_export_onnx.c), written onto an api_buf: varints, tags, and the
 * varint, fixed32 and length-delimited wire types. Nothing is decoded.
 * Nothing outside api/ and its unit tests includes it.
 */
#ifndef FITD_API_PB_H
#define FITD_API_PB_H

#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

enum api_pb_wire { API_PB_VARINT = 0, API_PB_FIXED64 = 1, API_PB_LEN = 2, API_PB_FIXED32 = 5 };

/* v in base-128 groups, least significant first, high bit set on all but the last. */
void api_pb_varint(struct api_buf *b, uint64_t v);
/* The key of a field: (field << 3) | wire, as a varint. */
void api_pb_tag(struct api_buf *b, uint32_t field, enum api_pb_wire wire);
/* int32, int64, uint64 and enum fields (a negative int64 is its two's complement). */
void api_pb_uint(struct api_buf *b, uint32_t field, uint64_t v);
/* A float field: fixed32, IEEE-754 little-endian whatever the host. */
void api_pb_float(struct api_buf *b, uint32_t field, float v);
/* A bytes or string field: key, varint length, the bytes. */
void api_pb_bytes(struct api_buf *b, uint32_t field, const void *data, size_t n);
void api_pb_string(struct api_buf *b, uint32_t field, const char *s);
/* An embedded message built in sub, appended as a bytes field; sub is
 * emptied (its memory kept). A failed sub fails b. */
void api_pb_message(struct api_buf *b, uint32_t field, struct api_buf *sub);
/* float32 values as little-endian bytes (TensorProto.raw_data's layout). */
void api_pb_floats_le(struct api_buf *b, const float *v, size_t n);

#endif
