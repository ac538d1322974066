#!/bin/bash
# t23-tender-view: query-manifest and query-abi see an executable as the
# Solo5 tenders do.  Linked test kernels (mkhvt.sh: hvt layout; mkelf.sh:
# headers in the text segment), truncated and damaged (elfmut.py), are
# judged by tests/gen/tender_model.py, an independent model of Solo5's
# tenders/common/elf.c note loader: what it accepts ukit queries (the same
# bytes as solo5-elftool prints), what it finds no note in ukit says so,
# what it refuses ukit refuses.  A damaged or cut-off section header table
# (the tenders never read it) does not stop a query; notes reports it in
# "section_table_error" and a warning, validate as an error.
. "$(dirname "$0")/lib.sh"
MUT="$PY $TOP/tests/gen/elfmut.py"
MODEL="$PY $TOP/tests/gen/tender_model.py"
D=$SHARED/data/solo5

# facts FILE: shell assignments S (size), SHOFF, PHOFF, PHNUM, END (end of
# the last non-empty segment), ABI and MFT (index of their PT_NOTE) and
# MFTOFF (file offset of the MFT1 note), OBSD (the first PT_NOTE)
facts() {
	"$PY" - "$1" <<'PYEOF'
import struct, sys
b = open(sys.argv[1], 'rb').read()
phoff, shoff = struct.unpack_from('<QQ', b, 32)
phnum, = struct.unpack_from('<H', b, 56)
end, abi, mft, mftoff, obsd = 0, -1, -1, -1, -1
for i in range(phnum):
    t, _, o, _, _, fs = struct.unpack_from('<IIQQQQ', b, phoff + 56 * i)
    if fs:
        end = max(end, o + fs)
    if t == 4:
        if obsd < 0:
            obsd = i
        typ, = struct.unpack_from('<I', b, o + 8)
        if typ == 0x31494241: abi = i
        if typ == 0x3154464d: mft, mftoff = i, o
print('S=%d SHOFF=%d PHOFF=%d PHNUM=%d END=%d ABI=%d MFT=%d MFTOFF=%d OBSD=%d'
      % (len(b), shoff, phoff, phnum, end, abi, mft, mftoff, obsd))
PYEOF
}

# judge LABEL FILE: for query-manifest and query-abi, ukit's answer is the
# model's.  Sets $accepted to the number of queries that succeeded.
judge() {
	local label=$1 f=$2 cmd kind want ref rc
	accepted=0
	for kind in mft abi; do
		if [ $kind = mft ]; then
			cmd=query-manifest ref=$D/m03-net-block/query-manifest.json
		else
			cmd=query-abi ref=$D/query-abi-hvt.json
		fi
		want=$($MODEL "$f" $kind)
		ukit-elftool $cmd "$f" >"$T/q.out" 2>"$T/q.err"
		rc=$?
		case $want in
		accept*)
			if [ $rc -eq 0 ] && cmp -s "$T/q.out" "$ref"; then
				ok "$label: $cmd accepted, as the tender does"
				accepted=$((accepted + 1))
			else
				not_ok "$label: $cmd: the tender accepts, ukit exit $rc: $(head -c 300 "$T/q.err")"
			fi ;;
		absent)
			if [ $rc -eq 1 ] && grep -q "no Solo5 .* found in executable" "$T/q.err"; then
				ok "$label: $cmd: no note, as the tender finds none"
			else
				not_ok "$label: $cmd: the tender finds no note, ukit exit $rc: $(head -c 300 "$T/q.err")"
			fi ;;
		refuse*)
			if [ $rc -eq 1 ] && [ ! -s "$T/q.out" ] &&
			   grep -q "^ukit-elftool: $f" "$T/q.err" &&
			   ! grep -q "no Solo5 .* found" "$T/q.err"; then
				ok "$label: $cmd refused, as the tender refuses (${want#refuse })"
			else
				not_ok "$label: $cmd: the tender refuses (${want#refuse }), ukit exit $rc: $(head -c 300 "$T/q.err")"
			fi ;;
		esac
	done
}

for arch in x86_64 aarch64; do
	for layout in hvt k; do
		base=$T/$layout-$arch.elf
		if [ $layout = hvt ]; then
			bash "$TOP/tests/gen/mkhvt.sh" -a $arch -m "$D/m03-net-block/note.hex" "$base"
		else
			bash "$TOP/tests/gen/mkelf.sh" -a $arch -m "$D/m03-net-block/note.hex" "$base"
		fi
		eval "$(facts "$base")"
		judge "$layout-$arch as linked" "$base"

		# The section header table, damaged or cut off: the tender
		# loads the file, and ukit queries it.
		n=0
		while IFS='|' read -r label edits; do
			n=$((n + 1))
			f=$T/sh$n-$layout-$arch.elf
			# shellcheck disable=SC2086
			$MUT "$base" "$f" $edits
			judge "$layout-$arch: $label" "$f"
			if ! readelf -SW "$f" >/dev/null 2>"$T/re.err" || [ -s "$T/re.err" ]; then
				ok "$layout-$arch: $label: readelf -S does complain"
			else
				not_ok "$layout-$arch: $label: readelf -S reads it cleanly (not a damaged table)"
			fi
			[ "$accepted" = 2 ] || continue
			ukit-elftool notes "$f" >"$T/n.json" 2>"$T/n.err"
			rc=$?
			if [ $rc -eq 0 ] && "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["section_table_error"]["message"], d
