#!/bin/bash
# t30-set-manifest: set-manifest and set-package-metadata on real linked
# unikernels (tests/gen/mkelf.sh: headers inside the text PT_LOAD, no free
# space after the program header table; tests/gen/mkhvt.sh: Solo5 hvt
# layout, free zeros after it) for x86_64, aarch64 and ppc64le:
# in place (same size, smaller), a new PT_NOTE with the table grown or
# moved, refusals for virtio/xen/muen.  Each result: readelf -lnW without
# warnings, query-manifest equal to Solo5's reference output, every
# differing byte inside the ranges the edit may change, the input unchanged.
# Then systemd-analyze inspect-elf on set-package-metadata output, and
# kill -9 during a large set-manifest.  Big-endian ppc64 (not a Solo5
# target) is refused a manifest, naming the machine, and gets package
# metadata.
. "$(dirname "$0")/lib.sh"

D=$SHARED/data/solo5
MKELF=$TOP/tests/gen/mkelf.sh
MKHVT=$TOP/tests/gen/mkhvt.sh

# ranges.py KIND OLD NEW INS [pkg]: which bytes may differ between OLD and NEW
# for edit KIND (inplace, grow, move), computed from OLD's headers alone
# and INS, the slot the new PT_NOTE must take ("-": the old MFT1 PT_NOTE's,
# which proves it goes before that one): in place, the note the tender
# reads now; grow, e_phnum and the table from slot INS on and what was
# appended; move, e_phoff, e_phnum and what was appended; repoint, the
# entry at INS (now the appended note's) and what was appended.  Also checks
# the entries after INS moved down one slot intact (grow, move), or every
# other entry intact (repoint).  For grow and move, an
# SHT_NOTE section that held exactly the note the new or repointed PT_NOTE
# takes over from (the first note of the PT_NOTE at INS) may change its sh_flags,
# sh_addr, sh_offset and sh_size, and must now describe the new note,
# unallocated.  A new note with no predecessor gets a section of its own:
# e_shoff and e_shnum may change, the appended header table must be the old
# one plus an SHT_NOTE entry holding the new note, named .note.package
# (package metadata, appended last: INS = e_phnum) or .note.solo5.manifest.
# A manifest edit that appends turns the old MFT1 note into an inert ukit
# padding note of the same size, zero descriptor (not with pkg: a package
# metadata edit leaves the manifest alone).
cat >"$T/ranges.py" <<'EOF'
import struct, subprocess, sys
kind, old, new, ins = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
a, b = open(old, 'rb').read(), open(new, 'rb').read()
E = '>' if a[5] == 2 else '<'
def ehdr(x):
    return struct.unpack_from(E + 'QQ', x, 0x20)[0], struct.unpack_from(E + 'H', x, 0x38)[0]
def ph(x, off, i):
    return x[off + 56 * i: off + 56 * i + 56]
phoff, phnum = ehdr(a)
nphoff, nphnum = ehdr(b)
def first_note(i):
    t, _, o, _, _, fs = struct.unpack_from(E + 'IIQQQQ', a, phoff + 56 * i)
    if t != 4 or fs < 20: return None
    nsz, dsz, typ = struct.unpack_from(E + 'III', a, o)
    return (o, 20 + ((dsz + 3) & ~3), typ) if nsz == 6 and a[o+12:o+18] == b'Solo5\0' else None
mfts = [i for i in range(phnum) if (first_note(i) or (0, 0, 0))[2] == 0x3154464d]
mft = mfts[0] if mfts else None
ins = mft if ins == '-' else int(ins)
allowed = [(len(a), len(b))]
if kind == 'inplace':
    assert (nphoff, nphnum, len(b)) == (phoff, phnum, len(a)), 'headers moved'
    o, sz, _ = first_note(mft)
    allowed.append((o, o + sz))
