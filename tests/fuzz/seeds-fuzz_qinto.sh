#!/bin/sh
# Seed corpus for fuzz_qinto: the small qcow2 targets of fuzz_qcow2 (12 KiB
# virtual, 512 B to 16 KiB clusters, v2/v3, compressed, refcount_bits=1,
# extended L2, a snapshot: most refused or written over), plus targets
# with nothing allocated and with data, made by qemu-img at 512 B, 1 KiB
# and 64 KiB clusters, with 16-bit and 64-bit refcounts.
set -eu
dir=$1
sh "$(dirname "$0")/seeds-fuzz_qcow2.sh" "$dir"
command -v qemu-img >/dev/null || exit 0
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
yes target | head -c 8192 >"$t/in"
truncate -s 16k "$t/in"
qemu-img create -q -f qcow2 -o cluster_size=512 "$dir/empty512.qcow2" 12k
qemu-img create -q -f qcow2 -o cluster_size=512,compat=0.10 \
	"$dir/empty512v2.qcow2" 12k
qemu-img create -q -f qcow2 "$dir/empty64k.qcow2" 64k
qemu-img convert -f raw -O qcow2 -o cluster_size=1024,refcount_bits=64 \
	"$t/in" "$dir/data1k64.qcow2"
qemu-img convert -f raw -O qcow2 -o cluster_size=512,refcount_bits=16 \
	"$t/in" "$dir/data512.qcow2"
