#!/bin/sh
# Run test programs (cmocka binaries in TAP mode, or e2e shell scripts that
# print TAP), count "ok"/"not ok" lines and close with "SUITE: N passed,
# N failed[, N skipped]".  Exit 1 if any test failed or any program exited
# non-zero or printed no plan-conforming result.
suite=$1
shift
pass=0 fail=0 skip=0 bad=0
logdir=$(mktemp -d "${TMPDIR:-/tmp}/ukit-$suite.XXXXXX")
trap 'rm -rf "$logdir"' EXIT
for t in "$@"; do
	name=$(basename "$t")
	log=$logdir/$name.log
	case $t in
	*.sh) bash "$t" >"$log" 2>&1 ;;
	*) CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$log" 2>&1 ;;
	esac
	rc=$?
	# a SKIP directive marks a skip whether the line says ok or, as
	# cmocka's TAP output does, not ok
	p=$(grep -c '^ok ' "$log" | tr -d ' ')
	s=$(grep -c '^\(not \)\{0,1\}ok .*# *[Ss][Kk][Ii][Pp]' "$log" | tr -d ' ')
	ps=$(grep -c '^ok .*# *[Ss][Kk][Ii][Pp]' "$log" | tr -d ' ')
	f=$(grep -c '^not ok ' "$log" | tr -d ' ')
	p=$((p - ps)) f=$((f - (s - ps)))
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] || [ $((p + s)) -eq 0 ]; then
		bad=$((bad + 1))
		echo "FAIL $name (exit $rc, $p passed, $f failed)"
		sed 's/^/    /' "$log" | tail -n 60
	else
		echo "ok   $name ($p passed${s:+, $s skipped})"
	fi
done
echo "$suite: $pass passed, $fail failed, $skip skipped"
if [ -n "${CHECK_COUNTS:-}" ]; then
	echo "$pass $fail $skip" >>"$CHECK_COUNTS"
fi
[ "$bad" -eq 0 ]
