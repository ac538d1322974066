#!/bin/bash
# t54-pack-measure-map: ukit-pack map --output=json prints the same bytes
# as qemu-img map --output=json, and the same text, on raw (sparse and
# not), qcow2 (plain, compressed, extended L2 with zero subclusters,
# metadata preallocation by qemu-img and by ukit, size 0) inputs;
# measure --output=json prints the same bytes as qemu-img measure for
# those inputs, -O raw and -O qcow2 with each -o option, and --size.
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
ukit-pack convert -q -O qcow2 -o preallocation=metadata "$D/disk.raw" \
	"$D/ukit-prealloc.qcow2"
ukit-pack convert -q -O qcow2 -c "$D/disk.raw" "$D/ukit-zlib.qcow2"

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
