#!/bin/bash
# t45-pack-disk: ukit-pack disk makes GPT disks (raw and qcow2) that boot a
# Multiboot test kernel (tests/gen/mkmbkernel.sh: prints its command line
# on COM1, exits QEMU through isa-debug-exit with 67) under SeaBIOS and
# OVMF in qemu-system-x86_64 (TCG: KVM cannot run these firmwares here):
# Multiboot 1 and 2, ELF32 and ELF64, the a.out kludge, a command line
# with spaces and quotes; on IDE, and on AHCI (q35) and NVMe too.  The
# disks pass sgdisk -v and qemu-img check, mdir lists the ESP, and two
# builds are byte-identical.
. "$(dirname "$0")/lib.sh"

OVMF_CODE=/usr/share/OVMF/OVMF_CODE.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS.fd
for tool in qemu-system-x86_64 qemu-img grub-mkimage mformat mdir sgdisk gcc; do
	if ! command -v $tool >/dev/null; then
		missing "no $tool"
		done_testing
		exit 0
	fi
done
if [ ! -r $OVMF_CODE ] || [ ! -d /usr/lib/grub/i386-pc ] ||
	[ ! -d /usr/lib/grub/x86_64-efi ]; then
	missing "OVMF or GRUB's module directories"
	done_testing
	exit 0
fi

G=$TOP/tests/gen
for k in mb1 mb2 aout emptyload; do
	check "build the $k test kernel" sh "$G/mkmbkernel.sh" "$T/$k.elf" $k
done
check "ELF64 variant by objcopy" objcopy -O elf64-x86-64 "$T/mb1.elf" "$T/mb1-64.elf"
check "ELF64 variant of mb2" objcopy -O elf64-x86-64 "$T/mb2.elf" "$T/mb2-64.elf"
check "mb1-64 is ELF64" sh -c "readelf -h '$T/mb1-64.elf' | grep -q 'ELF64'"

export SOURCE_DATE_EPOCH=1700000000
# a command line with spaces and both quotes: ukit splits it into words as
# a shell would, GRUB passes the words re-quoted (a word with a space in
# double quotes, \ ' " escaped with a backslash)
CMD='a=1 msg="hello world" name='"'"'x y'"'"' it\'"'"'s'
WANT='a=1 "msg=hello world" "name=x y" it\'"'"'s'

mk() {  # mk NAME KERNEL FMT [OPTS...]
	local name=$1 k=$2 fmt=$3
	shift 3
	check "$name: ukit-pack disk -O $fmt $*" \
		ukit-pack disk "$T/$k.elf" -O "$fmt" "$@" "$T/$name.$fmt"
}
mk both mb1 raw --cmdline "$CMD"
mk q64 mb1-64 qcow2 -c zlib --cmdline "qcow2 elf64"
mk mb2 mb2 raw --firmware bios --cmdline "mb2 bios"
mk mb2u mb2-64 qcow2 --firmware uefi --cmdline "mb2 elf64 uefi"
mk aout aout raw --firmware bios --cmdline "kludge"
mk big mb1 raw --firmware bios --size 64M --cmdline "sized"
# an empty PT_LOAD inside the kernel's (Unikraft's tls_load): GRUB 2.06
# refuses it ("overlap detected"), so the disk's copy has it PT_NULL
mk empty emptyload raw --cmdline "empty load"
cp "$T/.err" "$T/empty.err"
check "empty: a note names the program header made PT_NULL" grep -q \
	"note: disk: .*emptyload.elf: the program header at offset 0x54 is an empty PT_LOAD inside another" "$T/empty.err"
# Multiboot modules: the kernel prints the first line of the first one
printf 'module data\nsecond line\n' >"$T/initrd.txt"
printf 'mb2 module\n' >"$T/m1.txt"
printf 'other\n' >"$T/m2.txt"
mk mod mb1 raw --firmware bios --module "$T/initrd.txt" --cmdline "with module"
mk mod2 mb2 raw --module "$T/m1.txt" --module "$T/m2.txt" --cmdline "mb2 modules"

