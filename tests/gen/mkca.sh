#!/bin/sh
# tests/gen/mkca.sh DIR: a two-level code-signing PKI made with openssl:
#   DIR/root.{key,pem}       self-signed root CA
#   DIR/inter.{key,pem}      intermediate CA
#   DIR/leaf.{key,pem}       ECDSA P-256 leaf: codeSigning EKU,
#                            digitalSignature KU, issued by inter
#   DIR/noeku.{key,pem}      leaf without codeSigning (serverAuth), by inter
#   DIR/other-root.pem       an unrelated root
# Optional: MKCA_LEAF_PUB=PEM issues DIR/token.pem for that public key.
set -eu
d=$1
mkdir -p "$d"
cd "$d"
gen() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
cat >ext.cnf <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[code]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
[server]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
CNF
gen root.key
openssl req -x509 -new -key root.key -subj /CN=ukit-test-root -days 30 \
	-addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign -out root.pem 2>/dev/null
gen other.key
openssl req -x509 -new -key other.key -subj /CN=other-root -days 30 \
	-addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign -out other-root.pem 2>/dev/null
issue() { # KEY SUBJ CAKEY CACERT SECTION OUT [PUBKEY]
	openssl req -new -key "$1" -subj "$2" -out req.csr 2>/dev/null
	openssl x509 -req -in req.csr -CA "$4" -CAkey "$3" -CAcreateserial \
		-days 30 -extfile ext.cnf -extensions "$5" ${7:+-force_pubkey "$7"} \
		-out "$6" 2>/dev/null
}
gen inter.key
issue inter.key /CN=ukit-test-inter root.key root.pem ca inter.pem
gen leaf.key
issue leaf.key /CN=ukit-test-signer inter.key inter.pem code leaf.pem
gen noeku.key
issue noeku.key /CN=ukit-test-server inter.key inter.pem server noeku.pem
if [ -n "${MKCA_LEAF_PUB:-}" ]; then
	issue leaf.key /CN=ukit-test-token inter.key inter.pem code token.pem "$MKCA_LEAF_PUB"
fi
rm -f req.csr ext.cnf ./*.srl
