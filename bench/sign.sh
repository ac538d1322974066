#!/bin/bash
# bench/sign.sh: verify a 1 GiB image with ukit-sign and with its peers,
# side by side on the same bytes, page cache warm:
#   ukit-sign verify --pub (detached bundle, ECDSA P-256)
#   openssl dgst -sha256 -verify (ECDSA P-256 over the whole image)
#   openssl cms -verify (detached DER CMS, made without -stream)
#   minisign -V -H (prehashed Ed25519)
# Prints wall seconds (best of RUNS), the CPU seconds (user + system) and
# peak RSS of that run, and the ratio to openssl dgst.
# Run under the bench lock:  flock /tmp/ukit-bench.lock bench/sign.sh
# Data in $BENCHDIR (default $TMPDIR/ukit-bench/h6), removed afterwards.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=${UKIT_BIN:-$TOP/build/bin}
D=${BENCHDIR:-${TMPDIR:-/tmp}/ukit-bench/h6}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
mkdir -p "$D"
trap 'rm -rf "$D"' EXIT
cd "$D"

echo "bench/sign.sh: ${SIZE_MB} MiB random image, best of $RUNS, $(nproc) CPUs"
head -c $((SIZE_MB << 20)) /dev/urandom > img
"$B/ukit-sign" keygen --type ecdsa-p256 k >/dev/null
"$B/ukit-sign" sign -q --key k.key img
openssl dgst -sha256 -sign k.key -out img.sig img
openssl req -x509 -new -key k.key -subj /CN=bench -days 30 -out cert.pem 2>/dev/null
openssl cms -sign -binary -outform DER -in img -signer cert.pem -inkey k.key \
	-out img.p7s
minisign -G -W -p m.pub -s m.key >/dev/null
minisign -S -H -s m.key -m img -x img.minisig >/dev/null
cat img > /dev/null

# run NAME CMD...: best wall time and the peak RSS of that run.
declare -A T R C
run() {
	local name=$1 best="" rss="" cpu="" t m u s
	shift
	for _ in $(seq "$RUNS"); do
		/usr/bin/time -f '%e %M %U %S' -o tm "$@" >/dev/null 2>err || {
			echo "$name failed:"; cat err; exit 1; }
		read -r t m u s < tm
		if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then
			best=$t rss=$m cpu=$(awk "BEGIN{print $u + $s}")
		fi
	done
	T[$name]=$best R[$name]=$rss C[$name]=$cpu
}
run ukit "$B/ukit-sign" verify -q --pub k.pub img
run dgst openssl dgst -sha256 -verify k.pub -signature img.sig img
run cms openssl cms -verify -binary -inform DER -in img.p7s -content img \
	-CAfile cert.pem -purpose any -out /dev/null
run minisign minisign -V -H -p m.pub -m img -x img.minisig

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %8s %8s %10s %8s\n' tool seconds 'CPU s' 'RSS MiB' 'x dgst'
for n in ukit dgst cms minisign; do
	awk -v n="$n" -v t="${T[$n]}" -v c="${C[$n]}" -v r="${R[$n]}" -v d="${T[dgst]}" \
		'BEGIN{printf "%-10s %8.2f %8.2f %10.1f %8.2f\n", n, t, c, r/1024, t/d}'
done
awk -v t="${T[ukit]}" -v d="${T[dgst]}" -v r="${R[ukit]}" 'BEGIN{
	printf "goal: ukit <= 0.75x openssl dgst: %s (%.2fx); RSS <= 16 MiB: %s (%.1f MiB)\n",
		(t <= 0.75 * d) ? "met" : "NOT met", t / d,
		(r <= 16384) ? "met" : "NOT met", r / 1024 }'