m = [n for n in d["notes"] if n["owner"] == "Solo5" and n["type"] == 0x3154464d]
assert len(m) == 1 and "segment" in m[0], m
' "$T/n.json" && grep -q "^ukit-elftool: warning: $f: a Solo5 tender loads" "$T/n.err"; then
				ok "$layout-$arch: $label: notes lists the PT_NOTEs and reports the table"
			else
				not_ok "$layout-$arch: $label: notes (exit $rc): $(head -c 300 "$T/n.err")"
			fi
			validate_json "$layout-$arch: $label: notes output matches its schema" \
				elftool-notes.schema.json "$T/n.json"
			expect_fail 1 "a Solo5 tender loads the executable, but readelf, strip and debuggers cannot read its sections" \
				"$layout-$arch: $label: validate reports the section table" \
				ukit-elftool validate "$f"
			ukit-elftool validate --json "$f" >"$T/v.json" 2>/dev/null
			check "$layout-$arch: $label: validate --json: invalid, section_table_error" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["valid"] is False and d["kind"] == "executable" and d["devices"] == 2, d
assert d["abi"] == {"target": "hvt", "version": 2} and d["section_table_error"]["message"], d
' "$T/v.json"
			validate_json "$layout-$arch: $label: validate --json matches its schema" \
				elftool-validate.schema.json "$T/v.json"
		done <<EOF2
truncated in the section header table|truncate $((SHOFF + 100))
truncated at the section header table|truncate $SHOFF
truncated after the last segment|truncate $END
e_shoff past the end of the file|ehdr shoff $((S + 4096))
e_shentsize 32|ehdr shentsize 32
e_shnum 0xfff0|ehdr shnum 0xfff0
EOF2
		check "$layout-$arch: validate accepts the intact kernel" \
			ukit-elftool validate "$base"
		ukit-elftool validate --json "$base" >"$T/v.json"
		check "$layout-$arch: validate --json: valid, hvt ABI 2, 2 devices" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d == {"path": sys.argv[2], "kind": "executable", "valid": True, "devices": 2,
             "abi": {"target": "hvt", "version": 2}}, d
' "$T/v.json" "$base"
		validate_json "$layout-$arch: validate --json matches its schema" \
			elftool-validate.schema.json "$T/v.json"

		# Header bytes a tender does not read: accepted.
		$MUT "$base" "$T/v.elf" poke 6 0
		judge "$layout-$arch: e_ident[EI_VERSION] 0" "$T/v.elf"
		$MUT "$base" "$T/v.elf" poke 7 9
		judge "$layout-$arch: EI_OSABI FreeBSD" "$T/v.elf"

		# What a tender refuses (or finds no note in).
		while IFS='|' read -r label edits; do
			# shellcheck disable=SC2086
			$MUT "$base" "$T/r.elf" $edits
			judge "$layout-$arch: $label" "$T/r.elf"
		done <<EOF2
e_version 0|ehdr version 0
e_ehsize 52|ehdr ehsize 52
e_phentsize 32|ehdr phentsize 32
e_phnum 0|ehdr phnum 0
ET_DYN|ehdr type 3
ELF32 class|ehdr class 1
big-endian byte order|ehdr data 2
e_machine arm|ehdr machine 40
truncated in the ELF header|truncate 40
truncated in the program header table|truncate $((PHOFF + 56 * PHNUM - 1))
truncated in the MFT1 note|truncate $((MFTOFF + 30))
truncated in the MFT1 note header|truncate $((MFTOFF + 10))
first PT_NOTE of 8 bytes|phdr $OBSD filesz 8
MFT1 PT_NOTE of 16 bytes (skipped)|phdr $MFT filesz 16
MFT1 PT_NOTE of 0 bytes|phdr $MFT filesz 0
MFT1 note of another type|note $MFT type 0x12345678
MFT1 descsz 0|note $MFT descsz 0
MFT1 descsz past its PT_NOTE|note $MFT descsz 0x1000
MFT1 namesz 5|note $MFT namesz 5
ABI1 descsz 33|note $ABI descsz 33
EOF2
	done
done
done_testing
