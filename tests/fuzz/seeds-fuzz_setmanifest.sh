#!/bin/sh
# Seed corpus for fuzz_setmanifest: small Solo5-style unikernels (both
# layouts, several targets and manifests, a big-endian one).
set -eu
dir=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
d=$top/../shared/data/solo5
mkdir -p "$dir"
g=$top/tests/gen
bash "$g/mkelf.sh" -m "$d/m01-net/note.hex" "$dir/hvt-m01.elf"
bash "$g/mkelf.sh" -m "$d/m03-net-block/note.hex" -t 3 -v 1 "$dir/virtio-m03.elf"
bash "$g/mkelf.sh" -M -t 2 "$dir/spt-nomft.elf"
bash "$g/mkelf.sh" -a ppc64 -m "$d/m00-empty/note.hex" -S "$dir/be-m00.elf"
bash "$g/mkelf.sh" -e 1 -b -m "$d/m00-empty/note.hex" "$dir/hvt-empty-bid.elf"
bash "$g/mkhvt.sh" -m "$d/m00-empty/note.hex" "$dir/hvt-gap.elf"
