#!/bin/bash
# bench/set-manifest.sh: set-manifest on a 1 GiB unikernel against its
# peer, objcopy --update-section.
#
# Builds a Solo5-style ELF with tests/gen/mkelf.sh holding a 1-device
# manifest and 1 GiB of random bytes in a PT_LOAD (real data, not a hole),
# then times, best of R runs each, writing a new file every time:
#   cp           coreutils cp (a plain copy, the floor for any tool that
#                writes a new file)
#   objcopy      objcopy --update-section .note.solo5.manifest=NOTE, a
#                same-size manifest (the note bytes from gen-manifest)
#   ukit inplace ukit-elftool set-manifest, same-size manifest (in place)
#   ukit grow    ukit-elftool set-manifest, 3-device manifest (new
#                PT_NOTE, program header table moved to the end)
# and checks that both tools' outputs query back the new manifest.
#
# usage: bench/set-manifest.sh [R]   (default 3)
# env:   UKIT_BIN (default build/bin), BENCHDIR (default
#        $TMPDIR/ukit-bench/h3-elfedit), SIZE_MB (default 1024)
# Run under `flock /tmp/ukit-bench.lock bench/set-manifest.sh`.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
R=${1:-3}
BIN=${UKIT_BIN:-$top/build/bin}
DIR=${BENCHDIR:-${TMPDIR:-/tmp}/ukit-bench/h3-elfedit}
SIZE_MB=${SIZE_MB:-1024}
D=$top/../shared/data/solo5
mkdir -p "$DIR"
trap 'rm -rf "$DIR"' EXIT

head -c $((SIZE_MB << 20)) /dev/urandom >"$DIR/blob"
bash "$top/tests/gen/mkelf.sh" -m "$D/m01-net/note.hex" -d "$DIR/blob" "$DIR/big.elf"
rm -f "$DIR/blob"
printf '{"type":"solo5.manifest","version":1,"devices":[{"name":"other","type":"BLOCK_BASIC"}]}' >"$DIR/same.json"
"$BIN/ukit-elftool" gen-manifest --format note "$DIR/same.json" "$DIR/same.note"
echo "big.elf: $(stat -c %s "$DIR/big.elf") bytes"

# best wall-clock seconds of R runs of "$@" (output removed between runs)
best() {
	local b= t s e
	for _ in $(seq 1 "$R"); do
		rm -f "$DIR/out"
		sync
		s=$(date +%s.%N)
		"$@" >/dev/null
		e=$(date +%s.%N)
		t=$(echo "$e - $s" | bc)
		if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
	done
	echo "$b"
}

t_cp=$(best cp "$DIR/big.elf" "$DIR/out")
t_objcopy=$(best objcopy --update-section .note.solo5.manifest="$DIR/same.note" "$DIR/big.elf" "$DIR/out")
"$BIN/ukit-elftool" query-manifest "$DIR/out" >"$DIR/objcopy.json"
t_in=$(best "$BIN/ukit-elftool" set-manifest "$DIR/same.json" "$DIR/big.elf" -o "$DIR/out")
"$BIN/ukit-elftool" query-manifest "$DIR/out" >"$DIR/ukit.json"
cmp "$DIR/objcopy.json" "$DIR/ukit.json"
grep -q '"other"' "$DIR/ukit.json"
t_grow=$(best "$BIN/ukit-elftool" set-manifest "$D/m03-net-block/manifest.json" "$DIR/big.elf" -o "$DIR/out")
"$BIN/ukit-elftool" query-manifest "$DIR/out" | cmp - "$D/m03-net-block/query-manifest.json"

printf '%-14s %8s s\n' cp "$t_cp" objcopy "$t_objcopy" "ukit inplace" "$t_in" "ukit grow" "$t_grow"
printf 'objcopy / ukit inplace: %.1fx\n' "$(echo "$t_objcopy / $t_in" | bc -l)"
