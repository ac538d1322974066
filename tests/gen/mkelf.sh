#!/bin/bash
# mkelf.sh: build a minimal Solo5-style unikernel ELF (ET_EXEC) for tests.
#
# usage: mkelf.sh [options] OUT
#   -a ARCH     x86_64 (default), aarch64, ppc64le, ppc64 (big-endian ELF64,
#               built with powerpc64le-linux-gnu-gcc -mbig-endian), i386
#               (ELF32, for the "32-bit class" case)
#   -m FILE     MFT1 note from FILE, `xxd -p` text of the whole note as in
#               ../shared/data/solo5/*/note.hex (little-endian; integers are
#               re-emitted in the target's byte order).  Default: m00-empty.
#   -M          no manifest note
#   -t N -v N   ABI1 target and version (default 1 and 2: hvt, version 2)
#   -A          no ABI1 note
#   -e N        N empty PT_NOTEs (p_filesz 0) before the manifest's
#   -b          a GNU build-id note (-Wl,--build-id=sha1) in a PT_NOTE
#   -g          a GNU property note (x86_64: IBT and SHSTK, aarch64: BTI
#               and PAC), in its own PT_NOTE
#   -n FILE     one more note, raw `xxd -p` bytes (copied as-is, so it must
#               already be in the target's byte order), in its own PT_NOTE
#               placed first, before the OpenBSD one
#   -d FILE     .incbin FILE into a writable PT_LOAD after the notes (real
#               data, e.g. for the 1 GiB benchmark)
#   -S          no section header table (e_shoff, e_shnum, e_shstrndx set
#               to 0 with elfmut.py), so only PT_NOTEs carry notes
#
# Hostile variants: patch the result with elfmut.py (see its usage).
#
# Layout (linker script with PHDRS, like Solo5's): PT_LOAD text with the
# file and program headers; PT_NOTE OpenBSD identification note (first, as
# Solo5 requires); [-e empty PT_NOTEs]; PT_NOTE ABI1; PT_NOTE MFT1;
# [PT_NOTE build-id]; [PT_NOTE GNU property]; [PT_LOAD data].
#
# Examples:
#   mkelf.sh -a aarch64 -m ../shared/data/solo5/m01-net/note.hex k.elf
#   mkelf.sh -a ppc64 -t 3 -v 1 -M virtio-be.elf
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-/usr/bin/python3}
arch=x86_64 mft="$here/../../../shared/data/solo5/m00-empty/note.hex"
nomft=0 noabi=0 target=1 version=2 nempty=0 buildid=0 prop=0 extra= data= strip=0
while getopts a:m:Mt:v:Ae:bgn:d:S opt; do
	case $opt in
	a) arch=$OPTARG ;;
	m) mft=$OPTARG ;;
	M) nomft=1 ;;
	t) target=$OPTARG ;;
	v) version=$OPTARG ;;
	A) noabi=1 ;;
	e) nempty=$OPTARG ;;
	b) buildid=1 ;;
	g) prop=1 ;;
	n) extra=$OPTARG ;;
	d) data=$OPTARG ;;
	S) strip=1 ;;
	*) sed -n '2,/^set -eu/p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "mkelf.sh: need OUT" >&2; exit 2; }
out=$1

cflags=(-nostdlib -static -no-pie)
case $arch in
x86_64) cc=gcc ;;
aarch64) cc=aarch64-linux-gnu-gcc ;;
ppc64le) cc=powerpc64le-linux-gnu-gcc ;;
ppc64) cc=powerpc64le-linux-gnu-gcc
	cflags+=(-mbig-endian -Wl,-EB -Wl,-m,elf64ppc) ;;
i386) cc=gcc cflags+=(-m32) ;;
*) echo "mkelf.sh: unknown arch $arch" >&2; exit 2 ;;
esac

w=$(mktemp -d "${TMPDIR:-/tmp}/mkelf.XXXXXX")
trap 'rm -rf "$w"' EXIT

