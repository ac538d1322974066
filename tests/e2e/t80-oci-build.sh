#!/bin/bash
# t80-oci-build.sh: ukit-pack oci build/inspect/extract on local layouts
# (oci:DIR, oci-archive:FILE): urunc and kraftkit annotations, Solo5
# targets from the ABI note, reproducible digests, and the peers: umoci
# unpacks the image and finds the kernel where the annotations say,
# skopeo inspects and copies it; malformed layouts fail with exact errors
# and write nothing.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
gen=$TOP/tests/gen
export SOURCE_DATE_EPOCH=1700000000

bash "$gen/mkhvt.sh" -m "$SHARED/data/solo5/m03-net-block/note.hex" k.hvt
bash "$gen/mkhvt.sh" -t 2 spt.elf
bash "$gen/mkhvt.sh" -t 3 virtio.elf
bash "$gen/mkhvt.sh" -t 4 muen.elf
head -c 1000000 /dev/urandom >disk.img
head -c 4099 /dev/urandom >initrd.img
printf 'int uk_x __attribute__((section(".uk_inittab"))) = 1;\nvoid _start(void) { for (;;) ; }\n' >uk.c
gcc -nostdlib -static -no-pie -o uk.elf uk.c

# manifest annotation KEY of image TAG in layout DIR (python, not ukit)
ann() {
	"$PY" - "$1" "$2" "$3" <<'P'
import json, sys
d, tag, key = sys.argv[1:]
ix = json.load(open(d + "/index.json"))
m = [x for x in ix["manifests"] if x.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
man = json.load(open(d + "/blobs/sha256/" + m["digest"][7:]))
print(man.get("annotations", {}).get(key, ""))
P
}

# ---- build, annotations ---------------------------------------------
check "build oci:DIR:TAG with disk, initrd, cmdline" \
	ukit-pack oci build k.hvt --disk disk.img --initrd initrd.img \
	--cmdline "redis-server /data/conf" --unikernel-type rumprun \
	--annotation org.example.k=v -o oci:lay:v1
d1=$(cut -d' ' -f1 "$T/.out")
[ "$(ann lay v1 com.urunc.unikernel.hypervisor)" = hvt ] &&
	ok "hypervisor hvt taken from the Solo5 ABI note" ||
	not_ok "hypervisor annotation: $(ann lay v1 com.urunc.unikernel.hypervisor)"
[ "$(ann lay v1 com.urunc.unikernel.binary)" = /unikernel/kernel ] &&
[ "$(ann lay v1 com.urunc.unikernel.block)" = /unikernel/disk ] &&
[ "$(ann lay v1 com.urunc.unikernel.initrd)" = /unikernel/initrd ] &&
[ "$(ann lay v1 com.urunc.unikernel.cmdline)" = "redis-server /data/conf" ] &&
[ "$(ann lay v1 com.urunc.unikernel.unikernelType)" = rumprun ] &&
[ "$(ann lay v1 org.example.k)" = v ] &&
	ok "urunc annotations: binary, block, initrd, cmdline, type, user's" ||
	not_ok "urunc annotations"
[ "$(ann lay v1 com.urunc.unikernel.solo5BlkDev)" = storage ] &&
[ "$(ann lay v1 com.urunc.unikernel.solo5NetDev)" = service ] &&
	ok "solo5BlkDev/solo5NetDev from the kernel's MFT1 manifest" ||
	not_ok "solo5 device annotations"

# ---- umoci: the kernel is where the annotations say -------------------
if command -v umoci >/dev/null; then
	if umoci unpack --rootless --image lay:v1 bundle >umoci.log 2>&1; then
		ok "umoci unpacks the image"
		same_file "umoci: kernel at com.urunc.unikernel.binary" \
			k.hvt "bundle/rootfs$(ann lay v1 com.urunc.unikernel.binary)"
		same_file "umoci: disk at com.urunc.unikernel.block" \
			disk.img "bundle/rootfs$(ann lay v1 com.urunc.unikernel.block)"
		same_file "umoci: initrd at com.urunc.unikernel.initrd" \
			initrd.img "bundle/rootfs$(ann lay v1 com.urunc.unikernel.initrd)"
		check "urunc.json holds the annotations in base64" "$PY" -c '
import base64, json, sys
u = json.load(open("bundle/rootfs/urunc.json"))
assert base64.b64decode(u["com.urunc.unikernel.hypervisor"]) == b"hvt", u
assert base64.b64decode(u["com.urunc.unikernel.cmdline"]) == b"redis-server /data/conf", u
assert all(k.startswith("com.urunc.") for k in u), u'
		[ -x bundle/rootfs/unikernel/kernel ] && ok "kernel is executable" ||
			not_ok "kernel mode"
	else
		not_ok "umoci unpack ($(tail -n 3 umoci.log))"
	fi
else
	missing "umoci"
fi

# ---- skopeo ------------------------------------------------------------
if command -v skopeo >/dev/null; then
	check "skopeo inspect oci:lay:v1" skopeo inspect oci:lay:v1
	cp "$T/.out" skopeo.json
	check "skopeo shows the urunc labels" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["Labels"]["com.urunc.unikernel.hypervisor"] == "hvt", j
assert j["Digest"] == sys.argv[2], (j["Digest"], sys.argv[2])' skopeo.json "$d1"
	check "skopeo copy ukit's oci: to oci-archive:" \
		skopeo copy oci:lay:v1 oci-archive:sk.tar:v1
	check "ukit extracts the kernel from skopeo's archive" \
		ukit-pack oci extract oci-archive:sk.tar:v1 --kernel-out k.sk
	same_file "kernel from skopeo's archive" k.hvt k.sk
	check "ukit builds an oci-archive" ukit-pack oci build k.hvt \
		--disk disk.img -o oci-archive:u.tar:v1
	check "skopeo copies ukit's oci-archive: to oci:" \
		skopeo copy oci-archive:u.tar:v1 oci:sklay:v1
	check "ukit reads skopeo's layout" ukit-pack oci extract oci:sklay:v1 \
		--kernel-out k.sk2 --disk-out d.sk2
	same_file "kernel via skopeo copy" k.hvt k.sk2
	same_file "disk via skopeo copy" disk.img d.sk2
else
	missing "skopeo"
fi

# ---- reproducible ------------------------------------------------------
ukit-pack oci build k.hvt --disk disk.img -o oci:r1 >r1.txt
ukit-pack oci build k.hvt --disk disk.img -o oci:r2 >r2.txt
[ "$(cut -d' ' -f1 r1.txt)" = "$(cut -d' ' -f1 r2.txt)" ] &&
	ok "two builds, one manifest digest" || not_ok "digests differ: $(cat r1.txt r2.txt)"
ukit-pack oci build k.hvt --disk disk.img -o oci-archive:a1.tar >/dev/null
sleep 1
ukit-pack oci build k.hvt --disk disk.img -o oci-archive:a2.tar >/dev/null
same_file "two oci-archive builds are byte-identical" a1.tar a2.tar
SOURCE_DATE_EPOCH=1700000001 ukit-pack oci build k.hvt --disk disk.img -o oci:r3 >r3.txt
[ "$(cut -d' ' -f1 r1.txt)" != "$(cut -d' ' -f1 r3.txt)" ] &&
	ok "another SOURCE_DATE_EPOCH, another digest" || not_ok "epoch ignored"
ukit-pack oci build -c zstd k.hvt --disk disk.img -o oci:z1 >z1.txt
ukit-pack oci build -c zstd k.hvt --disk disk.img -o oci:z2 >z2.txt
[ "$(cut -d' ' -f1 z1.txt)" = "$(cut -d' ' -f1 z2.txt)" ] &&
	ok "zstd builds are reproducible too" || not_ok "zstd digests differ"
check "zstd layer media type" grep -q 'tar+zstd' "z1/blobs/sha256/$(cut -d' ' -f1 z1.txt | cut -c8-)"
check "extract from a zstd layer" ukit-pack oci extract oci:z1 --kernel-out k.z
same_file "kernel from the zstd layer" k.hvt k.z
if command -v skopeo >/dev/null; then
	check "skopeo reads the zstd image" skopeo inspect oci:z1
fi

# ---- a second tag in the same layout; inspect --json ------------------
check "second tag into the same layout" ukit-pack oci build --json spt.elf -o oci:lay:spt
cp "$T/.out" build.json
validate_json "build --json matches its schema" oci-build.schema.json build.json
[ "$(ann lay spt com.urunc.unikernel.hypervisor)" = spt ] &&
	ok "spt target from the ABI note" || not_ok "spt"
[ -n "$(ann lay v1 com.urunc.unikernel.hypervisor)" ] &&
	ok "the first tag is still in index.json" || not_ok "v1 lost"
check "inspect --json" ukit-pack oci inspect --json oci:lay:v1
cp "$T/.out" inspect.json
validate_json "inspect --json matches its schema" oci-inspect.schema.json inspect.json
check "inspect --json digest is the build's" grep -q "\"digest\": \"$d1\"" inspect.json
expect_fail 1 "holds 2 images; name one with :TAG" "two images need a tag" \
	ukit-pack oci inspect oci:lay
check "virtio kernels run under qemu" ukit-pack oci build virtio.elf -o oci:v:t
[ "$(ann v t com.urunc.unikernel.hypervisor)" = qemu ] && ok "virtio -> qemu" ||
	not_ok "virtio hypervisor"
expect_fail 1 "Solo5 target muen has no OCI runtime; give --target" \
	"muen has no runtime" ukit-pack oci build muen.elf -o oci:m
expect_fail 1 "the Solo5 ABI note says target hvt, --target says spt" \
	"--target disagreeing with the ABI note" \
	ukit-pack oci build k.hvt --target spt -o oci:m

# urunc requires unikernelType, hypervisor, binary and cmdline (bima
# refuses an image without one of them): cmdline is always there, and a
# type ukit cannot tell is asked for
ukit-pack oci build virtio.elf -o oci:v:n >/dev/null 2>v.err
[ "$(ann v n com.urunc.unikernel.cmdline)" = "" ] &&
	"$PY" - v <<'P' && ok "no --cmdline: cmdline present and empty (annotation and urunc.json)" ||
import json, sys
ix = json.load(open("v/index.json"))
m = [x for x in ix["manifests"] if x["annotations"]["org.opencontainers.image.ref.name"] == "n"][0]
man = json.load(open("v/blobs/sha256/" + m["digest"][7:]))
assert man["annotations"]["com.urunc.unikernel.cmdline"] == ""
P
	not_ok "cmdline annotation without --cmdline"
grep -q "warning: oci build: oci:v:n: no unikernel type (none detected): urunc runs an image only with com.urunc.unikernel.unikernelType; give --unikernel-type" v.err &&
	ok "no type known: a warning says urunc needs one" || not_ok "no warning: $(cat v.err)"
for how in "--unikernel-type mirage" "--annotation com.urunc.unikernel.unikernelType=mirage"; do
	# shellcheck disable=SC2086
	ukit-pack oci build virtio.elf $how -o oci:v:w >/dev/null 2>v.err
	[ ! -s v.err ] && [ "$(ann v w com.urunc.unikernel.unikernelType)" = mirage ] &&
		ok "$how: the type, no warning" || not_ok "$how: $(cat v.err)"
done

# ---- Unikraft: kraftkit's annotations and paths ----------------------
expect_fail 1 "no Solo5 ABI note to take the target from: give --target" \
	"non-Solo5 kernel needs --target" ukit-pack oci build uk.elf -o oci:uk
check "Unikraft kernel for firecracker" ukit-pack oci build uk.elf \
	--target firecracker -o oci:uk:t
[ "$(ann uk t com.urunc.unikernel.unikernelType)" = unikraft ] &&
[ "$(ann uk t org.unikraft.kernel.plat)" = fc ] &&
[ "$(ann uk t org.unikraft.kernel.arch)" = x86_64 ] &&
[ "$(ann uk t com.urunc.unikernel.binary)" = /unikraft/bin/kernel ] &&
[ "$(ann uk t org.unikraft.kernel.image)" = /unikraft/bin/kernel ] &&
	ok "unikraft: type, plat fc, arch, kernel at /unikraft/bin/kernel" ||
	not_ok "unikraft annotations"
check "extract the Unikraft kernel" ukit-pack oci extract oci:uk:t --kernel-out uk.out
same_file "Unikraft kernel" uk.elf uk.out
# Unikraft's Multiboot kernel for QEMU is its x86_64 ELF64 rewritten as
# ELF32 i386 (its support/scripts/multiboot.py): still amd64 / x86_64;
# another ELF32 i386 kernel is 386, and --arch says otherwise
objcopy -O elf32-i386 uk.elf uk32.elf
printf 'void _start(void) { for (;;) ; }\n' >plain.c
gcc -nostdlib -static -no-pie -o plain.elf plain.c
objcopy -O elf32-i386 plain.elf plain32.elf
arch() {  # arch DIR TAG: the config's architecture and kraftkit's annotation
	"$PY" - "$1" "$2" <<'P'
import json, sys
d, tag = sys.argv[1:]
ix = json.load(open(d + "/index.json"))
m = [x for x in ix["manifests"] if x.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
man = json.load(open(d + "/blobs/sha256/" + m["digest"][7:]))
cfg = json.load(open(d + "/blobs/sha256/" + man["config"]["digest"][7:]))
print(cfg["architecture"], man["annotations"].get("org.unikraft.kernel.arch", "-"))
P
}
check "Unikraft ELF32 i386 kernel for qemu" ukit-pack oci build uk32.elf \
	--target qemu -o oci:uk:t32
check "... is amd64, org.unikraft.kernel.arch x86_64" \
	test "$(arch uk t32)" = "amd64 x86_64"
check "another ELF32 i386 kernel" ukit-pack oci build plain32.elf \
	--target qemu -o oci:uk:p32
check "... is 386" test "$(arch uk p32)" = "386 -"
check "--arch 386 for the Unikraft one" ukit-pack oci build uk32.elf \
	--target qemu --arch 386 -o oci:uk:a32
check "... is 386" test "$(arch uk a32)" = "386 386"

# ---- usage and input errors -----------------------------------------
expect_fail 2 "need one KERNEL" "build without -o" ukit-pack oci build k.hvt
expect_fail 2 "unknown transport" "bad reference" ukit-pack oci build k.hvt -o foo:bar
expect_fail 2 "build writes oci:DIR" "build to docker://" \
	ukit-pack oci build k.hvt -o docker://127.0.0.1:1/a/b
expect_fail 2 "is not a valid tag" "bad tag" ukit-pack oci build k.hvt -o "oci:x:bad tag"
expect_fail 2 "unknown subcommand" "oci frob" ukit-pack oci frob
expect_fail 1 "nokernel: cannot open" "missing kernel" ukit-pack oci build nokernel -o oci:x
mkdir keep && cp -r lay/. keep/
expect_fail 1 "nodisk: cannot open" "missing disk" \
	ukit-pack oci build k.hvt --disk nodisk -o oci:keep:v1
check "a failed build leaves index.json as it was" cmp keep/index.json lay/index.json
check "and no stray blobs" [ "$(ls keep/blobs/sha256 | wc -l)" = "$(ls lay/blobs/sha256 | wc -l)" ]
expect_fail 1 "nodisk: cannot open" "missing disk, archive" \
	ukit-pack oci build k.hvt --disk nodisk -o oci-archive:none.tar
check "no archive after a failed build" [ ! -e none.tar ]
check "ukit-pack oci --help" ukit-pack oci --help

# ---- malformed layouts: exact errors, nothing written ----------------
# bad_index DESC ERROR JSON: index.json replaced by JSON in a copy of lay
bad_index() {
	rm -rf bad && cp -r lay bad && printf '%s' "$3" >bad/index.json
	expect_fail 1 "$2" "index.json: $1" ukit-pack oci inspect oci:bad:v1
}
M=$(cut -c8- <<<"$d1")
bad_index "not JSON" "index.json: invalid JSON at line 1" '{"schemaVersion":2,'
bad_index "schemaVersion 1" '$.schemaVersion: not 2' '{"schemaVersion":1,"manifests":[]}'
bad_index "manifests not an array" '$.manifests: missing or not an array' '{"schemaVersion":2,"manifests":{}}'
bad_index "duplicate key" 'duplicate object key' '{"schemaVersion":2,"schemaVersion":2,"manifests":[]}'
bad_index "short digest" '$.manifests[0].digest: "sha256:abc" is not sha256: and 64 lowercase hex digits' \
	'{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:abc","size":1}]}'
bad_index "sha512" '$.manifests[0].digest: unsupported digest algorithm' \
	'{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha512:abc","size":1}]}'
bad_index "negative size" '$.manifests[0].size: not an integer in 0..' \
	"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$M\",\"size\":-1}]}"
bad_index "bad media type" '$.manifests[0].mediaType: "nope" is not a media type' \
	"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"nope\",\"digest\":\"sha256:$M\",\"size\":1}]}"
bad_index "manifest over 4 MiB" 'over the limit of 4194304' \
	"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$M\",\"size\":5000000,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}"
bad_index "size disagrees with the blob" "bytes, its descriptor says 10" \
	"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$M\",\"size\":10,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}"
bad_index "unknown tag" 'no image tagged v1 in index.json' '{"schemaVersion":2,"manifests":[]}'
rm -rf bad && cp -r lay bad && echo '{"imageLayoutVersion":"2.0.0"}' >bad/oci-layout
expect_fail 1 'oci-layout: $.imageLayoutVersion: "2.0.0", not 1.0.0' "oci-layout version" \
	ukit-pack oci inspect oci:bad:v1
rm -rf bad && cp -r lay bad && chmod u+w bad/blobs/sha256/$M && flip_byte bad/blobs/sha256/$M 10
expect_fail 1 "blob sha256:$M has digest sha256:" "tampered manifest" \
	ukit-pack oci inspect oci:bad:v1
L=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"][7:])' lay/blobs/sha256/$M)
rm -rf bad && cp -r lay bad && flip_byte bad/blobs/sha256/$L 500000
expect_fail 1 "sha256:$L" "tampered layer" \
	ukit-pack oci extract oci:bad:v1 --kernel-out kbad
check "no kernel written from a tampered layer" [ ! -e kbad ]
rm -rf bad && cp -r lay bad && truncate -s 400000 bad/blobs/sha256/$L
expect_fail 1 "bytes, its descriptor says" "truncated layer" \
	ukit-pack oci extract oci:bad:v1 --kernel-out kbad
check "no kernel written from a truncated layer" [ ! -e kbad ]

# layers ukit would never write (tests/gen/mkocilayout.py)
mkdir -p tl/unikernel && cp k.hvt tl/unikernel/kernel
tar --owner=0 --group=0 -C tl -cf good.tar unikernel/kernel
gzip -9n <good.tar >good.tar.gz
"$PY" "$gen/mkocilayout.py" g good.tar.gz application/vnd.oci.image.layer.v1.tar+gzip >/dev/null
check "GNU tar layer from mkocilayout.py extracts" ukit-pack oci extract oci:g:t --kernel-out kg
same_file "kernel from a GNU tar layer" k.hvt kg
"$PY" "$gen/mkocilayout.py" u good.tar application/x-whatever >/dev/null
expect_fail 1 'unknown layer media type "application/x-whatever"' "unknown layer type" \
	ukit-pack oci extract oci:u:t --kernel-out ku
"$PY" - <<'P'
import io, tarfile, gzip
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
    i = tarfile.TarInfo("../unikernel/kernel"); i.size = 3
    t.addfile(i, io.BytesIO(b"abc"))
open("dotdot.tar", "wb").write(b.getvalue())
raw = bytearray(open("good.tar", "rb").read())
raw[148:156] = b"0000000\0"
open("badsum.tar", "wb").write(bytes(raw))
open("trunc.tar.gz", "wb").write(open("good.tar.gz", "rb").read()[:-100])
P
"$PY" "$gen/mkocilayout.py" dd dotdot.tar application/vnd.oci.image.layer.v1.tar >/dev/null
expect_fail 1 'name "../unikernel/kernel" has a ".." component' "tar entry with .." \
	ukit-pack oci extract oci:dd:t --kernel-out kd
"$PY" "$gen/mkocilayout.py" bs badsum.tar application/vnd.oci.image.layer.v1.tar >/dev/null
expect_fail 1 "tar header: checksum mismatch" "tar header checksum" \
	ukit-pack oci extract oci:bs:t --kernel-out kd
"$PY" "$gen/mkocilayout.py" tz trunc.tar.gz application/vnd.oci.image.layer.v1.tar+gzip >/dev/null
expect_fail 1 "gzip: layer truncated" "truncated gzip stream" \
	ukit-pack oci extract oci:tz:t --kernel-out kd
check "nothing written by the failed extracts" [ ! -e kd ] && [ ! -e ku ]

# libcurl is opened when a command first speaks HTTP, not at every start
for t in ukit-pack ukit-sign ukit-elftool; do
	if ldd "$UKIT_BIN/$t" | grep -q libcurl; then
		not_ok "$t loads libcurl at start: $(ldd "$UKIT_BIN/$t" | grep libcurl)"
	else
		ok "$t does not load libcurl at start"
	fi
done
# and when it cannot be loaded, a registry command says so, nothing else
mkdir -p nocurl
: >nocurl/libcurl.so.4
ukit-sign keygen --no-passphrase k >/dev/null
expect_fail 1 "cannot load libcurl.so.4 (Debian: apt-get install libcurl4)" \
	"push without a loadable libcurl: exit 1, says what is missing" \
	env LD_LIBRARY_PATH="$PWD/nocurl" ukit-pack oci push oci:r1 docker://127.0.0.1:9/x/y:z
expect_fail 1 "cannot load libcurl.so.4" \
	"sign --tsa without a loadable libcurl: exit 1, says what is missing" \
	env LD_LIBRARY_PATH="$PWD/nocurl" ukit-sign sign -q --key k.key \
	--tsa http://127.0.0.1:9/ -o tsa.bundle k.hvt
check "nothing signed without libcurl" [ ! -e tsa.bundle ]
done_testing
