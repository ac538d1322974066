#!/usr/bin/python3
"""solo5diff.py SOLO5_ELFTOOL UKIT_ELFTOOL N SEED ELF...: differential test
of query-manifest and query-abi against a real solo5-elftool.

Mutates the given ELFs at random (header, program headers and notes: 1-4
fields of 1, 2 or 4 bytes set to edge values; sometimes truncation), runs
both tools and checks, for every input:
  - both succeed: identical stdout, unless solo5-elftool's stdout is not
    valid JSON (raw name bytes) and ukit's is;
  - only solo5-elftool succeeds: ukit's reason is one of its documented
    stricter checks (segments or section headers outside the file, an
    ABI1 descriptor under 8 bytes that solo5-elftool over-reads, ...);
  - only ukit succeeds: solo5-elftool failed for one of its known bugs
    (PT_NOTE smaller than a note header, host architecture only).
Prints a summary; exits 1 on any other outcome.
"""
import collections
import json
import os
import random
import subprocess
import sys
import tempfile

STRICTER = ("extends past end of file", "starts past end of file",
            "e_shentsize", "identification version", "more than the limit",
            "ABI1 descriptor too short")  # Solo5 over-reads the heap there
SOLO5_BUGS = ("p_filesz note does not fall within valid size",
              "elf header invalid")


def valid_json(b):
    try:
        json.loads(b)
        return True
    except ValueError:
        return False


def main():
    solo5, ukit, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    seeds = [open(f, "rb").read() for f in sys.argv[5:]]
    rnd = random.Random(seed)
    stats = collections.Counter()
    bad = 0
    fd, path = tempfile.mkstemp(suffix=".elf")
    os.close(fd)
    try:
        for _ in range(n):
            b = bytearray(rnd.choice(seeds))
            for _ in range(rnd.randint(1, 4)):
                off = rnd.randrange(0, min(len(b), 0x400) if rnd.random() < 0.6 else len(b))
                k = rnd.choice([1, 1, 2, 4])
                v = rnd.choice([0, 1, 4, 6, 8, 12, 16, 20, 0xff, 0xffffffff, rnd.getrandbits(32)])
                b[off:off + k] = (v & ((1 << (8 * k)) - 1)).to_bytes(k, "little")
            if rnd.random() < 0.05:
                b = b[:rnd.randrange(len(b))]
            open(path, "wb").write(b)
            for cmd in ("query-manifest", "query-abi"):
                s = subprocess.run([solo5, cmd, path], capture_output=True)
                u = subprocess.run([ukit, cmd, path], capture_output=True)
                serr = s.stderr.decode(errors="replace")
                uerr = u.stderr.decode(errors="replace")
                if s.returncode == 0 and u.returncode == 0:
                    if s.stdout == u.stdout:
                        key = "both accept, same output"
                    elif not valid_json(s.stdout) and valid_json(u.stdout):
                        key = "both accept, solo5 output invalid JSON, ukit escaped"
                    else:
                        key = "MISMATCH"
                elif s.returncode == 0:
                    key = "ukit stricter" if any(r in uerr for r in STRICTER) else "UNEXPECTED ukit failure: " + uerr
                elif u.returncode == 0:
                    key = "solo5 bug avoided" if any(r in serr for r in SOLO5_BUGS) else "UNEXPECTED solo5 failure: " + serr
                else:
                    key = "both refuse"
                if key.startswith(("MISMATCH", "UNEXPECTED")):
                    bad += 1
                    keep = path + ".bad%d" % bad
                    open(keep, "wb").write(b)
                    key += " (kept in %s)" % keep
                stats[cmd + ": " + key] += 1
    finally:
        os.unlink(path)
    for k, v in sorted(stats.items()):
        print("%6d %s" % (v, k))
    sys.exit(1 if bad else 0)


main()
