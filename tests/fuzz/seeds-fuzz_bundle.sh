#!/bin/sh
# seeds-fuzz_bundle.sh CORPUS: seed bundles (key hint and certificate chain)
# and a statement, made with the built ukit-sign and openssl.
set -eu
c=$1
B=${UKIT_BIN:-build/bin}
t=$(mktemp -d "${TMPDIR:-/tmp}/seeds-bundle.XXXXXX")
trap 'rm -rf "$t"' EXIT
mkdir -p "$c"
[ -x "$B/ukit-sign" ] || exit 0
head -c 3000 /dev/urandom > "$t/img"
"$B/ukit-sign" keygen --no-passphrase --type ecdsa-p256 "$t/k" >/dev/null
"$B/ukit-sign" sign --key "$t/k.key" --annotate a=b -o "$c/seed-key.json" "$t/img"
sh tests/gen/mkpki.sh "$t" "$t/k.key" p >/dev/null 2>&1 &&
	"$B/ukit-sign" sign --key "$t/k.key" --cert "$t/p-leaf.pem" \
		--chain "$t/p-int.pem" -o "$c/seed-chain.json" "$t/img"
/usr/bin/python3 - "$c/seed-key.json" "$c/seed-stmt" <<'P'
import base64, json, sys
b = json.load(open(sys.argv[1]))
open(sys.argv[2], "wb").write(b"S" + base64.b64decode(b["dsseEnvelope"]["payload"]))
P
