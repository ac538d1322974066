/*
 * ukit_stmt_build.c: building the in-toto statement that sign signs (see\n * statement.h); parsing and checking one is statement.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "manifest.h"
#include "sig.h"
#include "sigjson.h"
#include "statement.h"

json_t *ukit_stmt_predicate(const struct stmt_info *info, struct fmt_err *e)
{
	char created[21];
	json_t *p = json_object();
	int bad = p == NULL;

	ukit_stmt_time_format(info->created, created);
	if (!bad) {
		bad |= json_object_set_new(p, "format", json_string(info->format));
		bad |= json_object_set_new(p, "size",
					   json_integer((json_int_t)info->size));
		bad |= json_object_set_new(p, "rollback",
					   json_integer((json_int_t)info->rollback));
		bad |= json_object_set_new(p, "created", json_string(created));
	}
	if (!bad && info->solo5 != NULL)
		bad |= json_object_set_new(p, "solo5",
					   json_deep_copy(info->solo5));
	if (!bad && info->verity != NULL)
		bad |= json_object_set_new(p, "verity",
					   json_deep_copy(info->verity));
	if (!bad)
		bad |= json_object_set_new(p, "annotations", info->annotations ?
					   json_deep_copy(info->annotations) :
					   json_object());
	if (bad) {
		json_decref(p);
		ukit_fmt_errf(e, FMT_NOOFF, "cannot build statement predicate");
		return NULL;
	}
	return p;
}

int ukit_stmt_build(const struct stmt_info *info, char **out, size_t *len,
	       struct fmt_err *e)
{
	char hex[65];
	json_t *st, *subj, *dig, *pred;
	char *s;

	pred = ukit_stmt_predicate(info, e);
	if (pred == NULL)
		return -1;
	ukit_sig_hex(info->sha256, 32, hex);
	dig = json_pack("{s:s}", "sha256", hex);
	subj = json_pack("[{s:s, s:o}]", "name", info->name, "digest", dig);
	st = json_pack("{s:s, s:o, s:s, s:o}", "_type", STMT_TYPE,
		       "subject", subj, "predicateType", STMT_PREDICATE_TYPE,
		       "predicate", pred);
	if (st == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "cannot build statement");
	s = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(st);
	if (s == NULL)
		return ukit_fmt_errf(e, FMT_NOOFF, "cannot serialise statement");
	*out = s;
	*len = strlen(s);
	return 0;
}
