#!/bin/bash
# t47-pack-disk-info: ukit-pack info on a disk ukit-pack disk made (raw
# and qcow2): the GPT partitions (GUIDs as sgdisk reads them), the GRUB
# configuration and the kernel with its Solo5 manifest (a test kernel
# carrying a manifest note from ukit-elftool gen-manifest).  Damaged GPTs
# and FATs are refused with exact errors.
. "$(dirname "$0")/lib.sh"

for tool in grub-mkimage mformat sgdisk gcc objcopy; do
	if ! command -v $tool >/dev/null; then
		missing "no $tool"
		done_testing
		exit 0
	fi
done
G=$TOP/tests/gen
export SOURCE_DATE_EPOCH=1700000000
cat >"$T/m.json" <<'EOF'
{"type":"solo5.manifest","version":1,"devices":[{"name":"service","type":"NET_BASIC"},{"name":"storage","type":"BLOCK_BASIC"}]}
EOF
ukit-elftool gen-manifest --format note "$T/m.json" "$T/m.note"
sh "$G/mkmbkernel.sh" "$T/k32.elf" mb1 0 "$T/m.note"
objcopy -O elf64-x86-64 "$T/k32.elf" "$T/k.elf"
check "the kernel carries the manifest" sh -c \
	"ukit-pack info '$T/k.elf' | grep -q 'solo5 manifest: 2 devices'"
check "disk -O raw" ukit-pack disk -O raw --cmdline 'a "b c"' "$T/k.elf" "$T/d.raw"
check "disk -O qcow2" ukit-pack disk -O qcow2 --firmware uefi "$T/k.elf" "$T/d.qcow2"

ukit-pack info "$T/d.raw" >"$T/info" 2>"$T/err"
check "info of the raw disk: exit 0" test $? = 0
for want in '^file format: raw$' \
	'^partition table: gpt, disk GUID [0-9A-F-]{36}$' \
	'^    1: BIOS boot +LBA 2048-4095 \(1048576 bytes\) "BIOS boot"$' \
	'^    2: EFI system +LBA 4096-[0-9]+ \([0-9]+ bytes\) "EFI system"$' \
	'^boot: GRUB, from partition 2; its configuration:$' \
	"^    multiboot /kernel kernel 'a' 'b c'$" \
	'^    boot$' \
	"^kernel: /kernel \\($(stat -c %s "$T/k.elf") bytes\\)$" \
	'^class: ELF64$' \
	'^solo5 manifest: 2 devices$' \
	'^    service: NET_BASIC$' '^    storage: BLOCK_BASIC$'; do
	check "info shows /$want/" grep -Eq "$want" "$T/info"
done
g=$(sgdisk -p "$T/d.raw" | sed -n 's/^Disk identifier (GUID): //p')
check "the disk GUID is the one sgdisk reads ($g)" grep -q "disk GUID $g\$" "$T/info"

ukit-pack info --json "$T/d.raw" >"$T/j" 2>"$T/err"
sgdisk -i 1 "$T/d.raw" | sed -n 's/^Partition unique GUID: //p' >"$T/g1"
sgdisk -i 2 "$T/d.raw" | sed -n 's/^Partition unique GUID: //p' >"$T/g2"
check "info --json: partitions, GUIDs as sgdisk -i, boot, manifest" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
pt = j["partition-table"]
assert pt["type"] == "gpt"
p = pt["partitions"]
assert [x["number"] for x in p] == [1, 2], p
assert p[0]["type"] == "BIOS boot" and p[1]["type"] == "EFI system", p
assert p[1]["type-guid"] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
assert p[0]["guid"] == open(sys.argv[2]).read().strip(), p[0]
assert p[1]["guid"] == open(sys.argv[3]).read().strip(), p[1]
assert p[0]["first-lba"] == 2048 and p[0]["size"] == 1048576
b = j["boot"]
assert b["loader"] == "grub" and b["partition"] == 2
assert b["config"] == "multiboot /kernel kernel '"'"'a'"'"' '"'"'b c'"'"'\nboot\n", b["config"]
k = b["kernel"]
assert k["path"] == "/kernel"
m = k["elf"]["solo5-manifest"]
assert [d["name"] for d in m["devices"]] == ["service", "storage"], m
' "$T/j" "$T/g1" "$T/g2"

ukit-pack info "$T/d.qcow2" >"$T/qinfo" 2>"$T/err"
check "info of the qcow2 disk: exit 0" test $? = 0
check "qcow2: qemu-img's lines first" grep -q '^cluster_size: 65536$' "$T/qinfo"
check "qcow2 (uefi only): the ESP is partition 1" \
	grep -Eq '^    1: EFI system +LBA 2048-' "$T/qinfo"
