#!/bin/bash
# t56-convert-qemu-options: convert reads qemu-img's spellings.  Each -o
# option (and -c alone, with the compression type from -o or zlib) gives
# an image qemu-img check calls clean, with the content of the input and
# the header fields (qemu-img info --output=json) of qemu-img convert
# with the same options; -B/-F make an overlay whose unwritten clusters
# read as zeros over the backing file; -t unsafe, -T, -W and -m are
# accepted; check --output=json has qemu-img check's fields and values.
. "$(dirname "$0")/lib.sh"

command -v qemu-img >/dev/null || { missing "qemu-img"; done_testing; exit 0; }

IN=$T/in.raw
"$PY" "$TOP/tests/gen/mkdisk.py" "$IN" 6
info_fields() {
	qemu-img info --output=json "$1" | "$PY" -c '
import json, sys
j = json.load(sys.stdin)
keep = {k: j.get(k) for k in ("virtual-size", "cluster-size", "format",
        "backing-filename", "backing-filename-format", "dirty-flag")}
keep["data"] = j.get("format-specific", {}).get("data")
print(json.dumps(keep, sort_keys=True))'
}

while read -r opts; do
	[ "$opts" = - ] && opts=
	rm -f "$T/q.qcow2" "$T/u.qcow2"
	# shellcheck disable=SC2086
	qemu-img convert -O qcow2 $opts "$IN" "$T/q.qcow2"
	# shellcheck disable=SC2086
	if ! ukit-pack convert -q -O qcow2 $opts "$IN" "$T/u.qcow2" 2>"$T/e"; then
		not_ok "convert $opts: $(cat "$T/e")"
		continue
	fi
	check "convert ${opts:-(defaults)}: qemu-img check clean" \
		qemu-img check "$T/u.qcow2"
	check "convert ${opts:-(defaults)}: same content" \
		qemu-img compare -f raw -F qcow2 "$IN" "$T/u.qcow2"
	info_fields "$T/q.qcow2" >"$T/q.f"
	info_fields "$T/u.qcow2" >"$T/u.f"
	same_file "convert ${opts:-(defaults)}: header fields as qemu-img convert's" \
		"$T/q.f" "$T/u.f"
done <<'EOF2'
-
-c
-c -o compression_type=zstd
-c -o compression_type=zlib
-o compression_type=zstd
-o compat=0.10
-o compat=v3
-c -o compat=0.10
-o cluster_size=512
-o cluster_size=4k
-o cluster_size=2M
-o refcount_bits=1
-c -o refcount_bits=1,cluster_size=4k
-o refcount_bits=2
-o refcount_bits=4
-o refcount_bits=8
-o refcount_bits=32
-o refcount_bits=64
-o lazy_refcounts=on
-o lazy_refcounts=off
-o extended_l2=on
-c -o extended_l2=on
-o extended_l2=on,cluster_size=16k
-o preallocation=off
-o preallocation=metadata
-o preallocation=falloc
-o preallocation=full
-o preallocation=metadata,cluster_size=512
-o cluster_size=64k,refcount_bits=16,lazy_refcounts=on,extended_l2=on
EOF2

# -c really compresses (the input's text compresses), with zstd in the
# header when -o says so
ukit-pack convert -q -O qcow2 -c -o compression_type=zstd "$IN" "$T/z.qcow2"
qemu-img check --output=json "$T/z.qcow2" >"$T/z.json"
check "-c: compressed clusters" "$PY" -c '
import json, sys
assert json.load(open(sys.argv[1])).get("compressed-clusters", 0) > 0' "$T/z.json"

# qemu-img's refusals are refusals here, as usage errors
expect_fail 2 "extended L2 entries need clusters of at least 16 KiB" \
	"-o extended_l2=on,cluster_size=4k: exit 2" \
	ukit-pack convert -O qcow2 -o extended_l2=on,cluster_size=4k "$IN" "$T/x"
expect_fail 2 "preallocation and compression exclude each other" \
	"-c -o preallocation=metadata: exit 2" \
	ukit-pack convert -O qcow2 -c -o preallocation=metadata "$IN" "$T/x"
