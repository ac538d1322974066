#!/bin/bash
# bench/verify-latency.sh: how long verifying a small unikernel takes, the
# way a device does it before boot, start-up included: the median of RUNS
# (50) runs of each, interleaved, on the same 4 MiB file (page cache warm):
#   ukit-verify --pub (static, the device verifier)
#   ukit-sign verify --pub (the full tool)
#   openssl dgst -sha256 -verify (ECDSA P-256 over the file)
#   floor: a program that loads libcrypto and hashes the same bytes with
#          SHA-256, nothing else (bench/sha-floor.c), linked as openssl is
#          (libcrypto.so, reading openssl.cnf) and as ukit-verify is
#          (static, no openssl.cnf)
# and the ratio of each to openssl's.  Data under $BENCHDIR (default a new
# directory under $TMPDIR), removed afterwards.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=${UKIT_BIN:-$TOP/build/bin}
RUNS=${RUNS:-50}
SIZE_KB=${SIZE_KB:-4096}
D=${BENCHDIR:-$(mktemp -d "${TMPDIR:-/tmp}/ukit-bench.XXXXXX")}
mkdir -p "$D"
trap 'rm -rf "$D"' EXIT
make -s -C "$TOP" verifier >/dev/null
cc -O2 -o "$D/sha-floor" "$TOP/bench/sha-floor.c" -lcrypto
cc -O2 -DSTATIC_FLOOR -static -o "$D/sha-floor-static" "$TOP/bench/sha-floor.c" \
	$(pkg-config --static --libs libcrypto) 2>/dev/null
cd "$D"
head -c $((SIZE_KB << 10)) /dev/urandom >img
"$B/ukit-sign" keygen --no-passphrase --type ecdsa-p256 k >/dev/null
"$B/ukit-sign" sign -q --key k.key img
openssl dgst -sha256 -sign k.key -out img.sig img
"$B/ukit-verify" -q --pub k.pub img
"$B/ukit-sign" verify -q --pub k.pub img
openssl dgst -sha256 -verify k.pub -signature img.sig img >/dev/null
./sha-floor img >/dev/null
./sha-floor-static img >/dev/null

echo "bench/verify-latency.sh: $SIZE_KB KiB, median of $RUNS runs each, interleaved, $(nproc) CPUs"
/usr/bin/python3 - "$RUNS" "$B" <<'PY'
import statistics, subprocess, sys, time
runs, b = int(sys.argv[1]), sys.argv[2]
cmds = {
    "ukit-verify": [b + "/ukit-verify", "-q", "--pub", "k.pub", "img"],
    "ukit-sign verify": [b + "/ukit-sign", "verify", "-q", "--pub", "k.pub", "img"],
    "openssl dgst -verify": ["openssl", "dgst", "-sha256", "-verify", "k.pub",
                             "-signature", "img.sig", "img"],
    "floor, libcrypto.so": ["./sha-floor", "img"],
    "floor, static libcrypto": ["./sha-floor-static", "img"],
}
t = {k: [] for k in cmds}
for _ in range(runs):
    for k, c in cmds.items():
        s = time.perf_counter()
        r = subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t[k].append(time.perf_counter() - s)
        if r.returncode != 0:
            sys.exit("%s failed: exit %d" % (k, r.returncode))
ref = statistics.median(t["openssl dgst -verify"])
print("%-28s %10s %8s" % ("", "median ms", "ratio"))
for k in cmds:
    m = statistics.median(t[k])
    print("%-28s %10.2f %8.2f" % (k, m * 1e3, m / ref))
PY
