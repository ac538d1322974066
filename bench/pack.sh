#!/bin/bash
# bench/pack.sh [DIR]: ukit-pack against qemu-img on generated inputs, side
# by side and like for like: wall time, ratio ukit/qemu-img, peak RSS.
# Not part of make check.  Inputs are generated into DIR (default
# $TMPDIR/ukit-bench/h5) unless present; delete DIR afterwards.
#
#   flock /tmp/ukit-bench.lock bash bench/pack.sh
#
# Inputs: 1 GiB random; 4 GiB with 10% data (4 MiB random chunks every
# 40 MiB, the rest holes); a 512 MiB ext4 image made with mkfs.ext4 -d
# from the first 400 MiB of regular files under /usr (in path order; or
# EXT4_SRC=DIR); 8 GiB almost empty (about 6 MiB of data).
#
# Convert, raw->qcow2 and qcow2->raw, in two pairings:
#   flush:  ukit's default (fsync, then rename: durable) against
#           qemu-img convert -W -m 16 -t writeback (which flushes too);
#           goal ratio <= 0.55.
#   unsafe: ukit -t unsafe (no flush) against the faster of qemu-img's
#           default (cache unsafe) and -W -m 16; goal ratio <= 0.9.
# Each pairing shows its physical floor, measured in the same run: cp
# --sparse=always of the raw data (plus fsync of the copy, for flush).
# Compressed rows (-c, -c -o compression_type=zstd) compare ukit -t unsafe
# with qemu-img's faster setting.  CASES="convert compress query" picks.
# Query: map --output=json and measure -O qcow2 on the 8 GiB almost empty
# image (raw and qcow2), the mean of QRUNS runs (default 20); goal <= 0.5.
# Each convert command runs RUNS times (default 3); its fastest run counts.
set -eu

D=${1:-${TMPDIR:-/tmp}/ukit-bench/h5}
TOP=$(cd "$(dirname "$0")/.." && pwd)
UKIT=${UKIT_BIN:-$TOP/build/bin}/ukit-pack
EXT4_SRC=${EXT4_SRC:-}
QOPTS="-W -m 16"
RUNS=${RUNS:-3}
QRUNS=${QRUNS:-20}
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

# timed OUT CMD...: run CMD, print "wall_s cpu_s maxrss_kib"; the wall
# time from the clock in ns (time's %e counts in 10 ms steps, too coarse
# for the small inputs), the same for both tools
timed() {
	local out=$1 t0 t1
	shift
	rm -f "$out"
	sync
	t0=$(date +%s%N)
	/usr/bin/time -f '%e %U %S %M' -o "$D/.time" "$@" >/dev/null 2>"$D/.err" || {
		echo "FAILED: $*" >&2
		cat "$D/.err" >&2
		return 1
	}
	t1=$(date +%s%N)
	rm -f "$out"
	awk -v w=$((t1 - t0)) '{ printf "%.4f %.2f %s\n", w / 1e9, $2 + $3, $4 }' "$D/.time"
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

# ratio A B: A / B with two decimals
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }

# floor IN OUT SYNC: cp --sparse=always (and fsync the copy when SYNC=1)
floor_cp() {
	local in=$1 out=$2 s=$3
	rm -f "$out"
	sync
	local t0 t1
	t0=$(date +%s.%N)
	cp --sparse=always "$in" "$out"
	[ "$s" = 1 ] && sync "$out"
	t1=$(date +%s.%N)
	rm -f "$out"
	echo "$t1 - $t0" | bc -l
}

conv_row() {   # conv_row INPUT CASE IN FLOOR-IN UKIT-ARGS -- QEMU-ARGS
	local in=$1 name=$2 src=$3 fin=$4 uargs=() qargs=() uf uu qd qm qw
	shift 4
	while [ "$1" != -- ]; do uargs+=("$1"); shift; done
	shift
	qargs=("$@")
	uf=$(best "$RUNS" "$D/out.u" "$UKIT" convert -q "${uargs[@]}" "$src" "$D/out.u")
	uu=$(best "$RUNS" "$D/out.u" "$UKIT" convert -q -t unsafe "${uargs[@]}" "$src" "$D/out.u")
	qw=$(best "$RUNS" "$D/out.q" qemu-img convert -t writeback $QOPTS "${qargs[@]}" "$src" "$D/out.q")
	qd=$(best "$RUNS" "$D/out.q" qemu-img convert "${qargs[@]}" "$src" "$D/out.q")
	qm=$(best "$RUNS" "$D/out.q" qemu-img convert $QOPTS "${qargs[@]}" "$src" "$D/out.q")
	fs=$(floor_cp "$fin" "$D/out.f" 1)
	fu=$(floor_cp "$fin" "$D/out.f" 0)
	[ "$(echo "${qm%% *} < ${qd%% *}" | bc)" = 1 ] && qd=$qm
	printf '%-9s %-10s flush  ukit %7.3f  qemu-W-m16-wb %7.3f  ratio %5.2f (goal 0.55)  floor %6.3f  MiB %5d/%5d\n' \
		"$in" "$name" "${uf%% *}" "${qw%% *}" "$(ratio "${uf%% *}" "${qw%% *}")" \
		"$fs" $(( $(echo "$uf" | cut -d' ' -f3) / 1024 )) $(( $(echo "$qw" | cut -d' ' -f3) / 1024 ))
	printf '%-9s %-10s unsafe ukit %7.3f  qemu-best     %7.3f  ratio %5.2f (goal 0.90)  floor %6.3f  MiB %5d/%5d\n' \
		"$in" "$name" "${uu%% *}" "${qd%% *}" "$(ratio "${uu%% *}" "${qd%% *}")" \
		"$fu" $(( $(echo "$uu" | cut -d' ' -f3) / 1024 )) $(( $(echo "$qd" | cut -d' ' -f3) / 1024 ))
}

