/*
 * sha-floor.c: the least a verifier of FILE can do: load libcrypto, read
 * the file and hash it with SHA-256.  bench/verify-latency.sh times it
 * beside the verifiers, so the distance to the floor is visible.  With
 * STATIC_FLOOR it is built as ukit-verify is: static, and not reading
 * openssl.cnf.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

int main(int argc, char **argv)
{
	static unsigned char buf[1 << 18] __attribute__((aligned(4096)));
	unsigned char md[32];
	EVP_MD_CTX *c;
	ssize_t n;
	int fd;

#ifdef STATIC_FLOOR
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
#endif
	c = EVP_MD_CTX_new();
	if (argc != 2 || c == NULL || (fd = open(argv[1], O_RDONLY)) < 0)
		return 1;
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		EVP_DigestUpdate(c, buf, (size_t)n);
	EVP_DigestFinal_ex(c, md, NULL);
	for (int i = 0; i < 32; i++)
		printf("%02x", md[i]);
	putchar('\n');
	return n < 0;
}
