#!/bin/bash
# t97-verifier: ukit-verify, the device's verifier (make verifier): the
# core checks of ukit-sign verify linked alone, statically, against
# libcrypto and jansson only; the same answers as ukit-sign verify on the
# same images; --exec on a sealed copy; constant memory.
. "$(dirname "$0")/lib.sh"

V=$UKIT_BIN/ukit-verify
[ -x "$V" ] && ok "make builds ukit-verify" || not_ok "no $V"
if [ "${UKIT_SAN:-}" != 1 ]; then
	if ldd "$V" 2>&1 | grep -q 'not a dynamic executable'; then
		ok "ukit-verify is static"
	else
		not_ok "ukit-verify is dynamic: $(ldd "$V" | tr '\n' ' ')"
	fi
else
	# a sanitized build cannot be static; what it loads still counts
	libs=$(ldd "$V" | awk '{print $1}' | grep -Ev 'linux-vdso|ld-linux|libc\.so|libm\.so|libasan|libubsan|libgcc_s|libstdc|libpthread|libdl|librt|libz' | tr '\n' ' ')
	case "$libs" in
	*libelf*|*libzstd*|*libcurl*|*libqcow*) not_ok "ukit-verify loads $libs" ;;
	*) ok "ukit-verify loads only libcrypto and jansson ($libs)" ;;
	esac
fi
# none of libukit's chain, CMS, verity, qcow2 or libelf-based code
nm "$V" >"$T/nm" 2>/dev/null
grep -qE ' T ukit_verify_image_pinned$| T verify_image_pinned$' "$T/nm" &&
	ok "ukit-verify has symbols to look at" || not_ok "no symbols in ukit-verify"
grep -E ' T ((ukit_)?(cert_|cms_|verity_|elfimg_|qcow2_|image_open|p11_)|elf_begin|ZSTD_|curl_)' "$T/nm" >"$T/bad"
[ ! -s "$T/bad" ] && ok "ukit-verify links no chain, CMS, verity, qcow2, PKCS#11, libelf, zstd or curl code" ||
	not_ok "ukit-verify links $(head -5 "$T/bad" | tr '\n' ' ')"

ukit-sign keygen --no-passphrase --type ecdsa-p256 "$T/k" >/dev/null
ukit-sign keygen --no-passphrase --type ed25519 "$T/ed" >/dev/null
bash "$TOP/tests/gen/mkhvt.sh" -m "$SHARED/data/solo5/m03-net-block/note.hex" "$T/app.hvt" >/dev/null 2>&1
ukit-sign sign -q --key "$T/k.key" --rollback 7 "$T/app.hvt"
check "a signed Solo5 image verifies" "$V" --pub "$T/k.pub" "$T/app.hvt"
grep -q "verified (key $(ukit-sign verify --json --pub "$T/k.pub" "$T/app.hvt" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["keyid"])')" "$T/.err" &&
	ok "it names the key ukit-sign names" || not_ok "key id: $(cat "$T/.err")"
# Pinned key files: the key id is SHA-256 of the key's DER SPKI (what
# openssl pkey -outform DER writes), for both key kinds and both
# verifiers; everything that is not one SPKI PEM of P-256 or Ed25519 is
# refused with the reason, exit 1.
ukit-sign sign -q --key "$T/ed.key" --rollback 7 -o "$T/app-ed.bundle.json" "$T/app.hvt"
for kind in k ed; do
	want=$(openssl pkey -pubin -in "$T/$kind.pub" -outform DER | sha256sum | cut -c1-64)
	b=$T/app.hvt.bundle.json
	[ "$kind" = ed ] && b=$T/app-ed.bundle.json
	"$V" --pub "$T/$kind.pub" --bundle "$b" "$T/app.hvt" 2>"$T/.e1"
	ukit-sign verify --json --pub "$T/$kind.pub" --bundle "$b" "$T/app.hvt" >"$T/.j" 2>/dev/null
	got=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["keyid"])' "$T/.j")
	grep -q "verified (key $want," "$T/.e1" && [ "$got" = "$want" ] &&
		ok "$kind: the key id is SHA-256 of the DER SPKI in both verifiers" ||
		not_ok "$kind: key id: want $want; ukit-verify: $(cat "$T/.e1"); ukit-sign: $got"
