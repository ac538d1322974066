#!/bin/bash
# t57-convert-targets: convert -n writes a raw image into an existing
# block device (a loop device over a file in $T, when losetup works here)
# or file: every byte of the image, zeros included, over old content;
# synced; it says what it wrote.  convert -n -O qcow2 writes into an
# existing qcow2 image, which keeps its own options, as qemu-img convert
# -n does (qemu-img is the oracle: check, compare, info).  Without -n, a device, FIFO or socket
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
expect_fail 2 "not -O bin" "-n -O bin: exit 2" \
	ukit-pack convert -n -O bin "$IN" "$T/target.bin"
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

# ---- -n into an existing qcow2 image ----------------------------------------
# Sources: the raw disk (data, zero runs, holes, a tail off any cluster
# boundary), a compressed qcow2 of it, and an uncompressed one with
# zero-flagged clusters over data.
cp "$IN" "$T/src-z.raw"
qemu-img convert -q -f raw -O qcow2 -o compat=1.1 "$IN" "$T/in-z.qcow2"
qemu-io -f qcow2 -c "write -z 0 1M" -c "write -z 2M 64k" \
	"$T/in-z.qcow2" >/dev/null
dd if=/dev/zero of="$T/src-z.raw" bs=64k count=16 conv=notrunc status=none
dd if=/dev/zero of="$T/src-z.raw" bs=64k seek=32 count=1 conv=notrunc \
	status=none
check "qemu-io made the zero-flagged source" \
	qemu-img compare -q -f raw -F qcow2 "$T/src-z.raw" "$T/in-z.qcow2"
head -c "$SIZE" /dev/urandom >"$T/old.raw"

# info_opts F: qemu-img info without the lines that change with content
info_opts() { qemu-img info "$1" | grep -v -e '^disk size' -e '^image:'; }

# into NAME SRC SRCFMT CREATE-OPTS [OLD]: a target made by qemu-img create
# (with OLD's content written in first, plain and compressed, when
# given); convert -n into it and into a copy with qemu-img convert -n
into() {
	local name=$1 src=$2 sfmt=$3 opts=$4 old=${5:-} t=$T/$1.qcow2
	rm -f "$t" "$t.q"
	qemu-img create -q -f qcow2 -o "$opts" "$t" "$SIZE"
	if [ -n "$old" ]; then
		qemu-img convert -q -n -f raw -O qcow2 "$old" "$t"
		# the first MiB again, compressed: clusters to free
		head -c 1048576 "$old" >"$T/old1m.raw"
		qemu-img convert -q -n -c -f raw -O qcow2 "$T/old1m.raw" "$t" \
			2>/dev/null || true
	fi
	cp --sparse=always "$t" "$t.q"
	info_opts "$t" >"$T/$name.info0"
	check "$name: convert -n -O qcow2" \
		ukit-pack convert -n -f "$sfmt" -O qcow2 "$src" "$t"
	grep -q "into qcow2 image .*synced" "$T/.out" &&
		ok "$name: says what it did" ||
		not_ok "$name: report $(cat "$T/.out")"
	check "$name: qemu-img check is clean" qemu-img check -q "$t"
	check "$name: qemu-img compare: identical to the source" \
		qemu-img compare -q -f "$sfmt" -F qcow2 "$src" "$t"
	info_opts "$t" >"$T/$name.info1"
	same_file "$name: qemu-img info: the target's options unchanged" \
		"$T/$name.info0" "$T/$name.info1"
	qemu-img convert -n -f "$sfmt" -O qcow2 "$src" "$t.q"
	check "$name: same content as qemu-img convert -n" \
		qemu-img compare -q "$t" "$t.q"
	diag "$name: file sizes (apparent/allocated): ukit" \
		"$(stat -c '%s/%b*%B' "$t"), qemu-img $(stat -c '%s/%b*%B' "$t.q")"
}