expect_fail 2 "need compat 1.1" "-o compat=0.10,lazy_refcounts=on: exit 2" \
	ukit-pack convert -O qcow2 -o compat=0.10,lazy_refcounts=on "$IN" "$T/x"
expect_fail 2 "want 1, 2, 4, 8, 16, 32 or 64" "-o refcount_bits=3: exit 2" \
	ukit-pack convert -O qcow2 -o refcount_bits=3 "$IN" "$T/x"
expect_fail 2 "want off, metadata, falloc or full" "-o preallocation=some: exit 2" \
	ukit-pack convert -O qcow2 -o preallocation=some "$IN" "$T/x"
expect_fail 2 "want none, writeback, writethrough, directsync or unsafe" \
	"-t fast: exit 2" ukit-pack convert -O qcow2 -t fast "$IN" "$T/x"
expect_fail 2 "are for -O qcow2" "-o with -O raw: exit 2" \
	ukit-pack convert -O raw -o cluster_size=4k "$IN" "$T/x"
check "no output after refusals" test ! -e "$T/x"

# cache modes and qemu-img's other convert options are accepted
for t in "-t unsafe" "-t writeback -W -m 16" "-t none -T none" "-t directsync"; do
	rm -f "$T/t.qcow2"
	# shellcheck disable=SC2086
	check "convert $t" ukit-pack convert -q $t -O qcow2 "$IN" "$T/t.qcow2"
	check "convert $t: same content" qemu-img compare -q "$IN" "$T/t.qcow2"
done
check "convert -t unsafe -O raw" \
	ukit-pack convert -q -t unsafe -O raw "$T/t.qcow2" "$T/t.raw"
same_file "-t unsafe -O raw: the input" "$IN" "$T/t.raw"

# -B/-F: an overlay on a backing file that holds other data
qemu-img create -q -f qcow2 "$T/base.qcow2" 6M
qemu-io -c 'write -P 0x77 0 6M' "$T/base.qcow2" >/dev/null 2>&1
for compat in 1.1 0.10; do
	rm -f "$T/ov.qcow2"
	(cd "$T" && ukit-pack convert -q -O qcow2 -o compat=$compat \
		-B base.qcow2 -F qcow2 in.raw ov.qcow2)
	check "-B -F compat=$compat: qemu-img check clean" \
		qemu-img check "$T/ov.qcow2"
	qemu-img info --output=json "$T/ov.qcow2" >"$T/ov.json"
	check "-B -F compat=$compat: backing file and format in the header" \
		"$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["backing-filename"] == "base.qcow2", j
assert j["backing-filename-format"] == "qcow2", j' "$T/ov.json"
	check "-B -F compat=$compat: reads as the input, not the backing file" \
		qemu-img compare -f raw -F qcow2 "$IN" "$T/ov.qcow2"
done
expect_fail 2 "-F names the format" "-F without -B: exit 2" \
	ukit-pack convert -O qcow2 -F qcow2 "$IN" "$T/x"

# check --output=json: qemu-img check's fields, the same values
for f in "$T/u.qcow2" "$T/z.qcow2" "$T/ov.qcow2"; do
	qemu-img check --output=json "$f" >"$T/q.json"
	ukit-pack check --output=json "$f" >"$T/u.json"
	validate_json "check --output=json $(basename "$f"): schema" \
		pack-check.schema.json "$T/u.json"
	check "check --output=json $(basename "$f"): qemu-img check's fields and values" \
		"$PY" -c '
import json, sys
q = json.load(open(sys.argv[1]))
u = json.load(open(sys.argv[2]))
for k, v in q.items():
    if k == "filename":
        continue
    assert u.get(k) == v, (k, v, u.get(k))' "$T/q.json" "$T/u.json"
done
ukit-pack check --output=human "$T/u.qcow2" >"$T/h.txt"
check "check --output=human: qemu-img's verdict" \
	grep -q "No errors were found on the image." "$T/h.txt"

done_testing
