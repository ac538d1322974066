#!/bin/sh
# seeds-fuzz_oci_auth.sh CORPUS: challenges as distribution and Docker Hub
# send them, an auth file, references of each transport.
set -eu
c=$1
mkdir -p "$c"
printf 'WBearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"' >"$c/seed-bearer"
printf 'WBasic realm="ukit-test"' >"$c/seed-basic"
printf 'Wbearer realm="http://127.0.0.1:1/token", service=x, error="insufficient_scope"' >"$c/seed-bearer2"
printf 'A127.0.0.1:5000\000{"auths":{"127.0.0.1:5000":{"auth":"YWxpY2U6czNjcmV0"}}}' >"$c/seed-auth"
printf 'Rdocker://127.0.0.1:5000/a/b:v1' >"$c/seed-ref1"
printf 'Roci:/tmp/x:tag' >"$c/seed-ref2"
printf 'Roci-archive:x.tar:t' >"$c/seed-ref3"
printf 'Rdocker://alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000' >"$c/seed-ref4"
