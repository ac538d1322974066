#!/bin/sh
# seeds-fuzz_binelf.sh CORPUSDIR: small static ELFs for fuzz_binelf.
set -eu
d=$1
mkdir -p "$d"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
printf 'int d = 1; char b[64]; const char r[] = "ro";\nvoid _start(void) { b[d] = r[0]; for (;;); }\n' >"$t/k.c"
for cc in gcc aarch64-linux-gnu-gcc powerpc64le-linux-gnu-gcc; do
	command -v "$cc" >/dev/null || continue
	"$cc" -Os -nostdlib -static -ffreestanding -Wl,--build-id=none \
		-Wl,-Ttext=0x10000 -o "$d/seed-$cc" "$t/k.c" 2>/dev/null || true
	[ -f "$d/seed-$cc" ] && strip -s "$d/seed-$cc" 2>/dev/null || true
done
