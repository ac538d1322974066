#!/bin/sh
# Seed corpus for fuzz_tender: linked hvt-layout kernels (tests/gen/mkhvt.sh)
# whole, cut off in the section header table and with a damaged one.
set -eu
dir=$1
mkdir -p "$dir"
gen="$(dirname "$0")/../gen"
d="$(dirname "$0")/../../../shared/data/solo5"
PY=${PY:-/usr/bin/python3}
bash "$gen/mkhvt.sh" -a x86_64 -m "$d/m03-net-block/note.hex" "$dir/seed-hvt-x86_64"
bash "$gen/mkhvt.sh" -a aarch64 -t 2 "$dir/seed-spt-aarch64"
bash "$gen/mkelf.sh" -a ppc64le -m "$d/m01-net/note.hex" "$dir/seed-ppc64le"
size=$(wc -c <"$dir/seed-hvt-x86_64")
"$PY" "$gen/elfmut.py" "$dir/seed-hvt-x86_64" "$dir/seed-cut" truncate $((size - 100))
"$PY" "$gen/elfmut.py" "$dir/seed-hvt-x86_64" "$dir/seed-shentsize" ehdr shentsize 32
