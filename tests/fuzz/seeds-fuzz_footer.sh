#!/bin/sh
# seeds-fuzz_footer.sh CORPUS: a valid footer (file size + 64 bytes).
set -eu
mkdir -p "$1"
/usr/bin/python3 - "$1/seed-valid" <<'P'
import struct, sys
orig, blen = 8192, 1200
foot = b"UKITSIG1" + struct.pack("<IIQQQ", 1, 0, orig, orig, blen) + bytes(24)
open(sys.argv[1], "wb").write(struct.pack("<Q", orig + blen + 64) + foot)
P
