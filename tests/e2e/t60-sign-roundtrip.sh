#!/bin/bash
# t60-sign-roundtrip: keygen, sign and verify for every key type, detached
# and appended, with pinned keys and with a two-level X.509 chain made by
# openssl; peer checks with openssl dgst/pkeyutl and sha256sum; an appended
# ELF still reads with readelf.
. "$(dirname "$0")/lib.sh"

cd "$T"
head -c 4096 /dev/urandom > pad.bin
bash "$TOP/tests/gen/mkelf.sh" -m "$SHARED/data/solo5/m03-net-block/note.hex" -d pad.bin k.elf >/dev/null
printf 'secret passphrase\n' > pass.txt

for t in ecdsa-p256 ed25519 rsa3072 rsa4096; do
	check "keygen $t" ukit-sign keygen --no-passphrase --type "$t" "$t"
	mode=$(stat -c %a "$t.key")
	[ "$mode" = 600 ] && ok "keygen $t: private key mode 0600" || not_ok "keygen $t: mode $mode"
	check "keygen $t: PKCS#8 private key" grep -q '^-----BEGIN PRIVATE KEY-----' "$t.key"
	check "keygen $t: SPKI public key readable by openssl" openssl pkey -pubin -in "$t.pub" -noout
	case $t in
	rsa*)	openssl pkey -pubin -in "$t.pub" -noout -text >"$T/pk.txt"
		grep -q "Public-Key: (${t#rsa} bit)" "$T/pk.txt" &&
			ok "keygen $t: openssl says ${t#rsa} bits" ||
			not_ok "keygen $t: $(head -n 1 "$T/pk.txt")" ;;
	esac
	# key id = sha256 of the SPKI DER
	want=$(openssl pkey -pubin -in "$t.pub" -outform DER | sha256sum | cut -d' ' -f1)
	ukit-sign keygen --no-passphrase --type "$t" "$t-2" > "$T/kid" 2>/dev/null
	got=$(openssl pkey -pubin -in "$t-2.pub" -outform DER | sha256sum | cut -d' ' -f1)
	[ "$(cat "$T/kid")" = "$got" ] && ok "keygen $t prints the key id (sha256 of SPKI DER)" || not_ok "keygen $t key id"

	check "sign $t detached" ukit-sign sign --key "$t.key" --rollback 7 --annotate build=42 k.elf
	check "verify $t detached" ukit-sign verify --pub "$t.pub" k.elf
	expect_fail 1 "signature does not verify" "verify $t with another key fails" \
		ukit-sign verify --pub "$t-2.pub" k.elf
	check "sign $t appended" ukit-sign sign --key "$t.key" --append -o "k-$t.elf" k.elf
	check "verify $t appended" ukit-sign verify --pub "$t.pub" "k-$t.elf"
	mv k.elf.bundle.json "k-$t.bundle.json"
done

# Passphrase-protected keys.
check "keygen with passphrase" ukit-sign keygen --type ecdsa-p256 --passphrase-file pass.txt enc
check "encrypted PKCS#8" grep -q '^-----BEGIN ENCRYPTED PRIVATE KEY-----' enc.key
check "openssl reads it with the passphrase" openssl pkey -in enc.key -passin file:pass.txt -noout
check "sign with passphrase file" ukit-sign sign --key enc.key --passphrase-file pass.txt -o enc.json k.elf
check "verify passphrase-key bundle" ukit-sign verify --pub enc.pub --bundle enc.json k.elf
printf 'wrong\n' > wrong.txt
expect_fail 1 "wrong passphrase" "wrong passphrase fails" \
	ukit-sign sign --key enc.key --passphrase-file wrong.txt -o enc2.json k.elf
