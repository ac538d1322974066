#!/bin/bash
# bench/grub-steps.sh: where the BIOS loader of a ukit disk spends its
# time, step by step.  Not part of make check.
#
#   bash bench/grub-steps.sh     (RUNS=5 by default; TMPDIR for the files;
#                                 PACK="ARGS": more ukit-pack disk options;
#                                 ICOUNT=N: -icount shift; PERF=1: perf)
#
# The disk is the one bench/disk.sh boots (ukit-pack disk -O raw of the
# test kernel, tests/gen/mkmbkernel.sh).  Its embedded GRUB configuration
# (core.img's: the insmods from sector lists of the BIOS boot partition,
# then multiboot, then boot) is caught on its way to grub-mkimage (a
# grub-mkimage first in PATH that copies it), and one variant of the
# disk is made per step: core.img remade (same grub-mkimage arguments)
# with the configuration's first K lines and then an insmod of a module
# made here, ukexit (its init writes the TSC on COM1, then 0x21 to
# QEMU's isa-debug-exit port: QEMU exits with status 67 at once), whose sectors are put in the last
# 64-sector block of the BIOS boot partition.  So step K's time is QEMU's time
# to run GRUB through line K, plus the one small insmod of ukexit that
# every variant has (variant 0: GRUB's start-up and ukexit alone).
# Each run boots every variant once, in turn (and -kernel, the floor of
# bench/disk.sh and the whole disk, for reference); the median of RUNS
# counts, of QEMU's wall time (ns clock) and CPU time (user + sys, its
# rusage): bench/grub-steps.py.  The sectors each variant reads through IDE (QEMU's trace) are
# counted once, and each variant is booted once more under -icount
# (shift=ICOUNT, 3 by default: the guest's clock is its instruction
# count, 2^ICOUNT ns each, and so is its TSC, which ukexit prints): the
# guest instructions GRUB runs to each step, figures the machine's load
# does not move either (GRUB's TSC calibration waits 55 ms of that
# clock on the PIT: 55e6 / 2^ICOUNT instructions of it depend on ICOUNT;
# the row "start-up without TSC" boots step 0 with -cpu qemu64,-tsc,
# where GRUB skips the calibration).
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
UKIT=${UKIT_BIN:-$TOP/build/bin}/ukit-pack
RUNS=${RUNS:-5}
D=$(mktemp -d "${TMPDIR:-/tmp}/ukit-bench-grub.XXXXXX")
trap 'rm -rf "$D"' EXIT
export SOURCE_DATE_EPOCH=1700000000
MODDIR=/usr/lib/grub/i386-pc

sh "$TOP/tests/gen/mkmbkernel.sh" "$D/k.elf" mb1

# catch core.img's configuration and grub-mkimage arguments
mkdir "$D/wrap"
cat >"$D/wrap/grub-mkimage" <<EOF
#!/bin/bash
case " \$* " in *" i386-pc "*)
	printf '%s\n' "\$@" >"$D/mkimage.args"
	prev=
	for a in "\$@"; do [ "\$prev" = -c ] && cp "\$a" "$D/core.cfg"; prev=\$a; done
esac
exec /usr/bin/grub-mkimage "\$@"
EOF
chmod +x "$D/wrap/grub-mkimage"
# shellcheck disable=SC2086
PATH="$D/wrap:$PATH" "$UKIT" disk -O raw ${PACK:-} --cmdline "bench" \
	"$D/k.elf" "$D/disk.raw"
[ -s "$D/core.cfg" ] || { echo "bench: no i386-pc configuration caught" >&2; exit 1; }

# ukexit.mod: an ELF32 relocatable GRUB loads as a module (.modname,
# .module_license, a grub_mod_init symbol)
cat >"$D/ukexit.c" <<'EOF'
static void com1(char c)
{
	__asm__ volatile("outb %0, %1" : : "a"(c), "Nd"((unsigned short)0x3f8));
}

static void grub_mod_init(void *mod) __attribute__((used));
static void grub_mod_init(void *mod)
{
	static const char hex[] = "0123456789abcdef", tag[] = "ukexit tsc=";
	unsigned lo, hi;

	(void)mod;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	for (const char *p = tag; *p; p++)
		com1(*p);
	for (int i = 28; i >= 0; i -= 4)
		com1(hex[(hi >> i) & 15]);
	for (int i = 28; i >= 0; i -= 4)
		com1(hex[(lo >> i) & 15]);
	com1('\n');
	__asm__ volatile("outb %0, %1" : : "a"((unsigned char)0x21),
			 "Nd"((unsigned short)0xf4));
	for (;;)
		__asm__ volatile("hlt");
}
const char ukexit_modname[] __attribute__((section(".modname"), used)) = "ukexit";
const char ukexit_license[] __attribute__((section(".module_license"), used)) =
	"LICENSE=GPLv3";
