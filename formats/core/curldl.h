/*
 * curldl.h: libcurl, loaded the first time a command speaks HTTP.
 *
 * Only the registry client (oci/) and the RFC 3161 timestamp request
 * (trust/tsa.c) use libcurl, yet linking it made every start of
 * ukit-pack and ukit-sign load it and the thirty libraries it depends
 * on: a third of the start-up of `ukit-pack map`.  libukit therefore
 * opens libcurl.so.4 with dlopen() on first use, and calls it through
 * the table below.  The macros keep libcurl's own names at the call
 * sites; include this header instead of <curl/curl.h>.
 */
#ifndef UKIT_CURLDL_H
#define UKIT_CURLDL_H

/* curl_easy_setopt() stays a plain call through the table */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "err.h"

struct ukit_curl_api {
	__typeof__(curl_global_init)      *global_init;
	__typeof__(curl_easy_init)        *easy_init;
	__typeof__(curl_easy_cleanup)     *easy_cleanup;
	__typeof__(curl_easy_reset)       *easy_reset;
	__typeof__(curl_easy_perform)     *easy_perform;
	__typeof__(curl_easy_setopt)      *easy_setopt;
	__typeof__(curl_easy_getinfo)     *easy_getinfo;
	__typeof__(curl_easy_strerror)    *easy_strerror;
	__typeof__(curl_easy_escape)      *easy_escape;
	__typeof__(curl_free)             *free;
	__typeof__(curl_slist_append)     *slist_append;
	__typeof__(curl_slist_free_all)   *slist_free_all;
};

/* Filled by ukit_curl_load(); call nothing below before it succeeded. */
extern struct ukit_curl_api ukit_curl_fn;

/*
 * Load libcurl and run curl_global_init() once per process (thread-safe):
 * 0, or -1 with (e) saying what is missing.
 */
int ukit_curl_load(struct fmt_err *e);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init     (ukit_curl_fn.global_init)
#define curl_easy_init       (ukit_curl_fn.easy_init)
#define curl_easy_cleanup    (ukit_curl_fn.easy_cleanup)
#define curl_easy_reset      (ukit_curl_fn.easy_reset)
#define curl_easy_perform    (ukit_curl_fn.easy_perform)
#define curl_easy_setopt     (ukit_curl_fn.easy_setopt)
#define curl_easy_getinfo    (ukit_curl_fn.easy_getinfo)
#define curl_easy_strerror   (ukit_curl_fn.easy_strerror)
#define curl_easy_escape     (ukit_curl_fn.easy_escape)
#define curl_free            (ukit_curl_fn.free)
#define curl_slist_append    (ukit_curl_fn.slist_append)
#define curl_slist_free_all  (ukit_curl_fn.slist_free_all)

#endif
