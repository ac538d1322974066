#!/bin/bash
# t81-oci-registry.sh: ukit-pack oci push/pull/inspect/extract against a
# real registry (Debian's docker-registry, distribution 2.8) started here
# on 127.0.0.1: plain, htpasswd basic auth, TLS from a CA made here, and a
# bearer-token front (tests/gen/ociproxy.py); skopeo as the peer both
# ways; faults: a proxy that flips one blob byte, the registry killed in
# the middle of a push and restarted, a redirect loop, a 5 MiB manifest,
# blobs whose Content-Length is not their descriptor's size, wrong
# passwords, unknown tags; mutual TLS (clientcas) with a client
# certificate from --cert-dir; --mount-from refused outside push.
. "$(dirname "$0")/lib.sh"
gen=$TOP/tests/gen
. "$gen/ociregistry.sh"

for t in docker-registry skopeo htpasswd openssl; do
	if ! command -v $t >/dev/null; then
		missing "$t"
		done_testing
		exit 0
	fi
done

bash "$gen/mkhvt.sh" -m "$SHARED/data/solo5/m03-net-block/note.hex" k.hvt
head -c 3000000 /dev/urandom >disk.img
ukit-pack oci build k.hvt --disk disk.img --cmdline hello -o oci:lay:v1 >b.txt
D=$(cut -d' ' -f1 b.txt)
M=$(cut -c8- <<<"$D")
L=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"][7:])' lay/blobs/sha256/$M)
C=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["digest"][7:])' lay/blobs/sha256/$M)

# actions FILE: the "action" of each blob in a push --json report
actions() { "$PY" -c 'import json,sys; print(" ".join(b["action"] for b in json.load(open(sys.argv[1]))["blobs"]))' "$1"; }

# start_proxy NAME UPSTREAM MODE: sets PROXY_PORT, PROXY_PID
start_proxy() {
	rm -f "$T/$1.port"
	"$PY" "$gen/ociproxy.py" "$T/$1.port" "$2" "$3" 2>"$T/$1.log" &
	PROXY_PID=$!
	disown "$PROXY_PID"
	_reg_pids="$_reg_pids $PROXY_PID"
	for _ in $(seq 1 100); do [ -s "$T/$1.port" ] && break; sleep 0.05; done
	PROXY_PORT=$(cat "$T/$1.port")
}

# ---- plain registry ----------------------------------------------------
reg_start plain || { not_ok "registry did not start"; done_testing; exit 0; }
R=127.0.0.1:$REG_PORT_plain
check "push to a fresh registry" ukit-pack oci push --json oci:lay:v1 docker://$R/uk/hello:v1
cp "$T/.out" push1.json
validate_json "push --json matches its schema" oci-push.schema.json push1.json
[ "$(actions push1.json)" = "uploaded uploaded" ] && ok "config and layer uploaded" ||
	not_ok "first push actions: $(actions push1.json)"
check "push again" ukit-pack oci push --json oci:lay:v1 docker://$R/uk/hello:v1
cp "$T/.out" push2.json
[ "$(actions push2.json)" = "exists exists" ] && ok "second push sends no blob" ||
	not_ok "second push actions: $(actions push2.json)"
check "skopeo inspects what ukit pushed" skopeo inspect --tls-verify=false docker://$R/uk/hello:v1
cp "$T/.out" sk.json
check "skopeo sees ukit's digest and labels" "$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["Digest"] == sys.argv[2], j["Digest"]
assert j["Labels"]["com.urunc.unikernel.hypervisor"] == "hvt", j["Labels"]' sk.json "$D"
check "skopeo --raw shows the manifest annotations" sh -c \
	"skopeo inspect --raw --tls-verify=false docker://$R/uk/hello:v1 | grep -q com.urunc.unikernel.binary"
check "skopeo copies ukit's image back out" \
	skopeo copy --src-tls-verify=false docker://$R/uk/hello:v1 oci:skback:v1
check "ukit extracts what skopeo pulled" ukit-pack oci extract oci:skback:v1 --kernel-out k.skback
same_file "kernel through ukit push, skopeo pull" k.hvt k.skback
check "skopeo pushes ukit's layout" \
	skopeo copy --dest-tls-verify=false oci:lay:v1 docker://$R/uk/bysk:v2
