#!/bin/bash
# t77-sign-pipelines: keys and output in pipelines.  --key - / env:NAME,
# --passphrase-env, --pub - and --ca from pipes; keygen asks twice on a
# terminal (a pty driven by python3) and off one writes an unencrypted key
# only with --no-passphrase; sign reports what it wrote on stderr and with
# --json on stdout (schema); --append keeps mode and owner; a PIN inside a
# pkcs11 URI is warned about; --verity on a size not a multiple of 4096
# says how veritysetup must be called, or pads with --pad.
. "$(dirname "$0")/lib.sh"

cd "$T"
head -c 50000 /dev/urandom >img
sha=$(sha256sum <img | cut -d' ' -f1)

# ---- keygen off a terminal ----------------------------------------------
expect_fail 2 "not on a terminal: give --passphrase-file F, --passphrase-env NAME, or --no-passphrase" \
	"keygen off a terminal without a passphrase source: usage error" \
	ukit-sign keygen --type ed25519 nope </dev/null
[ ! -e nope.key ] && [ ! -e nope.pub ] && ok "...and nothing written" ||
	not_ok "nope.key written"
kid=$(ukit-sign keygen --no-passphrase --type ecdsa-p256 k </dev/null)
grep -q '^-----BEGIN PRIVATE KEY-----' k.key && ok "--no-passphrase: unencrypted PKCS#8" ||
	not_ok "k.key: $(head -n 1 k.key)"
expect_fail 2 "give one of" "--no-passphrase with a passphrase file: usage error" \
	ukit-sign keygen --no-passphrase --passphrase-file /dev/null --type ed25519 x
export UKIT_T77_PASS='env secret'
check "keygen --passphrase-env" ukit-sign keygen --passphrase-env UKIT_T77_PASS \
	--type ed25519 enc
check "openssl reads the env-encrypted key with that passphrase" \
	openssl pkey -in enc.key -passin env:UKIT_T77_PASS -noout
expect_fail 2 "--passphrase-env: UKIT_T77_UNSET is not set" "--passphrase-env of an unset variable" \
	ukit-sign keygen --passphrase-env UKIT_T77_UNSET --type ed25519 y
check "keygen, passphrase file -" sh -c \
	"printf 'from stdin\n' | ukit-sign keygen --passphrase-file - --type ed25519 dash"
check "openssl reads it" openssl pkey -in dash.key -passin pass:'from stdin' -noout

# ---- keygen on a terminal (a pty) -----------------------------------------
# pty_keygen PREFIX FIRST SECOND: run keygen on a new pty, answer each
# prompt when it appears; prints the prompts seen, exits with keygen's code
pty_keygen() {
	"$PY" - "$@" <<'P'
import os, pty, sys, time
prefix, first, second = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("ukit-sign", ["ukit-sign", "keygen", "--type", "ed25519", prefix])
seen, answers, buf = [], [first, second], b""
deadline = time.time() + 30
while time.time() < deadline:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    buf += chunk
    while b": " in buf and answers:
        line, _, buf = buf.partition(b": ")
        seen.append(line.decode().strip())
        time.sleep(0.1)
        os.write(fd, answers.pop(0).encode() + b"\n")
_, st = os.waitpid(pid, 0)
print("|".join(seen))
sys.exit(os.waitstatus_to_exitcode(st))
P
}
out=$(pty_keygen tty1 'tty secret' 'tty secret')
rc=$?
[ $rc -eq 0 ] && [ "$out" = "passphrase for the new key|same passphrase again" ] &&
	ok "keygen on a terminal asks twice" || not_ok "exit $rc, prompts '$out'"
check "openssl reads the key with the typed passphrase" \
	openssl pkey -in tty1.key -passin pass:'tty secret' -noout
grep -q '^-----BEGIN ENCRYPTED PRIVATE KEY-----' tty1.key &&
	ok "the terminal key is encrypted" || not_ok "$(head -n 1 tty1.key)"
pty_keygen tty2 'one' 'two' >/dev/null
rc=$?
[ $rc -eq 1 ] && [ ! -e tty2.key ] && [ ! -e tty2.pub ] &&
	ok "different answers: exit 1, nothing written" || not_ok "exit $rc"

