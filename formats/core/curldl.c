/*
 * curldl.c: libcurl opened on first use (curldl.h says why).
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>

#include "curldl.h"

struct ukit_curl_api ukit_curl_fn;

/* the soname of libcurl 7.x and 8.x, the one Debian's libcurl4 ships */
#define CURL_SONAME "libcurl.so.4"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char why[256];           /* empty: loaded */

static void load(void)
{
	static const struct { const char *name; size_t at; } syms[] = {
#define SYM(f, n) { n, offsetof(struct ukit_curl_api, f) }
		SYM(global_init, "curl_global_init"),
		SYM(easy_init, "curl_easy_init"),
		SYM(easy_cleanup, "curl_easy_cleanup"),
		SYM(easy_reset, "curl_easy_reset"),
		SYM(easy_perform, "curl_easy_perform"),
		SYM(easy_setopt, "curl_easy_setopt"),
		SYM(easy_getinfo, "curl_easy_getinfo"),
		SYM(easy_strerror, "curl_easy_strerror"),
		SYM(easy_escape, "curl_easy_escape"),
		SYM(free, "curl_free"),
		SYM(slist_append, "curl_slist_append"),
		SYM(slist_free_all, "curl_slist_free_all"),
#undef SYM
	};
	struct ukit_curl_api api;
	void *h = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (h == NULL) {
		snprintf(why, sizeof why, "cannot load %s (Debian: apt-get "
			 "install libcurl4): %s", CURL_SONAME, dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		void *p = dlsym(h, syms[i].name);

		if (p == NULL) {
			snprintf(why, sizeof why, "%s has no %s", CURL_SONAME,
				 syms[i].name);
			return;
		}
		/* POSIX: a function's address travels through void * */
		memcpy((char *)&api + syms[i].at, &p, sizeof p);
	}
	if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(why, sizeof why, "%s: curl_global_init failed",
			 CURL_SONAME);
		return;
	}
	ukit_curl_fn = api;
}

int ukit_curl_load(struct fmt_err *e)
{
	pthread_once(&once, load);
	if (why[0] != '\0')
		return ukit_fmt_errf(e, FMT_NOOFF, "%s", why);
	return 0;
}
