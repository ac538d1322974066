#!/bin/bash
# t10-gen-manifest: gen-manifest and validate.  --format note equals the
# bytes Solo5's toolchain produced (data/solo5/*/note.hex); the C output,
# compiled by gcc and aarch64-linux-gnu-gcc against ukit's own layout
# header, gives those bytes; the object output carries them, reads clean
# in readelf and links; hostile manifests exit 1 with the JSON path and
# write nothing; kill -9 leaves nothing; the schema accepts the real
# manifests and refuses bad ones.
. "$(dirname "$0")/lib.sh"

D=$SHARED/data/solo5
CASES="m00-empty m01-net m03-net-block m63-max"
mkdir -p "$T/inc"
cp "$TOP/tests/gen/mft_layout.h" "$T/inc/mft_abi.h"

# section_bytes FILE OUT: the raw .note.solo5.manifest section of FILE,
# with the objcopy of FILE's architecture (the host's knows only its own)
section_bytes() {
	local oc=objcopy
	case $(readelf -h "$1" | sed -n 's/^ *Machine: *//p') in
	AArch64) oc=aarch64-linux-gnu-objcopy ;;
	PowerPC64*) oc=powerpc64le-linux-gnu-objcopy ;;
	esac
	$oc -O binary --only-section=.note.solo5.manifest "$1" "$2"
}

have() { command -v "$1" >/dev/null 2>&1; }

for c in $CASES; do
	xxd -r -p "$D/$c/note.hex" >"$T/$c.want"

	# --format note, file and stdin/stdout
	check "$c: gen-manifest --format note" \
		ukit-elftool gen-manifest --format note "$D/$c/manifest.json" "$T/$c.note"
	same_file "$c: note == Solo5's note.hex" "$T/$c.want" "$T/$c.note"
	ukit-elftool gen-manifest --format note - - <"$D/$c/manifest.json" >"$T/$c.stdout"
	same_file "$c: note via stdin/stdout" "$T/$c.want" "$T/$c.stdout"
	check "$c: validate" ukit-elftool validate "$D/$c/manifest.json"
	validate_json "$c: manifest.json matches the schema" \
		solo5-manifest.schema.json "$D/$c/manifest.json"

	# C output (default format) compiled for x86_64 and aarch64
	check "$c: gen-manifest (C)" \
		ukit-elftool gen-manifest "$D/$c/manifest.json" "$T/$c.c"
	for cc in gcc aarch64-linux-gnu-gcc; do
		if ! have $cc; then
			missing "$c: $cc not installed"
			continue
		fi
		if $cc -c -O2 -ffreestanding -Wall -Werror -I"$T/inc" -o "$T/$c.$cc.o" "$T/$c.c" 2>"$T/cc.err" &&
			section_bytes "$T/$c.$cc.o" "$T/$c.$cc.bin"; then
			same_file "$c: C output compiled by $cc == note.hex" \
				"$T/$c.want" "$T/$c.$cc.bin"
		else
			not_ok "$c: C output compiled by $cc ($(head -c 300 "$T/cc.err"))"
		fi
	done

	# object output for each architecture
	for arch in x86_64 aarch64 ppc64le; do
		o=$T/$c.$arch.o
		check "$c: gen-manifest --format object --arch $arch" \
			ukit-elftool gen-manifest --format object --arch $arch \
			"$D/$c/manifest.json" "$o"
		section_bytes "$o" "$T/$c.$arch.bin"
		same_file "$c: $arch object section == note.hex" "$T/$c.want" "$T/$c.$arch.bin"
		readelf -aW "$o" >"$T/re.out" 2>"$T/re.err"
		if [ $? -eq 0 ] && [ ! -s "$T/re.err" ] &&
			grep -q 'OBJECT  GLOBAL DEFAULT    1 __solo5_mft1_note' "$T/re.out" &&
			grep -q '\.note\.solo5\.manifest NOTE .* A  0   0  4' "$T/re.out"; then
			ok "$c: $arch object: readelf -aW clean, symbol and section"
		else
			not_ok "$c: $arch object: readelf ($(head -c 300 "$T/re.err"))"
		fi
	done
done

# machine and flags of the objects
readelf -h "$T/m01-net.x86_64.o" | grep -q 'Machine: *Advanced Micro Devices X86-64' &&
	readelf -h "$T/m01-net.aarch64.o" | grep -q 'Machine: *AArch64' &&
	readelf -h "$T/m01-net.ppc64le.o" | grep -q 'Flags: *0x2, abiv2' &&
	ok "object: e_machine per --arch, ppc64le ELFv2 flags" ||
	not_ok "object: e_machine/e_flags"

