#!/bin/bash
# t01-conformance: one command line across the tools (ukit(7)).  Every
# tool and every subcommand, discovered from `TOOL --help` (so commands
# added later are covered), is run with --help, help CMD, --version, no
# arguments, an unknown option, a directory, an empty file and a missing
# file; each run's exit status, its use of stdout and stderr and the
# tool-name prefix of its first message are checked, and the same mistake
# must get the same words in every tool.  Then ukit-elftool under its
# solo5-elftool name keeps Solo5's exit codes and words.
. "$(dirname "$0")/lib.sh"
D=$SHARED/data/solo5
mkdir -p "$T/dir"
: >"$T/empty"
ukit-sign keygen --no-passphrase "$T/k" >/dev/null 2>&1
bash "$TOP/tests/gen/mkelf.sh" -m "$D/m01-net/note.hex" "$T/k.elf"
printf '{"type":"deb","name":"x"}\n' >"$T/meta.json"
# an empty image is signed and verified like any other
ukit-sign sign -q --key "$T/k.key" "$T/empty"
: >"$T/allerr"

# args TOOL CMD IN: the arguments that make CMD read IN as its input, with
# every other argument valid; empty for commands that read no file.
# Commands not listed get IN alone.
args() {
	case "$1 $2" in
	"ukit-elftool gen-manifest") echo "$3 $T/out.c" ;;
	"ukit-elftool set-manifest") echo "$D/m01-net/manifest.json $3 -o $T/out.elf" ;;
	"ukit-elftool set-package-metadata") echo "$T/meta.json $3 -o $T/out.elf" ;;
	"ukit-pack convert") echo "-O raw $3 $T/out.raw" ;;
	"ukit-pack compare") echo "$3 $3" ;;
	"ukit-pack disk") echo "-O raw $3 $T/out.img" ;;
	# create's FILE is its output: the input it reads is BACKING
	"ukit-pack create") echo "-q -f qcow2 -b $3 -F raw $T/out.qcow2" ;;
	# resize changes FILE in place; SIZE comes last
	"ukit-pack resize") echo "-q $3 +1M" ;;
	"ukit-pack snapshot") echo "-l $3" ;;
	# oci has sub-commands; build reads KERNEL
	"ukit-pack oci") echo "build -o oci:$T/oci $3" ;;
	"ukit-sign keygen") ;;
	"ukit-sign sign") echo "--key $T/k.key -o $T/out.bundle $3" ;;
	"ukit-sign verify") echo "--pub $T/k.pub $3" ;;
	"ukit-verify ") echo "--pub $T/k.pub $3" ;;
	*) echo "$3" ;;
	esac
}
# fifo_refused TOOL CMD: CMD reads its input at offsets (an ELF file, an
# image), so a FIFO is refused at once, before any writer comes; the
# commands that stream their input (signing, verifying, a manifest
# source) read a FIFO like any reader.  resize says so in its own words.
fifo_refused() {
	case "$1 $2" in
	"ukit-elftool gen-manifest"|"ukit-elftool validate") return 1 ;;
	"ukit-pack resize") return 1 ;;
	ukit-elftool\ *|ukit-pack\ *) return 0 ;;
	esac
	return 1
}
mkfifo "$T/fifo"
# empty_ok TOOL CMD: an empty file is a valid input (a 0-byte raw image).
empty_ok() {
	case "$1 $2" in
	"ukit-pack info"|"ukit-pack convert"|"ukit-pack compare") return 0 ;;
	# qemu-img 7.2 maps and measures a 0-byte raw image (exit 0: one
	# empty extent; the qcow2 metadata size), so ukit-pack does too
	"ukit-pack map"|"ukit-pack measure") return 0 ;;
	# a 0-byte raw BACKING makes a 0-byte overlay, and a 0-byte raw FILE
	# grows, as with qemu-img create -b / qemu-img resize
	"ukit-pack create"|"ukit-pack resize") return 0 ;;
	"ukit-sign sign"|"ukit-sign verify"|"ukit-verify ") return 0 ;;
	*) return 1 ;;
	esac
}
# usage_status TOOL CMD: Solo5's contract for its own three commands is 1.
usage_status() {
	case "$1 $2" in
	"ukit-elftool gen-manifest"|"ukit-elftool query-manifest"|"ukit-elftool query-abi") echo 1 ;;
	*) echo 2 ;;
	esac
}