elif kind == 'grow':
    assert (nphoff, nphnum) == (phoff, phnum + 1), 'not grown'
    allowed += [(0x38, 0x3a), (phoff + 56 * ins, phoff + 56 * (phnum + 1))]
    for i in range(ins, phnum):
        assert ph(b, phoff, i + 1) == ph(a, phoff, i), 'entry %d not moved intact' % i
elif kind == 'move':
    assert nphnum == phnum + 1 and nphoff >= len(a), 'not moved'
    allowed += [(0x20, 0x28), (0x38, 0x3a)]
    for i in range(phnum):
        assert ph(b, nphoff, i + (i >= ins)) == ph(a, phoff, i), 'entry %d changed' % i
elif kind == 'repoint':
    assert (nphoff, nphnum) == (phoff, phnum), 'table changed'
    allowed.append((phoff + 56 * ins, phoff + 56 * ins + 56))
    t, fl, o, va, pa, fs, ms, al = struct.unpack_from(E + 'IIQQQQQQ', b, phoff + 56 * ins)
    assert (t, fl, va, pa, fs, ms, al) == (4, struct.unpack_from(E + 'I', a, phoff + 56 * ins + 4)[0],
                                       0, 0, len(b) - o, len(b) - o, 4), 'entry %d' % ins
    assert o >= len(a) and o % 8 == 0, 'note not appended'
    for i in range(phnum):
        assert i == ins or ph(b, phoff, i) == ph(a, phoff, i), 'entry %d changed' % i
else:
    sys.exit('bad kind')
if kind != 'inplace' and mft is not None and sys.argv[5:] != ['pkg']:
    # the old MFT1 note stays where it was as an inert ukit padding note
    # of the same size: no reader of every note sees a second manifest
    o, sz, _ = first_note(mft)
    allowed.append((o, o + sz))
    nsz, dsz, typ = struct.unpack_from(E + 'III', b, o)
    assert (nsz, dsz, typ, b[o + 12:o + 20]) == (5, sz - 20, 0x44415055, b'ukit\0\0\0\0'), \
        'old MFT1 note not made inert: %r' % ((nsz, dsz, hex(typ), b[o + 12:o + 20]),)
    assert b[o + 20:o + sz] == bytes(sz - 20), 'old manifest descriptor not zeroed'
if kind != 'inplace' and ins < phnum:
    shoff, = struct.unpack_from(E + 'Q', a, 0x28)
    shnum, = struct.unpack_from(E + 'H', a, 0x3c)
    _, _, o, _, _, fs = struct.unpack_from(E + 'IIQQQQ', a, phoff + 56 * ins)
    nsz, dsz = struct.unpack_from(E + 'II', a, o)
    size = 12 + ((nsz + 3) & ~3) + ((dsz + 3) & ~3)
    ntab = nphoff
    _, _, no, _, _, nfs = struct.unpack_from(E + 'IIQQQQ', b, ntab + 56 * ins)
    # only a note of the same owner and type is taken over
    same = a[o + 8:o + 12] == b[no + 8:no + 12] and \
        a[o + 12:o + 12 + nsz] == b[no + 12:no + 12 + nsz]
    for i in range(shnum if shoff and same else 0):
        at = shoff + 64 * i
        t, = struct.unpack_from(E + 'I', a, at + 4)
        so, ss = struct.unpack_from(E + 'QQ', a, at + 0x18)
        if t == 7 and (so, ss) == (o, size):
            allowed.append((at + 8, at + 40))
            fl, ad, so2, ss2 = struct.unpack_from(E + 'QQQQ', b, at + 8)
            assert (so2, ss2, ad, fl & 2) == (no, nfs, 0, 0), \
                'section %d not moved to the new note' % i
            break
