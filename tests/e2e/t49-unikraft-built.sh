#!/bin/bash
# t49-unikraft-built: a real Unikraft unikernel (app-helloworld, KVM
# platform, x86_64) boots from ukit disks, raw and qcow2, under SeaBIOS
# and OVMF (TCG), gets the --cmdline words as its argv after the name
# "kernel" (as QEMU's -kernel gives them after the file's name) and shuts
# down; the disk's copy of it has its empty PT_LOAD (tls_load), which
# GRUB refuses, as PT_NULL; ukit-pack info names it; ukit-pack oci build
# takes it for Unikraft (urunc's and kraftkit's annotations, amd64
# although its Multiboot file is ELF32 i386); ukit-sign signs it and
# ukit-verify --exec runs QEMU on exactly the verified bytes.
# Unikraft is not packaged for Debian: set UNIKRAFT_BUILD to the built
# kernel (BUILD/helloworld_qemu-x86_64) or to its build directory to run
# it (README.md says how to build it); skipped otherwise.  The app must
# print its arguments (CONFIG_APPHELLOWORLD_PRINTARGS, the default) and
# boot under TCG: QEMU's TCG has no RDSEED, so build it without
# CONFIG_LIBUKRANDOM, which needs one ("Could not initialize the HWRNG").
. "$(dirname "$0")/lib.sh"

U=${UNIKRAFT_BUILD:-}
K=
if [ -f "$U" ]; then
	K=$U
elif [ -d "$U" ]; then
	for f in "$U"/*_qemu-x86_64 "$U"/build/*_qemu-x86_64; do
		[ -f "$f" ] && K=$f && break
	done
fi
if [ -z "$K" ]; then
	skip "UNIKRAFT_BUILD not set (no built Unikraft kernel *_qemu-x86_64)"
	done_testing
	exit 0
fi
OVMF_CODE=/usr/share/OVMF/OVMF_CODE.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS.fd
for tool in qemu-system-x86_64 qemu-img grub-mkimage mformat mcopy sgdisk; do
	if ! command -v $tool >/dev/null; then
		missing "no $tool"
		done_testing
		exit 0
	fi
done
if [ ! -r $OVMF_CODE ]; then
	missing "no OVMF"
	done_testing
	exit 0
fi
export SOURCE_DATE_EPOCH=1700000000
diag "kernel: $K ($(stat -c %s "$K") bytes)"

# qemu NAME TIMEOUT QEMU-ARGS...: run QEMU (TCG), its serial line in
# NAME.out, until it exits or TIMEOUT seconds (or 2 seconds after the
# app printed its arguments); its exit status in NAME.rc, "running" if
# it was stopped.  Unikraft's QEMU platform shuts down through an
# isa-debug-exit device at 0x501, with 41 (QEMU exits (41 << 1) | 1 = 83;
# 42, 85, when it crashed); without one it kept running under OVMF here
qemu() {
	local name=$1 to=$2 pid i rc
	shift 2
	qemu-system-x86_64 -accel tcg -m 128 -nographic -display none \
		-monitor none -no-reboot -serial file:"$T/$name.serial" \
		-device isa-debug-exit,iobase=0x501,iosize=2 "$@" \
		</dev/null >"$T/$name.qemu" 2>&1 &
	pid=$!
	for ((i = 0; i < to; i++)); do
		kill -0 $pid 2>/dev/null || break
		if grep -aq '^Arguments:' "$T/$name.serial" 2>/dev/null; then
			sleep 2
			break
		fi
		sleep 1
	done
	rc=running
	if ! kill -0 $pid 2>/dev/null; then
		wait $pid
		rc=$?
	else
		kill $pid 2>/dev/null
		wait $pid 2>/dev/null
	fi
	echo $rc >"$T/$name.rc"
	tr -d '\r' <"$T/$name.serial" >"$T/$name.out"
}
args() {  # args NAME: the app's argument line
	grep -a '^Arguments:' "$T/$1.out" 2>/dev/null | head -n 1
}

# ---- the reference: QEMU's own Multiboot loader ---------------------
qemu ref 120 -kernel "$K" -append 'a b "c d"'
if grep -aqx 'Hello world!' "$T/ref.out"; then
	ok "qemu -kernel: the kernel says Hello world!"
	check "qemu -kernel: it shuts down (QEMU exit 83)" test "$(cat "$T/ref.rc")" = 83
else
	not_ok "qemu -kernel: no 'Hello world!' from $K"
	grep -aq 'Could not initialize the HWRNG' "$T/ref.out" &&
		diag "it needs RDSEED, which TCG lacks: build it without CONFIG_LIBUKRANDOM"
	tail -c 600 "$T/ref.out" | tr -d '\033' | sed 's/^/#   /'
fi
diag "$(grep -a -m1 -E '^ +[A-Z][a-z]+ [0-9]+\.[0-9]+' "$T/ref.out" | sed 's/^ *//')"
ref=$(args ref)
check "qemu -kernel: argv[0] is the file's name, then the words" \
	test "$ref" = "Arguments:  \"$K\" \"a\" \"b\" \"c d\""

