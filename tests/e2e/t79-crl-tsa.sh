#!/bin/bash
# t79-crl-tsa: trusted time and revocation.
# verify --crl FILE...: CRLs made by `openssl ca -gencrl` for the root and
# the intermediate; a revoked leaf or intermediate is refused with its
# serial number (openssl verify -crl_check_all agrees, the peer); every
# certificate of the chain needs its issuer's list; malformed CRL files are
# refused with path, offset and the exact error (table).
# sign --tsa URL / verify --tsa-ca ROOT: a TSA made of `openssl ts -reply`
# behind a python3 HTTP server on 127.0.0.1; the token is checked and the
# signing certificate must be valid at the stamped time, so an expired key
# cannot backdate a signature; sigstore-js verifies the stamped bundles
# (X.509 ones need a timestamp there); sign refuses bad TSA answers.
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
	echo 2000 >"db-$1/serial"
	cat >"db-$1/ca.cnf" <<X
[ca]
default_ca = d
[d]
database = $T/db-$1/index.txt
new_certs_dir = $T/db-$1
serial = $T/db-$1/serial
policy = pol
crlnumber = $T/db-$1/crlnumber
default_md = sha256
default_crl_days = 30
[pol]
commonName = supplied
organizationName = optional
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

# ---- RFC 3161 timestamps ---------------------------------------------------
cp img img.bad
printf x >>img.bad
mkdir tsa
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tsa/root.key \
	-out tsa/root.pem -subj /CN=tsa-root -days 30 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tsa/tsa.key \
	-subj /CN=tsa -out tsa/tsa.csr 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >tsa/tsa.ext
openssl x509 -req -in tsa/tsa.csr -CA tsa/root.pem -CAkey tsa/root.key -CAcreateserial \
	-days 10 -extfile tsa/tsa.ext -out tsa/tsa.pem 2>/dev/null
echo 01 >tsa/serial
cat >tsa/tsa.cnf <<X
[tsa]
default_tsa = t
[t]
serial = $T/tsa/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
X
cat >tsa/server.py <<'P'
import http.server, os, subprocess, sys, tempfile
conf, key, cert, chain, portfile = sys.argv[1:6]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/http500":
            self.send_response(500)
            self.end_headers()
            return
        with tempfile.TemporaryDirectory() as d:
            q, r = os.path.join(d, "q"), os.path.join(d, "r")
            open(q, "wb").write(body)
            subprocess.run(["openssl", "ts", "-reply", "-config", conf,
                            "-queryfile", q, "-inkey", key, "-signer", cert,
                            "-chain", chain, "-out", r], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            resp = open(r, "rb").read()
        if self.path == "/garbage":
            resp = b"not a timestamp"
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if self.path == "/html"
                         else "application/timestamp-reply")
        self.send_header("Content-Length", str(len(resp)))
        self.end_headers()
        self.wfile.write(resp)
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(portfile + ".tmp", "w").write(str(s.server_address[1]))
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
P
"$PY" tsa/server.py tsa/tsa.cnf tsa/tsa.key tsa/tsa.pem tsa/root.pem tsa/port &
srv=$!
trap 'kill $srv 2>/dev/null; rm -rf "$T"' EXIT
for i in $(seq 100); do [ -s tsa/port ] && break; sleep 0.1; done
URL=http://127.0.0.1:$(cat tsa/port 2>/dev/null)
cat tsa/tsa.pem tsa/root.pem >tsa/chain.pem

check "sign --tsa (key)" ukit-sign sign -q --key k.key --tsa $URL/ -o tk.json img
check "sign --tsa (certificate)" ukit-sign sign -q --key k.key --cert p-leaf.pem \
	--ca trust.pem --tsa $URL/ -o tc.json img
grep -q '"signedTimestamp"' tc.json && ok "the bundle carries timestampVerificationData" ||
	not_ok "$(head -c 400 tc.json)"
validate_json "the stamped bundle matches the schema" ukit-sign-bundle.schema.json tc.json
"$PY" - tc.json >tsr.der <<'P'
import base64, json, sys
b = json.load(open(sys.argv[1]))
ts = b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
sys.stdout.buffer.write(base64.b64decode(ts["signedTimestamp"]))
P
"$PY" - tc.json >sig.bin <<'P'
import base64, json, sys
b = json.load(open(sys.argv[1]))
sys.stdout.buffer.write(base64.b64decode(b["dsseEnvelope"]["signatures"][0]["sig"]))
P
check "peer: openssl ts -verify accepts the token over the signature bytes" \
	openssl ts -verify -in tsr.der -data sig.bin -CAfile tsa/root.pem
check "verify --tsa-ca (key)" ukit-sign verify -q --pub k.pub --tsa-ca tsa/root.pem --bundle tk.json img
check "verify --tsa-ca (certificate)" ukit-sign verify -q --ca trust.pem \
	--tsa-ca tsa/root.pem --bundle tc.json img
