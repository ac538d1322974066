#!/bin/bash
# t50-convert-qcow2: ukit-pack convert raw -> qcow2 with each writer option,
# proved against qemu-img (check clean, compare equal), libqcow (reads the
# same bytes) and ukit's own reader (back to raw, cmp); output independent
# of -j; zero clusters never allocated; qcow2 from qemu-img back to raw;
# qcow2 -> qcow2 recompression as qemu-img info reads it; --level matters.
. "$(dirname "$0")/lib.sh"

IN=$T/in.raw
"$PY" "$TOP/tests/gen/mkdisk.py" "$IN" 6
LQCAT=$T/libqcow-cat
cc -O1 -o "$LQCAT" "$TOP/tests/gen/libqcow-cat.c" \
	$(pkg-config --cflags --libs libqcow) 2>"$T/cc.err" || LQCAT=

# bytes of IN in clusters (of size $1) that are not all zero
nonzero_bytes() {
	"$PY" - "$IN" "$1" <<'PYEOF'
import sys
data = open(sys.argv[1], "rb").read()
cs = int(sys.argv[2])
# qemu-img map stops at the virtual size: count the last cluster's part
print(sum(len(data[i:i + cs]) for i in range(0, len(data), cs)
          if data[i:i + cs].strip(b"\0")))
PYEOF
}
# qemu-img check's image end offset of a qcow2: host bytes in use
end_offset() {
	qemu-img check --output=json "$1" | "$PY" -c '
import json, sys
print(json.load(sys.stdin)["image-end-offset"])'
}
# bytes qemu-img map reports as data (allocated) in a qcow2
mapped_bytes() {
	qemu-img map --output=json "$1" | "$PY" -c '
import json, sys
print(sum(e["length"] for e in json.load(sys.stdin) if e["data"]))'
}

while read -r name cs opts; do
	Q=$T/$name.qcow2
	# shellcheck disable=SC2086
	if ! ukit-pack convert -q -O qcow2 $opts "$IN" "$Q" 2>"$T/err"; then
		not_ok "$name: convert ($(cat "$T/err"))"
		continue
	fi
	ok "$name: convert $opts"
	if qemu-img check "$Q" >"$T/chk" 2>&1 && grep -q "No errors were found" "$T/chk"; then
		ok "$name: qemu-img check clean"
	else
		not_ok "$name: qemu-img check"; sed 's/^/#   /' "$T/chk" | head
	fi
	check "$name: qemu-img compare equal" qemu-img compare -f raw -F qcow2 "$IN" "$Q"
	check "$name: cluster size $cs" sh -c \
		"qemu-img info --output=json '$Q' | grep -q '\"cluster-size\": $cs'"
	rm -f "$T/back.raw"
	check "$name: back to raw" ukit-pack convert -q -O raw "$Q" "$T/back.raw"
	same_file "$name: raw round trip is byte-identical" "$IN" "$T/back.raw"
	want=$(nonzero_bytes "$cs")
	got=$(mapped_bytes "$Q")
	if [ "$got" = "$want" ]; then
		ok "$name: only non-zero clusters allocated ($got bytes)"
	else
		not_ok "$name: allocated $got bytes, want $want"
	fi
	case $opts in
	*zstd*) ;;
	*)
		if [ -z "$LQCAT" ]; then
			missing "$name: libqcow reader not built"
		elif "$LQCAT" "$Q" >"$T/lq.raw" 2>"$T/lq.err"; then
			same_file "$name: libqcow reads the same bytes" "$IN" "$T/lq.raw"
		else
			not_ok "$name: libqcow failed: $(head -c 300 "$T/lq.err")"
		fi
		;;
	esac
done <<'EOF2'
default 65536
zlib 65536 -c zlib
zstd 65536 -c zstd
c512 512 --cluster-size 512
c2m 2097152 --cluster-size 2M
v2 65536 --compat 0.10
zlib512 512 -c zlib --cluster-size 512
zstd2m 2097152 -c zstd --cluster-size 2M
zlib9v2 4096 -c zlib --level 9 --compat 0.10 --cluster-size 4K
zlib2m 2097152 -c zlib --cluster-size 2M
zlib1 65536 -c zlib --level 1
zlib9 65536 -c zlib --level 9
zstd19 65536 -c zstd --level 19
EOF2