[ ! -e enc2.json ] && ok "no output after a failed sign" || not_ok "enc2.json written"
expect_fail 1 "File exists" "keygen refuses to overwrite" ukit-sign keygen --no-passphrase --type ed25519 enc
# Secrets from pipes, so that they need not be written to disk: a shell's
# <(...), /dev/stdin; a directory is still refused.
check "keygen, passphrase from <(...)" ukit-sign keygen --type ed25519 \
	--passphrase-file <(printf 'piped secret\n') pipe
check "openssl reads it with that passphrase" \
	openssl pkey -in pipe.key -passin pass:'piped secret' -noout
check "sign, passphrase from /dev/stdin" sh -c \
	"printf 'piped secret\n' | ukit-sign sign --key pipe.key \
	 --passphrase-file /dev/stdin -o pipe.json k.elf"
check "verify the piped-passphrase bundle" \
	ukit-sign verify --pub pipe.pub --bundle pipe.json k.elf
check "sign, the key itself from <(...)" ukit-sign sign \
	--key <(cat pipe.key) --passphrase-file <(printf 'piped secret\n') \
	-o pipe3.json k.elf
check "verify the piped-key bundle" \
	ukit-sign verify --pub pipe.pub --bundle pipe3.json k.elf
mkdir -p passdir
expect_fail 1 "not a regular file or a pipe" "a directory as passphrase file" \
	ukit-sign sign --key pipe.key --passphrase-file passdir -o pipe2.json k.elf
# Passphrase from the terminal (script(1) gives the command a pty; the
# prompt flushes typed-ahead input, hence the pause before typing).
if command -v script >/dev/null; then
	(sleep 1; printf 'secret passphrase\n') | timeout 20 script -qec \
		"ukit-sign sign --key enc.key -o tty.json k.elf" /dev/null > tty.out 2>&1
	check "passphrase read from the terminal" ukit-sign verify --pub enc.pub --bundle tty.json k.elf
	check "the terminal shows a prompt" grep -q "passphrase for private key" tty.out
	(sleep 1; printf 'wrong\n') | timeout 20 script -qec \
		"ukit-sign sign --key enc.key -o tty2.json k.elf" /dev/null > tty.out 2>&1
	rc=$?
	[ $rc -eq 1 ] && [ ! -e tty2.json ] && ok "wrong passphrase at the terminal: exit 1, no output" ||
		not_ok "wrong terminal passphrase (exit $rc)"
else
	missing "script(1) not installed"
	missing "script(1) not installed"
	missing "script(1) not installed"
fi

# Schemas.
ukit-sign verify --pub ecdsa-p256.pub --bundle k-ecdsa-p256.bundle.json --json k.elf > v.json
validate_json "verify --json matches schema" ukit-sign-verify.schema.json v.json
validate_json "bundle matches schema" ukit-sign-bundle.schema.json k-ecdsa-p256.bundle.json
"$PY" -c 'import json,sys,base64; print(base64.b64decode(json.load(open(sys.argv[1]))["dsseEnvelope"]["payload"]).decode())' \
	k-ecdsa-p256.bundle.json > stmt.json
validate_json "statement matches schema" ukit-sign-statement.schema.json stmt.json
ukit-sign inspect k-ecdsa-p256.elf > insp.json
validate_json "inspect matches schema" ukit-sign-inspect.schema.json insp.json
check "inspect of an appended image shows the statement" grep -q '"source": "appended"' insp.json
cp k-ecdsa-p256.bundle.json k.elf.bundle.json
ukit-sign inspect k.elf > insp2.json
check "inspect of an image finds IMAGE.bundle.json" grep -q '"source": "detached"' insp2.json
validate_json "inspect (detached) matches schema" ukit-sign-inspect.schema.json insp2.json
ukit-sign inspect k-ecdsa-p256.bundle.json > insp3.json
check "inspect of a bundle file" grep -q '"source": "bundle"' insp3.json

# Peer check: rebuild PAE with python (pae, lib.sh), verify with openssl alone.
pae k-ecdsa-p256.bundle.json > pae.bin
check "peer: openssl dgst -verify accepts the ECDSA signature over PAE" \
	openssl dgst -sha256 -verify ecdsa-p256.pub -signature sig.der pae.bin
