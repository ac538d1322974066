#!/bin/bash
# t99-demo: `make demo` keeps working: the demo script runs the whole main
# job (build, embed, query, convert, sign, verify, tamper) and exits 0 only
# if the tampered kernel fails verification.
. "$(dirname "$0")/lib.sh"

if sh "$TOP/tests/demo.sh" >"$T/demo.out" 2>&1; then
	ok "demo runs to the end"
else
	not_ok "demo failed"
	tail -n 20 "$T/demo.out" | sed 's/^/#   /'
fi
check "demo queried the grown manifest" grep -q '"name": "admin"' "$T/demo.out"
check "demo's qcow2 round trip compared equal" grep -q 'Images are identical' "$T/demo.out"
check "demo's tampered kernel failed verification" \
	grep -q 'differs from the signed digest' "$T/demo.out"
done_testing
