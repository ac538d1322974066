#!/bin/bash
# t11-object-chain: gen-manifest --format object, linked into a tiny
# Solo5-style ELF (gcc -nostdlib, tests/gen/solo5.ld: the manifest in a
# PT_NOTE of its own, an ABI1 note in another), queries back to exactly
# Solo5's query-manifest output, for 0, 1, 2 and 63 devices on x86_64 and
# aarch64 (and ppc64le).  No C compiler touches the manifest itself: the
# object links as ukit wrote it.
. "$(dirname "$0")/lib.sh"

D=$SHARED/data/solo5
have() { command -v "$1" >/dev/null 2>&1; }

# The rest of the unikernel: the OpenBSD identification note Solo5's
# tenders expect first, an ABI1 note (hvt, version 2) and an entry point
# that references the manifest symbol as virtio/xen/muen bindings do.
cat >"$T/start.S" <<'EOF'
	.section .note.solo5.not_openbsd,"a",@note
	.balign 4
	.long 8, 4, 1
	.asciz "OpenBSD"
	.long 0
	.section .note.solo5.abi,"a",@note
	.balign 4
	.long 6, 16, 0x31494241
	.asciz "Solo5"
	.balign 4
	.long 1, 2, 0, 0
	.section .rodata
	.balign 8
	.globl mft_ref
mft_ref:
	.quad __solo5_mft1_note
	.text
	.globl _start
_start:
	nop
	.section .note.GNU-stack,"",@progbits
EOF

for pair in x86_64:gcc aarch64:aarch64-linux-gnu-gcc ppc64le:powerpc64le-linux-gnu-gcc; do
	arch=${pair%%:*} cc=${pair#*:}
	if ! have "$cc"; then
		missing "$arch: $cc not installed"
		continue
	fi
	for c in m00-empty m01-net m03-net-block m63-max; do
		o=$T/$c.$arch.o elf=$T/$c.$arch.elf
		if ! ukit-elftool gen-manifest --format object --arch "$arch" \
			"$D/$c/manifest.json" "$o" 2>"$T/gen.err"; then
			not_ok "$arch $c: gen-manifest ($(head -c 300 "$T/gen.err"))"
			continue
		fi
		if ! "$cc" -nostdlib -static -no-pie -Wl,--build-id=none \
			-Wl,-T,"$TOP/tests/gen/solo5.ld" -o "$elf" "$T/start.S" "$o" \
			2>"$T/ld.err" || [ -s "$T/ld.err" ]; then
			not_ok "$arch $c: link ($(head -c 300 "$T/ld.err"))"
			continue
		fi
		readelf -lW "$elf" >"$T/phdr" 2>"$T/re.err"
		n=$(grep -c '^ *NOTE ' "$T/phdr")
		if [ "$n" -eq 3 ] && [ ! -s "$T/re.err" ]; then
			ok "$arch $c: linked ELF has 3 PT_NOTEs, readelf clean"
		else
			not_ok "$arch $c: $n PT_NOTEs ($(head -c 200 "$T/re.err"))"
		fi
		if ukit-elftool query-manifest "$elf" >"$T/q.json" 2>"$T/q.err"; then
			same_file "$arch $c: query-manifest == Solo5's output" \
				"$D/$c/query-manifest.json" "$T/q.json"
		else
			not_ok "$arch $c: query-manifest exit $? ($(head -c 300 "$T/q.err"))"
		fi
	done
	# the symbol resolved to the note's address
	sym=$(readelf -sW "$T/m01-net.$arch.elf" | awk '$8 == "__solo5_mft1_note" { print $2 }')
	sec=$(readelf -SW "$T/m01-net.$arch.elf" | sed -n 's/.*\.note\.solo5\.manifest *NOTE *\([0-9a-f]*\) .*/\1/p')
	if [ -n "$sym" ] && [ "$sym" = "$sec" ]; then
		ok "$arch: __solo5_mft1_note is the note's address ($sym)"
	else
		not_ok "$arch: symbol '$sym' vs section '$sec'"
	fi
done

done_testing
