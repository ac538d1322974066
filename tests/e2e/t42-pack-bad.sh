#!/bin/bash
# t42-pack-bad: a generated table of corrupted qcow2 images (tests/gen/
# badqcow2.py): header limits, L1/L2 bounds and alignment, overlaps,
# refcounts too low/high, leaks, truncation, the corrupt bit, compressed
# descriptors past EOF or holding garbage.  For each: `check` classifies it
# (corruption vs leak, with the offset) and agrees with qemu-img check's
# verdict except where documented; reading it (`compare` with the source,
# `convert -O raw`) fails with exit 1 and a message naming the offset and
# leaves no output, or reads (leaks only); never a crash, a hang or
# unbounded memory.
. "$(dirname "$0")/lib.sh"

if ! command -v qemu-img >/dev/null; then
	missing "qemu-img not installed"
	done_testing
	exit 0
fi
bash "$TOP/tests/gen/mkqcow2.sh" "$T/g" >/dev/null || not_ok "generating images"
"$PY" "$TOP/tests/gen/badqcow2.py" "$T/g/q-default.qcow2" \
	"$T/g/q-zlib.qcow2" "$T/bad" "$T/g/q-extl2.qcow2" \
	"$T/g/q-extl2zstd.qcow2" || not_ok "generating bad images"
src=$T/g/in.raw
# bounded memory: address space limit (not under ASan, which reserves TBs)
lim=""
if ! ldd "$UKIT_BIN/ukit-pack" | grep -q libasan; then
	lim="ulimit -v 400000;"
fi
run() {  # run CMD... with a time and memory limit; $? is the tool's
	bash -c "$lim exec timeout 60 \"\$@\"" _ "$@"
}
# Where ukit's check verdict knowingly differs from qemu-img check's:
#   corruptbit: qemu-img check ignores the corrupt bit; ukit reports it.
#   z-garbage:  qemu-img check does not inflate compressed clusters.
#   badmagic:   qemu-img check says "format does not support checks"
#               (exit 63) on what it probes as raw; ukit exits 1.
deviates=" corruptbit z-garbage badmagic "

