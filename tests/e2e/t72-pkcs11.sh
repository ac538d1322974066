#!/bin/bash
# t72-pkcs11: signing with keys on a PKCS#11 token (SoftHSM2 through the
# OpenSSL pkcs11 engine), PIN from --pin-file or the URI; a wrong PIN, a
# missing token and a missing object fail with exit 1 and a clear message,
# never a crash, never the PIN in a message, never a file left behind.
# ECDSA P-256 and RSA 3072 (RSA-PSS) token keys sign bundles and CMS that
# openssl accepts; P-384 and RSA 2048 token keys are refused.
. "$(dirname "$0")/lib.sh"

if ! softhsm_token ukit; then
	missing "softhsm2 / opensc not installed"
	done_testing
	exit 0
fi
# token_key LABEL ID TYPE: a key pair made on the token (pkcs11-tool
# --key-type TYPE); its public key in $T/LABEL.pub
token_key() {
	pkcs11-tool --module "$MOD" --login --pin 1234 --keypairgen \
		--key-type "$3" --label "$1" --id "$2" >/dev/null 2>&1
	pkcs11-tool --module "$MOD" --read-object --type pubkey --label "$1" \
		-o "$T/$1.der" >/dev/null 2>&1
	openssl pkey -pubin -inform DER -in "$T/$1.der" -out "$T/$1.pub"
}
token_key k1 01 EC:prime256v1
[ -s "$T/k1.pub" ] || not_ok "fixture: no token key k1"
printf '1234\n' >"$T/pin"
printf '9999\n' >"$T/badpin"
head -c 200000 /dev/urandom >"$T/img"

check "sign with pkcs11: URI and --pin-file" ukit-sign sign -q \
	--key "pkcs11:token=ukit;object=k1" --pin-file "$T/pin" "$T/img"
check "verify with the token's public key" \
	ukit-sign verify -q --pub "$T/k1.pub" "$T/img"
check "sign with the PIN from a pipe" ukit-sign sign -q \
	--key "pkcs11:token=ukit;object=k1" --pin-file <(printf '1234\n') \
	-o "$T/bp.json" "$T/img"
check "verify it" ukit-sign verify -q --pub "$T/k1.pub" --bundle "$T/bp.json" "$T/img"
check "sign with the URI's pin-value" ukit-sign sign -q \
	--key "pkcs11:token=ukit;object=k1;pin-value=1234" -o "$T/b2.json" "$T/img"
check "verify it" ukit-sign verify -q --pub "$T/k1.pub" --bundle "$T/b2.json" "$T/img"
check "sign with --pkcs11-module and a query pin-value" ukit-sign sign -q \
	--pkcs11-module "$MOD" --key "pkcs11:object=k1?pin-value=1234" \
	-o "$T/b3.json" "$T/img"

# failures: exit exactly 1 (a crash would be 134/139), clear, no PIN, no file
fail_case() { # DESC SUBSTRING PIN ARGS...
	local desc=$1 pat=$2 pin=$3 rc
	shift 3
	rm -f "$T/f.json"
	ukit-sign sign -q "$@" -o "$T/f.json" "$T/img" >"$T/.out" 2>"$T/.err"
	rc=$?
	if [ $rc -eq 1 ] && grep -qF -- "$pat" "$T/.err"; then
		ok "$desc: exit 1, '$pat'"
	else
		not_ok "$desc (exit $rc; $(head -c 300 "$T/.err"))"
	fi
	if grep -q -e "$pin" -e pin-value "$T/.err" "$T/.out"; then
		not_ok "$desc: the PIN appears in a message"
	else
		ok "$desc: PIN not printed"
	fi
	[ ! -e "$T/f.json" ] && ok "$desc: no file left" || not_ok "$desc: file left"
}
fail_case "wrong PIN (file)" "login to the token failed" 9999 \
	--pin-file "$T/badpin" --key "pkcs11:token=ukit;object=k1"
fail_case "wrong PIN (URI)" "login to the token failed" 9999 \
	--key "pkcs11:token=ukit;object=k1;pin-value=9999"
fail_case "missing token" "no private key at pkcs11:token=nope;object=k1" 9999 \
	--pin-file "$T/badpin" --key "pkcs11:token=nope;object=k1"
