#!/bin/bash
# t82-oci-sign.sh: ukit-sign sign/verify for oci: layouts and docker://
# references, and ukit-pack oci pull --verify-pub: the statement's subject
# is the image manifest, the bundle an OCI artifact whose subject is that
# manifest, found through the fallback tag sha256-<hex> (docker-registry
# 2.8 has no referrers API; the test checks that it answers 404).
# X.509: sign with --cert/--chain (a hierarchy from tests/gen/mkpki.sh),
# verify --ca and pull --verify-ca; a wrong CA and a certificate without
# codeSigning are refused.  PKCS#11: a SoftHSM2 token key signs a
# docker:// reference, alone and with a certificate for it.
. "$(dirname "$0")/lib.sh"
gen=$TOP/tests/gen
. "$gen/ociregistry.sh"

bash "$gen/mkhvt.sh" k.hvt
bash "$gen/mkhvt.sh" -t 2 spt.elf
ukit-sign keygen --no-passphrase --type ecdsa-p256 ka >/dev/null
ukit-sign keygen --no-passphrase --type ed25519 kb >/dev/null
ukit-pack oci build k.hvt -o oci:lay:v1 >b.txt
ukit-pack oci build spt.elf -o oci:lay:other >b2.txt
D=$(cut -d' ' -f1 b.txt)
H=$(cut -c8- <<<"$D")

# ---- oci: layouts ----------------------------------------------------
expect_fail 1 "no signature of $D found" "unsigned image does not verify" \
	ukit-sign verify --pub ka.pub oci:lay:v1
check "sign oci:lay:v1" ukit-sign sign --key ka.key oci:lay:v1
check "verify oci:lay:v1" ukit-sign verify --pub ka.pub oci:lay:v1
grep -q "verified oci:lay:v1 $D" "$T/.out" && ok "verify names the manifest digest" ||
	not_ok "verify output: $(cat "$T/.out")"
expect_fail 1 "does not verify with any pinned key" "another key does not verify" \
	ukit-sign verify --pub kb.pub oci:lay:v1
expect_fail 1 "no signature of" "the other image is not signed" \
	ukit-sign verify --pub ka.pub oci:lay:other
check "the artifact: subject, artifactType, bundle layer, statement subject" "$PY" - "$D" <<'P'
import base64, json, sys
d = sys.argv[1]
ix = json.load(open("lay/index.json"))
tag = [m for m in ix["manifests"]
       if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "sha256-" + d[7:]]