check "ukit pulls what skopeo pushed" ukit-pack oci pull docker://$R/uk/bysk:v2 oci:pulled
check "pulled layout is tagged v2" grep -q '"org.opencontainers.image.ref.name":"v2"' pulled/index.json
check "extract from the pulled layout" ukit-pack oci extract oci:pulled:v2 \
	--kernel-out k.p --disk-out d.p
same_file "kernel through skopeo push, ukit pull" k.hvt k.p
same_file "disk through skopeo push, ukit pull" disk.img d.p
check "pulled blobs are the built ones" cmp lay/blobs/sha256/$L pulled/blobs/sha256/$L
check "pull into an oci-archive" ukit-pack oci pull docker://$R/uk/hello:v1 oci-archive:p.tar:x
check "skopeo reads ukit's pulled archive" skopeo inspect oci-archive:p.tar:x
check "extract straight from docker://" ukit-pack oci extract docker://$R/uk/hello:v1 --kernel-out k.d
same_file "kernel from docker://" k.hvt k.d
check "inspect docker:// --json" ukit-pack oci inspect --json docker://$R/uk/hello:v1
cp "$T/.out" insp.json
validate_json "inspect of docker:// matches its schema" oci-inspect.schema.json insp.json
check "pull by digest" ukit-pack oci pull docker://$R/uk/hello@$D oci:bydig:d
check "chunked upload (64 KiB PATCHes)" ukit-pack oci push --chunk-size 65536 --json \
	oci:lay:v1 docker://$R/uk/chunked:v1
cp "$T/.out" push3.json
[ "$(actions push3.json)" = "exists exists" ] || [ "$(actions push3.json)" = "uploaded uploaded" ] &&
	ok "chunked push reports its blobs" || not_ok "chunked: $(actions push3.json)"
check "skopeo reads the chunked push" skopeo inspect --tls-verify=false docker://$R/uk/chunked:v1
ukit-pack oci build -c zstd k.hvt --disk disk.img -o oci:zl:v1 >/dev/null
check "chunked upload of a new layer" ukit-pack oci push --chunk-size 100000 --json \
	oci:zl:v1 docker://$R/uk/zchunk:v1
cp "$T/.out" push4.json
[ "$(actions push4.json)" = "uploaded uploaded" ] && ok "new blobs uploaded in chunks" ||
	not_ok "zchunk: $(actions push4.json)"
check "pull the chunked upload" ukit-pack oci extract docker://$R/uk/zchunk:v1 --kernel-out k.z
same_file "kernel through a chunked upload" k.hvt k.z
ukit-pack oci build k.hvt --cmdline other -o oci:lay2:v1 >/dev/null
check "cross-repository mount" ukit-pack oci push --json --mount-from uk/zchunk \
	oci:zl:v1 docker://$R/other/repo:v1
cp "$T/.out" push5.json
[ "$(actions push5.json)" = "mounted mounted" ] && ok "blobs mounted, not sent" ||
	not_ok "mount: $(actions push5.json)"
expect_fail 1 "HTTP 404 Not Found (MANIFEST_UNKNOWN" "unknown tag: 404 with the code" \
	ukit-pack oci pull docker://$R/uk/hello:nope oci:nope
check "nothing written for a 404" [ ! -e nope/index.json ]
expect_fail 2 "is not a valid repository name" "bad repository" \
	ukit-pack oci pull docker://$R/UPPER/x:v1 oci:nope
expect_fail 2 "SRC is docker://" "pull from a layout" ukit-pack oci pull oci:lay:v1 oci:x

# ---- faults through a proxy -----------------------------------------
start_proxy flip "$REG_PORT_plain" "flip:$L"
expect_fail 1 "sha256:$L" "one flipped byte: pull refuses" \
	ukit-pack oci pull docker://127.0.0.1:$PROXY_PORT/uk/hello:v1 oci:flipped
grep -q "bytes received have digest" "$T/.err" && ok "the error says the digest did not match" ||
	not_ok "flip message: $(cat "$T/.err")"
