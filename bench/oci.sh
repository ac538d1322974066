#!/bin/bash
# bench/oci.sh: push then pull an OCI image holding a 1 GiB qcow2 disk
# image through Debian's docker-registry on 127.0.0.1, with ukit-pack oci
# and with skopeo copy, side by side on the same layout (built once by
# ukit-pack oci build, not timed).  Each tool gets a fresh registry, so
# every blob is really sent; pulls go to fresh directories.
# Prints wall seconds (best of RUNS), CPU seconds and peak RSS, the ratio
# to skopeo, and the floor of the same run: reading and hashing the layer
# (openssl dgst -sha256, the SHA-256 ukit uses), which both tools must do
# at least once each way, and the
# registry's own cost: curl pushing and fetching the layer blob alone.
# Data under $TMPDIR (a mktemp directory), removed afterwards.
#   SIZE_MB=1024 RUNS=2 bench/oci.sh
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=${UKIT_BIN:-$TOP/build/bin}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-2}
D=$(mktemp -d "${TMPDIR:-/tmp}/ukit-bench-oci.XXXXXX")
pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null || :; done; rm -rf "$D"' EXIT
cd "$D"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# registry NAME: start one on a free port, written to NAME.port
registry() {
	local port
	port=$(free_port)
	rm -rf "$D/$1.d"
	mkdir -p "$D/$1.d"
	printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
		"$D/$1.d" "$port" >"$D/$1.yml"
	docker-registry serve "$D/$1.yml" >"$D/$1.log" 2>&1 &
	echo $! >"$D/$1.pid"
	disown $!
	pids="$pids $!"
	echo "$port" >"$D/$1.port"
	for _ in $(seq 100); do
		python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null && break
		sleep 0.1
	done
}

echo "bench/oci.sh: ${SIZE_MB} MiB qcow2 in an OCI image, best of $RUNS, $(nproc) CPUs"
head -c $((SIZE_MB << 20)) /dev/urandom >disk.raw
qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2
rm disk.raw
printf '\177ELF' >kernel     # the kernel does not matter here
bash "$TOP/tests/gen/mkhvt.sh" kernel
SOURCE_DATE_EPOCH=0 "$B/ukit-pack" oci build -c gzip --level 1 kernel \
	--disk disk.qcow2 -o oci:lay:v1 >/dev/null
L=$(python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))
print(max(m["layers"], key=lambda l: l["size"])["digest"][7:])' \
	"lay/blobs/sha256/$(python3 -c 'import json; print(json.load(open("lay/index.json"))["manifests"][0]["digest"][7:])')")
echo "layer: $(stat -c %s lay/blobs/sha256/$L) bytes"
cat lay/blobs/sha256/* >/dev/null

declare -A T R C
# run NAME SETUP CMD...: best wall time of CMD after SETUP (untimed) each run
run() {
	local name=$1 setup=$2 best="" t m u s
	shift 2
	for _ in $(seq "$RUNS"); do
		eval "$setup"
		/usr/bin/time -f '%e %M %U %S' -o tm "$@" >/dev/null 2>err || {
			echo "$name failed:"; cat err; exit 1; }
		read -r t m u s <tm
		if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then
			best=$t R[$name]=$m C[$name]=$(awk "BEGIN{print $u + $s}")
		fi
	done
	T[$name]=$best
}

# every push goes to a registry started empty for it: a registry (or
# skopeo's blob-info cache, which remembers where blobs were seen and
# mounts them) must not turn a push into a no-op
fresh() {
	[ ! -e "$D/$1.pid" ] || kill -9 "$(cat "$D/$1.pid")" 2>/dev/null || :
	registry "$1"
}
run floor-hash : openssl dgst -sha256 lay/blobs/sha256/$L
# The registry's own floor: curl sends the layer blob in one monolithic
# upload (POST, then PUT with the digest already known) to a fresh
# registry, and fetches it back into a file; no hashing, no manifest.
# What the registry spends receiving, checking and storing a blob, and
# serving it, bounds both tools.
curl_push() {
	local loc
	loc=$(curl -sS -o /dev/null -D - -X POST \
		"http://127.0.0.1:$(cat floor.port)/v2/b/f/blobs/uploads/" |
		tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	case $loc in http*) ;; *) loc=http://127.0.0.1:$(cat floor.port)$loc ;; esac
	curl -sS -f -o /dev/null -H 'Expect:' -H 'Content-Type: application/octet-stream' \
		-T "lay/blobs/sha256/$L" "$loc&digest=sha256:$L"
}
export -f curl_push; export L
run floor-push 'fresh floor' bash -c curl_push
run floor-pull 'rm -f pf' curl -sS -f -o pf \
	"http://127.0.0.1:$(cat "$D/floor.port")/v2/b/f/blobs/sha256:$L"
run ukit-push 'fresh ukit' sh -c "\"$B/ukit-pack\" oci push oci:lay:v1 docker://127.0.0.1:\$(cat ukit.port)/b/u:v1"
run skopeo-push 'fresh skopeo' sh -c "skopeo copy -q --dest-tls-verify=false oci:lay:v1 docker://127.0.0.1:\$(cat skopeo.port)/b/s:v1"
PU=$(cat "$D/ukit.port") PS=$(cat "$D/skopeo.port")
run ukit-pull 'rm -rf pu' "$B/ukit-pack" oci pull docker://127.0.0.1:$PU/b/u:v1 oci:pu
run skopeo-pull 'rm -rf ps' skopeo copy -q --src-tls-verify=false docker://127.0.0.1:$PS/b/s:v1 oci:ps:v1
cmp pu/blobs/sha256/$L lay/blobs/sha256/$L
cmp ps/blobs/sha256/$L lay/blobs/sha256/$L

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s %8s %8s %10s %10s\n' what seconds 'CPU s' 'RSS MiB' 'x skopeo'
for n in floor-hash floor-push floor-pull ukit-push skopeo-push ukit-pull skopeo-pull; do
	peer=${n/ukit/skopeo}
	awk -v n="$n" -v t="${T[$n]}" -v c="${C[$n]}" -v r="${R[$n]}" -v p="${T[$peer]:-0}" \
		'BEGIN{printf "%-12s %8.2f %8.2f %10.1f %10s\n", n, t, c, r/1024,
		 (n ~ /^ukit/ && p > 0) ? sprintf("%.2f", t/p) : "-"}'
done
awk -v a="${T[ukit-push]}" -v b="${T[ukit-pull]}" -v c="${T[skopeo-push]}" -v d="${T[skopeo-pull]}" \
	'BEGIN{printf "push+pull: ukit %.2f s, skopeo %.2f s, ratio %.2f\n", a+b, c+d, (a+b)/(c+d)}'
awk -v a="${T[floor-push]}" -v b="${T[floor-pull]}" -v c="${T[skopeo-push]}" -v d="${T[skopeo-pull]}" \
	'BEGIN{printf "push+pull floor (curl, the registry alone): %.2f s, %.2f x skopeo\n", a+b, (a+b)/(c+d)}'
