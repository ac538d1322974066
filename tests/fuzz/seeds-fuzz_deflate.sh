#!/bin/sh
# seeds-fuzz_deflate.sh CORPUS: text, zeros, a window-edge repeat, random.
set -eu
mkdir -p "$1"
/usr/bin/python3 - "$1" <<'P'
import os, sys
d = sys.argv[1]
text = b"int main(void) { return 0; } /* the quick brown fox */\n" * 200
r = os.urandom(4095)
open(os.path.join(d, "seed-text"), "wb").write(b"\0" + text)
open(os.path.join(d, "seed-zeros"), "wb").write(b"\0" + bytes(70000))
open(os.path.join(d, "seed-window"), "wb").write(b"\0" + r + r + r[:100])
open(os.path.join(d, "seed-tight"), "wb").write(b"\xc0" + text)
open(os.path.join(d, "seed-random"), "wb").write(b"\x10" + os.urandom(3000))
P
