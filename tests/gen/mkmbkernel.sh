#!/bin/sh
# mkmbkernel.sh OUT [mb1|mb2|none] [PAD]: build a tiny x86 Multiboot test
# kernel (ELF32, i386) with gcc/as.  It prints "ukit-mb: CMDLINE" on COM1
# (port 0x3f8), the command line the boot loader passed (Multiboot 1
# info flag 2, or the Multiboot 2 command-line tag), then, when the boot
# loader passed modules (Multiboot 1 info flag 3, or Multiboot 2 module
# tags), "ukit-mod: LINE", the first line of the first module (up to its
# end), and "ukit-modstr: STRING", the string the loader gave it, then writes 0x21 to isa-debug-exit (iobase 0xf4): QEMU exits with
# (0x21 << 1) | 1 = 67.
# mb1 (default): a Multiboot 1 header; mb2: a Multiboot 2 header only;
# aout: a Multiboot 1 header with the a.out kludge addresses; aout-lie:
# the same with a header_addr 4 KiB off (to be refused); none: no header
# at all (to be refused); emptyload: mb1 with its PT_GNU_STACK made an
# empty PT_LOAD (p_memsz 0) inside the kernel's PT_LOAD, as Unikraft's
# x86_64 linker script makes one (tls_load): GRUB refuses that.  PAD: bytes of padding data
# (a .data array) to make a big kernel for benchmarks.
# NOTE: a file of ELF note bytes (ukit-elftool gen-manifest --format
# note) to carry in a PT_NOTE, e.g. a Solo5 manifest.
# `objcopy -O elf64-x86-64 OUT OUT64` makes the ELF64 variant.
set -eu
out=$1 kind=${2:-mb1} pad=${3:-0} note=${4:-} lie=0
d=$(mktemp -d "${TMPDIR:-/tmp}/mbk.XXXXXX")
trap 'rm -rf "$d"' EXIT
cat >"$d/k.S" <<'ASM'
	.set MB1_MAGIC, 0x1BADB002
	.set MB1_FLAGS, 0x00000003          /* page-align modules, mem info */
	.set MB2_MAGIC, 0xE85250D6
	.text
	.align 8
#if KIND == 1
	.long MB1_MAGIC, MB1_FLAGS, -(MB1_MAGIC + MB1_FLAGS)
#elif KIND == 3
	/* a.out kludge: GRUB loads by these addresses, not by the ELF */
mb1_hdr:
	.long MB1_MAGIC, MB1_FLAGS | 0x10000, -(MB1_MAGIC + (MB1_FLAGS | 0x10000))
	.long mb1_hdr + LIE, mb1_hdr, load_end, _end, _start
#elif KIND == 2
mb2_start:
	.long MB2_MAGIC, 0, mb2_end - mb2_start
	.long -(MB2_MAGIC + (mb2_end - mb2_start))
	.short 0, 0                         /* end tag */
	.long 8
mb2_end:
#endif
	.code32
	.globl _start
_start:
	cli
	mov $stack_top, %esp
	mov %eax, %ebp                      /* the magic, kept */
	mov $prefix, %esi
	call puts
	mov %ebp, %eax
	xor %esi, %esi
	cmp $0x2BADB002, %eax
	jne 1f
	testl $4, (%ebx)                    /* MULTIBOOT_INFO_CMDLINE */
	jz 3f
	mov 16(%ebx), %esi
	jmp 3f
1:	cmp $0x36d76289, %eax
	jne 3f
	lea 8(%ebx), %edi                   /* first tag */
2:	mov (%edi), %ecx                    /* type */
	test %ecx, %ecx
	jz 3f
	cmp $1, %ecx                        /* command line */
	jne 4f
	lea 8(%edi), %esi
	jmp 3f
4:	mov 4(%edi), %ecx                   /* size, then align 8 */
	add $7, %ecx
	and $~7, %ecx
	add %ecx, %edi
	jmp 2b
3:	test %esi, %esi
	jz 5f
	call puts
5:	mov $10, %al
	call putc
	/* the first module: %esi its start, %edi its end */
	cmp $0x2BADB002, %ebp
	jne 11f
	testl $8, (%ebx)                    /* MULTIBOOT_INFO_MODS */
	jz 9f
	cmpl $0, 20(%ebx)                   /* mods_count */
	je 9f
	mov 24(%ebx), %edi                  /* mods_addr */
	mov 8(%edi), %eax                   /* its string */
	mov %eax, modstr
	mov (%edi), %esi
	mov 4(%edi), %edi
	jmp 12f
