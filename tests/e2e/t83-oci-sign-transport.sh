#!/bin/bash
# t83-oci-sign-transport.sh: signatures travel with the image.  A layout
# signed offline (ukit-sign sign oci:DIR:TAG) is pushed with its
# signatures (ukit-pack oci push) and verifies at the registry without
# any signing there; pull stores the registry's signatures in the layout,
# so that ukit-sign verify oci:DIR:TAG works offline.  Against Debian's
# docker-registry (distribution 2.8: no referrers API, so the fallback
# tag sha256-<hex>), with skopeo and plain HTTP as peers that read what
# was pushed.  Hostile input: signatures of another image, an oversized
# referrer, an artifact with a config of its own (left behind with a
# warning), a malformed fallback index (layout and registry) and an
# artifact whose bytes do not match its digest.
. "$(dirname "$0")/lib.sh"
gen=$TOP/tests/gen
. "$gen/ociregistry.sh"
MT=application/vnd.dev.sigstore.bundle.v0.3+json

bash "$gen/mkhvt.sh" k.hvt
bash "$gen/mkhvt.sh" -t 2 spt.elf
for k in ka kb kc; do
	ukit-sign keygen --no-passphrase --type ecdsa-p256 $k >/dev/null
done
ukit-pack oci build k.hvt -o oci:lay:v1 >b.txt
ukit-pack oci build spt.elf -o oci:lay:other >b2.txt
D=$(cut -d' ' -f1 b.txt)
H=${D#sha256:}
O=$(cut -d' ' -f1 b2.txt)

reg_plain

# refs REPO TAG: the digests the index at REPO:TAG lists, sorted, one
# line ("none" when the tag is not there), read over plain HTTP
refs() {
	"$PY" - "http://$R/v2/$1/manifests/$2" <<'P'
import json, sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], headers={
    "Accept": "application/vnd.oci.image.index.v1+json"})
try:
    ix = json.load(urllib.request.urlopen(req))
except urllib.error.HTTPError as e:
    print("none" if e.code == 404 else "HTTP %d" % e.code)
    sys.exit(0)
print(" ".join(sorted(m["digest"] for m in ix["manifests"])))
P
}
# sigof KEYFILE LAYOUT: the digest ukit-sign sign printed for it
sigs_a=$(ukit-sign sign --json --key ka.key oci:lay:v1 |
	"$PY" -c 'import json,sys; print(json.load(sys.stdin)["signature"])')
ukit-sign sign --key ka.key oci:lay:other >/dev/null
[ -n "$sigs_a" ] || not_ok "fixture: signing the layout"

# ---- push carries the layout's signature -----------------------------
ukit-pack oci push --no-signatures oci:lay:v1 docker://$R/uk/app:v1 2>/dev/null
expect_fail 1 "no signature of $D found" "nothing signed at the registry yet" \
	ukit-sign verify --pub ka.pub docker://$R/uk/app:v1
ukit-pack oci push --json oci:lay:v1 docker://$R/uk/app:v1 >push1.json 2>push1.err
grep -q "1 signature pushed" push1.err && ok "push of a signed layout says one signature went" ||
	not_ok "push stderr: $(cat push1.err)"
validate_json "push --json with signatures matches its schema" oci-push.schema.json push1.json
check "push --json lists the signature" "$PY" -c '
import json, sys
j = json.load(open("push1.json"))
assert [s["digest"] for s in j["signatures"]] == [sys.argv[1]], j' "$sigs_a"
check "verify at the registry, signed only in the layout" \
	ukit-sign verify --pub ka.pub docker://$R/uk/app:v1
expect_fail 1 "does not verify with any pinned key" "and not with another key" \
	ukit-sign verify --pub kb.pub docker://$R/uk/app:v1
check "skopeo sees the fallback tag sha256-<hex> with the bundle" sh -c \
	"skopeo inspect --raw --tls-verify=false docker://$R/uk/app:sha256-$H | grep -q '$MT'"
[ "$(refs uk/app sha256-$H)" = "$sigs_a" ] && ok "the tag lists exactly the layout's signature" ||
	not_ok "sha256-$H lists: $(refs uk/app sha256-$H)"
