#!/bin/bash
# t55-pack-create-resize: ukit-pack create makes images qemu-img check
# calls clean whose header fields (qemu-img info --output=json) are those
# of qemu-img create with the same -o options; -b/-F overlays read through
# to the backing file.  resize grows raw and qcow2 (in place, and past
# the L1 table's cluster) and shrinks only with --shrink, as qemu-img
# resize does, with internal snapshots too (an L2 table they share is
# copied before a shrink cuts it, as qemu-img does); snapshot -l lists
# as qemu-img snapshot -l does.
. "$(dirname "$0")/lib.sh"

command -v qemu-img >/dev/null || { missing "qemu-img"; done_testing; exit 0; }

# info fields that say how an image is made (not where its parts are)
info_fields() {
	qemu-img info --output=json "$1" | "$PY" -c '
import json, sys
j = json.load(sys.stdin)
keep = {k: j.get(k) for k in ("virtual-size", "cluster-size", "format",
        "backing-filename", "backing-filename-format", "dirty-flag")}
keep["data"] = j.get("format-specific", {}).get("data")
print(json.dumps(keep, sort_keys=True))'
}

while read -r fmt size opts; do
	[ "$opts" = - ] && opts=
	rm -f "$T/q.img" "$T/u.img"
	# shellcheck disable=SC2086
	qemu-img create -q -f "$fmt" ${opts:+-o $opts} "$T/q.img" "$size"
	# shellcheck disable=SC2086
	if ! ukit-pack create -q -f "$fmt" ${opts:+-o $opts} "$T/u.img" \
		"$size" 2>"$T/e"; then
		not_ok "create -f $fmt $size $opts: $(cat "$T/e")"
		continue
	fi
	if [ "$fmt" = qcow2 ]; then
		check "create -f $fmt $size $opts: qemu-img check clean" \
			qemu-img check "$T/u.img"
	fi
	info_fields "$T/q.img" >"$T/q.f"
	info_fields "$T/u.img" >"$T/u.f"
	same_file "create -f $fmt $size $opts: header as qemu-img create's" \
		"$T/q.f" "$T/u.f"
done <<'EOF2'
raw 1M -
raw 0 -
raw 1G preallocation=falloc
qcow2 1G -
qcow2 0 -
qcow2 1 -
qcow2 8G compat=0.10
qcow2 1G cluster_size=4k
qcow2 1G cluster_size=2M
qcow2 1G refcount_bits=1
qcow2 1G refcount_bits=64
qcow2 1G lazy_refcounts=on
qcow2 1G extended_l2=on
qcow2 1G compression_type=zstd
qcow2 64M preallocation=metadata
qcow2 64M preallocation=falloc,cluster_size=512
qcow2 16M preallocation=full
EOF2

# an overlay on a backing file, as qemu-img create -b -F makes it
qemu-img create -q -f qcow2 "$T/base.qcow2" 64M
qemu-io -c 'write -P 0x11 0 1M' "$T/base.qcow2" >/dev/null 2>&1
(cd "$T" && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 q-ov.qcow2)
check "create -b -F: converts" \
	ukit-pack create -q -f qcow2 -b base.qcow2 -F qcow2 "$T/u-ov.qcow2"
check "overlay: qemu-img check clean" qemu-img check "$T/u-ov.qcow2"
info_fields "$T/q-ov.qcow2" >"$T/q.f"
info_fields "$T/u-ov.qcow2" >"$T/u.f"
same_file "overlay: header as qemu-img create -b -F makes it" "$T/q.f" "$T/u.f"
check "overlay: reads the backing file's data" \
	qemu-img compare "$T/base.qcow2" "$T/u-ov.qcow2"
expect_fail 2 "-F names the backing file's format (it looks like qcow2)" \
	"create -b without -F: exit 2, as qemu-img 7.2" \
	ukit-pack create -q -f qcow2 -b base.qcow2 "$T/x.qcow2"
