# tests/e2e/lib.sh: TAP helpers for the end-to-end scripts (bash).
# Source it first: it puts the built tools on PATH, makes a temporary
# directory $T that is removed on exit, and counts results.
set -u
: "${UKIT_BIN:?UKIT_BIN must name the directory of the built tools}"
# /usr/sbin and /sbin hold veritysetup and mkfs.ext4, and are not on a
# normal user's PATH on Debian
PATH=$UKIT_BIN:$PATH:/usr/sbin:/sbin
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${UKIT_SHARED:-$TOP/../shared}
# python3 with the Debian modules (python3-jsonschema), not a pyenv shim
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/ukit-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
_n=0

# _tap STATUS DESC: one numbered result line.  A DESC of several lines
# (a command's output pasted in) goes on as "#" comments, so that none of
# its lines can count as a result.
_tap() {
	local first=${2%%$'\n'*}
	_n=$((_n + 1))
	echo "$1 $_n - $first"
	if [ "$first" != "$2" ]; then
		printf '%s\n' "${2#*$'\n'}" | sed 's/^/#   /'
	fi
}
ok()     { _tap ok "$*"; }
not_ok() { _tap "not ok" "$*"; }
skip()   { _n=$((_n + 1)); echo "ok $_n - # SKIP $*"; }
# missing WHAT: a peer tool or fixture that make deps provides is not
# there.  That is a failure (make check has run make deps), unless
# UKIT_ALLOW_MISSING=1 asks for a skip, for runs on other machines.
missing() {
	if [ "${UKIT_ALLOW_MISSING:-0}" = 1 ]; then
		skip "$*"
	else
		not_ok "$* (make deps installs what this needs;" \
			"UKIT_ALLOW_MISSING=1 skips instead)"
	fi
}
# softhsm_token LABEL: a fresh SoftHSM2 token LABEL (user PIN 1234, SO PIN
# 5678) in $T/tokens, SOFTHSM2_CONF exported and $MOD the PKCS#11 module;
# returns 1 when SoftHSM2 or pkcs11-tool (make deps installs both) is
# not there.
MOD=/usr/lib/softhsm/libsofthsm2.so
softhsm_token() {
	command -v softhsm2-util >/dev/null && [ -r "$MOD" ] &&
		command -v pkcs11-tool >/dev/null || return 1
	export SOFTHSM2_CONF=$T/softhsm2.conf
	mkdir -p "$T/tokens"
	echo "directories.tokendir = $T/tokens" >"$SOFTHSM2_CONF"
	softhsm2-util --init-token --free --label "$1" --pin 1234 --so-pin 5678 >/dev/null
}
diag()   { printf '%s\n' "$*" | sed 's/^/# /'; }

# san_report FILE: FILE holds an AddressSanitizer, LeakSanitizer or
# UBSan report.  (Under make check's SAN=1 run a report also exits 86,
# which no check here expects.)
san_report() { grep -qE 'Sanitizer|runtime error:' "$1" 2>/dev/null; }

# check DESC CMD...: ok when CMD exits 0 and reports no sanitizer error.
# Output in $T/.out, $T/.err.
check() {
	local desc=$1 rc
	shift
	"$@" >"$T/.out" 2>"$T/.err"
	rc=$?
	if [ "$rc" -eq 0 ] && ! san_report "$T/.err"; then
		ok "$desc"
	else
		not_ok "$desc (exit $rc)"
		sed 's/^/#   /' "$T/.err" | head -n 20
	fi
}

# run_ok DESC OUT CMD...: ok when CMD exits 0 and its stdout, in OUT
# (removed first: a stale file cannot pass), is not empty.  For the two
# sides of a comparison between two ukit outputs.
run_ok() {
	local desc=$1 out=$2 rc
	shift 2
	rm -f "$out"
	"$@" >"$out" 2>"$T/.err"
	rc=$?
	if [ "$rc" -eq 0 ] && [ -s "$out" ] && ! san_report "$T/.err"; then
		ok "$desc"
	else
		not_ok "$desc (exit $rc, $(wc -c <"$out") bytes on stdout)"
		sed 's/^/#   /' "$T/.err" | head -n 20
	fi
}

# makes DESC FILE CMD...: ok when CMD exits 0 and writes FILE, not empty
# (removed first: a stale file cannot pass).
makes() {
	local desc=$1 out=$2 rc
	shift 2
	rm -f "$out"
	"$@" >"$T/.out" 2>"$T/.err"
	rc=$?
	if [ "$rc" -eq 0 ] && [ -s "$out" ] && ! san_report "$T/.err"; then
		ok "$desc"
	else
		not_ok "$desc (exit $rc; $out $([ -s "$out" ] && echo written ||
			echo 'missing or empty'))"
		sed 's/^/#   /' "$T/.err" | head -n 20
	fi
}

# expect_fail CODE SUBSTRING DESC CMD...: ok when CMD exits CODE, its
# stderr contains SUBSTRING (not empty: a refusal says why) and no
# sanitizer report.  Output in $T/.out, $T/.err.
expect_fail() {
	local code=$1 pat=$2 desc=$3 rc
	shift 3
	"$@" >"$T/.out" 2>"$T/.err"
	rc=$?
	if san_report "$T/.err"; then
		not_ok "$desc (exit $rc: a sanitizer report)"
		sed 's/^/#   /' "$T/.err" | head -n 20
	elif [ -n "$pat" ] && [ "$rc" -eq "$code" ] &&
	     grep -qF -- "$pat" "$T/.err"; then
		ok "$desc"
	else
		not_ok "$desc (exit $rc, want $code and '$pat'; stderr: $(head -c 400 "$T/.err"))"
	fi
}

# same_file DESC A B: ok when A and B exist, are not empty and are
# byte-identical (two empty outputs of two failed commands are not equal
# results).
same_file() {
	if [ ! -s "$2" ] || [ ! -s "$3" ]; then
		not_ok "$1 ($([ -s "$2" ] || echo "$2 ")$([ -s "$3" ] || echo "$3 ")missing or empty)"
	elif cmp -s "$2" "$3"; then
		ok "$1"
	else
		not_ok "$1 ($2 and $3 differ)"
		diff -u "$2" "$3" 2>/dev/null | head -n 20 | sed 's/^/#   /'
	fi
}

# validate_json DESC SCHEMA FILE: validate FILE against a schema in schemas/.
validate_json() {
	check "$1" "$PY" -c '
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))
' "$TOP/schemas/$2" "$3"
}

done_testing() { echo "1..$_n"; }

# pae BUNDLE: write the DSSE pre-authentication encoding its signature
# covers to stdout, the signature to ./sig.der and the subject's sha256 to
# ./digest.txt, so that openssl alone can check the signature.
pae() {
	"$PY" - "$1" <<'P'
import base64, json, sys
b = json.load(open(sys.argv[1]))
env = b["dsseEnvelope"]
body = base64.b64decode(env["payload"])
t = env["payloadType"].encode()
sys.stdout.buffer.write(b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body))
open("sig.der", "wb").write(base64.b64decode(env["signatures"][0]["sig"]))
open("digest.txt", "w").write(json.loads(body)["subject"][0]["digest"]["sha256"])
P
}

# flip_byte FILE OFFSET: invert the byte at OFFSET (a constant written
# over random data would leave it unchanged one time in 256)
flip_byte() {
	"$PY" - "$1" "$2" <<'PYEOF'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    assert len(b) == 1, 'offset past the end of the file'
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0xff]))
PYEOF
}
