/*
 * hash.c — SHA-256 via OpenSSL's EVP interface (see hash.h).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "server/hash.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "weights are hashed as little-endian float32");

struct hash *hash_begin(void)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	return (struct hash *)ctx;
}

void hash_update(struct hash *h, const void *data, size_t len)
{
	if (h && len)
		EVP_DigestUpdate((EVP_MD_CTX *)h, data, len);
}

void hash_final(struct hash *h, unsigned char out[32])
{
	unsigned int n = 0;

	memset(out, 0, 32);
	if (!h)
		return;
	EVP_DigestFinal_ex((EVP_MD_CTX *)h, out, &n);
	EVP_MD_CTX_free((EVP_MD_CTX *)h);
}

void hash_sha256(const void *data, size_t len, unsigned char out[32])
{
	struct hash *h = hash_begin();

	hash_update(h, data, len);
	hash_final(h, out);
}

void hash_floats_hex(const float *v, size_t n, char out[65])
{
	unsigned char digest[32];

	hash_sha256(v, n * sizeof *v, digest);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}
