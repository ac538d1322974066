#!/bin/bash
# t46-pack-disk-bad: ukit-pack disk refuses what GRUB could not boot, each
# with its exact message (the file, the offset, the values compared), exit
# 1 and no output: a table of malformed kernels made from the test
# kernel (tests/gen/mkmbkernel.sh) by tests/gen/elfmut.py and the header
# patches below.  Usage errors exit 2.  convert refuses ELF -> disk.
. "$(dirname "$0")/lib.sh"

G=$TOP/tests/gen
B=$T/bad
mkdir -p "$B"
if ! sh "$G/mkmbkernel.sh" "$B/mb1.elf" mb1 2>"$T/err"; then
	not_ok "build the test kernel: $(head -c 300 "$T/err")"
	done_testing
	exit 0
fi
sh "$G/mkmbkernel.sh" "$B/mb2.elf" mb2
sh "$G/mkmbkernel.sh" "$B/big.elf" mb1 20000
sh "$G/mkmbkernel.sh" "$B/none.elf" none
sh "$G/mkmbkernel.sh" "$B/lie.elf" aout-lie
objcopy -O elf64-x86-64 "$B/mb1.elf" "$B/mb1-64.elf"

# mb.py IN OUT EDIT: patch the Multiboot header (found by its magic) and
# fix its checksum unless EDIT is badsum
cat >"$T/mb.py" <<'EOF'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
edit, val = sys.argv[3], int(sys.argv[4], 0) if len(sys.argv) > 4 else 0
o1 = b.find(struct.pack("<I", 0x1BADB002))
o2 = b.find(struct.pack("<I", 0xE85250D6))
if edit == "badsum":
    struct.pack_into("<I", b, o1 + 8, struct.unpack_from("<I", b, o1 + 8)[0] ^ 1)
elif edit == "flags":
    struct.pack_into("<II", b, o1 + 4, val, (-(0x1BADB002 + val)) & 0xffffffff)
elif edit in ("arch", "length", "tag"):
    m, a, n, c = struct.unpack_from("<IIII", b, o2)
    if edit == "arch": a = val
    if edit == "length": n = val
    if edit == "tag": struct.pack_into("<H", b, o2 + 16, val)
    struct.pack_into("<IIII", b, o2, m, a, n, (-(m + a + n)) & 0xffffffff)
open(sys.argv[2], "wb").write(b)
EOF
mb() { python3 "$T/mb.py" "$@"; }
em() { python3 "$G/elfmut.py" "$@"; }

mb "$B/mb1.elf" "$B/badsum.elf" badsum
mb "$B/mb1.elf" "$B/flags.elf" flags 0x0b
mb "$B/mb2.elf" "$B/arch.elf" arch 4
mb "$B/mb2.elf" "$B/length.elf" length 0x10000
mb "$B/mb2.elf" "$B/tag.elf" tag 99
em "$B/mb1.elf" "$B/x32.elf" ehdr machine 62
em "$B/mb1-64.elf" "$B/i386-64.elf" ehdr machine 3
em "$B/mb1.elf" "$B/dyn.elf" ehdr type 3
em "$B/mb1.elf" "$B/entry.elf" ehdr entry 0x500000
em "$B/mb1.elf" "$B/be.elf" ehdr data 2
em "$B/mb1.elf" "$B/nophdr.elf" ehdr phnum 0
em "$B/mb1.elf" "$B/vga.elf" phdr 0 paddr 0xb8000
em "$B/mb1-64.elf" "$B/high.elf" phdr 0 paddr 0xfffff000
em "$B/mb1.elf" "$B/filesz.elf" phdr 0 filesz 0x30000
em "$B/big.elf" "$B/trunc.elf" truncate 10000
em "$B/mb1.elf" "$B/short.elf" truncate 40
: >"$B/empty.elf"
printf 'not a kernel\n' >"$B/text.elf"
have_arm=0
if command -v aarch64-linux-gnu-gcc >/dev/null; then
	printf 'void _start(void) { for (;;); }\n' >"$T/a.c"
	aarch64-linux-gnu-gcc -nostdlib -static -o "$B/arm.elf" "$T/a.c" && have_arm=1
else
	missing "no aarch64-linux-gnu-gcc"
fi