# ---- disks ------------------------------------------------------------
check "disk -O raw --cmdline \"a b 'c d'\"" ukit-pack disk -O raw \
	--cmdline "a b 'c d'" "$K" "$T/uk.raw"
cp "$T/.err" "$T/raw.err"
check "disk -O qcow2 -c zlib --cmdline \"x=1 'two words'\"" ukit-pack disk \
	-O qcow2 -c zlib --cmdline "x=1 'two words'" "$K" "$T/uk.qcow2"
check "qcow2: qemu-img check clean" qemu-img check "$T/uk.qcow2"
check "raw: sgdisk -v: no problems" sh -c "sgdisk -v '$T/uk.raw' | grep -q 'No problems found'"

# Unikraft's x86_64 linker script gives the kernel an empty PT_LOAD
# (tls_load) inside its data segment, which GRUB refuses ("overlap
# detected"): the disk's copy has those, and only those, as PT_NULL
"$PY" - "$K" >"$T/empty.want" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
is64 = b[4] == 2
phoff = struct.unpack_from("<Q" if is64 else "<I", b, 32 if is64 else 28)[0]
ent, num = struct.unpack_from("<HH", b, 54 if is64 else 42)
seg = []
for i in range(num):
    o = phoff + ent * i
    if is64:
        t, _, _, _, pa, _, ms = struct.unpack_from("<IIQQQQQ", b, o)
    else:
        t, _, _, pa, _, ms = struct.unpack_from("<6I", b, o)
    if t == 1:
        seg.append((o, pa, ms))
for o, pa, ms in seg:
    if ms == 0 and any(m and p <= pa < p + m for _, p, m in seg):
        print(o + 1, 1, 0)   # as cmp -l says it: 1-based, octal bytes
PY
esp=$(sgdisk -p "$T/uk.raw" | awk '$6 == "EF00" { print $2 * 512 }')
mcopy -i "$T/uk.raw@@$esp" ::/kernel "$T/kernel.back" 2>/dev/null
cmp -l "$K" "$T/kernel.back" | awk '{ print $1, $2, $3 }' >"$T/empty.got"
if [ -s "$T/empty.want" ]; then
	check "the ESP's kernel: the empty PT_LOADs inside others made PT_NULL, no other byte" \
		cmp "$T/empty.want" "$T/empty.got"
	check "... and a note says so" grep -q \
		"note: disk: .*: the program header at offset 0x[0-9a-f]* is an empty PT_LOAD inside another" \
		"$T/raw.err"
else
	check "the ESP's kernel is the input kernel" test ! -s "$T/empty.got"
fi

boot() {  # boot NAME FIRMWARE DISK FORMAT
	local name=$1 fw=$2 disk=$3 fmt=$4 fwopts=() to=150
	if [ "$fw" = uefi ]; then
		cp $OVMF_VARS "$T/$name.vars"
		fwopts=(-drive if=pflash,format=raw,readonly=on,file=$OVMF_CODE
			-drive if=pflash,format=raw,file="$T/$name.vars")
		to=300
	fi
	qemu "$name" $to "${fwopts[@]}" \
		-drive file="$disk",format="$fmt",if=ide,snapshot=on
}
boot raw-bios bios "$T/uk.raw" raw &
boot raw-uefi uefi "$T/uk.raw" raw &
boot qcow2-bios bios "$T/uk.qcow2" qcow2 &
boot qcow2-uefi uefi "$T/uk.qcow2" qcow2 &
wait

booted() {  # booted NAME WORDS: Hello world!, argv "kernel" WORDS, shut down
	local name=$1 want=$2 got rc
	got=$(args "$name")
	rc=$(cat "$T/$name.rc")
	if grep -aqx 'Hello world!' "$T/$name.out" && [ "$got" = "$want" ] &&
		[ "$rc" = 83 ]; then
		ok "$name: Hello world!, $got, shut down (QEMU exit $rc)"
	else
		not_ok "$name: QEMU exit $rc (want 83): '$got' (want '$want')"
		tail -c 600 "$T/$name.out" | tr -d '\033' | sed 's/^/#   /'
	fi
}
booted raw-bios 'Arguments:  "kernel" "a" "b" "c d"'
booted raw-uefi 'Arguments:  "kernel" "a" "b" "c d"'
booted qcow2-bios 'Arguments:  "kernel" "x=1" "two words"'
booted qcow2-uefi 'Arguments:  "kernel" "x=1" "two words"'
# after argv[0], the disk gives what QEMU's -kernel gives
got=$(args raw-bios)
check "argv after argv[0]: the disk's are qemu -kernel's" \
	test "${got#Arguments:  \"kernel\"}" = "${ref#Arguments:  \"$K\"}"

