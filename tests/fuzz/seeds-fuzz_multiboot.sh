#!/bin/sh
# seeds-fuzz_multiboot.sh CORPUSDIR: the Multiboot test kernels (1, 2,
# a.out kludge; an empty PT_LOAD inside another; ELF32 and ELF64) and one
# without a header.
set -eu
d=$1
mkdir -p "$d"
g=$(dirname "$0")/../gen
for k in mb1 mb2 aout emptyload none; do
	sh "$g/mkmbkernel.sh" "$d/seed-$k" "$k" 2>/dev/null || continue
	objcopy -O elf64-x86-64 "$d/seed-$k" "$d/seed-$k-64" 2>/dev/null || true
done
