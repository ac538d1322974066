#!/bin/bash
# bench/zstd-floor.sh IMAGE [RUNS]: how close ukit-pack convert -c zstd is
# to the least that compressing IMAGE costs here.  bench/zstd-floor.c does
# only the reads and the libzstd calls (level 3, 64 KiB clusters, all-zero
# clusters skipped), on one thread, then interleaved (bench/repeat.sh, RUNS
# times, default 7) with ukit-pack and qemu-img -W -m 16 writing qcow2 -c
# zstd from the same image.  IMAGE: e.g. the ext4.raw bench/pack.sh made in
# its DIR.  Not part of make check.
#
#   flock /tmp/ukit-bench.lock bash bench/zstd-floor.sh ${TMPDIR:-/tmp}/ukit-bench/s/ext4.raw
set -eu
IMG=$1
RUNS=${2:-7}
TOP=$(cd "$(dirname "$0")/.." && pwd)
UKIT=${UKIT_BIN:-$TOP/build/bin}/ukit-pack
OUT=$(dirname "$IMG")/zstd-floor.out.qcow2
FLOOR=$(mktemp)
trap 'rm -f "$FLOOR" "$OUT"' EXIT
cc -O2 -o "$FLOOR" "$TOP/bench/zstd-floor.c" -lzstd -lpthread
cat "$IMG" >/dev/null
echo "# $(nproc) CPUs; $(qemu-img --version | head -1); $("$UKIT" --version)"
echo "# libzstd $(dpkg-query -W -f='${Version}' libzstd1 2>/dev/null || echo '?');" \
	"$IMG: $(du -h --apparent-size "$IMG" | cut -f1), $(du -h "$IMG" | cut -f1) allocated"
echo "# compression alone, one thread (its time is the CPU the compression costs):"
"$FLOOR" "$IMG" 1
echo "# interleaved, $RUNS runs each; floor-j2: compression alone on 2 threads"
bash "$TOP/bench/repeat.sh" "$RUNS" "$OUT" \
	-- floor-j2 "$FLOOR" "$IMG" 2 \
	-- ukit "$UKIT" convert -q -O qcow2 -c zstd "$IMG" "$OUT" \
	-- qemu-W qemu-img convert -W -m 16 -O qcow2 -c \
		-o compression_type=zstd "$IMG" "$OUT"
