#!/bin/bash
# bench/pack.sh [DIR]: ukit-pack convert against qemu-img convert (its
# fastest settings: -W out-of-order writes, -m 16 coroutines) on generated
# inputs, side by side: wall time, ratio ukit/qemu-img, peak RSS of each.
# Not part of make check.  Inputs are generated into DIR (default
# /work/benchdata/h5) unless present; delete DIR afterwards.
#
#   flock /tmp/ukit-bench.lock bash bench/pack.sh /work/benchdata/h5
#
# Inputs: 1 GiB random; 4 GiB with 10% data (4 MiB random chunks every
# 40 MiB, the rest holes); a 512 MiB ext4 image (mkfs.ext4 -d of a source
# tree); 8 GiB almost empty (about 6 MiB of data).  Cases per input:
# raw->qcow2, -c zlib (level 6, qemu's default), -c zstd, qcow2->raw.
# Notes: ukit fsyncs its output before renaming it into place (atomic
# output); qemu-img convert's default cache mode is "unsafe" (no flush).
set -eu

D=${1:-/work/benchdata/h5}
TOP=$(cd "$(dirname "$0")/.." && pwd)
UKIT=${UKIT_BIN:-$TOP/build/bin}/ukit-pack
EXT4_SRC=${EXT4_SRC:-/usr/share/fpcsrc}
QOPTS="-W -m 16"
mkdir -p "$D"

gen() {
	local f=$D/random.raw
	[ -s "$f" ] || head -c 1G /dev/urandom >"$f"
	f=$D/sparse4g.raw
	if [ ! -s "$f" ]; then
		truncate -s 4G "$f"
		for i in $(seq 0 101); do
			head -c 4M /dev/urandom |
				dd of="$f" bs=4M seek=$((i * 10)) conv=notrunc status=none
		done
	fi
	f=$D/ext4.raw
	if [ ! -s "$f" ]; then
		truncate -s 512M "$f"
		mkfs.ext4 -q -F -d "$EXT4_SRC" "$f"
	fi
	f=$D/empty8g.raw
	if [ ! -s "$f" ]; then
		truncate -s 8G "$f"
		for i in $(seq 0 23); do
			head -c 256K /dev/urandom |
				dd of="$f" bs=256K seek=$((i * 1337 + 7)) conv=notrunc status=none
		done
	fi
}

# timed OUT CMD...: run CMD, print "seconds maxrss_kib"
timed() {
	local out=$1
	shift
	rm -f "$out"
	sync
	/usr/bin/time -f '%e %M' -o "$D/.time" "$@" >/dev/null 2>"$D/.err" || {
		echo "FAILED: $*" >&2
		cat "$D/.err" >&2
		return 1
	}
	cat "$D/.time"
}

row() {   # row INPUT CASE UKIT-ARGS -- QEMU-ARGS
	local in=$1 name=$2 uargs=() qargs=() u q
	shift 2
	while [ "$1" != -- ]; do uargs+=("$1"); shift; done
	shift
	qargs=("$@")
	u=$(timed "$D/out.u" "$UKIT" convert -q "${uargs[@]}" "$D/out.u")
	rm -f "$D/out.u"
	q=$(timed "$D/out.q" qemu-img convert $QOPTS "${qargs[@]}" "$D/out.q")
	rm -f "$D/out.q"
	set -- $u $q
	printf '%-10s %-12s %8.2f %8.2f %7.2f %10d %10d\n' "$in" "$name" \
		"$1" "$3" "$(echo "$1 / $3" | bc -l)" $(($2 / 1024)) $(($4 / 1024))
}

gen
echo "# $(nproc) CPUs; $(qemu-img --version | head -1); ukit $("$UKIT" --version)"
printf '%-10s %-12s %8s %8s %7s %10s %10s\n' input case ukit_s qemu_s ratio \
	ukit_MiB qemu_MiB
for name in random sparse4g ext4 empty8g; do
	in=$D/$name.raw
	qemu-img convert $QOPTS -O qcow2 "$in" "$D/$name.qcow2"
	row "$name" raw-qcow2 -O qcow2 "$in" -- -O qcow2 "$in"
	row "$name" zlib -O qcow2 -c zlib "$in" -- -O qcow2 -c "$in"
	row "$name" zstd -O qcow2 -c zstd "$in" -- \
		-O qcow2 -c -o compression_type=zstd "$in"
	row "$name" qcow2-raw -O raw "$D/$name.qcow2" -- -O raw "$D/$name.qcow2"
	rm -f "$D/$name.qcow2"
done
