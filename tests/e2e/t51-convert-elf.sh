#!/bin/bash
# t51-convert-elf: elf -> bin byte-identical to objcopy -O binary (x86_64,
# aarch64, ppc64le ELFs with .data, .rodata, .bss and a gap between
# sections); bin -> elf that readelf -lW shows without warnings and that
# converts back (by ukit and by objcopy) to the same bin.
. "$(dirname "$0")/lib.sh"

cat >"$T/k.c" <<'CEOF'
int counter = 5;
char big[10000];                              /* .bss: not in the bin */
const char msg[] = "hello from the rodata section";
__attribute__((section(".gapdata"))) int far_away[4] = { 1, 2, 3, 4 };
void _start(void) { big[counter] = msg[3]; for (;;); }
CEOF

for arch in x86_64 aarch64 powerpc64le; do
	cc=$arch-linux-gnu-gcc oc=$arch-linux-gnu-objcopy
	[ "$arch" = x86_64 ] && cc=gcc oc=objcopy
	if ! command -v "$cc" >/dev/null; then
		missing "$arch: no $cc"
		continue
	fi
	# text at 0x200000, a separate section 64 KiB past the rest: a gap
	"$cc" -O1 -nostdlib -static -ffreestanding -fno-pic -no-pie \
		-Wl,-Ttext=0x200000 -Wl,--section-start=.gapdata=0x240000 \
		-o "$T/$arch.elf" "$T/k.c" 2>"$T/cc.err" || {
		not_ok "$arch: build fixture: $(head -c 300 "$T/cc.err")"
		continue
	}
	"$oc" -O binary "$T/$arch.elf" "$T/$arch.objcopy.bin"
	check "$arch: elf -> bin" ukit-pack convert -O bin "$T/$arch.elf" "$T/$arch.bin"
	same_file "$arch: bin identical to objcopy -O binary" \
		"$T/$arch.objcopy.bin" "$T/$arch.bin"
	readelf -SW "$T/$arch.elf" | grep -q ' .bss ' ||
		not_ok "$arch: fixture has no .bss"
	check "$arch: -f elf explicit" ukit-pack convert -f elf -O bin "$T/$arch.elf" "$T/$arch.2.bin"
	same_file "$arch: -f elf gives the same bin" "$T/$arch.bin" "$T/$arch.2.bin"
done

# bin -> elf -> bin for each architecture
for a in x86_64:0x100000:0x100010 aarch64:0x40080000:0x40080000 \
	ppc64le:0x10001234:0x10001240; do
	IFS=: read -r arch load entry <<<"$a"
	B=$T/x86_64.bin
	[ -s "$B" ] || B=$T/k.c
	check "$arch: bin -> elf" ukit-pack convert -O elf --arch "$arch" \
		--load-addr "$load" --entry "$entry" "$B" "$T/w.$arch.elf"
	readelf -lW "$T/w.$arch.elf" >"$T/rl" 2>"$T/rl.err"
	if [ $? -eq 0 ] && [ ! -s "$T/rl.err" ] && ! grep -qi warn "$T/rl" &&
		[ "$(grep -c ' LOAD ' "$T/rl")" = 1 ]; then
		ok "$arch: readelf -lW: one PT_LOAD, no warnings"
	else
		not_ok "$arch: readelf -lW: $(head -c 300 "$T/rl.err")"
	fi
	check "$arch: ET_EXEC, entry $entry" sh -c \
		"readelf -hW '$T/w.$arch.elf' | grep -q 'EXEC' &&
		 readelf -hW '$T/w.$arch.elf' | grep -qi 'Entry point address: *$entry\$'"
	off=$(awk '/ LOAD /{print $2}' "$T/rl")
	check "$arch: PT_LOAD offset $off congruent to $load mod page" \
		test $(( (off - load) % 4096 )) -eq 0
	check "$arch: RWX" grep -q ' RWE ' "$T/rl"
	ukit-pack convert -O bin "$T/w.$arch.elf" "$T/w.$arch.bin"
	same_file "$arch: elf -> bin gives the bin back" "$B" "$T/w.$arch.bin"
	objcopy -O binary "$T/w.$arch.elf" "$T/w.$arch.oc.bin" 2>/dev/null &&
		same_file "$arch: objcopy -O binary gives the bin back" "$B" "$T/w.$arch.oc.bin"
done
check "ppc64le: ELFv2 flags" sh -c "readelf -hW '$T/w.ppc64le.elf' | grep -q 'abiv2'"
check "aarch64: machine AArch64" sh -c "readelf -hW '$T/w.aarch64.elf' | grep -q AArch64"

# misuse and bad input
expect_fail 2 "needs --load-addr and --arch" "bin -> elf without --arch: exit 2" \
	ukit-pack convert -O elf --load-addr 0x1000 "$T/k.c" "$T/x.elf"
expect_fail 2 "unknown --arch" "unknown --arch: exit 2" \
	ukit-pack convert -O elf --arch mips --load-addr 0x1000 "$T/k.c" "$T/x.elf"
expect_fail 1 "outside the loaded bytes" "entry outside the binary: exit 1" \
	ukit-pack convert -O elf --arch x86_64 --load-addr 0x1000 --entry 0x10 "$T/k.c" "$T/x.elf"
check "no output left after a failure" test ! -e "$T/x.elf"
expect_fail 1 "not an ELF file" "elf -> bin of a text file: exit 1" \
	ukit-pack convert -O bin "$T/k.c" "$T/x.bin"
: >"$T/empty"
expect_fail 1 "empty flat binary" "bin -> elf of an empty file: exit 1" \
	ukit-pack convert -O elf --arch x86_64 --load-addr 0 "$T/empty" "$T/x.elf"
if [ -s "$T/x86_64.elf" ]; then
	head -c 3000 "$T/x86_64.elf" >"$T/trunc.elf"
	expect_fail 1 "ukit-pack: $T/trunc.elf" "truncated ELF: exit 1, names the file" \
		ukit-pack convert -O bin "$T/trunc.elf" "$T/x.bin"
fi
check "no output left after failures" test ! -e "$T/x.bin"

done_testing
