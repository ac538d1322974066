#!/usr/bin/python3
"""badqcow2.py GOOD.qcow2 ZLIB.qcow2 OUTDIR [EXTL2.qcow2 EXTL2Z.qcow2]:
write a table of corrupted qcow2 images derived from good ones made by
qemu-img (64 KiB clusters, v3; GOOD uncompressed with data in guest
clusters 0 and 1, ZLIB with compressed clusters, EXTL2 and EXTL2Z the
same with extended L2 entries, EXTL2Z compressed), and OUTDIR/table.txt,
one line per image:

    NAME|CHECK|READ|OFFSET|CHECKOFFSET

CHECK: what `ukit-pack check` must say: corrupt, leak, or refused (header
rejected: also a corruption finding).  READ: "ok" when reading the virtual
content must still work, "differ" when it reads but differs from the
source, or the error substring that reading must fail with.  OFFSET: the
byte offset the read error must name, "-" if none; CHECKOFFSET: one
check finding must name it (usually the same).
"""
import os
import struct
import sys

good_path, zlib_path, out = sys.argv[1:4]
ext_paths = sys.argv[4:6]
os.makedirs(out, exist_ok=True)
good = open(good_path, 'rb').read()
zimg = open(zlib_path, 'rb').read()
rows = []


def be32(b, o):
    return struct.unpack_from('>I', b, o)[0]


def be64(b, o):
    return struct.unpack_from('>Q', b, o)[0]


def layout(b):
    cb = be32(b, 20)
    cs = 1 << cb
    l1 = be64(b, 40)
    rt = be64(b, 48)
    l2 = be64(b, l1) & 0x00fffffffffffe00
    rb = be64(b, rt) & ~511
    return cs, l1, rt, l2, rb


CS, L1, RT, L2, RB = layout(good)
assert CS == 65536


def put(b, off, fmt, v):
    b = bytearray(b)
    struct.pack_into(fmt, b, off, v)
    return bytes(b)


def emit(name, data, check, read, off, ckoff=None):
    with open(os.path.join(out, name + '.qcow2'), 'wb') as f:
        f.write(data)
    if ckoff is None:
        ckoff = off
    rows.append('%s|%s|%s|%s|%s' % (name, check, read,
                                    '-' if off is None else '0x%x' % off,
                                    '-' if ckoff is None else '0x%x' % ckoff))


def hdr(name, off, fmt, v, msg):
    emit(name, put(good, off, fmt, v), 'refused', msg, off)


# ---- header limits ---------------------------------------------------
hdr('version1', 4, '>I', 1, 'unsupported qcow2 version 1')
hdr('version4', 4, '>I', 4, 'unsupported qcow2 version 4')
hdr('cbits8', 20, '>I', 8, 'cluster_bits 8 outside 9..21')
hdr('cbits22', 20, '>I', 22, 'cluster_bits 22 outside 9..21')
hdr('cbits64', 20, '>I', 64, 'cluster_bits 64 outside 9..21')
hdr('cbitsmax', 20, '>I', 0xffffffff, 'outside 9..21')
hdr('crypt', 32, '>I', 1, 'encrypted images are not supported')
hdr('hugesize', 24, '>Q', 1 << 62, 'L1 entries (limit')
emit('size-over-l1', put(good, 24, '>Q', 1 << 40), 'refused',
     'L1 table too small', 36)
hdr('hugel1', 36, '>I', 0xffffffff, 'l1_size 4294967295 too large')
hdr('l1unaligned', 40, '>Q', L1 + 8, 'not aligned to the cluster size')
hdr('l1pasteof', 40, '>Q', 1 << 40, 'L1 table extends past end of file')
hdr('rtunaligned', 48, '>Q', RT + 512, 'not aligned to the cluster size')
hdr('rtzero', 56, '>I', 0, 'refcount table has no clusters')
hdr('rthuge', 56, '>I', 0x10000, 'refcount table too large')
hdr('incompat-unknown', 72, '>Q', 0x20, 'unknown incompatible feature bits 0x20')
hdr('incompat-high', 72, '>Q', 1 << 63, 'unknown incompatible feature bits')
hdr('datafile', 72, '>Q', 0x4, 'external data files are not supported')
# extended L2 set on an image without: every other L2 entry is read as a
# subcluster bitmap; qemu-img check finds the clusters no longer
# referenced (leaks), and the content differs
emit('extl2', put(good, 72, '>Q', 0x10), 'leak', 'differ', None)
# extended L2 entries need subclusters of 512 bytes or more
emit('extl2-c8k', put(put(good, 20, '>I', 13), 72, '>Q', 0x10), 'refused',
     'subclusters would be smaller than 512 bytes', 20)
