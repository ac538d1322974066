#!/bin/bash
# t70-verity: dm-verity roots and hash trees against veritysetup (the peer):
# random, sparse and one-block images, with and without salt; the published
# 1 MiB known value; veritysetup verify accepts ukit's tree; a qcow2 disk
# has the root of its raw content.
. "$(dirname "$0")/lib.sh"

VS="veritysetup --no-superblock --hash=sha256 --data-block-size=4096 --hash-block-size=4096"

# root_vs IMAGE SALT: veritysetup's root (its hash file is thrown away)
root_vs() {
	rm -f "$T/vs.hash"
	$VS --salt="$2" format "$1" "$T/vs.hash" | sed -n 's/^Root hash:[[:space:]]*//p'
}

# The known value: block i holds 4096 bytes of the value i.
$PY -c 'import sys; sys.stdout.buffer.write(b"".join(bytes([i]) * 4096 for i in range(256)))' >"$T/known"
r=$(ukit-sign verity "$T/known")
if [ "$r" = 727a5f79ecd16a7dc3a71043f0ce673f8864a3738a8277788c895415084d8655 ]; then
	ok "known 1 MiB value"
else
	not_ok "known 1 MiB value (got '$r')"
fi

if ! command -v veritysetup >/dev/null; then
	missing "veritysetup not installed"
	done_testing
	exit 0
fi

head -c $((3 * 1024 * 1024)) /dev/urandom >"$T/random"
truncate -s 24M "$T/sparse"
printf 'data at 0' | dd of="$T/sparse" conv=notrunc status=none
head -c 8192 /dev/urandom | dd of="$T/sparse" bs=4096 seek=3000 conv=notrunc status=none
head -c 4096 /dev/urandom >"$T/one"
salt=5eed0123456789abcdef
for img in random sparse one known; do
	for s in - $salt; do
		want=$(root_vs "$T/$img" $s)
		got=$(ukit-sign verity --salt $s "$T/$img")
		if [ -n "$want" ] && [ "$want" = "$got" ]; then
			ok "$img salt $s: root equals veritysetup's"
		else
			not_ok "$img salt $s: root '$got', veritysetup '$want'"
		fi
		rm -f "$T/u.hash"
		got=$(ukit-sign verity --salt $s --hash-file "$T/u.hash" "$T/$img")
		if [ "$img" = one ]; then
			# one block is its own root: no tree, an empty file
			check "$img salt $s: empty hash file, as veritysetup's" \
				test -e "$T/u.hash" -a ! -s "$T/u.hash" -a \
				-e "$T/vs.hash" -a ! -s "$T/vs.hash"
		else
			same_file "$img salt $s: hash file equals veritysetup's" \
				"$T/vs.hash" "$T/u.hash"
		fi
		check "$img salt $s: veritysetup verify accepts ukit's tree and root" \
			$VS --salt=$s verify "$T/$img" "$T/u.hash" "$got"
	done
done
# any number of threads: veritysetup's root
want=$(root_vs "$T/sparse" -)
for j in 1 2 3; do
	run_ok "sparse -j $j: exit 0, a root" "$T/r$j" ukit-sign verity -j $j "$T/sparse"
	r=$(cat "$T/r$j")
	if [ -n "$want" ] && [ "$r" = "$want" ]; then
		ok "sparse -j $j: root equals veritysetup's"
	else
		not_ok "sparse -j $j: root '$r', veritysetup '$want'"
	fi
done

# A changed byte in the data changes the root; veritysetup then refuses.
cp "$T/random" "$T/random2"
flip_byte "$T/random2" 1234567
rm -f "$T/r.hash"
r=$(ukit-sign verity --salt - --hash-file "$T/r.hash" "$T/random")
check "veritysetup accepts the original" $VS --salt=- verify "$T/random" "$T/r.hash" "$r"
expect_fail 2 "Verification of data area failed" \
	"veritysetup refuses changed data with ukit's tree and root" \
	$VS --salt=- verify "$T/random2" "$T/r.hash" "$r"

# A partial last block is zero-padded (veritysetup ignores it: pad first).
head -c 10000 /dev/urandom >"$T/odd"
cp "$T/odd" "$T/odd.padded"
truncate -s 12288 "$T/odd.padded"
r=$(ukit-sign verity "$T/odd")
want=$(root_vs "$T/odd.padded" -)
[ -n "$want" ] && [ "$r" = "$want" ] &&
	ok "partial block: root of the zero-padded image" ||
	not_ok "partial block root '$r', veritysetup '$want'"

if command -v qemu-img >/dev/null; then
	qemu-img convert -f raw -O qcow2 "$T/sparse" "$T/sparse.qcow2"
	run_ok "qcow2: exit 0, a root" "$T/rq" ukit-sign verity "$T/sparse.qcow2"
	r=$(cat "$T/rq")
	want=$(root_vs "$T/sparse" -)
	[ -n "$want" ] && [ "$r" = "$want" ] &&
		ok "qcow2: root of the guest view (veritysetup's on the raw image)" ||
		not_ok "qcow2 root '$r', veritysetup on the raw image '$want'"
else
	missing "qemu-img not installed"
fi

: >"$T/empty"
expect_fail 1 "empty file" "empty image refused" ukit-sign verity "$T/empty"
expect_fail 2 "--salt" "bad salt is a usage error" ukit-sign verity --salt xyz "$T/one"
expect_fail 1 "cannot open" "missing image" ukit-sign verity "$T/nope"
ukit-sign verity --json --salt $salt "$T/one" >"$T/v.json"
check "--json has the salt" grep -q "\"salt\": \"$salt\"" "$T/v.json"
done_testing
