/*
 * nn_bytes.c — the byte helpers of the serialized state: little-endian
 * integers and the checksum, shared by the model state (nn_model.c) and the
 * training state (nn_train.c). Blobs are little-endian whatever the host.
 */
#include "nn_internal.h"

void nn_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void nn_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t nn_get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

uint64_t nn_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint64_t nn_checksum(const uint8_t *p, size_t len)
{
	/* Each step is a bijection of h for a fixed word, so changing any one
	 * word changes the result. */
	uint64_t h = 0x6a09e667f3bcc909ULL ^ len;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		h = (h ^ nn_get_u64(p + i)) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	uint64_t tail = 0;
	for (size_t j = 0; i + j < len; j++)
		tail |= (uint64_t)p[i + j] << (8 * j);
	h = (h ^ tail) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 32);
}