assert len(tag) == 1, ix
refs = json.load(open("lay/blobs/sha256/" + tag[0]["digest"][7:]))
art = refs["manifests"][0]
assert art["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json", art
m = json.load(open("lay/blobs/sha256/" + art["digest"][7:]))
assert m["subject"]["digest"] == d, m
assert m["config"]["mediaType"] == "application/vnd.oci.empty.v1+json", m
assert m["layers"][0]["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
b = json.load(open("lay/blobs/sha256/" + m["layers"][0]["digest"][7:]))
assert b["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json", b
st = json.loads(base64.b64decode(b["dsseEnvelope"]["payload"]))
assert st["subject"][0]["digest"]["sha256"] == d[7:], st
assert st["predicate"]["size"] > 0, st
P
check "a second signature" ukit-sign sign --key kb.key oci:lay:v1
check "verify with the second key" ukit-sign verify --pub kb.pub oci:lay:v1
check "and still with the first" ukit-sign verify --pub ka.pub oci:lay:v1
# An artifact that names this image but is larger than any signature
# (2 MiB), listed before the signatures: passed over, not read, so that
# nobody who can add a referrer can hide the signatures behind it.
check "an oversized referrer is listed first" "$PY" - "$D" "$TOP" <<'P'
import json, sys
sys.path.insert(0, sys.argv[2] + "/tests/gen")
from ocilay import Layout
d, lay = sys.argv[1], Layout("lay")
refs = lay.referrers(d)
refs["manifests"].insert(0, lay.artifact(d, b"{" + b" " * (2 << 20) + b"}"))
lay.set_referrers(d, json.dumps(refs).encode())
P
check "the signatures still verify past it" sh -c "ukit-sign verify --pub ka.pub oci:lay:v1 &&
	ukit-sign verify --pub kb.pub oci:lay:v1"
check "the image itself is unchanged" ukit-pack oci extract oci:lay:v1 --kernel-out k.out
same_file "kernel after signing" k.hvt k.out
ukit-pack oci build k.hvt -o oci-archive:a.tar >/dev/null
expect_fail 1 "not in oci-archive: files" "no signatures in archives" \
	ukit-sign sign --key ka.key oci-archive:a.tar
expect_fail 2 "need --key KEY" "sign without a key" ukit-sign sign oci:lay:v1
expect_fail 2 "give either --pub or --ca" "verify without a key" ukit-sign verify oci:lay:v1

# ---- a registry without the referrers API ---------------------------
# the layout is signed: push the images alone (--no-signatures) to sign
# them at the registry (t83 pushes the layout's signatures)
reg_plain
ukit-pack oci push --no-signatures oci:lay:v1 docker://$R/uk/app:v1 >/dev/null
ukit-pack oci push --no-signatures oci:lay:other docker://$R/uk/app:other >/dev/null
code=$("$PY" -c '
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1]).status)
except urllib.error.HTTPError as e:
    print(e.code)' "http://$R/v2/uk/app/referrers/$D")
[ "$code" = 404 ] && ok "docker-registry 2.8 has no referrers API (404)" ||
	not_ok "referrers API answered $code"
expect_fail 1 "no signature of $D found" "unsigned in the registry" \
	ukit-sign verify --pub ka.pub docker://$R/uk/app:v1
check "sign docker://" ukit-sign sign --json --key ka.key docker://$R/uk/app:v1
cp "$T/.out" sign.json
validate_json "sign --json matches its schema" oci-sign.schema.json sign.json
check "the fallback tag sha256-<hex> lists the signature" sh -c \
	"skopeo inspect --raw --tls-verify=false docker://$R/uk/app:sha256-$H | grep -q 'application/vnd.dev.sigstore.bundle.v0.3+json'"
check "verify docker://" ukit-sign verify --pub ka.pub docker://$R/uk/app:v1
check "verify by digest" ukit-sign verify --pub ka.pub docker://$R/uk/app@$D
check "verify --json" ukit-sign verify --json --pub ka.pub docker://$R/uk/app:v1
cp "$T/.out" verify.json
validate_json "verify --json matches its schema" oci-sign.schema.json verify.json
check "verify --json says verified" grep -q '"verified": true' verify.json
expect_fail 1 "does not verify with any pinned key" "wrong key against the registry" \
	ukit-sign verify --pub kb.pub docker://$R/uk/app:v1
check "second signature in the registry" ukit-sign sign --key kb.key docker://$R/uk/app:v1
check "both keys verify" sh -c "ukit-sign verify --pub ka.pub docker://$R/uk/app:v1 &&
	ukit-sign verify --pub kb.pub docker://$R/uk/app:v1"

check "the oversized referrer copied into the registry, first" skopeo copy --all \
	--src-tls-verify=false --dest-tls-verify=false \
	oci:lay:sha256-$H docker://$R/uk/app:sha256-$H
check "the registry's signatures still verify past it" sh -c \
	"ukit-sign verify --pub ka.pub docker://$R/uk/app:v1 &&
	ukit-sign verify --pub kb.pub docker://$R/uk/app:v1"
# a signature of another image, put under this image's fallback tag
O=$(cut -d' ' -f1 b2.txt)
check "signatures copied under another image's tag" skopeo copy --all \
	--src-tls-verify=false --dest-tls-verify=false \
	docker://$R/uk/app:sha256-$H docker://$R/uk/app:sha256-${O#sha256:}
expect_fail 1 "no signature of $O found" "a signature of another manifest is not this one's" \
	ukit-sign verify --pub ka.pub docker://$R/uk/app:other

# ---- pull --verify-pub -----------------------------------------------
check "pull --verify-pub with the right key" ukit-pack oci pull --verify-pub ka.pub \
	docker://$R/uk/app:v1 oci:pv
check "the verified pull extracts" ukit-pack oci extract oci:pv:v1 --kernel-out k.pv
same_file "kernel through a verified pull" k.hvt k.pv
ukit-sign keygen --no-passphrase --type ecdsa-p256 kc >/dev/null
expect_fail 1 "signature check failed, nothing written" "pull --verify-pub, wrong key" \
	ukit-pack oci pull --verify-pub kc.pub docker://$R/uk/app:v1 oci:pw
check "nothing written" sh -c "[ ! -e pw/index.json ] && [ -z \"\$(ls pw/blobs/sha256)\" ]"
expect_fail 1 "no signature of $O found" "pull --verify-pub of an unsigned image" \
	ukit-pack oci pull --verify-pub ka.pub docker://$R/uk/app:other oci:pu
check "nothing written for the unsigned image" [ ! -e pu/index.json ]
expect_fail 2 "not both" "--verify-pub and --verify-ca" \
	ukit-pack oci pull --verify-pub ka.pub --verify-ca ka.pub docker://$R/uk/app:v1 oci:x

# ---- X.509 certificates ----------------------------------------------
# tags TAG: the tags of uk/x509 in the registry, sorted, one line
tags() { skopeo list-tags --tls-verify=false "docker://$R/$1" |
	"$PY" -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["Tags"])))'; }
