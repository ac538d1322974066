#!/bin/sh
# mksignelf.sh OUT [SIZE]: a small static x86_64 ELF (about SIZE bytes,
# default 8192) for signing tests, built with gcc -nostdlib.  Uses
# tests/gen/mkelf.sh (Solo5 notes) when it exists.
set -eu
out=$1 size=${2:-8192}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mksignelf.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/k.c" <<'C'
static const char pad[PADSZ] = { 1 };
void _start(void)
{
	volatile const char *p = pad;
	for (;;)
		(void)p[0];
}
C
pad=$((size > 2048 ? size - 2048 : 16))
gcc -O1 -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,noseparate-code -DPADSZ=$pad \
	-o "$out" "$tmp/k.c"
