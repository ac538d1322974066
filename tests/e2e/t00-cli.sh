#!/bin/bash
# t00-cli: the CLI conventions shared by every tool: --help on stdout exit 0,
# --version, usage errors exit 2 on stderr.
. "$(dirname "$0")/lib.sh"

for tool in "$UKIT_BIN"/ukit-*; do
	t=$(basename "$tool")
	"$tool" --help >"$T/help" 2>"$T/err"
	rc=$?
	if [ $rc -eq 0 ] && grep -q "^usage: $t" "$T/help" && [ ! -s "$T/err" ]; then
		ok "$t --help: usage on stdout, exit 0"
	else
		not_ok "$t --help (exit $rc)"
	fi
	check "$t --version" sh -c "'$tool' --version | grep -q '^$t [0-9]'"
	expect_fail 2 "usage: $t" "$t with no command: usage on stderr, exit 2" "$tool"
	if [ "$t" = ukit-verify ]; then   # one job, no commands
		expect_fail 2 "unrecognized option '--frobnicate'" \
			"$t unknown option: exit 2" "$tool" --frobnicate
	else
		expect_fail 2 "unknown command 'frobnicate'" \
			"$t unknown command: exit 2" "$tool" frobnicate
	fi
done
done_testing
