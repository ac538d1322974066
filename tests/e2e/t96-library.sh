#!/bin/bash
# t96-library: libukit as others embed it.  Its layers hold (no module
# calls a higher layer, no cycles); make install puts headers under
# include/ukit/, libukit.a, libukit.so.0 and a ukit.pc written for that
# PREFIX; the installed headers are the whole public API (libukit.so.0
# exports what they declare and nothing else; tests/lib/pubapi.py); the
# examples build against the installed library through pkg-config,
# shared and static, and run on images this test signs.
. "$(dirname "$0")/lib.sh"

BUILD=${UKIT_BUILD:-build}
SAN=${UKIT_SAN:-}
cd "$TOP" || exit 1

check "layers: tests/lib/layers.py" "$PY" tests/lib/layers.py . "$BUILD/obj"
sed 's/^/#   /' "$T/.out"

P=$T/prefix
if make -s BUILD="$BUILD" SAN="$SAN" PREFIX="$P" install >"$T/inst" 2>&1; then
	ok "make install PREFIX=$P"
else
	not_ok "make install: $(tail -5 "$T/inst")"
fi
for f in include/ukit/verify.h include/ukit/elfimg.h include/ukit/err.h \
	lib/libukit.a lib/libukit.so.0 lib/libukit.so lib/pkgconfig/ukit.pc \
	share/man/man3/ukit.3 share/man/man1/ukit-sign.1 \
	share/ukit/schemas/ukit-sign-verify.schema.json; do
	[ -e "$P/$f" ] && ok "installed $f" || not_ok "installed $f: missing"
done
[ ! -e "$P/include/err.h" ] && ok "no header named like a system one on the include path" ||
	not_ok "include/err.h installed"
export PKG_CONFIG_PATH=$P/lib/pkgconfig
[ "$(pkg-config --variable=prefix ukit)" = "$P" ] &&
	ok "ukit.pc says prefix=$P" ||
	not_ok "ukit.pc prefix $(pkg-config --variable=prefix ukit)"
readelf -d "$P/lib/libukit.so.0" | grep -q 'SONAME.*\[libukit.so.0\]' &&
	ok "libukit.so.0 has its soname" || not_ok "soname: $(readelf -d "$P/lib/libukit.so.0" | grep SONAME)"

# The namespace: every symbol libukit defines for others starts with ukit_.
nm -P --defined-only "$TOP/$BUILD/lib/libukit.a" 2>/dev/null |
	awk 'NF >= 2 && $2 ~ /^[TDRBVWG]$/ && $1 !~ /^ukit_/ &&
	     $1 !~ /^__(odr_)?asan/ { print $1 }' |  # (ASan's ODR markers)
	sort -u >"$T/bad-a"
nm -P --defined-only "$TOP/$BUILD/lib/libukit.a" 2>/dev/null |
	awk 'NF >= 2 && $2 ~ /^[TDRBVWG]$/' | grep -q . &&
	ok "libukit.a defines symbols (nm reads it)" || not_ok "nm read no symbols"
[ ! -s "$T/bad-a" ] && ok "every global symbol of libukit.a starts with ukit_" ||
	not_ok "libukit.a exports $(wc -l <"$T/bad-a") unprefixed: $(head -8 "$T/bad-a" | tr '\n' ' ')"
# (names carry their version node: ukit_verify_image@@UKIT_0)
nm -D --defined-only "$P/lib/libukit.so.0" 2>/dev/null |
	awk 'NF >= 3 && $2 != "A" { sub(/@.*/, "", $3); if ($3 !~ /^ukit_/) print $3 }' >"$T/bad-so"
nm -D --defined-only "$P/lib/libukit.so.0" | grep -q ' T ukit_verify_image@@UKIT_0$' &&
	ok "libukit.so.0 exports the public API (ukit_verify_image)" || not_ok "no ukit_verify_image in libukit.so.0"
[ ! -s "$T/bad-so" ] && ok "libukit.so.0 exports only ukit_* symbols" ||
	not_ok "libukit.so.0 exports $(head -8 "$T/bad-so" | tr '\n' ' ')"

# The public API is the installed headers: libukit.so.0 exports exactly
# the functions they declare, and they include no internal header.
sanflags=()
[ "$SAN" = 1 ] && sanflags=(-fsanitize=address,undefined)
check "public API: tests/lib/pubapi.py" "$PY" tests/lib/pubapi.py "$P" "${sanflags[@]}"
sed 's/^/#   /' "$T/.out"
for f in io.h sigjson.h bytes.h qcow2.h verify_int.h; do
	[ ! -e "$P/include/ukit/$f" ] && ok "internal $f is not installed" ||
		not_ok "internal header $f installed"
done
nm -D --defined-only "$P/lib/libukit.so.0" | grep -q ' ukit_pread_full@' &&
	not_ok "libukit.so.0 exports the internal ukit_pread_full" ||
	ok "libukit.so.0 hides internal helpers (ukit_pread_full)"