check "the signature manifest is there by digest, byte for byte" "$PY" - \
	"http://$R/v2/uk/app/manifests/$sigs_a" "lay/blobs/sha256/${sigs_a#sha256:}" <<'P'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={
    "Accept": "application/vnd.oci.image.manifest.v1+json"})
assert urllib.request.urlopen(req).read() == open(sys.argv[2], "rb").read()
P
ukit-pack oci push oci:lay:v1 docker://$R/uk/app:v1 2>/dev/null
[ "$(refs uk/app sha256-$H)" = "$sigs_a" ] &&
	[ "$(refs uk/app sha256-${O#sha256:})" = none ] &&
	ok "pushing twice lists it once; the layout's signature of another image is not pushed" ||
	not_ok "after the second push: sha256-$H lists $(refs uk/app sha256-$H)," \
		"sha256-${O#sha256:} $(refs uk/app sha256-${O#sha256:})"

# a second key, added offline, pushed to a registry that has the first
sigs_b=$(ukit-sign sign --json --key kb.key oci:lay:v1 |
	"$PY" -c 'import json,sys; print(json.load(sys.stdin)["signature"])')
ukit-pack oci push oci:lay:v1 docker://$R/uk/app:v1 2>push2.err
grep -q "2 signatures pushed" push2.err && ok "push says two signatures went" ||
	not_ok "push stderr: $(cat push2.err)"
want=$(printf '%s\n%s\n' "$sigs_a" "$sigs_b" | sort | tr '\n' ' ' | sed 's/ $//')
[ "$(refs uk/app sha256-$H)" = "$want" ] && ok "both signatures at the registry, once each" ||
	not_ok "sha256-$H lists: $(refs uk/app sha256-$H), want $want"
check "verify with the first key" ukit-sign verify --pub ka.pub docker://$R/uk/app:v1
check "verify with the second key" ukit-sign verify --pub kb.pub docker://$R/uk/app:v1
# signatures already at the registry are kept: sign there with kc, push
ukit-pack oci push --no-signatures oci:lay:v1 docker://$R/uk/keep:v1 2>/dev/null
check "a signature made at the registry" ukit-sign sign --key kc.key docker://$R/uk/keep:v1
ukit-pack oci push oci:lay:v1 docker://$R/uk/keep:v1 2>/dev/null
check "the registry's own signature is kept" sh -c \
	"ukit-sign verify --pub kc.pub docker://$R/uk/keep:v1 &&
	 ukit-sign verify --pub ka.pub docker://$R/uk/keep:v1"

# ---- --no-signatures ---------------------------------------------------
check "push --no-signatures" ukit-pack oci push --json --no-signatures oci:lay:v1 \
	docker://$R/uk/nosig:v1
cp "$T/.out" push-ns.json
validate_json "push --no-signatures --json matches its schema" oci-push.schema.json push-ns.json
check "push --no-signatures --json lists none" "$PY" -c '
import json; assert json.load(open("push-ns.json"))["signatures"] == []'
skopeo inspect --raw --tls-verify=false docker://$R/uk/nosig:v1 >/dev/null 2>&1 &&
	[ "$(refs uk/nosig sha256-$H)" = none ] &&
	ok "--no-signatures: the image is there, no fallback tag" ||
	not_ok "--no-signatures: sha256-$H lists $(refs uk/nosig sha256-$H)"
expect_fail 1 "no signature of $D found" "--no-signatures: nothing verifies" \
	ukit-sign verify --pub ka.pub docker://$R/uk/nosig:v1

# ---- pull stores the signatures ---------------------------------------
ukit-pack oci pull docker://$R/uk/app:v1 oci:pl 2>pull.err
grep -q "2 signatures of $D stored in oci:pl" pull.err && ok "pull says two signatures were stored" ||
	not_ok "pull stderr: $(cat pull.err)"
