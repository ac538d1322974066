#!/bin/bash
# t61-sign-reject: verify fails, with every reason, on tampered images,
# bundles and trailers: byte flips (a sample through the CLI; every byte is
# flipped in test_sig), truncation, an appended byte, swapped bundles, wrong
# keys, rollback below the minimum, required format/target, the manifest
# changed with ukit-elftool set-manifest after signing, bad footers.
. "$(dirname "$0")/lib.sh"

cd "$T"
head -c 4096 /dev/urandom > pad.bin
bash "$TOP/tests/gen/mkelf.sh" -m "$SHARED/data/solo5/m03-net-block/note.hex" -d pad.bin k.elf >/dev/null
bash "$TOP/tests/gen/mkelf.sh" -m "$SHARED/data/solo5/m01-net/note.hex" other.elf >/dev/null
ukit-sign keygen --no-passphrase --type ed25519 k >/dev/null
ukit-sign keygen --no-passphrase --type ecdsa-p256 k2 >/dev/null
ukit-sign sign --key k.key --rollback 5 k.elf
ukit-sign sign --key k.key other.elf
ukit-sign sign --key k.key --rollback 5 --append -o ka.elf k.elf
check "baseline: detached verifies" ukit-sign verify --pub k.pub k.elf
check "baseline: appended verifies" ukit-sign verify --pub k.pub ka.elf

# flip FILE OFFSET: xor one byte with 0x01 in place.
flip() {
	"$PY" -c 'import sys
f = open(sys.argv[1], "r+b"); o = int(sys.argv[2]); f.seek(o); b = f.read(1)
f.seek(o); f.write(bytes([b[0] ^ 1]))' "$1" "$2"
}

# A sample of single-byte flips through the CLI: every 127th byte of the
# appended image, every byte of the footer and the first and last 48 of
# the bundle.
size=$(stat -c %s k.elf)
total=$(stat -c %s ka.elf)
check "CLI: single-byte flips of image, bundle and footer all fail" "$PY" - ka.elf "$size" <<'P'
import subprocess, sys
src, size = sys.argv[1], int(sys.argv[2])
data = open(src, "rb").read()
total = len(data)
offs = set(range(0, total, 127)) | set(range(total - 64, total)) | \
       set(range(size, size + 48)) | set(range(total - 112, total - 64))
