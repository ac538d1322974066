#!/bin/bash
# t79-crl: verify --crl FILE...: CRLs made by `openssl ca -gencrl` for the
# root and the intermediate; a revoked leaf or intermediate is refused with
# its serial number (openssl verify -crl_check_all agrees, the peer); every
# certificate of the chain needs its issuer's list; malformed CRL files are
# refused with path, offset and the exact error (table).
. "$(dirname "$0")/lib.sh"

cd "$T"
ukit-sign keygen --no-passphrase --type ecdsa-p256 k >/dev/null
sh "$TOP/tests/gen/mkpki.sh" "$T" "$T/k.key" p >/dev/null 2>&1
head -c 20000 /dev/urandom >img
ukit-sign sign -q --key k.key --cert p-leaf.pem --chain p-int.pem -o chain.json img
ukit-sign sign -q --key k.key --cert p-leaf.pem -o leaf.json img
cat p-int.pem p-root.pem >trust.pem

# ca NAME: an `openssl ca` database for p-NAME.pem / p-NAME.key
ca() {
	mkdir -p "db-$1"
	: >"db-$1/index.txt"
	echo 1000 >"db-$1/crlnumber"
	cat >"db-$1/ca.cnf" <<X
[ca]
default_ca = d
[d]
database = $T/db-$1/index.txt
crlnumber = $T/db-$1/crlnumber
default_md = sha256
default_crl_days = 30
X
}
gencrl() {
	openssl ca -config "db-$1/ca.cnf" -gencrl -keyfile "p-$1.key" \
		-cert "p-$1.pem" -out "$1.crl" 2>/dev/null
}
revoke() {
	openssl ca -config "db-$1/ca.cnf" -revoke "$2" -keyfile "p-$1.key" \
		-cert "p-$1.pem" >/dev/null 2>&1
}
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
ca root
ca int
gencrl root
gencrl int
[ -s root.crl ] && [ -s int.crl ] && ok "openssl ca -gencrl made the CRLs" || not_ok "no CRLs"

V() { ukit-sign verify -q --ca trust.pem --bundle "$@"; }
check "nothing revoked: the chain form verifies" V chain.json --crl int.crl --crl root.crl img
check "nothing revoked: the v0.3 form verifies" V leaf.json --crl int.crl --crl root.crl img
check "peer: openssl verify -crl_check_all agrees" openssl verify -crl_check_all \
	-CAfile p-root.pem -untrusted p-int.pem -CRLfile int.crl -CRLfile root.crl p-leaf.pem
cat int.crl root.crl >both.crl
check "both lists in one file" V chain.json --crl both.crl img
openssl crl -in int.crl -outform DER -out int.der
check "a DER CRL" V chain.json --crl int.der --crl root.crl img
check "a CRL from a pipe" V chain.json --crl <(cat both.crl) img
expect_fail 1 "unable to get certificate CRL (depth 0): serial 0x$(serial p-leaf.pem)" \
	"the intermediate's list missing: refused (fail closed), naming the leaf" \
	V chain.json --crl root.crl img

# revoke the leaf
revoke int p-leaf.pem
gencrl int
expect_fail 1 "certificate revoked (depth 0): serial 0x$(serial p-leaf.pem), subject O=ukit test,CN=p signer" \
	"a revoked leaf is refused with its serial" V chain.json --crl int.crl --crl root.crl img
expect_fail 1 "certificate revoked (depth 0): serial 0x$(serial p-leaf.pem)" \
	"...in the v0.3 form too" V leaf.json --crl int.crl --crl root.crl img
! openssl verify -crl_check_all -CAfile p-root.pem -untrusted p-int.pem \
	-CRLfile int.crl -CRLfile root.crl p-leaf.pem >/dev/null 2>&1 &&
	ok "peer: openssl verify refuses the revoked leaf too" || not_ok "openssl accepted"
check "without --crl the revocation is not seen" V chain.json img

# revoke the intermediate instead
ca int
gencrl int
revoke root p-int.pem
gencrl root
expect_fail 1 "certificate revoked (depth 1): serial 0x$(serial p-int.pem), subject CN=p intermediate" \
	"a revoked intermediate is refused with its serial" V chain.json --crl int.crl --crl root.crl img
! openssl verify -crl_check_all -CAfile p-root.pem -untrusted p-int.pem \
	-CRLfile int.crl -CRLfile root.crl p-leaf.pem >/dev/null 2>&1 &&
	ok "peer: openssl verify refuses the revoked intermediate too" || not_ok "openssl accepted"

# usage
ukit-sign keygen --no-passphrase --type ed25519 e >/dev/null
ukit-sign sign -q --key e.key -o key.json img
expect_fail 2 "--crl needs --ca" "--crl with --pub: usage error" \
	ukit-sign verify -q --pub e.pub --bundle key.json --crl root.crl img

# ---- malformed CRL files: path, offset, exact error ---------------------
bad() {
	expect_fail 1 "ukit-sign: bad.crl:$2" "malformed CRL: $1" \
		ukit-sign verify -q --ca trust.pem --bundle chain.json --crl bad.crl img
}
: >bad.crl
bad "empty file" '0x0: empty: no CRL'
printf 'hello\n' >bad.crl
bad "text that is no CRL" '0x0: "-----BEGIN X509 CRL-----" expected'
head -c 100 int.der >bad.crl
bad "truncated DER" '0x0: not a DER CRL'
{ cat int.der; printf 'xx'; } >bad.crl
bad "bytes after the DER CRL" "0x$(printf %x $(stat -c %s int.der)): bytes after the DER CRL"
{ cat root.crl; echo junk; } >bad.crl
bad "junk after a PEM CRL" "0x$(printf %x $(stat -c %s root.crl)): \"-----BEGIN X509 CRL-----\" expected"
sed 's/^M/N/' root.crl >bad.crl
bad "damaged PEM body" '0x0: not a PEM X509 CRL'
{ echo junk; cat root.crl; } >bad.crl
bad "junk before a PEM CRL" '0x0: "-----BEGIN X509 CRL-----" expected'
head -c $((4 * 1024 * 1024 + 1)) /dev/zero >bad.crl
expect_fail 1 "bad.crl: file too large" "malformed CRL: larger than 4 MiB" \
	ukit-sign verify -q --ca trust.pem --bundle chain.json --crl bad.crl img
for i in $(seq 65); do cat root.crl; done >bad.crl
bad "65 lists" "0x$(printf %x $((64 * $(stat -c %s root.crl)))): more than 64 CRLs"
done_testing