# ---- boot them all, in parallel ------------------------------------
boot() {  # boot NAME FIRMWARE DISK FORMAT [ide|ahci|nvme]
	local name=$1 fw=$2 disk=$3 fmt=$4 bus=${5:-ide} fwopts=() to=90 dev
	if [ "$fw" = uefi ]; then
		cp $OVMF_VARS "$T/$name.vars"
		fwopts=(-drive if=pflash,format=raw,readonly=on,file=$OVMF_CODE
			-drive if=pflash,format=raw,file="$T/$name.vars")
		to=240
	fi
	# the disk on QEMU's default IDE, on the q35 machine's AHCI, or NVMe
	case $bus in
	ide) dev=(-drive file="$disk",format=$fmt,if=ide,snapshot=on) ;;
	ahci) dev=(-machine q35 -drive file="$disk",format=$fmt,if=none,id=d0,snapshot=on
		-device ide-hd,drive=d0,bus=ide.0) ;;
	nvme) dev=(-drive file="$disk",format=$fmt,if=none,id=d0,snapshot=on
		-device nvme,drive=d0,serial=ukit) ;;
	esac
	(
		timeout $to qemu-system-x86_64 -accel tcg -m 128 -nographic \
			-display none -monitor none -no-reboot \
			-serial file:"$T/$name.serial" \
			-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
			"${fwopts[@]}" "${dev[@]}" </dev/null >"$T/$name.qemu" 2>&1
		echo $? >"$T/$name.rc"
	) &
}
boot both-bios bios "$T/both.raw" raw
boot both-uefi uefi "$T/both.raw" raw
boot q64-bios bios "$T/q64.qcow2" qcow2
boot mb2-bios bios "$T/mb2.raw" raw
boot mb2u-uefi uefi "$T/mb2u.qcow2" qcow2
boot aout-bios bios "$T/aout.raw" raw
boot big-bios bios "$T/big.raw" raw
boot empty-bios bios "$T/empty.raw" raw
boot empty-uefi uefi "$T/empty.raw" raw
boot mod-bios bios "$T/mod.raw" raw
boot mod2-bios bios "$T/mod2.raw" raw
boot mod2-uefi uefi "$T/mod2.raw" raw
boot q64-ahci bios "$T/q64.qcow2" qcow2 ahci
boot q64-nvme bios "$T/q64.qcow2" qcow2 nvme
# the disk without a BIOS loader must not boot under SeaBIOS
boot mb2u-bios bios "$T/mb2u.qcow2" qcow2
# the same kernel by QEMU's own Multiboot loader, for its command line
(
	timeout 90 qemu-system-x86_64 -accel tcg -m 128 -nographic \
		-display none -monitor none -no-reboot \
		-serial file:"$T/qk.serial" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$T/mb1.elf" -append "with module" \
		-initrd "$T/initrd.txt" </dev/null >"$T/qk.qemu" 2>&1
	echo $? >"$T/qk.rc"
) &
wait

