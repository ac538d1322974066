#!/bin/bash
# t57-convert-targets: convert -n writes a raw image into an existing
# block device (a loop device over a file in $T, when losetup works here)
# or file: every byte of the image, zeros included, over old content;
# synced; it says what it wrote.  Without -n, a device, FIFO or socket
# target is refused and left as it is; a symbolic link is followed and
# the file it names replaced atomically.
. "$(dirname "$0")/lib.sh"

IN=$T/in.raw
"$PY" "$TOP/tests/gen/mkdisk.py" "$IN" 3
SIZE=$(stat -c %s "$IN")
ukit-pack convert -q -O qcow2 -c "$IN" "$T/in.qcow2"

# ---- -n into a file ------------------------------------------------------
head -c $((SIZE + 65536)) /dev/urandom >"$T/old.bin"
cp "$T/old.bin" "$T/target.bin"
check "-n into an existing file" \
	ukit-pack convert -n -O raw "$T/in.qcow2" "$T/target.bin"
grep -q "wrote $SIZE bytes" "$T/.out" && ok "-n says what it wrote" ||
	not_ok "-n report: $(cat "$T/.out")"
cmp -n "$SIZE" "$IN" "$T/target.bin" >/dev/null &&
	ok "-n: the image's bytes, zeros included, over the old content" ||
	not_ok "-n: target differs from the image"
cmp -s <(tail -c 65536 "$T/old.bin") <(tail -c 65536 "$T/target.bin") &&
	ok "-n: bytes past the image are left as they were" ||
	not_ok "-n: bytes past the image changed"
expect_fail 2 "use -O raw" "-n -O qcow2: exit 2" \
	ukit-pack convert -n -O qcow2 "$IN" "$T/target.bin"
expect_fail 1 "cannot write in place" "-n into a missing target: exit 1" \
	ukit-pack convert -n -O raw "$IN" "$T/none.bin"
check "-n does not create a missing target" test ! -e "$T/none.bin"
cp "$IN" "$T/self.raw"
expect_fail 1 "is the input" "-n onto the input itself: refused, exit 1" \
	ukit-pack convert -n -O raw "$T/self.raw" "$T/self.raw"
same_file "-n onto the input: the input is untouched" "$IN" "$T/self.raw"

# ---- -n into a block device ---------------------------------------------
if [ "$(id -u)" = 0 ] && command -v losetup >/dev/null &&
   head -c $((SIZE + 1048576)) /dev/urandom >"$T/backing.img" &&
   LOOP=$(losetup -f --show "$T/backing.img" 2>/dev/null); then
	trap 'losetup -d "$LOOP"; rm -rf "$T"' EXIT
	check "-n into a loop device" \
		ukit-pack convert -n -O raw "$T/in.qcow2" "$LOOP"
	grep -q "wrote $SIZE bytes .* into block device $LOOP, synced" "$T/.out" &&
		ok "-n device: says what it wrote and that it synced" ||
		not_ok "-n device report: $(cat "$T/.out")"
	cmp -n "$SIZE" "$IN" "$LOOP" >/dev/null &&
		ok "-n device: the device holds the image" ||
		not_ok "-n device: content differs"
	qemu-img compare -q -f raw -F raw "$IN" "$LOOP" 2>/dev/null ||
		diag "(qemu-img compare sees the device's tail past the image)"
	check "-t unsafe -n into a loop device" \
		ukit-pack convert -q -t unsafe -n -O raw "$IN" "$LOOP"
	expect_fail 1 "is a block device" \
		"a device without -n: refused, exit 1" \
		ukit-pack convert -O raw "$IN" "$LOOP"
	check "the device is still a block device" test -b "$LOOP"
	truncate -s 1M "$T/small.img"
	SMALL=$(losetup -f --show "$T/small.img")
	expect_fail 1 "smaller than the image" \
		"-n into a device smaller than the image: exit 1" \
		ukit-pack convert -n -O raw "$IN" "$SMALL"
	losetup -d "$SMALL"
else
	skip "losetup does not work here: no loop device tests"
fi

# ---- targets that are neither file nor device ---------------------------
mkfifo "$T/fifo"
expect_fail 1 "is a FIFO" "a FIFO target without -n: refused, exit 1" \
	ukit-pack convert -O raw "$IN" "$T/fifo"
check "the FIFO is still a FIFO" test -p "$T/fifo"
expect_fail 1 "is a FIFO" "-n into a FIFO: refused, exit 1 (no hang)" \
	timeout 20 ukit-pack convert -n -O raw "$IN" "$T/fifo"
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
	"$T/sock"
expect_fail 1 "is a socket" "a socket target: refused, exit 1" \
	ukit-pack convert -O qcow2 "$IN" "$T/sock"
check "the socket is still a socket" test -S "$T/sock"
if mknod "$T/null" c 1 3 2>/dev/null; then
	expect_fail 1 "is a character device" \
		"a character device target: refused, exit 1" \
		ukit-pack convert -O raw "$IN" "$T/null"
	check "the character device is still one" test -c "$T/null"
else
	skip "mknod does not work here"
fi
ln -s fifo "$T/link-to-fifo"
expect_fail 1 "is a FIFO" "a link to a FIFO: refused, exit 1" \
	ukit-pack convert -O raw "$IN" "$T/link-to-fifo"

# ---- symbolic links are followed ------------------------------------------
mkdir -p "$T/real"
echo old >"$T/real/disk.qcow2"
ln -s real/disk.qcow2 "$T/hop1"
ln -s hop1 "$T/hop2"
check "convert to a chain of links" \
	ukit-pack convert -q -O qcow2 "$IN" "$T/hop2"
check "the links are still links" test -L "$T/hop2" -a -L "$T/hop1"
check "the file at the end of the chain is the output" \
	qemu-img compare -q -f raw "$IN" "$T/real/disk.qcow2"
ln -s real/new.qcow2 "$T/dangling"
check "convert to a dangling link: creates the file it names" \
	ukit-pack convert -q -O qcow2 "$IN" "$T/dangling"
check "the dangling link now resolves" \
	qemu-img compare -q -f raw "$IN" "$T/real/new.qcow2"
ln -s loop-b "$T/loop-a"
ln -s loop-a "$T/loop-b"
expect_fail 1 "cannot follow the link" "a link loop: exit 1" \
	ukit-pack convert -O qcow2 "$IN" "$T/loop-a"

done_testing
