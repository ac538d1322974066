#!/bin/bash
# t75-rollback-state: verify --rollback-state keeps a per-slot floor on the
# device: created on first use (mode 0600), raised after a successful
# verification, an older image refused after a newer one booted; a kill -9
# at each step of the update (strace injects SIGKILL at the syscall) leaves
# the old floor or the new one, never less; corrupt files are refused with
# their path and offset (table below) and left alone.
. "$(dirname "$0")/lib.sh"

S=$T/state
ukit-sign keygen --no-passphrase --type ecdsa-p256 "$T/k" >/dev/null
for n in 3 5 7 9; do
	head -c 20000 /dev/urandom >"$T/img$n"
	ukit-sign sign -q --key "$T/k.key" --rollback $n "$T/img$n"
done
floor() { sed -n "s/^slot ${2:-default} //p" "$1"; }
V() { ukit-sign verify -q --pub "$T/k.pub" --rollback-state "$S" "$@"; }

# ---- first use, raise, refuse older ----------------------------------
(umask 022; V "$T/img5" >/dev/null 2>"$T/.err")
[ $? -eq 0 ] && [ -f "$S" ] && ok "missing state file is created" ||
	not_ok "create: $(cat "$T/.err")"
[ "$(stat -c %a "$S")" = 600 ] && ok "state file has mode 0600 (umask 022)" ||
	not_ok "mode $(stat -c %a "$S")"
[ "$(floor "$S")" = 5 ] && ok "floor of slot default is the image's index 5" ||
	not_ok "floor $(floor "$S")"
expect_fail 1 "rollback index 3 is below the floor 5 of slot default in $S" \
	"an older image is refused after a newer one booted" V "$T/img3"
cp "$S" "$T/before"
check "the same index verifies again" V "$T/img5"
same_file "an equal index leaves the file as it was" "$T/before" "$S"
check "a newer image verifies" V "$T/img7"
[ "$(floor "$S")" = 7 ] && ok "floor raised to 7" || not_ok "floor $(floor "$S")"
expect_fail 1 "below the floor 7" "now 5 is refused too" V "$T/img5"
check "another slot has its own floor" V --rollback-slot b.2 "$T/img3"
[ "$(floor "$S" b.2)" = 3 ] && [ "$(floor "$S")" = 7 ] &&
	ok "slots b.2=3 and default=7 side by side" || not_ok "$(cat "$S")"
expect_fail 1 "below the floor 7 of slot default" "--min-rollback 0 does not lower a slot's floor" \
	ukit-sign verify -q --pub "$T/k.pub" --min-rollback 0 \
	--rollback-state "$S" "$T/img3"
cp "$S" "$T/before"
expect_fail 1 "differs from the signed digest" "a failed verification..." \
	V --bundle "$T/img5.bundle.json" "$T/img9"
same_file "...never raises the floor" "$T/before" "$S"

# Verify then boot: the floor is raised before the tender runs.
cat >"$T/tender" <<EOF
#!/bin/sh
sed -n 's/^slot default //p' "$S" >"$T/seen-floor"
EOF
chmod +x "$T/tender"
check "verify --exec with a rollback state" V "$T/img9" --exec "$T/tender"
[ "$(cat "$T/seen-floor")" = 9 ] && ok "the tender saw the raised floor 9" ||
	not_ok "tender saw $(cat "$T/seen-floor")"

# ---- usage -------------------------------------------------------------
expect_fail 2 "--rollback-slot needs --rollback-state" "slot without state" \
	ukit-sign verify -q --pub "$T/k.pub" --rollback-slot a "$T/img9"
expect_fail 2 "--rollback-slot: 1 to 64" "bad slot name" V --rollback-slot 'a/b' "$T/img9"
expect_fail 1 "cannot open directory" "state in a missing directory: refused" \
	ukit-sign verify -q --pub "$T/k.pub" --rollback-state "$T/nodir/s" "$T/img9"

# ---- concurrent raises never lower a floor -----------------------------
rm -f "$S"
for i in 1 2 3 4 5 6; do
	for n in 3 9 5 7; do V "$T/img$n" >/dev/null 2>&1 & done
done
wait
[ "$(floor "$S")" = 9 ] && ok "24 concurrent verifies: floor is the highest, 9" ||
	not_ok "floor $(floor "$S")"

# ---- kill -9 at every step of the update -------------------------------
# The steps (strace -e inject=SYSCALL[:when=N]:signal=KILL stops the process
# on entry): lock, fsync of the new temporary, naming it, the rename, the
# directory fsync after the rename.
if command -v strace >/dev/null && strace -o /dev/null true 2>/dev/null; then
	for point in flock fsync:when=1 linkat rename fsync:when=2; do
		rm -f "$S"
		V "$T/img3" >/dev/null 2>&1
		{ strace -o /dev/null -e inject=$point:signal=KILL \
			ukit-sign verify -q --pub "$T/k.pub" --rollback-state "$S" \
			"$T/img7" >/dev/null 2>&1; rc=$?; } 2>/dev/null
		f=$(floor "$S")
		case $point in
		fsync:when=2) want=7 ;;
		*) want=3 ;;
		esac
		[ $rc -eq 137 ] && [ "$f" = $want ] &&
			ok "killed at $point: floor is $want" ||
			not_ok "killed at $point: exit $rc, floor '$f', want $want"
		# whatever is there still parses, and never admits img3 < floor
		V "$T/img$want" >/dev/null 2>"$T/.err" &&
			ok "after the kill at $point the state file is intact" ||
			not_ok "state after $point: $(cat "$T/.err")"
	done