while IFS='|' read -r name want read off ckoff; do
	img=$T/bad/$name.qcow2
	# ---- check --------------------------------------------------------
	run ukit-pack check --json "$img" >"$T/ck.json" 2>"$T/ck.err"
	rc=$?
	if [ $rc -ge 124 ]; then
		not_ok "$name: check crashed or hung (exit $rc)"
		continue
	fi
	verdict=$("$PY" - "$T/ck.json" "$ckoff" <<'PYEOF' 2>/dev/null
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception:
    print("nojson"); sys.exit()
offs = {f["offset"] for f in j["findings"] if f["offset"] is not None}
v = "corrupt" if j.get("corruptions") else "leak" if j.get("leaks") else "clean"
if sys.argv[2] != "-" and v == "corrupt" and int(sys.argv[2], 16) not in offs:
    v = "corrupt-without-offset-" + sys.argv[2]
print(v)
PYEOF
)
	case $want in
	refused|corrupt) w=corrupt ;;
	*) w=$want ;;
	esac
	[ -s "$T/ck.json" ] && validate_json "$name: check output valid" \
		pack-check.schema.json "$T/ck.json"
	if [ $rc -eq 1 ] && { [ "$verdict" = "$w" ] ||
		{ [ "$verdict" = nojson ] && grep -q 'not a qcow2 image' "$T/ck.err"; }; }; then
		ok "$name: check says $w (exit 1)"
	else
		not_ok "$name: check (exit $rc, verdict '$verdict', want $w)"
		head -c 600 "$T/ck.json" "$T/ck.err" | sed 's/^/#   /'
	fi
	# ---- ukit's verdict against qemu-img check's ----------------------
	# (not against the table: that is the check above; a documented
	# deviation has no comparison to make)
	if [ "${deviates#* $name }" = "$deviates" ]; then
		timeout 60 qemu-img check "$img" >/dev/null 2>&1
		q=$?
		case $q in
		0) qv=clean ;; 1|2) qv=corrupt ;; 3) qv=leak ;; *) qv="exit$q" ;;
		esac
		uv=${verdict%%-without-offset-*}
		if [ "$qv" = "$uv" ]; then
			ok "$name: check's verdict is qemu-img check's ($qv)"
		else
			not_ok "$name: check says '$uv', qemu-img check $qv"
		fi
	fi
	# ---- reading ------------------------------------------------------
	run ukit-pack compare "$img" "$src" >"$T/rd.out" 2>"$T/rd.err"
	rc=$?
	case $read in
	ok) [ $rc -eq 0 ] && ok "$name: reads the source content" ||
		not_ok "$name: read (exit $rc: $(head -c 300 "$T/rd.err"))" ;;
	differ)
		if [ $rc -eq 1 ] && grep -q 'Content mismatch' "$T/rd.out"; then
			ok "$name: reads, differs from the source"
		else
			not_ok "$name: want a content mismatch (exit $rc: $(head -c 300 "$T/rd.err"))"
		fi ;;
	*)
		if [ $rc -eq 1 ] && grep -qF -- "$read" "$T/rd.err" &&
		   { [ "$off" = - ] || grep -qF -- "qcow2:$off: " "$T/rd.err"; }; then
			ok "$name: read refused at ${off}: $read"
		else
			not_ok "$name: read (exit $rc, want '$read' at $off; got: $(head -c 300 "$T/rd.err"))"
		fi ;;
	esac
	# ---- convert: refused the same way, or converts -----------------
	rm -f "$T/cv.raw"
	run ukit-pack convert -q -O raw "$img" "$T/cv.raw" >/dev/null 2>"$T/cv.err"
	rc=$?
	case $read in
	ok)
		if [ $rc -eq 0 ] && qemu-img compare -q -f raw -F raw "$T/cv.raw" "$src"; then
			ok "$name: converts to the source content"
		else
			not_ok "$name: convert (exit $rc: $(head -c 300 "$T/cv.err"))"
		fi ;;
	differ) ;;
	*)
		if [ $rc -eq 1 ] && grep -qF -- "$read" "$T/cv.err" &&
		   { [ "$off" = - ] || grep -qF -- "qcow2:$off: " "$T/cv.err"; } &&
		   [ ! -e "$T/cv.raw" ]; then
			ok "$name: convert refused at ${off}, no output"
		else
			not_ok "$name: convert (exit $rc, want '$read' at $off; got: $(head -c 300 "$T/cv.err"))"
		fi ;;
	esac
done <"$T/bad/table.txt"

# --no-check reads what the refcounts get wrong (reading never uses them)
rm -f "$T/cv.raw"
check "convert --no-check reads an image with a bad refcount" \
	ukit-pack convert -q --no-check -O raw "$T/bad/refcount-low.qcow2" "$T/cv.raw"
qemu-img compare -q -f raw -F raw "$T/cv.raw" "$src" && ok "--no-check output equals the source (qemu-img compare)" ||
	not_ok "--no-check output equals the source"
check "compare --no-check reads it too" \
	ukit-pack compare --no-check "$T/bad/refcount-low.qcow2" "$src"

# a corruption that comes after more findings than check keeps (1000
# leaks first) is still counted, and convert still refuses the image:
# 512-byte clusters, 1-bit refcounts, 1100 leaked clusters appended, then
# guest cluster 0 pointed at one more cluster whose refcount is 0
head -c 65536 "$src" >"$T/late.raw"
qemu-img convert -f raw -O qcow2 -o cluster_size=512,refcount_bits=1 \
	"$T/late.raw" "$T/late.qcow2"
