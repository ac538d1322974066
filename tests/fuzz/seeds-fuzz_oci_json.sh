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
# malformed cases the signature walk met (one seed each): a manifest with
# a NUL and more after its JSON; a referrers listing naming one manifest
# twice and an index among them; an entry whose size is not its bytes'
d = json.loads(ix)["manifests"][0]
dup = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
       "manifests": [d, d, dict(d, mediaType="application/vnd.oci.image.index.v1+json")]}
lie = {"schemaVersion": 2, "manifests": [dict(d, size=d["size"] + 1)]}
for name, sel, data in (("nul-after-json", b"M", man + b"\0junk"),
                        ("referrers-dup-index", b"R", json.dumps(dup).encode()),
                        ("referrers-size-lie", b"R", json.dumps(lie).encode()),
                        ("referrers-nul", b"R", json.dumps(dup).encode() + b"\0x")):
    open(c + "/seed-" + name, "wb").write(sel + data)
P
