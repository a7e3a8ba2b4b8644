/*
 * hash.h — SHA-256 through OpenSSL's libcrypto: Idempotency-Key request
 * fingerprints and the weights_sha256 of finished jobs.
 */
#ifndef FITD_HASH_H
#define FITD_HASH_H

#include <stddef.h>
#include <stdint.h>

struct hash;

/* Incremental: returns a new context or NULL; hash_final frees it. */
struct hash *hash_begin(void);
void hash_update(struct hash *h, const void *data, size_t len);
/* Writes the digest and frees h (NULL h: out is zeroed). */
void hash_final(struct hash *h, unsigned char out[32]);

void hash_sha256(const void *data, size_t len, unsigned char out[32]);
/* SHA-256 of n float32 values as little-endian bytes, as lowercase hex. */
void hash_floats_hex(const float *v, size_t n, char out[65]);

#endif