# run DESC WANT_RC STDOUT(empty|nonempty) PREFIX CMD...: the exit status, stdout
# empty or not, and the first line of stderr starting with PREFIX (or
# stderr empty when PREFIX is "-").
run() {
	local desc=$1 want=$2 out=$3 prefix=$4 rc why=
	shift 4
	"$@" >"$T/o" 2>"$T/e"
	rc=$?
	cat "$T/e" >>"$T/allerr"
	[ "$rc" -eq "$want" ] || why="exit $rc, want $want"
	if [ "$out" = empty ] && [ -s "$T/o" ]; then why="$why; stdout not empty"; fi
	if [ "$out" = nonempty ] && [ ! -s "$T/o" ]; then why="$why; stdout empty"; fi
	if [ "$prefix" = - ]; then
		[ -s "$T/e" ] && why="$why; stderr not empty"
	elif [ "$(head -c ${#prefix} "$T/e")" != "$prefix" ]; then
		why="$why; stderr does not start with '$prefix'"
	fi
	if [ -z "$why" ]; then
		ok "$desc"
	else
		not_ok "$desc ($why): $(head -c 300 "$T/e")"
	fi
}

# helpcheck.py HELP "TOOL [CMD]": the layout of --help.
cat >"$T/helpcheck.py" <<'PYEOF'
import re, sys
text = open(sys.argv[1]).read()
lines = text.splitlines()
assert lines[0].startswith("usage: " + sys.argv[2]), lines[0]
assert lines[lines.index("") + 1].strip(), "no description"
opts = lines[lines.index("options:") + 1:]
assert opts, "no options"
for l in opts:
    m = re.match(r"^ {2,6}((?:-\w, )?--?[\w-]+(?:[ =]\S+)*)\s{2,}(\S.*)$", l)
    assert m, "option line without a description: %r" % l
names = [re.findall(r"--?[\w-]+", re.split(r"\s{2,}", l.strip())[0]) for l in opts]
syn = text[:text.index("\n\n")]
# every option the synopsis shows has a line
for o in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", syn.split(" ", 2)[2] if syn.count(" ") > 1 else ""):
    assert any(o in n for n in names), "synopsis option %s has no description" % o
PYEOF

# single TOOL: a tool of one job (ukit-verify: options and operands, no
# commands, no "help CMD") gets the checks of a command.
single() {
	local t=$1 a
	run "$t --help: usage on stdout, exit 0" 0 nonempty - "$t" --help
	"$t" --help >"$T/h1"
	check "$t --help: usage line, description, options with a description each" \
		"$PY" "$T/helpcheck.py" "$T/h1" "$t"
	run "$t with no arguments: exit 2, says what is missing" 2 empty "$t: missing " "$t"
	a=$(args "$t" "" "$T/k.elf")
	# shellcheck disable=SC2086
	run "$t --no-such-option: exit 2" 2 empty \
		"$t: unrecognized option '--no-such-option'" "$t" --no-such-option $a
	a=$(args "$t" "" "$T/dir")
	# shellcheck disable=SC2086
	run "$t DIR: exit 1, '$T/dir: is a directory'" 1 empty \
		"$t: $T/dir: is a directory" "$t" $a
	a=$(args "$t" "" "$T/nonexistent")
	# shellcheck disable=SC2086
	run "$t MISSING: exit 1, 'cannot open: No such file or directory'" 1 empty \
		"$t: $T/nonexistent: cannot open: No such file or directory" "$t" $a
	a=$(args "$t" "" "$T/empty")
	if empty_ok "$t" ""; then
		# shellcheck disable=SC2086
		"$t" $a >/dev/null 2>"$T/e"
		rc=$?
		[ $rc -eq 0 ] && ok "$t EMPTY: a valid (empty) input" ||
			not_ok "$t EMPTY: exit $rc: $(head -c 200 "$T/e")"
	else
		# shellcheck disable=SC2086
		run "$t EMPTY: exit 1, '$T/empty: empty file'" 1 empty \
			"$t: $T/empty: empty file" "$t" $a
	fi
}

