#!/bin/bash
# t54-pack-measure-map: ukit-pack map --output=json prints the same bytes
# as qemu-img map --output=json, and the same text, on raw (sparse and
# not), qcow2 (plain, compressed, extended L2 with zero subclusters,
# metadata preallocation by qemu-img and by ukit, size 0) inputs;
# measure --output=json prints the same bytes as qemu-img measure for
# those inputs, -O raw and -O qcow2 with each -o option, and --size.
# Overlays among the inputs (raw and qcow2 backing files, a 3-level
# chain, overlays larger than their backing files, zero clusters over
# backing data, extended L2 subclusters left to the backing file, one
# made by ukit-pack create, 4 KiB clusters over 64 KiB ones across 8 GiB)
# and zero or (extended L2, preallocated with metadata) unallocated
# clusters that keep their host cluster or not: map and measure follow
# the chain as qemu-img does; a missing backing file, a loop and a chain
# deeper than 8 are refused.
. "$(dirname "$0")/lib.sh"

command -v qemu-img >/dev/null || { missing "qemu-img"; done_testing; exit 0; }

D=$T/d
mkdir -p "$D"
"$PY" "$TOP/tests/gen/mkdisk.py" "$D/disk.raw" 6
truncate -s 8G "$D/sparse.raw"
printf 'abc' | dd of="$D/sparse.raw" bs=1 seek=5000 conv=notrunc 2>/dev/null
head -c 196608 /dev/urandom |
	dd of="$D/sparse.raw" bs=64k seek=100 conv=notrunc 2>/dev/null
: >"$D/empty.raw"
qemu-img convert -O qcow2 "$D/disk.raw" "$D/plain.qcow2"
qemu-img convert -c -O qcow2 "$D/disk.raw" "$D/zlib.qcow2"
qemu-img convert -O qcow2 -o extended_l2=on "$D/disk.raw" "$D/extl2.qcow2"
qemu-io -c 'write -z 8k 4k' -c 'write -P 1 70k 2k' "$D/extl2.qcow2" \
	>/dev/null 2>&1
qemu-img create -q -f qcow2 -o preallocation=metadata "$D/prealloc.qcow2" 10M
qemu-io -c 'write -P 7 1M 64k' "$D/prealloc.qcow2" >/dev/null 2>&1
qemu-img create -q -f qcow2 "$D/empty.qcow2" 0
qemu-img create -q -f qcow2 "$D/sparse8g.qcow2" 8G
qemu-io -c 'write -P 9 3G 1M' -c 'write -z 5G 64k' "$D/sparse8g.qcow2" \
	>/dev/null 2>&1
# zeros that keep their host cluster (qemu-img map shows its offset) and
# zeros that do not, next to data, in one L2 table
qemu-img create -q -f qcow2 "$D/zeros.qcow2" 4M
qemu-io -c 'write -P 1 0 512k' -c 'write -z 64k 128k' \
	-c 'write -z -u 256k 64k' -c 'write -P 2 2M 64k' "$D/zeros.qcow2" \
	>/dev/null 2>&1
# extended L2 preallocated with metadata: unallocated clusters that keep
# their host clusters (qemu-img map shows those offsets too)
qemu-img create -q -f qcow2 -o extended_l2=on,preallocation=metadata \
	"$D/extl2-meta.qcow2" 4M
qemu-io -c 'write -P 1 64k 4k' -c 'write -z 1M 64k' -c 'write -z -u 2M 8k' \
	"$D/extl2-meta.qcow2" >/dev/null 2>&1
ukit-pack convert -q -O qcow2 -o preallocation=metadata "$D/disk.raw" \
	"$D/ukit-prealloc.qcow2"
ukit-pack convert -q -O qcow2 -c "$D/disk.raw" "$D/ukit-zlib.qcow2"
# a raw file whose size is not whole sectors: qemu rounds it up
head -c 1000000 /dev/urandom >"$D/odd.raw"

