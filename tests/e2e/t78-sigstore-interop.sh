#!/bin/bash
# t78-sigstore-interop: the bundles ukit writes are Sigstore bundles other
# clients accept.  sigstore-js (@sigstore/verify, tests/node, installed by
# make deps) verifies every key type's bundle given the same public key, and
# refuses, as ukit does, a tampered image, payload or signature.  X.509
# bundles use the v0.3 form (the leaf in verificationMaterial.certificate),
# or with --chain the v0.2 chain form; ukit still reads the chain form in a
# v0.3 bundle that earlier versions wrote.  sign checks the chain as verify
# will; CAs made by `openssl req -x509` defaults (no keyUsage) are accepted
# as openssl verify accepts them; leaf rules stay.
. "$(dirname "$0")/lib.sh"

cd "$T"
NODE_PEER=$TOP/tests/node/sigstore-verify.js
have_js=0
if command -v node >/dev/null && [ -d "$TOP/tests/node/node_modules/@sigstore/verify" ]; then
	have_js=1
fi
# js BUNDLE ARTIFACT OPTS...: sigstore-js's verdict
js() { node "$NODE_PEER" "$@" >js.out 2>&1; }
head -c 70000 /dev/urandom >img
cp img img.bad
printf x >>img.bad

# b64 edits of a bundle: payload (the statement's rollback), signature
edit_bundle() {
	"$PY" - "$@" <<'P'
import base64, json, sys
src, dst, what = sys.argv[1:4]
b = json.load(open(src))
env = b["dsseEnvelope"]
if what == "payload":
    st = json.loads(base64.b64decode(env["payload"]))
    st["predicate"]["rollback"] = st["predicate"].get("rollback", 0) + 1
    env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
elif what == "sig":
    s = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    s[len(s) // 2] ^= 1
    env["signatures"][0]["sig"] = base64.b64encode(bytes(s)).decode()
elif what == "chainform":
    vm = b["verificationMaterial"]
    vm["x509CertificateChain"] = {"certificates": [vm.pop("certificate")]}
json.dump(b, open(dst, "w"), indent=2)
P
}

for t in ecdsa-p256 ed25519 rsa3072; do
	ukit-sign keygen --no-passphrase --type $t $t >/dev/null
	ukit-sign sign -q --key $t.key -o $t.json img
	check "$t: ukit verifies" ukit-sign verify -q --pub $t.pub --bundle $t.json img
	validate_json "$t: bundle matches the schema" ukit-sign-bundle.schema.json $t.json
	if [ $have_js = 0 ]; then
		missing "sigstore-js (tests/node: make deps runs npm ci)"
		continue
	fi
	js $t.json img --key $t.pub && ok "$t: sigstore-js verifies" ||
		not_ok "$t: sigstore-js: $(cat js.out)"
	edit_bundle $t.json $t-p.json payload
	edit_bundle $t.json $t-s.json sig
	for bad in "image:$t.json:img.bad" "payload:$t-p.json:img" "signature:$t-s.json:img"; do
		IFS=: read -r what b a <<<"$bad"
		ukit-sign verify -q --pub $t.pub --bundle $b $a >/dev/null 2>&1; u=$?
		js $b $a --key $t.pub; j=$?
		[ $u = 1 ] && [ $j = 1 ] && ok "$t: tampered $what refused by ukit and sigstore-js" ||
			not_ok "$t: tampered $what: ukit exit $u, sigstore-js exit $j: $(cat js.out)"
	done
done

# RSA-PSS is the other padding: a bare key hint cannot name it, so other
# clients (here sigstore-js) assume PKCS#1 v1.5; ukit verifies both.
ukit-sign sign -q --rsa-pss --key rsa3072.key -o pss.json img
check "--rsa-pss: ukit verifies" ukit-sign verify -q --pub rsa3072.pub --bundle pss.json img
if [ $have_js = 1 ]; then
	js pss.json img --key rsa3072.pub
	[ $? = 1 ] && grep -q "signature verification failed" js.out &&
		ok "--rsa-pss: sigstore-js refuses it (why PKCS#1 v1.5 is the default)" ||
		not_ok "sigstore-js on PSS: $(cat js.out)"
fi
expect_fail 2 "--rsa-pss needs an RSA key" "--rsa-pss with an EC key: usage error" \
	ukit-sign sign -q --rsa-pss --key ecdsa-p256.key -o x.json img

# ---- X.509: the v0.3 form, the chain form -------------------------------
sh "$TOP/tests/gen/mkpki.sh" "$T" "$T/ecdsa-p256.key" p >/dev/null 2>&1
cat p-int.pem p-root.pem >trust.pem
check "sign --cert (no --chain)" ukit-sign sign -q --key ecdsa-p256.key \
	--cert p-leaf.pem --ca trust.pem -o leaf.json img
"$PY" - leaf.json <<'P' && ok "v0.3 media type, leaf in verificationMaterial.certificate" || not_ok "$(head -c 300 leaf.json)"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json", b["mediaType"]
assert list(b["verificationMaterial"]) == ["certificate", "tlogEntries"], b["verificationMaterial"]
P
validate_json "the v0.3 certificate bundle matches the schema" ukit-sign-bundle.schema.json leaf.json
check "verify with the intermediates in the trust material (--ca)" \
	ukit-sign verify -q --ca trust.pem --bundle leaf.json img
expect_fail 1 "unable to get local issuer certificate" \
	"without the intermediate the chain is incomplete" \
	ukit-sign verify -q --ca p-root.pem --bundle leaf.json img
check "sign --chain" ukit-sign sign -q --key ecdsa-p256.key --cert p-leaf.pem \
	--chain p-int.pem -o chain.json img
grep -q '"mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.2"' chain.json &&
	grep -q '"x509CertificateChain"' chain.json &&
	ok "--chain writes the v0.2 chain form" || not_ok "$(head -c 300 chain.json)"
validate_json "the chain bundle matches the schema" ukit-sign-bundle.schema.json chain.json
check "verify the chain form against the root alone" \
	ukit-sign verify -q --ca p-root.pem --bundle chain.json img
edit_bundle leaf.json oldform.json chainform
check "ukit reads the chain form in a v0.3 bundle (earlier ukit)" \
	ukit-sign verify -q --ca trust.pem --bundle oldform.json img
if [ $have_js = 1 ]; then
	js oldform.json img --ca trust.pem
	[ $? = 1 ] && grep -q "invalid bundle" js.out &&
		ok "sigstore-js refuses the chain form in v0.3 (why ukit no longer writes it)" ||
		not_ok "sigstore-js on v0.3 chain: $(cat js.out)"
fi
edit_bundle leaf.json leaf-s.json sig
expect_fail 1 "signature does not verify with the leaf" "v0.3 form: a tampered signature is refused" \
	ukit-sign verify -q --ca trust.pem --bundle leaf-s.json img

# ---- sign checks the chain as verify will --------------------------------
mkdir other && sh "$TOP/tests/gen/mkpki.sh" "$T/other" "$T/ecdsa-p256.key" o >/dev/null 2>&1
expect_fail 1 "refusing to sign: certificate chain does not verify" \
	"sign --chain with an intermediate that did not issue the leaf" \
	ukit-sign sign -q --key ecdsa-p256.key --cert p-leaf.pem --chain other/o-int.pem -o x.json img
[ ! -e x.json ] && ok "...writes nothing" || not_ok "x.json written"
expect_fail 1 "refusing to sign: certificate chain does not verify" \
	"sign --ca with a root that is not the chain's" \
	ukit-sign sign -q --key ecdsa-p256.key --cert p-leaf.pem --chain p-int.pem \
	--ca other/o-root.pem -o x.json img
expect_fail 1 "lacks the codeSigning extended key usage" "leaf rules stay: no codeSigning" \
	ukit-sign sign -q --key ecdsa-p256.key --cert p-leaf-nocs.pem --ca trust.pem -o x.json img

# ---- CAs from `openssl req -x509` defaults (no keyUsage) -----------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dr.key \
	-out dr.pem -subj /CN=default-root -days 30 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >leaf.ext
openssl req -new -key ecdsa-p256.key -subj /CN=dleaf -out dl.csr
openssl x509 -req -in dl.csr -CA dr.pem -CAkey dr.key -CAcreateserial -days 10 \
	-extfile leaf.ext -out dl.pem 2>/dev/null
! openssl x509 -in dr.pem -noout -ext keyUsage 2>/dev/null | grep -q Usage &&
	ok "(the default root has no keyUsage)" || not_ok "root has keyUsage"
check "peer: openssl verify accepts the chain" openssl verify -CAfile dr.pem dl.pem
check "sign --ca accepts the default root" ukit-sign sign -q --key ecdsa-p256.key \
	--cert dl.pem --ca dr.pem -o dl.json img
check "verify --ca accepts the default root" ukit-sign verify -q --ca dr.pem --bundle dl.json img
# a CA whose keyUsage lacks keyCertSign is still refused, by both
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout nr.key \
	-out nr.pem -subj /CN=no-certsign -days 30 \
	-addext keyUsage=critical,digitalSignature 2>/dev/null
openssl x509 -req -in dl.csr -CA nr.pem -CAkey nr.key -CAcreateserial -days 10 \
	-extfile leaf.ext -out nl.pem 2>/dev/null
! openssl verify -CAfile nr.pem nl.pem >/dev/null 2>&1 &&
	ok "peer: openssl verify refuses a CA without keyCertSign" || not_ok "openssl accepted"
expect_fail 1 "refusing to sign" "sign refuses a CA without keyCertSign" \
	ukit-sign sign -q --key ecdsa-p256.key --cert nl.pem --ca nr.pem -o nl.json img
done_testing
