#!/bin/bash
# t41-pack-info-check: `info --json` reports the keys of `qemu-img info
# --output=json` with the same values on qcow2 (every variant qemu-img
# makes) and raw images; `check` is clean on them and agrees with
# `qemu-img check --output=json`; both validate against their schemas;
# usage errors exit 2.
. "$(dirname "$0")/lib.sh"

if ! command -v qemu-img >/dev/null; then
	missing "qemu-img not installed"
	done_testing
	exit 0
fi
bash "$TOP/tests/gen/mkqcow2.sh" "$T/g" >/dev/null || not_ok "generating images"
qemu-img create -q -f qcow2 -b q-zlib.qcow2 -F qcow2 "$T/g/over.qcow2"
# refcount widths other than 16, and internal snapshots with COW after them
for rb in 1 8 64; do
	qemu-img convert -f raw -O qcow2 -o refcount_bits=$rb "$T/g/in.raw" \
		"$T/g/rb$rb.qcow2"
done
cp "$T/g/q-default.qcow2" "$T/g/snap.qcow2"
qemu-img snapshot -c s1 "$T/g/snap.qcow2"
qemu-io -c 'write -P 0x55 0 128k' -c 'write -P 0x66 4m 64k' \
	"$T/g/snap.qcow2" >/dev/null
qemu-img snapshot -c s2 "$T/g/snap.qcow2"
qemu-io -c 'write -P 0x77 64k 64k' "$T/g/snap.qcow2" >/dev/null
qemu-img convert -O raw "$T/g/snap.qcow2" "$T/snap.raw"
check "snapshots: active layer read as qemu-img reads it" \
	ukit-pack compare "$T/g/snap.qcow2" "$T/snap.raw"
check "refcount_bits=1: read" ukit-pack compare "$T/g/rb1.qcow2" "$T/g/in.raw"
# persistent dirty bitmaps with dirty bits: the directory, the bitmap
# tables and their data clusters are references, not leaks (the loop
# below compares check with qemu-img check on bitmaps.qcow2)
bm=$T/g/bitmaps.qcow2
qemu-img create -q -f qcow2 "$bm" 64M
qemu-io -c 'write -P 0x11 0 1M' "$bm" >/dev/null
qemu-img bitmap --add "$bm" b0
qemu-io -c 'write -P 0x22 4M 2M' "$bm" >/dev/null
qemu-img bitmap --add --granularity 64K "$bm" b1
qemu-io -c 'write -P 0x33 8M 3M' "$bm" >/dev/null
# raw sizes: qemu's raw driver rounds the size up to 512; take an aligned one
head -c 1048576 "$T/g/in.raw" >"$T/g/aligned.raw"
truncate -s 3M "$T/g/aligned.raw"

same_keys() {  # A B KEYS...: the keys present in B have the same values in A
	"$PY" - "$@" <<'PYEOF'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
bad = [k for k in sys.argv[3:] if k in b and a.get(k) != b[k]]
bad += [k for k in sys.argv[3:] if k in a and k not in b]
for k in bad:
    print("# %s: ukit %r, qemu-img %r" % (k, a.get(k), b.get(k)))
sys.exit(1 if bad else 0)
PYEOF
}

# autoclear bit 0 cleared: the bitmaps no longer count, for qemu either
"$PY" - "$bm" "$T/bm-stale.qcow2" <<'PYEOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
v = struct.unpack('>Q', b[88:96])[0]
b[88:96] = struct.pack('>Q', v & ~1)
open(sys.argv[2], 'wb').write(b)
PYEOF
qemu-img check --output=json "$T/bm-stale.qcow2" >"$T/qs.json" 2>/dev/null
ukit-pack check --json "$T/bm-stale.qcow2" >"$T/us.json"
rc=$?
if [ $rc -eq 1 ] && same_keys "$T/us.json" "$T/qs.json" leaks corruptions &&
   grep -q '"leaks": [1-9]' "$T/us.json"; then
	ok "stale bitmaps: their clusters are leaks, as qemu-img check says"
else
	not_ok "stale bitmaps (exit $rc): $(cat "$T/us.json" | head -c 300)"
