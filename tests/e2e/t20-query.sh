#!/bin/bash
# t20-query: query-manifest and query-abi print byte for byte what
# solo5-elftool prints (../shared/data/solo5), on x86_64, aarch64 and
# ppc64le ELFs; big-endian ppc64 and other machines Solo5 does not build for
# are refused, naming the machine; hostile ELFs exit 1 with the reason and
# never crash; a PT_NOTE too small for a note header is refused, as the
# tenders refuse it (t23 has the tender's view in full).
. "$(dirname "$0")/lib.sh"
MKELF="bash $TOP/tests/gen/mkelf.sh"
MUT="$PY $TOP/tests/gen/elfmut.py"
D=$SHARED/data/solo5

for arch in x86_64 aarch64 ppc64le; do
	for c in m00-empty m01-net m03-net-block m63-max; do
		$MKELF -a $arch -m "$D/$c/note.hex" "$T/$arch-$c.elf"
		ukit-elftool query-manifest "$T/$arch-$c.elf" >"$T/out.json" 2>"$T/err"
		rc=$?
		if [ $rc -eq 0 ] && cmp -s "$T/out.json" "$D/$c/query-manifest.json"; then
			ok "query-manifest $arch $c byte-identical to solo5-elftool"
		else
			not_ok "query-manifest $arch $c (exit $rc: $(head -c 300 "$T/err"))"
		fi
	done
	validate_json "query-manifest $arch m03 output matches its schema" \
		solo5-query-manifest.schema.json "$T/out.json"
	for tv in hvt:1:2 spt:2:2 virtio:3:1 muen:4:4 genode:5:1 xen:6:1; do
		IFS=: read -r name t v <<<"$tv"
		$MKELF -a $arch -t "$t" -v "$v" "$T/abi.elf"
		ukit-elftool query-abi "$T/abi.elf" >"$T/abi.json" 2>"$T/err"
		rc=$?
		if [ $rc -eq 0 ] && cmp -s "$T/abi.json" "$D/query-abi-$name.json"; then
			ok "query-abi $arch $name byte-identical to solo5-elftool"
		else
			not_ok "query-abi $arch $name (exit $rc: $(head -c 300 "$T/err"))"
		fi
	done
	validate_json "query-abi $arch output matches its schema" \
		solo5-query-abi.schema.json "$T/abi.json"
done

# Machines Solo5 does not build for: refused, naming the machine.
$MKELF -a ppc64 -m "$D/m01-net/note.hex" "$T/be.elf"
for cmd in query-manifest query-abi; do
	expect_fail 1 "big-endian ppc64 (EI_DATA 2): Solo5 builds for x86_64, aarch64 and ppc64le only" \
		"$cmd: big-endian ppc64 refused, naming it" ukit-elftool $cmd "$T/be.elf"
done
for mt in 40:arm 243:riscv 3:i386 22:s390 8:mips 183:aarch64 62:x86_64 21:ppc64le; do
	IFS=: read -r num name <<<"$mt"
	$MUT "$T/x86_64-m01-net.elf" "$T/mach.elf" ehdr machine "$num"
	case $name in
	aarch64|x86_64|ppc64le)
		check "e_machine $num ($name): accepted" \
			ukit-elftool query-manifest "$T/mach.elf" ;;
	*)
		expect_fail 1 "e_machine $num ($name): Solo5 builds for x86_64, aarch64 and ppc64le only" \
			"e_machine $num ($name) refused, naming it" \
			ukit-elftool query-manifest "$T/mach.elf" ;;
	esac
done

# Unknown target: "unknown", as solo5-elftool.
$MKELF -t 77 -v 3 "$T/u.elf"
check "query-abi unknown target" sh -c \
	"ukit-elftool query-abi '$T/u.elf' | grep -q '\"target\": \"unknown\"'"

# Empty PT_NOTEs (p_filesz 0) before the manifest: a Solo5 tender refuses
# the executable (p_filesz below a note header), and so does ukit.
$MKELF -e 3 -m "$D/m03-net-block/note.hex" "$T/empty.elf"
expect_fail 1 "PT_NOTE of 0 bytes, too small for a note header (12): a Solo5 tender refuses the executable" \
	"empty PT_NOTEs before the manifest: refused as the tender refuses" \
	ukit-elftool query-manifest "$T/empty.elf"
# A PT_NOTE of 8 bytes (< a note header) before it: refused as well.
$MUT "$T/empty.elf" "$T/short.elf" phdr 2 filesz 8 phdr 2 offset 0x40
expect_fail 1 "PT_NOTE of 8 bytes, too small for a note header (12)" \
	"an 8-byte PT_NOTE before the manifest: refused" \
	ukit-elftool query-manifest "$T/short.elf"

