#!/bin/bash
# t43-pack-info-elf: `info` on ELF images (class, byte order, machine,
# type, entry and segments as readelf shows them; the Solo5 ABI and
# manifest), on flat binaries (-f bin) and on a damaged ELF (exit 1).
. "$(dirname "$0")/lib.sh"

gen=$TOP/tests/gen/mkelf.sh
data=$SHARED/data/solo5
for arch in x86_64 aarch64 ppc64; do
	if ! bash "$gen" -a $arch -m "$data/m03-net-block/note.hex" -t 3 -v 1 \
		"$T/u-$arch.elf" >/dev/null 2>&1; then
		missing "$arch: cannot build the fixture"
		continue
	fi
	check "$arch: info --json" ukit-pack info --json "$T/u-$arch.elf"
	cp "$T/.out" "$T/i.json"
	validate_json "$arch: output valid" pack-info.schema.json "$T/i.json"
	readelf -hlW "$T/u-$arch.elf" >"$T/re.txt"
	if "$PY" - "$T/i.json" "$T/re.txt" "$arch" <<'PYEOF'; then
import json, re, sys
j = json.load(open(sys.argv[1]))["elf"]
r = open(sys.argv[2]).read()
entry = int(re.search(r"Entry point address:\s+(0x[0-9a-f]+)", r).group(1), 16)
loads = re.findall(r"^\s+(LOAD|NOTE)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+"
                   r"(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)", r, re.M)
want = [(t, int(o, 16), int(v, 16), int(p, 16), int(f, 16), int(m, 16))
        for t, o, v, p, f, m in loads]
got = [(s["type"], s["offset"], s["vaddr"], s["paddr"], s["filesz"], s["memsz"])
       for s in j["segments"] if s["type"] in ("LOAD", "NOTE")]
big = "big endian" in r
ok = (j["entry"] == entry and got == want and j["class"] == "ELF64" and
      j["type"] == "EXEC" and (j["byte-order"] == "big-endian") == big)
if not ok:
    print("# got", j["entry"], got, j["byte-order"]); print("# want", entry, want, big)
sys.exit(0 if ok else 1)
PYEOF
		ok "$arch: entry, segments and byte order as readelf shows them"
	else
		not_ok "$arch: differs from readelf"
	fi
	if "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))["elf"]
assert j["solo5-abi"] == {"target": "virtio", "version": 1}, j.get("solo5-abi")
m = j["solo5-manifest"]
assert m["type"] == "solo5.manifest" and m["version"] == 1
assert len(m["devices"]) == 2 and all(d["type"] in ("NET_BASIC", "BLOCK_BASIC") for d in m["devices"]), m
' "$T/i.json"; then
		ok "$arch: Solo5 ABI and manifest"
	else
		not_ok "$arch: Solo5 ABI and manifest"
	fi
done
# the manifest's devices are the ones in the reference manifest.json
if [ -f "$T/u-x86_64.elf" ] && [ -f "$data/m03-net-block/manifest.json" ]; then
	"$PY" -c '
import json, sys
a = json.load(open(sys.argv[1]))["elf"]["solo5-manifest"]["devices"]
b = json.load(open(sys.argv[2]))["devices"]
sys.exit(0 if [(d["name"], d["type"]) for d in a] == [(d["name"], d["type"]) for d in b] else 1)
' <(ukit-pack info --json "$T/u-x86_64.elf") "$data/m03-net-block/manifest.json" &&
		ok "manifest devices match the reference manifest.json" ||
		not_ok "manifest devices differ from the reference manifest.json"
fi
check "info text on an ELF" sh -c "ukit-pack info '$T/u-x86_64.elf' | grep -q '^machine: x86_64'"
# a flat binary is only "bin" when asked; otherwise raw
head -c 5000 /dev/urandom >"$T/x.bin"
check "info -f bin" sh -c "ukit-pack info --json -f bin '$T/x.bin' | grep -q '\"virtual-size\": 5000'"
check "a binary without magic probes as raw" sh -c \
	"ukit-pack info --json '$T/x.bin' | grep -q '\"format\": \"raw\"'"
# damaged ELF: program headers past the end of the file
if [ -f "$T/u-x86_64.elf" ]; then
	head -c 100 "$T/u-x86_64.elf" >"$T/cut.elf"
	expect_fail 1 "cut.elf" "truncated ELF: exit 1 with the file named" \
		ukit-pack info "$T/cut.elf"
fi
done_testing
