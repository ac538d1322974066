#!/bin/sh
# Seed corpus for fuzz_verity: valid verity objects with and without salt.
set -eu
dir=$1
mkdir -p "$dir"
r=727a5f79ecd16a7dc3a71043f0ce673f8864a3738a8277788c895415084d8655
printf '{"version":1,"hash":"sha256","data-block-size":4096,"hash-block-size":4096,"root-hash":"%s"}' $r >"$dir/nosalt.json"
printf '{"version":1,"hash":"sha256","data-block-size":4096,"hash-block-size":4096,"salt":"00ff","root-hash":"%s"}' $r >"$dir/salt.json"
