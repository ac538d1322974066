#!/bin/bash
# t82-oci-sign.sh: ukit-sign sign/verify for oci: layouts and docker://
# references, and ukit-pack oci pull --verify-pub: the statement's subject
# is the image manifest, the bundle an OCI artifact whose subject is that
# manifest, found through the fallback tag sha256-<hex> (docker-registry
# 2.8 has no referrers API; the test checks that it answers 404).
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
gen=$TOP/tests/gen
. "$gen/ociregistry.sh"
export SOURCE_DATE_EPOCH=1700000000 UKIT_OCI_RETRY_MS=20
export HOME=$T/home XDG_RUNTIME_DIR=$T/run
unset REGISTRY_AUTH_FILE DOCKER_CONFIG
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"

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
check "the image itself is unchanged" ukit-pack oci extract oci:lay:v1 --kernel-out k.out
same_file "kernel after signing" k.hvt k.out
ukit-pack oci build k.hvt -o oci-archive:a.tar >/dev/null
expect_fail 1 "not in oci-archive: files" "no signatures in archives" \
	ukit-sign sign --key ka.key oci-archive:a.tar
expect_fail 2 "need --key KEY" "sign without a key" ukit-sign sign oci:lay:v1
expect_fail 2 "give either --pub or --ca" "verify without a key" ukit-sign verify oci:lay:v1

if ! command -v docker-registry >/dev/null; then
	missing docker-registry
	done_testing
	exit 0
fi

# ---- a registry without the referrers API ---------------------------
reg_start plain || { not_ok "registry"; done_testing; exit 0; }
R=127.0.0.1:$REG_PORT_plain
ukit-pack oci push oci:lay:v1 docker://$R/uk/app:v1 >/dev/null
ukit-pack oci push oci:lay:other docker://$R/uk/app:other >/dev/null
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
done_testing
