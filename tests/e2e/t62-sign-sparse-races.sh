#!/bin/bash
# t62-sign-sparse-races: the streaming pass on sparse images (holes are fed
# as zeros without being mapped) gives the same digest as sha256sum, and an
# image truncated while verify reads it fails with exit 1 and a message,
# never with a signal (SIGBUS from a vanished mapping) and never exit 0.
. "$(dirname "$0")/lib.sh"

ukit-sign keygen --no-passphrase --type ecdsa-p256 "$T/k" >/dev/null 2>&1

# Holes at both ends and in the middle, data straddling window boundaries
# (STREAM_WINDOW is 2 MiB) and an unaligned tail.
img=$T/sparse.img
truncate -s $((64 * 1024 * 1024 + 123)) "$img"
head -c 3000000 /dev/urandom | dd of="$img" bs=1 seek=$((2 * 1024 * 1024 - 1000)) \
	conv=notrunc status=none
printf 'tail' | dd of="$img" bs=1 seek=$((64 * 1024 * 1024 + 100)) conv=notrunc status=none
check "sign a sparse image" ukit-sign sign -q --key "$T/k.key" "$img"
want=$(sha256sum "$img" | cut -c1-64)
got=$(ukit-sign inspect "$img.bundle.json" | "$PY" -c \
	'import json,sys; print(json.load(sys.stdin)["statement"]["subject"][0]["digest"]["sha256"])')
if [ "$want" = "$got" ]; then
	ok "sparse image: subject digest == sha256sum"
else
	not_ok "sparse image: subject digest $got, sha256sum $want"
fi
check "verify the sparse image" ukit-sign verify -q --pub "$T/k.pub" "$img"
printf 'X' | dd of="$img" bs=1 seek=$((40 * 1024 * 1024)) conv=notrunc status=none
expect_fail 1 "differs from the signed digest" \
	"a byte written into a hole is caught" \
	ukit-sign verify -q --pub "$T/k.pub" "$img"

# Dense image truncated under the reader, a few times: whatever the timing,
# exit 1 with a reason.
dense=$T/dense.img
bad=0
for i in 1 2 3; do
	yes "ukit $i" | head -c $((256 * 1024 * 1024)) >"$dense"
	ukit-sign sign -q --key "$T/k.key" "$dense"
	ukit-sign verify -q --pub "$T/k.pub" "$dense" 2>"$T/err.$i" &
	pid=$!
	sleep 0.0$i
	truncate -s 4096 "$dense"
	wait "$pid"
	rc=$?
	if [ "$rc" -ne 1 ] || ! [ -s "$T/err.$i" ]; then
		bad=$((bad + 1))
		diag "run $i: exit $rc: $(cat "$T/err.$i")"
	fi
done
if [ "$bad" -eq 0 ]; then
	ok "truncated during verify: exit 1 with a reason every time"
else
	not_ok "truncated during verify: $bad of 3 runs did not exit 1 with a reason"
fi
done_testing