if command -v node >/dev/null && [ -d "$TOP/tests/node/node_modules/@sigstore/verify" ]; then
	node "$TOP/tests/node/sigstore-verify.js" tc.json img --ca trust.pem --tsa-ca tsa/chain.pem >js.out 2>&1 &&
		ok "sigstore-js verifies the stamped X.509 bundle (v0.3 form)" || not_ok "$(cat js.out)"
	node "$TOP/tests/node/sigstore-verify.js" tk.json img --key k.pub --tsa-ca tsa/chain.pem >js.out 2>&1 &&
		ok "sigstore-js verifies the stamped key bundle" || not_ok "$(cat js.out)"
	node "$TOP/tests/node/sigstore-verify.js" tc.json img.bad --ca trust.pem --tsa-ca tsa/chain.pem >js.out 2>&1
	[ $? = 1 ] && ok "sigstore-js refuses the stamped bundle for another image" || not_ok "$(cat js.out)"
else
	missing "sigstore-js (tests/node)"
fi
expect_fail 1 "timestamp: timestamp does not verify" "a TSA root that is not the TSA's" \
	ukit-sign verify -q --ca trust.pem --tsa-ca p-root.pem --bundle tc.json img
expect_fail 1 "no RFC 3161 timestamp in the bundle (--tsa-ca wants one)" \
	"--tsa-ca and an unstamped bundle" \
	ukit-sign verify -q --ca trust.pem --tsa-ca tsa/root.pem --bundle leaf.json img
# the stamp covers the signature: a stamp moved onto another signature fails
ukit-sign sign -q --key k.key --cert p-leaf.pem -o other.json img
"$PY" - tc.json other.json moved.json <<'P'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
b["verificationMaterial"]["timestampVerificationData"] = a["verificationMaterial"]["timestampVerificationData"]
json.dump(b, open(sys.argv[3], "w"))
P
expect_fail 1 "timestamp: timestamp does not verify: message imprint mismatch" \
	"a stamp taken from another signature is refused" \
	ukit-sign verify -q --ca trust.pem --tsa-ca tsa/root.pem --bundle moved.json img

# An expired signing certificate cannot backdate: the statement claims
# 2020, inside the leaf's validity, but the TSA says now.
ca int
openssl ca -config db-int/ca.cnf -cert p-int.pem -keyfile p-int.key -in p-leaf.csr \
	-startdate 20200101000000Z -enddate 20210101000000Z -extfile p-leaf.ext \
	-batch -notext -out old-leaf.pem >/dev/null 2>&1
[ -s old-leaf.pem ] && ok "(a leaf valid in 2020 only, by openssl ca)" || not_ok "no old leaf"
SOURCE_DATE_EPOCH=1590000000 ukit-sign sign -q --key k.key --cert old-leaf.pem \
	--tsa $URL/ -o back.json img 2>/dev/null
[ -s back.json ] && ok "(signed with a statement time in 2020 and a TSA stamp of now)" ||
	not_ok "back.json not written"
ukit-sign verify --ca trust.pem --check-time --bundle leaf.json img >/dev/null 2>.err
[ $? = 0 ] && grep -q "note: --check-time used the statement's created time, the signer's own claim" .err &&
	ok "--check-time without a trusted timestamp says the time is the signer's claim" ||
	not_ok "$(cat .err)"
expect_fail 1 "certificate has expired (depth 0) (at the stamped time)" \
	"--tsa-ca: the certificate is checked at the stamped time: refused" \
	ukit-sign verify -q --ca trust.pem --tsa-ca tsa/root.pem --bundle back.json img

# TSA answers sign refuses (and then writes nothing)
expect_fail 1 "timestamp: TSA $URL/http500: HTTP status 500" "TSA: HTTP 500" \
	ukit-sign sign -q --key k.key --tsa $URL/http500 -o no.json img
expect_fail 1 "content type text/html, want application/timestamp-reply" "TSA: wrong content type" \
	ukit-sign sign -q --key k.key --tsa $URL/html -o no.json img
expect_fail 1 "timestamp: not a DER TimeStampResp" "TSA: garbage reply" \
	ukit-sign sign -q --key k.key --tsa $URL/garbage -o no.json img
expect_fail 1 "want http:// or https://" "TSA: another scheme" \
	ukit-sign sign -q --key k.key --tsa ftp://127.0.0.1/ -o no.json img
[ ! -e no.json ] && ok "no bundle after a failed timestamp" || not_ok "no.json written"

# malformed signedTimestamp in a bundle: exact errors
tsbad() {
	"$PY" - tc.json bad.json "$2" <<'P'
import base64, json, sys
b = json.load(open(sys.argv[1]))
ts = b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
raw = base64.b64decode(ts["signedTimestamp"])
mode = sys.argv[3]
raw = {"garbage": b"\x30\x03abc", "trailing": raw + b"\x00", "truncated": raw[:len(raw) // 2]}[mode]
ts["signedTimestamp"] = base64.b64encode(raw).decode()
json.dump(b, open(sys.argv[2], "w"))
P
	expect_fail 1 "$3" "malformed timestamp: $1" \
		ukit-sign verify -q --ca trust.pem --tsa-ca tsa/root.pem --bundle bad.json img
}
tsbad "not DER" garbage "timestamp: not a DER TimeStampResp"
tsbad "a byte after it" trailing "timestamp: bytes after the TimeStampResp"
tsbad "cut in half" truncated "timestamp: not a DER TimeStampResp"
done_testing