if command -v qemu-img >/dev/null && command -v qemu-io >/dev/null; then
	into raw-64k-v3 "$IN" raw cluster_size=65536,compat=1.1
	into raw-4k-v2 "$IN" raw cluster_size=4096,compat=0.10
	into raw-prealloc-v3 "$IN" raw preallocation=metadata,compat=1.1
	into raw-prealloc-v2 "$IN" raw preallocation=metadata,compat=0.10
	into raw-2m-rc1 "$IN" raw cluster_size=2M,refcount_bits=1
	into qcow2c-16k-old "$T/in.qcow2" qcow2 cluster_size=16384 "$T/old.raw"
	into zflag-64k-old "$T/in-z.qcow2" qcow2 compat=1.1 "$T/old.raw"
	into zflag-v2-old "$T/in-z.qcow2" qcow2 compat=0.10 "$T/old.raw"
	into zflag-prealloc "$T/in-z.qcow2" qcow2 preallocation=metadata
	# 512-byte clusters, 64-bit refcounts: 64 clusters per refcount
	# block and a one-cluster table for 4096; $SIZE of random data
	# needs more: the table has to grow (and move)
	into rtgrow "$T/old.raw" raw cluster_size=512,refcount_bits=64
	rtc() { od -An -tu4 --endian=big -j56 -N4 "$1" | tr -d ' '; }
	qemu-img create -q -f qcow2 -o cluster_size=512,refcount_bits=64 \
		"$T/rt0.qcow2" "$SIZE"
	[ "$(rtc "$T/rt0.qcow2")" = 1 ] && [ "$(rtc "$T/rtgrow.qcow2")" -gt 1 ] &&
		ok "rtgrow: the refcount table grew ($(rtc "$T/rt0.qcow2") ->" \
			"$(rtc "$T/rtgrow.qcow2") clusters)" ||
		not_ok "rtgrow: refcount table clusters $(rtc "$T/rt0.qcow2") ->" \
			"$(rtc "$T/rtgrow.qcow2")"
	# a target larger than the source, holding other data: what is
	# past the source stays, as with qemu-img
	rm -f "$T/big.qcow2"
	qemu-img create -q -f qcow2 -o cluster_size=65536 "$T/big.qcow2" \
		$((SIZE + 3 * 65536 + 4096))
	head -c $((SIZE + 3 * 65536 + 4096)) /dev/urandom >"$T/bigold.raw"
	qemu-img convert -q -n -f raw -O qcow2 "$T/bigold.raw" "$T/big.qcow2"
	cp "$T/big.qcow2" "$T/big.q"
	check "larger target: convert -n -O qcow2" \
		ukit-pack convert -q -n -O qcow2 "$IN" "$T/big.qcow2"
	check "larger target: qemu-img check is clean" \
		qemu-img check -q "$T/big.qcow2"
	qemu-img convert -n -f raw -O qcow2 "$IN" "$T/big.q"
	check "larger target: same content as qemu-img convert -n" \
		qemu-img compare -q "$T/big.qcow2" "$T/big.q"
	qemu-img dd -f qcow2 -O raw if="$T/big.qcow2" of="$T/big.raw" \
		bs=512 count=$((SIZE / 512)) 2>/dev/null
	cmp -s "$IN" "$T/big.raw" &&
		ok "larger target: the source's bytes, zeros included" ||
		not_ok "larger target: the first $SIZE bytes differ"
	qemu-img dd -f qcow2 -O raw if="$T/big.qcow2" of="$T/bigtail.raw" \
		bs=512 skip=$((SIZE / 512)) 2>/dev/null
	tail -c +$((SIZE + 1)) "$T/bigold.raw" | cmp -s - "$T/bigtail.raw" &&
		ok "larger target: the bytes past the source kept" ||
		not_ok "larger target: the bytes past the source changed"
	# -t unsafe: the same result, not synced
	qemu-img create -q -f qcow2 "$T/unsafe.qcow2" "$SIZE"
	check "-t unsafe -n -O qcow2" \
		ukit-pack convert -t unsafe -n -O qcow2 "$IN" "$T/unsafe.qcow2"
	grep -q "not synced" "$T/.out" && ok "-t unsafe: says not synced" ||
		not_ok "-t unsafe report: $(cat "$T/.out")"
	check "-t unsafe: identical to the source" \
		qemu-img compare -q -f raw "$IN" "$T/unsafe.qcow2"

	# refusals: exit 1 (2 for usage), the message, the target unchanged
	refused() {
		local code=$1 pat=$2 desc=$3 t=$4
		shift 4
		cp "$t" "$T/before"
		expect_fail "$code" "$pat" "$desc" "$@"
		cmp -s "$T/before" "$t" && ok "$desc: target unchanged" ||
			not_ok "$desc: target changed"
	}
	qemu-img create -q -f qcow2 "$T/small.qcow2" $((SIZE - 512))
	refused 1 "output file is smaller than input file" \
		"-n into a smaller qcow2 image" "$T/small.qcow2" \
		ukit-pack convert -n -O qcow2 "$IN" "$T/small.qcow2"
	# a target with more host clusters than the check counts (512-byte
	# clusters, a 7 GiB file): refused in a target's words (convert's
	# --no-check is for its input), nothing written (size and mtime kept)
	qemu-img create -q -f qcow2 -o cluster_size=512 "$T/huge.qcow2" "$SIZE"
	truncate -s 7G "$T/huge.qcow2"
	m0=$(stat -c '%s %y' "$T/huge.qcow2")
	expect_fail 1 "more than the consistency check can count (12582912); -n writes only into a target it has checked" \
		"-n into a target too large to check" \
		ukit-pack convert -n -O qcow2 "$IN" "$T/huge.qcow2"
	[ "$(stat -c '%s %y' "$T/huge.qcow2")" = "$m0" ] &&
		ok "-n into a target too large to check: not written" ||
		not_ok "-n into a target too large to check: written"
	rm -f "$T/huge.qcow2"
	qemu-img create -q -f qcow2 "$T/base.qcow2" "$SIZE"
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$T/over.qcow2"
	refused 1 "has a backing file (base.qcow2)" \
		"-n into an image with a backing file" "$T/over.qcow2" \
		ukit-pack convert -n -O qcow2 "$IN" "$T/over.qcow2"
	qemu-img create -q -f qcow2 "$T/dirty.qcow2" "$SIZE"
	printf '\001' | dd of="$T/dirty.qcow2" bs=1 seek=79 conv=notrunc \
		status=none
	refused 1 "marked dirty" "-n into a dirty image" "$T/dirty.qcow2" \
		ukit-pack convert -n -O qcow2 "$IN" "$T/dirty.qcow2"
	# a refcount block dropped from the table: the check finds
	# corruption before anything is written
	cp "$T/raw-64k-v3.qcow2" "$T/bad.qcow2"
	rto=$(od -An -tu8 --endian=big -j48 -N8 "$T/bad.qcow2" | tr -d ' ')
	dd if=/dev/zero of="$T/bad.qcow2" bs=1 seek="$rto" count=8 \
		conv=notrunc status=none
	refused 1 "image is corrupt" "-n into a corrupt image" "$T/bad.qcow2" \
		ukit-pack convert -n -O qcow2 "$IN" "$T/bad.qcow2"
	qemu-img create -q -f qcow2 "$T/snap.qcow2" "$SIZE"
	qemu-img snapshot -c s1 "$T/snap.qcow2"
	refused 1 "internal snapshots" "-n into an image with snapshots" \
		"$T/snap.qcow2" \
		ukit-pack convert -n -O qcow2 "$IN" "$T/snap.qcow2"
	qemu-img create -q -f qcow2 "$T/bmap.qcow2" "$SIZE"
	qemu-img bitmap --add "$T/bmap.qcow2" b0
	refused 1 "persistent dirty bitmaps" "-n into an image with bitmaps" \
		"$T/bmap.qcow2" \
		ukit-pack convert -n -O qcow2 "$IN" "$T/bmap.qcow2"
	qemu-img create -q -f qcow2 -o extended_l2=on "$T/xl2.qcow2" "$SIZE"
	refused 1 "extended L2" "-n into an image with subclusters" \
		"$T/xl2.qcow2" \
		ukit-pack convert -n -O qcow2 "$IN" "$T/xl2.qcow2"
	qemu-img create -q -f qcow2 --object secret,id=s0,data=pw \
		-o encrypt.format=luks,encrypt.key-secret=s0 "$T/enc.qcow2" \
		"$SIZE"
	refused 1 "encrypted images are not supported" \
		"-n into an encrypted image" "$T/enc.qcow2" \
		ukit-pack convert -n -O qcow2 "$IN" "$T/enc.qcow2"
	cp "$T/old.raw" "$T/notq.raw"
	refused 1 "not a qcow2 image" "-n -O qcow2 into a raw file" \
		"$T/notq.raw" \
		ukit-pack convert -n -O qcow2 "$IN" "$T/notq.raw"
	qemu-img create -q -f qcow2 "$T/opts.qcow2" "$SIZE"
	refused 2 "-o has no effect when skipping image creation" \
		"-n with -o: exit 2" "$T/opts.qcow2" \
		ukit-pack convert -n -O qcow2 -o cluster_size=4k "$IN" \
		"$T/opts.qcow2"
	refused 2 "-o has no effect" "-n with --compat: exit 2" \
		"$T/opts.qcow2" \
		ukit-pack convert -n -O qcow2 --compat 0.10 "$IN" "$T/opts.qcow2"
	refused 2 "-c with -n" "-n with -c: exit 2" "$T/opts.qcow2" \
		ukit-pack convert -n -c -O qcow2 "$IN" "$T/opts.qcow2"
	cp "$T/raw-64k-v3.qcow2" "$T/self.qcow2"
	refused 1 "is the input" "-n -O qcow2 onto the input itself" \
		"$T/self.qcow2" \
		ukit-pack convert -n -O qcow2 "$T/self.qcow2" "$T/self.qcow2"

	# a QEMU that has the target open (qemu-io, read-only here)
	qemu-img create -q -f qcow2 "$T/held.qcow2" "$SIZE"
	qemu-io -r -f qcow2 -c 'sleep 120000' "$T/held.qcow2" \
		>/dev/null 2>&1 &
	holder=$!
	for _ in $(seq 200); do
		grep -q ":$(stat -c %i "$T/held.qcow2") " /proc/locks && break
		sleep 0.05
	done
	refused 1 "in use: another process has it open" \
		"-n -O qcow2 into an image a QEMU has open" "$T/held.qcow2" \
		ukit-pack convert -n -O qcow2 "$IN" "$T/held.qcow2"
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null

	# a write that fails half way (the file size limit: EFBIG): exit 1,
	# and the image is still consistent (leaked clusters at worst);
	# a second run completes it
	# the old content: the first MiB of $IN (data to write over,
	# zeros to allocate), the rest appended past the limit
	head -c 1048576 "$IN" >"$T/in1m.raw"
	for lim in 600 1200 1800 2400; do
		rm -f "$T/cut.qcow2"
		qemu-img create -q -f qcow2 -o cluster_size=4096 "$T/cut.qcow2" \
			"$SIZE"
		qemu-img convert -q -n -f raw -O qcow2 "$T/in1m.raw" \
			"$T/cut.qcow2"
		expect_fail 1 "cut.qcow2:" "cut at $lim KiB: exit 1" \
			bash -c 'trap "" XFSZ; ulimit -f "$1"; shift; exec "$@"' \
			sh "$lim" "$UKIT_BIN/ukit-pack" convert -q -n -O qcow2 \
			"$T/old.raw" "$T/cut.qcow2"
		qemu-img check -q "$T/cut.qcow2" >/dev/null 2>&1
		rc=$?
		[ "$rc" = 0 ] || [ "$rc" = 3 ] &&
			ok "cut at $lim KiB: qemu-img check finds no corruption" ||
			not_ok "cut at $lim KiB: qemu-img check exit $rc"
		check "cut at $lim KiB: a second run completes it" \
			ukit-pack convert -q -n -O qcow2 "$T/old.raw" "$T/cut.qcow2"
		check "cut at $lim KiB: then identical to the source" \
			qemu-img compare -q -f raw "$T/old.raw" "$T/cut.qcow2"
	done
else
	missing "qemu-img and qemu-io: no -n -O qcow2 tests"
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
