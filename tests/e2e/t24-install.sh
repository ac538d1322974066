#!/bin/bash
# t24-install: make install puts every tool, every man page (ukit(7)
# included), every JSON schema and a bash completion per tool in place;
# install-compat adds solo5-elftool; the completion offers each tool's
# commands, options and fixed option values, read from --help.
. "$(dirname "$0")/lib.sh"
BUILD=${UKIT_BIN%/bin}
I=$T/inst
if make -C "$TOP" -s install install-compat BUILD="$BUILD" DESTDIR="$I" PREFIX=/usr \
	>"$T/make.out" 2>&1; then
	ok "make install install-compat"
else
	not_ok "make install: $(tail -n 5 "$T/make.out")"
fi
for t in ukit-elftool ukit-pack ukit-sign; do
	check "$t installed" test -x "$I/usr/bin/$t"
	check "$t(1) installed" test -f "$I/usr/share/man/man1/$t.1"
	check "$t completion installed" test -f "$I/usr/share/bash-completion/completions/$t"
done
check "ukit(7) installed" test -f "$I/usr/share/man/man7/ukit.7"
check "solo5-elftool links to ukit-elftool" test "$(readlink "$I/usr/bin/solo5-elftool")" = ukit-elftool
check "solo5-elftool completion installed" test -f "$I/usr/share/bash-completion/completions/solo5-elftool"
n=0
for s in "$TOP"/schemas/*.schema.json; do
	cmp -s "$s" "$I/usr/share/ukit/schemas/$(basename "$s")" && n=$((n + 1))
done
check "every schema installed in share/ukit/schemas ($n)" \
	test "$n" -eq "$(ls "$TOP"/schemas/*.schema.json | wc -l)" -a "$n" -gt 0

# complete WORDS...: what the installed completion offers for the last word
complete_words() {
	PATH=$I/usr/bin:$PATH bash -c '
. "$1/usr/share/bash-completion/completions/ukit-pack"
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
_ukit
printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' sh "$I" "$@"
}
got=$(complete_words ukit-pack "")
for w in info convert check compare --help --version; do
	case " $got " in *" $w "*) ok "ukit-pack <TAB> offers $w" ;;
	*) not_ok "ukit-pack <TAB> does not offer $w: $got" ;; esac
done
# every long option of convert that starts with --c (its --help lists them)
check "ukit-pack convert --c<TAB>: --cache --cluster-size --compat --compress" \
	test "$(complete_words ukit-pack convert --c)" = "--cache --cluster-size --compat --compress "
check "ukit-elftool gen-manifest --format <TAB>: c note object" \
	test "$(complete_words ukit-elftool gen-manifest --format "")" = "c note object "
check "ukit-sign help ver<TAB>: verify verity" \
	test "$(complete_words ukit-sign help ver)" = "verify verity "
check "ukit-sign verify --<TAB> offers --pub and --exec" \
	sh -c 'case "$1" in *--pub*--exec*|*--exec*--pub*) exit 0 ;; *) exit 1 ;; esac' sh \
	"$(complete_words ukit-sign verify --)"
mkdir -p "$T/d" && : >"$T/d/disk.raw"
check "ukit-pack info FILE<TAB>: file names" \
	test "$(complete_words ukit-pack info "$T/d/di")" = "$T/d/disk.raw "
check "solo5-elftool <TAB>: its commands" sh -c \
	'case "$1" in *query-manifest*) exit 0 ;; *) exit 1 ;; esac' sh \
	"$(complete_words solo5-elftool "")"
done_testing
