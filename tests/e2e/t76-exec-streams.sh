#!/bin/bash
# t76-exec-streams: verify --exec leaves stdout to the tender (ukit's own
# lines, text or --json, go to stderr) and exits as the shell does when the
# tender cannot be run: 127 not found, 126 found but not executable, so a
# caller tells both from a failed verification (1).
. "$(dirname "$0")/lib.sh"

ukit-sign keygen --no-passphrase --type ed25519 "$T/k" >/dev/null
head -c 30000 /dev/urandom >"$T/img"
ukit-sign sign -q --key "$T/k.key" "$T/img"
printf '#!/bin/sh\necho TENDER "$1"\n' >"$T/tender"
chmod +x "$T/tender"

ukit-sign verify --pub "$T/k.pub" "$T/img" --exec "$T/tender" x >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && [ "$(cat "$T/out")" = "TENDER x" ] &&
	ok "stdout holds only the tender's output" ||
	not_ok "exit $rc, stdout: $(head -c 300 "$T/out")"
grep -q "^verified $T/img: key " "$T/err" && ok "ukit's verified line is on stderr" ||
	not_ok "stderr: $(head -c 300 "$T/err")"
ukit-sign verify --json --pub "$T/k.pub" "$T/img" --exec "$T/tender" y >"$T/out" 2>"$T/err"
[ "$(cat "$T/out")" = "TENDER y" ] && ok "--json --exec: stdout is the tender's" ||
	not_ok "stdout: $(head -c 300 "$T/out")"
validate_json "--json --exec: the report on stderr is a verify report" \
	ukit-sign-verify.schema.json "$T/err"
ukit-sign verify --pub "$T/k.pub" "$T/img" >"$T/out" 2>/dev/null
grep -q "^verified " "$T/out" && ok "without --exec the verified line stays on stdout" ||
	not_ok "stdout: $(cat "$T/out")"

expect_fail 127 "cannot run $T/none: No such file or directory" \
	"a missing tender path exits 127" \
	ukit-sign verify -q --pub "$T/k.pub" "$T/img" --exec "$T/none" '{}'
expect_fail 127 "cannot run ukit-no-such-tender-xyz" \
	"a tender not on PATH exits 127" \
	ukit-sign verify -q --pub "$T/k.pub" "$T/img" --exec ukit-no-such-tender-xyz
printf '#!/bin/sh\necho no\n' >"$T/noexec"
chmod 644 "$T/noexec"
expect_fail 126 "cannot run $T/noexec: Permission denied" \
	"a tender without the execute bit exits 126" \
	ukit-sign verify -q --pub "$T/k.pub" "$T/img" --exec "$T/noexec"
mkdir "$T/dir"
expect_fail 126 "cannot run $T/dir" "a directory as tender exits 126" \
	ukit-sign verify -q --pub "$T/k.pub" "$T/img" --exec "$T/dir"
# the shell agrees (the peer): same codes for the same cases
sh -c "\"$T/none\"" 2>/dev/null; a=$?
sh -c "\"$T/noexec\"" 2>/dev/null; b=$?
[ $a -eq 127 ] && [ $b -eq 126 ] && ok "sh exits 127 and 126 for the same tenders" ||
	not_ok "sh: $a $b"
printf x >>"$T/img"
expect_fail 1 "differs from the signed" \
	"a failed verification exits 1, even with a missing tender" \
	ukit-sign verify -q --pub "$T/k.pub" "$T/img" --exec "$T/none"
done_testing