# The kernel's command line starts with a name for it, "kernel", as
# QEMU's -kernel, SYSLINUX and GRUB Legacy start it with the file's name:
# Solo5's virtio binding skips that first word, Unikraft makes it argv[0].
booted() {  # booted NAME WORDS: exit 67 and "kernel WORDS" on the serial line
	local name=$1 want="kernel $2" got rc
	rc=$(cat "$T/$name.rc" 2>/dev/null)
	got=$(grep -ao 'ukit-mb: .*' "$T/$name.serial" 2>/dev/null | tr -d '\r')
	if [ "$rc" = 67 ] && [ "$got" = "ukit-mb: $want" ]; then
		ok "$name: boots, the kernel prints: $want"
	else
		not_ok "$name: exit '$rc' (want 67), serial '$got' (want 'ukit-mb: $want')"
		tail -c 400 "$T/$name.serial" 2>/dev/null | tr -d '\033' | sed 's/^/#   /'
		sed 's/^/#   /' "$T/$name.qemu" 2>/dev/null
	fi
}
booted both-bios "$WANT"
booted both-uefi "$WANT"
booted q64-bios "qcow2 elf64"
booted q64-ahci "qcow2 elf64"
booted q64-nvme "qcow2 elf64"
booted mb2-bios "mb2 bios"
booted mb2u-uefi "mb2 elf64 uefi"
booted aout-bios "kludge"
booted big-bios "sized"
booted empty-bios "empty load"
booted empty-uefi "empty load"
booted mod-bios "with module"
booted mod2-bios "mb2 modules"
booted mod2-uefi "mb2 modules"
loaded() {  # loaded NAME LINE STRING: the first module's line and string
	local name=$1 want=$2 str=$3 got gots
	got=$(grep -ao 'ukit-mod: .*' "$T/$name.serial" 2>/dev/null | tr -d '\r')
	gots=$(grep -ao 'ukit-modstr: .*' "$T/$name.serial" 2>/dev/null | tr -d '\r')
	if [ "$got" = "ukit-mod: $want" ]; then
		ok "$name: the kernel reads its first module: $want"
	else
		not_ok "$name: serial '$got' (want 'ukit-mod: $want')"
	fi
	if [ "$gots" = "ukit-modstr: $str" ]; then
		ok "$name: the first module's string is its file name: $str"
	else
		not_ok "$name: serial '$gots' (want 'ukit-modstr: $str')"
	fi
}
loaded mod-bios "module data" initrd.txt
loaded mod2-bios "mb2 module" m1.txt
loaded mod2-uefi "mb2 module" m1.txt
# after its first word, the kernel gets the words QEMU's -kernel gives it
qk=$(grep -ao 'ukit-mb: .*' "$T/qk.serial" 2>/dev/null | tr -d '\r')
dk=$(grep -ao 'ukit-mb: .*' "$T/mod-bios.serial" 2>/dev/null | tr -d '\r')
if [ "$(cat "$T/qk.rc" 2>/dev/null)" = 67 ] && [ "$qk" = "ukit-mb: $T/mb1.elf with module" ] &&
	[ "${qk#ukit-mb: * }" = "${dk#ukit-mb: * }" ]; then
	ok "the disk's command line is QEMU -kernel's after the first word: ${dk#ukit-mb: }"
else
	not_ok "QEMU -kernel gave '$qk', the disk '$dk'"
fi
if ! grep -aq 'ukit-mod:' "$T/both-bios.serial" "$T/both-uefi.serial"; then
	ok "without --module the kernel gets no module"
else
	not_ok "a disk without --module passed a module"
fi
rc=$(cat "$T/mb2u-bios.rc" 2>/dev/null)
if [ "$rc" != 67 ] && ! grep -aq 'ukit-mb:' "$T/mb2u-bios.serial" 2>/dev/null; then
	ok "a --firmware uefi disk does not boot under SeaBIOS (exit $rc)"
else
	not_ok "a --firmware uefi disk booted under SeaBIOS"
fi

# ---- the disks by other tools -------------------------------------
qemu-img convert -O raw "$T/q64.qcow2" "$T/q64.raw"
qemu-img convert -O raw "$T/mb2u.qcow2" "$T/mb2u.raw"
for d in both q64 mb2 mb2u aout big; do
	sgdisk -v "$T/$d.raw" >"$T/sg" 2>&1
	if grep -q 'No problems found' "$T/sg"; then
		ok "$d: sgdisk -v: no problems"
	else
		not_ok "$d: sgdisk -v: $(head -c 300 "$T/sg")"
	fi
done
check "q64: qemu-img check clean" qemu-img check "$T/q64.qcow2"
check "mb2u: qemu-img check clean" qemu-img check "$T/mb2u.qcow2"
check "q64.qcow2 is compressed (qemu-img check counts compressed clusters)" \
	sh -c "qemu-img check '$T/q64.qcow2' | grep -q '[1-9][0-9.]*% compressed'"
check "--size 64M: the disk is 64 MiB" test "$(stat -c %s "$T/big.raw")" = 67108864

