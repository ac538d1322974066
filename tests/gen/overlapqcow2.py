#!/usr/bin/python3
"""overlapqcow2.py GOOD.qcow2 OUTDIR: write qcow2 images whose metadata
overlaps other metadata, or whose header breaks a rule of the spec, and
OUTDIR/table.txt, one line per image:

    NAME|WHAT|WHAT2|OFFSET

One line `ukit-pack check` prints must hold WHAT, WHAT2 (when not empty)
and OFFSET (when not "-"): the two structures (in either order) and the
offset of the cluster they share, or the header field and its offset.

GOOD is made by qemu-img and qemu-io: 64 KiB clusters, v3, guest data in
two L2 ranges, so it has two L2 tables.  Facts used (qemu's
docs/interop/qcow2.txt): the header is big-endian; bytes 40-47 hold the L1
table offset, 48-55 the refcount table offset, 56-59 its length in
clusters, 60-63 nb_snapshots, 64-71 the snapshot table offset, 72-79 the
incompatible features (bit 0 dirty), 80-87 the compatible features (bit 0
lazy refcounts), 100-103 header_length (v3: at least 104 and a multiple of
8).  An L1 entry holds the L2 table offset in bits 9-55 (bit 63 COPIED);
a refcount table entry holds a refcount block offset in bits 9-63.  An
offset 0 in either means "not allocated", so neither an L2 table nor a
refcount block can be placed on the header (cluster 0) through its table:
the header cases here are the tables the header itself places (the L1
table, the refcount table, the snapshot table at offset 0).
"""
import os
import struct
import sys

good_path, out = sys.argv[1:3]
os.makedirs(out, exist_ok=True)
good = open(good_path, 'rb').read()
rows = []


def be32(b, o):
    return struct.unpack_from('>I', b, o)[0]


def be64(b, o):
    return struct.unpack_from('>Q', b, o)[0]


def put(b, off, fmt, v):
    b = bytearray(b)
    struct.pack_into(fmt, b, off, v)
    return bytes(b)


CS = 1 << be32(good, 20)
L1 = be64(good, 40)
RT = be64(good, 48)
RB = be64(good, RT) & ~511
L2A = be64(good, L1) & 0x00fffffffffffe00
# the second L2 table: the next non-zero L1 entry
L2B = next(be64(good, L1 + 8 * i) & 0x00fffffffffffe00
           for i in range(1, be32(good, 36)) if be64(good, L1 + 8 * i))
L1B_AT = next(L1 + 8 * i for i in range(1, be32(good, 36))
              if be64(good, L1 + 8 * i))
assert CS == 65536 and RB and L2A and L2B and L2A != L2B
COPIED = 1 << 63


def emit(name, data, what, off, what2=''):
    open(os.path.join(out, name + '.qcow2'), 'wb').write(data)
    rows.append('%s|%s|%s|%s' % (name, what, what2, '-' if off is None else
                                 '0x%x' % off))


def pair(name, data, a, b, off):
    """(a) and (b) share the cluster at (off): "used as A and as B" in
    either order, or "used twice as A" when they are the same kind."""
    if a == b:
        emit(name, data, 'used twice as ' + a, off)
    else:
        emit(name, data, 'used as', off, a + '&' + b)


L2 = 'an L2 table'
L1T = 'an L1 table'
RTT = 'the refcount table'
RBT = 'a refcount block'
# an L2 table (through an L1 entry) on each other structure
pair('l2-on-l1', put(good, L1, '>Q', COPIED | L1), L2, L1T, L1)
pair('l2-on-reftable', put(good, L1, '>Q', COPIED | RT), L2, RTT, RT)
pair('l2-on-refblock', put(good, L1, '>Q', COPIED | RB), L2, RBT, RB)
pair('l2-on-l2', put(good, L1B_AT, '>Q', COPIED | L2A), L2, L2, L2A)
# a refcount block (through a refcount table entry) on each structure
pair('rb-on-l1', put(good, RT + 8, '>Q', L1), RBT, L1T, L1)
pair('rb-on-reftable', put(good, RT + 8, '>Q', RT), RBT, RTT, RT)
pair('rb-on-l2', put(good, RT + 8, '>Q', L2B), RBT, L2, L2B)
pair('rb-on-rb', put(good, RT + 8, '>Q', RB), RBT, RBT, RB)
# the tables the header places, on each other
pair('l1-on-reftable', put(good, 40, '>Q', RT), L1T, RTT, RT)
pair('l1-on-refblock', put(good, 40, '>Q', RB), L1T, RBT, RB)
pair('reftable-on-l1', put(good, 48, '>Q', L1), RTT, L1T, L1)
pair('reftable-on-l2', put(good, 48, '>Q', L2A), RTT, L2, L2A)
# the snapshot table on the header and on the L1 table
pair('snaptable-on-header', put(put(good, 60, '>I', 1), 64, '>Q', 0),
     'the snapshot table', 'the header', 0)
pair('snaptable-on-l1', put(put(good, 60, '>I', 1), 64, '>Q', L1),
     'the snapshot table', L1T, L1)
# header fields the spec forbids
for n in (105, 108, 110):
    emit('hdrlen-%d' % n, put(good, 100, '>I', n),
         'header_length %d not a multiple of 8' % n, 100)
emit('dirty-no-lazy', put(put(good, 72, '>Q', 1), 80, '>Q', 0),
     'dirty bit (incompatible feature bit 0) set without lazy refcounts',
     72)

open(os.path.join(out, 'table.txt'), 'w').write('\n'.join(rows) + '\n')