# ---- ukit-pack info ---------------------------------------------------
ukit-pack info "$T/uk.qcow2" >"$T/info" 2>&1
check "info: the disk's kernel, its size" \
	grep -qx "kernel: /kernel ($(stat -c %s "$K") bytes)" "$T/info"
check "info: GRUB's configuration passes kernel x=1 'two words'" \
	grep -qx "    multiboot .* kernel 'x=1' 'two words'" "$T/info"

# ---- OCI: urunc's and kraftkit's annotations --------------------------
check "oci build --target qemu --cmdline" ukit-pack oci build "$K" \
	--target qemu --cmdline "x y" -o oci:"$T/lay":t
"$PY" - "$T/lay" t >"$T/oci" <<'PY'
import json, sys
d, tag = sys.argv[1:]
ix = json.load(open(d + "/index.json"))
m = [x for x in ix["manifests"] if x["annotations"]["org.opencontainers.image.ref.name"] == tag][0]
man = json.load(open(d + "/blobs/sha256/" + m["digest"][7:]))
cfg = json.load(open(d + "/blobs/sha256/" + man["config"]["digest"][7:]))
print("architecture", cfg["architecture"])
for k, v in sorted(man["annotations"].items()):
    if not k.startswith("org.opencontainers."):
        print(k, v)
PY
cat >"$T/oci.want" <<'EOF'
architecture amd64
com.urunc.unikernel.binary /unikraft/bin/kernel
com.urunc.unikernel.cmdline x y
com.urunc.unikernel.hypervisor qemu
com.urunc.unikernel.mountRootfs false
com.urunc.unikernel.unikernelType unikraft
org.unikraft.kernel.arch x86_64
org.unikraft.kernel.image /unikraft/bin/kernel
org.unikraft.kernel.plat qemu
EOF
same_file "oci: unikraft, qemu, amd64 / x86_64, /unikraft/bin/kernel" "$T/oci.want" "$T/oci"
check "oci extract: the kernel" ukit-pack oci extract oci:"$T/lay":t \
	--kernel-out "$T/k.out"
same_file "oci: the image's kernel is the input kernel" "$K" "$T/k.out"

# ---- sign, verify, run the verified bytes -----------------------------
ukit-sign keygen --no-passphrase --type ecdsa-p256 "$T/key" >/dev/null 2>&1
cp "$K" "$T/hello"
check "sign the kernel (rollback 3)" ukit-sign sign --key "$T/key.key" \
	--rollback 3 "$T/hello"
check "ukit-verify: verified, format elf, rollback >= 3" ukit-verify \
	--pub "$T/key.pub" --require-format elf --min-rollback 3 "$T/hello"
st=0
ukit-verify --pub "$T/key.pub" "$T/hello" --exec timeout 120 \
	qemu-system-x86_64 -accel tcg -m 128 -nographic -display none \
	-monitor none -no-reboot -kernel {} -append 'from ukit-verify' \
	</dev/null >"$T/exec.raw" 2>&1 || st=$?
tr -d '\r' <"$T/exec.raw" >"$T/exec.out"
check "ukit-verify --exec qemu -kernel {}: exit 0, the kernel ran with its words" \
	sh -c "[ $st = 0 ] && grep -aq '^Arguments:  \"[^\"]*\" \"from\" \"ukit-verify\"\$' '$T/exec.out'"
flip_byte "$T/hello" 4096
st=0
ukit-verify --pub "$T/key.pub" "$T/hello" --exec qemu-system-x86_64 \
	-kernel {} >"$T/bad.out" 2>&1 </dev/null || st=$?
check "a changed byte: exit 1, QEMU never runs" \
	sh -c "[ $st = 1 ] && ! grep -aq 'Hello' '$T/bad.out'"
check "sign the raw disk" ukit-sign sign --key "$T/key.key" "$T/uk.raw"
check "ukit-verify the raw disk (format raw)" ukit-verify --pub "$T/key.pub" \
	--require-format raw "$T/uk.raw"
done_testing
