#!/bin/bash
# t21-notes: `ukit-elftool notes` lists every note readelf -nW lists (same
# owners, sizes, container offsets, build-id, ABI tag), decodes Solo5, GNU,
# Xen and FDO notes, matches its schema, and fails on malformed notes.
. "$(dirname "$0")/lib.sh"
MKELF="bash $TOP/tests/gen/mkelf.sh"
MUT="$PY $TOP/tests/gen/elfmut.py"
D=$SHARED/data/solo5
SCHEMA=elftool-notes.schema.json

# Extra notes (little-endian): Xen PHYS32_ENTRY (int), Xen GUEST_OS
# (string), FDO package metadata (JSON text), FDO with text that is not JSON.
"$PY" - "$T/extra.hex" <<'EOF'
import struct, sys
def note(name, ntype, desc):
    n = name.encode() + b"\0"
    b = struct.pack("<III", len(n), len(desc), ntype) + n
    b += bytes(-len(b) % 4) + desc
    return b + bytes(-len(b) % 4)
b = note("Xen", 18, struct.pack("<I", 0x100000))
b += note("Xen", 6, b"Solo5\0")
b += note("FDO", 0xcafe1a7e, b'{"type":"rpm","name":"hello","version":"1.2"}\0')
b += note("FDO", 0xcafe1a7e, b"not json\0")
open(sys.argv[1], "w").write(b.hex())
EOF

$MKELF -a x86_64 -b -g -n "$T/extra.hex" -m "$D/m03-net-block/note.hex" \
	"$T/k.elf"
check "notes on x86_64 with build-id, property, Xen, FDO notes" \
	sh -c "ukit-elftool notes '$T/k.elf' >'$T/k.json'"
validate_json "notes output matches its schema" $SCHEMA "$T/k.json"
run_ok "notes --json" "$T/k2.json" ukit-elftool notes --json "$T/k.elf"
same_file "--json gives the same output as the default" "$T/k.json" "$T/k2.json"

# Same notes as readelf -nW (sections), in order: owner and size.
readelf -nW "$T/k.elf" >"$T/readelf.txt" 2>&1
cat >"$T/cmp.py" <<'EOF'
import json, re, sys
mode, ours, theirs = sys.argv[1], json.load(open(sys.argv[2])), open(sys.argv[3]).read()
notes = ours["notes"]
rows = re.findall(r"^  (\S+)\s+0x([0-9a-f]{8})\t", theirs, re.M)
r = [(o, int(s, 16)) for o, s in rows]
if mode == "sections":
    mine = sorted((n for n in notes if n["section"]), key=lambda n: (n["section"]["index"], n["offset"]))
else:
    mine = sorted((n for n in notes if n["segment"]), key=lambda n: (n["segment"]["index"], n["offset"]))
    offs = [int(x, 16) for x in re.findall(r"found at file offset (0x[0-9a-f]+)", theirs)]
    firsts = [n["offset"] for n in mine if n["segment"]["first"]]
    assert offs == firsts, (offs, firsts)
m = [(n["owner"], n["descsz"]) for n in mine]
assert m == r, (m, r)
bid = re.findall(r"Build ID: ([0-9a-f]+)", theirs)
assert bid == [n["content"]["build_id"] for n in mine if n.get("type_name") == "NT_GNU_BUILD_ID"], bid
tag = re.findall(r"OS: (\S+), ABI: (\S+)", theirs)
assert tag == [(n["content"]["os"], n["content"]["version"]) for n in mine if n.get("type_name") == "NT_GNU_ABI_TAG"], tag
props = re.findall(r"Properties: (.*)$", theirs, re.M)
mp = [n["content"]["properties"] for n in mine if n.get("type_name") == "NT_GNU_PROPERTY_TYPE_0"]
assert len(props) == len(mp), (props, mp)
for text, pl in zip(props, mp):
    for p in pl:
        for f in p.get("features", []):
            assert f in text, (f, text)
print(len(m), "notes agree")
EOF
check "same notes as readelf -nW (sections: owners, sizes, build-id, properties)" \
	"$PY" "$T/cmp.py" sections "$T/k.json" "$T/readelf.txt"

# Without section headers readelf reads PT_NOTEs: same container offsets.
$MKELF -a aarch64 -b -g -S -e 2 "$T/s.elf"
ukit-elftool notes "$T/s.elf" >"$T/s.json"
readelf -nW "$T/s.elf" >"$T/readelf.txt" 2>&1
check "same notes and PT_NOTE offsets as readelf -nW (segments)" \
	"$PY" "$T/cmp.py" segments "$T/s.json" "$T/readelf.txt"
