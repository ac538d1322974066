#!/bin/bash
# bench/pack-read.sh [DIR] [MIB]: ukit-pack's reading side against qemu-img
# on the same images: compare (qcow2 vs raw) and check, on a MIB MiB
# (default 1024) image of half random data, half compressible text, with
# holes, as plain qcow2, zlib and zstd compressed qcow2, and plain qcow2
# with extended L2 entries (subclusters).  Prints wall time,
# ratio ukit/qemu-img and peak RSS.  Not part of make check; run under
# flock /tmp/ukit-bench.lock.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${UKIT_BIN:-$top/build/bin}
d=${1:-${TMPDIR:-/tmp}/ukit-bench/h4}
mib=${2:-1024}
mkdir -p "$d"
in=$d/in.raw
if [ ! -f "$in" ]; then
	rm -f "$in"
	openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f -iv 0 \
		-nosalt -in /dev/zero 2>/dev/null | head -c $((mib / 2 * 1048576)) |
		dd of="$in" bs=1M conv=notrunc status=none
	yes 'compressible text line for the ukit benchmark 0123456789' |
		head -c $((mib / 4 * 1048576)) |
		dd of="$in" bs=1M seek=$((mib / 2)) conv=notrunc status=none
	truncate -s $((mib * 1048576)) "$in"       # last quarter: a hole
fi
for v in plain zlib zstd extl2; do
	[ -f "$d/$v.qcow2" ] && continue
	case $v in
	plain) o="" ;; zlib) o="-c" ;; zstd) o="-c -o compression_type=zstd" ;;
	extl2) o="-o extended_l2=on" ;;
	esac
	# shellcheck disable=SC2086
	qemu-img convert -W -m 2 -f raw -O qcow2 $o "$in" "$d/$v.qcow2"
done
t() {  # print "seconds maxrss_kib" of CMD
	/usr/bin/time -f '%e %M' -o "$d/.time" "$@" >/dev/null 2>&1 || true
	cat "$d/.time"
}
printf '%-22s %9s %9s %7s %10s %10s\n' case ukit_s qemu_s ratio ukit_MiB qemu_MiB
row() {
	local name=$1 u q
	shift
	u=$(t "$bin/ukit-pack" "$@")
	case $1 in
	compare) q=$(t qemu-img compare -f qcow2 -F raw "${@:2}") ;;
	check) q=$(t qemu-img check "${@:2}") ;;
	esac
	set -- $u $q
	awk -v n="$name" -v u="$1" -v um="$2" -v q="$3" -v qm="$4" 'BEGIN {
		r = q > 0 ? sprintf("%7.2f", u / q) : "    n/a"
		printf "%-22s %9s %9s %s %10d %10d\n", n, u, q, r, um / 1024, qm / 1024
	}'
}
for v in plain zlib zstd extl2; do
	sync
	row "compare $v" compare "$d/$v.qcow2" "$in"
	row "check $v" check "$d/$v.qcow2"
done
