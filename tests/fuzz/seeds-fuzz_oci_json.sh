#!/bin/sh
# seeds-fuzz_oci_json.sh CORPUS: a manifest, index and config written by
# the built ukit-pack oci build, each with its selector byte.
set -eu
c=$1
B=${UKIT_BIN:-build/bin}
t=$(mktemp -d "${TMPDIR:-/tmp}/seeds-oci.XXXXXX")
trap 'rm -rf "$t"' EXIT
mkdir -p "$c"
[ -x "$B/ukit-pack" ] || exit 0
bash tests/gen/mkhvt.sh "$t/k" >/dev/null
SOURCE_DATE_EPOCH=0 "$B/ukit-pack" oci build "$t/k" -o "oci:$t/l:v1" >/dev/null
/usr/bin/python3 - "$t/l" "$c" <<'P'
import json, sys
l, c = sys.argv[1:]
ix = open(l + "/index.json", "rb").read()
m = json.loads(ix)["manifests"][0]["digest"][7:]
man = open(l + "/blobs/sha256/" + m, "rb").read()
cfg = open(l + "/blobs/sha256/" + json.loads(man)["config"]["digest"][7:], "rb").read()
for name, sel, data in (("index", b"I", ix), ("manifest", b"M", man),
                        ("config", b"C", cfg), ("kind", b"K", man),
                        ("raw", b"", man)):
    open(c + "/seed-" + name, "wb").write(sel + data)
P
