#!/bin/bash
# t71-cms: sign --format cms writes a detached DER CMS signature that
# openssl cms -verify accepts (the peer), and verify --cms checks it with
# the same code-signing rules as bundles: chain to --ca, codeSigning EKU,
# digitalSignature KU; tampering, other roots and embedded content fail.
. "$(dirname "$0")/lib.sh"

sh "$TOP/tests/gen/mkca.sh" "$T/ca"
CA=$T/ca
head -c 300000 /dev/urandom >"$T/img"
truncate -s 4M "$T/img"

check "sign --format cms" ukit-sign sign --format cms --key "$CA/leaf.key" \
	--cert "$CA/leaf.pem" --chain "$CA/inter.pem" -q "$T/img"
check "IMAGE.p7s written, no bundle" test -s "$T/img.p7s" -a ! -e "$T/img.bundle.json"
sz=$(stat -c %s "$T/img.p7s")
[ "$sz" -lt 8192 ] && ok "detached: p7s is $sz bytes for a 4 MiB image" ||
	not_ok "p7s is $sz bytes: content embedded?"
check "openssl cms -verify accepts it" openssl cms -verify -binary -inform DER \
	-in "$T/img.p7s" -content "$T/img" -CAfile "$CA/root.pem" -purpose any -out /dev/null
check "verify --cms" ukit-sign verify --ca "$CA/root.pem" --cms "$T/img.p7s" "$T/img"
grep -q "ukit-test-signer" "$T/.out" && ok "names the signer" || not_ok "signer not named: $(cat "$T/.out")"
ukit-sign verify --json --ca "$CA/root.pem" --cms "$T/img.p7s" "$T/img" >"$T/v.json"
validate_json "verify --cms --json matches the verify schema" ukit-sign-verify.schema.json "$T/v.json"
check "--json: verified, signer named" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verified"] is True and "ukit-test-signer" in d["signer"], d' "$T/v.json"

check "verify --cms --exec runs the tender on the verified copy" \
	ukit-sign verify --ca "$CA/root.pem" --cms "$T/img.p7s" "$T/img" --exec cmp '{}' "$T/img"
cp "$T/img" "$T/bad"
flip_byte "$T/bad" 100000
expect_fail 1 "CMS signature does not verify" "one changed byte fails" \
	ukit-sign verify --ca "$CA/root.pem" --cms "$T/img.p7s" "$T/bad"
expect_fail 1 "does not verify" "verify --cms --exec: a failure runs nothing" \
	ukit-sign verify --ca "$CA/root.pem" --cms "$T/img.p7s" "$T/bad" --exec touch "$T/ran"
check "the tender did not run" test ! -e "$T/ran"
ukit-sign verify --json --ca "$CA/root.pem" --cms "$T/img.p7s" "$T/bad" >"$T/v.json" 2>/dev/null
validate_json "failed verify --cms --json matches the schema" ukit-sign-verify.schema.json "$T/v.json"
cp "$T/img" "$T/long"
printf 'X' >>"$T/long"
expect_fail 1 "does not verify" "one byte appended fails" \
	ukit-sign verify --ca "$CA/root.pem" --cms "$T/img.p7s" "$T/long"
expect_fail 1 "certificate chain does not verify: unable to get local issuer certificate" \
	"another root fails" \
	ukit-sign verify --ca "$CA/other-root.pem" --cms "$T/img.p7s" "$T/img"

# openssl signs with a serverAuth leaf; -purpose any takes it (a
# precondition, not a check of ukit), ukit must not.
openssl cms -sign -binary -in "$T/img" -signer "$CA/noeku.pem" -inkey "$CA/noeku.key" \
	-certfile "$CA/inter.pem" -outform DER -out "$T/noeku.p7s"
openssl cms -verify -binary -inform DER -in "$T/noeku.p7s" -content "$T/img" \
	-CAfile "$CA/root.pem" -purpose any -out /dev/null 2>/dev/null ||
	not_ok "fixture: openssl -purpose any does not accept the serverAuth signer"
expect_fail 1 "codeSigning" "verify --cms refuses a leaf without codeSigning" \
	ukit-sign verify --ca "$CA/root.pem" --cms "$T/noeku.p7s" "$T/img"
expect_fail 1 "codeSigning" "sign --format cms refuses a leaf without codeSigning" \
	ukit-sign sign --format cms --key "$CA/noeku.key" --cert "$CA/noeku.pem" \
	-o "$T/x.p7s" "$T/img"
check "refused signature left no file" test ! -e "$T/x.p7s"

# Embedded content and garbage are refused by the parser.
head -c 1000 "$T/img" >"$T/small"
openssl cms -sign -binary -nodetach -in "$T/small" -signer "$CA/leaf.pem" \
	-inkey "$CA/leaf.key" -outform DER -out "$T/att.p7s"
expect_fail 1 "embeds its content" "attached CMS refused" \
	ukit-sign verify --ca "$CA/root.pem" --cms "$T/att.p7s" "$T/small"
head -c 500 /dev/urandom >"$T/junk.p7s"
expect_fail 1 "not a DER CMS message" "garbage refused" \
	ukit-sign verify --ca "$CA/root.pem" --cms "$T/junk.p7s" "$T/img"
openssl pkey -in "$CA/leaf.key" -pubout -out "$T/leaf.pub"
expect_fail 2 "--cms" "--cms needs --ca" \
	ukit-sign verify --pub "$T/leaf.pub" --cms "$T/img.p7s" "$T/img"
expect_fail 1 "file too large" "oversized .p7s refused before parsing" \
	ukit-sign verify --ca "$CA/root.pem" --cms "$T/img" "$T/img"
expect_fail 2 "--cert" "--format cms needs --cert" \
	ukit-sign sign --format cms --key "$CA/leaf.key" "$T/img"
openssl genpkey -algorithm ed25519 -out "$T/ed.key" 2>/dev/null
expect_fail 1 "ECDSA or RSA" "Ed25519 key refused for CMS" \
	ukit-sign sign --format cms --key "$T/ed.key" --cert "$CA/leaf.pem" "$T/img"
done_testing