check "and writes nothing" sh -c "[ ! -e flipped/index.json ] && [ -z \"\$(ls flipped/blobs/sha256)\" ]"
expect_fail 1 "sha256:$L" "one flipped byte: extract refuses" \
	ukit-pack oci extract docker://127.0.0.1:$PROXY_PORT/uk/hello:v1 --kernel-out k.flip
check "no kernel from a flipped blob" [ ! -e k.flip ]
cp -r pulled keep
expect_fail 1 "sha256:$L" "flipped pull into an existing layout" \
	ukit-pack oci pull docker://127.0.0.1:$PROXY_PORT/uk/hello:v1 oci:pulled:new
check "existing layout untouched" cmp keep/index.json pulled/index.json
kill "$PROXY_PID"

# kill -9 in the middle of a pull: nothing visible, a rerun completes
start_proxy stall "$REG_PORT_plain" "stall:$L"
ukit-pack oci pull docker://127.0.0.1:$PROXY_PORT/uk/hello:v1 oci:killed 2>/dev/null &
pull_pid=$!
for _ in $(seq 1 200); do grep -q stalled "$T/stall.log" && break; sleep 0.05; done
check "the proxy held the pull in the middle of the layer" grep -q stalled "$T/stall.log"
kill -9 "$pull_pid"
wait "$pull_pid" 2>/dev/null
check "pull killed -9 mid-blob leaves no index.json and no blob" \
	sh -c "[ ! -e killed/index.json ] && [ -z \"\$(ls -A killed/blobs/sha256)\" ]"
kill "$PROXY_PID"
check "the pull run again completes" ukit-pack oci pull docker://$R/uk/hello:v1 oci:killed
check "and the image is whole" ukit-pack oci extract oci:killed:v1 --kernel-out k.killed
same_file "kernel after the interrupted pull" k.hvt k.killed

start_proxy loop "$REG_PORT_plain" redirect-loop
expect_fail 1 "more than 10 redirects" "redirect loop" \
	ukit-pack oci pull docker://127.0.0.1:$PROXY_PORT/uk/hello:v1 oci:loop
kill "$PROXY_PID"
start_proxy big "$REG_PORT_plain" bigmanifest
expect_fail 1 "response longer than 4194304 bytes" "5 MiB manifest" \
	ukit-pack oci inspect docker://127.0.0.1:$PROXY_PORT/uk/hello:v1
kill "$PROXY_PID"

# a blob whose Content-Length is not the descriptor's size: refused
# before anything is written, naming the reference, digest and sizes
SZL=$(stat -c %s lay/blobs/sha256/$L)
SZC=$(stat -c %s lay/blobs/sha256/$C)
# clen_case MODE GOT WANT DIGEST DESC SUBCMD ARGS...: exit 1 naming both
# sizes, the reference and the digest; "@" in ARGS is the proxied image
clen_case() {
	local mode=$1 got=$2 want=$3 dig=$4 desc=$5 a args=()
	shift 5
	start_proxy clen "$REG_PORT_plain" "$mode"
	for a in "$@"; do
		[ "$a" = @ ] && a=docker://127.0.0.1:$PROXY_PORT/uk/hello:v1
		args+=("$a")
	done
	expect_fail 1 "Content-Length $got disagrees with the descriptor's size $want" \
		"$desc" ukit-pack oci "${args[@]}"
	grep -q "^ukit-pack: docker://127.0.0.1:$PROXY_PORT/uk/hello:v1: GET [^ ]*/blobs/sha256:$dig: " "$T/.err" &&
		ok "$desc: the message names the reference and the digest" ||
		not_ok "$desc: message $(cat "$T/.err")"
	kill "$PROXY_PID"
}
clen_case "clen:$L:1" $((SZL + 1)) "$SZL" "$L" "layer longer than its descriptor" \
	pull @ oci:clen
check "nothing written for the longer layer" \
	sh -c "[ ! -e clen/index.json ] && [ -z \"\$(ls clen/blobs/sha256)\" ]"