shnum, = struct.unpack_from(E + 'H', a, 0x3c)
if kind != 'inplace' and struct.unpack_from(E + 'H', b, 0x3c)[0] != shnum:
    # a note with no predecessor: a section of its own, in copies of the
    # section header and name tables appended after it (e_shoff, e_shnum)
    shoff, = struct.unpack_from(E + 'Q', a, 0x28)
    shnum, strndx = struct.unpack_from(E + 'HH', a, 0x3c)
    nshoff, = struct.unpack_from(E + 'Q', b, 0x28)
    nshnum, = struct.unpack_from(E + 'H', b, 0x3c)
    assert nshnum == shnum + 1 and nshoff >= len(a), 'no section added'
    allowed += [(0x28, 0x30), (0x3c, 0x3e)]
    for i in range(shnum):
        x, y = a[shoff + 64 * i: shoff + 64 * i + 64], b[nshoff + 64 * i: nshoff + 64 * i + 64]
        if i == strndx:
            x, y = x[:0x18] + x[0x28:], y[:0x18] + y[0x28:]
        assert x == y, 'section %d changed' % i
    so, ss = struct.unpack_from(E + 'QQ', b, nshoff + 64 * strndx + 0x18)
    nm, t = struct.unpack_from(E + 'II', b, nshoff + 64 * shnum)
    o2, s2 = struct.unpack_from(E + 'QQ', b, nshoff + 64 * shnum + 0x18)
    _, _, no, _, _, nfs = struct.unpack_from(E + 'IIQQQQ', b, nphoff + 56 * ins)
    assert b[so + nm: b.index(b'\0', so + nm)] == (
        b'.note.package' if ins == phnum else b'.note.solo5.manifest'), 'name'
    assert (t, o2, s2) == (7, no, nfs), 'new section does not hold the note'
cmp = subprocess.run(['cmp', '-l', old, new], capture_output=True, text=True)
bad = []
for line in cmp.stdout.splitlines():
    off = int(line.split()[0]) - 1
    if not any(lo <= off < hi for lo, hi in allowed):
        bad.append(off)
if bad:
    sys.exit('%d bytes changed outside %s, first at 0x%x' % (len(bad), allowed, bad[0]))
EOF

# readelf_clean DESC FILE: readelf -lnW prints nothing on stderr and no
# "Warning" anywhere.
readelf_clean() {
	if readelf -lnW "$2" >"$T/re.out" 2>"$T/re.err" && [ ! -s "$T/re.err" ] &&
	   ! grep -q Warning "$T/re.out"; then
		ok "$1"
	else
		not_ok "$1"
		head -n 5 "$T/re.err" | sed 's/^/#   /'
	fi
}

