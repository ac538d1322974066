#!/bin/bash
# t53-qcow2-overlap: correct output on every input.  Converting raw images
# of the edge sizes (0, 1, 511, 512, a cluster +-1) to qcow2 gives images
# qemu-img check calls clean.  check finds metadata placed on other
# metadata (one image per structure pair, made by tests/gen/overlapqcow2.py
# from the spec) and header fields the spec forbids, naming the structures
# and the offset; qemu-img check is the oracle: what it finds, ukit finds
# too.  convert refuses each such image with exit 1 and writes nothing.
. "$(dirname "$0")/lib.sh"

command -v qemu-img >/dev/null || { missing "qemu-img"; done_testing; exit 0; }

# ---- edge sizes -------------------------------------------------------
for cs in 512 65536 2097152; do
	for size in 0 1 511 512 $((cs - 1)) $cs $((cs + 1)); do
		for opts in "" "-c" "-o compat=0.10"; do
			R=$T/r.raw
			Q=$T/r.qcow2
			rm -f "$R" "$Q"
			head -c "$size" /dev/urandom >"$R"
			# shellcheck disable=SC2086
			if ! ukit-pack convert -q -O qcow2 \
				-o cluster_size=$cs $opts "$R" "$Q" \
				2>"$T/e"; then
				not_ok "size $size cs $cs $opts: convert failed: $(cat "$T/e")"
				continue
			fi
			if qemu-img check "$Q" >"$T/qc" 2>&1 &&
			   qemu-img compare -q -f raw -F qcow2 "$R" "$Q" &&
			   ukit-pack check "$Q" >/dev/null; then
				ok "size $size cs $cs ${opts:-plain}: qemu-img check clean, same content"
			else
				not_ok "size $size cs $cs $opts: $(head -c 300 "$T/qc")"
			fi
		done
	done
done

# ---- overlaps and forbidden header fields -----------------------------
G=$T/good.qcow2
qemu-img create -q -f qcow2 "$G" 1G
qemu-io -c 'write -P 0x5a 0 128k' -c 'write -P 0x3c 600m 64k' "$G" \
	>/dev/null 2>&1
check "good image: qemu-img check clean" qemu-img check "$G"
check "good image: ukit check clean" ukit-pack check "$G"
"$PY" "$TOP/tests/gen/overlapqcow2.py" "$G" "$T/ov"
n=0
while IFS='|' read -r name what what2 off; do
	n=$((n + 1))
	I=$T/ov/$name.qcow2
	qemu-img check "$I" >"$T/q.out" 2>&1
	qrc=$?
	ukit-pack check "$I" >"$T/u.out" 2>&1
	urc=$?
	# the oracle: whatever qemu-img check finds, ukit check finds
	if [ "$qrc" -ne 0 ] && [ "$urc" -eq 0 ]; then
		not_ok "$name: qemu-img check finds errors (exit $qrc), ukit does not"
	else
		ok "$name: ukit check finds at least what qemu-img check finds (qemu exit $qrc, ukit exit $urc)"
	fi
	# one line names both structures (either order) and the offset
	if [ "$urc" -eq 1 ] && grep -F -- "$what" "$T/u.out" |
	   { [ -n "$what2" ] && grep -F -- "${what2%%&*}" |
	     grep -F -- "${what2#*&}" || cat; } |
	   { [ "$off" = - ] && cat || grep -F -- "$off"; } | grep -q .; then
		ok "$name: check names '$what' ${what2:+($what2) }at $off"
	else
		not_ok "$name: check (exit $urc) does not name '$what' '$what2' at $off: $(head -c 400 "$T/u.out")"
	fi
	ukit-pack check --output=json "$I" >"$T/u.json" 2>/dev/null
	if "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j.get("corruptions", 0) > 0, j
' "$T/u.json" 2>/dev/null; then
		ok "$name: check --output=json counts corruptions"
	else
		not_ok "$name: check --output=json: $(head -c 300 "$T/u.json")"
	fi
	expect_fail 1 "ukit-pack: $I" "$name: convert refuses it (exit 1)" \
		ukit-pack convert -q -O raw "$I" "$T/out.raw"
	check "$name: convert wrote nothing" test ! -e "$T/out.raw"
done <"$T/ov/table.txt"
check "overlap table has every structure pair" test "$n" -ge 17

done_testing
