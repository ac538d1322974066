#!/bin/sh
# seeds-fuzz_oci_tar.sh CORPUS: small layers (plain, gzip, zstd) made by
# GNU tar and python's tarfile (pax headers), with their selector byte.
set -eu
c=$1
t=$(mktemp -d "${TMPDIR:-/tmp}/seeds-tar.XXXXXX")
trap 'rm -rf "$t"' EXIT
mkdir -p "$c" "$t/d/unikernel"
printf 'kernel bytes' >"$t/d/unikernel/kernel"
tar --owner=0 --group=0 -C "$t/d" -cf "$t/a.tar" unikernel
{ printf T; cat "$t/a.tar"; } >"$c/seed-tar"
{ printf G; gzip -9n <"$t/a.tar"; } >"$c/seed-gz"
if command -v zstd >/dev/null; then
	{ printf Z; zstd -q -c <"$t/a.tar"; } >"$c/seed-zst"
fi
/usr/bin/python3 - "$c/seed-pax" <<'P'
import io, sys, tarfile
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
    i = tarfile.TarInfo("unikernel/" + "k" * 150); i.size = 5
    t.addfile(i, io.BytesIO(b"hello"))
open(sys.argv[1], "wb").write(b"T" + b.getvalue())
P
