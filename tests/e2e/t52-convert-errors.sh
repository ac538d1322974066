#!/bin/bash
# t52-convert-errors: convert is atomic (kill -9 or an error leaves no
# output and no temporary, never touches the input or an existing output),
# refuses corrupt qcow2 input with the reader's message, and checks usage.
. "$(dirname "$0")/lib.sh"

"$PY" "$TOP/tests/gen/mkdisk.py" "$T/in.raw" 2
ukit-pack convert -q -O qcow2 "$T/in.raw" "$T/good.qcow2"
strays() { find "$T" -name '.*ukit-*' | wc -l; }

# kill -9 in the middle of a long conversion: base64 text compresses
# (slowly, with no repeats to find), so -c zlib --level 9 -j 1 takes seconds
head -c 48M /dev/urandom | base64 -w 0 >"$T/big.raw"
sum0=$(md5sum <"$T/big.raw")
ukit-pack convert -q -O qcow2 -c zlib --level 9 -j 1 "$T/big.raw" "$T/big.qcow2" &
pid=$!
sleep 0.5
if kill -0 "$pid" 2>/dev/null; then
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	check "kill -9: no output file" test ! -e "$T/big.qcow2"
	check "kill -9: no stray temporary" test "$(strays)" = 0
	check "kill -9: input unchanged" test "$(md5sum <"$T/big.raw")" = "$sum0"
else
	wait "$pid"
	skip "kill -9: conversion finished before the kill"
fi

# the same against an existing output: it stays as it was
cp "$T/good.qcow2" "$T/keep.qcow2"
ukit-pack convert -q -O qcow2 -c zlib --level 9 -j 1 "$T/big.raw" "$T/keep.qcow2" &
pid=$!
sleep 0.3
if kill -9 "$pid" 2>/dev/null; then
	wait "$pid" 2>/dev/null
	same_file "kill -9: existing output untouched" "$T/good.qcow2" "$T/keep.qcow2"
	check "kill -9: no stray temporary beside it" test "$(strays)" = 0
else
	wait "$pid"
	skip "kill -9: conversion finished before the kill"
fi
rm -f "$T/big.raw"

