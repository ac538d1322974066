#!/bin/bash
# t74-sign-verity: sign --verity puts the dm-verity root in the signed
# statement (equal to veritysetup's), --hash-file writes a tree that
# veritysetup verify accepts with the signed root; verify recomputes it in
# its one pass; verify --verity-only checks raw and qcow2 disks by the tree
# alone, in parallel.
. "$(dirname "$0")/lib.sh"

VS="veritysetup --no-superblock --hash=sha256 --data-block-size=4096 --hash-block-size=4096"
ukit-sign keygen --no-passphrase --type ecdsa-p256 "$T/k" >/dev/null
truncate -s 16M "$T/disk"
head -c 1000000 /dev/urandom | dd of="$T/disk" conv=notrunc status=none
head -c 300000 /dev/urandom | dd of="$T/disk" bs=4096 seek=3000 conv=notrunc status=none

# signed_root BUNDLE: predicate.verity.root-hash of the signed statement
signed_root() {
	ukit-sign inspect "$1" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
st = d.get("statement", d)
print(st["predicate"]["verity"]["root-hash"])'
}

check "sign --verity --hash-file" ukit-sign sign -q --key "$T/k.key" --verity \
	--hash-file "$T/disk.hash" "$T/disk"
root=$(signed_root "$T/disk.bundle.json")
rm -f "$T/vs.hash"
want=$($VS --salt=- format "$T/disk" "$T/vs.hash" | sed -n 's/^Root hash:[[:space:]]*//p')
[ -n "$root" ] && [ "$root" = "$want" ] && ok "signed root equals veritysetup's" ||
	not_ok "signed root '$root', veritysetup '$want'"
check "veritysetup verify accepts the image, ukit's tree and the signed root" \
	$VS --salt=- verify "$T/disk" "$T/disk.hash" "$root"
ukit-sign inspect "$T/disk.bundle.json" >"$T/inspect.json"
"$PY" -c '
import json, sys
d = json.load(open(sys.argv[1])); st = d.get("statement", d)
json.dump(st, open(sys.argv[2], "w"))' "$T/inspect.json" "$T/stmt.json"
if [ -f "$TOP/schemas/ukit-sign-statement.schema.json" ]; then
	validate_json "statement with verity matches its schema" ukit-sign-statement.schema.json "$T/stmt.json"
fi
check "verify recomputes the root in its pass" ukit-sign verify -q --pub "$T/k.pub" "$T/disk"
check "verify --verity-only" ukit-sign verify -q --verity-only --pub "$T/k.pub" "$T/disk"

# salt
check "sign --verity --salt" ukit-sign sign -q --key "$T/k.key" --verity --salt 00c0ffee \
	-o "$T/salted.json" "$T/disk"
rs=$(signed_root "$T/salted.json")
rm -f "$T/vs.hash"
want=$($VS --salt=00c0ffee format "$T/disk" "$T/vs.hash" | sed -n 's/^Root hash:[[:space:]]*//p')
[ "$rs" = "$want" ] && ok "salted root equals veritysetup's" || not_ok "salted '$rs' vs '$want'"
check "verify --verity-only with salt" ukit-sign verify -q --verity-only \
	--pub "$T/k.pub" --bundle "$T/salted.json" "$T/disk"

# tampering: one byte in a data block, and in a hole
for off in 5000 $((12 * 1024 * 1024)); do
	cp "$T/disk" "$T/bad"
	flip_byte "$T/bad" $off
	expect_fail 1 "dm-verity root" "byte at $off changed: --verity-only fails" \
		ukit-sign verify -q --verity-only --pub "$T/k.pub" --bundle "$T/disk.bundle.json" "$T/bad"
	expect_fail 1 "dm-verity root" "byte at $off changed: verify (the tree, as the root is signed) fails" \
		ukit-sign verify -q --pub "$T/k.pub" --bundle "$T/disk.bundle.json" "$T/bad"
	expect_fail 1 "dm-verity root" "byte at $off changed: streaming verify (--exec) names the tree too" \
		ukit-sign verify -q --pub "$T/k.pub" --bundle "$T/disk.bundle.json" "$T/bad" --exec true
	cp "$T/.err" "$T/stream.err"
	check "byte at $off changed: the digest is named as well" \
		grep -q "differs from the signed digest" "$T/stream.err"
done
ukit-sign verify --json --verity-only --pub "$T/k.pub" --bundle "$T/disk.bundle.json" "$T/bad" >"$T/v.json" 2>/dev/null
validate_json "verify --verity-only --json matches the verify schema" ukit-sign-verify.schema.json "$T/v.json"
cp "$T/disk" "$T/long"
truncate -s +4096 "$T/long"
expect_fail 1 "size" "a block appended: --verity-only fails" \
	ukit-sign verify -q --verity-only --pub "$T/k.pub" --bundle "$T/disk.bundle.json" "$T/long"

# without --verity there is nothing to check by the tree alone
ukit-sign sign -q --key "$T/k.key" -o "$T/plain.json" "$T/disk"
expect_fail 1 "no dm-verity root" "--verity-only needs a signed root" \
	ukit-sign verify -q --verity-only --pub "$T/k.pub" --bundle "$T/plain.json" "$T/disk"

# one-block image
head -c 4096 /dev/urandom >"$T/one"
ukit-sign sign -q --key "$T/k.key" --verity --hash-file "$T/one.hash" "$T/one"
r1=$(signed_root "$T/one.bundle.json")
rm -f "$T/vs.hash"
[ "$r1" = "$($VS --salt=- format "$T/one" "$T/vs.hash" | sed -n 's/^Root hash:[[:space:]]*//p')" ] &&
	ok "one-block root equals veritysetup's" || not_ok "one-block root"
check "one-block: veritysetup verify accepts" $VS --salt=- verify "$T/one" "$T/one.hash" "$r1"

# qcow2: the tree covers the guest view, so it equals the raw disk's root
if command -v qemu-img >/dev/null; then
	qemu-img convert -f raw -O qcow2 "$T/disk" "$T/disk.qcow2"
	check "sign --verity a qcow2 image" ukit-sign sign -q --key "$T/k.key" --verity "$T/disk.qcow2"
	[ "$(signed_root "$T/disk.qcow2.bundle.json")" = "$root" ] &&
		ok "qcow2 root equals the raw disk's root" || not_ok "qcow2 root differs"
	check "verify --verity-only on qcow2" ukit-sign verify -q --verity-only \
		--pub "$T/k.pub" "$T/disk.qcow2"
	check "streaming verify on qcow2" ukit-sign verify -q --pub "$T/k.pub" "$T/disk.qcow2"
else
	missing "qemu-img not installed"
fi
expect_fail 2 "--hash-file" "--hash-file needs --verity" \
	ukit-sign sign -q --key "$T/k.key" --hash-file "$T/x.hash" "$T/disk"
expect_fail 2 "--salt" "bad --salt" \
	ukit-sign sign -q --key "$T/k.key" --verity --salt zz "$T/disk"
done_testing