clen_case "clen:$L:-1000" $((SZL - 1000)) "$SZL" "$L" "layer shorter than its descriptor" \
	pull @ oci-archive:clen.tar
check "no archive for the shorter layer" [ ! -e clen.tar ]
clen_case "clen:$L:-$SZL" 0 "$SZL" "$L" "empty layer body (Content-Length: 0)" \
	pull @ oci:clen
check "nothing written for the empty body" [ ! -e clen/index.json ]
clen_case "clen:$C:3" $((SZC + 3)) "$SZC" "$C" "config longer than its descriptor (inspect)" \
	inspect @
clen_case "clen:$L:-1" $((SZL - 1)) "$SZL" "$L" "layer one byte short (extract)" \
	extract @ --kernel-out k.clen
check "no kernel from a short layer" [ ! -e k.clen ]
cp -r pulled keep2
clen_case "clen:$L:7" $((SZL + 7)) "$SZL" "$L" "longer layer into an existing layout" \
	pull @ oci:pulled:clen
check "the existing layout is untouched" cmp keep2/index.json pulled/index.json

# --mount-from is for push only: elsewhere exit 2 naming where it applies
for cmd in "pull --mount-from uk/x docker://$R/uk/hello:v1 oci:mf" \
	"inspect --mount-from uk/x docker://$R/uk/hello:v1" \
	"extract --mount-from uk/x docker://$R/uk/hello:v1 --kernel-out k.mf"; do
	# shellcheck disable=SC2086
	expect_fail 2 "--mount-from: only for ukit-pack oci push" \
		"oci ${cmd%% *} refuses --mount-from" ukit-pack oci $cmd
done
expect_fail 2 "--mount-from: only for ukit-pack oci push" "sign refuses --mount-from" \
	ukit-sign sign --key none.key --mount-from uk/x docker://$R/uk/hello:v1
expect_fail 2 "--mount-from: only for ukit-pack oci push" "verify refuses --mount-from" \
	ukit-sign verify --pub none.pub --mount-from uk/x docker://$R/uk/hello:v1
check "nothing pulled by the refused command" [ ! -e mf ]

# the registry killed while the layer is uploaded, then restarted
reg_start kr || not_ok "registry kr"
start_proxy kill "$REG_PORT_kr" "kill:$L:$REG_PID_kr"
expect_fail 1 "gave up after retries" "push fails when the registry dies mid-upload" \
	ukit-pack oci push --json oci:lay:v1 docker://127.0.0.1:$PROXY_PORT/uk/k:v1
kill "$PROXY_PID"
reg_start kr --port "$REG_PORT_kr" || not_ok "registry kr restart"
expect_fail 1 "HTTP 404" "no manifest after the failed push" \
	ukit-pack oci inspect docker://127.0.0.1:$REG_PORT_kr/uk/k:v1
check "push again after the restart" ukit-pack oci push --json oci:lay:v1 \
	docker://127.0.0.1:$REG_PORT_kr/uk/k:v1
cp "$T/.out" push6.json
[ "$(actions push6.json)" = "exists uploaded" ] &&
	ok "rerun skips the blob the registry had, sends the rest" ||
	not_ok "rerun actions: $(actions push6.json)"
check "the image is complete" skopeo inspect --tls-verify=false docker://127.0.0.1:$REG_PORT_kr/uk/k:v1
# the registry stopped for good: clear error after the retries
reg_stop kr
expect_fail 1 "gave up after retries" "registry down" \
	ukit-pack oci inspect docker://127.0.0.1:$REG_PORT_kr/uk/k:v1

# ---- htpasswd basic auth ---------------------------------------------
htpasswd -Bbn alice s3cret >htpasswd 2>/dev/null
reg_start auth --htpasswd "$T/htpasswd" || not_ok "auth registry"
A=127.0.0.1:$REG_PORT_auth
expect_fail 1 "HTTP 401" "no credentials: 401" \
	ukit-pack oci push oci:lay:v1 docker://$A/uk/a:v1
expect_fail 1 "HTTP 401 Unauthorized" "wrong password: exit 1 with the status" \
	ukit-pack oci push --creds alice:wrong oci:lay:v1 docker://$A/uk/a:v1
