#!/usr/bin/python3
"""tender_model.py FILE mft|abi: what a Solo5 tender's note loader does with
FILE, as an independent oracle for the tests.  Written from the facts of
Solo5's tenders/common/elf.c (ehdr_is_valid, elf_load_note) and the note
layouts of include/mft_abi.h and include/elf_abi.h, on a little-endian
host of any of the three machines Solo5 builds for:

  - the ELF header (64 bytes) must be readable; magic, ELFCLASS64,
    ELFDATA2LSB, e_version 1, e_ehsize 64, e_phnum >= 1, e_phentsize 56,
    ET_EXEC, e_machine x86_64 (62), aarch64 (183) or ppc64 (21);
    e_ident[EI_VERSION], EI_OSABI and the section header table are never
    looked at;
  - the whole program header table must be readable;
  - PT_NOTEs in table order: p_filesz < 12 refuses the file, < 20 skips
    the PT_NOTE; only the note at p_offset is read (20 bytes, else
    refused); it is taken when namesz is 6, the name "Solo5" and the type
    the one looked for; then descsz must be 1..max and fit p_filesz;
  - the descriptor is read from p_offset + 20 rounded up to the note's
    alignment (MFT1 8, ABI1 4), descsz minus that padding bytes, all of
    which must be in the file.

Prints "accept HEX" (the descriptor content), "absent" or "refuse WHY".
"""
import struct
import sys

TYPES = {"mft": (0x3154464D, 8, 6668), "abi": (0x31494241, 4, 32)}


def model(b, kind):
    ntype, align, maxsz = TYPES[kind]
    if len(b) < 64:
        return "refuse elf header short"
    if b[:4] != b"\x7fELF" or b[4] != 2 or b[5] != 1:
        return "refuse ident"
    (etype, mach, ver, _entry, phoff, _shoff, _flags, ehsize, phentsize,
     phnum) = struct.unpack_from("<HHIQQQIHHH", b, 16)
    if ver != 1 or ehsize != 64 or phnum < 1 or phentsize != 56:
        return "refuse header sizes"
    if etype != 2 or mach not in (62, 183, 21):
        return "refuse type or machine"
    if phoff + 56 * phnum > len(b):
        return "refuse program headers short"
    for i in range(phnum):
        ptype, _, off, _, _, filesz = struct.unpack_from("<IIQQQQ", b, phoff + 56 * i)
        if ptype != 4:
            continue
        if filesz < 12:
            return "refuse phdr[%d] below a note header" % i
        if filesz < 20:
            continue
        if off + 20 > len(b):
            return "refuse phdr[%d] note header short" % i
        namesz, descsz, t = struct.unpack_from("<III", b, off)
        if namesz != 6 or b[off + 12:off + 18] != b"Solo5\0" or t != ntype:
            continue
        if descsz < 1 or descsz > maxsz or filesz < 20 + descsz:
            return "refuse phdr[%d] descsz %d" % (i, descsz)
        start = (20 + align - 1) & -align
        size = descsz - (start - 20)
        if size <= 0:
            return "refuse phdr[%d] no content" % i
        if off + start + size > len(b):
            return "refuse phdr[%d] descriptor short" % i
        return "accept " + b[off + start:off + start + size].hex()
    return "absent"


if __name__ == "__main__":
    print(model(open(sys.argv[1], "rb").read(), sys.argv[2]))
