/*
 * regtls.c: the client's TLS: libcurl's options from --tls-verify,
 * --ca-file and --cert-dir (CA certificates, a client certificate and
 * key, loaded as containers/image reads the directory), and the words for
 * a handshake the registry ended (see registry.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "curldl.h"
#include "io.h"
#include "registry_int.h"

void ukit_oci_reg_set_tls(struct reg *r)
{
	CURL *c = r->c;

	if (r->o->tls_verify == 0) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (r->ca_pem != NULL) {
		struct curl_blob b = { r->ca_pem, r->ca_len, CURL_BLOB_COPY };
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b);
	} else if (r->o->ca_file != NULL) {
		curl_easy_setopt(c, CURLOPT_CAINFO, r->o->ca_file);
	}
	if (r->client_cert != NULL) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, r->client_cert);
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(c, CURLOPT_SSLKEY, r->client_key);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	}
}

/*
 * libcurl's trace of the TLS handshake (GET /v2/ only), read for one
 * thing: whether the registry sent a CertificateRequest.  Under TLS 1.3 a
 * registry that refuses the client certificate (or its absence) says so
 * after the client has finished, often as a reset rather than an alert, so
 * the request is the reliable sign that a refusal was about certificates.
 */
int ukit_oci_reg_on_debug(CURL *c, curl_infotype type, char *p, size_t n,
			  void *ctx)
{
	struct reg *r = ctx;

	(void)c;
	if (type == CURLINFO_TEXT && n >= 12 && memmem(p, n, "Request CERT", 12))
		r->cert_requested = true;
	return 0;
}

/* What to do about a TLS failure (rc), for its message. */
const char *ukit_oci_reg_tls_hint(CURLcode rc)
{
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		return " (--cert-dir DIR or --ca-file F names a private CA)";
	if (rc == CURLE_SSL_CERTPROBLEM)
		return " (the client certificate or key in --cert-dir)";
	return "";
}

/*
 * The TLS alert the registry sent when it refused our client certificate
 * (or the lack of one), from libcurl's message: "bad certificate",
 * "certificate required", ...; NULL for other failures.  (buf) holds it.
 */
const char *ukit_oci_reg_client_alert(const struct reg *r, char *buf,
				      size_t size)
{
	static const char *const alerts[] = {
		"certificate required", "bad certificate", "unknown ca",
		"certificate unknown", "handshake failure",
		"unsupported certificate", "access denied",
	};
	const char *a = strstr(r->curl_msg, "alert ");

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof alerts / sizeof alerts[0]; i++)
		if (strncmp(a + 6, alerts[i], strlen(alerts[i])) == 0) {
			snprintf(buf, size, "alert \"%s\"", alerts[i]);
			return buf;
		}
	return NULL;
}

/* (dir)/(name) with its suffix (sfx) replaced by (nsfx), malloc'd */
static char *sibling(const char *dir, const char *name, size_t sfx,
		     const char *nsfx)
{
	size_t n = strlen(dir) + strlen(name) + strlen(nsfx) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%.*s%s", dir, (int)(strlen(name) - sfx), name,
			 nsfx);
	return p;
}

static bool is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Append the CA file (path) to r->ca_pem. */
static int add_ca_file(struct reg *r, const char *path, struct fmt_err *e)
{
	struct stat st;
	char *nb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot read --cert-dir CA "
			       "certificate", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > OCI_CERTFILE_MAX) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "%s: not a regular file of at "
				     "most %u bytes", path, OCI_CERTFILE_MAX);
	}
	nb = realloc(r->ca_pem, r->ca_len + (size_t)st.st_size + 2);
	if (nb == NULL) {
		close(fd);
		return ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
	}
	r->ca_pem = nb;
	if (ukit_pread_full(fd, nb + r->ca_len, (size_t)st.st_size, 0) !=
	    st.st_size) {
		ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot read", path);
		close(fd);
		return -1;
	}
	close(fd);
	r->ca_len += (size_t)st.st_size;
	r->ca_pem[r->ca_len++] = '\n';
	r->ca_pem[r->ca_len] = 0;
	return 0;
}

/*
 * --cert-dir DIR as containers/image reads it: every *.crt is a CA
 * certificate; NAME.cert with NAME.key is the client certificate and key
 * for mutual TLS (one pair: libcurl presents one).  A .cert without its
 * .key, or a .key without its .cert, is an error, as in skopeo.
 */
int ukit_oci_reg_load_cert_dir(struct reg *r, struct fmt_err *e)
{
	const char *dir = r->o->cert_dir;
	struct dirent **ents = NULL;
	int n, rc = 0;

	if (dir == NULL)
		return 0;
	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return ukit_fmt_errno(e, FMT_NOOFF, "%s: cannot read --cert-dir",
				      dir);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		size_t l = strlen(name);
		char *path = NULL, *other = NULL;

		if (rc < 0 || name[0] == '.')
			goto next;
		if (l > 4 && strcmp(name + l - 4, ".crt") == 0) {
			path = sibling(dir, name, 0, "");
			rc = path ? add_ca_file(r, path, e) :
			     ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
		} else if (l > 5 && strcmp(name + l - 5, ".cert") == 0) {
			path = sibling(dir, name, 0, "");
			other = sibling(dir, name, 5, ".key");
			if (path == NULL || other == NULL)
				rc = ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
			else if (!is_file(other))
				rc = ukit_fmt_errf(e, FMT_NOOFF, "%s: client "
					"certificate without its key %s (CA "
					"certificates end in .crt)", path, other);
			else if (r->client_cert != NULL)
				rc = ukit_fmt_errf(e, FMT_NOOFF, "%s: a second "
					"client certificate in --cert-dir (after "
					"%s); only one is presented", path,
					r->client_cert);
			else {
				r->client_cert = path;
				r->client_key = other;
				path = other = NULL;
			}
		} else if (l > 4 && strcmp(name + l - 4, ".key") == 0) {
			path = sibling(dir, name, 0, "");
			other = sibling(dir, name, 4, ".cert");
			if (path == NULL || other == NULL)
				rc = ukit_fmt_errf(e, FMT_NOOFF, "out of memory");
			else if (!is_file(other))
				rc = ukit_fmt_errf(e, FMT_NOOFF, "%s: key without "
					"its client certificate %s", path, other);
		}
next:
		free(path);
		free(other);
		free(ents[i]);
	}
	free(ents);
	return rc;
}