bad = []
for o in sorted(offs):
    d = bytearray(data)
    d[o] ^= 1
    open("f.elf", "wb").write(d)
    r = subprocess.run(["ukit-sign", "verify", "-q", "--pub", "k.pub", "f.elf"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 1:
        bad.append((o, r.returncode))
print("%d flips, %d not rejected: %s" % (len(offs), len(bad), bad[:10]), file=sys.stderr)
sys.exit(1 if bad else 0)
P
for o in 0 1 200 $((size - 1)); do
	cp k.elf f.elf
	flip f.elf "$o"
	expect_fail 1 "differs from the signed digest" "detached: flip at $o fails on the digest" \
		ukit-sign verify --pub k.pub --bundle k.elf.bundle.json f.elf
done

# Truncation and one byte more.
head -c $((size - 1)) k.elf > t.elf
expect_fail 1 "image size $((size - 1)) differs from the signed size $size" "truncated image fails" \
	ukit-sign verify --pub k.pub --bundle k.elf.bundle.json t.elf
{ cat k.elf; printf x; } > t.elf
expect_fail 1 "differs from the signed size" "one byte appended fails" \
	ukit-sign verify --pub k.pub --bundle k.elf.bundle.json t.elf
head -c $((total - 1)) ka.elf > t.elf
expect_fail 1 "t.elf.bundle.json" "appended image truncated by one byte: no footer, no bundle" \
	ukit-sign verify --pub k.pub t.elf
{ cat ka.elf; printf x; } > t.elf
expect_fail 1 "t.elf.bundle.json" "appended image plus one byte: footer not at the end" \
	ukit-sign verify --pub k.pub t.elf
head -c "$size" ka.elf > t.elf
expect_fail 1 "t.elf.bundle.json" "appended image cut back to the image alone" \
	ukit-sign verify --pub k.pub t.elf

# Footer layouts: patch fields and check the reason.
patchfoot() {
	"$PY" - "$@" <<'P'
import struct, sys
src, dst, field, val = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4], 0)
d = bytearray(open(src, "rb").read())
f = len(d) - 64
off = {"version": (8, "<I"), "res0": (12, "<I"), "orig": (16, "<Q"),
       "boff": (24, "<Q"), "blen": (32, "<Q"), "res": (56, "<Q")}[field]
struct.pack_into(off[1], d, f + off[0], val)
open(dst, "wb").write(d)
P
}
patchfoot ka.elf t.elf version 2
expect_fail 1 "footer version 2 not supported" "footer version 2 rejected" ukit-sign verify --pub k.pub t.elf
patchfoot ka.elf t.elf res 1
expect_fail 1 "reserved byte not zero" "footer reserved bytes must be zero" ukit-sign verify --pub k.pub t.elf
patchfoot ka.elf t.elf boff $((size + 1))
expect_fail 1 "is not the end of the image" "bundle offset past the image rejected" ukit-sign verify --pub k.pub t.elf
patchfoot ka.elf t.elf orig $((size - 8))
expect_fail 1 "is not the end of the image" "original size changed rejected" ukit-sign verify --pub k.pub t.elf
patchfoot ka.elf t.elf blen 0x7fffffffffffffff
expect_fail 1 "bundle length" "huge bundle length rejected" ukit-sign verify --pub k.pub t.elf
patchfoot ka.elf t.elf blen $(( total - 64 - size - 1))
expect_fail 1 "does not end at the footer" "bundle shorter than the gap rejected" ukit-sign verify --pub k.pub t.elf
check "inspect rejects it too" sh -c "! ukit-sign inspect t.elf >/dev/null 2>&1"

# Bundles swapped between images, wrong key.
expect_fail 1 "differs from the signed digest" "bundle of another image fails" \
	ukit-sign verify --pub k.pub --bundle other.elf.bundle.json k.elf
expect_fail 1 "signature does not verify with any pinned key" "wrong key fails" \
	ukit-sign verify --pub k2.pub k.elf
check "any one of several pinned keys verifies" ukit-sign verify --pub k2.pub --pub k.pub k.elf
# The signature holds, but the bundle's key id hint names another key.
k2id=$(openssl pkey -pubin -in k2.pub -outform DER | sha256sum | cut -d' ' -f1)
"$PY" -c 'import json, sys
b = json.load(open(sys.argv[1]))
b["verificationMaterial"]["publicKey"]["hint"] = sys.argv[3]
json.dump(b, open(sys.argv[2], "w"))' k.elf.bundle.json hint.json "$k2id"
expect_fail 1 "does not name the verifying key" "a hint naming another key fails" \
	ukit-sign verify --pub k.pub --bundle hint.json k.elf

# Policy: every failing reason is listed.
ukit-sign verify --pub k.pub --min-rollback 6 --require-format qcow2 \
	--require-target spt --json k.elf > v.json 2> v.err
rc=$?
[ $rc -eq 1 ] && ok "policy failures exit 1" || not_ok "policy failures exit $rc"
check "rollback below minimum is a reason" grep -q "rollback index 5 is below the minimum 6" v.err
check "required format is a reason" grep -q "format is elf, required qcow2" v.err
check "required target is a reason" grep -q "Solo5 target is hvt, required spt" v.err
check "--json lists all three reasons" "$PY" -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["verified"] is False and len(v["reasons"]) == 3, v["reasons"]' v.json
validate_json "failed verify --json matches schema" ukit-sign-verify.schema.json v.json
check "rollback equal to the minimum passes" ukit-sign verify --pub k.pub --min-rollback 5 k.elf