# ---- private keys from stdin and the environment --------------------------
check "sign --key - (stdin)" sh -c "ukit-sign sign -q --key - -o stdin.json img <k.key"
check "...verifies" ukit-sign verify -q --pub k.pub --bundle stdin.json img
export UKIT_T77_KEY="$(cat k.key)"
check "sign --key env:NAME" ukit-sign sign -q --key env:UKIT_T77_KEY -o env.json img
check "...verifies" ukit-sign verify -q --pub k.pub --bundle env.json img
expect_fail 1 "--key env:UKIT_T77_NOKEY: UKIT_T77_NOKEY is not set" "--key env: of an unset variable" \
	ukit-sign sign -q --key env:UKIT_T77_NOKEY img
UKIT_T77_KEY=garbage expect_fail 1 "env:UKIT_T77_KEY: cannot read private key" \
	"--key env: holding no key" ukit-sign sign -q --key env:UKIT_T77_KEY -o x.json img
check "encrypted key from stdin, --passphrase-env" sh -c \
	"ukit-sign sign -q --key - --passphrase-env UKIT_T77_PASS -o encenv.json img <enc.key"
check "...verifies" ukit-sign verify -q --pub enc.pub --bundle encenv.json img
UKIT_T77_PASS=wrong expect_fail 1 "wrong passphrase" "--passphrase-env with the wrong passphrase" \
	ukit-sign sign -q --key enc.key --passphrase-env UKIT_T77_PASS -o w.json img
expect_fail 2 "standard input is already read" "--key - and --passphrase-file - together: usage error" \
	ukit-sign sign -q --key - --passphrase-file - img

# ---- public keys and roots from pipes ------------------------------------
check "verify --pub - (a pipe)" sh -c "cat k.pub | ukit-sign verify -q --pub - --bundle env.json img"
check "verify --pub <(...)" ukit-sign verify -q --pub <(cat k.pub) --bundle env.json img
sh "$TOP/tests/gen/mkpki.sh" "$T" "$T/k.key" p >/dev/null 2>&1
ukit-sign sign -q --key k.key --cert p-leaf.pem --chain p-int.pem -o chain.json img
check "verify --ca - (a pipe)" sh -c "cat p-root.pem | ukit-sign verify -q --ca - --bundle chain.json img"
check "verify --ca <(...)" ukit-sign verify -q --ca <(cat p-root.pem) --bundle chain.json img
expect_fail 1 "signature does not verify" "a wrong key from a pipe still fails" \
	sh -c "cat enc.pub | ukit-sign verify -q --pub - --bundle env.json img"

# ---- what sign wrote -------------------------------------------------------
ukit-sign sign --key k.key img >rep.out 2>rep.err
grep -qF "signed img (50000 bytes, sha256 $sha): key $kid; bundle img.bundle.json" rep.err &&
	ok "sign reports image, size, digest, key id and bundle on stderr" ||
	not_ok "stderr: $(cat rep.err)"
[ ! -s rep.out ] && ok "...and nothing on stdout" || not_ok "stdout: $(cat rep.out)"
ukit-sign sign -q --key k.key img 2>rep.err
[ ! -s rep.err ] && ok "-q: no report" || not_ok "stderr: $(cat rep.err)"
ukit-sign sign --json --key k.key -o j.json img >rep.json 2>rep.err
validate_json "sign --json matches its schema" ukit-sign-sign.schema.json rep.json
"$PY" - rep.json "$sha" "$kid" <<'P' && ok "--json: sha256, key id, output, kind" || not_ok "$(cat rep.json)"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["sha256"] == sys.argv[2] and r["keyid"] == sys.argv[3], r
assert r["output"] == "j.json" and r["kind"] == "bundle" and r["size"] == 50000, r
P
ukit-sign sign --json --key k.key --cert p-leaf.pem --chain p-int.pem -o jc.json img >repc.json
validate_json "sign --json with a certificate matches its schema" ukit-sign-sign.schema.json repc.json
grep -q '"signer": "O=ukit test,CN=p signer"' repc.json && ok "--json names the signer" ||
	not_ok "$(cat repc.json)"