comp_row() {   # comp_row INPUT CASE UKIT-ARGS -- QEMU-ARGS
	local in=$1 name=$2 uargs=() qargs=() u qd qm
	shift 2
	while [ "$1" != -- ]; do uargs+=("$1"); shift; done
	shift
	qargs=("$@")
	u=$(best "$RUNS" "$D/out.u" "$UKIT" convert -q -t unsafe "${uargs[@]}" "$D/out.u")
	qd=$(best "$RUNS" "$D/out.q" qemu-img convert "${qargs[@]}" "$D/out.q")
	qm=$(best "$RUNS" "$D/out.q" qemu-img convert $QOPTS "${qargs[@]}" "$D/out.q")
	[ "$(echo "${qm%% *} < ${qd%% *}" | bc)" = 1 ] && qd=$qm
	printf '%-9s %-10s unsafe ukit %7.2f  qemu-best     %7.2f  ratio %5.2f  cpu %6.2f/%6.2f\n' \
		"$in" "$name" "${u%% *}" "${qd%% *}" "$(ratio "${u%% *}" "${qd%% *}")" \
		"$(echo "$u" | cut -d' ' -f2)" "$(echo "$qd" | cut -d' ' -f2)"
}

# mean_s N CMD...: mean wall seconds of N runs of CMD (output discarded)
mean_s() {
	local n=$1 t0 t1
	shift
	t0=$(date +%s%N)
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; return 1; }; done
	t1=$(date +%s%N)
	echo "scale=4; ($t1 - $t0) / $n / 1000000000" | bc -l
}

query_rows() {
	local raw=$D/empty8g.raw q=$D/empty8g.qcow2 f u m
	qemu-img convert $QOPTS -O qcow2 "$raw" "$q"
	for f in "$raw" "$q"; do
		u=$(mean_s "$QRUNS" "$UKIT" map --output=json "$f")
		m=$(mean_s "$QRUNS" qemu-img map --output=json "$f")
		printf '%-14s map --output=json   ukit %8.4f s  qemu-img %8.4f s  ratio %5.2f (goal 0.5)\n' \
			"$(basename "$f")" "$u" "$m" "$(ratio "$u" "$m")"
		u=$(mean_s "$QRUNS" "$UKIT" measure --output=json -O qcow2 "$f")
		m=$(mean_s "$QRUNS" qemu-img measure --output=json -O qcow2 "$f")
		printf '%-14s measure -O qcow2    ukit %8.4f s  qemu-img %8.4f s  ratio %5.2f (goal 0.5)\n' \
			"$(basename "$f")" "$u" "$m" "$(ratio "$u" "$m")"
	done
	rm -f "$q"
}

gen
# a copy of the binary: a rebuild during the run does not change it
cp "$UKIT" "$D/.ukit-pack"
UKIT=$D/.ukit-pack
echo "# $(nproc) CPUs; $(qemu-img --version | head -1); $("$UKIT" --version)"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg); best of $RUNS runs"
echo "# seconds of wall time; MiB: peak RSS ukit/qemu-img"
CASES=${CASES:-convert compress query}
for name in ${INPUTS:-random sparse4g ext4 empty8g}; do
	in=$D/$name.raw
	case " $CASES " in *" convert "*|*" compress "*)
		qemu-img convert $QOPTS -O qcow2 "$in" "$D/$name.qcow2" ;;
	esac
	case " $CASES " in *" convert "*)
		conv_row "$name" raw-qcow2 "$in" "$in" -O qcow2 -- -O qcow2
		conv_row "$name" qcow2-raw "$D/$name.qcow2" "$in" -O raw -- -O raw
		;;
	esac
	case " $CASES " in *" compress "*)
		comp_row "$name" zlib -O qcow2 -c "$in" -- -O qcow2 -c "$in"
		comp_row "$name" zstd -O qcow2 -c -o compression_type=zstd "$in" -- \
			-O qcow2 -c -o compression_type=zstd "$in"
		;;
	esac
	rm -f "$D/$name.qcow2"
done
case " $CASES " in *" query "*) query_rows ;; esac
