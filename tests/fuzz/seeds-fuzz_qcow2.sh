#!/bin/sh
# Seed corpus for fuzz_qcow2 and fuzz_qcow2_read (which reuses this script): small qcow2 images made
# by qemu-img (512 B and 4 KiB clusters, v2/v3, zlib/zstd, lazy refcounts,
# a snapshot, extended L2 entries with mixed subclusters), when qemu-img is
# installed.
set -eu
dir=$1
mkdir -p "$dir"
command -v qemu-img >/dev/null || exit 0
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
{ head -c 3000 /dev/urandom; yes seed | head -c 3000; } >"$t/in"
truncate -s 12k "$t/in"
i=0
for o in cluster_size=512 cluster_size=512,compat=0.10 cluster_size=4096 \
	cluster_size=512,lazy_refcounts=on,refcount_bits=1; do
	i=$((i + 1))
	qemu-img convert -f raw -O qcow2 -o "$o" "$t/in" "$dir/q$i.qcow2"
	qemu-img convert -c -f raw -O qcow2 -o "$o" "$t/in" "$dir/qc$i.qcow2"
done
qemu-img convert -c -f raw -O qcow2 -o cluster_size=512,compression_type=zstd \
	"$t/in" "$dir/qz.qcow2"
qemu-img convert -f raw -O qcow2 -o cluster_size=16k,extended_l2=on \
	"$t/in" "$dir/qx.qcow2"
qemu-img convert -c -f raw -O qcow2 -o cluster_size=16k,extended_l2=on \
	"$t/in" "$dir/qxc.qcow2"
if command -v qemu-io >/dev/null; then
	cp "$dir/qx.qcow2" "$t/x.qcow2"
	qemu-io -c 'write -P 1 1536 1k' -c 'write -z 4k 2k' -c 'write -P 2 20k 512' \
		"$t/x.qcow2" >/dev/null && cp "$t/x.qcow2" "$dir/qxm.qcow2"
fi
cp "$dir/q1.qcow2" "$t/s.qcow2"
qemu-img snapshot -c snap "$t/s.qcow2" && cp "$t/s.qcow2" "$dir/snap.qcow2"