for bin in "$UKIT_BIN"/ukit-*; do
	t=$(basename "$bin")
	ver=$("$t" --version)
	if ! "$t" --help | grep -qx 'commands:'; then
		run "$t --version" 0 nonempty - "$t" --version
		check "$t --version: '$t VERSION'" test "${ver% *}" = "$t"
		single "$t"
		continue
	fi
	run "$t --help: usage on stdout, exit 0" 0 nonempty - "$t" --help
	run "$t help: usage on stdout, exit 0" 0 nonempty - "$t" help
	run "$t --version" 0 nonempty - "$t" --version
	check "$t --version: '$t VERSION'" test "${ver% *}" = "$t"
	run "$t: no command: exit 2, says what is missing" 2 empty "$t: missing COMMAND" "$t"
	run "$t frobnicate: exit 2" 2 empty "$t: unknown command 'frobnicate' (commands: " "$t" frobnicate
	run "$t --frobnicate: exit 2" 2 empty "$t: unrecognized option '--frobnicate'" "$t" --frobnicate
	run "$t help frobnicate: exit 2" 2 empty "$t: unknown command 'frobnicate'" "$t" help frobnicate
	cmds=$("$t" --help | sed -n "s/^    $t \([a-z][a-z0-9-]*\).*/\1/p" | grep -vx help | sort -u)
	[ -n "$cmds" ] && ok "$t: commands: $(echo $cmds)" || not_ok "$t: no command in --help"
	for c in $cmds; do
		run "$t $c --help: stdout, exit 0" 0 nonempty - "$t" "$c" --help
		"$t" "$c" --help >"$T/h1"
		"$t" help "$c" >"$T/h2" 2>&1
		same_file "$t help $c = $t $c --help" "$T/h1" "$T/h2"
		check "$t $c --help: usage line, description, options with a description each" \
			"$PY" "$T/helpcheck.py" "$T/h1" "$t $c"
		run "$t $c --version" 0 nonempty - "$t" "$c" --version
		st=$(usage_status "$t" "$c")
		run "$t $c with no arguments: exit $st, says what is missing" "$st" empty "$t: $c: missing " "$t" "$c"
		a=$(args "$t" "$c" "$T/k.elf")
		# shellcheck disable=SC2086
		run "$t $c --no-such-option: exit $st" "$st" empty \
			"$t: $c: unrecognized option '--no-such-option'" "$t" "$c" --no-such-option $a
		a=$(args "$t" "$c" "$T/dir")
		[ -n "$a" ] || continue
		# shellcheck disable=SC2086
		run "$t $c DIR: exit 1, '$T/dir: is a directory'" 1 empty \
			"$t: $T/dir: is a directory" "$t" "$c" $a
		a=$(args "$t" "$c" "$T/nonexistent")
		# shellcheck disable=SC2086
		run "$t $c MISSING: exit 1, 'cannot open: No such file or directory'" 1 empty \
			"$t: $T/nonexistent: cannot open: No such file or directory" "$t" "$c" $a
		a=$(args "$t" "$c" "$T/empty")
		# resize grows its FILE: give it an empty copy, not $T/empty
		[ "$t $c" = "ukit-pack resize" ] && : >"$T/empty.rw" &&
			a=$(args "$t" "$c" "$T/empty.rw")
		if empty_ok "$t" "$c"; then
			# shellcheck disable=SC2086
			"$t" "$c" $a >/dev/null 2>"$T/e"
			rc=$?
			[ $rc -eq 0 ] && ok "$t $c EMPTY: a valid (empty) input" ||
				not_ok "$t $c EMPTY: exit $rc: $(head -c 200 "$T/e")"
		else
			# shellcheck disable=SC2086
			run "$t $c EMPTY: exit 1, '$T/empty: empty file'" 1 empty \
				"$t: $T/empty: empty file" "$t" "$c" $a
		fi
		if fifo_refused "$t" "$c"; then
			a=$(args "$t" "$c" "$T/fifo")
			# shellcheck disable=SC2086
			run "$t $c FIFO: exit 1 at once, '$T/fifo: not a regular file'" 1 empty \
				"$t: $T/fifo: not a regular file" timeout 20 "$t" "$c" $a
		fi
	done
done

