#!/bin/bash
# t44-pack-locks: an image that a QEMU process has open for writing is
# refused by info, check, convert and compare, as qemu-img refuses it (and
# by ukit-sign sign), and read with -U (--force-share); an output that a
# QEMU process has open is not replaced under it; a backing file held for writing is refused
# through its overlay; a read-only holder does not stop ukit; and while
# ukit reads an image, a QEMU process cannot open it for writing.  The
# QEMU processes are qemu-io, which holds the image while it sleeps.
. "$(dirname "$0")/lib.sh"

if ! command -v qemu-img >/dev/null || ! command -v qemu-io >/dev/null; then
	missing "qemu-img / qemu-io not installed"
	done_testing
	exit 0
fi
cd "$T" || exit 1
head -c 3M /dev/urandom >in.raw
seq 1 300000 >>in.raw
qemu-img convert -f raw -O qcow2 in.raw img.qcow2
cp in.raw img.raw
qemu-img convert -f raw -O qcow2 in.raw base.qcow2
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
qemu-io -f qcow2 -c 'write -P 0x5a 1M 64k' top.qcow2 >/dev/null
qemu-img convert -O raw top.qcow2 top.raw

holder=""
# locked IMAGE BYTE: some process holds a lock on BYTE of IMAGE
locked() {
	awk -v ino=":$(stat -c %i "$1")" -v b="$2" \
		'index($0, ino " ") && $(NF - 1) <= b && $NF >= b { f = 1 }
		 END { exit !f }' /proc/locks
}
# hold FMT IMAGE [-r]: a qemu-io that keeps IMAGE open (for writing unless
# -r) until release; waits until its lock is there (byte 101: writing,
# byte 201: keeping writers out)
hold() {
	local fmt=$1 img=$2 ro=${3:-} byte=101
	[ -n "$ro" ] && byte=201
	qemu-io $ro -f "$fmt" -c 'sleep 120000' "$img" >/dev/null 2>&1 &
	holder=$!
	for _ in $(seq 200); do
		locked "$img" $byte && return 0
		sleep 0.05
	done
	return 1
}
release() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null && wait "$holder" 2>/dev/null
	holder=""
}
trap 'release; rm -rf "$T"' EXIT

busy="in use: another process has it open for writing (QEMU's write lock, byte 101)"

# peer_refuses CMD...: the precondition that qemu-img refuses too (not a
# check of ukit: says nothing unless qemu-img did not refuse)
peer_refuses() {
	"$@" >"$T/peer.out" 2>&1 &&
		not_ok "fixture: '$*' did not refuse (the lock did not hold)"
}

hold qcow2 img.qcow2 || not_ok "qemu-io did not lock img.qcow2"
peer_refuses qemu-img info img.qcow2
expect_fail 1 "img.qcow2: $busy" "info refuses it" ukit-pack info img.qcow2
grep -qF -- "-U (--force-share) reads it anyway" "$T/.err" &&
	ok "the message names -U" || not_ok "no -U hint: $(cat "$T/.err")"
expect_fail 1 "img.qcow2: $busy" "check refuses it" ukit-pack check img.qcow2
expect_fail 1 "img.qcow2: $busy" "convert refuses it" \
	ukit-pack convert -O raw img.qcow2 out.raw
[ ! -e out.raw ] && ok "no output" || not_ok "convert left out.raw"
expect_fail 1 "img.qcow2: $busy" "compare refuses it" \
	ukit-pack compare in.raw img.qcow2
ukit-sign keygen --no-passphrase --type ecdsa-p256 k >/dev/null 2>&1
expect_fail 1 "img.qcow2: $busy" "ukit-sign sign refuses it too" \
	ukit-sign sign --key k.key img.qcow2
[ ! -e img.qcow2.bundle.json ] && ok "no bundle" || not_ok "sign left a bundle"
check "info -U reads it" ukit-pack info -U --json img.qcow2
check "check -U reads it" ukit-pack check -U img.qcow2
check "compare -U reads it" ukit-pack compare -U img.qcow2 in.raw
check "convert -U reads it" ukit-pack convert -U -O raw img.qcow2 out.raw
qemu-img convert -U -O raw img.qcow2 q.raw
same_file "convert -U writes what qemu-img convert -U writes" q.raw out.raw
release

hold raw img.raw || not_ok "qemu-io did not lock img.raw"
peer_refuses qemu-img convert -O qcow2 img.raw out.qcow2
expect_fail 1 "img.raw: $busy" "so does ukit-pack convert" \
	ukit-pack convert -O qcow2 img.raw out.qcow2
