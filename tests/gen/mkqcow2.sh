#!/bin/bash
# mkqcow2.sh DIR: generate test inputs for the qcow2 reader in DIR.
#   DIR/in.raw        ~5 MiB sparse raw: random data, compressible text, a
#                     zero run written as data, holes, an unaligned tail
#   DIR/q-NAME.qcow2  qemu-img convert of in.raw with each variant below
#   DIR/zf.qcow2      v3 image with zero-flag clusters (qemu-io write -z)
#   DIR/sc.qcow2      extended L2 entries with clusters of mixed
#                     subclusters (qemu-io partial writes, write -z,
#                     discard)
# Needs qemu-img (qemu-utils).  Deterministic: random data from a seed.
set -eu
d=$1
mkdir -p "$d"
in=$d/in.raw
rm -f "$in"
# deterministic "random" bytes
rnd() { openssl enc -aes-128-ctr -K 00112233445566778899aabbccddeeff \
	-iv 0 -nosalt -in /dev/zero 2>/dev/null | head -c "$1"; }
# 0..1 MiB: random; 1..2 MiB: text; 2..2.5 MiB: zeros written as data;
# 2.5..3.5 MiB: hole; 3.5..4 MiB random; hole; tail of 777 bytes of text
rnd 1048576 | dd of="$in" bs=64k conv=notrunc status=none
yes 'ukit qcow2 reader test line, compressible text 0123456789' |
	head -c 1048576 | dd of="$in" bs=64k seek=16 conv=notrunc status=none
dd if=/dev/zero of="$in" bs=64k seek=32 count=8 conv=notrunc status=none
rnd 524288 | dd of="$in" bs=64k seek=56 conv=notrunc status=none
yes 'tail' | head -c 777 | dd of="$in" bs=1 seek=$((5 * 1048576 + 3)) \
	conv=notrunc status=none
mk() {  # NAME qemu-img-convert-options...
	local name=$1
	shift
	qemu-img convert -f raw -O qcow2 "$@" "$in" "$d/q-$name.qcow2"
}
mk default
mk zlib -c
mk zstd -c -o compression_type=zstd
mk v2 -o compat=0.10
mk v2zlib -c -o compat=0.10
mk c512 -o cluster_size=512
mk c512zlib -c -o cluster_size=512
mk c2m -o cluster_size=2M
mk c2mzstd -c -o cluster_size=2M,compression_type=zstd
mk lazy -o lazy_refcounts=on
mk extl2 -o extended_l2=on
mk extl2zstd -c -o extended_l2=on,compression_type=zstd
mk extl2c16k -o extended_l2=on,cluster_size=16k
mk extl2c2m -o extended_l2=on,cluster_size=2M
# zero flag: allocated clusters overwritten with write -z, unallocated -z
if command -v qemu-io >/dev/null; then
	cp "$d/q-default.qcow2" "$d/zf.qcow2"
	qemu-io -f qcow2 -c 'write -z 0 128k' -c 'write -z 3m 64k' \
		-c 'write -z -u 64k 64k' "$d/zf.qcow2" >/dev/null
	# 64 KiB clusters of 2 KiB subclusters: writes that cover part of a
	# cluster, zeroed and discarded subclusters in allocated clusters
	cp "$d/q-extl2.qcow2" "$d/sc.qcow2"
	qemu-io -f qcow2 -c 'write -P 0x61 2621440 3k' \
		-c 'write -P 0x62 2700000 10000' -c 'write -z 8k 6k' \
		-c 'discard 1052672 4k' -c 'write -z 2097152 64k' \
		-c 'write -P 0x63 5242880 1k' "$d/sc.qcow2" >/dev/null
fi