ukit-sign keygen --no-passphrase --type ecdsa-p256 kx >/dev/null
sh "$gen/mkpki.sh" "$T" "$T/kx.key" pki >/dev/null 2>&1
sh "$gen/mkpki.sh" "$T" "$T/kx.key" other >/dev/null 2>&1
ukit-pack oci push --no-signatures oci:lay:v1 docker://$R/uk/x509:v1 >/dev/null
ukit-pack oci push --no-signatures oci:lay:other docker://$R/uk/x509:nocs >/dev/null
expect_fail 1 "lacks the codeSigning extended key usage" \
	"a certificate not for code signing is refused" \
	ukit-sign sign --key kx.key --cert pki-leaf-nocs.pem --chain pki-int.pem \
	docker://$R/uk/x509:nocs
[ "$(tags uk/x509)" = "nocs v1" ] && ok "and nothing was pushed for it" ||
	not_ok "tags after the refused signature: $(tags uk/x509)"
expect_fail 1 "refusing to sign: certificate chain does not verify" \
	"a chain that does not reach --ca is refused" \
	ukit-sign sign --key kx.key --cert pki-leaf.pem --chain pki-int.pem \
	--ca other-root.pem docker://$R/uk/x509:v1
expect_fail 1 "certificate does not match the signing key" "a certificate of another key" \
	ukit-sign sign --key ka.key --cert pki-leaf.pem docker://$R/uk/x509:v1
expect_fail 2 "--chain needs --cert" "--chain without --cert" \
	ukit-sign sign --key kx.key --chain pki-int.pem docker://$R/uk/x509:v1
check "sign docker:// with --cert, --chain and --ca" ukit-sign sign --json --key kx.key \
	--cert pki-leaf.pem --chain pki-int.pem --ca pki-root.pem docker://$R/uk/x509:v1
cp "$T/.out" xsign.json
validate_json "sign --json with a certificate matches its schema" oci-sign.schema.json xsign.json
check "the bundle in the registry carries the leaf and the intermediate" "$PY" - "$T" <<'P'
import base64, json, subprocess, sys
x = json.load(open(sys.argv[1] + "/xsign.json"))
r = subprocess.run(["skopeo", "copy", "--src-tls-verify=false",
                    "docker://%s@%s" % (x["reference"].rsplit(":", 1)[0][9:], x["signature"]),
                    "oci:" + sys.argv[1] + "/xart"], capture_output=True)
assert r.returncode == 0, r.stderr
ix = json.load(open(sys.argv[1] + "/xart/index.json"))
m = json.load(open(sys.argv[1] + "/xart/blobs/sha256/" + ix["manifests"][0]["digest"][7:]))
b = json.load(open(sys.argv[1] + "/xart/blobs/sha256/" + m["layers"][0]["digest"][7:]))
vm = b["verificationMaterial"]
certs = vm["x509CertificateChain"]["certificates"]
assert len(certs) == 2, vm
P
check "verify --ca ROOT" ukit-sign verify --ca pki-root.pem docker://$R/uk/x509:v1
grep -q "signer O=ukit test,CN=pki signer" "$T/.out" && ok "verify names the signer" ||
	not_ok "verify output: $(cat "$T/.out")"
check "verify --json --ca" ukit-sign verify --json --ca pki-root.pem docker://$R/uk/x509:v1
cp "$T/.out" xverify.json
validate_json "verify --json with a signer matches its schema" oci-sign.schema.json xverify.json
check "verify --json names the signer" grep -q '"signer": "O=ukit test,CN=pki signer"' xverify.json
expect_fail 1 "certificate chain does not verify" "verify with the wrong CA" \
	ukit-sign verify --ca other-root.pem docker://$R/uk/x509:v1
expect_fail 1 "carries a certificate chain, not a public key hint: verify it with --ca" "a certificate signature wants --ca, not --pub" \
	ukit-sign verify --pub ka.pub docker://$R/uk/x509:v1
