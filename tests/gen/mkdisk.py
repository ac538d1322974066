#!/usr/bin/python3
"""mkdisk.py OUT [MIB]: a sparse raw disk image for the convert tests.

Mixes random data, compressible text, explicit zero runs (written as data),
holes (never written) and a tail that is 512-aligned but not aligned to any
cluster size above 512.  Deterministic: the same bytes every run.
"""
import random
import sys

out = sys.argv[1]
mib = int(sys.argv[2]) if len(sys.argv) > 2 else 6
rng = random.Random(20261122)
size = mib * (1 << 20) + 5 * 512          # tail: 2.5 KiB past a MiB boundary
text = b"".join(b"line %06d: the quick brown fox jumps over the lazy dog\n" % i
                for i in range(4000))
with open(out, "wb") as f:
    f.truncate(size)
    pos = 0
    kinds = ["random", "text", "zeros", "hole", "short"]
    while pos < size - 8192:
        kind = rng.choice(kinds)
        n = rng.choice([700, 4096, 65536, 70000, 300000, 1 << 20])
        n = min(n, size - pos)
        f.seek(pos)
        if kind == "random":
            f.write(rng.randbytes(n))
        elif kind == "text":
            f.write((text * (n // len(text) + 1))[:n])
        elif kind == "zeros":
            f.write(bytes(n))
        elif kind == "short":             # a few bytes inside a cluster
            f.write(b"x" * 17)
            n = max(n, 17)
        pos += n
    f.seek(size - 1000)                   # the unaligned tail holds data
    f.write(rng.randbytes(1000))