sgdisk -p "$T/both.raw" >"$T/sgp"
check "both: partition 1 is BIOS boot (EF02)" grep -Eq '^ +1 +2048 +[0-9]+ .* EF02 +BIOS boot' "$T/sgp"
check "both: partition 2 is the ESP (EF00)" grep -Eq '^ +2 +[0-9]+ +[0-9]+ .* EF00 +EFI system' "$T/sgp"
sgdisk -p "$T/mb2u.raw" >"$T/sgp2"
check "uefi only: one partition, the ESP" sh -c \
	"grep -Eq '^ +1 +2048 .* EF00' '$T/sgp2' && ! grep -Eq '^ +2 ' '$T/sgp2'"
esp=$(awk '$6 == "EF00" { print $2 * 512 }' "$T/sgp")
mdir -i "$T/both.raw@@$esp" -/ :: >"$T/mdir" 2>&1
for f in '^BOOTX64 +EFI +[0-9]+ ' '^kernel +[0-9]+ ' '^ukitboot +cfg +[0-9]+ '; do
	check "mdir -i lists /$f/ on the ESP" grep -Eq "$f" "$T/mdir"
done
check "FAT times are SOURCE_DATE_EPOCH (2023-11-14 22:13)" \
	grep -q 'kernel .*2023-11-14 *22:13' "$T/mdir"
mcopy -i "$T/both.raw@@$esp" ::/kernel "$T/kernel.back"
same_file "the kernel on the ESP is the input kernel" "$T/mb1.elf" "$T/kernel.back"
esp=$(sgdisk -p "$T/empty.raw" | awk '$6 == "EF00" { print $2 * 512 }')
mcopy -i "$T/empty.raw@@$esp" ::/kernel "$T/empty.back"
check "empty: the ESP's kernel differs from the input in that p_type only" sh -c \
	"cmp -l '$T/emptyload.elf' '$T/empty.back' | awk '{ print \$1 - 1, \$2, \$3 }' |
	tr '\n' ' ' | grep -qx '84 1 0 '"

# ---- reproducible ----------------------------------------------------
mkdir -p "$T/other"
touch "$T/mb1.elf"      # a new mtime: the disk does not depend on it
(cd "$T/other" && TMPDIR="$T/other" ukit-pack disk -O raw --cmdline "$CMD" \
	"$T/mb1.elf" again.raw)
same_file "two builds are byte-identical (raw)" "$T/both.raw" "$T/other/again.raw"
ukit-pack disk -O qcow2 -c zlib --cmdline "qcow2 elf64" "$T/mb1-64.elf" "$T/q64b.qcow2"
same_file "two builds are byte-identical (qcow2)" "$T/q64.qcow2" "$T/q64b.qcow2"
SOURCE_DATE_EPOCH=1800000000 ukit-pack disk -O raw --cmdline "$CMD" "$T/mb1.elf" "$T/later.raw"
check "another SOURCE_DATE_EPOCH gives other bytes" sh -c "! cmp -s '$T/both.raw' '$T/later.raw'"
ukit-pack disk -O raw --cmdline "other" "$T/mb1.elf" "$T/other.raw"
sgdisk -p "$T/other.raw" | grep -i 'disk identifier' >"$T/g2"
sgdisk -p "$T/both.raw" | grep -i 'disk identifier' >"$T/g1"
check "another command line gives another disk GUID" sh -c "! cmp -s '$T/g1' '$T/g2'"

# ---- modules ---------------------------------------------------------
esp=$(sgdisk -p "$T/mod.raw" | awk '$6 == "EF00" { print $2 * 512 }')
mcopy -i "$T/mod.raw@@$esp" ::/modules/initrd.txt "$T/mod.back" 2>/dev/null
same_file "the module is on the ESP as /modules/initrd.txt" "$T/initrd.txt" "$T/mod.back"
mcopy -i "$T/mod.raw@@$esp" ::/ukitboot.cfg "$T/mod.cfg" 2>/dev/null
check "the boot configuration loads it, its name as its string" \
	grep -qx 'module /modules/initrd.txt initrd.txt' "$T/mod.cfg"

done_testing