fi
# the bitmap directory moved past the end of the file: a corruption named
# at the bitmaps header extension; info says so and still reports the rest
ext=$("$PY" - "$bm" "$T/bm-far.qcow2" <<'PYEOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
off = struct.unpack('>I', b[100:104])[0]
while True:
    t, n = struct.unpack('>II', b[off:off + 8])
    if t == 0x23852875:
        break
    off += 8 + (n + 7) // 8 * 8
b[off + 24:off + 32] = struct.pack('>Q', 1 << 40)
open(sys.argv[2], 'wb').write(b)
print('0x%x' % off)
PYEOF
)
ukit-pack check "$T/bm-far.qcow2" >"$T/far.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -qF \
	"bm-far.qcow2:$ext: corruption: bitmap directory at 0x10000000000" "$T/far.out"; then
	ok "bitmap directory past EOF: a corruption at the extension"
else
	not_ok "bitmap directory past EOF (exit $rc): $(head -c 300 "$T/far.out")"
fi
check "info still works on it" ukit-pack info --json "$T/bm-far.qcow2"
grep -q "bm-far.qcow2:$ext: bitmap directory at 0x10000000000" "$T/.err" &&
	ok "info says where the bitmap directory is wrong" ||
	not_ok "info on a bad bitmap directory: $(cat "$T/.err")"