nm -P --defined-only "$P/lib/libukit.a" 2>/dev/null | grep -q '^ukit_pread_full T' &&
	ok "libukit.a keeps them for the tools (ukit_pread_full)" ||
	not_ok "no ukit_pread_full in libukit.a"

# Examples: shared and static, built the way a user builds them.
for ex in read-manifest edge-verify; do
	# shellcheck disable=SC2046
	if cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror "${sanflags[@]}" \
		-o "$T/$ex-shared" examples/$ex.c \
		$(pkg-config --cflags --libs ukit) 2>"$T/cc.err"; then
		ok "$ex builds against libukit.so (pkg-config --libs ukit)"
	else
		not_ok "$ex shared: $(head -c 600 "$T/cc.err")"
	fi
	# shellcheck disable=SC2046
	if cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror "${sanflags[@]}" \
		-o "$T/$ex-static" examples/$ex.c $(pkg-config --cflags ukit) \
		"$P/lib/libukit.a" $(pkg-config --static --libs ukit | sed 's/-lukit//') \
		2>"$T/cc.err"; then
		ok "$ex builds against libukit.a (pkg-config --static)"
	else
		not_ok "$ex static: $(head -c 600 "$T/cc.err")"
	fi
done
readelf -d "$T/read-manifest-shared" 2>/dev/null | grep -q 'NEEDED.*libukit.so.0' &&
	ok "the shared build loads libukit.so.0" || not_ok "shared build: no libukit.so.0 NEEDED"
readelf -d "$T/read-manifest-static" 2>/dev/null | grep -q 'NEEDED.*libukit' &&
	not_ok "the static build needs libukit.so" || ok "the static build does not load libukit.so"

export LD_LIBRARY_PATH=$P/lib
bash tests/gen/mkhvt.sh -m "$SHARED/data/solo5/m03-net-block/note.hex" "$T/k.hvt" >/dev/null 2>&1 ||
	not_ok "mkhvt.sh failed"
ukit-elftool query-manifest "$T/k.hvt" >"$T/q.json"
"$PY" -c '
import json, sys
m = json.load(open(sys.argv[1]))
for d in m["devices"]:
    print(d["name"], d["type"])
' "$T/q.json" >"$T/want"
[ -s "$T/want" ] && ok "query-manifest lists devices" || not_ok "no devices in query-manifest"
for kind in shared static; do
	if "$T/read-manifest-$kind" "$T/k.hvt" >"$T/got" 2>"$T/.err"; then
		if [ "$(head -1 "$T/got")" = "target hvt 2" ] &&
			tail -n +2 "$T/got" | cmp -s - "$T/want"; then
			ok "read-manifest ($kind): target and devices as query-manifest says"
		else
			not_ok "read-manifest ($kind): $(head -c 300 "$T/got")"
		fi
	else
		not_ok "read-manifest ($kind) exit $?: $(head -c 300 "$T/.err")"
	fi
done

ukit-sign keygen --no-passphrase --type ed25519 "$T/rel" >/dev/null
ukit-sign keygen --no-passphrase --type ecdsa-p256 "$T/other" >/dev/null
cp "$T/k.hvt" "$T/app.hvt"
ukit-sign sign -q --key "$T/rel.key" "$T/app.hvt"
want=$(sha256sum <"$T/app.hvt" | cut -d' ' -f1)
for kind in shared static; do
	rm -f "$T/seen"
	"$T/edge-verify-$kind" "$T/rel.pub" "$T/app.hvt" /bin/sh -c \
		'sha256sum <"$1" | cut -d" " -f1 >"$2"; exit 5' sh '{}' "$T/seen" \
		>"$T/.out" 2>"$T/.err"
	rc=$?
	if [ $rc -eq 5 ] && [ "$(cat "$T/seen" 2>/dev/null)" = "$want" ]; then
		ok "edge-verify ($kind): verified, the tender got exactly the signed bytes"
	else
		not_ok "edge-verify ($kind): exit $rc, seen $(cat "$T/seen" 2>/dev/null): $(head -c 300 "$T/.err")"
	fi
	rm -f "$T/seen"
	expect_fail 1 "signature" "edge-verify ($kind): another key is refused, nothing runs" \
		"$T/edge-verify-$kind" "$T/other.pub" "$T/app.hvt" /bin/sh -c 'echo ran >"$1"' sh "$T/seen"
	[ ! -e "$T/seen" ] && ok "edge-verify ($kind): the tender did not run" || not_ok "tender ran"
done
cp "$T/app.hvt" "$T/bad.hvt"
cp "$T/app.hvt.bundle.json" "$T/bad.hvt.bundle.json"
printf '\001' | dd of="$T/bad.hvt" bs=1 seek=4000 conv=notrunc status=none
expect_fail 1 "sha256" "edge-verify: a changed byte is refused" \
	"$T/edge-verify-shared" "$T/rel.pub" "$T/bad.hvt" /bin/true
done_testing
