#!/bin/sh
# seeds-fuzz_tsa.sh CORPUS: TimeStampResp made by openssl ts -reply (with
# and without the TSA certificate) over the fuzzer's message "sig".
set -eu
c=$1
mkdir -p "$c"
t=$(mktemp -d "${TMPDIR:-/tmp}/seeds-tsa.XXXXXX")
trap 'rm -rf "$t"' EXIT
cd "$t"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k \
	-out c -subj /CN=tsa -days 2 -addext extendedKeyUsage=critical,timeStamping 2>/dev/null
echo 01 >serial
printf '[tsa]\ndefault_tsa = t\n[t]\nserial = %s/serial\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\ness_cert_id_alg = sha256\n' "$t" >cnf
printf sig >data
openssl ts -query -data data -sha256 -cert -out q1 2>/dev/null
openssl ts -query -data data -sha256 -no_nonce -out q2 2>/dev/null
openssl ts -reply -config cnf -queryfile q1 -inkey k -signer c -out "$c/with-cert.tsr" 2>/dev/null
openssl ts -reply -config cnf -queryfile q2 -inkey k -signer c -out "$c/no-cert.tsr" 2>/dev/null
