#!/bin/bash
# bench/verity.sh: dm-verity roots, ukit vs veritysetup, and parallel
# verify --verity-only vs the streaming SHA-256 verify.  Not part of make
# check.  Run under the bench lock:
#   flock /tmp/ukit-bench.lock bash bench/verity.sh [DIR]
# DIR (default $TMPDIR/ukit-bench/h7) holds the generated images and is
# removed afterwards.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${UKIT_BIN:-$top/build/bin}
dir=${1:-${TMPDIR:-/tmp}/ukit-bench/h7}
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
VS="veritysetup --no-superblock --salt=- --hash=sha256 --data-block-size=4096 --hash-block-size=4096"

# secs CMD...: wall-clock seconds of one run (output discarded)
secs() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l | xargs printf '%.3f'
}
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.3f'; }
# cpu CMD...: user+sys seconds of one run (the machine may be shared)
cpu() {
	/usr/bin/time -f '%U %S' -o "$dir/.time" "$@" >/dev/null 2>&1
	awk '{ printf "%.3f", $1 + $2 }' "$dir/.time"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"

echo "== verity root: 4 GiB image, 10% data (41 runs of 10 MiB, random)"
img=$dir/sparse4g.img
truncate -s 4G "$img"
for i in $(seq 0 40); do
	head -c $((10 << 20)) /dev/urandom |
		dd of="$img" bs=1M seek=$((i * 100)) conv=notrunc status=none
done
sync
cat "$img" >/dev/null    # same page cache state for both tools
rm -f "$dir/vs.hash" "$dir/u.hash"
t_vs=$(secs $VS format "$img" "$dir/vs.hash")
t_u=$(secs "$bin/ukit-sign" verity "$img")
t_uh=$(secs "$bin/ukit-sign" verity --hash-file "$dir/u.hash" "$img")
r_vs=$($VS format "$img" "$dir/vs2.hash" | sed -n 's/^Root hash:[[:space:]]*//p')
r_u=$("$bin/ukit-sign" verity "$img")
[ "$r_vs" = "$r_u" ] || { echo "ROOTS DIFFER: $r_vs $r_u"; exit 1; }
cmp "$dir/vs.hash" "$dir/u.hash" || { echo "HASH FILES DIFFER"; exit 1; }
rm -f "$dir"/*.hash
c_vs=$(cpu $VS format "$img" "$dir/vs.hash")
c_u=$(cpu "$bin/ukit-sign" verity "$img")
c_uh=$(cpu "$bin/ukit-sign" verity --hash-file "$dir/u.hash" "$img")
echo "veritysetup format:            ${t_vs} s wall, ${c_vs} s cpu"
echo "ukit-sign verity (all cores):  ${t_u} s wall, ${c_u} s cpu  ratio $(ratio "$t_u" "$t_vs") wall"
echo "ukit-sign verity --hash-file:  ${t_uh} s wall, ${c_uh} s cpu  ratio $(ratio "$t_uh" "$t_vs") wall"
rm -f "$img" "$dir"/*.hash

echo "== verify: 1 GiB dense raw disk, --verity-only (all cores) vs streaming"
img=$dir/dense1g.img
head -c 1G /dev/urandom >"$img"
"$bin/ukit-sign" keygen --type ecdsa-p256 "$dir/k" >/dev/null
"$bin/ukit-sign" sign -q --key "$dir/k.key" -o "$dir/plain.json" "$img"
"$bin/ukit-sign" sign -q --key "$dir/k.key" --verity -o "$dir/verity.json" "$img"
cat "$img" >/dev/null
for i in 1 2; do   # second round: warm cache, report it
	t_s=$(secs "$bin/ukit-sign" verify -q --pub "$dir/k.pub" --bundle "$dir/plain.json" "$img")
	t_sv=$(secs "$bin/ukit-sign" verify -q --pub "$dir/k.pub" --bundle "$dir/verity.json" "$img")
	t_v=$(secs "$bin/ukit-sign" verify -q --verity-only --pub "$dir/k.pub" --bundle "$dir/verity.json" "$img")
done
c_s=$(cpu "$bin/ukit-sign" verify -q --pub "$dir/k.pub" --bundle "$dir/plain.json" "$img")
c_v=$(cpu "$bin/ukit-sign" verify -q --verity-only --pub "$dir/k.pub" --bundle "$dir/verity.json" "$img")
echo "verify, streaming SHA-256 (plain bundle):   ${t_s} s wall, ${c_s} s cpu"
echo "verify, streaming SHA-256 + verity tree:    ${t_sv} s wall"
echo "verify --verity-only ($(nproc) threads):        ${t_v} s wall, ${c_v} s cpu  speed-up $(ratio "$t_s" "$t_v")x vs streaming SHA-256"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