[ "$(cat digest.txt)" = "$(sha256sum k.elf | cut -d' ' -f1)" ] && \
	ok "peer: subject digest equals sha256sum" || not_ok "subject digest differs from sha256sum"
pae k-ed25519.bundle.json > pae.bin
check "peer: openssl pkeyutl -verify -rawin accepts the Ed25519 signature" \
	openssl pkeyutl -verify -pubin -inkey ed25519.pub -rawin -in pae.bin -sigfile sig.der
pae k-rsa3072.bundle.json > pae.bin
check "peer: openssl dgst accepts the RSA PKCS#1 v1.5 signature (the default)" \
	openssl dgst -sha256 -verify rsa3072.pub -signature sig.der pae.bin
ukit-sign sign -q --rsa-pss --key rsa3072.key -o pss.bundle.json k.elf
pae pss.bundle.json > pae.bin
check "peer: openssl dgst accepts the --rsa-pss signature" \
	openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest \
	-verify rsa3072.pub -signature sig.der pae.bin
check "verify accepts the --rsa-pss bundle" ukit-sign verify -q --pub rsa3072.pub \
	--bundle pss.bundle.json k.elf

# Appended ELF: the original bytes come first and readelf still reads it.
size=$(stat -c %s k.elf)
check "appended image starts with the original bytes" cmp -n "$size" k.elf k-ecdsa-p256.elf
check "readelf -lhW reads the appended ELF cleanly" sh -c \
	"readelf -lhW k-ecdsa-p256.elf >/dev/null 2>re.err && [ ! -s re.err ]"
tail -c 64 k-ecdsa-p256.elf | head -c 8 > magic
check "footer magic at the end" grep -q UKITSIG1 magic
run_ok "query-manifest on the ELF" qm.json ukit-elftool query-manifest k.elf
run_ok "query-manifest on the appended ELF" qm-appended.json \
	ukit-elftool query-manifest k-ecdsa-p256.elf
same_file "query-manifest reads the appended ELF: Solo5's output for its manifest" \
	"$SHARED/data/solo5/m03-net-block/query-manifest.json" qm-appended.json
ukit-elftool query-abi k.elf > qa.json
check "the statement holds the query-manifest object and the ABI" "$PY" -c '
import json, sys
st = json.load(open(sys.argv[1]))
qm, qa = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
s = st["predicate"]["solo5"]
assert s["manifest"] == qm, (s["manifest"], qm)
assert s["abi"] == {"target": qa["target"], "version": qa["version"]}
assert st["predicate"]["rollback"] == 7 and st["predicate"]["annotations"] == {"build": "42"}
' stmt.json qm.json qa.json
check "verify --require-target hvt" ukit-sign verify --pub ecdsa-p256.pub --require-target hvt --require-format elf k-ecdsa-p256.elf
cp k.elf inplace.elf
check "sign --append in place" ukit-sign sign --key ed25519.key --append inplace.elf
check "verify in-place appended" ukit-sign verify --pub ed25519.pub inplace.elf
expect_fail 1 "already carries an appended signature" "second --append refused" \
	ukit-sign sign --key ed25519.key --append inplace.elf
head -c 65536 /dev/urandom > disk.raw
expect_fail 1 "refusing --append on a raw image" "--append refuses raw disks" \
	ukit-sign sign --key ed25519.key --append disk.raw
check "raw disk detached" ukit-sign sign --key ed25519.key disk.raw
check "verify raw disk --require-format raw" ukit-sign verify --pub ed25519.pub --require-format raw disk.raw

