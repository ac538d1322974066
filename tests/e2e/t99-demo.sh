#!/bin/bash
# t99-demo: `make demo` keeps working: the demo script runs the whole main
# job (build, embed, query, convert, sign, verify, tamper; a bootable disk
# booted under QEMU; an OCI image signed in its layout, pushed with its
# signature to a registry and verified there, pulled with --verify-pub
# and verified again offline, its disk booted; a re-tagged image signed
# by another key refused) and exits 0 only if every refusal happened.
. "$(dirname "$0")/lib.sh"

for t in qemu-system-x86_64 grub-mkimage mformat docker-registry; do
	if ! command -v $t >/dev/null; then
		missing "no $t"
		done_testing
		exit 0
	fi
done

if sh "$TOP/tests/demo.sh" >"$T/demo.out" 2>&1; then
	ok "demo runs to the end"
else
	not_ok "demo failed"
	tail -n 20 "$T/demo.out" | sed 's/^/#   /'
fi
check "demo queried the grown manifest" grep -q '"name": "admin"' "$T/demo.out"
check "demo's qcow2 round trip compared equal" grep -q 'Images are identical' "$T/demo.out"
check "demo's tampered kernel failed verification" \
	grep -q 'differs from the signed digest' "$T/demo.out"
# the kernel's own line on COM1: "kernel" (its name), then --cmdline
check "demo's disk booted under QEMU, the kernel printed its command line" \
	grep -qx 'disk.qcow2 booted, COM1: ukit-mb: kernel hello from ukit' "$T/demo.out"
check "demo signed the image in its layout" \
	grep -Eq '^signed oci:image:1\.0 sha256:[0-9a-f]{64}: signature sha256:' "$T/demo.out"
check "demo pushed the layout's signature with the image" \
	grep -Eq '^ukit-pack: oci push: 1 signature pushed with docker://127\.0\.0\.1:[0-9]+/demo/hello:1\.0$' "$T/demo.out"
check "demo verified the pushed image at the registry, signed only in the layout" \
	grep -Eq '^verified docker://127\.0\.0\.1:[0-9]+/demo/hello:1\.0 sha256:[0-9a-f]{64}: key ' "$T/demo.out"
check "demo's device pulled the image with the signature verified" \
	grep -Eq '^\(signature verified with release\.pub; the device holds sha256:[0-9a-f]{64}\)$' "$T/demo.out"
check "demo's device verified its pulled layout offline" \
	grep -Eq '^verified oci:device:1\.0 sha256:[0-9a-f]{64}: key ' "$T/demo.out"
check "the disk extracted from the verified image booted" \
	grep -qx 'device.qcow2 booted, COM1: ukit-mb: kernel hello from ukit' "$T/demo.out"
check "the image signed by another key was refused, nothing written" \
	grep -Eq '^ukit-pack: docker://127\.0\.0\.1:[0-9]+/demo/hello:1\.0: sha256:[0-9a-f]{64}: signature check failed, nothing written: signature does not verify with any pinned key$' "$T/demo.out"
check "and the device kept the verified image" \
	grep -Eq '^\(exit 1: the pull refused it; the device still holds sha256:[0-9a-f]{64}\)$' "$T/demo.out"
# the EXIT trap stopped the registry: nothing listens on its port now
port=$(sed -n 's/.*# on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/demo.out")
check "the demo's registry ran on 127.0.0.1:$port and is stopped" "$PY" -c '
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)
except ConnectionRefusedError:
    sys.exit(0)
sys.exit("still listening")' "$port"
done_testing