check "pull --verify-pub" ukit-pack oci pull --verify-pub ka.pub docker://$R/uk/app:v1 oci:pv
check "pull --no-signatures" ukit-pack oci pull --no-signatures docker://$R/uk/app:v1 oci:pn
# a pull into a layout where a blob it writes is already there, as a
# symlink to a file outside (the empty config {} of the signatures) and
# truncated (the image's manifest): the right bytes replace the names,
# the file outside is untouched
EH=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
mkdir -p pcor/blobs/sha256
echo keep >outside.txt
ln -s ../../../outside.txt pcor/blobs/sha256/$EH
printf '{' >pcor/blobs/sha256/$H
check "pull into a layout with a symlinked and a truncated blob" \
	ukit-pack oci pull docker://$R/uk/app:v1 oci:pcor
[ "$(cat outside.txt)" = keep ] && [ ! -L pcor/blobs/sha256/$EH ] &&
	[ "$(cat pcor/blobs/sha256/$EH)" = "{}" ] &&
	[ "$(sha256sum <pcor/blobs/sha256/$H | cut -d' ' -f1)" = "$H" ] &&
	ok "both replaced by their digests' bytes, the file outside kept" ||
	not_ok "outside.txt: $(cat outside.txt); $(ls -l pcor/blobs/sha256/$EH)"
check "and the pulled layout verifies" ukit-sign verify --pub ka.pub oci:pcor:v1

# a pull into a layout whose fallback index is malformed: refused before
# the image is committed, index.json as it was
ukit-pack oci pull --no-signatures docker://$R/uk/app:v1 oci:pdst 2>/dev/null
pdix=$("$PY" - pdst "$H" "$TOP" <<'P'
import sys
sys.path.insert(0, sys.argv[3] + "/tests/gen")
from ocilay import Layout
lay = Layout(sys.argv[1])
d = lay.put(b'{"schemaVersion": 2, "manifests": [}')
lay.ix["manifests"].append(dict(d, mediaType="application/vnd.oci.image.index.v1+json",
    annotations={"org.opencontainers.image.ref.name": "sha256-" + sys.argv[2]}))
lay.save()
print(d["digest"][7:])
P
)
cp pdst/index.json pdst.index.before
expect_fail 1 "pdst/blobs/sha256/$pdix (tag sha256-$H): " \
	"pull into a layout with a malformed fallback index: exit 1 naming its blob" \
	ukit-pack oci pull docker://$R/uk/app:v1 oci:pdst:v2
cmp -s pdst/index.json pdst.index.before && ok "and index.json is as it was (no v2)" ||
	not_ok "pdst/index.json changed: $(cat pdst/index.json)"

# ---- hostile input ---------------------------------------------------
# hostile LAYOUT: a copy of lay with (the case's) change, by Python
# (tests/gen/ocilay.py edits it)
hostile() { rm -rf "$1"; cp -r lay "$1"; "$PY" - "$1" "$D" "$O" "$TOP" >/dev/null; }
# an artifact of ANOTHER image listed under this image's fallback tag,
# and a 2 MiB referrer of this image: neither is carried
hostile mix <<'P'
import json, sys
sys.path.insert(0, sys.argv[4] + "/tests/gen")
from ocilay import Layout
lay, d, o = Layout(sys.argv[1]), sys.argv[2], sys.argv[3]
big = lay.artifact(d, b"{" + b" " * (2 << 20) + b"}")
# a signature-like artifact with a config of its own: push sends the
# empty config only, so it is left behind with a warning
cfg = lay.artifact(d, b"{}", config=b'{"a":1}')
open(sys.argv[1] + ".cfgart", "w").write(cfg["digest"])
refs = lay.referrers(d)
# an index among the referrers (another tool's artifact index; here the
# other image's fallback index): not a signature, passed over unread
oix = dict(lay.tagged("sha256-" + o[7:]))
del oix["annotations"]
# a listed manifest of 1 MiB, over what a signature manifest can be: not
# read (it is not even there)
huge = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + "ab" * 32, "size": 1 << 20}
refs["manifests"][0:0] = [big, cfg, oix, huge] + lay.referrers(o)["manifests"]
lay.set_referrers(d, json.dumps(refs).encode())
P
ukit-pack oci push oci:mix:v1 docker://$R/uk/mix:v1 2>mix.err
[ "$(refs uk/mix sha256-$H)" = "$want" ] &&
	ok "only this image's signatures are carried" ||
	not_ok "uk/mix sha256-$H lists: $(refs uk/mix sha256-$H), want $want"