# A file of the wrong format: "not a(n) ..." in every tool.
printf 'hello\n' >"$T/text"
for cmd in "ukit-elftool query-manifest" "ukit-elftool notes" "ukit-elftool validate" \
	   "ukit-pack check" "ukit-sign inspect"; do
	# shellcheck disable=SC2086
	run "$cmd on a text file: exit 1" 1 empty "${cmd%% *}: $T/text" $cmd "$T/text"
	check "$cmd on a text file: says what it is not" grep -qiE "not an? |neither|expected" "$T/e"
done

# Unknown values list the valid ones.
for c in "ukit-elftool gen-manifest --format frob $D/m01-net/manifest.json $T/o.c|c, note or object" \
	 "ukit-elftool gen-manifest --arch frob $D/m01-net/manifest.json $T/o.c|x86_64, aarch64 or ppc64le" \
	 "ukit-sign keygen --type frob $T/kk|ecdsa-p256, ed25519, rsa3072, rsa4096" \
	 "ukit-pack info -f frob $T/k.elf|raw"; do
	IFS='|' read -r cmd want <<<"$c"
	# shellcheck disable=SC2086
	$cmd >/dev/null 2>"$T/e"
	check "'$cmd' lists the valid values" grep -qF "$want" "$T/e"
done

# No message shows a library's internal flag names.
if grep -E '\b(JSON_[A-Z_]{3,}|ELF_C_[A-Z]+|O_(TMPFILE|RDONLY|RDWR|CREAT|EXCL|CLOEXEC|NOFOLLOW)|MAP_[A-Z]+|MFD_[A-Z]+|F_OFD_[A-Z]+|RWF_[A-Z]+|FALLOC_FL_[A-Z_]+|EVP_[A-Z_]+)\b' "$T/allerr" >"$T/flags"; then
	not_ok "a message shows a library flag name: $(head -n 3 "$T/flags")"
else
	ok "no message shows a library flag name ($(wc -l <"$T/allerr") lines of stderr)"
fi

# Under its solo5-elftool name: Solo5's exit codes and words.
ln -s "$UKIT_BIN/ukit-elftool" "$T/solo5-elftool"
S=$T/solo5-elftool
run "solo5-elftool: no arguments: usage on stderr, exit 1" 1 empty "usage: solo5-elftool" "$S"
run "solo5-elftool --help: exit 1 (Solo5's elftool has no --help)" 1 empty "usage: solo5-elftool" "$S" --help
run "solo5-elftool --version: exit 1, usage with the version" 1 empty "usage: solo5-elftool" "$S" --version
check "solo5-elftool --version: stderr names the version" grep -q "^solo5-elftool version [0-9]" "$T/e"
run "solo5-elftool frob: exit 1" 1 empty "solo5-elftool: unknown command 'frob'" "$S" frob
run "solo5-elftool query-manifest: exit 1" 1 empty "solo5-elftool: query-manifest: missing BINARY" "$S" query-manifest
run "solo5-elftool query-manifest MISSING: solo5-elftool: prefix" 1 empty \
	"solo5-elftool: $T/nonexistent: cannot open" "$S" query-manifest "$T/nonexistent"
bash "$TOP/tests/gen/mkelf.sh" -M "$T/nomft.elf"
run "solo5-elftool: Solo5's words for a missing manifest" 1 empty \
	"solo5-elftool: $T/nomft.elf: No Solo5 manifest found in executable" "$S" query-manifest "$T/nomft.elf"
"$PY" -c 'import json; print(json.dumps({"type": "solo5.manifest", "version": 1,
	"devices": [{"name": "d%d" % i, "type": "NET_BASIC"} for i in range(64)]}))' >"$T/64.json"
run "solo5-elftool gen-manifest: 64 devices, exit 1" 1 empty "solo5-elftool: $T/64.json" "$S" gen-manifest "$T/64.json" /dev/null
check "solo5-elftool: Solo5's words for the 63-device limit (its test suite matches them)" \
	grep -qF "too many entries, maximum 63" "$T/e"
"$S" query-manifest "$T/k.elf" >"$T/q1"
ukit-elftool query-manifest "$T/k.elf" >"$T/q2"
same_file "solo5-elftool query-manifest prints what ukit-elftool prints" "$T/q1" "$T/q2"
done_testing
