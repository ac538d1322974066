#!/bin/bash
# bench/disk.sh: what a ukit-pack disk costs at boot and at build time.
# Not part of make check.
#
#   bash bench/disk.sh            (RUNS=5 by default; TMPDIR for the files;
#                                  PART=boot or PART=build: one half;
#                                  WAYS=REGEX: only the boots it matches)
#
# Boot: the test kernel (tests/gen/mkmbkernel.sh: prints its command line
# on COM1 and exits QEMU at once through isa-debug-exit) booted under TCG
# with the same QEMU flags: QEMU's own Multiboot loader (-kernel: no
# firmware disk boot, no boot loader); two floors of a disk boot, a disk
# whose MBR code prints the line and exits (what SeaBIOS alone costs to
# reach a disk) and one whose MBR first reads through the BIOS as many
# sectors as the ukit disk's BIOS boot reads (what SeaBIOS alone costs to
# read them); the ukit disk under SeaBIOS (GRUB i386-pc) attached as IDE
# and as virtio-blk (what KVM clouds attach); a SYSLINUX disk made here by
# hand (gptmbr.bin + mboot.c32, when syslinux is installed) and a GRUB
# Legacy disk (when GRUB_LEGACY is given, below) the same two ways; and
# the ukit disk under OVMF (GRUB x86_64-efi).  The time is QEMU's wall
# time from start to exit, which follows the serial line at once, and
# QEMU's CPU time (user + sys: less sensitive to a loaded machine); each
# run boots every way once, in turn, and the median of RUNS counts.  A
# disk's cost is the difference to -kernel; a loader's, the difference to
# the floor on the same bus.
# Also the sectors the BIOS boots read (QEMU's trace of IDE reads): a
# figure the machine's load does not move.
# Build: ukit-pack disk -O raw and -O qcow2 of a 16 MiB kernel (the test
# kernel padded with 16 MiB of data): wall time and peak RSS
# (/usr/bin/time; the peak includes grub-mkimage and mtools, which run as
# its children), against the floor of writing and fsyncing the kernel's
# bytes once (dd conv=fsync).
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
UKIT=${UKIT_BIN:-$TOP/build/bin}/ukit-pack
RUNS=${RUNS:-5}
PART=${PART:-all}
OVMF_CODE=/usr/share/OVMF/OVMF_CODE.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS.fd
D=$(mktemp -d "${TMPDIR:-/tmp}/ukit-bench-disk.XXXXXX")
trap 'rm -rf "$D"' EXIT
export SOURCE_DATE_EPOCH=1700000000

sh "$TOP/tests/gen/mkmbkernel.sh" "$D/k.elf" mb1
sh "$TOP/tests/gen/mkmbkernel.sh" "$D/k16.elf" mb1 $((16 << 20))
"$UKIT" disk -O raw --cmdline "bench" "$D/k.elf" "$D/disk.raw"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# a figure the machine's load does not move: the sectors a BIOS boot
# reads through the IDE disk (QEMU's ide_sector_read trace events;
# SeaBIOS reads one sector per command)
nsectors() {  # nsectors DISK
	rm -f "$D/trace"
	timeout 300 qemu-system-x86_64 -accel tcg -m 128 -nographic -display none \
		-monitor none -no-reboot -serial file:"$D/serial" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-drive file="$1",format=raw,if=ide,snapshot=on \
		-trace ide_sector_read -D "$D/trace" </dev/null >/dev/null 2>&1 || true
	grep -c ide_sector_read "$D/trace" 2>/dev/null || echo 0
}
BIOS_SECTORS=$(nsectors "$D/disk.raw")

# the floors (floor-mbr.sh): a disk whose MBR prints the line and exits,
# and one whose MBR first reads through the BIOS as many sectors as the
# ukit disk's BIOS boot reads (less its own MBR)
sh "$TOP/bench/floor-mbr.sh" "$D" $((BIOS_SECTORS - 1))

# SYSLINUX (when installed: Debian's syslinux, syslinux-common), the
# loader Solo5's mkimage uses: a GPT disk like ukit's, its MBR
# syslinux's gptmbr.bin, the ESP legacy-BIOS-bootable with ldlinux
# installed by the mtools installer, mboot.c32 booting the kernel with
# no prompt and no timeout.  (mboot.c32 passes the kernel's file name
# as the first word of the command line, as GRUB legacy and QEMU's
# -kernel do, and as ukit's disk passes "kernel".)
SL=/usr/lib/syslinux
if command -v syslinux >/dev/null && [ -r $SL/modules/bios/mboot.c32 ] &&
	command -v sgdisk >/dev/null; then
	truncate -s 4M "$D/sl.raw"
	sgdisk -n 1:2048:+2M -t 1:EF00 -A 1:set:2 "$D/sl.raw" >/dev/null
	dd if=$SL/mbr/gptmbr.bin of="$D/sl.raw" bs=440 count=1 \
		conv=notrunc status=none
	MTOOLS_SKIP_CHECK=1 mformat -i "$D/sl.raw@@1M" -T 4096 -h 64 -s 32 \
		-H 2048 -v UKIT-BOOT ::
	syslinux --offset $((2048 * 512)) --install "$D/sl.raw"
	printf 'DEFAULT ukit\nPROMPT 0\nTIMEOUT 0\nLABEL ukit\n' >"$D/syslinux.cfg"
	printf '  KERNEL mboot.c32\n  APPEND kernel bench\n' >>"$D/syslinux.cfg"
	cp "$D/k.elf" "$D/kernel"
	MTOOLS_SKIP_CHECK=1 mcopy -i "$D/sl.raw@@1M" $SL/modules/bios/mboot.c32 \
		$SL/modules/bios/libcom32.c32 "$D/syslinux.cfg" "$D/kernel" ::/
