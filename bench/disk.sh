#!/bin/bash
# bench/disk.sh: what a ukit-pack disk costs at boot and at build time.
# Not part of make check.
#
#   bash bench/disk.sh            (RUNS=5 by default; TMPDIR for the files)
#
# Boot: the test kernel (tests/gen/mkmbkernel.sh: prints its command line
# on COM1 and exits QEMU at once through isa-debug-exit) booted under TCG
# three ways: QEMU's own Multiboot loader (-kernel: the floor, no boot
# loader), the disk under SeaBIOS (GRUB i386-pc), the disk under OVMF
# (GRUB x86_64-efi).  The time is QEMU's wall time from start to exit,
# which follows the serial line at once, and QEMU's CPU time (user +
# sys: less sensitive to a loaded machine); each way runs RUNS times and
# the median counts.  The loader's cost is the difference to -kernel.
# Also the sectors the BIOS boot reads (QEMU's trace of IDE reads): a
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
OVMF_CODE=/usr/share/OVMF/OVMF_CODE.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS.fd
D=$(mktemp -d "${TMPDIR:-/tmp}/ukit-bench-disk.XXXXXX")
trap 'rm -rf "$D"' EXIT
export SOURCE_DATE_EPOCH=1700000000

sh "$TOP/tests/gen/mkmbkernel.sh" "$D/k.elf" mb1
sh "$TOP/tests/gen/mkmbkernel.sh" "$D/k16.elf" mb1 $((16 << 20))
"$UKIT" disk -O raw --cmdline "bench" "$D/k.elf" "$D/disk.raw"

now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

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

boot() {  # boot NAME ARGS...: median wall and CPU (user + sys) time
	local name=$1 i
	shift
	for i in $(seq "$RUNS"); do
		[ "$name" = uefi ] && cp $OVMF_VARS "$D/vars.fd"
		qemu "$@"
	done >"$D/$name.runs"
	awk '{ print $1 }' "$D/$name.runs" | median >"$D/$name.t"
	awk '{ print $2 }' "$D/$name.runs" | median >"$D/$name.c"
	printf '%-34s %8.3f s wall %8.3f s CPU\n' "boot $name (median of $RUNS)" \
		"$(cat "$D/$name.t")" "$(cat "$D/$name.c")"
}

echo "== boot under TCG: QEMU start to the kernel's serial line and exit"
boot kernel -kernel "$D/k.elf" -append bench
boot bios -drive file="$D/disk.raw",format=raw,if=ide,snapshot=on
boot uefi -drive if=pflash,format=raw,readonly=on,file=$OVMF_CODE \
	-drive if=pflash,format=raw,file="$D/vars.fd" \
	-drive file="$D/disk.raw",format=raw,if=ide,snapshot=on
# a figure the machine's load does not change: the sectors the BIOS
# disk's boot reads through the IDE disk (QEMU's ide_sector_read trace
# events; SeaBIOS reads one sector per command)
rm -f "$D/trace"
timeout 300 qemu-system-x86_64 -accel tcg -m 128 -nographic -display none \
	-monitor none -no-reboot -serial file:"$D/serial" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-drive file="$D/disk.raw",format=raw,if=ide,snapshot=on \
	-trace ide_sector_read -D "$D/trace" </dev/null >/dev/null 2>&1 || true
printf '%-34s %8s sectors\n' "boot bios reads" \
	"$(grep -c ide_sector_read "$D/trace" 2>/dev/null || echo '?')"
for m in t c; do
	k=$(cat "$D/kernel.$m") b=$(cat "$D/bios.$m") u=$(cat "$D/uefi.$m")
	[ $m = t ] && what=wall || what=CPU
	printf 'BIOS disk adds %6.0f ms %s over -kernel (goal <= 200 ms)\n' \
		"$(echo "($b - $k) * 1000" | bc -l)" $what
	printf 'UEFI disk adds %6.0f ms %s over -kernel\n' \
		"$(echo "($u - $k) * 1000" | bc -l)" $what
done

echo "== build a disk from a 16 MiB kernel ($(stat -c %s "$D/k16.elf") bytes)"
build() {  # build NAME CMD...: median wall time, max peak RSS
	local name=$1 i
	shift
	for i in $(seq "$RUNS"); do
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