done
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 2>/dev/null | openssl pkey -pubout >"$T/p384.pub"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout >"$T/rsa.pub"
openssl genpkey -algorithm ED448 2>/dev/null | openssl pkey -pubout >"$T/ed448.pub"
openssl req -x509 -key "$T/k.key" -subj /CN=k -days 1 -out "$T/cert.pem" 2>/dev/null
sed 's/PUBLIC KEY/RSA PUBLIC KEY/' "$T/k.pub" >"$T/label.pub"
: >"$T/empty.pub"
openssl pkey -pubin -in "$T/k.pub" -outform DER -out "$T/der.pub"
sed '2s/[A-M]/!/g' "$T/k.pub" >"$T/b64.pub"
sed '3d' "$T/k.pub" >"$T/cut.pub"
head -c 70000 /dev/zero | tr '\0' a >"$T/big.pub"
while IFS='|' read -r f msg; do
	expect_fail 1 "$T/$f: $msg" "--pub $f refused: $msg" \
		"$V" --pub "$T/$f" "$T/app.hvt"
done <<'EOF2'
k.key|not a PEM public key (SubjectPublicKeyInfo)
cert.pem|not a PEM public key (SubjectPublicKeyInfo)
label.pub|not a PEM public key (SubjectPublicKeyInfo)
empty.pub|not a PEM public key (SubjectPublicKeyInfo)
der.pub|not a PEM public key (SubjectPublicKeyInfo)
b64.pub|not a PEM public key (SubjectPublicKeyInfo)
cut.pub|not a PEM public key (SubjectPublicKeyInfo)
p384.pub|EC curve secp384r1 not supported (want P-256)
rsa.pub|key type RSA not supported (want ECDSA P-256 or Ed25519)
ed448.pub|key type ED448 not supported (want ECDSA P-256 or Ed25519)
big.pub|file too large (70000 > 65536 bytes)
EOF2
# text around the PEM block, as openssl writes it with -text, is fine
{ echo "a comment"; cat "$T/cert.pem" "$T/k.pub"; } >"$T/around.pub"
check "--pub: the PUBLIC KEY block is found after other text and blocks" \
	"$V" -q --pub "$T/around.pub" "$T/app.hvt"
check "--require-target hvt --min-rollback 7" "$V" --pub "$T/k.pub" \
	--require-target hvt --min-rollback 7 --require-format elf "$T/app.hvt"
expect_fail 1 "rollback index 7 is below the minimum 8" "--min-rollback 8 refused" \
	"$V" --pub "$T/k.pub" --min-rollback 8 "$T/app.hvt"
expect_fail 1 "Solo5 target is hvt, required spt" "--require-target spt refused" \
	"$V" --pub "$T/k.pub" --require-target spt "$T/app.hvt"
expect_fail 1 "signature does not verify with any pinned key" "another key refused" \
	"$V" --pub "$T/ed.pub" "$T/app.hvt"

# A manifest changed after signing (set-manifest): digest and manifest differ.
printf '{"type":"solo5.manifest","version":1,"devices":[{"name":"x","type":"NET_BASIC"}]}' >"$T/m.json"
ukit-elftool set-manifest "$T/m.json" "$T/app.hvt" -o "$T/re.hvt" >/dev/null 2>&1
cp "$T/app.hvt.bundle.json" "$T/re.hvt.bundle.json"
expect_fail 1 "Solo5 manifest in the image differs from the signed one" \
	"a re-manifested image is refused with the reason" \
	"$V" --pub "$T/k.pub" "$T/re.hvt"
# Both verifiers give the same reasons.
"$V" --pub "$T/k.pub" "$T/re.hvt" 2>&1 | sed 's/^ukit-verify: //' | sort >"$T/a"
ukit-sign verify --pub "$T/k.pub" "$T/re.hvt" 2>&1 | sed 's/^ukit-sign: //' | sort >"$T/b"
[ -s "$T/a" ] && grep -qF -f "$T/a" "$T/b" && ok "ukit-sign verify gives the same reasons" ||
	not_ok "reasons differ: $(cat "$T/a") / $(cat "$T/b")"

# Appended bundles, Ed25519.
cp "$T/app.hvt" "$T/disk.raw"
ukit-sign sign -q --key "$T/ed.key" --append "$T/disk.raw"
check "an appended Ed25519 bundle verifies" "$V" --pub "$T/ed.pub" "$T/disk.raw"
cp "$T/disk.raw" "$T/disk2.raw"
printf '\001' | dd of="$T/disk2.raw" bs=1 seek=5000 conv=notrunc status=none
expect_fail 1 "differs from the signed digest" "a changed byte is refused" \
	"$V" --pub "$T/ed.pub" "$T/disk2.raw"

# What the core leaves to the full verifier is refused, never skipped.
mkdir -p "$T/pki"
sh "$TOP/tests/gen/mkpki.sh" "$T/pki" "$T/k.key" pki >/dev/null 2>&1
head -c 300000 /dev/urandom >"$T/x.raw"
if ukit-sign sign -q --key "$T/k.key" --cert "$T/pki/pki-leaf.pem" \
	--chain "$T/pki/pki-int.pem" "$T/x.raw" 2>"$T/.err"; then
	expect_fail 1 "bundle carries a certificate chain, not a public key hint" \
		"a certificate-chain bundle is refused with the reason" \
		"$V" --pub "$T/k.pub" "$T/x.raw"
