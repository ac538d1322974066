#!/bin/bash
# t73-exec: verify --exec boots exactly what was verified: the tender reads
# a sealed memfd copy through /proc/self/fd/N, so rewriting the image on
# disk after verification changes nothing it sees; a failed verification
# (a changed image, or a wrong key on an unchanged one, refused with its
# reason) never runs the tender.
. "$(dirname "$0")/lib.sh"

ukit-sign keygen --no-passphrase --type ecdsa-p256 "$T/k" >/dev/null
ukit-sign keygen --no-passphrase --type ecdsa-p256 "$T/other" >/dev/null
head -c 100000 /dev/urandom >"$T/img"
want=$(sha256sum <"$T/img" | cut -d' ' -f1)
ukit-sign sign -q --key "$T/k.key" "$T/img"
head -c 5000 /dev/urandom >"$T/img2"
ukit-sign sign -q --key "$T/k.key" "$T/img2"

# The tender first overwrites the image on disk, then hashes what it got.
cat >"$T/tender.sh" <<TENDER
#!/bin/sh
printf 'EVIL' | dd of="$T/img" bs=1 seek=10 conv=notrunc status=none
sha256sum <"\$2" | cut -d' ' -f1 >"$T/seen"
echo "\$1" >"$T/arg1"
printf x 2>/dev/null >>"\$2" && echo writable >"$T/writable"
exit 7
TENDER
chmod +x "$T/tender.sh"

ukit-sign verify -q --pub "$T/k.pub" "$T/img" --exec "$T/tender.sh" --flag '{}' \
	>"$T/.out" 2>"$T/.err"
rc=$?
[ $rc -eq 7 ] && ok "the tender ran (its exit status is ours)" ||
	not_ok "exit $rc: $(head -c 300 "$T/.err")"
# (the file on disk must have been rewritten, or this proves nothing)
now=$(sha256sum <"$T/img" | cut -d' ' -f1)
[ "$(cat "$T/seen" 2>/dev/null)" = "$want" ] && [ "$now" != "$want" ] &&
	ok "the tender saw the verified bytes, not the rewritten file" ||
	not_ok "tender saw $(cat "$T/seen" 2>/dev/null), want $want (on disk now $now)"
[ "$(cat "$T/arg1")" = "--flag" ] && ok "other arguments passed through" ||
	not_ok "arg1 $(cat "$T/arg1")"
[ ! -e "$T/writable" ] && ok "the tender cannot change the sealed copy" ||
	not_ok "sealed copy writable"

# Now the image on disk is changed: verification fails, nothing runs.
rm -f "$T/seen"
expect_fail 1 "differs from the signed digest" "tampered image: verify fails" \
	ukit-sign verify -q --pub "$T/k.pub" "$T/img" --exec "$T/tender.sh" '{}'
[ ! -e "$T/seen" ] && ok "a failed verification never runs the tender" ||
	not_ok "the tender ran after a failed verification"
# A wrong key on an image nobody changed: refused for the signature alone.
check "untampered image: verifies with the right key" \
	ukit-sign verify -q --pub "$T/k.pub" "$T/img2"
expect_fail 1 "signature does not verify with any pinned key" \
	"wrong key, untampered image: verify fails on the signature" \
	ukit-sign verify -q --pub "$T/other.pub" "$T/img2" --exec "$T/tender.sh" '{}'
[ ! -e "$T/seen" ] && ok "wrong key: tender not run" || not_ok "tender ran"
expect_fail 2 "--exec" "--exec without a tender is a usage error" \
	ukit-sign verify -q --pub "$T/k.pub" "$T/img" --exec
expect_fail 127 "cannot run $T/no-such-tender: No such file or directory" \
	"missing tender: exit 127, as a shell says it" \
	ukit-sign verify -q --pub "$T/k.pub" "$T/img2" --exec "$T/no-such-tender" '{}'
printf '#!/bin/sh\nexit 0\n' >"$T/not-exec"
chmod 644 "$T/not-exec"
expect_fail 126 "cannot run $T/not-exec: Permission denied" \
	"a tender that is not executable: exit 126" \
	ukit-sign verify -q --pub "$T/k.pub" "$T/img2" --exec "$T/not-exec" '{}'
check "exec a plain command on the copy" \
	ukit-sign verify -q --pub "$T/k.pub" "$T/img2" --exec cmp '{}' "$T/img2"
done_testing
