#!/bin/sh
# Seed corpus for fuzz_cms: detached and attached CMS signatures made by
# openssl with an EC and an RSA key over the fuzzer's fixed content.
set -eu
dir=$1
mkdir -p "$dir"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
printf 'ukit fuzz content\n' >"$t/c"
for alg in EC RSA; do
	case $alg in
	EC) opt="-pkeyopt ec_paramgen_curve:P-256" ;;
	RSA) opt="-pkeyopt rsa_keygen_bits:1024" ;;
	esac
	openssl genpkey -algorithm $alg $opt -out "$t/k" 2>/dev/null
	openssl req -x509 -new -key "$t/k" -subj /CN=seed -days 1 -out "$t/crt" 2>/dev/null
	openssl cms -sign -binary -in "$t/c" -signer "$t/crt" -inkey "$t/k" \
		-outform DER -out "$dir/detached-$alg.der"
	openssl cms -sign -binary -nodetach -in "$t/c" -signer "$t/crt" \
		-inkey "$t/k" -outform DER -out "$dir/attached-$alg.der"
done
