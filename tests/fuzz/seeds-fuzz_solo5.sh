#!/bin/sh
# Seed corpus for fuzz_solo5: small Solo5-style ELFs from tests/gen/mkelf.sh
# (four architectures, build-id, GNU property, extra notes, no sections).
set -eu
dir=$1
mkdir -p "$dir"
gen="$(dirname "$0")/../gen/mkelf.sh"
d="$(dirname "$0")/../../../shared/data/solo5"
bash "$gen" -a x86_64 -b -g -m "$d/m03-net-block/note.hex" "$dir/seed-x86_64"
bash "$gen" -a aarch64 -b -g -S -e 1 "$dir/seed-aarch64-nosections"
bash "$gen" -a ppc64 -m "$d/m01-net/note.hex" "$dir/seed-ppc64be"
bash "$gen" -a ppc64le -t 6 -v 1 "$dir/seed-ppc64le"
bash "$gen" -a i386 -b "$dir/seed-i386"
