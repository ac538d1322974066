#!/bin/bash
# t25-json: --json on the reports that gained it for one command line
# (ukit(7)): ukit-pack compare --json gives the verdict qemu-img compare
# gives (its exit status), the sizes and the first differing byte, and
# matches schemas/pack-compare.schema.json.
. "$(dirname "$0")/lib.sh"
command -v qemu-img >/dev/null || { missing "qemu-img"; done_testing; exit 0; }
head -c 1M /dev/urandom >"$T/a.raw"
# byte 5000 differs for certain (a random byte is 'x' once in 256 runs)
printf 'a' | dd of="$T/a.raw" bs=1 seek=5000 conv=notrunc status=none
cp "$T/a.raw" "$T/b.raw"
printf 'x' | dd of="$T/b.raw" bs=1 seek=5000 conv=notrunc status=none
cp "$T/a.raw" "$T/c.raw"
truncate -s 2M "$T/c.raw"
qemu-img convert -O qcow2 "$T/a.raw" "$T/a.qcow2"

# cmp_json DESC WANT_RC A B [OPTS] -- PYTHON: exit status as qemu-img's,
# then the JSON checked by PYTHON (d is the object)
cmp_json() {
	local desc=$1 a=$2 b=$3 opts=$4 py=$5 rc qrc
	# shellcheck disable=SC2086
	ukit-pack compare --json $opts "$a" "$b" >"$T/c.json" 2>"$T/c.err"
	rc=$?
	# shellcheck disable=SC2086
	qemu-img compare -q $opts "$a" "$b" >/dev/null 2>&1
	qrc=$?
	check "$desc: exit $rc, as qemu-img compare ($qrc)" test "$rc" = "$qrc"
	check "$desc: JSON" "$PY" -c "import json, sys; d = json.load(open(sys.argv[1])); $py" "$T/c.json"
	validate_json "$desc: matches its schema" pack-compare.schema.json "$T/c.json"
}
cmp_json "raw = qcow2 of it" "$T/a.raw" "$T/a.qcow2" "" \
	'assert d == {"identical": True, "strict": False, "sizes": [1048576, 1048576], "size_mismatch": False, "first_mismatch": None}, d'
cmp_json "one byte differs" "$T/a.raw" "$T/b.raw" "" \
	'assert d["identical"] is False and d["first_mismatch"] == 5000, d'
cmp_json "longer by zeros" "$T/a.raw" "$T/c.raw" "" \
	'assert d["identical"] is True and d["size_mismatch"] is True and d["sizes"] == [1048576, 2097152], d'
cmp_json "longer by zeros, -s" "$T/a.raw" "$T/c.raw" "-s" \
	'assert d["identical"] is False and d["strict"] is True and d["first_mismatch"] is None, d'
done_testing
