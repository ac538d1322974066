#!/usr/bin/python3
"""elfmut.py IN OUT EDIT...: patch fields of an ELF file (any class, any
byte order) to make hostile test inputs.  IN and OUT may be the same.

EDITs (values are Python integer literals, e.g. 0x40):
  ehdr FIELD VALUE        FIELD: type machine version entry phoff shoff
                          flags ehsize phentsize phnum shentsize shnum
                          shstrndx, or class / data (e_ident bytes)
  phdr I FIELD VALUE      FIELD: type flags offset vaddr paddr filesz memsz
                          align
  note I FIELD VALUE      first note of program header I: namesz descsz
                          type (the 12-byte header at p_offset)
  truncate N              keep only the first N bytes
  append N                append N zero bytes
  poke OFF BYTE           set one byte
"""
import struct
import sys

E64 = {"type": (16, "H"), "machine": (18, "H"), "version": (20, "I"),
       "entry": (24, "Q"), "phoff": (32, "Q"), "shoff": (40, "Q"),
       "flags": (48, "I"), "ehsize": (52, "H"), "phentsize": (54, "H"),
       "phnum": (56, "H"), "shentsize": (58, "H"), "shnum": (60, "H"),
       "shstrndx": (62, "H")}
E32 = {"type": (16, "H"), "machine": (18, "H"), "version": (20, "I"),
       "entry": (24, "I"), "phoff": (28, "I"), "shoff": (32, "I"),
       "flags": (36, "I"), "ehsize": (40, "H"), "phentsize": (42, "H"),
       "phnum": (44, "H"), "shentsize": (46, "H"), "shnum": (48, "H"),
       "shstrndx": (50, "H")}
P64 = {"type": (0, "I"), "flags": (4, "I"), "offset": (8, "Q"),
       "vaddr": (16, "Q"), "paddr": (24, "Q"), "filesz": (32, "Q"),
       "memsz": (40, "Q"), "align": (48, "Q")}
P32 = {"type": (0, "I"), "offset": (4, "I"), "vaddr": (8, "I"),
       "paddr": (12, "I"), "filesz": (16, "I"), "memsz": (20, "I"),
       "flags": (24, "I"), "align": (28, "I")}
N = {"namesz": (0, "I"), "descsz": (4, "I"), "type": (8, "I")}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    b = bytearray(open(sys.argv[1], "rb").read())
    args = sys.argv[3:]
    is64 = b[4] == 2
    bo = ">" if b[5] == 2 else "<"
    eh, ph = (E64, P64) if is64 else (E32, P32)

    def get(off, f):
        return struct.unpack_from(bo + f, b, off)[0]

    def put(off, f, v):
        struct.pack_into(bo + f, b, off, v & ((1 << (8 * struct.calcsize(f))) - 1))

    def phdr_off(i):
        return get(eh["phoff"][0], eh["phoff"][1]) + i * get(eh["phentsize"][0], "H")

    i = 0
    while i < len(args):
        a = args[i]
        if a == "ehdr":
            f, v = args[i + 1], int(args[i + 2], 0)
            if f == "class":
                b[4] = v
            elif f == "data":
                b[5] = v
            else:
                put(eh[f][0], eh[f][1], v)
            i += 3
        elif a == "phdr":
            n, f, v = int(args[i + 1], 0), args[i + 2], int(args[i + 3], 0)
            put(phdr_off(n) + ph[f][0], ph[f][1], v)
            i += 4
        elif a == "note":
            n, f, v = int(args[i + 1], 0), args[i + 2], int(args[i + 3], 0)
            off = get(phdr_off(n) + ph["offset"][0], ph["offset"][1])
            put(off + N[f][0], N[f][1], v)
            i += 4
        elif a == "truncate":
            del b[int(args[i + 1], 0):]
            i += 2
        elif a == "append":
            b += bytes(int(args[i + 1], 0))
            i += 2
        elif a == "poke":
            b[int(args[i + 1], 0)] = int(args[i + 2], 0)
            i += 3
        else:
            sys.exit("elfmut.py: unknown edit %r" % a)
    open(sys.argv[2], "wb").write(b)


main()
