#!/bin/bash
# t40-pack-read: ukit reads qcow2 images made by qemu-img (default, zlib,
# zstd, compat 0.10, 512 B and 2 MiB clusters, lazy refcounts, zero flag,
# extended L2 entries with mixed subclusters, a backing chain) identically
# to qemu-img's own raw conversion; compare across formats.
. "$(dirname "$0")/lib.sh"

if ! command -v qemu-img >/dev/null; then
	missing "qemu-img not installed"
	done_testing
	exit 0
fi
bash "$TOP/tests/gen/mkqcow2.sh" "$T/g" || not_ok "generating images"
for q in "$T"/g/*.qcow2; do
	n=$(basename "$q")
	qemu-img convert -O raw "$q" "$T/ref.raw"
	check "$n: ukit compare with qemu-img's raw: identical" \
		ukit-pack compare "$q" "$T/ref.raw"
done
# libqcow as an independent reader, where it reads correctly (not zstd, not
# images that use the zero flag: ../shared/DESIGN.md)
LQCAT=$T/libqcow-cat
if cc -O1 -o "$LQCAT" "$TOP/tests/gen/libqcow-cat.c" \
	$(pkg-config --cflags --libs libqcow) 2>/dev/null; then
	for q in "$T"/g/q-*.qcow2; do
		n=$(basename "$q")
		# (extended L2 entries: libqcow 20201213 refuses them)
		case $n in *zstd*|*extl2*) continue ;; esac
		"$LQCAT" "$q" >"$T/lq.raw" || { not_ok "$n: libqcow-cat"; continue; }
		check "$n: ukit reads what libqcow reads" \
			ukit-pack compare "$q" "$T/lq.raw"
	done
else
	missing "libqcow-cat does not build"
fi
check "compare qcow2 with the raw source (qemu rounds the size up)" \
	ukit-pack compare "$T/g/q-zstd.qcow2" "$T/g/in.raw"
check "compare qcow2 with qcow2 (zlib vs 2 MiB zstd)" \
	ukit-pack compare "$T/g/q-zlib.qcow2" "$T/g/q-c2mzstd.qcow2"
# one flipped byte in the raw copy: first differing offset reported
cp "$T/g/in.raw" "$T/flip.raw"
printf 'X' | dd of="$T/flip.raw" bs=1 seek=1500000 conv=notrunc status=none
ukit-pack compare "$T/g/q-zlib.qcow2" "$T/flip.raw" >"$T/out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q 'Content mismatch at offset 1500000!' "$T/out"; then
	ok "one changed byte: exit 1 at its offset"
else
	not_ok "one changed byte (exit $rc: $(cat "$T/out"))"
fi
# a non-zero byte in the tail past the shorter image: differ
cp "$T/g/in.raw" "$T/long.raw"
printf 'Z' | dd of="$T/long.raw" bs=1 seek=$((6 * 1048576)) conv=notrunc status=none
ukit-pack compare "$T/g/q-default.qcow2" "$T/long.raw" >"$T/.out"
[ $? -eq 1 ] && ok "non-zero tail past the shorter image differs" ||
	not_ok "non-zero tail past the shorter image differs"
grep -q 'Content mismatch at offset 6291456!' "$T/.out" &&
	ok "tail mismatch offset" || not_ok "tail mismatch offset ($(cat "$T/.out"))"
# zero tail: equal unless --strict (as qemu-img compare -s)
cp "$T/g/in.raw" "$T/zt.raw"
truncate -s 8M "$T/zt.raw"
check "zero tail counts as equal (qemu-img compare's default)" \
	ukit-pack compare "$T/g/q-default.qcow2" "$T/zt.raw"
# qemu-img compare's words: a warning, then the verdict
qemu-img compare "$T/g/q-default.qcow2" "$T/zt.raw" >"$T/q.out"
cmp -s "$T/.out" "$T/q.out" && grep -q '^Warning: Image size mismatch!$' "$T/.out" &&
	ok "sizes differ: the same output as qemu-img compare" ||
	not_ok "sizes differ: $(cat "$T/.out") / qemu-img: $(cat "$T/q.out")"
ukit-pack compare --strict "$T/g/q-default.qcow2" "$T/zt.raw" >"$T/.out"
[ $? -eq 1 ] && grep -q '^Strict mode: Image size mismatch! (5243904 != 8388608)$' "$T/.out" &&
	ok "--strict: size mismatch differs, in qemu's words with the sizes" ||
	not_ok "--strict: size mismatch ($(cat "$T/.out"))"
# the zero flag: libqcow ignores it, ukit must not (zf.qcow2, read in the
# first loop, must really have zero clusters for that to prove anything)
if [ -f "$T/g/zf.qcow2" ]; then
	qemu-img map --output=json "$T/g/zf.qcow2" | grep -q '"zero": true' ||
		not_ok "fixture: zf.qcow2 has no zero clusters"
fi
# bounded memory on 2 MiB clusters (libqcow used 270 MB here): peak RSS
if ! ldd "$UKIT_BIN/ukit-pack" | grep -q libasan; then
	/usr/bin/time -f %M -o "$T/rss" ukit-pack compare "$T/g/q-c2mzstd.qcow2" \
		"$T/g/in.raw" >/dev/null 2>&1
	rss=$(tail -n 1 "$T/rss")
	[ "$rss" -le 65536 ] && ok "2 MiB zstd clusters: peak RSS ${rss} KiB <= 64 MiB" ||
		not_ok "2 MiB zstd clusters: peak RSS ${rss} KiB > 64 MiB"
fi
# backing files only when asked
qemu-img create -q -f qcow2 -b q-zlib.qcow2 -F qcow2 "$T/g/over.qcow2"
expect_fail 1 "refusing to follow it without --allow-backing" \
	"backing file refused by default" \
	ukit-pack compare "$T/g/over.qcow2" "$T/g/in.raw"
check "--allow-backing reads through the backing file" \
	ukit-pack compare --allow-backing "$T/g/over.qcow2" "$T/g/in.raw"
# convert flattens a chain only when asked: an overlay with extended L2
# entries (128 KiB clusters, 4 KiB subclusters) on a raw file on a
# compressed qcow2, written in parts of clusters, so that unallocated
# subclusters read from the files below
qemu-img create -q -f raw "$T/g/mid.raw" 6M
qemu-io -f raw -c 'write -P 0x71 1m 300k' "$T/g/mid.raw" >/dev/null
qemu-img create -q -f qcow2 -b mid.raw -F raw "$T/g/mid.qcow2"
qemu-io -c 'write -P 0x72 1200k 64k' "$T/g/mid.qcow2" >/dev/null
qemu-img rebase -u -b q-zlib.qcow2 -F qcow2 "$T/g/mid.qcow2"
qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=128k \
	-b mid.qcow2 -F qcow2 "$T/g/ov.qcow2"
qemu-io -c 'write -P 0x44 5k 3k' -c 'write -z 200k 8k' \
	-c 'write -P 0x55 1m 100k' -c 'write -P 0x56 1250k 2k' \
	"$T/g/ov.qcow2" >/dev/null
qemu-img convert -O raw "$T/g/ov.qcow2" "$T/ov.want"
expect_fail 1 "refusing to follow it without --allow-backing" \
	"convert refuses a backing file by default" \
	ukit-pack convert -q -O raw "$T/g/ov.qcow2" "$T/ov.raw"
[ ! -e "$T/ov.raw" ] && ok "no output left" || not_ok "output left"
check "convert --allow-backing -O raw" \
	ukit-pack convert -q --allow-backing -O raw "$T/g/ov.qcow2" "$T/ov.raw"
check "it equals qemu-img's conversion of the chain" cmp "$T/ov.raw" "$T/ov.want"
for j in 1 2; do
	check "convert --allow-backing -O qcow2 -c zstd -j $j" ukit-pack convert -q \
		--allow-backing -j $j -O qcow2 -c zstd "$T/g/ov.qcow2" "$T/ov$j.qcow2"
	check "-j $j: qemu-img compare with the chain's content" \
		qemu-img compare -q "$T/ov$j.qcow2" "$T/ov.want"
done
check "-j 1 and -j 2 write the same bytes" cmp "$T/ov1.qcow2" "$T/ov2.qcow2"
# (a precondition, not a check of ukit: the chain is two levels deep)
qemu-img map --output=json "$T/g/ov.qcow2" >"$T/ov.map"
grep -q '"depth": 1' "$T/ov.map" && grep -q '"depth": 2' "$T/ov.map" ||
	not_ok "fixture: the overlay's map: $(head -c 300 "$T/ov.map")"
# an error in a backing file names that file and the offset in it
host=$("$PY" - "$T/g/q-zlib.qcow2" "$T/g/bz.qcow2" "$T/g/bl1.qcow2" <<'PYEOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
l1 = struct.unpack('>Q', b[40:48])[0]
l2 = struct.unpack('>Q', b[l1:l1 + 8])[0] & 0x00fffffffffffe00
x = 62 - (struct.unpack('>I', b[20:24])[0] - 8)
e = next(e for e in struct.unpack('>8192Q', b[l2:l2 + 65536]) if e >> 62 & 1)
host = e & ((1 << x) - 1)
g = bytearray(b)
g[host:host + 64] = b'\xff' * 64          # compressed data that does not inflate
open(sys.argv[2], 'wb').write(g)
print('0x%x' % host)
b[40:48] = struct.pack('>Q', 0xff0000)   # L1 table past the end of the file
open(sys.argv[3], 'wb').write(b)
PYEOF
)
for b in bz bl1; do
	qemu-img create -q -f qcow2 -u -b $b.qcow2 -F qcow2 "$T/g/on-$b.qcow2" 6M
done
expect_fail 1 "on-bz.qcow2: backing file 'bz.qcow2':$host: compressed cluster" \
	"a bad compressed cluster in the backing file: named there" \
	ukit-pack convert -q --allow-backing -O raw "$T/g/on-bz.qcow2" "$T/bz.raw"
[ ! -e "$T/bz.raw" ] && ok "no output left" || not_ok "output left"
expect_fail 1 "backing file 'bl1.qcow2':0x28: L1 table extends past end of file" \
	"a bad L1 offset in the backing file: named there" \
	ukit-pack compare --allow-backing "$T/g/on-bl1.qcow2" "$T/g/in.raw"
# a backing file that names itself: refused as a loop
qemu-img create -q -f qcow2 "$T/loop.qcow2" 1M
"$PY" - "$T/loop.qcow2" <<'PYEOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
struct.pack_into('>QI', b, 8, 0x200, 10)
b[0x200:0x20a] = b'loop.qcow2'
open(sys.argv[1], 'wb').write(b)
PYEOF
expect_fail 1 "loop.qcow2:0x200: backing file '$T/loop.qcow2' of '$T/loop.qcow2' creates an infinite loop" \
	"self-referencing backing file: refused as a loop" \
	ukit-pack compare --allow-backing "$T/loop.qcow2" "$T/g/in.raw"
done_testing