for img in "$T"/g/*.qcow2 "$T/g/aligned.raw"; do
	n=$(basename "$img")
	(cd "$T/g" && ukit-pack info --json "$n") >"$T/u.json"
	(cd "$T/g" && qemu-img info --output=json "$n") >"$T/q.json"
	if same_keys "$T/u.json" "$T/q.json" filename format virtual-size \
		actual-size cluster-size dirty-flag format-specific \
		backing-filename full-backing-filename backing-filename-format \
		snapshots; then
		ok "$n: info --json matches qemu-img info"
	else
		not_ok "$n: info --json differs from qemu-img info"
	fi
	validate_json "$n: info output valid" pack-info.schema.json "$T/u.json"
	check "$n: info text" ukit-pack info "$img"
	# qcow2: the text is qemu-img info's, line for line (qemu rounds a
	# raw image's size up to 512, so raw is left out)
	case $n in
	*.qcow2)
		(cd "$T/g" && TZ=UTC ukit-pack info "$n") >"$T/ut.txt"
		(cd "$T/g" && TZ=UTC qemu-img info "$n") >"$T/qt.txt"
		if cmp -s "$T/ut.txt" "$T/qt.txt"; then
			ok "$n: info text is qemu-img info's"
		else
			not_ok "$n: info text differs from qemu-img info's"
			diff "$T/ut.txt" "$T/qt.txt" | head -n 10 | sed 's/^/#   /'
		fi ;;
	esac
	case $n in *.raw|over.qcow2) continue ;; esac
	ukit-pack check --json "$img" >"$T/uc.json"
	rc=$?
	qemu-img check --output=json "$img" >"$T/qc.json"
	[ $rc -eq 0 ] && ok "$n: check clean (exit 0)" || not_ok "$n: check exit $rc"
	if same_keys "$T/uc.json" "$T/qc.json" filename format check-errors \
		corruptions leaks image-end-offset total-clusters \
		allocated-clusters fragmented-clusters compressed-clusters; then
		ok "$n: check --json matches qemu-img check"
	else
		not_ok "$n: check --json differs from qemu-img check"
	fi
	validate_json "$n: check output valid" pack-check.schema.json "$T/uc.json"
	# a clean image's text is qemu-img check's, line for line
	ukit-pack check "$img" >"$T/ut.txt"
	qemu-img check "$img" >"$T/qt.txt"
	if cmp -s "$T/ut.txt" "$T/qt.txt"; then
		ok "$n: check text is qemu-img check's"
	else
		not_ok "$n: check text differs from qemu-img check's"
		diff "$T/ut.txt" "$T/qt.txt" | head -n 10 | sed 's/^/#   /'
	fi
done
qemu-img create -q -f qcow2 "$T/empty.qcow2" 1M
ukit-pack check "$T/empty.qcow2" >"$T/ut.txt"
qemu-img check "$T/empty.qcow2" >"$T/qt.txt"
cmp -s "$T/ut.txt" "$T/qt.txt" &&
	ok "empty image: check text is qemu-img check's (no allocation line)" ||
	not_ok "empty image: check text: $(diff "$T/ut.txt" "$T/qt.txt" | head -c 300)"
# Lazy refcounts after a crash: qemu-io aborts without flushing the
# refcounts, so the dirty bit stays set and clusters written since (data
# and a second L2 table) have a stored refcount of 0.  check counts those
# as qemu-img check does and names them stale; convert and compare read
# the image as qemu-img does.  dirty512 has more stale refcounts than
# check keeps findings for (1000): a 512-byte-cluster image whose
# refcount table was emptied and whose dirty bit was set by hand.
qemu-img create -q -f qcow2 -o lazy_refcounts=on "$T/dirty.qcow2" 1G
(qemu-io -c 'write -P 0x5a 64k 1m' -c 'write -P 0x3c 700m 128k' \
	-c abort "$T/dirty.qcow2") >/dev/null 2>&1
qemu-img convert -O qcow2 -o lazy_refcounts=on,cluster_size=512 \
	"$T/g/in.raw" "$T/dirty512.qcow2"
"$PY" - "$T/dirty512.qcow2" <<'PYEOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
b[72:80] = struct.pack('>Q', struct.unpack('>Q', b[72:80])[0] | 1)
rt = struct.unpack('>Q', b[48:56])[0]
n = struct.unpack('>I', b[56:60])[0] * 512
b[rt:rt + n] = bytes(n)
open(sys.argv[1], 'wb').write(b)
PYEOF
for n in dirty dirty512; do
	qemu-img convert -O raw "$T/$n.qcow2" "$T/$n.want"
done
for n in dirty dirty512; do
	img=$T/$n.qcow2
	(cd "$T" && ukit-pack info --json "$n.qcow2") >"$T/u.json"
	(cd "$T" && qemu-img info --output=json "$n.qcow2") >"$T/q.json"
	if grep -q '"dirty-flag": true' "$T/q.json" &&
	   same_keys "$T/u.json" "$T/q.json" dirty-flag format-specific; then
		ok "$n: dirty, and info --json says so as qemu-img info does"
	else
		not_ok "$n: info on a dirty image: $(cat "$T/u.json")"
	fi
	(cd "$T" && ukit-pack info "$n.qcow2") >"$T/ut.txt"
	(cd "$T" && qemu-img info "$n.qcow2") >"$T/qt.txt"
	grep -q '^cleanly shut down: no$' "$T/ut.txt" &&
		cmp -s "$T/ut.txt" "$T/qt.txt" &&
		ok "$n: info text is qemu-img info's ('cleanly shut down: no')" ||
		not_ok "$n: info text: $(diff "$T/ut.txt" "$T/qt.txt" | head -c 300)"
	ukit-pack check --json "$img" >"$T/uc.json"
	rc=$?
	qemu-img check --output=json "$img" >"$T/qc.json" 2>/dev/null
	if [ $rc -eq 1 ] && same_keys "$T/uc.json" "$T/qc.json" corruptions \
		leaks check-errors image-end-offset allocated-clusters &&
	   "$PY" -c 'import json, sys; j = json.load(open(sys.argv[1]))
sys.exit(not (j["corruptions"] > 0 and
              j["stale-refcounts"] == j["corruptions"]))' "$T/uc.json"; then
		ok "$n: check counts as qemu-img check, all stale refcounts"
	else
		not_ok "$n: check on a dirty image (exit $rc): $(head -c 400 "$T/uc.json")"
	fi
	validate_json "$n: check output valid" pack-check.schema.json "$T/uc.json"
	ukit-pack check "$img" >"$T/ct.out"
	grep -q "The image is dirty: .* stale refcounts" "$T/ct.out" &&
		ok "$n: check text says the image is dirty" ||
		not_ok "$n: check text: $(tail -n 3 "$T/ct.out")"
	check "$n: convert -O raw" ukit-pack convert -q -O raw "$img" "$T/$n.raw"
	check "$n: raw output equals qemu-img's" cmp "$T/$n.raw" "$T/$n.want"
	check "$n: compare with qemu-img's raw" ukit-pack compare "$img" "$T/$n.want"
	check "$n: convert -O qcow2" ukit-pack convert -q -O qcow2 "$img" "$T/$n.out"
	check "$n: its output passes qemu-img check" qemu-img check -q "$T/$n.out"
	check "$n: and holds the same data" qemu-img compare -q "$T/$n.out" "$T/$n.want"
done
grep -q '"findings-dropped": [1-9]' "$T/uc.json" &&
	ok "dirty512: more stale refcounts than check keeps" ||
	not_ok "dirty512: expected dropped findings"
# a real corruption in a dirty image is still refused: the first data
# cluster's L2 entry pointed at the L1 table
"$PY" - "$T/dirty.qcow2" "$T/dirty-bad.qcow2" <<'PYEOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
l1 = struct.unpack('>Q', b[40:48])[0]
l2 = struct.unpack('>Q', b[l1:l1 + 8])[0] & 0x00fffffffffffe00
b[l2 + 8:l2 + 16] = struct.pack('>Q', (1 << 63) | l1)
open(sys.argv[2], 'wb').write(b)
PYEOF
expect_fail 1 "used as an L1 table and as guest data" \
	"dirty image with guest data on the L1 table: convert refuses" \
	ukit-pack convert -q -O raw "$T/dirty-bad.qcow2" "$T/dirty-bad.raw"
[ ! -e "$T/dirty-bad.raw" ] && ok "no output left" || not_ok "output left"
ukit-pack check "$T/dirty-bad.qcow2" >"$T/ct.out"
grep -q "are stale refcounts.*The others are corruptions that refuse it" \
	"$T/ct.out" && ok "check says which findings refuse the dirty image" ||
	not_ok "check on a dirty, corrupt image: $(tail -n 3 "$T/ct.out")"

# internal snapshots: listed as qemu-img info lists them (the JSON in the
# loop above), and the text table too (dates in one time zone)
(cd "$T/g" && ukit-pack info --json snap.qcow2) >"$T/snap.json"
"$PY" -c 'import json, sys
sys.exit(len(json.load(open(sys.argv[1]))["snapshots"]) != 2)' "$T/snap.json" &&
	ok "snap.qcow2: info lists its 2 snapshots" ||
	not_ok "snap.qcow2: snapshots: $(head -c 300 "$T/snap.json")"
TZ=Asia/Tokyo ukit-pack info "$T/g/snap.qcow2" | sed -n '/^Snapshot list:/,/^Format/p' >"$T/us.txt"
TZ=Asia/Tokyo qemu-img info "$T/g/snap.qcow2" | sed -n '/^Snapshot list:/,/^Format/p' >"$T/qs.txt"
[ -s "$T/us.txt" ] && cmp -s "$T/us.txt" "$T/qs.txt" &&
	ok "snap.qcow2: info's snapshot list is qemu-img info's, byte for byte" ||
	not_ok "snap.qcow2: snapshot list: $(diff "$T/us.txt" "$T/qs.txt" | head -c 300)"
# a snapshot whose extra data claims 4 GiB: info says where, and goes on
at=$("$PY" - "$T/g/snap.qcow2" "$T/snapbad.qcow2" <<'PYEOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
off = struct.unpack('>Q', b[64:72])[0]
b[off + 36:off + 40] = struct.pack('>I', 0xffffffff)
open(sys.argv[2], 'wb').write(b)
print('0x%x' % (off + 36))
PYEOF
)
check "info on a bad snapshot table still works" \
	ukit-pack info --json "$T/snapbad.qcow2"
grep -qF "snapbad.qcow2:$at: snapshot extra data of 4294967295 bytes (limit 1024)" \
	"$T/.err" && ok "info names the bad snapshot field" ||
	not_ok "info on a bad snapshot: $(cat "$T/.err")"

check "check text: no errors" sh -c \
	"ukit-pack check '$T/g/q-zstd.qcow2' | grep -q 'No errors were found'"
expect_fail 1 "not a qcow2 image" "check on a raw image: exit 1" \
	ukit-pack check "$T/g/in.raw"
expect_fail 1 "No such file" "check on a missing file: exit 1" \
	ukit-pack check "$T/nonexistent"
expect_fail 2 "usage:" "check without an image: exit 2" ukit-pack check
expect_fail 2 "usage:" "info with two images: exit 2" ukit-pack info a b
expect_fail 2 "usage:" "compare with one image: exit 2" ukit-pack compare a
expect_fail 2 "unknown format" "info -f nonsense: exit 2" \
	ukit-pack info -f nonsense "$T/g/in.raw"
check "info -f bin reports a flat binary" sh -c \
	"ukit-pack info --json -f bin '$T/g/aligned.raw' | grep -q '\"format\": \"bin\"'"
done_testing
