#!/bin/sh
# bench/floor-mbr.sh DIR: DIR/floor.raw, the floor of booting from a disk
# (bench/disk.sh, bench/grub-steps.sh): a 1 MiB disk whose MBR boot code
# prints the line the benches wait for on COM1 and exits QEMU through
# isa-debug-exit; its time over -kernel is the firmware's own cost of
# reaching a disk.
set -eu
D=$1
cat >"$D/mbr.S" <<'ASM'
	.code16
	.globl _start
_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov $msg, %si
	mov $0x3f8, %dx
1:	lodsb
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b
2:	mov $0xf4, %dx
	mov $0x21, %al
	out %al, %dx
3:	hlt
	jmp 3b
msg:	.asciz "ukit-mb: bench (MBR)\r\n"
	.org 510
	.byte 0x55, 0xaa
ASM
as --32 -o "$D/mbr.o" "$D/mbr.S"
ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$D/mbr.bin" "$D/mbr.o"
truncate -s 1M "$D/floor.raw"
dd if="$D/mbr.bin" of="$D/floor.raw" conv=notrunc status=none