# The manifest changed after signing (ukit-elftool set-manifest).
cp k.elf m.elf
cp k.elf.bundle.json m.elf.bundle.json
cat > m.json <<'J'
{ "type": "solo5.manifest", "version": 1,
  "devices": [ { "name": "service", "type": "NET_BASIC" },
               { "name": "evil", "type": "BLOCK_BASIC" } ] }
J
check "set-manifest rewrites the signed image" ukit-elftool set-manifest m.json m.elf --in-place
ukit-sign verify --pub k.pub m.elf > /dev/null 2> m.err
rc=$?
[ $rc -eq 1 ] && ok "verify fails after set-manifest" || not_ok "verify after set-manifest exit $rc"
check "the digest is a reason" grep -q "differs from the signed digest" m.err
check "the Solo5 manifest is a reason" grep -q "Solo5 manifest in the image differs from the signed one" m.err

# Bundle strictness through the CLI.
"$PY" -c 'import json,sys; b=json.load(open(sys.argv[1])); b["extra"]=1; json.dump(b, open(sys.argv[2],"w"))' k.elf.bundle.json x.json
expect_fail 1 '$: unknown key "extra"' "bundle with an unknown key rejected" \
	ukit-sign verify --pub k.pub --bundle x.json k.elf
"$PY" -c 'import sys; s=open(sys.argv[1]).read(); open(sys.argv[2],"w").write(s.replace("\"mediaType\"", "\"mediaType\": \"x\", \"mediaType\"", 1))' k.elf.bundle.json x.json
expect_fail 1 "duplicate" "bundle with a duplicate key rejected" \
	ukit-sign verify --pub k.pub --bundle x.json k.elf
head -c 1100000 /dev/zero | tr '\0' ' ' > x.json
expect_fail 1 "file too large" "bundle over 1 MiB rejected" \
	ukit-sign verify --pub k.pub --bundle x.json k.elf
expect_fail 2 "usage" "verify without --pub or --ca is a usage error" ukit-sign verify k.elf
expect_fail 2 "usage" "sign without --key is a usage error" ukit-sign sign k.elf

# a qcow2 image that qemu-img check calls corrupt is not signed: a data
# cluster whose refcount says free would be handed out again by qemu
if command -v qemu-img >/dev/null; then
	head -c 1M /dev/urandom > d.raw
	qemu-img convert -f raw -O qcow2 d.raw good.qcow2
	"$PY" - good.qcow2 bad.qcow2 >/dev/null <<'P'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
cs = 1 << struct.unpack(">I", b[20:24])[0]
rt = struct.unpack(">Q", b[48:56])[0]
rb = struct.unpack(">Q", b[rt:rt + 8])[0]
l1 = struct.unpack(">Q", b[40:48])[0]
l2 = struct.unpack(">Q", b[l1:l1 + 8])[0] & 0x00fffffffffffe00
d0 = struct.unpack(">Q", b[l2:l2 + 8])[0] & 0x00fffffffffffe00
b[rb + 2 * (d0 // cs):rb + 2 * (d0 // cs) + 2] = b"\0\0"
open(sys.argv[2], "wb").write(b)
print("0x%x" % d0)
P
	check "a consistent qcow2 is signed" ukit-sign sign --key k.key good.qcow2
	rm -f bad.qcow2.bundle.json
	expect_fail 1 "refusing to sign: cluster" \
		"a qcow2 with a data cluster's refcount at 0 is not signed" \
		ukit-sign sign --key k.key bad.qcow2
	check "and no bundle is written" test ! -e bad.qcow2.bundle.json
	# (a precondition: qemu-img check calls the fixture corrupt)
	qemu-img check bad.qcow2 >/dev/null 2>&1
	[ $? -eq 2 ] || not_ok "fixture: qemu-img check does not call bad.qcow2 corrupt"
else
	missing "qemu-img not installed"
fi
done_testing
