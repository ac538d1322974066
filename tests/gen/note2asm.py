#!/usr/bin/python3
"""note2asm.py [--raw] NOTE.hex: print assembler directives for an ELF note.

With --raw the bytes are emitted as they are (.byte only).

NOTE.hex is `xxd -p` text of one complete note (12-byte header, name,
padding, descriptor) in little-endian byte order, as Solo5's toolchain
produces on x86_64 and aarch64.  Integer fields are emitted as .long so the
assembler writes them in the target's byte order; everything else as .byte.
For a Solo5 MFT1 note the descriptor's integers (version, entries, each
entry's type) are .long too; the unions and padding are left as bytes (all
zero in a linked-but-not-loaded manifest).
"""
import struct
import sys


def main():
    if sys.argv[1] == "--raw":
        raw = bytes.fromhex("".join(open(sys.argv[2]).read().split()))
        for i in range(0, len(raw), 16):
            print("\t.byte " + ", ".join(str(x) for x in raw[i:i + 16]))
        return
    raw = bytes.fromhex("".join(open(sys.argv[1]).read().split()))
    namesz, descsz, ntype = struct.unpack_from("<III", raw, 0)
    out = ["\t.long %d, %d, 0x%x" % (namesz, descsz, ntype)]
    doff = 12 + ((namesz + 3) & ~3)

    def byts(b):
        for i in range(0, len(b), 16):
            out.append("\t.byte " + ", ".join(str(x) for x in b[i:i + 16]))

    byts(raw[12:doff])
    desc = raw[doff:]
    if raw[12:18] == b"Solo5\0" and ntype == 0x3154464d and len(desc) >= 12:
        byts(desc[0:4])
        version, entries = struct.unpack_from("<II", desc, 4)
        out.append("\t.long %d, %d" % (version, entries))
        off = 12
        while off + 104 <= len(desc):
            byts(desc[off:off + 68])
            out.append("\t.long 0x%x" % struct.unpack_from("<I", desc, off + 68))
            byts(desc[off + 72:off + 104])
            off += 104
        byts(desc[off:])
    else:
        byts(desc)
    print("\n".join(out))


main()
