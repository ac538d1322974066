#!/bin/bash
# t48-solo5-built: real Solo5 unikernels: the virtio ones boot from
# ukit disks under SeaBIOS with the command line they were given, and
# Solo5's own tenders (solo5-spt; solo5-hvt where /dev/kvm opens) run the
# spt and hvt ones from the sealed copy ukit-verify --exec verified, and
# from a linked unikernel whose manifest ukit-elftool set-manifest grew,
# and from one linked by Solo5's toolchain with ukit's manifest object.
# Solo5 is not packaged for Debian: set SOLO5_BUILD to a Solo5 source
# tree built with ./configure.sh && make (its tests/ and tenders/) to
# run it; skipped otherwise.  Solo5's virtio binding skips the first word of the
# Multiboot command line (QEMU's -kernel puts the file's name there), so
# a disk that passed only the words would lose the first one.
. "$(dirname "$0")/lib.sh"

S=${SOLO5_BUILD:-}
if [ -z "$S" ] || [ ! -f "$S/tests/test_hello/test_hello.virtio" ]; then
	skip "SOLO5_BUILD not set (no built Solo5 tree with tests/*/*.virtio)"
	done_testing
	exit 0
fi
for tool in qemu-system-x86_64 grub-mkimage mformat; do
	if ! command -v $tool >/dev/null; then
		missing "no $tool"
		done_testing
		exit 0
	fi
done
export SOURCE_DATE_EPOCH=1700000000

run() {  # run NAME DISK FMT [QEMU ARGS...]: boot under SeaBIOS (TCG)
	local name=$1 disk=$2 fmt=$3
	shift 3
	timeout 120 qemu-system-x86_64 -accel tcg -m 128 -nographic \
		-display none -monitor none -no-reboot \
		-serial file:"$T/$name.serial" \
		-drive file="$disk",format="$fmt",if=ide,snapshot=on "$@" \
		</dev/null >"$T/$name.qemu" 2>&1
	tr -d '\r' <"$T/$name.serial" >"$T/$name.out"
}

check "disk -O raw of test_hello.virtio" ukit-pack disk -O raw --firmware bios \
	--cmdline "first 'second word'" "$S/tests/test_hello/test_hello.virtio" "$T/hello.raw"
run hello "$T/hello.raw" raw
# (GRUB passes a word with a space in double quotes: ukit-pack(1))
check "test_hello: Solo5 gets every word of the command line" \
	grep -qx "Command line is: 'first \"second word\"'" "$T/hello.out"
check "test_hello: runs to solo5_exit(0)" grep -qx "Solo5: solo5_exit(0) called" "$T/hello.out"

# test_blk reads and writes a virtio-blk data disk; --solo5:quiet, the
# first word, silences Solo5's banner
check "disk -O qcow2 of test_blk.virtio" ukit-pack disk -O qcow2 -c zlib \
	--cmdline "--solo5:quiet" "$S/tests/test_blk/test_blk.virtio" "$T/blk.qcow2"
truncate -s 1M "$T/data.img"
run blk "$T/blk.qcow2" qcow2 -drive file="$T/data.img",format=raw,if=virtio
check "test_blk: SUCCESS with a virtio-blk data disk" grep -qx SUCCESS "$T/blk.out"
check "test_blk: --solo5:quiet reached Solo5 (no banner)" \
	sh -c "! grep -q 'Solo5: Bindings version' '$T/blk.out'"
check "ukit-pack info: the disk's kernel and its Solo5 manifest" sh -c \
	"ukit-pack info '$T/blk.qcow2' | grep -qx '    storage: BLOCK_BASIC'"

# a xen unikernel has a Multiboot header too (GRUB in a Xen HVM guest):
# made, with a warning that QEMU or KVM alone do not run it
check "disk of test_hello.xen: made" ukit-pack disk -O raw --firmware bios \
	"$S/tests/test_hello/test_hello.xen" "$T/xen.raw"
cp "$T/.err" "$T/xen.err"
check "... with a warning that it needs Xen" grep -q \
	"warning: disk: .*test_hello.xen is a Solo5 xen unikernel: it needs Xen" "$T/xen.err"
ukit-pack disk -O raw "$S/tests/test_hello/test_hello.hvt" "$T/hvt.raw" 2>"$T/hvt.err"
check "disk of test_hello.hvt: exit 1, no output, the virtio target named" sh -c \
	"[ $? = 1 ] && [ ! -e '$T/hvt.raw' ] &&
		grep -q 'hvt unikernel, which runs under its tender.*virtio target' '$T/hvt.err'"

