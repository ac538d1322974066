#!/bin/bash
# bench/deflate.sh [IMAGE]: ukit's deflate encoder against zlib -6 (as
# qemu calls it: raw deflate, 4 KiB window) on every non-zero 64 KiB
# cluster of IMAGE, one thread each: CPU time and compressed bytes, and
# every ukit stream inflated back.  IMAGE defaults to bench/pack.sh's ext4
# image ($TMPDIR/ukit-bench/h5/ext4.raw; run bench/pack.sh first, or pass
# any disk image).  Not part of make check.
#
#   flock /tmp/ukit-bench.lock bash bench/deflate.sh /work/benchdata/h5/ext4.raw
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
IMG=${1:-${TMPDIR:-/tmp}/ukit-bench/h5/ext4.raw}
make -s -C "$TOP" build/lib/libukit.a
bin=$(mktemp)
trap 'rm -f "$bin"' EXIT
cc -O2 -iquote "$TOP/formats/core" -iquote "$TOP/formats/disk" -o "$bin" "$TOP/bench/deflate-cmp.c" \
	"$TOP/build/lib/libukit.a" -lz -lpthread
"$bin" "$IMG"