expect_fail 2 "missing SIZE" "create without size: exit 2" \
	ukit-pack create -q -f qcow2 "$T/x.qcow2"
expect_fail 2 "unknown option" "create -o nope=1: exit 2" \
	ukit-pack create -q -f qcow2 -o nope=1 "$T/x.qcow2" 1G
expect_fail 2 "want on or off" "create -o lazy_refcounts=maybe: exit 2" \
	ukit-pack create -q -f qcow2 -o lazy_refcounts=maybe "$T/x.qcow2" 1G
expect_fail 2 "need compat 1.1" "create -o compat=0.10,refcount_bits=8: exit 2" \
	ukit-pack create -q -f qcow2 -o compat=0.10,refcount_bits=8 \
	"$T/x.qcow2" 1G
check "no output after refusals" test ! -e "$T/x.qcow2"

# ---- resize ------------------------------------------------------------
"$PY" "$TOP/tests/gen/mkdisk.py" "$T/in.raw" 3
while read -r opts steps; do
	[ "$opts" = - ] && opts=
	comp=
	[ "$opts" = -c ] && { comp=-c; opts=; }
	# shellcheck disable=SC2086
	qemu-img convert $comp -O qcow2 ${opts:+-o $opts} "$T/in.raw" \
		"$T/q.qcow2"
	cp "$T/q.qcow2" "$T/u.qcow2"
	for s in $steps; do
		qemu-img resize -q --shrink "$T/q.qcow2" "$s"
		ukit-pack resize -q --shrink "$T/u.qcow2" "$s"
		info_fields "$T/q.qcow2" >"$T/q.f"
		info_fields "$T/u.qcow2" >"$T/u.f"
		same_file "resize ${opts:-default} $s: same size as qemu-img resize" \
			"$T/q.f" "$T/u.f"
		check "resize ${opts:-default} $s: qemu-img check clean" \
			qemu-img check "$T/u.qcow2"
		check "resize ${comp:-${opts:-default}} $s: same content as qemu-img's" \
			qemu-img compare "$T/q.qcow2" "$T/u.qcow2"
		# a shrink: the free tail is cut as qemu-img cuts it (not
		# after qemu's own growth to terabytes, which leaves an L1
		# table ending inside a cluster that its shrink pads out)
		case $s:$steps in
		+*|*T*|*G*) ;;
		*)
			check "resize ${comp:-${opts:-default}} $s: file as long as qemu-img's" \
				test "$(stat -c %s "$T/q.qcow2")" = \
				"$(stat -c %s "$T/u.qcow2")" ;;
		esac
	done
done <<'EOF2'
- +1G 5T 700M +12800 9T
cluster_size=512 +1M +100k
cluster_size=512,refcount_bits=1 +1M
cluster_size=512,refcount_bits=64 +1M
cluster_size=4k +4G
extended_l2=on 9T
- 2M 1000k 1536 +1M
-c 2M 1000k 512
cluster_size=512 2M 1000k 1536
cluster_size=512,refcount_bits=64 +4M +64M 1000k +1G
extended_l2=on 1000k +64k
EOF2
# an empty qcow2 (no L1 table) grows
ukit-pack convert -q -O qcow2 "$T/empty.raw" "$T/e.qcow2" 2>/dev/null ||
	{ : >"$T/empty.raw"; ukit-pack convert -q -O qcow2 "$T/empty.raw" "$T/e.qcow2"; }
check "resize of an empty qcow2 to 10M" ukit-pack resize -q "$T/e.qcow2" 10M
check "empty qcow2 grown: qemu-img check clean" qemu-img check "$T/e.qcow2"
expect_fail 1 "--shrink says you mean it" "shrink without --shrink: exit 1" \
	ukit-pack resize "$T/u.qcow2" 1M