# overlays, named relative to their own directory as qemu-img writes them
qi() { qemu-io "$@" >/dev/null 2>&1 || diag "qemu-io $* failed"; }
(
	cd "$D" || exit 1
	# on raw, larger than it: data, a zero cluster over backing data,
	# and past the backing file's end unallocated (zeros)
	qemu-img create -q -f qcow2 -b disk.raw -F raw ov-raw.qcow2 9M
	qi -c 'write -P 4 0 4k' -c 'write -z 1M 64k' -c 'write -P 5 7M 4k' \
		ov-raw.qcow2
	qemu-img create -q -f qcow2 -b odd.raw -F raw ov-odd.qcow2 2M
	qi -c 'write -P 1 512k 4k' ov-odd.qcow2
	# three levels: each larger than the one below; data, zeros and
	# unallocated at every depth
	qemu-img create -q -f qcow2 -b plain.qcow2 -F qcow2 ov-mid.qcow2 7M
	qi -c 'write -P 3 64k 64k' -c 'write -z 1M 64k' -c 'write -P 6 6M 8k' \
		ov-mid.qcow2
	qemu-img create -q -f qcow2 -b ov-mid.qcow2 -F qcow2 ov-top.qcow2 8M
	qi -c 'write -P 4 2M 64k' -c 'write -z 1088k 64k' \
		-c 'write -P 5 6500k 64k' ov-top.qcow2
	# extended L2: subclusters the overlay leaves to the backing file
	qemu-img create -q -f qcow2 -o extended_l2=on -b plain.qcow2 \
		-F qcow2 ov-extl2.qcow2 6M
	qi -c 'write -P 2 70k 2k' -c 'write -P 2 390k 2k' \
		-c 'write -z 520k 4k' ov-extl2.qcow2
	# and a subcluster written, then zeroed: zeros with a host cluster
	# among subclusters left to the backing file
	qemu-img create -q -f qcow2 -o extended_l2=on -b plain.qcow2 \
		-F qcow2 ov-extl2z.qcow2 6M
	qi -c 'write -P 2 70k 2k' -c 'write -z 70k 2k' \
		-c 'write -P 3 200k 2k' -c 'write -P 3 256k 64k' \
		-c 'write -z 256k 64k' ov-extl2z.qcow2
	# and so preallocated over a backing file, larger than it: past
	# its end, unallocated clusters with host clusters read as zeros
	qemu-img create -q -f qcow2 -o extended_l2=on,preallocation=metadata \
		-b plain.qcow2 -F qcow2 ov-extl2-meta.qcow2 8M
	qi -c 'write -P 2 70k 2k' -c 'write -z 1M 4k' -c 'write -P 3 7M 4k' \
		ov-extl2-meta.qcow2
	# backing files that are compressed, preallocated with metadata
	qemu-img create -q -f qcow2 -b zlib.qcow2 -F qcow2 ov-zlib.qcow2 6M
	qi -c 'write -P 2 4k 4k' ov-zlib.qcow2
	qemu-img create -q -f qcow2 -b prealloc.qcow2 -F qcow2 \
		ov-prealloc.qcow2 12M
	qi -c 'write -P 2 1088k 4k' ov-prealloc.qcow2
	# made by ukit-pack create, over a qcow2 made by ukit
	ukit-pack create -q -f qcow2 -b ukit-prealloc.qcow2 -F qcow2 \
		ov-ukit.qcow2 8M
	qi -c 'write -P 8 3M 64k' -c 'write -z 0 64k' ov-ukit.qcow2
	# unallocated in both layers, all of it
	qemu-img create -q -f qcow2 -b empty.qcow2 -F qcow2 ov-empty.qcow2 3M
	# 4 KiB clusters (2 MiB per L2 table) over 64 KiB ones: whole
	# unallocated tables over backing data and over nothing, a table
	# partly allocated across the backing data's edges, data and zeros
	# not aligned to the backing file's clusters
	qemu-img create -q -f qcow2 -o cluster_size=4k -b sparse8g.qcow2 \
		-F qcow2 ov-sparse.qcow2 8G
	qi -c 'write -P 3 3071M 1028k' -c 'write -z 3G 12k' \
		-c 'write -P 4 3076k 4k' -c 'write -z 5G 4k' \
		-c 'write -P 5 7G 8k' ov-sparse.qcow2
)

