#!/usr/bin/env python3
"""mkocilayout.py: write an OCI image layout around a given layer file, so
tests can feed ukit layers and manifests that ukit would never write.

usage: mkocilayout.py OUTDIR LAYER MEDIATYPE [TAG]
The config names no diff_ids check; the manifest annotates the kernel at
/unikernel/kernel.  Digests are right unless the caller edits files later.
"""
import hashlib
import json
import os
import sys

out, layer, mt = sys.argv[1], sys.argv[2], sys.argv[3]
tag = sys.argv[4] if len(sys.argv) > 4 else "t"
os.makedirs(out + "/blobs/sha256", exist_ok=True)


def blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open(out + "/blobs/sha256/" + d, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}


ld = blob(open(layer, "rb").read())
cfg = json.dumps({"architecture": "amd64", "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": []}}).encode()
cd = blob(cfg)
man = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **cd),
    "layers": [dict(mediaType=mt, **ld)],
    "annotations": {"com.urunc.unikernel.binary": "/unikernel/kernel"},
}).encode()
md = blob(man)
with open(out + "/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [dict(
        mediaType="application/vnd.oci.image.manifest.v1+json",
        annotations={"org.opencontainers.image.ref.name": tag}, **md)]}, f)
with open(out + "/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
print(md["digest"])