# without --arch the object is for the host
case $(uname -m) in
x86_64) host='Advanced Micro Devices X86-64' ;;
aarch64) host='AArch64' ;;
ppc64le) host='PowerPC64' ;;
*) host= ;;
esac
if [ -n "$host" ]; then
	ukit-elftool gen-manifest --format object "$D/m01-net/manifest.json" "$T/host.o" &&
		readelf -h "$T/host.o" | grep -q "Machine: *$host" &&
		ok "object without --arch: the host's machine ($host)" ||
		not_ok "object without --arch is not for $host"
else
	skip "host $(uname -m) has no default object architecture"
fi

# The object links with plain ld (no C compiler) and the section keeps its
# bytes; the symbol resolves for a reference from other code.
printf '.globl _start\n_start:\n.quad __solo5_mft1_note\n.section .note.GNU-stack,"",@progbits\n' >"$T/start.s"
for pair in x86_64:x86_64-linux-gnu aarch64:aarch64-linux-gnu ppc64le:powerpc64le-linux-gnu; do
	arch=${pair%%:*} triple=${pair#*:}
	as=$triple-as ld=$triple-ld
	[ "$arch" = x86_64 ] && have as && ! have $as && as=as ld=ld
	if ! have $as || ! have $ld; then
		missing "link $arch: $as/$ld not installed"
		continue
	fi
	if $as -o "$T/start.$arch.o" "$T/start.s" 2>"$T/ld.err" &&
		$ld -o "$T/linked.$arch" "$T/start.$arch.o" "$T/m03-net-block.$arch.o" 2>>"$T/ld.err" &&
		section_bytes "$T/linked.$arch" "$T/linked.$arch.bin" &&
		[ ! -s "$T/ld.err" ]; then
		same_file "object links with $ld, note intact" "$T/m03-net-block.want" "$T/linked.$arch.bin"
	else
		not_ok "link $arch with $ld ($(head -c 300 "$T/ld.err"))"
	fi
done

# Hostile manifests: exit 1, message with the JSON path or line:column,
# no output file created, an existing one untouched.
GOOD='"type": "solo5.manifest", "version": 1'
hostile=(
	"{$GOOD, \"devices\": []} trailing"          "1:64: end of file expected near 'trailing'"
	"{$GOOD, \"devices\": [] /* c */}"           "1:56: '}' expected near '/'"
	"{$GOOD, \"version\": 1, \"devices\": []}"   "1:50: duplicate object key near '\"version\"'"
	"{$GOOD, \"devices\": [], \"extra\": 0}"     "\$.extra: unknown key"
	"{\"type\": \"solo5.manifest\", \"version\": 1.0, \"devices\": []}" "\$.version: expected integer, got real"
	"{\"type\": \"solo5.manifest\", \"version\": true, \"devices\": []}" "\$.version: expected integer, got boolean"
	"{\"type\": \"solo5.manifest\", \"version\": \"1\", \"devices\": []}" "\$.version: expected integer, got string"
	"{\"type\": \"solo5.manifest\", \"version\": 2, \"devices\": []}" "\$.version: unsupported version 2"
	"{\"type\": \"solo5\", \"version\": 1, \"devices\": []}" "\$.type: \"solo5\", expected \"solo5.manifest\""
	"{$GOOD}"                                    "\$: missing key \"devices\""
	"{$GOOD, \"devices\": [{\"name\": \"a\", \"type\": \"NET_BASIC\", \"mtu\": 9000}]}" "\$.devices[0].mtu: unknown key"
	"{$GOOD, \"devices\": [{\"name\": \"a\", \"type\": \"NET_BASIC\"}, {\"name\": \"a\", \"type\": \"BLOCK_BASIC\"}]}" "\$.devices[1].name: duplicate name \"a\""
	"{$GOOD, \"devices\": [{\"name\": \"a\", \"type\": \"NET_BASIC }; int x = {\"}]}" "\$.devices[0].type: unknown device type"
	"{$GOOD, \"devices\": [{\"name\": \"a-b\", \"type\": \"NET_BASIC\"}]}" "\$.devices[0].name: name is not alphanumeric"
	"{$GOOD, \"devices\": [{\"name\": \"\", \"type\": \"NET_BASIC\"}]}" "\$.devices[0].name: name is empty"
	"{$GOOD, \"devices\": [{\"name\": \"a\\u0000b\", \"type\": \"NET_BASIC\"}]}" "1:72: \\u0000 is not allowed"
	"{$GOOD, \"devices\": [{\"name\": 5, \"type\": \"NET_BASIC\"}]}" "\$.devices[0].name: expected string, got integer"
	"[]"                                          "\$: expected object, got array"
)
for ((i = 0; i < ${#hostile[@]}; i += 2)); do
	printf '%s' "${hostile[i]}" >"$T/bad.json"
	want=${hostile[i + 1]}
	rm -f "$T/new.c"
	# syntax errors print compiler style, FILE:LINE:COL: MSG
	case $want in
	[0-9]*) loc="bad.json:$want" ;;
	*) loc="bad.json: $want" ;;
	esac
	expect_fail 1 "$loc" "hostile $((i / 2)): gen-manifest exit 1, '$loc'" \
		ukit-elftool gen-manifest "$T/bad.json" "$T/new.c"
	[ ! -e "$T/new.c" ] && ok "hostile $((i / 2)): no output created" ||
		not_ok "hostile $((i / 2)): output created"
	expect_fail 1 "$want" "hostile $((i / 2)): validate exit 1" \
		ukit-elftool validate "$T/bad.json"
done

# more than 63 devices, too long a name, absurd nesting, oversized input
"$PY" -c 'import json; print(json.dumps({"type": "solo5.manifest", "version": 1,
	"devices": [{"name": "d%d" % i, "type": "NET_BASIC"} for i in range(64)]}))' >"$T/64.json"