# edit_case LABEL ELF MANIFEST KIND INS: set-manifest, then every check.
edit_case() {
	local label=$1 elf=$2 m=$3 kind=$4 ins=$5 sum
	sum=$(sha256sum <"$elf")
	check "$label: set-manifest $m ($kind)" \
		ukit-elftool set-manifest "$D/$m/manifest.json" "$elf" -o "$T/out.elf"
	if [ "$(sha256sum <"$elf")" = "$sum" ]; then
		ok "$label: input unchanged"
	else
		not_ok "$label: input changed"
	fi
	readelf_clean "$label: readelf -lnW clean" "$T/out.elf"
	ukit-elftool query-manifest "$T/out.elf" >"$T/q.json" 2>"$T/q.err"
	same_file "$label: query-manifest is $m's" "$D/$m/query-manifest.json" "$T/q.json"
	check "$label: only the $kind ranges differ" \
		"$PY" "$T/ranges.py" "$kind" "$elf" "$T/out.elf" "$ins"
	if [ "$kind" != inplace ]; then
		# readelf -n reads notes by section: .note.solo5.manifest shows
		# the new manifest (on little-endian targets byte for byte the
		# note Solo5's gen-manifest makes), not the stale one
		readelf -nW "$T/out.elf" >"$T/rn.txt" 2>&1
		check "$label: readelf -n shows the new manifest in its section" \
			"$PY" - "$T/rn.txt" "$D/$m/note.hex" "$(od -An -tx1 -j5 -N1 "$elf")" <<'PYEOF'
import re, sys
text, want = open(sys.argv[1]).read(), bytes.fromhex(open(sys.argv[2]).read())
block = text.split("Displaying notes found in: .note.solo5.manifest\n")[1]
m = re.search(r"Solo5\s+0x([0-9a-f]+)\s.*description data: ([0-9a-f ]+)", block)
size, data = int(m.group(1), 16), bytes.fromhex(m.group(2))
assert size == len(want) - 20 == len(data), (size, len(want), len(data))
if sys.argv[3].strip() == "01":   # little-endian: the same bytes
    assert data == want[20:], "descriptor differs"
PYEOF
		# exactly one manifest for every reader of every note: readelf -n
		# (by section, else by segment), readelf --segments-notes-only
		# is not a thing, so ukit's notes (every PT_NOTE and section)
		n1=$(grep -c '0x3154464d' "$T/rn.txt")
		n2=$(ukit-elftool notes "$T/out.elf" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(sum(1 for n in d["notes"] if n["owner"] == "Solo5" and n["type"] == 0x3154464d))')
		if [ "$n1" = 1 ] && [ "$n2" = 1 ]; then
			ok "$label: exactly one MFT1 note (readelf -n: $n1, ukit notes: $n2)"
		else
			not_ok "$label: MFT1 notes: readelf -n $n1, ukit notes $n2 (want 1, 1)"
		fi
		# binutils can strip the result (x86_64: the host's strip) without
		# laying the file out anew: no warning, the PT_LOADs where they
		# were (sizes may shrink by the old note's bytes, now in no
		# section), the new manifest still found
		case $label in
		x86_64*)
			if strip -o "$T/st.elf" "$T/out.elf" 2>"$T/st.err" &&
			   [ ! -s "$T/st.err" ]; then
				ok "$label: strip is clean"
			else
				not_ok "$label: strip: $(head -c 300 "$T/st.err")"
			fi
			readelf -lW "$elf" | awk '$1 == "LOAD" { print $2, $3, $4, $7, $8 }' >"$T/l0"
			readelf -lW "$T/st.elf" | awk '$1 == "LOAD" { print $2, $3, $4, $7, $8 }' >"$T/l1"
			same_file "$label: strip keeps the PT_LOADs in place" "$T/l0" "$T/l1"
			ukit-elftool query-manifest "$T/st.elf" >"$T/q2.json" 2>&1
			same_file "$label: stripped, query-manifest is $m's" \
				"$D/$m/query-manifest.json" "$T/q2.json"
			;;
		esac
		# the OpenBSD note's PT_NOTE stays the first PT_NOTE
		readelf -lW "$T/out.elf" | awk '$1 == "NOTE" { print $2; exit }' >"$T/first"
		readelf -lW "$elf" | awk '$1 == "NOTE" { print $2; exit }' >"$T/first0"
		same_file "$label: OpenBSD PT_NOTE still first" "$T/first0" "$T/first"
	fi
	rm -f "$T/out.elf"
}

for arch in x86_64 aarch64 ppc64le; do
	# linker-script layout: headers in the text PT_LOAD, no free space
	if ! bash "$MKELF" -a "$arch" -m "$D/m01-net/note.hex" "$T/k-$arch.elf" 2>"$T/mk.err"; then
		not_ok "mkelf.sh -a $arch"
		sed 's/^/#   /' "$T/mk.err" | head -n 5
		continue
	fi
	edit_case "$arch same size" "$T/k-$arch.elf" m01-net inplace -
	check "$arch same manifest: output identical" \
		sh -c "ukit-elftool set-manifest '$D/m01-net/manifest.json' '$T/k-$arch.elf' -o '$T/o' && cmp '$T/k-$arch.elf' '$T/o'"
	edit_case "$arch smaller" "$T/k-$arch.elf" m00-empty inplace -
	edit_case "$arch larger (repoint)" "$T/k-$arch.elf" m03-net-block repoint -
	edit_case "$arch 63 devices (repoint)" "$T/k-$arch.elf" m63-max repoint -

	# Solo5 hvt layout: free zeros after the program header table
	bash "$MKHVT" -a "$arch" -m "$D/m01-net/note.hex" "$T/h-$arch.elf"
	edit_case "$arch hvt larger (grow)" "$T/h-$arch.elf" m03-net-block grow -
	bash "$MKHVT" -a "$arch" -t 2 -m "$D/m00-empty/note.hex" "$T/s-$arch.elf"
	edit_case "$arch spt larger (grow)" "$T/s-$arch.elf" m63-max grow -
