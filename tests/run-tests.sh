#!/bin/bash
# Run test programs (cmocka binaries in TAP mode, or e2e shell scripts that
# print TAP) and close with "SUITE: N passed, N failed, N skipped".
#
# JOBS (default 1) programs run at once; the results are still reported
# in the order given, each as soon as it and every one before it has
# ended, with its wall time.  Each program has its own log files, and the
# e2e scripts their own temporary directory, so none sees another's.
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
set -u
suite=$1
shift
jobs=${JOBS:-1}
case $jobs in
'' | *[!0-9]* | 0) echo "run-tests.sh: JOBS must be a positive number, not '$jobs'" >&2; exit 2 ;;
esac
pass=0 fail=0 skip=0 bad=0
logdir=$(mktemp -d "${TMPDIR:-/tmp}/ukit-$suite.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$logdir"' EXIT

# run I PROG: PROG's stdout, stderr, exit code and seconds in $logdir/I.*
run() {
	local i=$1 t=$2 start end
	start=$(date +%s%N)
	case $t in
	*.sh) bash "$t" >"$logdir/$i.log" 2>"$logdir/$i.err" ;;
	*) CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$logdir/$i.log" 2>"$logdir/$i.err" ;;
	esac
	echo $? >"$logdir/$i.rc.tmp"
	end=$(date +%s%N)
	echo $(((end - start) / 1000000)) >"$logdir/$i.ms"
	mv "$logdir/$i.rc.tmp" "$logdir/$i.rc"
}

# report I PROG: judge one ended program and add up its results
report() {
	local i=$1 t=$2 name log err rc res p f s why ms
	name=$(basename "$t")
	log=$logdir/$i.log err=$logdir/$i.err
	rc=$(cat "$logdir/$i.rc") ms=$(cat "$logdir/$i.ms")
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
	read -r p f s why <<<"$res"
	if grep -qE 'Sanitizer|runtime error:' "$err"; then
		why="${why:+$why, }a sanitizer report on stderr"
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	ms=$(printf '%d.%01d s' $((ms / 1000)) $((ms % 1000 / 100)))
	if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] || [ -n "$why" ]; then
		bad=$((bad + 1))
		# a program that fails with no failed result counts as one
		[ "$f" -eq 0 ] && fail=$((fail + 1))
		echo "FAIL $name (exit $rc, $p passed, $f failed, $s skipped${why:+; $why}; $ms)"
		# every failed result, then the end of the output around them
		grep -E '^not ok [0-9]+' "$log" | head -n 40 | sed 's/^/    /'
		sed 's/^/    /' "$log" | tail -n 40
		if [ -s "$err" ]; then
			echo "    stderr:"
			sed 's/^/    # /' "$err" | tail -n 30
		fi
	else
		echo "ok   $name ($p passed, $s skipped; $ms)"
	fi
}

progs=("$@")
started=0 reported=0 running=0
while [ "$reported" -lt "${#progs[@]}" ]; do
	while [ "$running" -lt "$jobs" ] && [ "$started" -lt "${#progs[@]}" ]; do
		run "$started" "${progs[$started]}" &
		started=$((started + 1)) running=$((running + 1))
	done
	wait -n
	running=$((running - 1))
	# report, in order, every program that has ended
	while [ "$reported" -lt "$started" ] && [ -e "$logdir/$reported.rc" ]; do
		report "$reported" "${progs[$reported]}"
		reported=$((reported + 1))
	done
done
echo "$suite: $pass passed, $fail failed, $skip skipped"
if [ -n "${CHECK_COUNTS:-}" ]; then
	echo "$pass $fail $skip" >>"$CHECK_COUNTS"
fi
[ "$bad" -eq 0 ]
