#!/bin/bash
# bench/elftool.sh: query-manifest cost against file size.
#
# Builds a small Solo5-style ELF and a 1 GiB one (manifest note near the
# start, then 1 GiB of random bytes in a PT_LOAD: real data, not a sparse
# hole) with tests/gen/mkelf.sh, then times N runs of each command and
# prints the mean per run: /bin/true and `ukit-elftool --version` (process
# start-up), query-manifest on the small and on the big ELF.  The two
# queries must cost the same within noise: ukit reads headers and notes
# only.  solo5-elftool is not packaged for Debian: with SOLO5_SRC (a
# checkout of Solo5's source) the script builds it into the data directory
# (nothing of it is kept) and times its query-manifest beside ukit's, on
# the same small ELF, and prints the ratio (goal <= 1.3).
#
# usage: bench/elftool.sh [N]   (default 500)
# env:   UKIT_BIN (default build/bin), BENCHDIR (default
#        ${TMPDIR:-/tmp}/ukit-bench/h2-elfnotes), SIZE_MB (default 1024),
#        SOLO5_SRC (a Solo5 source tree: compare with its solo5-elftool)
# Run under `flock /tmp/ukit-bench.lock bench/elftool.sh`.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-500}
BIN=${UKIT_BIN:-$top/build/bin}
DIR=${BENCHDIR:-${TMPDIR:-/tmp}/ukit-bench/h2-elfnotes}
SIZE_MB=${SIZE_MB:-1024}
note=$top/../shared/data/solo5/m03-net-block/note.hex
mkdir -p "$DIR"
trap 'rm -rf "$DIR"' EXIT

bash "$top/tests/gen/mkelf.sh" -m "$note" "$DIR/small.elf"
head -c $((SIZE_MB << 20)) /dev/urandom >"$DIR/blob"
bash "$top/tests/gen/mkelf.sh" -m "$note" -d "$DIR/blob" "$DIR/big.elf"
rm -f "$DIR/blob"
"$BIN/ukit-elftool" query-manifest "$DIR/small.elf" >"$DIR/a.json"
"$BIN/ukit-elftool" query-manifest "$DIR/big.elf" >"$DIR/b.json"
cmp "$DIR/a.json" "$DIR/b.json"
echo "small.elf: $(stat -c %s "$DIR/small.elf") bytes;" \
	"big.elf: $(stat -c %s "$DIR/big.elf") bytes," \
	"$(du -k "$DIR/big.elf" | cut -f1) KiB allocated"

# mean microseconds per run of "$@" over N runs
mean_us() {
	local s e
	s=$(date +%s%N)
	for ((i = 0; i < N; i++)); do "$@" >/dev/null; done
	e=$(date +%s%N)
	echo $(((e - s) / N / 1000))
}

declare -A sum
names=(true version small big)
for k in "${names[@]}"; do sum[$k]=0; done
rounds=3
for ((r = 1; r <= rounds; r++)); do
	t=$(mean_us /bin/true); sum[true]=$((sum[true] + t))
	v=$(mean_us "$BIN/ukit-elftool" --version); sum[version]=$((sum[version] + v))
	s=$(mean_us "$BIN/ukit-elftool" query-manifest "$DIR/small.elf"); sum[small]=$((sum[small] + s))
	b=$(mean_us "$BIN/ukit-elftool" query-manifest "$DIR/big.elf"); sum[big]=$((sum[big] + b))
	echo "round $r ($N runs each): /bin/true ${t} us, --version ${v} us," \
		"query-manifest small ${s} us, 1 GiB ${b} us"
done
for k in "${names[@]}"; do sum[$k]=$((sum[$k] / rounds)); done
echo "mean per run: /bin/true ${sum[true]} us; ukit-elftool --version ${sum[version]} us;" \
	"query-manifest small ${sum[small]} us; 1 GiB ${sum[big]} us"
awk -v s="${sum[small]}" -v b="${sum[big]}" -v v="${sum[version]}" 'BEGIN {
	printf "ratio 1 GiB / small: %.3f; query-manifest over --version: small %+d us, 1 GiB %+d us\n", b / s, s - v, b - v }'

# The peer, built from its source when given: the same query, same file.
if [ -n "${SOLO5_SRC:-}" ]; then
	src=$DIR/solo5
	mkdir -p "$src"
	cp -r "$SOLO5_SRC/elftool" "$SOLO5_SRC/include" "$src/"
	mkdir -p "$src/tenders"
	cp -r "$SOLO5_SRC/tenders/common" "$src/tenders/"
	echo '#define SOLO5_VERSION "bench"' >"$src/elftool/version.h"
	# no -I of tenders/common: its elf.h must not hide the system's
	cc -std=c11 -D_DEFAULT_SOURCE -O2 -I"$src/include" -I"$src/elftool" \
		-o "$DIR/solo5-elftool" "$src/elftool/elftool.c"
	"$DIR/solo5-elftool" query-manifest "$DIR/small.elf" >"$DIR/s.json"
	cmp "$DIR/a.json" "$DIR/s.json"
	ps=0 pu=0
	for ((r = 1; r <= rounds; r++)); do
		a=$(mean_us "$DIR/solo5-elftool" query-manifest "$DIR/small.elf")
		b=$(mean_us "$BIN/ukit-elftool" query-manifest "$DIR/small.elf")
		ps=$((ps + a)) pu=$((pu + b))
		echo "round $r: solo5-elftool ${a} us, ukit-elftool ${b} us"
	done
	awk -v a="$ps" -v b="$pu" -v t="${sum[true]}" -v r="$rounds" 'BEGIN {
		printf "query-manifest small: solo5-elftool %d us, ukit-elftool %d us, ratio %.2f (process start-up alone: %d us)\n", a / r, b / r, b / a, t }'
fi
