#!/bin/sh
# bench/floor-mbr.sh DIR [NSEC]: DIR/floor.raw, the floor of booting from
# a disk (bench/disk.sh, bench/grub-steps.sh): a 1 MiB disk whose MBR boot
# code prints the line the benches wait for on COM1 and exits QEMU through
# isa-debug-exit; its time over -kernel is the firmware's own cost of
# reaching a disk.  With NSEC, also DIR/floor-read.raw: the same MBR that
# first reads NSEC sectors after it through the BIOS (int 13h, AH=42h, 64
# sectors a call): what the firmware alone costs to read as much as a
# loader reads, before any loader code runs.
set -eu
D=$1
NSEC=${2:-0}
mbr() {  # mbr NAME NSEC
	cat >"$D/$1.S" <<ASM
	.code16
	.globl _start
_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %ss
	mov \$0x7c00, %sp
	sti
	mov %dl, drive
	mov \$$2, %cx
0:	jcxz 2f
	mov \$64, %ax
	cmp %ax, %cx
	jae 1f
	mov %cx, %ax
1:	mov %ax, dap + 2
	push %cx
	mov \$dap, %si
	mov drive, %dl
	mov \$0x42, %ah
	int \$0x13
	pop %cx
	jc 5f
	mov dap + 2, %ax
	sub %ax, %cx
	add %ax, dap + 8
	jmp 0b
2:	mov \$msg, %si
3:	mov \$0x3f8, %dx
	lodsb
	test %al, %al
	jz 4f
	out %al, %dx
	jmp 3b
4:	mov \$0xf4, %dx
	mov \$0x21, %al
	out %al, %dx
5:	hlt
	jmp 5b
drive:	.byte 0
	.balign 4
dap:	.byte 16, 0
	.word 0, 0, 0x1000
	.quad 1
msg:	.asciz "ukit-mb: bench (MBR, $2 sectors read)\r\n"
	.org 510
	.byte 0x55, 0xaa
ASM
	as --32 -o "$D/$1.o" "$D/$1.S"
	ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$D/$1.bin" "$D/$1.o"
	rm -f "$D/$1.raw"
	truncate -s $(($2 < 2048 ? 1024 * 1024 : ($2 + 1) * 512)) "$D/$1.raw"
	dd if="$D/$1.bin" of="$D/$1.raw" conv=notrunc status=none
}
mbr floor 0
[ "$NSEC" -gt 0 ] && mbr floor-read "$NSEC"
exit 0