# growth whose new L1 table lands where no refcount block reaches:
# 512-byte clusters with 64-bit refcounts cover 32 KiB per block and
# 2 MiB per refcount table cluster, so the blocks and the table must grow
qemu-img convert -O qcow2 -o cluster_size=512,refcount_bits=64 "$T/in.raw" \
	"$T/g.qcow2"
rtc() { od -An -tu4 --endian=big -j56 -N4 "$1" | tr -d ' '; }
rt0=$(rtc "$T/g.qcow2")
# some host cluster of the new L1 table for virtual size $2, appended
# to the file, is past what the refcount blocks (or table) cover
uncovered() {
	"$PY" -c '
import struct, sys
f = open(sys.argv[1], "rb").read()
rto, rtc = struct.unpack(">QI", f[48:60])
per = 512 * 8 // 64
l1 = -(-int(sys.argv[2]) // (512 * 64))
c0 = (len(f) + 511) // 512
for c in range(c0, c0 - (-l1 * 8 // 512)):
    i = c // per
    if i >= rtc * 64 or struct.unpack(">Q", f[rto + i * 8:rto + i * 8 + 8])[0] == 0:
        sys.exit(0)
sys.exit(1)' "$@"
}
check "grow past the refcount blocks: the new L1 is beyond their reach" \
	uncovered "$T/g.qcow2" "$(($(stat -c %s "$T/in.raw") + 4294967296))"
gsize=$(qemu-img info --output=json "$T/g.qcow2" | "$PY" -c \
	'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
# a write that fails (the file size limit, EFBIG) while the new L1
# table, refcount table or blocks go out: exit 1, the image as it was
# (the new L1 table alone is 1 MiB here; the tables and blocks follow it)
cp "$T/g.qcow2" "$T/g0.qcow2"
for extra in 0 1050624 1056768; do
	lim=$((($(stat -c %s "$T/g0.qcow2") + extra) / 1024 + 1))
	expect_fail 1 "File too large" \
		"grow past the refcount blocks, writes fail after +$extra: exit 1" \
		sh -c 'trap "" XFSZ; ulimit -f "$1"; exec ukit-pack resize -q "$2" +4G' \
		sh "$lim" "$T/g.qcow2"
	check "grow past the refcount blocks, writes fail after +$extra: image unchanged" \
		cmp -s "$T/g0.qcow2" "$T/g.qcow2"
done
# Every write and every sync of a growth failing in turn (ENOSPC, strace
# -e inject): exit 1, and qemu-img check finds no corruption (leaks are
# allowed: a run hooked into the refcount table stays when a later step
# fails, where cutting it would leave the table pointing past the end)
if command -v strace >/dev/null; then
	# LeakSanitizer cannot run under ptrace; the rest of ASan can
	nolsan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	for sz in +4G +64M; do
		for sc in pwrite64 fdatasync; do
			cp "$T/g0.qcow2" "$T/i.qcow2"
			ASAN_OPTIONS=$nolsan strace -f -o "$T/tr" -e trace=$sc \
				ukit-pack resize -q "$T/i.qcow2" $sz
			n=$(grep -c "^[0-9]* *$sc(" "$T/tr")
			bad=
			for i in $(seq "$n"); do
				cp "$T/g0.qcow2" "$T/i.qcow2"
				ASAN_OPTIONS=$nolsan strace -f -o /dev/null \
					-e inject=$sc:error=ENOSPC:when=$i \
					ukit-pack resize -q "$T/i.qcow2" $sz 2>"$T/ie" &&
					bad="$bad #$i:exit0"
				san_report "$T/ie" && bad="$bad #$i:sanitizer"
				qemu-img check "$T/i.qcow2" >/dev/null 2>&1
				c=$?
				[ $c = 0 ] || [ $c = 3 ] || bad="$bad #$i:check$c"
			done
			[ "$n" -gt 0 ] && [ -z "$bad" ] &&
				ok "grow $sz, each of $n ${sc}s failing: exit 1, no corruption" ||
				not_ok "grow $sz, $sc failing ($n points):$bad"
		done
	done
else
	missing "strace (error injection)"
fi
check "grow past the refcount blocks: +4G" ukit-pack resize -q "$T/g.qcow2" +4G
check "grow past the refcount blocks: qemu-img check clean" \
	qemu-img check "$T/g.qcow2"
check "grow past the refcount blocks: the refcount table was moved and grew" \
	test "$(rtc "$T/g.qcow2")" -gt "$rt0"
check "grow past the refcount blocks: virtual size grew by 4 GiB" \
	test "$(qemu-img info --output=json "$T/g.qcow2" | "$PY" -c \
	'import json,sys; print(json.load(sys.stdin)["virtual-size"])')" = \
	"$((gsize + 4294967296))"
qemu-img convert -O raw "$T/g.qcow2" "$T/g.raw"
truncate -s "$(stat -c %s "$T/in.raw")" "$T/g.raw"
same_file "grow past the refcount blocks: guest data unchanged" \
	"$T/in.raw" "$T/g.raw"

# --shrink drops the guest data past the new end, keeps what is before it
qemu-img convert -O qcow2 "$T/in.raw" "$T/d.qcow2"
cp "$T/d.qcow2" "$T/dq.qcow2"
expect_fail 1 "--shrink says you mean it" "shrink over data without --shrink: exit 1" \
	ukit-pack resize "$T/d.qcow2" 1M
check "shrink without --shrink left the image as it was" \
	cmp -s "$T/d.qcow2" "$T/dq.qcow2"
check "shrink over allocated data with --shrink" \
	ukit-pack resize -q --shrink "$T/d.qcow2" 1000k
qemu-img resize -q --shrink "$T/dq.qcow2" 1000k
check "shrink over data: qemu-img check clean" qemu-img check "$T/d.qcow2"
check "shrink over data: same content as qemu-img resize --shrink" \
	qemu-img compare "$T/dq.qcow2" "$T/d.qcow2"
qemu-img convert -O raw "$T/d.qcow2" "$T/d.raw"
head -c 1024000 "$T/in.raw" >"$T/d0.raw"
same_file "shrink over data: the data before the new end unchanged" \
	"$T/d0.raw" "$T/d.raw"
check "shrink over data: the freed tail is cut as qemu-img cuts it" \
	test "$(stat -c %s "$T/d.qcow2")" = "$(stat -c %s "$T/dq.qcow2")" \
	-a "$(stat -c %s "$T/d.qcow2")" -lt "$(stat -c %s "$T/in.raw")"
cp "$T/in.raw" "$T/r.raw"
check "resize raw +1M" ukit-pack resize -q "$T/r.raw" +1M
check "raw grew by 1M" test "$(stat -c %s "$T/r.raw")" = \
	"$(($(stat -c %s "$T/in.raw") + 1048576))"
expect_fail 1 "--shrink" "raw shrink without --shrink: exit 1" \
	ukit-pack resize "$T/r.raw" -1M
check "raw shrink with --shrink" ukit-pack resize -q --shrink "$T/r.raw" -1M
same_file "raw grown then shrunk is the input" "$T/in.raw" "$T/r.raw"
expect_fail 2 "not a size" "resize to a bad size: exit 2" \
	ukit-pack resize "$T/r.raw" 12Q
expect_fail 1 "multiple of 512" "qcow2 resize by +12345: refused as qemu-img" \
	ukit-pack resize "$T/u.qcow2" +12345

# ---- snapshot -l -------------------------------------------------------
qemu-img convert -O qcow2 "$T/in.raw" "$T/s.qcow2"
qemu-img snapshot -c first "$T/s.qcow2"
qemu-img snapshot -c "second one" "$T/s.qcow2"
qemu-img snapshot -l "$T/s.qcow2" >"$T/q.txt"
ukit-pack snapshot -l "$T/s.qcow2" >"$T/u.txt"
same_file "snapshot -l: same text as qemu-img snapshot -l" "$T/q.txt" "$T/u.txt"
ukit-pack snapshot -l --output=json "$T/s.qcow2" >"$T/u.json"
validate_json "snapshot -l --output=json: schema" pack-snapshots.schema.json \
	"$T/u.json"
qemu-img info --output=json "$T/s.qcow2" | "$PY" -c '
import json, sys
print(json.dumps(json.load(sys.stdin)["snapshots"], sort_keys=True))' >"$T/q.s"
"$PY" -c '
import json, sys
print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' "$T/u.json" >"$T/u.s"
same_file "snapshot -l --output=json: qemu-img info's snapshots, field by field" \
	"$T/q.s" "$T/u.s"
ukit-pack snapshot -l "$T/q.qcow2" >"$T/u.txt"
check "snapshot -l without snapshots: prints nothing, as qemu-img" \
	test ! -s "$T/u.txt"
expect_fail 2 "does not change them" "snapshot -c: refused, exit 2" \
	ukit-pack snapshot -c x "$T/s.qcow2"
# growing keeps the snapshots (and their own sizes) as qemu-img does
cp "$T/s.qcow2" "$T/sq.qcow2"
check "resize with snapshots: grows" ukit-pack resize -q "$T/s.qcow2" +1G
qemu-img resize -q "$T/sq.qcow2" +1G
check "resize with snapshots: qemu-img check clean" qemu-img check "$T/s.qcow2"
qemu-img snapshot -l "$T/s.qcow2" >"$T/u.txt"
same_file "resize with snapshots: snapshot -l unchanged" "$T/q.txt" "$T/u.txt"
info_fields "$T/sq.qcow2" >"$T/q.f"
info_fields "$T/s.qcow2" >"$T/u.f"
same_file "resize with snapshots: same size as qemu-img resize" "$T/q.f" "$T/u.f"
check "resize with snapshots: same content as qemu-img's" \
	qemu-img compare "$T/sq.qcow2" "$T/s.qcow2"
qemu-img snapshot -a first "$T/s.qcow2"
check "resize with snapshots: a snapshot applied has its old data" \
	qemu-img compare "$T/in.raw" "$T/s.qcow2"
check "resize with snapshots: a snapshot applied has its old size" \
	test "$(qemu-img info --output=json "$T/s.qcow2" | "$PY" -c \
	'import json,sys; print(json.load(sys.stdin)["virtual-size"])')" = \
	"$(stat -c %s "$T/in.raw")"
# shrinking with snapshots, as qemu-img 7.2 does, where whole L2 tables
# go (512-byte clusters: one table maps 32 KiB); the snapshot's data stays
qemu-img convert -O qcow2 -o cluster_size=512 "$T/in.raw" "$T/sn.qcow2"
qemu-img snapshot -c first "$T/sn.qcow2"
qemu-io -c 'write -P 0x44 500k 300k' "$T/sn.qcow2" >/dev/null 2>&1
cp "$T/sn.qcow2" "$T/snq.qcow2"
cp "$T/sn.qcow2" "$T/sn0.qcow2"
check "shrink with snapshots to 1M" \
	ukit-pack resize -q --shrink "$T/sn.qcow2" 1M
qemu-img resize -q --shrink "$T/snq.qcow2" 1M
check "shrink with snapshots: qemu-img check clean" qemu-img check "$T/sn.qcow2"
check "shrink with snapshots: same content as qemu-img resize --shrink" \
	qemu-img compare "$T/snq.qcow2" "$T/sn.qcow2"
qemu-img snapshot -l "$T/sn0.qcow2" >"$T/q.txt"
qemu-img snapshot -l "$T/sn.qcow2" >"$T/u.txt"
same_file "shrink with snapshots: snapshot -l unchanged" "$T/q.txt" "$T/u.txt"
qemu-img snapshot -a first "$T/sn.qcow2"
check "shrink with snapshots: the snapshot keeps its size and data" \
	qemu-img compare -q "$T/in.raw" "$T/sn.qcow2"
# shrinking into an L2 table a snapshot shares, with data past the new
# size in it: qemu-img 7.2 copies the table on write, cuts the copy and
# frees a data cluster only when no snapshot maps it; each case against
# qemu-img resize --shrink on a copy of the same image (refcount_bits=1
# images are not here: qemu-img cannot snapshot them, refcounts of 2)
qmeta() {
	"$PY" - "$@" <<'P'
import struct, sys
mode, path = sys.argv[1], sys.argv[2]
f = open(path, "rb").read()
cs = 1 << struct.unpack(">I", f[20:24])[0]
l1n, l1o = struct.unpack(">IQ", f[36:48])
rto, rtc = struct.unpack(">QI", f[48:60])
bits = 1 << struct.unpack(">I", f[96:100])[0]
esz = 16 if struct.unpack(">Q", f[72:80])[0] & 16 else 8
per = cs * 8 // bits
def size(a): return int(a[:-1]) * 1024 if a.endswith("k") else int(a)
def be(o, n): return int.from_bytes(f[o:o + n].ljust(n, b"\0"), "big")
def rc(c):
    b = be(rto + c // per * 8, 8)
    if b == 0: return None
    i = c % per
    if bits >= 8: return be(b + i * bits // 8, bits // 8)
    return (f[b + i * bits // 8] >> (i * bits % 8)) & ((1 << bits) - 1)
if mode == "l1":        # the active L1 entry of guest offset argv[3]
    print("%x" % be(l1o + size(sys.argv[3]) // (cs * cs // esz) * 8, 8))
elif mode == "shared":  # the L2 table the cut argv[3] falls in is shared
    keep = -(-size(sys.argv[3]) // cs)     # and maps something past it
    n = cs // esz
    l2 = be(l1o + keep // n * 8, 8) & 0x00fffffffffffe00
    past = l2 and any(f[l2 + keep % n * esz:l2 + cs])
    sys.exit(0 if keep % n and l2 and rc(l2 // cs) > 1 and past else 1)
elif mode == "full":    # every refcount block counts every cluster used
    sys.exit(0 if all(rc(c) != 0 for c in range(1, rtc * cs // 8 * per)
                      if rc(c) is not None) else 1)
P
}
# shrink_shared NAME OPTS SIZE POST: image from in.raw with OPTS,
# snapshot first, 300k written, snapshot second, POST written (or -),
# then shrunk to SIZE by both tools
shrink_shared() {
	local name=$1 opts=$2 size=$3 post=$4 comp= s l1a l1b
	[ "${opts#-c,}" != "$opts" ] && { comp=-c; opts=${opts#-c,}; }
	rm -f "$T"/ss*
	# shellcheck disable=SC2086
	qemu-img convert $comp -O qcow2 -o "$opts" "$T/in.raw" "$T/ss.qcow2"
	qemu-img snapshot -c first "$T/ss.qcow2"
	qemu-io -c 'write -P 0x44 500k 300k' "$T/ss.qcow2" >/dev/null 2>&1
	qemu-img snapshot -c second "$T/ss.qcow2"
	case $post in
	-) ;;
	fill)
		# write guest clusters under 32k until the file ends where
		# the refcount blocks stop and no cluster they count is free
		for s in $(seq 0 300); do
			qmeta full "$T/ss.qcow2" && break
			qemu-io -c "write -P 0x66 $((4096 + s * 512)) 512" \
				"$T/ss.qcow2" >/dev/null 2>&1
		done
		check "shrink $name: no free cluster a refcount block counts" \
			qmeta full "$T/ss.qcow2"
		# the new block cannot be written (the file size limit):
		# exit 1, nothing switched over, the image reads as before
		cp "$T/ss.qcow2" "$T/ssf.qcow2"
		expect_fail 1 "File too large" \
			"shrink $name: the copy cannot be written: exit 1" \
			sh -c 'trap "" XFSZ; ulimit -f "$1"; exec ukit-pack resize -q --shrink "$2" "$3"' \
			sh "$(($(stat -c %s "$T/ss.qcow2") / 1024))" \
			"$T/ssf.qcow2" "$size"
		check "shrink $name, failed: qemu-img check clean" \
			qemu-img check "$T/ssf.qcow2"
		check "shrink $name, failed: size and data as before" \
			qemu-img compare -s "$T/ss.qcow2" "$T/ssf.qcow2" ;;
	*)	qemu-io -c "write -P 0x55 $post" "$T/ss.qcow2" >/dev/null 2>&1 ;;
	esac
	check "shrink $name: the L2 table at $size is shared, data past it" \
		qmeta shared "$T/ss.qcow2" "$size"
	for s in first second; do
		qemu-img convert -l "snapshot.name=$s" -O raw "$T/ss.qcow2" \
			"$T/ss-$s.raw"
	done
	qemu-img snapshot -l "$T/ss.qcow2" >"$T/ss-l0.txt"
	l1b=$(qmeta l1 "$T/ss.qcow2" "$size")
	cp "$T/ss.qcow2" "$T/ssq.qcow2"
	check "shrink $name: ukit-pack resize --shrink $size" \
		ukit-pack resize -q --shrink "$T/ss.qcow2" "$size"
	qemu-img resize -q --shrink "$T/ssq.qcow2" "$size"
	check "shrink $name: qemu-img check clean" qemu-img check "$T/ss.qcow2"
	check "shrink $name: qemu-img's own: qemu-img check clean" \
		qemu-img check "$T/ssq.qcow2"
	l1a=$(qmeta l1 "$T/ss.qcow2" "$size")
	check "shrink $name: the active L1 entry now points at a copy" \
		test "$l1a" != "$l1b" -a "${#l1a}" = 16 -a "${l1a#8}" != "$l1a"
	info_fields "$T/ssq.qcow2" >"$T/q.f"
	info_fields "$T/ss.qcow2" >"$T/u.f"
	same_file "shrink $name: same virtual size as qemu-img resize" \
		"$T/q.f" "$T/u.f"
	check "shrink $name: same active data as qemu-img's" \
		qemu-img compare "$T/ssq.qcow2" "$T/ss.qcow2"
	qemu-img snapshot -l "$T/ss.qcow2" >"$T/ss-l1.txt"
	same_file "shrink $name: snapshot -l unchanged" "$T/ss-l0.txt" \
		"$T/ss-l1.txt"
	for s in first second; do
		# convert -l reads a snapshot at the image's current size:
		# applied to a copy, the snapshot has its own size back
		cp "$T/ss.qcow2" "$T/ssa.qcow2"
		qemu-img snapshot -a "$s" "$T/ssa.qcow2"
		qemu-img convert -O raw "$T/ssa.qcow2" "$T/ssa.raw"
		same_file "shrink $name: snapshot $s keeps its size and data" \
			"$T/ss-$s.raw" "$T/ssa.raw"
		qemu-img convert -l "snapshot.name=$s" -O raw "$T/ss.qcow2" \
			"$T/ssu.raw"
		qemu-img convert -l "snapshot.name=$s" -O raw "$T/ssq.qcow2" \
			"$T/ssq.raw"
		same_file "shrink $name: snapshot $s reads as in qemu-img's" \
			"$T/ssq.raw" "$T/ssu.raw"
	done
}
# 512-byte clusters: table 31 (992k..1024k) shared by both snapshots
# and the active layer, its clusters too (refcount 3)
shrink_shared "512-byte clusters" cluster_size=512 1000k "100k 4k"
# 64k clusters: one table, shared by snapshot second and the active
# layer; the data past 1000k shared by both snapshots and the active layer
shrink_shared "64k clusters" cluster_size=65536,refcount_bits=16 1000k -
# the cut inside what was written between the snapshots (refcount 2:
# after the cut, only snapshot second maps it)
shrink_shared "512-byte clusters, into data of one snapshot" \
	cluster_size=512,refcount_bits=16 700k -
shrink_shared "compressed, 64k clusters" -c,cluster_size=65536 1001k -
shrink_shared "extended L2" extended_l2=on 1000k -
# no free cluster: the copy goes after a new refcount block at the end
shrink_shared "512-byte clusters, refcount blocks full" \
	cluster_size=512,refcount_bits=64 1000k fill
# the copy of a shared table goes to the first cluster the refcounts call
# free: with the active L1 table counted 0 (a corrupt image) that would
# be the L1 table itself; refused, the image unchanged
qemu-img convert -O qcow2 -o cluster_size=512 "$T/in.raw" "$T/sc.qcow2"
qemu-img snapshot -c first "$T/sc.qcow2"
"$PY" - "$T/sc.qcow2" <<'P'
import struct, sys
f = open(sys.argv[1], "r+b")
h = f.read(104)
l1o, = struct.unpack(">Q", h[40:48])
rto, = struct.unpack(">Q", h[48:56])
f.seek(rto)
rb, = struct.unpack(">Q", f.read(8))
f.seek(rb + l1o // 512 * 2)     # 16-bit refcounts, block 0
f.write(b"\0\0")
P
cp "$T/sc.qcow2" "$T/sc0.qcow2"
expect_fail 1 "refcount=0 reference=1 (image is corrupt; see 'ukit-pack check'): resize changes consistent images only" \
	"shrink with snapshots, the L1 table counted 0: refused" \
	ukit-pack resize -q --shrink "$T/sc.qcow2" 1000k
check "shrink refused: the image unchanged" cmp "$T/sc0.qcow2" "$T/sc.qcow2"
# growing trusts the refcounts too (a new L1 table goes where they say
# is free): the same corrupt image is refused before anything is written
expect_fail 1 "refcount=0 reference=1 (image is corrupt; see 'ukit-pack check'): resize changes consistent images only" \
	"grow, the L1 table counted 0: refused" \
	ukit-pack resize -q "$T/sc.qcow2" +1G
check "grow refused: the image unchanged" cmp "$T/sc0.qcow2" "$T/sc.qcow2"
# a refcount block not aligned to the cluster size: its counts would be
# changed inside another cluster; refused, the image unchanged
qemu-img convert -O qcow2 "$T/in.raw" "$T/ra.qcow2"
rao=$("$PY" - "$T/ra.qcow2" <<'P'
import struct, sys
f = open(sys.argv[1], "r+b")
rto, = struct.unpack(">Q", f.read(56)[48:56])
f.seek(rto)
rb, = struct.unpack(">Q", f.read(8))
f.seek(rto)
f.write(struct.pack(">Q", rb + 512))
print("0x%x: refcount block 0 at 0x%x not aligned" % (rto, rb + 512))
P
)
cp "$T/ra.qcow2" "$T/ra0.qcow2"
expect_fail 1 "ra.qcow2:$rao to the cluster size" \
	"shrink, a refcount block not cluster-aligned: refused" \
	ukit-pack resize -q --shrink "$T/ra.qcow2" 512k
check "refcount block not aligned: the image unchanged" \
	cmp "$T/ra0.qcow2" "$T/ra.qcow2"
qemu-img convert -O qcow2 -o compat=0.10 "$T/in.raw" "$T/s2.qcow2"
qemu-img snapshot -c first "$T/s2.qcow2"
expect_fail 1 "version 2 image" "v2 image with snapshots: refused as qemu-img" \
	ukit-pack resize "$T/s2.qcow2" +1G
check "qemu-img refuses it too" \
	sh -c '! qemu-img resize -q "$1" +1G 2>/dev/null' sh "$T/s2.qcow2"

done_testing
