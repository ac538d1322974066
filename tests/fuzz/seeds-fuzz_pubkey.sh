#!/bin/sh
# seeds-fuzz_pubkey.sh CORPUS: public key PEM files (P-256, compressed
# P-256, Ed25519, P-384, RSA) and a PEM that is not a public key.
set -eu
c=$1
mkdir -p "$c"
pub() {
	openssl genpkey "$@" 2>/dev/null | openssl pkey -pubout
}
pub -algorithm EC -pkeyopt ec_paramgen_curve:P-256 >"$c/p256"
openssl ecparam -name prime256v1 -genkey 2>/dev/null |
	openssl ec -pubout -conv_form compressed 2>/dev/null >"$c/p256c"
pub -algorithm ED25519 >"$c/ed25519"
pub -algorithm EC -pkeyopt ec_paramgen_curve:P-384 >"$c/p384"
pub -algorithm RSA -pkeyopt rsa_keygen_bits:1024 >"$c/rsa"
openssl genpkey -algorithm ED25519 2>/dev/null >"$c/private"
