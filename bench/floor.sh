#!/bin/bash
# bench/floor.sh [DIR] [RUNS]: what a durable copy of 1 GiB costs on this
# machine, next to ukit-pack and qemu-img copying the same bytes.  ukit
# fsyncs its output before renaming it into place (DESIGN.md: atomic
# output); qemu-img convert's default cache mode does not flush.  The
# floor for a durable copy is the time the disk takes to take 1 GiB:
# "flush only" times fdatasync (sync -d) of 1 GiB that dd has just put in
# the page cache.  The copies run interleaved (bench/repeat.sh), RUNS
# times each (default 9).  Not part of make check.
#
#   flock /tmp/ukit-bench.lock bash bench/floor.sh /work/benchdata/f
set -eu
D=${1:-${TMPDIR:-/tmp}/ukit-bench/floor}
RUNS=${2:-9}
TOP=$(cd "$(dirname "$0")/.." && pwd)
UKIT=${UKIT_BIN:-$TOP/build/bin}/ukit-pack
mkdir -p "$D"
IN=$D/random.raw
[ -s "$IN" ] || head -c 1G /dev/urandom >"$IN"
cat "$IN" >/dev/null
OUT=$D/out
echo "# $(nproc) CPUs; $(qemu-img --version | head -1); $("$UKIT" --version)"
echo "# 1 GiB of random bytes, in the page cache; $RUNS runs each, interleaved"
bash "$TOP/bench/repeat.sh" "$RUNS" "$OUT" \
	-- dd-cache dd if="$IN" of="$OUT" bs=1M \
	-- dd-fsync dd if="$IN" of="$OUT" bs=1M conv=fsync \
	-- ukit-raw "$UKIT" convert -q -O raw "$IN" "$OUT" \
	-- ukit-qcow2 "$UKIT" convert -q -O qcow2 "$IN" "$OUT" \
	-- qemu-qcow2 qemu-img convert -O qcow2 "$IN" "$OUT" \
	-- qemu-W qemu-img convert -W -m 16 -O qcow2 "$IN" "$OUT" \
	-- qemu-flush qemu-img convert -W -m 16 -t writeback -O qcow2 "$IN" "$OUT"
flush=()
for _ in $(seq "$RUNS"); do
	rm -f "$OUT"
	sync
	dd if="$IN" of="$OUT" bs=1M status=none
	/usr/bin/time -f '%e' -o "$D/.t" sync -d "$OUT"
	flush+=("$(cat "$D/.t")")
done
rm -f "$OUT"
printf '%s\n' "${flush[@]}" | sort -n | awk '{ w[NR] = $1 } END {
	printf "%-12s min %.3f s  median %.3f s\n", "flush only", w[1], w[int((NR + 1) / 2)] }'
