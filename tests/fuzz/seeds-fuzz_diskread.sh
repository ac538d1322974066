#!/bin/sh
# seeds-fuzz_diskread.sh CORPUSDIR: small FAT12 images made by mformat
# and mcopy holding the files ukit-pack disk writes, and a small GPT disk
# made by sgdisk.
set -eu
d=$1
mkdir -p "$d"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
command -v mformat >/dev/null || exit 0
export MTOOLS_SKIP_CHECK=1 MTOOLSRC=/dev/null SOURCE_DATE_EPOCH=315532800
printf 'multiboot /kernel kernel '"'"'a'"'"'\nmodule /modules/m m\nboot\n' >"$t/ukitboot.cfg"
printf '\177ELF kernel bytes' >"$t/kernel"
mkdir -p "$t/EFI/BOOT"
printf 'MZ efi' >"$t/EFI/BOOT/BOOTX64.EFI"
for kib in 64 200; do
	f=$d/seed-fat-$kib
	rm -f "$f"
	truncate -s ${kib}K "$f"
	mformat -i "$f" -T $((kib * 2)) -h 1 -s 32 ::
	mcopy -s -Q -i "$f" "$t/EFI" "$t/kernel" "$t/ukitboot.cfg" ::/
done
if command -v sgdisk >/dev/null; then
	f=$d/seed-gpt
	rm -f "$f"
	truncate -s 120K "$f"
	sgdisk -a 1 -n 1:40:200 -t 1:ef00 "$f" >/dev/null
	dd if="$d/seed-fat-64" of="$f" bs=512 seek=40 count=128 conv=notrunc status=none
fi