{
	if [ -n "$extra" ]; then
		printf '\t.section .note.extra,"a",@note\n\t.balign 4\n'
		"$PY" "$here/note2asm.py" --raw "$extra"
	fi
	printf '\t.section .note.solo5.not_openbsd,"a",@note\n\t.balign 4\n'
	printf '\t.long 8, 4, 1\n\t.asciz "OpenBSD"\n\t.long 0\n'
	if [ "$noabi" = 0 ]; then
		printf '\t.section .note.solo5.abi,"a",@note\n\t.balign 4\n'
		printf '\t.long 6, 16, 0x31494241\n\t.asciz "Solo5"\n\t.balign 4\n'
		printf '\t.long %s, %s, 0, 0\n' "$target" "$version"
	fi
	if [ "$nomft" = 0 ]; then
		printf '\t.section .note.solo5.manifest,"a",@note\n\t.balign 4\n'
		"$PY" "$here/note2asm.py" "$mft"
	fi
	if [ "$prop" = 1 ]; then
		# The property linkers keep only when every input has it: IBT and
		# SHSTK on x86, BTI and PAC on aarch64 (value 3 on both).
		case $arch in
		x86_64) pt=0xc0000002 ;;
		aarch64) pt=0xc0000000 ;;
		*) echo "mkelf.sh: -g needs x86_64 or aarch64" >&2; exit 2 ;;
		esac
		printf '\t.section .note.gnu.property,"a",@note\n\t.balign 8\n'
		printf '\t.long 4, 16, 5\n\t.asciz "GNU"\n\t.long %s, 4, 3, 0\n' "$pt"
	fi
	if [ -n "$data" ]; then
		printf '\t.section .data,"aw"\n\t.incbin "%s"\n' "$data"
	fi
	printf '\t.section .note.GNU-stack,"",@progbits\n'
	printf '\t.text\n\t.globl _start\n_start:\n\tnop\n'
} >"$w/k.S"

{
	echo 'ENTRY(_start)'
	echo 'PHDRS {'
	echo '  text PT_LOAD FILEHDR PHDRS;'
	[ -n "$extra" ] && echo '  note.extra PT_NOTE;'
	echo '  note.not_openbsd PT_NOTE;'
	for i in $(seq 1 "$nempty"); do echo "  note.empty$i PT_NOTE;"; done
	[ "$noabi" = 0 ] && echo '  note.abi PT_NOTE;'
	[ "$nomft" = 0 ] && echo '  note.manifest PT_NOTE;'
	[ "$buildid" = 1 ] && echo '  note.buildid PT_NOTE;'
	[ "$prop" = 1 ] && echo '  note.prop PT_NOTE;'
	[ -n "$data" ] && echo '  data PT_LOAD;'
	echo '}'
	echo 'SECTIONS {'
	echo '  . = 0x10000000 + SIZEOF_HEADERS;'
	[ -n "$extra" ] && echo '  .note.extra : { *(.note.extra) } :text :note.extra'
	echo '  .note.solo5.not_openbsd : { *(.note.solo5.not_openbsd) } :text :note.not_openbsd'
	for i in $(seq 1 "$nempty"); do echo "  .note.empty$i : { } :text :note.empty$i"; done
	[ "$noabi" = 0 ] && echo '  .note.solo5.abi : { *(.note.solo5.abi) } :text :note.abi'
	[ "$nomft" = 0 ] && echo '  .note.solo5.manifest : { *(.note.solo5.manifest) } :text :note.manifest'
	[ "$buildid" = 1 ] && echo '  .note.gnu.build-id : { *(.note.gnu.build-id) } :text :note.buildid'
	[ "$prop" = 1 ] && echo '  .note.gnu.property : { *(.note.gnu.property) } :text :note.prop'
	echo '  .text : { *(.text*) } :text'
	if [ -n "$data" ]; then
		echo '  . = ALIGN(0x10000);'
		echo '  .data : { *(.data*) } :data'
	fi
	echo '  /DISCARD/ : { *(.comment) *(.note.GNU-stack) *(.eh_frame*) }'
	echo '}'
} >"$w/k.ld"

srcs=("$w/k.S")
bid=-Wl,--build-id=none
[ "$buildid" = 1 ] && bid=-Wl,--build-id=sha1
"$cc" "${cflags[@]}" -Wl,-T,"$w/k.ld" $bid -o "$w/k" "${srcs[@]}"
if [ "$strip" = 1 ]; then
	"$PY" "$here/elfmut.py" "$w/k" "$w/k" ehdr shoff 0 ehdr shnum 0 ehdr shstrndx 0
fi
mv "$w/k" "$out"
