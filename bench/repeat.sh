#!/bin/bash
# bench/repeat.sh N OUT -- LABEL CMD... [-- LABEL CMD...]: run each command
# N times, alternating between them (rm -f OUT; sync before each run), and
# print per command the fastest and the median wall time and the CPU time
# (user + sys) of the fastest run.  For close comparisons on a machine
# whose speed drifts: bench/pack.sh takes the best of a few runs per tool
# in a row, this interleaves them.  Not part of make check.
#
#   bash bench/repeat.sh 7 out.qcow2 -- ukit build/bin/ukit-pack convert -q \
#       -O qcow2 -c zstd in.raw out.qcow2 -- qemu qemu-img convert -W -m 16 \
#       -c -o compression_type=zstd -O qcow2 in.raw out.qcow2
set -u
n=$1 out=$2
shift 2
labels=() cmds=()
while [ $# -gt 0 ]; do
	[ "$1" = -- ] && shift
	[ $# -gt 0 ] || break
	label=$1
	shift
	cmd=""
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		cmd="$cmd $(printf '%q' "$1")"
		shift
	done
	labels+=("$label")
	cmds+=("$cmd")
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; rm -f "$out"' EXIT
for _ in $(seq "$n"); do
	for k in "${!labels[@]}"; do
		rm -f "$out"
		sync
		/usr/bin/time -f '%e %U %S' -o "$tmp/t" bash -c "${cmds[$k]} >/dev/null 2>&1"
		cat "$tmp/t" >>"$tmp/$k"
	done
done
for k in "${!labels[@]}"; do
	sort -n "$tmp/$k" | awk -v l="${labels[$k]}" '
		{ w[NR] = $1; c[NR] = $2 + $3 }
		END { printf "%-12s min %.3f s  median %.3f s  cpu of fastest %.2f s\n",
		      l, w[1], w[int((NR + 1) / 2)], c[1] }'
done