grep -q "credentials rejected" "$T/.err" && ok "the message says the credentials were rejected" ||
	not_ok "wrong password message: $(cat "$T/.err")"
check "push with --creds" ukit-pack oci push --creds alice:s3cret oci:lay:v1 docker://$A/uk/a:v1
printf '{"auths":{"%s":{"auth":"%s"}}}' "$A" "$(printf alice:s3cret | base64)" >auth.json
check "pull with --authfile" ukit-pack oci pull --authfile auth.json docker://$A/uk/a:v1 oci:pa
check "REGISTRY_AUTH_FILE" env REGISTRY_AUTH_FILE=$T/auth.json \
	ukit-pack oci inspect docker://$A/uk/a:v1
mkdir -p "$XDG_RUNTIME_DIR/containers" && cp auth.json "$XDG_RUNTIME_DIR/containers/auth.json"
check "\$XDG_RUNTIME_DIR/containers/auth.json" ukit-pack oci inspect docker://$A/uk/a:v1
rm "$XDG_RUNTIME_DIR/containers/auth.json"
mkdir -p "$HOME/.docker" && cp auth.json "$HOME/.docker/config.json"
check "~/.docker/config.json" ukit-pack oci inspect docker://$A/uk/a:v1
rm "$HOME/.docker/config.json"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$A" "$(printf alice:nope | base64)" >bad-auth.json
expect_fail 1 "HTTP 401" "wrong password in an auth file" \
	ukit-pack oci inspect --authfile bad-auth.json docker://$A/uk/a:v1
printf '{"auths":{"%s":{"auth":"!!"}}}' "$A" >mal-auth.json
expect_fail 1 "mal-auth.json: \$.auths[\"$A\"].auth" "malformed auth file" \
	ukit-pack oci inspect --authfile mal-auth.json docker://$A/uk/a:v1
check "skopeo reads the authenticated push" skopeo inspect --tls-verify=false \
	--creds alice:s3cret docker://$A/uk/a:v1
expect_fail 2 "--creds: not USER:PASSWORD" "--creds without a colon" \
	ukit-pack oci inspect --creds alice docker://$A/uk/a:v1
expect_fail 2 "--tls-verify=maybe" "--tls-verify=maybe" \
	ukit-pack oci inspect --tls-verify=maybe docker://$A/uk/a:v1

# ---- bearer tokens ----------------------------------------------------
start_proxy bearer "$REG_PORT_plain" bearer:bob:pw
B=127.0.0.1:$PROXY_PORT
check "bearer: pull with a token from the realm" ukit-pack oci pull --creds bob:pw \
	docker://$B/uk/hello:v1 oci:pb
check "bearer: push with a token" ukit-pack oci push --creds bob:pw \
	oci:lay2:v1 docker://$B/uk/bearer:v1
expect_fail 1 "token request: HTTP 401" "bearer: wrong password" \
	ukit-pack oci pull --creds bob:no docker://$B/uk/hello:v1 oci:pbx
check "skopeo uses the same token server" skopeo inspect --tls-verify=false \
	--creds bob:pw docker://$B/uk/hello:v1
kill "$PROXY_PID"

# ---- TLS with a CA made here -----------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=ukit-test-ca -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
	-keyout srv.key -out srv.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext.cnf
openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
	-extfile ext.cnf -out srv.crt 2>/dev/null
reg_start tls --tls "$T/srv.crt" "$T/srv.key" || not_ok "tls registry"
S=127.0.0.1:$REG_PORT_tls
mkdir certs && cp ca.crt certs/ca.crt
expect_fail 1 "certificate" "TLS with an unknown CA fails" \
	ukit-pack oci push oci:lay:v1 docker://$S/uk/t:v1
check "TLS with --cert-dir" ukit-pack oci push --cert-dir certs oci:lay:v1 docker://$S/uk/t:v1
check "TLS with --ca-file" ukit-pack oci pull --ca-file ca.crt docker://$S/uk/t:v1 oci:pt
check "TLS with --tls-verify=false" ukit-pack oci inspect --tls-verify=false docker://$S/uk/t:v1
check "skopeo with the same --cert-dir" skopeo inspect --cert-dir certs docker://$S/uk/t:v1

