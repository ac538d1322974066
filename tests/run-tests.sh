#!/bin/sh
# Run test programs (cmocka binaries in TAP mode, or e2e shell scripts that
# print TAP) and close with "SUITE: N passed, N failed, N skipped".
#
# Only stdout is read as TAP; stderr is kept apart and shown as "#" lines.
# A result is a line "ok N ..." or "not ok N ...", numbered 1, 2, 3... in
# order; "ok N ... # SKIP" is a skip, and "not ok N ... # SKIP" (cmocka's
# skip()) is a failure like any other "not ok".  A program fails when it
# exits non-zero, has a failed result, prints no result, has not exactly
# one plan line "1..N" (cmocka prints it first, lib.sh last) or one that
# disagrees with its results, numbers its results out of order, or leaves
# a sanitizer report on stderr; if it has no failed result, it counts as
# one failure in the totals.  Exit 1 if any program failed.
suite=$1
shift
pass=0 fail=0 skip=0 bad=0
logdir=$(mktemp -d "${TMPDIR:-/tmp}/ukit-$suite.XXXXXX")
trap 'rm -rf "$logdir"' EXIT
for t in "$@"; do
	name=$(basename "$t")
	log=$logdir/$name.log
	err=$logdir/$name.err
	case $t in
	*.sh) bash "$t" >"$log" 2>"$err" ;;
	*) CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$log" 2>"$err" ;;
	esac
	rc=$?
	# "pass fail skip problem...", no problem when the TAP is sound
	res=$(awk '
		/^1\.\.[0-9]+([ \t]|$)/ {
			plans++; plan = substr($1, 4) + 0; next
		}
		/^(not )?ok [0-9]+([ \t]|$)/ {
			notok = ($1 == "not")
			num = notok ? $3 : $2
			n++
			if (num + 0 != n && seq == "")
				seq = "result " n " is numbered " num
			if (notok)
				f++
			else if (tolower($0) ~ /#[ \t]*skip/)
				s++
			else
				p++
		}
		END {
			why = ""
			if (n == 0)
				why = "no results"
			else if (plans == 0)
				why = "no plan"
			else if (plans > 1)
				why = plans " plans"
			else if (plan != n)
				why = "plan 1.." plan " but " n " results"
			else if (seq != "")
				why = seq
			print p + 0, f + 0, s + 0, why
		}' "$log")
	set -f
	# shellcheck disable=SC2086
	set -- $res
	set +f
	p=$1 f=$2 s=$3
	shift 3
	why=$*
	if grep -qE 'Sanitizer|runtime error:' "$err"; then
		why="${why:+$why, }a sanitizer report on stderr"
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] || [ -n "$why" ]; then
		bad=$((bad + 1))
		# a program that fails with no failed result counts as one
		[ "$f" -eq 0 ] && fail=$((fail + 1))
		echo "FAIL $name (exit $rc, $p passed, $f failed, $s skipped${why:+; $why})"
		sed 's/^/    /' "$log" | tail -n 60
		if [ -s "$err" ]; then
			echo "    stderr:"
			sed 's/^/    # /' "$err" | tail -n 30
		fi
	else
		echo "ok   $name ($p passed, $s skipped)"
	fi
done
echo "$suite: $pass passed, $fail failed, $skip skipped"
if [ -n "${CHECK_COUNTS:-}" ]; then
	echo "$pass $fail $skip" >>"$CHECK_COUNTS"
fi
[ "$bad" -eq 0 ]