EOF
gcc -m32 -ffreestanding -fno-pic -fno-pie -fno-asynchronous-unwind-tables \
	-fno-stack-protector -Os -c -o "$D/ukexit.mod" "$D/ukexit.c"

# the steps: the configuration's lines up to (not with) boot; names
# for the insmods from the module files their sectors hold
python3 - "$D" "$MODDIR" <<'PY'
import os, re, sys
d, moddir = sys.argv[1], sys.argv[2]
disk = open(os.path.join(d, "disk.raw"), "rb")
mods = {}
for f in os.listdir(moddir):
    if f.endswith(".mod"):
        b = open(os.path.join(moddir, f), "rb").read()
        mods.setdefault(len(b), []).append((f[:-4], b))
lines = [l for l in open(os.path.join(d, "core.cfg")).read().split("\n") if l]
if lines[-1] != "boot":
    sys.exit("bench: core.cfg does not end with boot")
end = 0
with open(os.path.join(d, "steps"), "w") as out:
    for l in lines[:-1]:
        m = re.match(r"(\w+) \(\$root\)(\d+)\+(\d+)", l)
        if not m:
            sys.exit("bench: core.cfg line not understood: " + l)
        lba, n = int(m.group(2)), int(m.group(3))
        name = m.group(1)
        if name == "insmod":
            end = max(end, lba + n)
            disk.seek(lba * 512)
            b = disk.read(n * 512)
            found = [k for size, c in mods.items() if (size + 511) // 512 == n
                     for k, mb in c if b[:size] == mb]
            name = "insmod " + (found[0] if found else "?")
        out.write("%s\t%d\t%d\n" % (name.replace(" ", "_"), n, n * 512))
size = os.path.getsize(os.path.join(d, "disk.raw")) // 512
# ukexit in the last 64-sector block of the BIOS boot partition (LBA
# 2048, 1 MiB): GRUB reads the disk in aligned blocks of 64 sectors, so
# every variant reads one block more for it, a block no step reads
x = 4096 - 64
if end > x:
    sys.exit("bench: no room for ukexit in the BIOS boot partition")
open(os.path.join(d, "exit.lba"), "w").write("%d\n" % x)
PY
XLBA=$(cat "$D/exit.lba")
XN=$((($(stat -c %s "$D/ukexit.mod") + 511) / 512))
NSTEP=$(wc -l <"$D/steps")

mapfile -t ARGS <"$D/mkimage.args"
variant() {  # variant K: $D/v$K.raw, GRUB stopping after K config lines
	local k=$1 i
	head -n "$k" "$D/core.cfg" >"$D/v$k.cfg"
	echo "insmod (\$root)$XLBA+$XN" >>"$D/v$k.cfg"
	local a=("${ARGS[@]}")
	for i in "${!a[@]}"; do
		case ${a[$i]} in
		-o) a[i + 1]=$D/v$k.core ;;
		-c) a[i + 1]=$D/v$k.cfg ;;
		esac
	done
	grub-mkimage "${a[@]}"
	cp "$D/disk.raw" "$D/v$k.raw"
	python3 - "$D/v$k.core" "$D/v$k.raw" "$D/ukexit.mod" "$XLBA" <<'PY'
import struct, sys
core = bytearray(open(sys.argv[1], "rb").read())
if len(core) % 512:
    core += bytes(512 - len(core) % 512)
n = len(core) // 512
if len(core) > 128 << 10:
    sys.exit("bench: core.img over the 128 KiB ukit leaves it")
struct.pack_into("<QH", core, 0x1f4, 2048 + 1, n - 1)
with open(sys.argv[2], "r+b") as f:
    f.seek(2048 * 512)
    f.write(core)
    f.seek(int(sys.argv[4]) * 512)
    f.write(open(sys.argv[3], "rb").read())
PY
}
for k in $(seq 0 "$NSTEP"); do
	variant "$k"
done

# the floor: a disk whose MBR prints the line and exits (floor-mbr.sh)
sh "$TOP/bench/floor-mbr.sh" "$D"

drv() { echo "-drive file=$1,format=raw,if=ide,snapshot=on"; }
{
	echo "kernel serial -kernel $D/k.elf -append bench"
	echo "floor serial $(drv "$D/floor.raw")"
	for k in $(seq 0 "$NSTEP"); do
		echo "v$k exit $(drv "$D/v$k.raw")"
	done
	echo "full serial $(drv "$D/disk.raw")"
	echo "v0-notsc exit -cpu qemu64,-tsc $(drv "$D/v0.raw")"
} >"$D/ways"
{ echo "start-up+ukexit	$XN	0"; cat "$D/steps"; } >"$D/steps.all"

echo "== GRUB i386-pc step by step under TCG (IDE; median of $RUNS; load before: $(uptime | sed 's/.*load average: //'))"
python3 "$TOP/bench/grub-steps.py" "$D" "$RUNS" "${ICOUNT:-3}"
echo "(load after: $(uptime | sed 's/.*load average: //'))"
