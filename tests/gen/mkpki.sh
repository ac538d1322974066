#!/bin/sh
# mkpki.sh DIR LEAFKEY [NAME]: a two-level X.509 hierarchy for ukit-sign
# tests, made with the openssl CLI: DIR/NAME-root.pem -> DIR/NAME-int.pem ->
# leaf certificates for LEAFKEY (a PEM private key):
#   DIR/NAME-leaf.pem        extendedKeyUsage=codeSigning, keyUsage=digitalSignature
#   DIR/NAME-leaf-nocs.pem   extendedKeyUsage=serverAuth only
#   DIR/NAME-leaf-noku.pem   codeSigning but keyUsage=keyEncipherment only
set -eu
d=$1 leafkey=$2 n=${3:-pki}
cd "$d"
cat > "$n-ca.ext" <<'X'
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
X
leafext() {
	printf 'basicConstraints=critical,CA:FALSE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n'
	printf '%s\n' "$@"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$n-root.key" -out "$n-root.pem" -subj "/CN=$n root" -days 3650 \
	-addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$n-int.key" -out "$n-int.csr" -subj "/CN=$n intermediate" 2>/dev/null
openssl x509 -req -in "$n-int.csr" -CA "$n-root.pem" -CAkey "$n-root.key" \
	-CAcreateserial -out "$n-int.pem" -days 3650 -extfile "$n-ca.ext" 2>/dev/null
openssl req -new -key "$leafkey" -out "$n-leaf.csr" -subj "/CN=$n signer/O=ukit test" 2>/dev/null
mk() {
	out=$1
	shift
	leafext "$@" > "$n-$out.ext"
	openssl x509 -req -in "$n-leaf.csr" -CA "$n-int.pem" -CAkey "$n-int.key" \
		-CAcreateserial -out "$n-$out.pem" -days 3650 -extfile "$n-$out.ext" 2>/dev/null
}
mk leaf extendedKeyUsage=codeSigning keyUsage=critical,digitalSignature
mk leaf-nocs extendedKeyUsage=serverAuth keyUsage=critical,digitalSignature
mk leaf-noku extendedKeyUsage=codeSigning keyUsage=critical,keyEncipherment