expect_fail 1 "img.raw: $busy" "and compare" \
	ukit-pack compare img.raw in.raw
check "info reads it, as qemu-img info does" ukit-pack info img.raw
check "convert -U -O qcow2 reads it" ukit-pack convert -U -O qcow2 img.raw out.qcow2
check "qemu-img check accepts that output" qemu-img check -q out.qcow2
release

hold qcow2 base.qcow2 || not_ok "qemu-io did not lock base.qcow2"
expect_fail 1 "backing file 'base.qcow2': $busy" \
	"a backing file held for writing is refused through its overlay" \
	ukit-pack compare --allow-backing top.qcow2 top.raw
check "compare -U --allow-backing reads the chain" \
	ukit-pack compare -U --allow-backing top.qcow2 top.raw
release

hold qcow2 img.qcow2 -r || not_ok "read-only qemu-io did not lock img.qcow2"
check "a read-only holder does not stop info" ukit-pack info img.qcow2
check "nor convert" ukit-pack convert -O raw img.qcow2 out2.raw
same_file "which reads the same bytes" q.raw out2.raw
release

# an exclusive lock on a byte ukit locks for reading (QEMU takes none,
# but a POSIX one from another program conflicts as well)
"$PY" -c '
import fcntl, os, sys, time
f = open(sys.argv[1], "r+b")
fcntl.lockf(f, fcntl.LOCK_EX, 1, 201)
open(sys.argv[2], "w").close()
time.sleep(120)' img.raw xlocked &
holder=$!
for _ in $(seq 200); do [ -e xlocked ] && break; sleep 0.05; done
expect_fail 1 "img.raw: in use: another process holds an exclusive lock on byte 201; stop it first" \
	"an exclusive lock on byte 201 is refused, with the byte" \
	ukit-pack compare img.raw in.raw
check "-U reads it" ukit-pack compare -U img.raw in.raw
release

# an output that a QEMU has open (here read-only) is not replaced under it
cp img.qcow2 target.qcow2
cp target.qcow2 target.orig
hold qcow2 target.qcow2 -r || not_ok "qemu-io did not lock target.qcow2"
peer_refuses qemu-img convert -O qcow2 in.raw target.qcow2
expect_fail 1 "target.qcow2: in use: another process has it open (QEMU's image lock, byte 100)" \
	"so does ukit-pack convert" ukit-pack convert -O qcow2 in.raw target.qcow2
same_file "the target is untouched" target.orig target.qcow2
[ -z "$(ls -A | grep '^\.target')" ] && ok "no temporary file left" ||
	not_ok "temporary files left: $(ls -A | grep '^\.target')"
check "convert -U replaces it" ukit-pack convert -U -O qcow2 in.raw target.qcow2
check "with the new content" ukit-pack compare -U target.qcow2 in.raw
release
check "converting an image onto itself is not 'in use'" \
	ukit-pack convert -O qcow2 -c zstd img.qcow2 img.qcow2
check "and keeps its content" ukit-pack compare img.qcow2 in.raw

# ukit's own locks: stop a convert while it holds the input open, then a
# qemu-io that wants to write must be refused, as it is for qemu-img
ukit-pack convert -q -j 1 -c zlib --level 9 -O qcow2 img.raw held.qcow2 &
up=$!
seen=0
for _ in $(seq 2000); do
	if locked img.raw 201; then
		kill -STOP "$up" && seen=1
		break
	fi
	kill -0 "$up" 2>/dev/null || break
	sleep 0.001
done
if [ $seen = 1 ]; then
	ok "convert holds QEMU's lock bytes while it reads"
	qemu-io -f raw -c 'write -P 1 0 512' img.raw >"$T/qio.out" 2>&1
	rc=$?
	[ $rc -ne 0 ] && grep -q 'Failed to get "write" lock' "$T/qio.out" &&
		ok "qemu-io cannot open the input for writing meanwhile" ||
		not_ok "qemu-io wrote the input during convert (exit $rc: $(head -c 300 "$T/qio.out"))"
	kill -CONT "$up"
else
	not_ok "convert finished before its lock was seen in /proc/locks"
fi
wait "$up"
rc=$?
[ $rc -eq 0 ] && ok "the stopped convert finishes (exit 0)" ||
	not_ok "the stopped convert exited $rc"
check "its output equals the input" ukit-pack compare held.qcow2 in.raw
locked img.raw 201 &&
	not_ok "a lock on img.raw is left after convert" ||
	ok "no lock is left after convert"

done_testing