"$PY" - "$T/late.qcow2" <<'PYEOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
cs, n = 512, 1100
first = len(b) // cs
rt = struct.unpack('>Q', b[48:56])[0]
rb = struct.unpack('>Q', b[rt:rt + 8])[0]
assert first + n < cs * 8          # one refcount block covers them all
b += bytes(cs * (n + 1))
for c in range(first, first + n):
    b[rb + c // 8] |= 1 << (c % 8)
l1 = struct.unpack('>Q', b[40:48])[0]
l2 = struct.unpack('>Q', b[l1:l1 + 8])[0] & 0x00fffffffffffe00
b[l2:l2 + 8] = struct.pack('>Q', (1 << 63) | ((first + n) * cs))
open(sys.argv[1], 'wb').write(b)
PYEOF
ukit-pack check --json "$T/late.qcow2" >"$T/late.json"
qemu-img check --output=json "$T/late.qcow2" >"$T/late.q.json" 2>/dev/null
if "$PY" - "$T/late.json" "$T/late.q.json" <<'PYEOF'
import json, sys
u = json.load(open(sys.argv[1])); q = json.load(open(sys.argv[2]))
sys.exit(not (u["findings-dropped"] > 0 and u.get("corruptions") == 2 and
              q.get("corruptions") == 2 and u.get("leaks") == q.get("leaks")
              and not any(f["kind"] == "corruption" for f in u["findings"])))
PYEOF
then
	ok "late corruption: counted past the kept findings, as qemu-img check"
else
	not_ok "late corruption: $(head -c 300 "$T/late.json")"
fi
expect_fail 1 "late.qcow2: 2 corruptions and 0 check errors (image is corrupt" \
	"late corruption: convert refuses the image" \
	ukit-pack convert -q -O raw "$T/late.qcow2" "$T/late.out"
[ ! -e "$T/late.out" ] && ok "late corruption: no output" ||
	not_ok "late corruption: output left"

# with findings, check prints them with offsets (ukit's lines) and then
# qemu-img check's verdict and summary lines, word for word
for name in leak3 refcount-low late; do
	img=$T/bad/$name.qcow2
	[ "$name" = late ] && img=$T/late.qcow2
	ukit-pack check "$img" | grep -v -e "^$img:" -e '^(.* more findings not shown)$' \
		>"$T/ut.txt"
	qemu-img check "$img" >"$T/qt.txt" 2>/dev/null
	cmp -s "$T/ut.txt" "$T/qt.txt" &&
		ok "$name: check's verdict and summary are qemu-img check's" ||
		not_ok "$name: check text: $(diff "$T/ut.txt" "$T/qt.txt" | head -c 300)"
done

# the reader checks every subcluster bitmap it uses, without the check too
while IFS='|' read -r name want read off ckoff; do
	rm -f "$T/cv.raw"
	run ukit-pack convert -q --no-check -O raw "$T/bad/$name.qcow2" \
		"$T/cv.raw" >/dev/null 2>"$T/cv.err"
	rc=$?
	if [ $rc -eq 1 ] && grep -qF -- "qcow2:$off: " "$T/cv.err" &&
	   grep -qF -- "$read" "$T/cv.err" && [ ! -e "$T/cv.raw" ]; then
		ok "$name: convert --no-check refused at $off by the reader"
	else
		not_ok "$name: convert --no-check (exit $rc: $(head -c 300 "$T/cv.err"))"
	fi
done < <(grep '^x-' "$T/bad/table.txt")

# info on a header-refused image fails the same way
expect_fail 1 "cluster_bits 22 outside 9..21" "info refuses a bad header" \
	ukit-pack info "$T/bad/cbits22.qcow2"
grep -qF 'cbits22.qcow2:0x14: ' "$T/.err" && ok "info names the offset" ||
	not_ok "info names the offset ($(cat "$T/.err"))"
# info reports the corrupt bit rather than refusing
check "info on a corrupt-bit image" ukit-pack info --json "$T/bad/corruptbit.qcow2"
grep -q '"corrupt": true' "$T/.out" && ok "info shows corrupt: true" ||
	not_ok "info shows corrupt: true"
done_testing