done

# virtio, xen, muen (and genode) read the linked-in note: larger refused,
# smaller in place.
for t in 3:virtio 4:muen 5:genode 6:xen; do
	n=${t%%:*} name=${t#*:}
	bash "$MKELF" -t "$n" -v 1 -m "$D/m01-net/note.hex" "$T/$name.elf"
	echo keep >"$T/existing"
	expect_fail 1 "target $name ($n) reads the manifest linked in as __solo5_mft1_note" \
		"$name: larger manifest refused with the reason" \
		ukit-elftool set-manifest "$D/m03-net-block/manifest.json" "$T/$name.elf" -o "$T/existing"
	check "$name: existing output untouched" grep -qx keep "$T/existing"
	edit_case "$name smaller" "$T/$name.elf" m00-empty inplace -
done
# hvt without any manifest note: a new PT_NOTE after the OpenBSD one, and
# a .note.solo5.manifest section for it
bash "$MKELF" -M "$T/hvt-nomft.elf"
check "hvt without MFT1 note: set-manifest" ukit-elftool set-manifest \
	"$D/m03-net-block/manifest.json" "$T/hvt-nomft.elf" -o "$T/nm.elf"
ukit-elftool query-manifest "$T/nm.elf" >"$T/q.json" 2>"$T/q.err"
same_file "hvt without MFT1 note: query-manifest" \
	"$D/m03-net-block/query-manifest.json" "$T/q.json"
check "hvt without MFT1 note: only the move ranges differ, section added" \
	"$PY" "$T/ranges.py" move "$T/hvt-nomft.elf" "$T/nm.elf" 2
readelf_clean "hvt without MFT1 note: readelf -lnW clean" "$T/nm.elf"
readelf -nW "$T/nm.elf" >"$T/rn.txt" 2>&1
check "hvt without MFT1 note: readelf -n shows .note.solo5.manifest" \
	grep -q "Displaying notes found in: .note.solo5.manifest" "$T/rn.txt"

bash "$MKELF" -t 3 -v 1 -M "$T/virtio-nomft.elf"
expect_fail 1 "no MFT1 note to rewrite" "virtio without MFT1 note: refused" \
	ukit-elftool set-manifest "$D/m01-net/manifest.json" "$T/virtio-nomft.elf" -o "$T/o2"
check "refused: no output created" test ! -e "$T/o2"

# --in-place keeps the mode and replaces the file (through a symlink).
cp "$T/h-x86_64.elf" "$T/ip.elf"
chmod 0751 "$T/ip.elf"
ln -s ip.elf "$T/ip-link"
check "--in-place through a symlink" \
	ukit-elftool set-manifest --in-place "$D/m03-net-block/manifest.json" "$T/ip-link"
check "--in-place: still a symlink" test -L "$T/ip-link"
check "--in-place: mode kept" test "$(stat -c %a "$T/ip.elf")" = 751
ukit-elftool query-manifest "$T/ip.elf" >"$T/q.json"
same_file "--in-place: new manifest" "$D/m03-net-block/query-manifest.json" "$T/q.json"
check "--in-place: no temporary left" sh -c "! ls -a '$T' | grep -q ukit-"

# usage
expect_fail 2 "usage:" "set-manifest without -o or --in-place: exit 2" \
	ukit-elftool set-manifest "$D/m01-net/manifest.json" "$T/h-x86_64.elf"
expect_fail 2 "usage:" "set-manifest with both -o and --in-place: exit 2" \
	ukit-elftool set-manifest --in-place -o "$T/x" "$D/m01-net/manifest.json" "$T/h-x86_64.elf"
expect_fail 1 "not an ELF file" "set-manifest on a non-ELF: exit 1" \
	ukit-elftool set-manifest "$D/m01-net/manifest.json" "$D/m01-net/manifest.json" -o "$T/x"
expect_fail 1 "e_machine 3 (i386): Solo5 builds for x86_64, aarch64 and ppc64le only" \
	"set-manifest on i386 ELF32: exit 1, naming the machine" \
	sh -c "bash '$MKELF' -a i386 '$T/i386.elf' && ukit-elftool set-manifest '$D/m01-net/manifest.json' '$T/i386.elf' -o '$T/x'"

# ---- set-package-metadata ---------------------------------------------
cat >"$T/meta.json" <<'EOF'
{"type":"deb","name":"hello-unikernel","version":"1.2-3","architecture":"amd64","os":"debian","osVersion":"12"}
EOF
bash "$MKELF" -a ppc64 -m "$D/m01-net/note.hex" "$T/k-ppc64.elf"
bash "$MKHVT" -a ppc64 -m "$D/m01-net/note.hex" "$T/h-ppc64.elf"
for f in k-ppc64 h-ppc64; do
	expect_fail 1 "big-endian ppc64 (EI_DATA 2): Solo5 builds for x86_64, aarch64 and ppc64le only" \
		"big-endian ppc64 ($f): set-manifest refused, naming the machine" \
		ukit-elftool set-manifest "$D/m03-net-block/manifest.json" "$T/$f.elf" -o "$T/be.out"
	check "big-endian ppc64 ($f): no output" test ! -e "$T/be.out"
done
for arch in x86_64 aarch64 ppc64le ppc64; do
	[ -f "$T/k-$arch.elf" ] || continue
	sum=$(sha256sum <"$T/k-$arch.elf")
	check "$arch: set-package-metadata" \
		ukit-elftool set-package-metadata "$T/meta.json" "$T/k-$arch.elf" -o "$T/pm.elf"
	check "$arch: set-package-metadata input unchanged" test "$(sha256sum <"$T/k-$arch.elf")" = "$sum"
	readelf_clean "$arch: package metadata readelf -lnW clean" "$T/pm.elf"
	if systemd-analyze inspect-elf --json=short "$T/pm.elf" >"$T/sa.json" 2>"$T/sa.err"; then
		check "$arch: systemd-analyze inspect-elf shows the metadata" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
m = [v for v in j.values() if isinstance(v, dict)]
assert m and m[0] == json.load(open(sys.argv[2])), j
' "$T/sa.json" "$T/meta.json"
	else
		not_ok "$arch: systemd-analyze inspect-elf ($(head -c 200 "$T/sa.err"))"
	fi
	check "$arch: package metadata: only the move ranges differ, new PT_NOTE last" \
		"$PY" "$T/ranges.py" move "$T/k-$arch.elf" "$T/pm.elf" 4 pkg
	check "$arch: package metadata on the hvt layout (grow)" \
		ukit-elftool set-package-metadata "$T/meta.json" "$T/h-$arch.elf" -o "$T/pmh.elf"
	check "$arch: hvt package metadata: only the grow ranges differ" \
		"$PY" "$T/ranges.py" grow "$T/h-$arch.elf" "$T/pmh.elf" 4 pkg
	readelf_clean "$arch: hvt package metadata readelf -lnW clean" "$T/pmh.elf"
	systemd-analyze inspect-elf "$T/pmh.elf" >"$T/sa.txt" 2>&1
	check "$arch: systemd sees the hvt package metadata" grep -q "name: hello-unikernel" "$T/sa.txt"
	for f in pm pmh; do
		readelf -nW "$T/$f.elf" >"$T/rn.txt" 2>&1
		check "$arch: readelf -n shows the metadata in .note.package ($f)" \
			"$PY" - "$T/rn.txt" <<'PYEOF'
import sys
block = open(sys.argv[1]).read().split("Displaying notes found in: .note.package\n")[1]
assert "hello-unikernel" in block.split("Displaying notes")[0]
PYEOF
	done
	ukit-elftool notes "$T/pm.elf" >"$T/notes.json" 2>/dev/null
	check "$arch: notes decodes the FDO note from its own PT_NOTE" "$PY" -c '
import json, sys
n = [x for x in json.load(open(sys.argv[1]))["notes"] if x["owner"] == "FDO"]
assert len(n) == 1 and n[0]["content"]["metadata"] == json.load(open(sys.argv[2])), n
assert n[0]["segment"]["first"] and n[0]["section"]["name"] == ".note.package", n
' "$T/notes.json" "$T/meta.json"
	if [ "$arch" = ppc64 ]; then
		# not a Solo5 target: query-manifest refuses it; notes decodes it
		check "$arch: manifest unaffected by package metadata" "$PY" -c '
import json, subprocess, sys
d = json.loads(subprocess.run(["ukit-elftool", "notes", sys.argv[1]], capture_output=True, check=True).stdout)
m = [n for n in d["notes"] if n["owner"] == "Solo5" and n["type"] == 0x3154464d]
assert len(m) == 1 and [x["name"] for x in m[0]["content"]["devices"]] == ["service"], m
' "$T/pm.elf"
	else
		ukit-elftool query-manifest "$T/pm.elf" >"$T/q.json"
		same_file "$arch: manifest unaffected by package metadata" "$D/m01-net/query-manifest.json" "$T/q.json"
	fi
	# replace it: shorter in place, then longer in a new PT_NOTE first
	echo '{"name":"x"}' >"$T/short.json"
	check "$arch: shorter metadata" \
		ukit-elftool set-package-metadata "$T/short.json" "$T/pm.elf" -o "$T/pm2.elf"
	check "$arch: shorter metadata in place (same size)" \
		test "$(stat -c %s "$T/pm.elf")" = "$(stat -c %s "$T/pm2.elf")"
	systemd-analyze inspect-elf "$T/pm2.elf" >"$T/sa.txt" 2>&1
	check "$arch: systemd sees the shorter metadata" grep -Eq 'name: x$' "$T/sa.txt"
	readelf_clean "$arch: shorter metadata readelf clean" "$T/pm2.elf"
	$PY -c 'import json; print(json.dumps({"name": "y" * 300, "type": "deb"}))' >"$T/long.json"
	check "$arch: longer metadata" \
		ukit-elftool set-package-metadata "$T/long.json" "$T/pm2.elf" -o "$T/pm3.elf"
	systemd-analyze inspect-elf "$T/pm3.elf" >"$T/sa.txt" 2>&1
	check "$arch: systemd sees the longer metadata" grep -q "name: yyyyyyyy" "$T/sa.txt"
	readelf_clean "$arch: longer metadata readelf clean" "$T/pm3.elf"
done
# metadata linked in by the build (its own SHT_NOTE section and PT_NOTE,
# placed first), replaced by a longer one: a new PT_NOTE before it, and
# the section now holds the new note, so readelf -n (by section) and
# systemd (by segment) show the same metadata
"$PY" - "$T/fdo.hex" <<'PYEOF'
import json, struct, sys
d = json.dumps({"name": "linked-in", "type": "deb"}).encode() + b"\0"
d += b"\0" * (-len(d) % 4)
open(sys.argv[1], "w").write((struct.pack("<III", 4, len(d), 0xcafe1a7e)
                              + b"FDO\0" + d).hex())
PYEOF
bash "$MKELF" -a x86_64 -n "$T/fdo.hex" -m "$D/m01-net/note.hex" "$T/lk.elf"
systemd-analyze inspect-elf "$T/lk.elf" >"$T/sa.txt" 2>&1
grep -q "name: linked-in" "$T/sa.txt" ||
	not_ok "fixture: systemd does not see the linked-in metadata"
check "linked-in metadata: replaced by a longer one" \
	ukit-elftool set-package-metadata "$T/long.json" "$T/lk.elf" -o "$T/lk2.elf"
check "linked-in metadata: only the repoint ranges differ, section moved" \
	"$PY" "$T/ranges.py" repoint "$T/lk.elf" "$T/lk2.elf" 1 pkg
systemd-analyze inspect-elf "$T/lk2.elf" >"$T/sa.txt" 2>&1
check "linked-in metadata: systemd sees the new metadata" grep -q "name: yyyyyyyy" "$T/sa.txt"
readelf -nW "$T/lk2.elf" >"$T/rn.txt" 2>&1
check "linked-in metadata: readelf -n shows the new metadata in .note.extra" \
	"$PY" - "$T/rn.txt" <<'PYEOF'
import sys
block = open(sys.argv[1]).read().split("Displaying notes found in: .note.extra\n")[1]
block = block.split("Displaying notes")[0]
assert '"name": "' + "y" * 300 in block and "linked-in" not in block, block[:300]
PYEOF
readelf_clean "linked-in metadata: readelf -lnW clean" "$T/lk2.elf"

printf '{"a":1,"a":2}' >"$T/dup.json"
expect_fail 1 "duplicate" "package metadata with duplicate keys refused" \
	ukit-elftool set-package-metadata "$T/dup.json" "$T/k-x86_64.elf" -o "$T/x"
printf '[1,2]' >"$T/arr.json"
expect_fail 1 "JSON object" "package metadata not an object refused" \
	ukit-elftool set-package-metadata "$T/arr.json" "$T/k-x86_64.elf" -o "$T/x"
check "refused metadata: no output" test ! -e "$T/x"

# ---- kill -9 in the middle of a large set-manifest ----------------------
# 512 MiB of written data after the ELF makes the copy take a while; kill
# it once it holds its output open: no output, no temporary, input as it was.
cp "$T/h-x86_64.elf" "$T/big.elf"
sz0=$(stat -c %s "$T/big.elf")
dd if=/dev/zero bs=1M count=512 oflag=append conv=notrunc of="$T/big.elf" status=none
mkdir "$T/kill"
before=$(stat -c '%s %Y' "$T/big.elf")$(head -c 1M "$T/big.elf" | sha256sum)
ukit-elftool set-manifest "$D/m03-net-block/manifest.json" "$T/big.elf" -o "$T/kill/out.elf" &
pid=$!
killed=0
for _ in $(seq 1 400); do
	if ls -l /proc/$pid/fd 2>/dev/null | grep -q "$T/kill"; then
		kill -9 $pid && killed=1
		break
	fi
	sleep 0.005
done
wait $pid 2>/dev/null
if [ $killed = 1 ]; then
	ok "kill -9 during set-manifest (output was open)"
	check "kill -9: no output" test ! -e "$T/kill/out.elf"
	check "kill -9: no temporary file" test -z "$(ls -A "$T/kill")"
else
	not_ok "kill -9: the copy finished before it could be killed"
fi
after=$(stat -c '%s %Y' "$T/big.elf")$(head -c 1M "$T/big.elf" | sha256sum)
check "kill -9: input unchanged" test "$before" = "$after"
rm -f "$T/big.elf"
diag "fixture size before padding: $sz0"

done_testing