validate_json "segment-only output matches its schema" $SCHEMA "$T/s.json"

# Decoded content.
check "Solo5, GNU, Xen and FDO notes decoded" "$PY" - "$T/k.json" "$D/m03-net-block/query-manifest.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
by = {}
for n in d["notes"]:
    by.setdefault(n.get("type_name", n["owner"]), []).append(n)
assert by["SOLO5_MFT1"][0]["content"] == json.load(open(sys.argv[2]))
assert by["SOLO5_MFT1"][0]["segment"]["first"] is True
assert by["SOLO5_ABI1"][0]["content"] == {"target": "hvt", "target_id": 1, "version": 2}
p = by["NT_GNU_PROPERTY_TYPE_0"][0]["content"]["properties"][0]
assert p["name"] == "GNU_PROPERTY_X86_FEATURE_1_AND" and p["features"] == ["IBT", "SHSTK"], p
assert by["XEN_ELFNOTE_PHYS32_ENTRY"][0]["content"] == {"value": 0x100000}
assert by["XEN_ELFNOTE_GUEST_OS"][0]["content"] == {"value": "Solo5"}
f = by["NT_FDO_PACKAGING_METADATA"]
assert f[0]["content"] == {"metadata": {"type": "rpm", "name": "hello", "version": "1.2"}}, f[0]
assert f[1]["content"] == {"text": "not json"}, f[1]
assert by["NT_OPENBSD_IDENT"][0]["segment"]["first"] is True
EOF

# A real gcc program: build-id and ABI tag as readelf decodes them.
if echo 'int main(void) { return 0; }' | gcc -x c - -Wl,--build-id=sha1 -o "$T/prog" 2>"$T/err"; then
	ukit-elftool notes "$T/prog" >"$T/p.json"
	readelf -nW "$T/prog" >"$T/readelf.txt" 2>&1
	check "gcc -Wl,--build-id: build-id and ABI tag equal readelf's" \
		"$PY" "$T/cmp.py" sections "$T/p.json" "$T/readelf.txt"
	check "the build-id is 20 bytes of hex" sh -c \
		"grep -q '\"build_id\": \"[0-9a-f]\\{40\\}\"' '$T/p.json'"
	validate_json "gcc program notes match the schema" $SCHEMA "$T/p.json"
else
	missing "gcc could not link a program"
fi

# Big-endian ELF64 and ELF32.
$MKELF -a ppc64 -t 3 -v 1 -m "$D/m01-net/note.hex" "$T/be.elf"
ukit-elftool notes "$T/be.elf" >"$T/be.json"
check "big-endian ppc64: ABI1 and MFT1 decoded" "$PY" - "$T/be.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["data"] == "big-endian" and d["machine_name"] == "ppc64"
c = {n.get("type_name"): n.get("content") for n in d["notes"]}
assert c["SOLO5_ABI1"]["target"] == "virtio", c
assert c["SOLO5_MFT1"]["devices"] == [{"name": "service", "type": "NET_BASIC"}], c
EOF
$MKELF -a i386 "$T/32.elf"
check "ELF32: notes are listed" sh -c \
	"ukit-elftool notes '$T/32.elf' | grep -q '\"class\": \"ELF32\"'"

# Malformed: a note's descsz past its PT_NOTE; 16-byte alignment; usage.
$MUT "$T/s.elf" "$T/bad.elf" note 1 descsz 0x10000
expect_fail 1 "phdr[1]: note descriptor extends past end of its container" \
	"notes: descsz past the PT_NOTE exits 1" ukit-elftool notes "$T/bad.elf"
$MUT "$T/s.elf" "$T/bad2.elf" phdr 1 align 16
expect_fail 1 "phdr[1]: note alignment 16, expected 4 or 8" \
	"notes: alignment 16 exits 1" ukit-elftool notes "$T/bad2.elf"
expect_fail 2 "usage:" "notes without a file: usage, exit 2" ukit-elftool notes
expect_fail 2 "usage:" "notes with an unknown option: exit 2" \
	ukit-elftool notes --frob "$T/k.elf"
expect_fail 1 "No such file" "notes on a missing file: exit 1" \
	ukit-elftool notes "$T/missing"
done_testing