# qcow2 bases take an appended signature too; qemu-img still checks them.
if command -v qemu-img >/dev/null; then
	qemu-img create -f qcow2 base.qcow2 64M >/dev/null
	check "sign --append a qcow2 image" ukit-sign sign --key ed25519.key --append -o base-signed.qcow2 base.qcow2
	check "verify the appended qcow2 (--require-format qcow2)" \
		ukit-sign verify --pub ed25519.pub --require-format qcow2 base-signed.qcow2
	check "qemu-img check accepts the appended qcow2" qemu-img check -q base-signed.qcow2
else
	missing "qemu-img not installed"
fi

# X.509: root -> intermediate -> leaf (codeSigning, digitalSignature).
sh "$TOP/tests/gen/mkpki.sh" "$T" "$T/ecdsa-p256.key" pki
sh "$TOP/tests/gen/mkpki.sh" "$T" "$T/ecdsa-p256.key" other
check "sign with certificate chain" ukit-sign sign --key ecdsa-p256.key \
	--cert pki-leaf.pem --chain pki-int.pem -o chain.json k.elf
check "verify chain to root" ukit-sign verify --ca pki-root.pem --bundle chain.json k.elf
check "verify chain --check-time" ukit-sign verify --ca pki-root.pem --check-time --bundle chain.json k.elf
ukit-sign verify --ca pki-root.pem --bundle chain.json --json k.elf > vc.json
check "verify --json names the signer" grep -q '"signer": "O=ukit test,CN=pki signer"' vc.json
check "sign appended with chain" ukit-sign sign --key ecdsa-p256.key \
	--cert pki-leaf.pem --chain pki-int.pem --append -o kc.elf k.elf
check "verify appended chain" ukit-sign verify --ca pki-root.pem kc.elf
expect_fail 1 "unable to get local issuer certificate" "chain to another root fails" \
	ukit-sign verify --ca other-root.pem --bundle chain.json k.elf
expect_fail 1 "verify it with --ca" "chain bundle with --pub fails" \
	ukit-sign verify --pub ecdsa-p256.pub --bundle chain.json k.elf
expect_fail 1 "lacks the codeSigning" "sign refuses a leaf without codeSigning" \
	ukit-sign sign --key ecdsa-p256.key --cert pki-leaf-nocs.pem --chain pki-int.pem -o x.json k.elf
expect_fail 1 "does not match the signing key" "sign refuses a certificate for another key" \
	ukit-sign sign --key ed25519.key --cert pki-leaf.pem --chain pki-int.pem -o x.json k.elf
# Swap the leaf in a valid bundle for one without codeSigning / digitalSignature.
swapleaf() {
	"$PY" - "$1" "$2" "$3" <<'P'
import base64, json, subprocess, sys
b = json.load(open(sys.argv[1]))
der = subprocess.run(["openssl", "x509", "-in", sys.argv[2], "-outform", "DER"],
                     capture_output=True, check=True).stdout
b["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"] = base64.b64encode(der).decode()
json.dump(b, open(sys.argv[3], "w"))
P
}
swapleaf chain.json pki-leaf-nocs.pem nocs.json
expect_fail 1 "lacks the codeSigning extended key usage" "verify rejects a leaf without codeSigning" \
	ukit-sign verify --ca pki-root.pem --bundle nocs.json k.elf
swapleaf chain.json pki-leaf-noku.pem noku.json
expect_fail 1 "lacks the digitalSignature key usage" "verify rejects a leaf without digitalSignature" \
	ukit-sign verify --ca pki-root.pem --bundle noku.json k.elf
# Validity only with --check-time, against the statement's created time.
SOURCE_DATE_EPOCH=946684800 ukit-sign sign --key ecdsa-p256.key --cert pki-leaf.pem \
	--chain pki-int.pem -o old.json k.elf
check "without --check-time the validity period is ignored" \
	ukit-sign verify --ca pki-root.pem --bundle old.json k.elf
expect_fail 1 "certificate is not yet valid" "--check-time checks the statement's created time" \
	ukit-sign verify --ca pki-root.pem --check-time --bundle old.json k.elf
done_testing