# a copy gets its file space ahead of the writes (64 MiB at a time) and
# gives back what it did not use: the file ends at qemu-img check's image
# end offset and holds no more blocks than that (allowing 1 MiB for the
# file system's own extent blocks and rounding)
size=$(stat -c %s "$T/default.qcow2")
alloc=$(stat -c '%b * %B' "$T/default.qcow2")
end=$(end_offset "$T/default.qcow2")
check "copy: file size $size is the image end offset" test "$size" = "$end"
check "copy: no space kept past the end ($((alloc)) bytes allocated)" \
	test $((alloc)) -le $((size + 1048576))

# header fields: v2 is 72 bytes with no extension; v3 has the feature name
# table; zstd sets incompatible bit 3 and compression type 1
hex() { od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }
check "v2: version 2" test "$(hex "$T/v2.qcow2" 4 4)" = 00000002
check "v2: nothing after the 72-byte header" \
	test "$(hex "$T/v2.qcow2" 72 16)" = 00000000000000000000000000000000
check "v3: header length 112, refcount order 4" \
	test "$(hex "$T/default.qcow2" 96 8)" = 0000000400000070
check "v3: feature name table extension" \
	test "$(hex "$T/default.qcow2" 112 4)" = 6803f857
check "zstd: incompatible bit 3, compression type 1" \
	test "$(hex "$T/zstd.qcow2" 72 8)$(hex "$T/zstd.qcow2" 104 1)" = 000000000000000801
check "zlib: incompatible bits clear, compression type 0" \
	test "$(hex "$T/zlib.qcow2" 72 8)$(hex "$T/zlib.qcow2" 104 1)" = 000000000000000000
check "zstd: qemu-img sees compression type zstd" sh -c \
	"qemu-img info '$T/zstd.qcow2' | grep -q 'compression type: zstd'"
check "compression saves space" test "$(stat -c %s "$T/zlib.qcow2")" -lt \
	"$(stat -c %s "$T/default.qcow2")"
# level 6 (the default) is ukit's own deflate; it packs as tightly as
# qemu-img -c (zlib -6): host clusters used (qemu-img check's image end
# offset; file sizes differ by how the last cluster is padded) at most 2%
# more
qemu-img convert -O qcow2 -c "$IN" "$T/qz.qcow2"
uz=$(end_offset "$T/zlib.qcow2")
qz=$(end_offset "$T/qz.qcow2")
if [ -n "$uz" ] && [ -n "$qz" ] && [ $((uz * 100)) -le $((qz * 102)) ]; then
	ok "-c zlib: image end offset $uz, qemu-img -c $qz"
else
	not_ok "-c zlib: image end offset '$uz', qemu-img -c '$qz' (over 2%)"
fi
makes "-c zlib --level 6 converts" "$T/z6.qcow2" \
	ukit-pack convert -q -O qcow2 -c zlib --level 6 "$IN" "$T/z6.qcow2"
same_file "-c zlib --level 6 is the default" "$T/zlib.qcow2" "$T/z6.qcow2"

# the output does not depend on the number of threads: compressing, and
# copying (two threads take turns) with runs of many clusters, of one, and
# clusters larger than a run.  Each output is made anew (makes removes it
# first) and every row's are removed after it: a stale file cannot pass.
while read -r c cs; do
	copt=
	[ "$c" = none ] || copt="-c $c"
	for j in 1 2 4; do
		# shellcheck disable=SC2086
		makes "$c, $cs clusters: -j$j converts" "$T/j$j.qcow2" \
			ukit-pack convert -q -O qcow2 $copt -j $j --cluster-size "$cs" \
			"$IN" "$T/j$j.qcow2"
	done
	same_file "$c, $cs clusters: -j1 and -j2 write the same bytes" \
		"$T/j1.qcow2" "$T/j2.qcow2"
	same_file "$c, $cs clusters: -j1 and -j4 write the same bytes" \
		"$T/j1.qcow2" "$T/j4.qcow2"
	check "$c, $cs clusters: -j2 output equals the input" \
		qemu-img compare -f raw -F qcow2 "$IN" "$T/j2.qcow2"
	for j in 1 2; do
		makes "$c, $cs clusters: -j$j converts back to raw" "$T/rj$j.raw" \
			ukit-pack convert -q -O raw -j $j "$T/j2.qcow2" "$T/rj$j.raw"
		same_file "$c, $cs clusters: back to raw with -j$j" \
			"$IN" "$T/rj$j.raw"
	done
	rm -f "$T"/j[124].qcow2 "$T"/rj[12].raw