else
	not_ok "signing with a chain: $(cat "$T/.err")"
fi

# --exec: the tender gets the verified bytes; the shell's codes otherwise.
want=$(sha256sum <"$T/app.hvt" | cut -d' ' -f1)
"$V" -q --pub "$T/k.pub" "$T/app.hvt" --exec /bin/sh -c \
	'sha256sum <"$1" | cut -d" " -f1 >"$2"; exit 3' sh '{}' "$T/seen" >"$T/.out" 2>"$T/.err"
rc=$?
[ $rc -eq 3 ] && [ "$(cat "$T/seen")" = "$want" ] &&
	ok "--exec: the tender's status, and it read exactly the verified bytes" ||
	not_ok "--exec: exit $rc, seen $(cat "$T/seen" 2>/dev/null)"
[ ! -s "$T/.out" ] && ok "--exec: nothing of ukit-verify's on the tender's stdout" ||
	not_ok "stdout: $(cat "$T/.out")"
expect_fail 127 "cannot run $T/none: No such file or directory" "--exec: a missing tender exits 127" \
	"$V" -q --pub "$T/k.pub" "$T/app.hvt" --exec "$T/none" '{}'
rm -f "$T/seen"
expect_fail 1 "differs from the signed digest" "--exec: nothing runs when verification fails" \
	"$V" --pub "$T/ed.pub" "$T/disk2.raw" --exec /bin/sh -c 'echo ran >"$1"' sh "$T/seen"
[ ! -e "$T/seen" ] && ok "--exec: the tender did not run" || not_ok "tender ran"

# The device's anti-rollback floor: raised after success, then binding.
check "--rollback-state: a first image verifies and sets the floor" \
	"$V" -q --pub "$T/k.pub" --rollback-state "$T/state" --rollback-slot app "$T/app.hvt"
grep -q '^slot app 7$' "$T/state" 2>/dev/null && ok "the state file says slot app 7" ||
	not_ok "state: $(cat "$T/state" 2>/dev/null)"
[ "$(stat -c %a "$T/state" 2>/dev/null)" = 600 ] && ok "the state file is 0600" ||
	not_ok "mode $(stat -c %a "$T/state" 2>/dev/null)"
cp "$T/app.hvt" "$T/old.hvt"
ukit-sign sign -q --key "$T/k.key" --rollback 3 "$T/old.hvt"
expect_fail 1 "rollback index 3 is below the floor 7 of slot app" \
	"--rollback-state: an older image is refused after a newer one" \
	"$V" --pub "$T/k.pub" --rollback-state "$T/state" --rollback-slot app "$T/old.hvt"
check "--rollback-state: another slot has its own floor" \
	"$V" -q --pub "$T/k.pub" --rollback-state "$T/state" --rollback-slot other "$T/old.hvt"

# Usage.
expect_fail 2 "ukit-verify: missing --pub KEY" "no key: usage error" "$V" "$T/app.hvt"
expect_fail 2 "ukit-verify: missing IMAGE" "no image: usage error" "$V" --pub "$T/k.pub"
"$V" --help >"$T/.out" 2>&1 && grep -q '^usage: ukit-verify' "$T/.out" &&
	ok "--help on stdout, exit 0" || not_ok "--help"

# Constant memory: 1 GiB (sparse) in the verifier's bounded buffer.
truncate -s 1G "$T/big.raw"
ukit-sign sign -q --key "$T/k.key" "$T/big.raw"
/usr/bin/time -f '%M' -o "$T/rss" "$V" -q --pub "$T/k.pub" "$T/big.raw" 2>/dev/null
rss=$(tail -1 "$T/rss")
if [ "${UKIT_SAN:-}" = 1 ]; then
	skip "peak RSS under ASan is the sanitizer's"
elif [ -n "$rss" ] && [ "$rss" -le 8192 ]; then
	ok "peak RSS ${rss} KiB verifying 1 GiB (<= 8 MiB)"
else
	not_ok "peak RSS ${rss} KiB > 8 MiB"
fi

# The footprint the issue bounds, as make footprint counts it: at most
# FOOTPRINT_MAX lines of code (the limit make footprint prints).
fp=$(make -s -C "$TOP" footprint 2>/dev/null | sed -n 's/^footprint: \([0-9]*\) lines of code (limit \([0-9]*\))$/\1 \2/p')
n=${fp% *} max=${fp#* }
if [ -z "$fp" ]; then
	not_ok "make footprint printed no count"
elif [ "$n" -le "$max" ]; then
	ok "ukit-verify's sources: $n lines of code (<= $max)"
else
	not_ok "ukit-verify's sources: $n lines of code > $max (make footprint lists them)"
fi
done_testing