else
	missing "strace (kill injection)"
fi

# ---- corrupt state files: refused with path and offset, left alone ----
# mk FILE TEXT: TEXT followed by its correct sha256 line
mk() { printf '%b' "$2" >"$1"; printf 'sha256 %s\n' "$(sha256sum <"$1" | cut -d' ' -f1)" >>"$1"; chmod 600 "$1"; }
M='ukit-rollback-state 1\n'
bad() {
	local desc=$1 want=$2
	cp "$S" "$T/kept"
	expect_fail 1 "rollback state $S:$want" "corrupt: $desc" V "$T/img9"
	# same_file refuses empty files (two empty outputs prove nothing):
	# an empty state file must stay there, empty
	if [ -s "$T/kept" ]; then
		same_file "corrupt: $desc: file untouched" "$T/kept" "$S"
	else
		check "corrupt: $desc: file untouched (still there, empty)" \
			test -f "$S" -a ! -s "$S"
	fi
}
: >"$S"; chmod 600 "$S"
bad "empty" '0x0: not a ukit rollback state file (want "ukit-rollback-state 1")'
mk "$S" 'ukit-rollback-state 2\nslot default 1\n'
bad "version 2" '0x14: unsupported version (want 1)'
printf "$M" >"$S"
bad "magic only" '0x16: truncated: no sha256 line'
printf "${M}slot default 5\n" >"$S"
bad "no sha256 line" '0x25: truncated: no sha256 line'
mk "$S" "${M}slot default 5\n"; sed -i 's/default 5/default 9/' "$S"
bad "floor edited, checksum kept" '0x2c: checksum mismatch'
mk "$S" "${M}slot default 5\n"; echo extra >>"$S"
bad "bytes after the checksum" '0x6d: bytes after the sha256 line'
mk "$S" "${M}slot a 1\nslot a 2\n"
bad "duplicate slot" '0x24: slot "a" appears twice'
mk "$S" "${M}slot b 1\nslot a 2\n"
bad "slots out of order" '0x24: slot "a" out of order (names ascend)'
mk "$S" "${M}slot a 01\n"
bad "leading zero" '0x1d: floor has a leading zero'
mk "$S" "${M}slot a 9223372036854775808\n"
bad "floor above 2^63-1" '0x1d: floor 9223372036854775808 is above 9223372036854775807'
mk "$S" "${M}slot a 99999999999999999999\n"
bad "floor of 20 digits" '0x1d: floor is too long'
mk "$S" "${M}slot a/b 1\n"
bad "bad slot name" '0x1c: space after the slot name expected'
mk "$S" "${M}slot $(printf 'x%.0s' $(seq 65)) 1\n"
bad "slot name of 65 bytes" '0x5b: slot name longer than 64 bytes'
mk "$S" "${M}slot a 1\r\n"
bad "CRLF" '0x1e: floor: decimal digit expected'
mk "$S" "${M}slot a \n"
bad "no floor" '0x1d: floor expected'
mk "$S" "${M}floor a 1\n"
bad "unknown line" '0x16: "slot" or "sha256" line expected'
printf "${M}slot a 1" >"$S"
bad "no final newline" '0x1e: line ends without a newline'
mk "$S" "${M}slot a 1"
bad "no newline before the checksum" '0x1d: floor is too long'
printf "${M}sha256 %s\n" "$(printf "$M" | sha256sum | cut -d' ' -f1 | tr a-f A-F)" >"$S"
bad "uppercase checksum" '0x1e: sha256: lowercase hex digit expected'
printf "${M}sha256 abc\n" >"$S"
bad "short checksum" '0x20: sha256: lowercase hex digit expected'
printf "${M}sha256 %s" "$(printf "$M" | sha256sum | cut -d' ' -f1)" >"$S"
bad "checksum without a newline" '0x1d: sha256: 64 hex digits and a newline expected'
head -c 40000 /dev/zero >"$S"
bad "larger than 32 KiB" '0x8000: larger than 32768 bytes'
mk "$S" "${M}slot default 1\n"; chmod 620 "$S"
expect_fail 1 "rollback state $S: rollback state has mode 0620: others could lower the floor" \
	"a group-writable state file is refused" V "$T/img9"
rm -f "$S"; mkdir "$S"
expect_fail 1 "rollback state $S: rollback state is not a regular file" \
	"a directory is refused" V "$T/img9"
rmdir "$S"
mk "$S" "${M}slot default 1\n"
check "a hand-made valid file is accepted (and raised)" V "$T/img9"
[ "$(floor "$S")" = 9 ] && ok "hand-made file raised to 9" || not_ok "$(cat "$S")"
done_testing