# the numbers the errors quote, from the test kernels (their size
# follows tests/gen/mkmbkernel.sh): phdr[0]'s p_memsz (mb1, mb1-64) and
# p_filesz (big), the bytes from mb2's header to 32 KiB or the end
read -r M1 M64 FB L2 < <(python3 - "$B" <<'PY'
import struct, sys
d = sys.argv[1]
def ph0(name, field):
    b = open(d + "/" + name, "rb").read()
    if b[4] == 1:
        phoff, = struct.unpack_from("<I", b, 28)
        _, off, va, pa, filesz, memsz = struct.unpack_from("<6I", b, phoff)
    else:
        phoff, = struct.unpack_from("<Q", b, 32)
        off, va, pa, filesz, memsz = struct.unpack_from("<5Q", b, phoff + 8)
    return filesz if field == "filesz" else memsz
b2 = open(d + "/mb2.elf", "rb").read()
o2 = b2.find(struct.pack("<I", 0xE85250D6))
print(hex(ph0("mb1.elf", "memsz")), hex(ph0("mb1-64.elf", "memsz")),
      hex(ph0("big.elf", "filesz")), min(len(b2), 32768) - o2)
PY
)
V1=$(printf '0x%x' $((0xb8000 + M1)))

# NAME|the whole error line after "ukit-pack: " (%M1% and the others:
# the numbers above)
while IFS='|' read -r name want; do
	[ -z "$name" ] && continue
	if [ "$name" = arm ] && [ $have_arm = 0 ]; then
		continue
	fi
	want=${want//@/$B/$name.elf}
	want=${want//%M1%/$M1} want=${want//%M64%/$M64} want=${want//%V1%/$V1}
	want=${want//%FB%/$FB} want=${want//%L2%/$L2}
	ukit-pack disk -O raw "$B/$name.elf" "$T/out.raw" >"$T/.out" 2>"$T/.err"
	rc=$?
	got=$(cat "$T/.err")
	if [ $rc = 1 ] && [ "$got" = "ukit-pack: $want" ] && [ ! -e "$T/out.raw" ]; then
		ok "$name: exit 1, no output: $want"
	else
		not_ok "$name: exit $rc, stderr '$got'; want 'ukit-pack: $want'"
	fi
	rm -f "$T/out.raw"
done <<'EOF'
none|@:0x0: no Multiboot header: no Multiboot 1 header (magic 0x1BADB002) in the first 8192 bytes and no Multiboot 2 header (magic 0xE85250D6) in the first 32768
badsum|@:0x80: no Multiboot header: Multiboot 1 magic with a bad checksum (0x1badb002 + 0x00000003 + 0xe4524ffa is not 0)
flags|@:0x84: Multiboot 1 header: flags 0x0000000b require features GRUB does not provide (bits 0x0008)
arch|@:0x84: Multiboot 2 header: architecture 4 is not i386 (0)
length|@:0x88: Multiboot 2 header: header_length 65536 outside 24..%L2% (the bytes left in the first 32768 of the file)
tag|@:0x90: Multiboot 2 header: required tag type 99 is unknown to GRUB
lie|@:0x8c: Multiboot 1 header: header_addr - load_addr = 0x1000 puts the load start before the file (header at file offset 0x80)
x32|@:0x12: ELF32 machine x86-64 (62): ukit-pack disk boots x86 kernels (ELF32 i386 or ELF64 x86-64)
i386-64|@:0x12: ELF64 machine i386 (3): ukit-pack disk boots x86 kernels (ELF32 i386 or ELF64 x86-64)
arm|@:0x12: ELF64 machine AArch64 (183): ukit-pack disk boots x86 kernels (ELF32 i386 or ELF64 x86-64)
dyn|@:0x10: ELF type 3 is not ET_EXEC (2): GRUB's multiboot loads executables
entry|@:0x18: entry point 0x500000 is outside every PT_LOAD segment
be|@:0x5: ELF data encoding 2 is not little-endian: not an x86 kernel
nophdr|@:0x2c: no program headers
vga|@:0x34: a PT_LOAD segment loads at 0xb8000-%V1%, over the legacy video and BIOS area 0xa0000-0xfffff
high|@:0x40: phdr[0]: loads at physical 0xfffff000 + %M64%, past 4 GiB: Multiboot loads below 4 GiB
filesz|@:0x34: phdr[0]: p_filesz 0x30000 > p_memsz %M1%
trunc|@:0x34: truncated kernel: phdr[0]: segment at file offset 0x80 (%FB% bytes) ends past the end of the file (10000 bytes)
short|@:0x0: not an ELF file: 40 bytes
empty|@: empty file
text|@:0x0: not an ELF file: 13 bytes
EOF

# usage errors: exit 2, no output
K=$B/mb1.elf
: >"$B/m"
: >"$T/m"
while IFS='|' read -r want args; do
	[ -z "$want" ] && continue
	eval "set -- $args"
	expect_fail 2 "$want" "usage: $args" ukit-pack disk "$@"
	check "usage: $args: no output" test ! -e "$T/o.raw"
done <<'EOF'
disk: missing -O raw|"$K" "$T/o.raw"
-O wants raw or qcow2, not 'vmdk'|-O vmdk "$K" "$T/o.raw"
--firmware wants bios, uefi or both|-O raw --firmware coreboot "$K" "$T/o.raw"
--size wants a multiple of 512|-O raw --size 1000 "$K" "$T/o.raw"
--cmdline: unbalanced double quote|-O raw --cmdline 'a="b' "$K" "$T/o.raw"
--cmdline: unbalanced single quote|-O raw --cmdline "it's" "$K" "$T/o.raw"
--cmdline: control character 0x0a at offset 1|-O raw --cmdline $'a\nb' "$K" "$T/o.raw"
-c, --cluster-size and --compat are for -O qcow2|-O raw -c zlib "$K" "$T/o.raw"
two modules named m|-O raw --module "$B/m" --module "$T/m" "$K" "$T/o.raw"
the file name must be 1-64 of|-O raw --module "$T/a b" "$K" "$T/o.raw"
cannot write a disk to standard output|-O raw "$K" -
EOF
expect_fail 1 "disk size 2097152 is below the" "--size too small: exit 1" \
	ukit-pack disk -O raw --size 2M "$K" "$T/o.raw"
check "--size too small: no output" test ! -e "$T/o.raw"
expect_fail 1 "nope.elf: cannot open" "missing kernel: exit 1" \
	ukit-pack disk -O raw "$T/nope.elf" "$T/o.raw"
expect_fail 1 "nope.mod: cannot open" "missing module: exit 1" \
	ukit-pack disk -O raw --module "$T/nope.mod" "$K" "$T/o.raw"
check "missing inputs: no output" test ! -e "$T/o.raw"

# a failure keeps an existing output as it was
printf 'old\n' >"$T/keep.raw"
cp "$T/keep.raw" "$T/keep.want"
ukit-pack disk -O raw "$B/none.elf" "$T/keep.raw" 2>/dev/null
same_file "a refused kernel leaves the old output untouched" "$T/keep.want" "$T/keep.raw"

# a Solo5 unikernel of a target that does not boot from a disk: the
# refusal, then which target does (Solo5's ABI1 note, tests/gen/mkhvt.sh)
for t in 1:hvt:tender 2:spt:tender 4:muen:hypervisor 5:genode:hypervisor; do
	IFS=: read -r n name by <<<"$t"
	bash "$TOP/tests/gen/mkhvt.sh" -t "$n" "$T/u.$name"
	ukit-pack disk -O raw "$T/u.$name" "$T/u.raw" >/dev/null 2>"$T/u.err"
	rc=$?
	want="ukit-pack: disk: $T/u.$name is a Solo5 $name unikernel, which runs under its $by, not from a disk; Solo5's virtio target boots from one"
	if [ $rc = 1 ] && [ "$(sed -n 2p "$T/u.err")" = "$want" ] &&
		grep -q 'no Multiboot header' "$T/u.err" && [ ! -e "$T/u.raw" ]; then
		ok "Solo5 $name unikernel: exit 1, no output, says what boots from a disk"
	else
		not_ok "Solo5 $name unikernel: exit $rc, stderr: $(cat "$T/u.err")"
	fi
done

# convert no longer turns an ELF into a disk that nothing boots
for o in raw qcow2; do
	expect_fail 2 "\`ukit-pack disk $K -O $o OUT\` makes a disk that boots it" \
		"convert ELF -O $o: refused, names ukit-pack disk" \
		ukit-pack convert -O $o "$K" "$T/c.$o"
	expect_fail 2 "ukit-pack disk" "convert -f elf -O $o: refused" \
		ukit-pack convert -f elf -O $o "$K" "$T/c.$o"
	check "convert ELF -O $o: no output" test ! -e "$T/c.$o"
done
expect_fail 2 "would wrap an ELF in an ELF; \`ukit-pack disk" \
	"convert ELF -O elf: refused, names ukit-pack disk" \
	ukit-pack convert -O elf --arch x86_64 --load-addr 0x100000 "$K" "$T/c.elf"
check "convert ELF -O elf: no output" test ! -e "$T/c.elf"
check "convert -f raw -O qcow2 takes the ELF's bytes as a disk" \
	ukit-pack convert -q -f raw -O qcow2 "$K" "$T/c.qcow2"
qemu-img convert -f qcow2 -O raw "$T/c.qcow2" "$T/c.back"
check "... and they are the file's bytes (padded to 512)" \
	cmp -n "$(stat -c %s "$K")" "$K" "$T/c.back"
check "convert -f bin -O elf wraps the ELF's bytes" \
	ukit-pack convert -f bin -O elf --arch x86_64 --load-addr 0x100000 "$K" "$T/c.elf"

done_testing