else
	echo "bench: no syslinux (Debian syslinux, syslinux-common): its rows are left out" >&2
	rm -f "$D/sl.raw"
fi

# GRUB Legacy 0.97, the Multiboot reference loader, when GRUB_LEGACY
# names the root of Debian's grub-legacy package unpacked (apt-get
# download grub-legacy; dpkg -x grub-legacy_*.deb DIR: the package
# conflicts with grub2-common, so it is not installed; its grub shell
# needs libc6-i386): an MBR partition with ext2 holding stage2, menu.lst
# (no menu, timeout 0) and the kernel; stage1 in the MBR loads stage2
# by its sectors (no stage1.5).  Like mboot.c32 it passes the kernel's
# file name as the first word of the command line.
if [ -n "${GRUB_LEGACY:-}" ]; then
	GL=$GRUB_LEGACY/usr/lib/grub/x86_64-pc
	mkdir -p "$D/gl/boot/grub"
	cp $GL/stage1 $GL/stage2 "$D/gl/boot/grub/"
	cp "$D/k.elf" "$D/gl/kernel"
	printf 'default 0\ntimeout 0\nhiddenmenu\ntitle ukit\nroot (hd0,0)\nkernel /kernel bench\n' \
		>"$D/gl/boot/grub/menu.lst"
	truncate -s 8M "$D/gl.raw"
	python3 - "$D/gl.raw" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(0x1be)   # one active Linux partition, LBA 2048, 7 MiB
    f.write(struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83,
                        b"\xfe\xff\xff", 2048, 14336))
    f.seek(510)
    f.write(b"\x55\xaa")
PY
	mke2fs -q -t ext2 -d "$D/gl" -E offset=1048576 "$D/gl.raw" 7M
	printf '(hd0) %s\n' "$D/gl.raw" >"$D/gl.map"
	printf 'root (hd0,0)\ninstall /boot/grub/stage1 (hd0) /boot/grub/stage2 p /boot/grub/menu.lst\nquit\n' |
		"$GRUB_LEGACY/usr/sbin/grub" --batch --no-floppy \
		--device-map="$D/gl.map" >"$D/gl.log" 2>&1
	# the grub shell says nothing when install works: stage1 is in the MBR
	cmp -s -n 64 $GL/stage1 "$D/gl.raw" || {
		echo "bench: GRUB Legacy install failed:" >&2
		cat "$D/gl.log" >&2
		exit 1
	}
fi

qemu() {  # qemu ARGS...: one boot; prints "wall cpu" seconds
	rm -f "$D/serial"
	/usr/bin/time -f '%e %U %S' -o "$D/qtime" \
		timeout 300 qemu-system-x86_64 -accel tcg -m 128 -nographic \
		-display none -monitor none -no-reboot -serial file:"$D/serial" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 "$@" \
		</dev/null >/dev/null 2>&1 || true
	grep -aq 'ukit-mb: .*bench' "$D/serial" || {
		echo "bench: no serial line from: $*" >&2
		exit 1
	}
	tail -n 1 "$D/qtime" | awk '{ printf "%s %.3f\n", $1, $2 + $3 }'
}

# the ways to boot, NAME ARGS... on one line each (ARGS split on blanks);
# every run boots each way once, so a change in the machine's load
# falls on all of them alike
drv() { echo "-drive file=$1,format=raw,if=$2,snapshot=on"; }
uefi="-drive if=pflash,format=raw,readonly=on,file=$OVMF_CODE -drive if=pflash,format=raw,file=$D/vars.fd"
{
	echo "kernel -kernel $D/k.elf -append bench"
	echo "floor $(drv "$D/floor.raw" ide)"
	echo "floor-virtio $(drv "$D/floor.raw" virtio)"
	echo "floor-read $(drv "$D/floor-read.raw" ide)"
	echo "floor-read-virtio $(drv "$D/floor-read.raw" virtio)"
	echo "bios $(drv "$D/disk.raw" ide)"
	echo "bios-virtio $(drv "$D/disk.raw" virtio)"
	if [ -f "$D/sl.raw" ]; then
		echo "syslinux $(drv "$D/sl.raw" ide)"
		echo "syslinux-virtio $(drv "$D/sl.raw" virtio)"
	fi
	if [ -f "$D/gl.raw" ]; then
		echo "grub-legacy $(drv "$D/gl.raw" ide)"
		echo "grub-legacy-virtio $(drv "$D/gl.raw" virtio)"
	fi
	echo "uefi $uefi $(drv "$D/disk.raw" ide)"
} | grep -E "^(kernel|${WAYS:-.*}) " >"$D/ways"