done <<'EOF2'
none 4K
none 512
none 2M
zlib 4K
zstd 4K
EOF2

# raw output is sparse: the zero runs the input stores as data become holes
ukit-pack convert -q -O raw "$T/zlib.qcow2" "$T/sparse.raw"
din=$(du -k "$IN" | cut -f1)
dout=$(du -k "$T/sparse.raw" | cut -f1)
if [ "$dout" -lt "$din" ]; then
	ok "raw output is sparse (${dout}K allocated < input ${din}K)"
else
	not_ok "raw output not sparse (${dout}K >= ${din}K)"
fi
check "raw output has holes (SEEK_HOLE)" "$PY" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
sys.exit(0 if os.lseek(fd, 0, os.SEEK_HOLE) < size else 1)' "$T/sparse.raw"

# qcow2 written by qemu-img, read back by ukit
for o in "" "-c" "-c -o compression_type=zstd" "-o compat=0.10" \
	"-o cluster_size=512" "-o cluster_size=2M" "-o lazy_refcounts=on" \
	"-o extended_l2=on" "-c -o extended_l2=on,cluster_size=16k"; do
	rm -f "$T/q.qcow2" "$T/q.raw"
	# shellcheck disable=SC2086
	qemu-img convert -O qcow2 $o "$IN" "$T/q.qcow2"
	if ukit-pack convert -q -O raw "$T/q.qcow2" "$T/q.raw" 2>"$T/err"; then
		same_file "qemu-img ${o:-default} -> ukit raw" "$IN" "$T/q.raw"
	else
		not_ok "qemu-img ${o:-default} -> ukit raw: $(cat "$T/err")"
	fi
done

# qcow2 -> qcow2: recompress, change cluster size and compat; qemu-img
# info says the output has what was asked for (and the input did not),
# qemu-img check finds compressed clusters in it
makes "qcow2 -> qcow2 (zlib 4K v2 -> zstd 512 v3)" "$T/re.qcow2" \
	ukit-pack convert -q -O qcow2 -c zstd --cluster-size 512 --compat 1.1 \
	"$T/zlib9v2.qcow2" "$T/re.qcow2"
check "qcow2 -> qcow2 compares equal" qemu-img compare "$IN" "$T/re.qcow2"
check "qcow2 -> qcow2 passes qemu-img check" qemu-img check "$T/re.qcow2"
qemu-img info --output=json "$T/zlib9v2.qcow2" >"$T/in.json"
qemu-img info --output=json "$T/re.qcow2" >"$T/re.json"
qemu-img check --output=json "$T/re.qcow2" >"$T/re.check.json"
check "qcow2 -> qcow2: qemu-img info: zstd, 512-byte clusters, compat 1.1" \
	"$PY" - "$T/in.json" "$T/re.json" "$T/re.check.json" <<'PYEOF'
import json, sys
a, b, c = (json.load(open(f)) for f in sys.argv[1:4])
def fields(j):
    d = j["format-specific"]["data"]
    return j["format"], j["cluster-size"], d["compat"], d.get("compression-type")
assert fields(a) == ("qcow2", 4096, "0.10", "zlib"), fields(a)
assert fields(b) == ("qcow2", 512, "1.1", "zstd"), fields(b)
assert c["compressed-clusters"] > 0, c
PYEOF
# --level is used: zlib level 9 packs tighter than level 1 (qemu-img
# check's image end offset; 64 KiB clusters)
l1=$(end_offset "$T/zlib1.qcow2")
l9=$(end_offset "$T/zlib9.qcow2")
if [ -n "$l1" ] && [ -n "$l9" ] && [ "$l9" -lt "$l1" ]; then
	ok "-c zlib --level 9 ($l9 bytes) smaller than --level 1 ($l1)"
else
	not_ok "-c zlib --level 9 '$l9' bytes, --level 1 '$l1'"
fi

done_testing
