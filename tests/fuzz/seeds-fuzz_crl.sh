#!/bin/sh
# seeds-fuzz_crl.sh CORPUS: CRLs made by openssl ca -gencrl (PEM and DER,
# empty and with a revoked serial, two lists in one file).
set -eu
c=$1
mkdir -p "$c"
t=$(mktemp -d "${TMPDIR:-/tmp}/seeds-crl.XXXXXX")
trap 'rm -rf "$t"' EXIT
cd "$t"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout ca.key -out ca.pem -subj /CN=seed-ca -days 2 2>/dev/null
: >index.txt
echo 01 >crlnumber
cat >ca.cnf <<X
[ca]
default_ca = d
[d]
database = $t/index.txt
crlnumber = $t/crlnumber
default_md = sha256
default_crl_days = 1
X
openssl ca -config ca.cnf -gencrl -keyfile ca.key -cert ca.pem -out "$c/empty.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout x.key -out x.pem -subj /CN=x -days 2 2>/dev/null
openssl ca -config ca.cnf -revoke x.pem -keyfile ca.key -cert ca.pem 2>/dev/null
openssl ca -config ca.cnf -gencrl -keyfile ca.key -cert ca.pem -out "$c/one.pem" 2>/dev/null
openssl crl -in "$c/one.pem" -outform DER -out "$c/one.der"
cat "$c/empty.pem" "$c/one.pem" >"$c/two.pem"