expect_fail 1 '$.devices: too many entries, maximum 63 (64 devices)' "64 devices refused" \
	ukit-elftool gen-manifest "$T/64.json" "$T/new.c"
printf '{%s, "devices": [{"name": "%s", "type": "NET_BASIC"}]}' "$GOOD" \
	"$(head -c 68 /dev/zero | tr '\0' a)" >"$T/long.json"
expect_fail 1 '$.devices[0].name: name too long (68 > 67 characters)' \
	"68-character name refused" ukit-elftool gen-manifest "$T/long.json" "$T/new.c"
head -c 100000 /dev/zero | tr '\0' '[' >"$T/deep.json"
expect_fail 1 'maximum parsing depth' "100000 nested arrays: error, no crash" \
	ukit-elftool gen-manifest "$T/deep.json" "$T/new.c"
head -c 2000000 /dev/zero | tr '\0' ' ' >"$T/big.json"
expect_fail 1 'manifest too large' "2 MB input refused" \
	ukit-elftool gen-manifest "$T/big.json" "$T/new.c"
expect_fail 1 'nonexistent.json: cannot open: No such file' "missing source: exit 1" \
	ukit-elftool gen-manifest "$T/nonexistent.json" "$T/new.c"
[ ! -e "$T/new.c" ] && ok "no output after any failure" || not_ok "output left behind"

# an existing output is untouched by a failure, replaced by a success
echo "precious" >"$T/keep.c"
cp "$T/keep.c" "$T/keep.orig"
printf '{%s, "devices": [{"name": "x", "type": "BOGUS"}]}' "$GOOD" >"$T/bad.json"
expect_fail 1 'unknown device type "BOGUS"' "failure with existing output: exit 1" \
	ukit-elftool gen-manifest "$T/bad.json" "$T/keep.c"
same_file "existing output unchanged after failure" "$T/keep.orig" "$T/keep.c"
check "success replaces existing output" \
	ukit-elftool gen-manifest --format note "$D/m01-net/manifest.json" "$T/keep.c"
same_file "replaced output is the note" "$T/m01-net.want" "$T/keep.c"

# usage errors: 1 for gen-manifest (Solo5's contract), 2 for validate
expect_fail 1 'usage:' "gen-manifest with one argument: exit 1" \
	ukit-elftool gen-manifest "$D/m01-net/manifest.json"
expect_fail 1 "unknown format 'elf'" "unknown --format: exit 1" \
	ukit-elftool gen-manifest --format elf "$D/m01-net/manifest.json" "$T/new.c"
expect_fail 1 "unknown architecture 'mips'" "unknown --arch: exit 1" \
	ukit-elftool gen-manifest --format object --arch mips "$D/m01-net/manifest.json" "$T/new.c"