for f in "$D"/*.raw "$D"/*.qcow2; do
	n=$(basename "$f")
	qemu-img map --output=json "$f" >"$T/q.json" 2>&1
	ukit-pack map --output=json "$f" >"$T/u.json" 2>"$T/u.err"
	same_file "map --output=json $n: same bytes as qemu-img" \
		"$T/q.json" "$T/u.json"
	validate_json "map --output=json $n: schema" pack-map.schema.json \
		"$T/u.json"
	if qemu-img map "$f" >"$T/q.txt" 2>/dev/null; then
		ukit-pack map "$f" >"$T/u.txt" 2>&1
		same_file "map $n: same text as qemu-img" "$T/q.txt" "$T/u.txt"
	else
		expect_fail 1 "compressed clusters" \
			"map $n: text refused as qemu-img refuses it" \
			ukit-pack map "$f"
	fi
done

# the names of the files of a chain, as qemu-img prints them, from a
# relative name
for f in ov-top.qcow2 ov-raw.qcow2; do
	(cd "$D" && qemu-img map "$f") >"$T/q.txt" 2>&1
	(cd "$D" && ukit-pack map "$f") >"$T/u.txt" 2>&1
	same_file "map $f from its directory: same file names as qemu-img" \
		"$T/q.txt" "$T/u.txt"
	(cd "$T" && qemu-img map "d/$f") >"$T/q.txt" 2>&1
	(cd "$T" && ukit-pack map "d/$f") >"$T/u.txt" 2>&1
	same_file "map d/$f: same file names as qemu-img" "$T/q.txt" "$T/u.txt"
done
(cd "$T" && ukit-pack map d/ov-top.qcow2) >"$T/u.txt" 2>&1
if grep -q "d/ov-top.qcow2\$" "$T/u.txt" &&
   grep -q "d/ov-mid.qcow2\$" "$T/u.txt" &&
   grep -q "d/plain.qcow2\$" "$T/u.txt"; then
	ok "map of a 3-level chain names each layer"
else
	not_ok "map of a 3-level chain names each layer: $(cat "$T/u.txt")"
fi
if ukit-pack map --output=json "$D/ov-top.qcow2" |
	grep -q '"depth": 2, "present": true, "zero": false, "data": true'; then
	ok "map of a 3-level chain: data at depth 2"
else
	not_ok "map of a 3-level chain: no data at depth 2"
fi
qemu-img map -U --output=json "$D/ov-top.qcow2" >"$T/q.json" 2>&1
ukit-pack map -U --output=json "$D/ov-top.qcow2" >"$T/u.json" 2>&1
same_file "map -U of an overlay: same bytes as qemu-img" "$T/q.json" "$T/u.json"

# a chain of 9 images (8 backing files) is followed; a 10th is refused
mkdir -p "$T/deep"
(
	cd "$T/deep" || exit 1
	qemu-img create -q -f qcow2 c0.qcow2 2M
	qi -c 'write -P 1 0 64k' c0.qcow2
	for i in 1 2 3 4 5 6 7 8 9; do
		qemu-img create -q -f qcow2 -b c$((i - 1)).qcow2 -F qcow2 \
			c$i.qcow2 2M
		qi -c "write -P 1 $((i * 64))k 64k" c$i.qcow2
	done
)
qemu-img map --output=json "$T/deep/c8.qcow2" >"$T/q.json" 2>&1
ukit-pack map --output=json "$T/deep/c8.qcow2" >"$T/u.json" 2>&1
same_file "map of a chain 8 deep: same bytes as qemu-img" "$T/q.json" "$T/u.json"
validate_json "map of a chain 8 deep: schema" pack-map.schema.json "$T/u.json"
expect_fail 1 "c9.qcow2:0x210: backing chain deeper than 8" \
	"map of a chain 9 deep: refused" ukit-pack map "$T/deep/c9.qcow2"
expect_fail 1 "backing chain deeper than 8" \
	"measure of a chain 9 deep: refused" \
	ukit-pack measure -O qcow2 "$T/deep/c9.qcow2"

# a missing backing file: refused, as qemu-img refuses it
qemu-img create -q -f qcow2 -u -b nope.qcow2 -F qcow2 "$T/miss.qcow2" 1M
if qemu-img map "$T/miss.qcow2" >/dev/null 2>&1; then
	not_ok "qemu-img map of an overlay without its backing file: exit 0"
else
	ok "qemu-img map of an overlay without its backing file: refused"
fi
for a in "" "-U" "--output=json"; do
	# shellcheck disable=SC2086
	expect_fail 1 "miss.qcow2:0x210: cannot open backing file '$T/nope.qcow2': No such file or directory" \
		"map $a of an overlay without its backing file: exit 1" \
		ukit-pack map $a "$T/miss.qcow2"
done
if [ -s "$T/.out" ]; then
	not_ok "map --output=json without the backing file: output left"
else
	ok "map --output=json without the backing file: no output"
fi
expect_fail 1 "cannot open backing file '$T/nope.qcow2'" \
	"measure of an overlay without its backing file: exit 1" \
	ukit-pack measure -O qcow2 "$T/miss.qcow2"
# a chain that loops (qemu-img follows it until memory runs out)
qemu-img create -q -f qcow2 -u -b loop-b.qcow2 -F qcow2 "$T/loop-a.qcow2" 1M
qemu-img create -q -f qcow2 -u -b loop-a.qcow2 -F qcow2 "$T/loop-b.qcow2" 1M
expect_fail 1 "loop-a.qcow2:0x210: backing file '$T/loop-a.qcow2' of '$T/loop-b.qcow2' creates an infinite loop" \
	"map of a chain that loops: refused" ukit-pack map "$T/loop-a.qcow2"
expect_fail 1 "creates an infinite loop" \
	"measure of a chain that loops: refused" \
	ukit-pack measure -U -O qcow2 "$T/loop-b.qcow2"

# a backing file that is a FIFO (or a device that never ends): refused
# at once, never waited on or read forever
mkfifo "$T/fifo"
qemu-img create -q -f qcow2 -u -b fifo -F raw "$T/ov-fifo.qcow2" 1M
qemu-img create -q -f qcow2 -u -b /dev/zero -F raw "$T/ov-zero.qcow2" 1M
for cmd in "map" "measure -O qcow2" "convert --allow-backing -O raw"; do
	for ov in fifo zero; do
		want=fifo     # as the header names it
		[ $ov = zero ] && want=/dev/zero
		out=
		[ "${cmd%% *}" = convert ] && out=$T/ov-out.raw
		# shellcheck disable=SC2086
		expect_fail 1 "ov-$ov.qcow2:0x210: backing file '$want': not a regular file" \
			"${cmd%% *} of an overlay whose backing file is $ov: refused at once" \
			timeout 20 ukit-pack $cmd "$T/ov-$ov.qcow2" $out
	done
done
[ ! -e "$T/ov-out.raw" ] && ok "convert of those overlays wrote nothing" ||
	not_ok "convert of an overlay on a FIFO left $T/ov-out.raw"

# measure: every input, each output option
while read -r O; do
	for f in "$D"/*.raw "$D"/*.qcow2; do
		n=$(basename "$f")
		# shellcheck disable=SC2086
		qemu-img measure --output=json $O "$f" >"$T/q.json" 2>&1
		# shellcheck disable=SC2086
		ukit-pack measure --output=json $O "$f" >"$T/u.json" 2>&1
		same_file "measure $O $n: same bytes as qemu-img" \
			"$T/q.json" "$T/u.json"
	done
done <<'EOF2'
-O raw
-O qcow2
-O qcow2 -o cluster_size=4k
-O qcow2 -o cluster_size=2M
-O qcow2 -o compat=0.10
-O qcow2 -o refcount_bits=1
-O qcow2 -o refcount_bits=64
-O qcow2 -o extended_l2=on
-O qcow2 -o lazy_refcounts=on
-O qcow2 -o compression_type=zstd
-O qcow2 -o preallocation=metadata
-O qcow2 -o preallocation=falloc
-O qcow2 -o preallocation=full
EOF2
validate_json "measure --output=json: schema" pack-measure.schema.json \
	"$T/u.json"
for s in 0 1 1000 1G 8G 100M 5T; do
	for O in "-O raw" "-O qcow2" "-O qcow2 -o cluster_size=512" \
		"-O qcow2 -o extended_l2=on,preallocation=full"; do
		# shellcheck disable=SC2086
		qemu-img measure --output=json $O --size $s >"$T/q.json" 2>&1
		# shellcheck disable=SC2086
		ukit-pack measure --output=json $O --size $s >"$T/u.json" 2>&1
		urc=$?
		if grep -q '^qemu-img: .*too large' "$T/q.json"; then
			# qemu-img refuses it: so does ukit, saying why
			if [ $urc -eq 1 ] && grep -q 'larger clusters' "$T/u.json"
			then
				ok "measure $O --size $s: refused as qemu-img refuses it"
			else
				not_ok "measure $O --size $s: not refused (exit $urc)"
			fi
			continue
		fi
		same_file "measure $O --size $s: same bytes as qemu-img" \
			"$T/q.json" "$T/u.json"
	done
done
qemu-img measure -O qcow2 "$D/plain.qcow2" >"$T/q.txt"
ukit-pack measure -O qcow2 "$D/plain.qcow2" >"$T/u.txt"
same_file "measure text: same as qemu-img" "$T/q.txt" "$T/u.txt"
expect_fail 2 "measure: missing --size or IMAGE" "measure without input: exit 2" \
	ukit-pack measure -O qcow2
expect_fail 2 "want raw or qcow2" "measure -O vmdk: exit 2" \
	ukit-pack measure -O vmdk --size 1G
expect_fail 2 "want json or human" "--output=xml: exit 2" \
	ukit-pack map --output=xml "$D/disk.raw"
expect_fail 1 "No such file" "map of a missing file: exit 1" \
	ukit-pack map "$T/nope"

done_testing