ukit-sign sign --json --format cms --key k.key --cert p-leaf.pem --chain p-int.pem img >repm.json
validate_json "sign --json --format cms matches its schema" ukit-sign-sign.schema.json repm.json
expect_fail 2 "--json and -o - both want standard output" "--json with -o -: usage error" \
	ukit-sign sign --json --key k.key -o - img

# ---- --append keeps mode and owner ----------------------------------------
head -c 4096 /dev/urandom >pad.bin
bash "$TOP/tests/gen/mkelf.sh" -m "$SHARED/data/solo5/m03-net-block/note.hex" -d pad.bin a.elf >/dev/null
chmod 0751 a.elf
if [ "$(id -u)" = 0 ]; then
	chown 4321:4322 a.elf
	want="751 4321:4322"
else
	want="751 $(id -u):$(id -g)"
fi
ukit-sign sign --json --append --key k.key a.elf >repa.json 2>/dev/null
[ "$(stat -c '%a %u:%g' a.elf)" = "$want" ] &&
	ok "sign --append in place keeps mode and owner ($want)" ||
	not_ok "now $(stat -c '%a %u:%g' a.elf), want $want"
validate_json "sign --append --json matches its schema" ukit-sign-sign.schema.json repa.json
check "the appended image verifies" ukit-sign verify -q --pub k.pub a.elf

# ---- a PIN in a pkcs11 URI -------------------------------------------------
if softhsm_token t77; then
	pkcs11-tool --module "$MOD" --login --pin 1234 --keypairgen \
		--key-type EC:prime256v1 --label k1 --id 01 >/dev/null 2>&1
	ukit-sign sign --key "pkcs11:token=t77;object=k1;pin-value=1234" -o p11.json img 2>p11.err
	rc=$?
	[ $rc -eq 0 ] && grep -q "warning: the PIN inside the pkcs11 URI shows in the process list.*use --pin-file" p11.err &&
		ok "a PIN inside the URI signs, with a warning" || not_ok "exit $rc: $(cat p11.err)"
	printf '1234\n' >pin
	ukit-sign sign --key "pkcs11:token=t77;object=k1" --pin-file pin -o p11b.json img 2>p11.err
	[ $? -eq 0 ] && ! grep -q warning p11.err && ok "--pin-file: no warning" ||
		not_ok "$(cat p11.err)"
else
	missing "softhsm2 / opensc"
fi

# ---- --verity on a size that is not a multiple of 4096 -------------------
head -c 10000 /dev/urandom >odd
cp odd odd.orig
expect_fail 1 "odd: size 10000 is not a multiple of 4096" \
	"--verity on 10000 bytes is refused" ukit-sign sign -q --key k.key --verity odd
grep -qF "truncate -s 12288 odd" .err && grep -qF -- "--data-blocks=3" .err &&
	ok "...and says how to pad and call veritysetup" || not_ok "$(cat .err)"
same_file "...leaving the image as it was" odd.orig odd
[ ! -e odd.bundle.json ] && ok "...and writing no bundle" || not_ok "bundle written"
expect_fail 2 "--pad needs --verity" "--pad without --verity: usage error" \
	ukit-sign sign -q --key k.key --pad odd
check "sign --verity --pad" ukit-sign sign -q --json --key k.key --verity --pad odd
[ "$(stat -c %s odd)" = 12288 ] && ok "--pad extended the image to 12288 bytes" ||
	not_ok "size $(stat -c %s odd)"
cmp -s <(head -c 10000 odd) odd.orig && [ "$(tail -c 2288 odd | tr -d '\0' | wc -c)" = 0 ] &&
	ok "...with zeros after the original bytes" || not_ok "pad content"
# the peer: veritysetup on the padded image, as the message said
if command -v veritysetup >/dev/null; then
	vr=$(veritysetup --no-superblock --hash=sha256 --data-block-size=4096 \
		--hash-block-size=4096 --salt=- --data-blocks=3 format odd odd.hash |
		sed -n 's/^Root hash:[[:space:]]*//p')
	grep -q "\"verity-root\": \"$vr\"" .out && ok "the signed root is veritysetup's ($vr)" ||
		not_ok "veritysetup $vr, sign: $(cat .out)"
else
	missing "veritysetup"
fi
check "the padded image verifies" ukit-sign verify -q --pub k.pub odd
done_testing
