#!/bin/bash
# bench/pack.sh [DIR]: ukit-pack convert against qemu-img convert on
# generated inputs, side by side: wall time, ratio ukit/qemu-img, peak RSS
# of each.  Not part of make check.  Inputs are generated into DIR
# (default $TMPDIR/ukit-bench/h5) unless present; delete DIR afterwards.
#
#   flock /tmp/ukit-bench.lock bash bench/pack.sh /work/benchdata/h5
#
# Inputs: 1 GiB random; 4 GiB with 10% data (4 MiB random chunks every
# 40 MiB, the rest holes); a 512 MiB ext4 image made with mkfs.ext4 -d
# from the first 400 MiB of regular files under /usr (in path order; or
# EXT4_SRC=DIR); 8 GiB almost empty (about 6 MiB of data).  Cases per
# input: raw->qcow2, -c zlib (level 6, qemu's default), -c zstd,
# qcow2->raw.
# qemu-img runs both with its defaults and with -W -m 16 (out-of-order
# writes, 16 coroutines); the ratio is against the faster of the two,
# its fastest settings for that case.  Each command runs RUNS times
# (default 3) and its fastest run counts.
# Notes: ukit fsyncs its output before renaming it into place (atomic
# output); qemu-img convert's default cache mode is "unsafe" (no flush),
# so qemu-img -W -m 16 -t writeback (which flushes) is shown as well.
set -eu

D=${1:-${TMPDIR:-/tmp}/ukit-bench/h5}
TOP=$(cd "$(dirname "$0")/.." && pwd)
UKIT=${UKIT_BIN:-$TOP/build/bin}/ukit-pack
EXT4_SRC=${EXT4_SRC:-}
QOPTS="-W -m 16"
RUNS=${RUNS:-3}
# INPUTS="ext4 ..." runs a subset
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
		local src=$EXT4_SRC
		if [ -z "$src" ]; then
			src=$D/usr-tree
			rm -rf "$src"
			mkdir -p "$src"
			find /usr -xdev -type f -readable -printf '%s %p\n' |
				sort -k2 |
				awk '{ s += $1; if (s > 400 * 1048576) exit; print $2 }' |
				tar -cf - --no-recursion -T - 2>/dev/null |
				tar -xf - -C "$src"
		fi
		truncate -s 512M "$f"
		mkfs.ext4 -q -F -d "$src" "$f"
		[ -n "$EXT4_SRC" ] || rm -rf "$src"
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

# timed OUT CMD...: run CMD, print "wall_s cpu_s maxrss_kib"
timed() {
	local out=$1
	shift
	rm -f "$out"
	sync
	/usr/bin/time -f '%e %U %S %M' -o "$D/.time" "$@" >/dev/null 2>"$D/.err" || {
		echo "FAILED: $*" >&2
		cat "$D/.err" >&2
		return 1
	}
	rm -f "$out"
	awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$D/.time"
}

# best RUNS CMD...: the run with the lowest wall time of RUNS
best() {
	local runs=$1 r b=""
	shift
	for _ in $(seq "$runs"); do
		r=$(timed "$@")
		if [ -z "$b" ] || [ "$(echo "${r%% *} < ${b%% *}" | bc)" = 1 ]; then
			b=$r
		fi
	done
	echo "$b"
}

row() {   # row INPUT CASE UKIT-ARGS -- QEMU-ARGS
	local in=$1 name=$2 uargs=() qargs=() u q w
	shift 2
	while [ "$1" != -- ]; do uargs+=("$1"); shift; done
	shift
	qargs=("$@")
	u=$(best "$RUNS" "$D/out.u" "$UKIT" convert -q "${uargs[@]}" "$D/out.u")
	d=$(best "$RUNS" "$D/out.q" qemu-img convert "${qargs[@]}" "$D/out.q")
	q=$(best "$RUNS" "$D/out.q" qemu-img convert $QOPTS "${qargs[@]}" "$D/out.q")
	w=$(timed "$D/out.q" qemu-img convert -t writeback $QOPTS "${qargs[@]}" "$D/out.q")
	# the faster qemu-img setting is the one to beat
	if [ "$(echo "${d%% *} < ${q%% *}" | bc)" = 1 ]; then
		q=$d
	fi
	set -- $u $q $w $d
	printf '%-9s %-10s %7.2f %7.2f %7.2f %6.2f %8.2f %6.2f %7.2f %7.2f %6d %6d\n' \
		"$in" "$name" "$1" "${10}" "$4" "$(echo "$1 / $4" | bc -l)" "$7" \
		"$(echo "$1 / $7" | bc -l)" "$2" "$5" $(($3 / 1024)) $(($6 / 1024))
}

gen
echo "# $(nproc) CPUs; $(qemu-img --version | head -1); $("$UKIT" --version)"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg); best of $RUNS runs"
echo "# ukit_s: wall time; qemu_def: qemu-img with its defaults; qemu_s: the"
echo "# faster of that and -W -m 16; ratio: ukit_s/qemu_s; qemu_wb: -W -m 16"
echo "# -t writeback (flushes like ukit's fsync); *_cpu: user+sys seconds of"
echo "# the runs in ukit_s and qemu_s; *_MiB: their peak RSS"
printf '%-9s %-10s %7s %7s %7s %6s %8s %6s %7s %7s %6s %6s\n' input case \
	ukit_s qemu_def qemu_s ratio qemu_wb r_wb ukit_cpu qemu_cpu u_MiB q_MiB
for name in ${INPUTS:-random sparse4g ext4 empty8g}; do
	in=$D/$name.raw
	qemu-img convert $QOPTS -O qcow2 "$in" "$D/$name.qcow2"
	row "$name" raw-qcow2 -O qcow2 "$in" -- -O qcow2 "$in"
	row "$name" zlib -O qcow2 -c zlib "$in" -- -O qcow2 -c "$in"
	row "$name" zstd -O qcow2 -c zstd "$in" -- \
		-O qcow2 -c -o compression_type=zstd "$in"
	row "$name" qcow2-raw -O raw "$D/$name.qcow2" -- -O raw "$D/$name.qcow2"
	rm -f "$D/$name.qcow2"
done