if [ "$PART" != build ]; then
echo "== boot under TCG: QEMU start to the kernel's serial line and exit"
for _ in $(seq "$RUNS"); do
	while read -r name args; do
		[ "$name" = uefi ] && cp $OVMF_VARS "$D/vars.fd"
		# shellcheck disable=SC2086
		qemu $args >>"$D/$name.runs"
	done <"$D/ways"
done
while read -r name args; do
	awk '{ print $1 }' "$D/$name.runs" | median >"$D/$name.t"
	awk '{ print $2 }' "$D/$name.runs" | median >"$D/$name.c"
	printf '%-34s %8.3f s wall %8.3f s CPU (CPU %s)\n' \
		"boot $name (median of $RUNS)" "$(cat "$D/$name.t")" \
		"$(cat "$D/$name.c")" "$(awk '{ print $2 }' "$D/$name.runs" |
			sort -n | awk 'NR == 1 { a = $1 } END { print a "-" $1 }')"
done <"$D/ways"
sectors() {  # sectors NAME DISK
	printf '%-34s %8s sectors\n' "boot $1 reads" "$(nsectors "$2")"
}
grep -q '^floor ' "$D/ways" && sectors floor "$D/floor.raw"
grep -q '^floor-read ' "$D/ways" && sectors floor-read "$D/floor-read.raw"
grep -q '^bios ' "$D/ways" &&
	printf '%-34s %8s sectors\n' "boot bios reads" "$BIOS_SECTORS"
grep -q '^syslinux ' "$D/ways" && sectors syslinux "$D/sl.raw"
grep -q '^grub-legacy ' "$D/ways" && sectors grub-legacy "$D/gl.raw"
ms() { echo "($(cat "$D/$1.$3") - $(cat "$D/$2.$3")) * 1000" | bc -l; }
for m in t c; do
	[ $m = t ] && what=wall || what=CPU
	for w in floor floor-virtio floor-read floor-read-virtio; do
		[ -f "$D/$w.$m" ] || continue
		case $w in
		floor*read*) fw="firmware reading $((BIOS_SECTORS - 1)) sectors" ;;
		*) fw="firmware to MBR" ;;
		esac
		printf 'floor: %s (%s) %6.0f ms %s over -kernel\n' "$fw" \
			"$(case $w in *virtio) echo virtio ;; *) echo IDE ;; esac)" \
			"$(ms $w kernel $m)" "$what"
	done
	for w in bios bios-virtio syslinux syslinux-virtio grub-legacy grub-legacy-virtio; do
		[ -f "$D/$w.$m" ] || continue
		case $w in *virtio) fl=floor-virtio ;; *) fl=floor ;; esac
		printf '%-15s disk adds %6.0f ms %s over -kernel (goal <= 200 ms)' \
			"$w" "$(ms $w kernel $m)" "$what"
		[ -f "$D/$fl.$m" ] && printf ', loader %6.0f ms over the floor' \
			"$(ms $w $fl $m)"
		echo
	done
	[ -f "$D/uefi.$m" ] && printf '%-15s disk adds %6.0f ms %s over -kernel\n' \
		uefi "$(ms uefi kernel $m)" "$what"
done

fi

[ "$PART" = boot ] && exit 0
echo "== build a disk from a 16 MiB kernel ($(stat -c %s "$D/k16.elf") bytes)"
build() {  # build NAME CMD...: median wall time, max peak RSS
	local name=$1
	shift
	for _ in $(seq "$RUNS"); do
		rm -f "$D/out"
		/usr/bin/time -f '%e %M' -o "$D/time" "$@" >/dev/null
		cat "$D/time"
	done >"$D/$name.runs"
	printf '%-34s %8.3f s  peak RSS %6d KiB\n' "$name (median of $RUNS)" \
		"$(awk '{ print $1 }' "$D/$name.runs" | median)" \
		"$(awk '$2 > m { m = $2 } END { print m }' "$D/$name.runs")"
}
build "floor: dd conv=fsync" dd if="$D/k16.elf" of="$D/out" bs=1M conv=fsync status=none
build "ukit-pack disk -O raw" "$UKIT" disk -O raw "$D/k16.elf" "$D/out"
build "ukit-pack disk -O raw --firmware bios" "$UKIT" disk -O raw --firmware bios "$D/k16.elf" "$D/out"
build "ukit-pack disk -O qcow2" "$UKIT" disk -O qcow2 "$D/k16.elf" "$D/out"
build "ukit-pack disk -O qcow2 -c zstd" "$UKIT" disk -O qcow2 -c zstd "$D/k16.elf" "$D/out"
echo "(goals: build < 0.5 s and < 32 MiB)"