# ---- verify, then run exactly the verified bytes with Solo5's tenders --
ukit-sign keygen --no-passphrase --type ecdsa-p256 "$T/k" >/dev/null 2>&1
tender() {  # tender TARGET: sign test_hello.TARGET, run it through --exec
	local t=$1 st
	cp "$S/tests/test_hello/test_hello.$t" "$T/hello.$t"
	check "$t: sign test_hello.$t" ukit-sign sign --key "$T/k.key" \
		--rollback 2 "$T/hello.$t"
	st=0
	timeout 120 ukit-verify --pub "$T/k.pub" --require-target $t \
		--min-rollback 2 "$T/hello.$t" --exec "$S/tenders/$t/solo5-$t" \
		{} "from ukit-verify" >"$T/$t.out" 2>&1 || st=$?
	check "$t: ukit-verify --exec solo5-$t: exit 0, the unikernel ran" \
		sh -c "[ $st = 0 ] && grep -qx \"Command line is: 'from ukit-verify'\" '$T/$t.out'"
	printf '\220' | dd of="$T/hello.$t" bs=1 seek=8192 conv=notrunc status=none
	st=0
	ukit-verify --pub "$T/k.pub" "$T/hello.$t" --exec "$S/tenders/$t/solo5-$t" \
		{} >"$T/$t.bad" 2>&1 || st=$?
	check "$t: a changed byte: exit 1, the tender never runs" \
		sh -c "[ $st = 1 ] && ! grep -q 'Solo5' '$T/$t.bad'"
}
tender spt

# ---- a grown manifest in a linked unikernel, read by Solo5's tender ----
cat >"$T/m.json" <<'JSON'
{ "type": "solo5.manifest", "version": 1, "devices": [
  { "name": "storage", "type": "BLOCK_BASIC" },
  { "name": "backup", "type": "BLOCK_BASIC" } ] }
JSON
check "set-manifest: test_blk.spt gets a second block device" ukit-elftool \
	set-manifest "$T/m.json" "$S/tests/test_blk/test_blk.spt" -o "$T/blk2.spt"
truncate -s 1M "$T/d0" "$T/d1"
st=0
"$S/tenders/spt/solo5-spt" --block:storage="$T/d0" --block:backup="$T/d1" \
	"$T/blk2.spt" >"$T/blk2.out" 2>&1 || st=$?
check "solo5-spt runs it with both devices: SUCCESS" \
	sh -c "[ $st = 0 ] && grep -qx SUCCESS '$T/blk2.out'"
st=0
"$S/tenders/spt/solo5-spt" --block:storage="$T/d0" "$T/blk2.spt" \
	>"$T/blk3.out" 2>&1 || st=$?
check "solo5-spt reads the new manifest: 'backup' must be attached" \
	sh -c "[ $st != 0 ] && grep -q \"Device 'backup' of type BLOCK_BASIC declared but not attached\" '$T/blk3.out'"
# ---- Solo5's toolchain links ukit's manifest (object, or C source) ------
CC5=$S/toolchain/bin/x86_64-solo5-none-static-cc
MJ=$S/tests/test_blk/manifest.json
check "gen-manifest --format object of test_blk's manifest.json" \
	ukit-elftool gen-manifest --format object "$MJ" "$T/mft.o"
check "Solo5's cc links test_blk.o with it (-z solo5-abi=spt)" \
	"$CC5" -z solo5-abi=spt "$S/tests/test_blk/test_blk.o" "$T/mft.o" -o "$T/own.spt"
st=0
"$S/tenders/spt/solo5-spt" --block:storage="$T/d0" "$T/own.spt" >"$T/own.out" 2>&1 || st=$?
check "solo5-spt runs it: SUCCESS" sh -c "[ $st = 0 ] && grep -qx SUCCESS '$T/own.out'"
"$S/elftool/solo5-elftool" query-manifest "$T/own.spt" >"$T/q1"
"$S/elftool/solo5-elftool" query-manifest "$S/tests/test_blk/test_blk.spt" >"$T/q2"
same_file "solo5-elftool reads the manifest Solo5's own build embeds" "$T/q2" "$T/q1"
ukit-elftool gen-manifest "$MJ" "$T/u.c"
"$S/elftool/solo5-elftool" gen-manifest "$MJ" "$T/s.c"
grep -v '^/\* Generated by .*-elftool version ' "$T/u.c" >"$T/u2.c"
grep -v '^/\* Generated by .*-elftool version ' "$T/s.c" >"$T/s2.c"
check "gen-manifest C source: solo5-elftool's but for its 'Generated by' line" \
	sh -c "[ \$(wc -l <'$T/u.c') = \$((\$(wc -l <'$T/u2.c') + 1)) ] && cmp -s '$T/u2.c' '$T/s2.c'"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	tender hvt
else
	skip "hvt: no usable /dev/kvm"
fi
done_testing