check "pull --verify-ca with the right root" ukit-pack oci pull --verify-ca pki-root.pem \
	docker://$R/uk/x509:v1 oci:pca
check "the pulled image extracts" ukit-pack oci extract oci:pca:v1 --kernel-out k.pca
same_file "kernel through a --verify-ca pull" k.hvt k.pca
expect_fail 1 "signature check failed, nothing written" "pull --verify-ca, wrong root" \
	ukit-pack oci pull --verify-ca other-root.pem docker://$R/uk/x509:v1 oci:pcw
check "nothing written for the wrong root" \
	sh -c "[ ! -e pcw/index.json ] && [ -z \"\$(ls pcw/blobs/sha256)\" ]"
ukit-pack oci build k.hvt --cmdline x509 -o oci:xlay:v1 >/dev/null
check "sign an oci: layout with a certificate" ukit-sign sign --key kx.key \
	--cert pki-leaf.pem --chain pki-int.pem oci:xlay:v1
check "verify the layout with --ca" ukit-sign verify --ca pki-root.pem oci:xlay:v1
expect_fail 1 "certificate chain does not verify" "the layout with the wrong CA" \
	ukit-sign verify --ca other-root.pem oci:xlay:v1

# ---- PKCS#11 (SoftHSM2), as t72 does for files ------------------------
if ! softhsm_token ukit; then
	missing "softhsm2 / opensc not installed"
	done_testing
	exit 0
fi
pkcs11-tool --module "$MOD" --login --pin 1234 --keypairgen --key-type EC:prime256v1 \
	--label hk --id 01 >/dev/null 2>&1
pkcs11-tool --module "$MOD" --read-object --type pubkey --label hk -o hk.der >/dev/null 2>&1
openssl pkey -pubin -inform DER -in hk.der -out hk.pub 2>/dev/null
[ -s hk.pub ] || not_ok "fixture: no token key"
printf '1234\n' >pin
printf '9999\n' >badpin
ukit-pack oci push --no-signatures oci:lay:v1 docker://$R/uk/hsm:v1 >/dev/null
ukit-pack oci push --no-signatures oci:lay:other docker://$R/uk/hsm:other >/dev/null
expect_fail 1 "login to the token failed" "PKCS#11: a wrong PIN" \
	ukit-sign sign --key "pkcs11:token=ukit;object=hk" --pin-file badpin \
	docker://$R/uk/hsm:v1
grep -q 9999 "$T/.err" && not_ok "the PIN appears in the message" || ok "the PIN is not printed"
[ "$(tags uk/hsm)" = "other v1" ] && ok "nothing pushed after the wrong PIN" ||
	not_ok "tags after the wrong PIN: $(tags uk/hsm)"
check "sign docker:// with a PKCS#11 key" ukit-sign sign \
	--key "pkcs11:token=ukit;object=hk" --pin-file pin docker://$R/uk/hsm:v1
check "verify with the token's public key" ukit-sign verify --pub hk.pub docker://$R/uk/hsm:v1
check "pull --verify-pub with the token's public key" ukit-pack oci pull \
	--verify-pub hk.pub docker://$R/uk/hsm:v1 oci:phsm
expect_fail 1 "does not verify with any pinned key" "another key does not verify the token's signature" \
	ukit-sign verify --pub kb.pub docker://$R/uk/hsm:v1
# a certificate for the token's key, from the pki intermediate
openssl x509 -req -in pki-leaf.csr -force_pubkey hk.pub -CA pki-int.pem \
	-CAkey pki-int.key -CAcreateserial -days 30 -extfile pki-leaf.ext \
	-out hk-leaf.pem 2>/dev/null
check "sign with the token key and its certificate" ukit-sign sign \
	--key "pkcs11:token=ukit;object=hk" --pin-file pin --pkcs11-module "$MOD" \
	--cert hk-leaf.pem --chain pki-int.pem docker://$R/uk/hsm:other
check "verify it with --ca" ukit-sign verify --ca pki-root.pem docker://$R/uk/hsm:other
expect_fail 1 "certificate chain does not verify" "and not with the wrong CA" \
	ukit-sign verify --ca other-root.pem docker://$R/uk/hsm:other
expect_fail 1 "certificate does not match the signing key" "the token key with another key's certificate" \
	ukit-sign sign --key "pkcs11:token=ukit;object=hk" --pin-file pin \
	--cert pki-leaf.pem docker://$R/uk/hsm:v1
done_testing