emit('ctype-nobit', put(good, 104, '>B', 1), 'refused',
     'without the compression type feature bit', 72)
emit('ctype-2', put(put(good, 104, '>B', 2), 72, '>Q', 8), 'refused',
     'unknown compression type 2', 104)
hdr('refcount-order7', 96, '>I', 7, 'refcount_order 7 outside 0..6')
hdr('hdrlen-short', 100, '>I', 50, 'header_length 50 too small')
hdr('hdrlen-huge', 100, '>I', 1 << 20, 'exceeds the cluster size')
b = put(good, 8, '>Q', 0xfff0)
emit('backing-len', put(b, 16, '>I', 2000), 'refused',
     'backing file name length 2000 outside 1..1023', 16)
emit('backing-past', put(b, 16, '>I', 100), 'refused',
     'outside the first cluster', 8)
emit('short', good[:50], 'refused', 'file too short for a qcow2 header', 0)
emit('badmagic', b'QFI\x00' + good[4:], 'refused', 'differ', None)
# the corrupt bit: refused for reading unless asked; check reports it
emit('corruptbit', put(good, 72, '>Q', 0x2), 'corrupt',
     'image is marked corrupt', 72)

# ---- L1 / L2 ------------------------------------------------------------
emit('l2pasteof', put(good, L1, '>Q', (1 << 63) | (1 << 40)), 'corrupt',
     'extends past end of file', L1)
emit('l2unaligned', put(good, L1, '>Q', (1 << 63) | (L2 + 512)), 'corrupt',
     'not aligned to the cluster size', L1)
d0 = be64(good, L2) & 0x00fffffffffffe00
emit('datapasteof', put(good, L2, '>Q', (1 << 63) | (1 << 40)), 'corrupt',
     'past end of file', L2)
emit('dataunaligned', put(good, L2, '>Q', (1 << 63) | (d0 + 4096)),
     'corrupt', 'not aligned to the cluster size', L2)
# two L2 entries on one cluster: guest cluster 1 points at cluster 0's data
emit('twol2', put(good, L2 + 8, '>Q', (1 << 63) | d0), 'corrupt',
     'cluster 0x%x used twice as guest data' % d0, L2 + 8)
# data over metadata: guest cluster 0 points at the L1 table, the L2
# table itself, the refcount block
emit('dataonl1', put(good, L2, '>Q', (1 << 63) | L1), 'corrupt',
     'cluster 0x%x used as an L1 table and as guest data' % L1, L2)
emit('dataonl2', put(good, L2, '>Q', (1 << 63) | L2), 'corrupt',
     'cluster 0x%x used as an L2 table and as guest data' % L2, L2)
# the refcount block is counted after the data: named where the
# refcount table points at it
emit('dataonrb', put(good, L2, '>Q', (1 << 63) | RB), 'corrupt',
     'cluster 0x%x used as guest data and as a refcount block' % RB, RT)
# L2 table on the header / on the L1 table
emit('l2onl1', put(good, L1, '>Q', (1 << 63) | L1), 'corrupt',
     'overlaps the L1 or refcount table', L1)
# check names the overlap where the refcount table is counted (0x30)
emit('l2onrt', put(good, L1, '>Q', (1 << 63) | RT), 'corrupt',
     'overlaps the L1 or refcount table', L1, ckoff=0x30)

# ---- refcounts ----------------------------------------------------------
ci = d0 // CS
# convert and compare refuse what check calls corrupt (leaks pass)
emit('refcount-low', put(good, RB + 2 * ci, '>H', 0), 'corrupt',
     'cluster %d (0x%x, guest data) refcount=0 reference=1' % (ci, d0), d0)
emit('refcount-high', put(good, RB + 2 * ci, '>H', 2), 'corrupt',
     'cluster 0x%x (guest data) has the COPIED flag but refcount=2' % d0, d0)