# corrupt qcow2 input: exit 1, the reader's message with the offset, no output
corrupt() {   # corrupt NAME OFFSET HEXBYTES
	cp "$T/good.qcow2" "$T/$1.qcow2"
	printf "$3" | dd of="$T/$1.qcow2" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
corrupt l1past 40 '\x00\x00\x00\x10\x00\x00\x00\x00'      # L1 offset 64 GiB
corrupt cbits 20 '\x00\x00\x00\x28'                          # cluster_bits 40
corrupt incompat 79 '\x80'                                   # unknown feature
for name in l1past cbits incompat; do
	expect_fail 1 "ukit-pack: $T/$name.qcow2:0x" \
		"corrupt qcow2 ($name): exit 1 with file and offset" \
		ukit-pack convert -q -O raw "$T/$name.qcow2" "$T/out.raw"
	check "corrupt qcow2 ($name): no output" test ! -e "$T/out.raw"
	expect_fail 1 "ukit-pack: $T/$name.qcow2:" \
		"corrupt qcow2 ($name) -> qcow2: exit 1" \
		ukit-pack convert -q -O qcow2 -c zstd "$T/$name.qcow2" "$T/out.qcow2"
	check "corrupt qcow2 ($name) -> qcow2: no output" test ! -e "$T/out.qcow2"
done
head -c 100000 "$T/good.qcow2" >"$T/trunc.qcow2"
expect_fail 1 "ukit-pack: $T/trunc.qcow2" "truncated qcow2: exit 1" \
	ukit-pack convert -q -O raw "$T/trunc.qcow2" "$T/out.raw"
check "no stray temporaries after errors" test "$(strays)" = 0

# a write that fails half way (the file size limit, with SIGXFSZ ignored:
# EFBIG from the 3rd MiB on), with one thread, with two taking turns, and
# compressing: exit 1 naming the output and the offset, no output, no
# temporary, whichever thread meets it
head -c 8M /dev/urandom >"$T/in8.raw"
limited() { sh -c 'trap "" XFSZ; ulimit -f 2048; exec "$@"' sh "$@"; }
for opts in "-j 1" "-j 2" "-c zstd -j 2"; do
	# shellcheck disable=SC2086
	expect_fail 1 "ukit-pack: $T/full.qcow2:0x" \
		"write fails ($opts): exit 1 with the output and offset" \
		limited ukit-pack convert -q -O qcow2 $opts "$T/in8.raw" "$T/full.qcow2"
	cp "$T/.err" "$T/full.err"
	check "write fails ($opts): says why" grep -q "write failed: File too large" "$T/full.err"
	check "write fails ($opts): no output" test ! -e "$T/full.qcow2"
	check "write fails ($opts): no stray temporary" test "$(strays)" = 0
done
rm -f "$T/in8.raw"

# an output that is a directory is refused up front (it used to fail only
# at the rename, after the whole output was written)
mkdir -p "$T/outdir"
expect_fail 1 "ukit-pack: $T/outdir: output is a directory" \
	"output is a directory: exit 1" \
	ukit-pack convert -q -O qcow2 "$T/in.raw" "$T/outdir"
check "output is a directory: still an empty directory" \
	test -z "$(ls -A "$T/outdir")"
check "output is a directory: no stray temporary" test "$(strays)" = 0
# a symbolic link is followed, as a user expects: a link to a directory
# names a directory, refused like one; a link to a file has that file
# replaced atomically and stays a link
ln -s outdir "$T/linkdir"
expect_fail 1 "output is a directory" \
	"output is a link to a directory: refused (exit 1)" \
	ukit-pack convert -q -O qcow2 "$T/in.raw" "$T/linkdir"
check "the link to a directory is still a link" test -L "$T/linkdir"
echo old >"$T/linktarget"
ln -s linktarget "$T/linkfile"
check "output is a link to a file: converts" \
	ukit-pack convert -q -O qcow2 "$T/in.raw" "$T/linkfile"
check "the link is still a link" test -L "$T/linkfile"
check "the file it names is the output" qemu-img check -q "$T/linktarget"

# usage
expect_fail 2 "usage: ukit-pack" "convert without -O: exit 2" \
	ukit-pack convert "$T/in.raw" "$T/o"
expect_fail 2 "unknown output format" "-O vmdk: exit 2" \
	ukit-pack convert -O vmdk "$T/in.raw" "$T/o"
expect_fail 2 "unknown compression" "--compress lz4: exit 2" \
	ukit-pack convert -O qcow2 --compress lz4 "$T/in.raw" "$T/o"
expect_fail 2 "--cluster-size wants" "--cluster-size 1000: exit 2" \
	ukit-pack convert -O qcow2 --cluster-size 1000 "$T/in.raw" "$T/o"
expect_fail 2 "--cluster-size wants" "--cluster-size 4M: exit 2" \
	ukit-pack convert -O qcow2 --cluster-size 4M "$T/in.raw" "$T/o"
expect_fail 2 "--compat wants" "--compat 2: exit 2" \
	ukit-pack convert -O qcow2 --compat 2 "$T/in.raw" "$T/o"
expect_fail 2 "-j wants" "-j 0: exit 2" \
	ukit-pack convert -O qcow2 -j 0 "$T/in.raw" "$T/o"
expect_fail 2 "zlib --level wants" "zlib --level 12: exit 2" \
	ukit-pack convert -O qcow2 -c zlib --level 12 "$T/in.raw" "$T/o"
expect_fail 2 "--level needs" "--level without -c: exit 2" \
	ukit-pack convert -O qcow2 --level 3 "$T/in.raw" "$T/o"
expect_fail 2 "are for -O qcow2" "-c with -O raw: exit 2" \
	ukit-pack convert -O raw -c zlib "$T/good.qcow2" "$T/o"
expect_fail 2 "-c zstd needs --compat 1.1" "zstd with compat 0.10: exit 2" \
	ukit-pack convert -O qcow2 -c zstd --compat 0.10 "$T/in.raw" "$T/o"
expect_fail 1 "No such file" "missing input: exit 1" \
	ukit-pack convert -O qcow2 "$T/nope.raw" "$T/o"
check "no output after usage errors" test ! -e "$T/o"

# -p draws a progress bar on stderr, -q keeps stderr quiet
makes "-p: converts" "$T/p.qcow2" ukit-pack convert -p -O qcow2 "$T/in.raw" "$T/p.qcow2"
cp "$T/.err" "$T/p.err"
check "-p: progress bar on stderr" grep -q '100.00/100%' "$T/p.err"
makes "-q: converts" "$T/q.qcow2" ukit-pack convert -q -O qcow2 "$T/in.raw" "$T/q.qcow2"
cp "$T/.err" "$T/q.err"
check "-q: nothing on stderr" test ! -s "$T/q.err"
same_file "-p does not change the output" "$T/p.qcow2" "$T/q.qcow2"

# more host clusters than the consistency check can count (512-byte
# clusters, a file grown to 7 GiB with a hole): refused with the way out,
# and --no-check converts it
ukit-pack convert -q -O qcow2 --cluster-size 512 "$T/in.raw" "$T/big.qcow2"
truncate -s 7G "$T/big.qcow2"
rm -f "$T/o"
expect_fail 1 "more than the consistency check can count (12582912); --no-check" \
	"too many host clusters to check: exit 1" \
	ukit-pack convert -q -O raw "$T/big.qcow2" "$T/o"
check "no output" test ! -e "$T/o"
check "--no-check converts it" \
	ukit-pack convert -q --no-check -O raw "$T/big.qcow2" "$T/o"
check "and it reads the input (qemu-img compare)" \
	qemu-img compare -q -f raw -F raw "$T/o" "$T/in.raw"
rm -f "$T/big.qcow2" "$T/o"

done_testing