# A name needing escapes gives valid JSON: patch "service" -> "se\"v\ne".
$MKELF -m "$D/m01-net/note.hex" "$T/esc.elf"
off=$(grep -obUaP 'service\x00' "$T/esc.elf" | head -n 1 | cut -d: -f1)
$MUT "$T/esc.elf" "$T/esc.elf" poke $((off + 2)) 0x22 poke $((off + 4)) 0x0a
ukit-elftool query-manifest "$T/esc.elf" >"$T/out.json" 2>"$T/err"
check "a name with a quote and a newline is JSON-escaped" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["devices"][0]["name"] == "se\"v\nce", d
' "$T/out.json"

# Hostile inputs: exit 1 and the reason.
base="$T/x86_64-m01-net.elf"
size=$(stat -c %s "$base")
$MUT "$base" "$T/h1" truncate 40
expect_fail 1 "file too short for an ELF64 header (40 < 64 bytes)" \
	"truncated in the ELF header" ukit-elftool query-manifest "$T/h1"
$MUT "$base" "$T/h2" ehdr phoff $((size - 8))
expect_fail 1 "program header table extends past end of file" \
	"program headers outside the file" ukit-elftool query-manifest "$T/h2"
$MUT "$base" "$T/h3" phdr 3 offset $((size - 16))
expect_fail 1 "phdr[3]: note header: read of 0x14 bytes extends past end of file" \
	"manifest PT_NOTE outside the file" ukit-elftool query-manifest "$T/h3"
$MUT "$base" "$T/h4" note 3 descsz 0x1000
expect_fail 1 "phdr[3]: Solo5 MFT1 note extends past end of its PT_NOTE" \
	"descsz larger than the PT_NOTE" ukit-elftool query-manifest "$T/h4"
$MUT "$base" "$T/h5" note 3 descsz 0xffffffff
expect_fail 1 "Solo5 MFT1 note descriptor size 4294967295 outside 1..6668" \
	"descsz 0xffffffff" ukit-elftool query-manifest "$T/h5"
$MUT "$base" "$T/h6" note 3 descsz 0x70
expect_fail 1 "Solo5 manifest" "MFT1 descsz disagreeing with its entries" \
	ukit-elftool query-manifest "$T/h6"
$MUT "$base" "$T/h7" note 2 descsz 4
expect_fail 1 "ABI1 descriptor too short (4 < 8 bytes" \
	"ABI1 descriptor shorter than 8 bytes (Solo5 over-reads)" \
	ukit-elftool query-abi "$T/h7"
$MKELF -M "$T/h8"
expect_fail 1 "no Solo5 manifest found in executable" "no manifest" \
	ukit-elftool query-manifest "$T/h8"
$MKELF -A "$T/h9"
expect_fail 1 "no Solo5 ABI information found" "no ABI note" \
	ukit-elftool query-abi "$T/h9"
$MKELF -a i386 "$T/h10"
expect_fail 1 "ELF32 file: Solo5 executables are ELF64" "32-bit class" \
	ukit-elftool query-manifest "$T/h10"
$MUT "$base" "$T/h11" ehdr type 3
expect_fail 1 "e_type 3 is not ET_EXEC" "ET_DYN" \
	ukit-elftool query-manifest "$T/h11"
{ printf 'MZ'; head -c 100 /dev/zero; } >"$T/h12"
expect_fail 1 "not an ELF file" "not an ELF file" \
	ukit-elftool query-abi "$T/h12"
expect_fail 1 "cannot open: No such file" "missing file" \
	ukit-elftool query-abi "$T/nonexistent"
expect_fail 1 "usage:" "no operand: exit 1 (Solo5's contract)" \
	ukit-elftool query-manifest
expect_fail 1 "usage:" "two operands: exit 1" \
	ukit-elftool query-abi "$base" "$base"
# start-up: the dynamic loader maps nothing but the C library (and the
# sanitizers' runtime in a SAN build); ELFTOOL_STATIC=0 builds differ
if [ "${ELFTOOL_STATIC:-1}" = 1 ]; then
	libs=$(readelf -d "$UKIT_BIN/ukit-elftool" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
		grep -Ev '^(libc\.so\.6|libasan\.so.*|libubsan\.so.*|libm\.so\.6|libstdc\+\+\.so.*|libgcc_s\.so.*)$' | tr '\n' ' ')
	if [ -z "$libs" ]; then
		ok "ukit-elftool loads no shared library but the C library at start"
	else
		not_ok "ukit-elftool loads $libs at start"
	fi
fi
done_testing
