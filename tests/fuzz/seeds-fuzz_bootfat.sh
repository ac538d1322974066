#!/bin/sh
# seeds-fuzz_bootfat.sh CORPUSDIR: a FAT12 file system as ukit-pack disk
# makes it (mformat, then /kernel copied first) and GRUB's i386-pc
# moddep.lst, when mtools and GRUB are installed.
set -eu
d=$1
mkdir -p "$d"
if command -v mformat >/dev/null && command -v mcopy >/dev/null; then
	rm -f "$d/seed-fat12"
	truncate -s 2M "$d/seed-fat12"
	MTOOLSRC=/dev/null mformat -i "$d/seed-fat12" -T 4096 -h 64 -s 32 ::
	printf 'kernel bytes\n' >"$d/.kernel"
	MTOOLSRC=/dev/null mcopy -i "$d/seed-fat12" "$d/.kernel" ::/kernel
	rm -f "$d/.kernel"
	truncate -s 64K "$d/seed-fat12"
fi
if [ -r /usr/lib/grub/i386-pc/moddep.lst ]; then
	cp /usr/lib/grub/i386-pc/moddep.lst "$d/seed-moddep"
fi