check "qcow2: the kernel's manifest" grep -q '^    service: NET_BASIC$' "$T/qinfo"

# a disk without a GPT: info as before, no partition lines
head -c 1M /dev/zero >"$T/plain.raw"
ukit-pack info "$T/plain.raw" >"$T/pinfo"
check "a plain raw image: no partition table line" sh -c "! grep -q 'partition' '$T/pinfo'"
# a GPT made by sgdisk without ukit's files: partitions, no boot lines
truncate -s 8M "$T/other.raw"
sgdisk -n 1:2048:4095 -t 1:8300 -c 1:data "$T/other.raw" >/dev/null
ukit-pack info "$T/other.raw" >"$T/oinfo"
check "sgdisk's GPT: its partition, by type name" \
	grep -Eq '^    1: Linux filesystem +LBA 2048-4095 \(1048576 bytes\) "data"$' "$T/oinfo"
check "sgdisk's GPT: no boot lines" sh -c "! grep -q '^boot:' '$T/oinfo'"

# damaged disks: exit 1, the exact error
cat >"$T/dmg.py" <<'EOF'
# dmg.py IN OUT WHAT: damage a disk; print the variable part of the error
import struct, sys, zlib
b = bytearray(open(sys.argv[1], "rb").read())
what = sys.argv[3]
def crc_hdr():
    h = bytearray(b[512:512 + 92])
    struct.pack_into("<I", h, 16, 0)
    return zlib.crc32(bytes(h))
def crc_ent():
    return zlib.crc32(bytes(b[1024:1024 + 16384]))
if what == "hdrcrc":
    b[512 + 40] ^= 1                                  # first usable LBA
    print("0x%08x does not match its bytes (0x%08x)"
          % (struct.unpack_from("<I", b, 512 + 16)[0], crc_hdr()))
elif what == "entcrc":
    b[1024 + 128 + 56] ^= 1                           # entry 2's name
    print("0x%08x does not match their bytes (0x%08x)"
          % (struct.unpack_from("<I", b, 512 + 88)[0], crc_ent()))
elif what == "outside":
    n = len(b) // 512
    struct.pack_into("<Q", b, 1024 + 128 + 40, n + 5)
    struct.pack_into("<I", b, 512 + 88, crc_ent())
    struct.pack_into("<I", b, 512 + 16, crc_hdr())
    print("4096-%d outside the disk (%d sectors)" % (n + 5, n))
else:
    esp = struct.unpack_from("<Q", b, 1024 + 128 + 32)[0] * 512
    if what == "bps":
        struct.pack_into("<H", b, esp + 11, 1000)
    elif what == "chain":
        bps, spc = struct.unpack_from("<HB", b, esp + 11)
        rsv, nf, rootent, tot = struct.unpack_from("<HBHH", b, esp + 14)
        fatsz = struct.unpack_from("<H", b, esp + 22)[0]
        root = esp + (rsv + nf * fatsz) * bps
        data = rsv + nf * fatsz + (rootent * 32 + bps - 1) // bps
        nclus = (tot - data) // spc
        assert nclus < 4085                           # FAT12
        for i in range(rootent):
            e = root + 32 * i
            if b[e:e + 11] == b"KERNEL     ":
                c = struct.unpack_from("<H", b, e + 26)[0]
                break
        o = esp + rsv * bps + c + c // 2              # 12-bit entries
        v = struct.unpack_from("<H", b, o)[0]
        v = (v & 0x000f) | (0xff7 << 4) if c & 1 else (v & 0xf000) | 0xff7
        struct.pack_into("<H", b, o, v)
        print("0x%x: FAT12: cluster %d is followed by 4087, outside 2..%d"
              % (o, c, nclus + 1))
open(sys.argv[2], "wb").write(b)
EOF
n=0
while IFS='|' read -r what want; do
	[ -z "$what" ] && continue
	out=$("$PY" "$T/dmg.py" "$T/d.raw" "$T/$what.raw" "$what")
	want=${want//@/$T/$what.raw}
	want=${want//%/$out}
	ukit-pack info "$T/$what.raw" >/dev/null 2>"$T/err"
	rc=$?
	if [ $rc = 1 ] && [ "$(cat "$T/err")" = "ukit-pack: $want" ]; then
		ok "$what: exit 1: $want"
	else
		not_ok "$what: exit $rc: '$(cat "$T/err")', want 'ukit-pack: $want'"
	fi
done <<'EOF'
hdrcrc|@:0x210: GPT header CRC32 %
entcrc|@:0x400: GPT entries CRC32 %
outside|@:0x4a0: GPT partition 2: LBA %
bps|@:0x20000b: FAT: 1000 bytes per sector
chain|@:%
EOF

done_testing