grep -qF "warning: oci push: signature $(cat mix.cfgart): config sha256:" mix.err &&
	grep -q "is not the empty descriptor" mix.err &&
	ok "an artifact with a config of its own: a warning naming it" ||
	not_ok "push stderr: $(cat mix.err)"
check "and they verify there" ukit-sign verify --pub kb.pub docker://$R/uk/mix:v1

# The malformed-input table: CASE|PYTHON (changes layout $1)|MESSAGE.
# Each must make push exit 1, name where, push nothing, and make
# ukit-sign verify of the layout fail the same way.
while IFS='|' read -r name py msg; do
	[ -n "$name" ] || continue
	hostile "bad-$name" <<P
import json, sys
sys.path.insert(0, sys.argv[4] + "/tests/gen")
from ocilay import Layout
lay, d = Layout(sys.argv[1]), sys.argv[2]
B, refs = lay.blobs, lay.referrers(d)
def setix(b):   # the tag names the index (b) from now on
    lay.set_referrers(d, b)
$py
P
	msg=${msg//@H@/$H}
	msg=${msg//@L@/bad-$name}
	# the index blob the tag now names, for the messages that name it
	ixh=$("$PY" -c '
import sys
sys.path.insert(0, sys.argv[3] + "/tests/gen")
from ocilay import Layout
lay = Layout(sys.argv[1])
print(lay.tagged("sha256-" + sys.argv[2])["digest"][7:])' "bad-$name" "$H" "$TOP")
	# and the first manifest it lists, for those naming that one
	m0=$("$PY" -c '
import sys
sys.path.insert(0, sys.argv[3] + "/tests/gen")
from ocilay import Layout
print(Layout(sys.argv[1]).referrers("sha256:" + sys.argv[2])["manifests"][0]["digest"][7:])' \
		"bad-$name" "$H" "$TOP" 2>/dev/null)
	msg=${msg//@IX@/$ixh}
	msg=${msg//@M0@/$m0}
	msg=${msg//@SA@/$sigs_a}
	# push and verify refuse it alike
	ukit-pack oci push oci:bad-$name:v1 docker://$R/uk/bad-$name:v1 2>push.err
	prc=$?
	ukit-sign verify --pub ka.pub oci:bad-$name:v1 2>verify.err
	vrc=$?
	[ $prc = 1 ] && [ $vrc = 1 ] && grep -qF -- "$msg" push.err &&
		grep -qF -- "$msg" verify.err && ! san_report push.err &&
		ok "push and verify, $name: exit 1 naming where" ||
		not_ok "push and verify, $name: exit $prc and $vrc, want 1 and '$msg';" \
			"push: $(head -c 300 push.err); verify: $(head -c 300 verify.err)"
	code=$("$PY" -c '
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1]).status)
except urllib.error.HTTPError as e:
    print(e.code)' "http://$R/v2/uk/bad-$name/tags/list")
	[ $prc = 1 ] && [ "$code" = 404 ] && ok "push, $name: nothing pushed" ||
		not_ok "push, $name: exit $prc, the repository: HTTP $code"
done <<'TABLE'
index-not-json|setix(b'{"schemaVersion": 2, "manifests": [}')|@L@/blobs/sha256/@IX@: 
index-bad-digest-string|refs["manifests"][0]["digest"] = "sha256:xyz"; setix(json.dumps(refs).encode())|@L@/blobs/sha256/@IX@: $.manifests[0].digest
index-no-manifests|del refs["manifests"]; setix(json.dumps(refs).encode())|@L@/blobs/sha256/@IX@: $.manifests
artifact-nul-after-json|m = refs["manifests"][0]; m.update(lay.put(open(B + m["digest"][7:], "rb").read() + b"\0junk")); setix(json.dumps(refs).encode())|@L@/blobs/sha256/@M0@: NUL byte in JSON
artifact-bytes-changed|p = B + refs["manifests"][0]["digest"][7:]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(bytes(b))|@L@: blob @SA@ has digest
TABLE

# ---- a malformed fallback index at the registry ------------------------
# an index whose entry has a 300-byte artifactType: the registry keeps
# it, ukit's parser refuses it, pull and verify alike
ukit-pack oci push --no-signatures oci:lay:v1 docker://$R/uk/rbad:v1 2>/dev/null
ukit-sign sign --key ka.key docker://$R/uk/rbad:v1 >/dev/null
check "a malformed index stored under the fallback tag" "$PY" - \
	"http://$R/v2/uk/rbad/manifests/sha256-$H" <<'P'
import json, sys, urllib.request
mi = "application/vnd.oci.image.index.v1+json"
ix = json.load(urllib.request.urlopen(urllib.request.Request(
    sys.argv[1], headers={"Accept": mi})))
ix["manifests"][0]["artifactType"] = "a/" + "x" * 300
req = urllib.request.Request(sys.argv[1], data=json.dumps(ix).encode(),
                             method="PUT", headers={"Content-Type": mi})
assert urllib.request.urlopen(req).status == 201
P
expect_fail 1 "http://$R/v2/uk/rbad/manifests/sha256-$H: \$.manifests[0].artifactType" \
	"pull: a malformed index at the registry, naming the URL and JSON path" \
	ukit-pack oci pull docker://$R/uk/rbad:v1 oci:prbad
expect_fail 1 "http://$R/v2/uk/rbad/manifests/sha256-$H: \$.manifests[0].artifactType" \
	"verify: the same refusal" ukit-sign verify --pub ka.pub docker://$R/uk/rbad:v1
check "nothing written; pull --no-signatures does not read the index" sh -c \
	"[ ! -e prbad/index.json ] &&
	 ukit-pack oci pull --no-signatures docker://$R/uk/rbad:v1 oci:prbad"

# an index whose entry says one byte more than the signature manifest
# the registry serves under that digest: the digest holds, the listing
# lies; pull and verify refuse it, naming the URL, the entry, both sizes
ukit-pack oci push --no-signatures oci:lay:v1 docker://$R/uk/rsize:v1 2>/dev/null
ukit-sign sign --key ka.key docker://$R/uk/rsize:v1 >/dev/null
"$PY" - "http://$R/v2/uk/rsize/manifests/sha256-$H" >rsize.txt <<'P'
import json, sys, urllib.request
mi = "application/vnd.oci.image.index.v1+json"
ix = json.load(urllib.request.urlopen(urllib.request.Request(
    sys.argv[1], headers={"Accept": mi})))
m = ix["manifests"][0]
m["size"] += 1
req = urllib.request.Request(sys.argv[1], data=json.dumps(ix).encode(),
                             method="PUT", headers={"Content-Type": mi})
assert urllib.request.urlopen(req).status == 201
print(m["size"], m["digest"], m["size"] - 1)
P
read -r rs_lie rs_dg rs_real <rsize.txt
[ -n "$rs_real" ] && ok "an index with a size one too large under the fallback tag" ||
	not_ok "the registry did not take the index"
expect_fail 1 "http://$R/v2/uk/rsize/manifests/sha256-$H: \$.manifests[0]: size $rs_lie but $rs_dg is $rs_real bytes" \
	"pull: a listed size other than the served manifest's, naming both" \
	ukit-pack oci pull docker://$R/uk/rsize:v1 oci:prsize
expect_fail 1 "http://$R/v2/uk/rsize/manifests/sha256-$H: \$.manifests[0]: size $rs_lie but $rs_dg is $rs_real bytes" \
	"verify: the same refusal" ukit-sign verify --pub ka.pub docker://$R/uk/rsize:v1
[ ! -e prsize/index.json ] && ok "the failed pull wrote no index.json" ||
	not_ok "prsize/index.json: $(cat prsize/index.json)"

# ---- offline: the registry is gone -----------------------------------
reg_stop plain
check "verify the pulled layout offline" ukit-sign verify --pub ka.pub oci:pl:v1
check "with the second key too" ukit-sign verify --pub kb.pub oci:pl:v1
expect_fail 1 "does not verify with any pinned key" "offline, a wrong key fails" \
	ukit-sign verify --pub kc.pub oci:pl:v1
check "pull --verify-pub stored them too" ukit-sign verify --pub kb.pub oci:pv:v1
expect_fail 1 "no signature of $D found" "pull --no-signatures stored none" \
	ukit-sign verify --pub ka.pub oci:pn:v1
done_testing
