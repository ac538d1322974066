#!/bin/sh
# Seed corpus for fuzz_manifest: the Solo5 reference manifests and a few
# near-misses.
set -eu
dir=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$dir"
for f in "$top"/../shared/data/solo5/*/manifest.json; do
	[ -f "$f" ] && cp "$f" "$dir/$(basename "$(dirname "$f")").json"
done
printf '{"type":"solo5.manifest","version":1,"devices":[{"name":"a","type":"NET_BASIC"},{"name":"a","type":"BLOCK_BASIC"}]}' >"$dir/dup.json"
printf '{"type":"solo5.manifest","version":1.0,"devices":[]}' >"$dir/real.json"
printf '{"type":"solo5.manifest","version":1,"devices":[{"name":"x\\u00e9","type":"NET_BASIC"}]}' >"$dir/utf8.json"