fail_case "missing object" "no private key at pkcs11:token=ukit;object=nokey" 1234 \
	--key "pkcs11:token=ukit;object=nokey;pin-value=1234"
fail_case "missing module" "pkcs11 module /nonexistent.so" 9999 \
	--pkcs11-module /nonexistent.so --key "pkcs11:object=k1;pin-value=9999"
ls -A "$T" | grep -q '^\.' && ls -A "$T" | grep -v '^\.out$\|^\.err$' | grep -q '^\.' &&
	not_ok "temporary files left: $(ls -A "$T")" || ok "no temporary files left"

# token_cms LABEL: a CMS signature made on the token with key LABEL, for
# a certificate of its public key (tests/gen/mkca.sh, in $T/ca-LABEL):
# openssl cms -verify and ukit-sign verify --cms accept it
token_cms() {
	local ca=$T/ca-$1
	MKCA_LEAF_PUB=$T/$1.pub sh "$TOP/tests/gen/mkca.sh" "$ca"
	rm -f "$T/img.p7s"
	check "$1: sign --format cms on the token" ukit-sign sign -q --format cms \
		--key "pkcs11:token=ukit;object=$1" --pin-file "$T/pin" \
		--cert "$ca/token.pem" --chain "$ca/inter.pem" "$T/img"
	check "$1: openssl cms -verify accepts the token's CMS signature" \
		openssl cms -verify -binary -inform DER -in "$T/img.p7s" \
		-content "$T/img" -CAfile "$ca/root.pem" -purpose any -out /dev/null
	check "$1: verify --cms accepts it" ukit-sign verify -q --ca "$ca/root.pem" \
		--cms "$T/img.p7s" "$T/img"
}
token_cms k1

# An RSA key on the token signs bundles with PKCS#1 v1.5 (CKM_RSA_PKCS),
# or with --rsa-pss RSA-PSS (CKM_RSA_PKCS_PSS), as file keys do: openssl
# checks the bundle's signature over the DSSE encoding and the CMS
# signature, which names rsassaPss.
token_key k2 02 rsa:3072
[ -s "$T/k2.pub" ] || not_ok "fixture: no RSA 3072 token key k2"
check "sign with an RSA token key" ukit-sign sign -q \
	--key "pkcs11:token=ukit;object=k2" --pin-file "$T/pin" -o "$T/r.json" "$T/img"
check "verify it with the token's RSA public key" \
	ukit-sign verify -q --pub "$T/k2.pub" --bundle "$T/r.json" "$T/img"
(cd "$T" && pae r.json >pae.bin)
check "peer: openssl dgst accepts the token's PKCS#1 v1.5 signature" \
	openssl dgst -sha256 -verify "$T/k2.pub" -signature "$T/sig.der" "$T/pae.bin"
check "sign --rsa-pss with the RSA token key" ukit-sign sign -q --rsa-pss \
	--key "pkcs11:token=ukit;object=k2" --pin-file "$T/pin" -o "$T/r.json" "$T/img"
(cd "$T" && pae r.json >pae.bin)
check "peer: openssl dgst accepts the token's RSA-PSS signature" \
	openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest \
	-verify "$T/k2.pub" -signature "$T/sig.der" "$T/pae.bin"
check "the --rsa-pss signature is not PKCS#1 v1.5" sh -c "! openssl dgst -sha256 \
	-verify '$T/k2.pub' -signature '$T/sig.der' '$T/pae.bin' >/dev/null 2>&1"
token_cms k2
openssl cms -cmsout -print -inform DER -in "$T/img.p7s" >"$T/cms.txt" 2>&1
check "k2: the CMS signature algorithm is rsassaPss" grep -q "rsassaPss" "$T/cms.txt"

# token keys ukit does not sign with: exit 1, saying what the key is and
# what ukit wants
token_key k4 04 EC:secp384r1
token_key k5 05 rsa:2048
fail_case "P-384 token key" "EC curve secp384r1 not supported (want P-256)" 1234 \
	--pin-file "$T/pin" --key "pkcs11:token=ukit;object=k4"
fail_case "RSA 2048 token key" "RSA key of 2048 bits not supported (want 3072..8192)" \
	1234 --pin-file "$T/pin" --key "pkcs11:token=ukit;object=k5"
done_testing
