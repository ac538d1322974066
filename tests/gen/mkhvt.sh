#!/bin/bash
# mkhvt.sh: build a tiny Solo5 hvt-style unikernel (ET_EXEC) laid out like
# Solo5's bindings/solo5_hvt.lds: the ELF and program headers are in no
# PT_LOAD ("No FILEHDR or PHDRS"), the text starts on a page boundary, so
# the bytes after the program header table are free zeros; then the notes,
# each in a PT_NOTE of its own (OpenBSD identification first, ABI1, MFT1).
#
# usage: mkhvt.sh [-a x86_64|aarch64|ppc64le|ppc64] [-m NOTE.hex] [-t TARGET] OUT
#   -a  ppc64 is big-endian (not a Solo5 target: for refusal tests)
#   -m  the MFT1 note as `xxd -p` text (../shared/data/solo5/*/note.hex)
#   -t  ABI1 target (1 hvt, 2 spt, ...), version 2
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-/usr/bin/python3}
arch=x86_64 mft="$here/../../../shared/data/solo5/m00-empty/note.hex" target=1
while getopts a:m:t: opt; do
	case $opt in
	a) arch=$OPTARG ;;
	m) mft=$OPTARG ;;
	t) target=$OPTARG ;;
	*) sed -n '2,/^set -eu/p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "mkhvt.sh: need OUT" >&2; exit 2; }
cflags=(-nostdlib -static -no-pie -Wl,--build-id=none)
case $arch in
x86_64) cc=gcc ;;
aarch64) cc=aarch64-linux-gnu-gcc ;;
ppc64le) cc=powerpc64le-linux-gnu-gcc ;;
ppc64) cc=powerpc64le-linux-gnu-gcc
	cflags+=(-mbig-endian -Wl,-EB -Wl,-m,elf64ppc) ;;
*) echo "mkhvt.sh: unknown arch $arch" >&2; exit 2 ;;
esac
w=$(mktemp -d "${TMPDIR:-/tmp}/mkhvt.XXXXXX")
trap 'rm -rf "$w"' EXIT
{
	printf '\t.section .note.solo5.not_openbsd,"a",@note\n\t.balign 4\n'
	printf '\t.long 8, 4, 1\n\t.asciz "OpenBSD"\n\t.long 0\n'
	printf '\t.section .note.solo5.abi,"a",@note\n\t.balign 4\n'
	printf '\t.long 6, 16, 0x31494241\n\t.asciz "Solo5"\n\t.balign 4\n'
	printf '\t.long %s, 2, 0, 0\n' "$target"
	printf '\t.section .note.solo5.manifest,"a",@note\n\t.balign 4\n'
	"$PY" "$here/note2asm.py" "$mft"
	printf '\t.text\n\t.globl _start\n_start:\n\tnop\n'
} >"$w/k.S"
cat >"$w/k.ld" <<'LD'
ENTRY(_start)
PHDRS {
  text PT_LOAD FLAGS(5);
  note.not_openbsd PT_NOTE;
  note.abi PT_NOTE;
  note.manifest PT_NOTE;
}
SECTIONS {
  . = 0x100000;
  .text : { *(.text*) } :text
  . = ALIGN(0x1000);
  .note.solo5.not_openbsd : { *(.note.solo5.not_openbsd) } :text :note.not_openbsd
  .note.solo5.abi : { *(.note.solo5.abi) } :text :note.abi
  .note.solo5.manifest : { *(.note.solo5.manifest) } :text :note.manifest
  /DISCARD/ : { *(.comment) *(.note.GNU-stack) *(.note.gnu.*) *(.eh_frame*) }
}
LD
"$cc" "${cflags[@]}" -Wl,-T,"$w/k.ld" -o "$w/k" "$w/k.S"
mv "$w/k" "$1"
