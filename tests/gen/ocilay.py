"""ocilay.py: edit an OCI image layout the way a hostile or careless party
would, for the signature tests (t82, t83): put blobs, find a tagged
entry, and read or rewrite the referrers index under the fallback tag
sha256-<hex> that ukit-sign writes.  Import it with
sys.path.insert(0, TOP + "/tests/gen").  Digests are right unless the
caller edits files later.
"""
import hashlib
import json
import os

MT_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_EMPTY = "application/vnd.oci.empty.v1+json"


class Layout:
    def __init__(self, path):
        self.path = path
        self.blobs = path + "/blobs/sha256/"
        self.ix = json.load(open(path + "/index.json"))

    def put(self, b):
        """Store bytes (b) as a blob: its digest and size."""
        h = hashlib.sha256(b).hexdigest()
        with open(self.blobs + h, "wb") as f:
            f.write(b)
        return {"digest": "sha256:" + h, "size": len(b)}

    def tagged(self, tag):
        """The index.json entry tagged (tag)."""
        return [x for x in self.ix["manifests"] if x.get("annotations", {}).get(
            "org.opencontainers.image.ref.name") == tag][0]

    def referrers(self, subject):
        """The referrers index of (subject) (a digest), as JSON."""
        t = self.tagged("sha256-" + subject[7:])
        return json.load(open(self.blobs + t["digest"][7:]))

    def set_referrers(self, subject, raw):
        """Make the fallback tag of (subject) name the bytes (raw)."""
        self.tagged("sha256-" + subject[7:]).update(self.put(raw))
        self.save()

    def save(self):
        with open(self.path + "/index.json", "w") as f:
            json.dump(self.ix, f)

    def artifact(self, subject, layer, config=None):
        """An artifact manifest of one bundle layer (bytes) whose subject
        is (subject): stored, and its descriptor for an index."""
        cfg = (dict(self.put(config), mediaType="application/vnd.oci.image.config.v1+json")
               if config is not None else dict(self.put(b"{}"), mediaType=MT_EMPTY))
        m = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "artifactType": MT_BUNDLE,
             "config": cfg,
             "layers": [dict(self.put(layer), mediaType=MT_BUNDLE)],
             "subject": {"mediaType": MT_MANIFEST, "digest": subject,
                         "size": os.path.getsize(self.blobs + subject[7:])}}
        return dict(self.put(json.dumps(m).encode()), mediaType=MT_MANIFEST,
                    artifactType=MT_BUNDLE)