emit('rbpasteof', put(good, RT, '>Q', 1 << 40), 'corrupt',
     'refcount block 0 at 0x10000000000 past end of file', RT)
emit('rbunaligned', put(good, RT, '>Q', RB + 512), 'corrupt',
     'refcount block 0 at 0x%x not aligned to the cluster size' % (RB + 512),
     RT)
# leak: one more cluster at the end of the file with refcount 1
end = len(good)
assert end % CS == 0 and end // CS < CS // 2
leak = put(good, RB + 2 * (end // CS), '>H', 1) + b'\0' * CS
emit('leak', leak, 'leak', 'ok', None)
# leaks of several clusters, data readable
leak3 = leak
for i in range(1, 3):
    leak3 = put(leak3, RB + 2 * (end // CS + i), '>H', 1)
emit('leak3', leak3 + b'\0' * 2 * CS, 'leak', 'ok', None)

# ---- truncated files ---------------------------------------------------
emit('trunc-half', good[:len(good) // 2], 'corrupt', 'past end of file', None)
emit('trunc-l2', good[:L2 + 100], 'corrupt', 'extends past end of file', L1)
emit('trunc-l1', good[:L1 + 4], 'corrupt', 'L1 table extends past end of file', 40)

# ---- compressed clusters -----------------------------------------------
zcs, zl1, zrt, zl2, zrb = layout(zimg)
x = 62 - (be32(zimg, 20) - 8)
ci = None
for i in range(zcs // 8):
    e = be64(zimg, zl2 + 8 * i)
    if e & (1 << 62):
        ci = i
        break
assert ci is not None
e = be64(zimg, zl2 + 8 * ci)
host = e & ((1 << x) - 1)
at = zl2 + 8 * ci
emit('z-pasteof', put(zimg, at, '>Q', (1 << 62) | (e & ~((1 << x) - 1)) |
                      (len(zimg) + 4096)), 'corrupt', 'past end of file', at)
zb = bytearray(zimg)
zb[host:host + 64] = b'\xff' * 64
emit('z-garbage', bytes(zb), 'corrupt', 'compressed cluster', host)
emit('z-copied', put(zimg, at, '>Q', e | (1 << 63)), 'corrupt',
     'compressed cluster entry 0x%016x has the COPIED flag' % (e | (1 << 63)),
     at)

# ---- extended L2 entries: the subcluster bitmap ----------------------
if ext_paths:
    ximg = open(ext_paths[0], 'rb').read()
    xzimg = open(ext_paths[1], 'rb').read()
    xcs, xl1, xrt, xl2, xrb = layout(ximg)
    assert be64(ximg, 72) & 0x10 and xcs == 65536
    ents = [(be64(ximg, xl2 + 16 * i), be64(ximg, xl2 + 16 * i + 8))
            for i in range(xcs // 16)]
    assert ents[0][1] == 0xffffffff          # cluster 0: all allocated
    # a subcluster both allocated and zero
    emit('x-alloczero', put(ximg, xl2 + 8, '>Q', 0x0000000100000001),
         'corrupt', 'marks subclusters both allocated and zero', xl2 + 8)
    # allocated subclusters in a cluster without a host offset
    hole = next(i for i, (d, m) in enumerate(ents)
                if d == 0 and m == 0 and 16 * i < 5 << 20 and i > 2)
    emit('x-unalloc', put(ximg, xl2 + 16 * hole + 8, '>Q', 0x10),
         'corrupt', 'allocated in an unallocated cluster',
         xl2 + 16 * hole + 8)
    # a compressed cluster's bitmap must be 0
    zxcs, zxl1, zxrt, zxl2, zxrb = layout(xzimg)
    ci = next(i for i in range(zxcs // 16)
              if be64(xzimg, zxl2 + 16 * i) & (1 << 62))
    emit('x-zbitmap', put(xzimg, zxl2 + 16 * ci + 8, '>Q', 1), 'corrupt',
         'subcluster bitmap 0x0000000000000001', zxl2 + 16 * ci + 8)

with open(os.path.join(out, 'table.txt'), 'w') as f:
    f.write('\n'.join(rows) + '\n')