11:	cmp $0x36d76289, %ebp
	jne 9f
	lea 8(%ebx), %edi
13:	mov (%edi), %ecx
	test %ecx, %ecx
	jz 9f
	cmp $3, %ecx                        /* module tag */
	jne 14f
	lea 16(%edi), %eax                  /* its string */
	mov %eax, modstr
	mov 8(%edi), %esi
	mov 12(%edi), %edi
	jmp 12f
14:	mov 4(%edi), %ecx
	add $7, %ecx
	and $~7, %ecx
	add %ecx, %edi
	jmp 13b
12:	push %esi
	mov $modprefix, %esi
	call puts
	pop %esi
15:	cmp %edi, %esi
	jae 16f
	lodsb
	cmp $10, %al
	je 16f
	call putc
	jmp 15b
16:	mov $10, %al
	call putc
	mov $strprefix, %esi
	call puts
	mov modstr, %esi
	test %esi, %esi
	jz 17f
	call puts
17:	mov $10, %al
	call putc
9:	mov $0x21, %al
	out %al, $0xf4
6:	hlt
	jmp 6b

/* putc: %al to COM1, waiting for the transmitter */
putc:
	mov %eax, %ecx
	mov $0x3fd, %dx
7:	in %dx, %al
	test $0x20, %al
	jz 7b
	mov %ecx, %eax
	mov $0x3f8, %dx
	out %al, %dx
	ret
/* puts: the NUL-terminated string at %esi */
puts:
	lodsb
	test %al, %al
	jz 8f
	call putc
	jmp puts
8:	ret

	.section .rodata
prefix:	.asciz "ukit-mb: "
modprefix: .asciz "ukit-mod: "
strprefix: .asciz "ukit-modstr: "
	.data
	.align 16
modstr:	.long 0                            /* the first module's string */
pad:	.long 0x5a5a5a5a                   /* .data is never empty */
	.fill PAD, 1, 0x5a
load_end:
	.bss
	.align 16
	.skip 4096
stack_top:
#ifdef NOTE
	.section .note.solo5.manifest, "a", @note
	.align 4
	.incbin NOTE
#endif
ASM
case $kind in
mb1|emptyload) k=1 ;; mb2) k=2 ;; none) k=0 ;; aout) k=3 ;; aout-lie) k=3; lie=0x1000 ;;
*) echo "mkmbkernel: kind mb1|mb2|aout|aout-lie|emptyload|none" >&2; exit 2 ;;
esac
set -- -DKIND=$k -DPAD="$pad" -DLIE="$lie"
if [ -n "$note" ]; then
	cp "$note" "$d/note.bin"
	set -- "$@" -DNOTE='"note.bin"'
fi
(cd "$d" && gcc -m32 -c "$@" -o k.o k.S)
# the header first in .text: GRUB looks for it in the first 8 KiB
# (32 KiB for mb2); -n: no page for the ELF headers below 1 MiB
ld -m elf_i386 -nostdlib -static -n -s -Ttext=0x100000 -z noexecstack --no-warn-rwx-segments \
	--build-id=none -o "$out" "$d/k.o"
[ "$kind" = emptyload ] || exit 0
python3 - "$out" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    b = bytearray(f.read())
    phoff, = struct.unpack_from("<I", b, 28)
    phnum, = struct.unpack_from("<H", b, 44)
    load = [i for i in range(phnum)
            if struct.unpack_from("<I", b, phoff + 32 * i)[0] == 1]
    stack = [i for i in range(phnum)
             if struct.unpack_from("<I", b, phoff + 32 * i)[0] == 0x6474e551]
    assert len(load) == 1 and len(stack) == 1, "mkmbkernel: phdrs"
    paddr, = struct.unpack_from("<I", b, phoff + 32 * load[0] + 12)
    memsz, = struct.unpack_from("<I", b, phoff + 32 * load[0] + 20)
    at = (paddr + memsz // 2) & ~0xf  # inside, as tls_load in .data
    struct.pack_into("<8I", b, phoff + 32 * stack[0], 1, 0, at, at, 0, 0, 6, 16)
    f.seek(0)
    f.write(b)
PY