expect_fail 1 'usage:' "gen-manifest unknown option: exit 1" \
	ukit-elftool gen-manifest --bogus a b
expect_fail 2 'usage:' "validate without SOURCE: exit 2" ukit-elftool validate
check "gen-manifest --help: exit 0" sh -c 'ukit-elftool gen-manifest --help | grep -q "^usage: ukit-elftool gen-manifest"'
check "validate --help: exit 0" sh -c 'ukit-elftool validate --help | grep -q "^usage: ukit-elftool validate"'
ukit-elftool validate --json "$D/m01-net/manifest.json" >"$T/v.json"
check "validate --json: a valid manifest of 1 device" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d == {"path": sys.argv[2], "kind": "manifest", "valid": True, "devices": 1}, d
' "$T/v.json" "$D/m01-net/manifest.json"
validate_json "validate --json matches its schema" elftool-validate.schema.json "$T/v.json"
printf '{"type": "solo5.manifest", "version": 2, "devices": []}' >"$T/v2.json"
ukit-elftool validate --json "$T/v2.json" >"$T/v.json" 2>/dev/null
check "validate --json: an invalid manifest, exit 1, with the reason" sh -c '
"$1" -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d[\"valid\"] is False and \"version\" in d[\"error\"][\"message\"], d
" "$2" && ! ukit-elftool validate --json "$3" >/dev/null 2>&1' sh "$PY" "$T/v.json" "$T/v2.json"
validate_json "validate --json (invalid) matches its schema" elftool-validate.schema.json "$T/v.json"
check "validate -q: silent" sh -c '[ -z "$(ukit-elftool validate -q "$1")" ]' sh "$D/m01-net/manifest.json"
expect_fail 1 'No such file or directory' "gen-manifest into a missing directory: exit 1" \
	ukit-elftool gen-manifest "$D/m01-net/manifest.json" "$T/nodir/x/"

# kill -9 while gen-manifest waits on its source (a FIFO held open): no
# output, no temporary file, an existing output untouched
mkfifo "$T/fifo"
mkdir "$T/kill"
echo "old" >"$T/kill/exists.c"
alive=0
for out in "$T/kill/new.c" "$T/kill/exists.c"; do
	exec 3<>"$T/fifo"
	ukit-elftool gen-manifest "$T/fifo" "$out" &
	pid=$!
	printf '{%s, "devices": [' "$GOOD" >&3
	sleep 0.3
	kill -0 "$pid" 2>/dev/null && alive=$((alive + 1))
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	exec 3>&-
done
if [ "$alive" -eq 2 ] && [ "$(ls -A "$T/kill")" = "exists.c" ] &&
	[ "$(cat "$T/kill/exists.c")" = old ]; then
	ok "kill -9 during gen-manifest: no output, no temporary, old output kept"
else
	not_ok "kill -9 left: $(ls -A "$T/kill")"
fi

# the schema refuses what gen-manifest refuses (where a schema can say it)
cat >"$T/schema-neg.py" <<'PYEOF'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
v = jsonschema.Draft202012Validator(schema)
G = {"type": "solo5.manifest", "version": 1}
bad = [
    dict(G, devices=[{"name": "a-b", "type": "NET_BASIC"}]),
    dict(G, devices=[{"name": "abc\n", "type": "NET_BASIC"}]),
    dict(G, devices=[{"name": "", "type": "NET_BASIC"}]),
    dict(G, devices=[{"name": "a" * 68, "type": "NET_BASIC"}]),
    dict(G, devices=[{"name": "a", "type": "NET_FANCY"}]),
    dict(G, devices=[{"name": "a", "type": "NET_BASIC", "mtu": 1}]),
    dict(G, devices=[{"name": "d%d" % i, "type": "NET_BASIC"} for i in range(64)]),
    dict(G, devices=[], extra=1),
    {"type": "solo5.manifest", "version": 2, "devices": []},
    {"type": "solo5.manifest", "version": "1", "devices": []},
    {"type": "other", "version": 1, "devices": []},
    {"type": "solo5.manifest", "version": 1},
]
good = [dict(G, devices=[{"name": "a" * 67, "type": "BLOCK_BASIC"}])]
for b in bad:
    if v.is_valid(b):
        sys.exit("schema accepts %r" % (b,))
for g in good:
    v.validate(g)
PYEOF
check "schema refuses bad manifests, accepts a 67-character name" \
	"$PY" "$T/schema-neg.py" "$TOP/schemas/solo5-manifest.schema.json"

done_testing
