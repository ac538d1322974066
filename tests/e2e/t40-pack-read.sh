#!/bin/bash
# t40-pack-read: ukit reads qcow2 images made by qemu-img (default, zlib,
# zstd, compat 0.10, 512 B and 2 MiB clusters, lazy refcounts, zero flag)
# identically to qemu-img's own raw conversion; compare across formats.
. "$(dirname "$0")/lib.sh"

if ! command -v qemu-img >/dev/null; then
	skip "qemu-img not installed"
	# a backing file that names itself: the depth limit stops it
qemu-img create -q -f qcow2 "$T/loop.qcow2" 1M
"$PY" - "$T/loop.qcow2" <<'PYEOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
struct.pack_into('>QI', b, 8, 0x200, 10)
b[0x200:0x20a] = b'loop.qcow2'
open(sys.argv[1], 'wb').write(b)
PYEOF
expect_fail 1 "loop.qcow2:0x200: backing chain deeper than 8" \
	"self-referencing backing file: depth limit" \
	ukit-pack compare --allow-backing "$T/loop.qcow2" "$T/g/in.raw"
done_testing
	exit 0
fi
bash "$TOP/tests/gen/mkqcow2.sh" "$T/g" || not_ok "generating images"
for q in "$T"/g/*.qcow2; do
	n=$(basename "$q")
	qemu-img convert -O raw "$q" "$T/ref.raw"
	check "$n: ukit compare with qemu-img's raw: identical" \
		ukit-pack compare "$q" "$T/ref.raw"
	check "$n: qemu-img compare agrees" qemu-img compare -q "$q" "$T/ref.raw"
done
# libqcow as an independent reader, where it reads correctly (not zstd, not
# images that use the zero flag: ../shared/DESIGN.md)
LQCAT=$T/libqcow-cat
if cc -O1 -o "$LQCAT" "$TOP/tests/gen/libqcow-cat.c" \
	$(pkg-config --cflags --libs libqcow) 2>/dev/null; then
	for q in "$T"/g/q-*.qcow2; do
		n=$(basename "$q")
		case $n in *zstd*) continue ;; esac
		"$LQCAT" "$q" >"$T/lq.raw" || { not_ok "$n: libqcow-cat"; continue; }
		check "$n: ukit reads what libqcow reads" \
			ukit-pack compare "$q" "$T/lq.raw"
	done
else
	skip "libqcow-cat does not build"
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
ukit-pack compare --strict "$T/g/q-default.qcow2" "$T/zt.raw" >"$T/.out"
[ $? -eq 1 ] && grep -q 'Image size mismatch' "$T/.out" &&
	ok "--strict: size mismatch differs" || not_ok "--strict: size mismatch"
# the zero flag: libqcow ignores it, ukit must not
if [ -f "$T/g/zf.qcow2" ]; then
	qemu-img map --output=json "$T/g/zf.qcow2" | grep -q '"zero": true' &&
		ok "zero-flag image really has zero clusters" ||
		not_ok "zero-flag image has no zero clusters"
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
# a backing file that names itself: the depth limit stops it
qemu-img create -q -f qcow2 "$T/loop.qcow2" 1M
"$PY" - "$T/loop.qcow2" <<'PYEOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
struct.pack_into('>QI', b, 8, 0x200, 10)
b[0x200:0x20a] = b'loop.qcow2'
open(sys.argv[1], 'wb').write(b)
PYEOF
expect_fail 1 "loop.qcow2:0x200: backing chain deeper than 8" \
	"self-referencing backing file: depth limit" \
	ukit-pack compare --allow-backing "$T/loop.qcow2" "$T/g/in.raw"
done_testing