# ---- mutual TLS: docker-registry with clientcas ----------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=ukit-test-client-ca -keyout cca.key -out cca.crt 2>/dev/null
# client_cert NAME CA: NAME.crt/NAME.key, a clientAuth certificate from CA
client_cert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$1" -keyout "$1.key" -out "$1.csr" 2>/dev/null
	printf 'extendedKeyUsage=clientAuth\n' >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" \
		-CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}
client_cert alice cca
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=stranger-ca -keyout sca.key -out sca.crt 2>/dev/null
client_cert mallory sca
reg_start mtls --tls "$T/srv.crt" "$T/srv.key" --clientca "$T/cca.crt" ||
	not_ok "mutual-TLS registry"
MT=127.0.0.1:$REG_PORT_mtls
# the skopeo layout: CA as *.crt, the client pair as NAME.cert + NAME.key
mkdir mcerts && cp ca.crt mcerts/ca.crt && cp alice.crt mcerts/alice.cert &&
	cp alice.key mcerts/alice.key
expect_fail 1 "the registry ended the TLS handshake" \
	"mutual TLS without a client certificate: push refused" \
	ukit-pack oci push --cert-dir certs oci:lay:v1 docker://$MT/uk/m:v1
grep -q "it wants a client certificate (NAME.cert and NAME.key in --cert-dir DIR)" "$T/.err" &&
	ok "the message says a client certificate is wanted, and where it goes" ||
	not_ok "no-client-cert message: $(cat "$T/.err")"
check "nothing was pushed without it" sh -c "[ ! -e '$T/mtls.d/docker' ] ||
	[ -z \"\$(find '$T/mtls.d' -path '*_manifests/tags/v1*')\" ]"
check "mutual TLS: push with NAME.cert + NAME.key in --cert-dir" \
	ukit-pack oci push --cert-dir mcerts oci:lay:v1 docker://$MT/uk/m:v1
check "mutual TLS: pull" ukit-pack oci pull --cert-dir mcerts docker://$MT/uk/m:v1 oci:pm
check "mutual TLS: extract" ukit-pack oci extract --cert-dir mcerts docker://$MT/uk/m:v1 \
	--kernel-out k.mtls
same_file "kernel through mutual TLS" k.hvt k.mtls
check "skopeo reads the push with the same --cert-dir" \
	skopeo inspect --cert-dir mcerts docker://$MT/uk/m:v1
cp "$T/.out" skm.json
check "skopeo sees ukit's digest" "$PY" -c '
import json, sys
assert json.load(open(sys.argv[1]))["Digest"] == sys.argv[2]' skm.json "$D"
mkdir mwrong && cp ca.crt mwrong/ca.crt && cp mallory.crt mwrong/m.cert &&
	cp mallory.key mwrong/m.key
expect_fail 1 "it refused the client certificate" \
	"mutual TLS with a certificate of another CA: refused" \
	ukit-pack oci inspect --cert-dir mwrong docker://$MT/uk/m:v1
mkdir mnokey && cp ca.crt mnokey/ca.crt && cp alice.crt mnokey/alice.cert
expect_fail 1 "mnokey/alice.cert: client certificate without its key mnokey/alice.key" \
	"a .cert without its .key" ukit-pack oci inspect --cert-dir mnokey docker://$MT/uk/m:v1
mkdir mnocert && cp ca.crt mnocert/ca.crt && cp alice.key mnocert/alice.key
expect_fail 1 "mnocert/alice.key: key without its client certificate mnocert/alice.cert" \
	"a .key without its .cert" ukit-pack oci inspect --cert-dir mnocert docker://$MT/uk/m:v1
mkdir mbad && cp ca.crt mbad/ca.crt && cp alice.crt mbad/alice.cert &&
	cp mallory.key mbad/alice.key
expect_fail 1 "client certificate" "a client key that is not the certificate's" \
	ukit-pack oci inspect --cert-dir mbad docker://$MT/uk/m:v1
done_testing
