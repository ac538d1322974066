#!/bin/bash
# tests/mutate.sh [-l] [NAME...]: the mutation check (make mutate).  Each
# mutant below breaks one named condition in formats/ (a bounds check, a
# digest compare, a key-id compare...) in a copy of the tree under
# $TMPDIR, never in the tree itself; the copy is built and the tests that
# guard that condition run until one fails.  Prints, for each,
#     mutant NAME: killed by TEST (its first failure)
#     mutant NAME: SURVIVED (TESTS all passed)
# and exits 1 if any survived, did not build, or its pattern does not
# match exactly one line of formats/ (searched recursively: files move).
# -l lists the mutants.  Too slow for make check (a build and a few test
# programs per mutant); run it when the checks or the tests change.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=$(cd "${UKIT_SHARED:-$TOP/../shared}" && pwd) || exit 2

# NAME, what it breaks, PATTERN (a fixed string on exactly one line of
# formats/), its REPLACEMENT on that line, the TESTS to run (unit test
# binaries test_*, e2e scripts t*.sh), quickest first.
MUTANTS=(
	qcow2-cluster-bits
	"qcow2 header: cluster_bits 22 accepted (off by one)"
	"h.cluster_bits > QCOW2_MAX_CLUSTER_BITS)"
	"h.cluster_bits > QCOW2_MAX_CLUSTER_BITS + 1)"
	"test_qcow2 t42-pack-bad.sh"

	qcow2-l1-bounds
	"qcow2 open: L1 table past the end of the file not refused"
	"if (l1bytes > 0 && !in_bounds(q->h.l1_table_offset, l1bytes,"
	"if (0 && !in_bounds(q->h.l1_table_offset, l1bytes,"
	"test_qcow2 t52-convert-errors.sh t42-pack-bad.sh"

	verify-digest
	"verify: the image's sha256 never compared with the signed one"
	"if (CRYPTO_memcmp(md, r->st.sha256, 32) != 0) {"
	"if (0) {"
	"test_verify t61-sign-reject.sh t73-exec.sh"

	verify-key-hint
	"verify: the bundle's key id hint not compared with the verifying key's"
	"if (strcmp(b->hint, o->p->pub[i]->keyid) != 0) {"
	"if (0) {"
	"test_verify t61-sign-reject.sh"

	verity-root
	"verify: a recomputed dm-verity root always equals the signed one"
	"if (CRYPTO_memcmp(got, want, VERITY_DIGEST) == 0)"
	"if (1)"
	"test_verify test_verity t74-sign-verity.sh"

	elf-note-bounds
	"Solo5 note: descriptor may run 20 bytes past the end of its PT_NOTE"
	"if (descsz > ph->filesz - sizeof h)"
	"if (descsz > ph->filesz)"
	"test_elfimg t20-query.sh"

	manifest-name
	"manifest: device names not checked to be alphanumeric"
	"if (!ascii_alnum((unsigned char)name[i]))"
	"if (0)"
	"test_manifest t10-gen-manifest.sh"

	footer-reserved
	"signature footer: reserved bytes 40..63 not checked to be zero"
	"if (buf[i] != 0)"
	"if (0)"
	"test_sig t61-sign-reject.sh"
)

list=0
[ "${1:-}" = -l ] && { list=1; shift; }
want=" $* "
sel=()
for ((i = 0; i < ${#MUTANTS[@]}; i += 5)); do
	if [ $# -eq 0 ] || [ "${want#* "${MUTANTS[i]}" }" != "$want" ]; then
		sel+=("$i")
	fi
done
if [ $list = 1 ]; then
	for i in "${sel[@]}"; do
		printf '%-20s %s\n%20s tests: %s\n' "${MUTANTS[i]}" \
			"${MUTANTS[i + 1]}" "" "${MUTANTS[i + 4]}"
	done
	exit 0
fi
[ ${#sel[@]} -gt 0 ] || { echo "mutate: no mutant named $*" >&2; exit 2; }

# where DIR PATTERN: the one "FILE:LINE" of DIR/formats that holds
# PATTERN; fails, saying why, unless there is exactly one
where() {
	local hits n
	hits=$(cd "$1" && grep -rnF --include='*.c' --include='*.h' -- "$2" formats)
	n=$(printf '%s' "$hits" | grep -c .)
	if [ "$n" -ne 1 ]; then
		echo "mutate: pattern '$2' matches $n lines of formats/, not 1:" >&2
		printf '%s\n' "$hits" | sed 's/^/    /' >&2
		return 1
	fi
	printf '%s\n' "$hits" | cut -d: -f1,2
}

# Every pattern first, in the tree itself (read only): fail before building.
bad=0
for i in "${sel[@]}"; do
	where "$TOP" "${MUTANTS[i + 2]}" >/dev/null || bad=1
done
[ $bad = 0 ] || exit 1

W=$(mktemp -d "${TMPDIR:-/tmp}/ukit-mutate.XXXXXX")
trap 'rm -rf "$W"' EXIT
# the copies are $W/base and $W/m; test generators find ../shared
ln -s "$SHARED" "$W/shared"

# The tree as it is (tracked and untracked files, not ignored ones such as
# build/), built once; each mutant starts from a copy of this, so that
# make rebuilds only the mutated file and what links it.
mkdir "$W/base"
(cd "$TOP" && git ls-files -z -co --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	tar --null -T - -cf -) | tar -xf - -C "$W/base" || exit 2
units=$(cd "$W/base" && for f in tests/unit/test_*.c; do
	n=${f##*/}; printf 'build/tests/%s ' "${n%.c}"; done)
build() {  # DIR LOG
	# shellcheck disable=SC2086
	nice make -C "$1" all $units >"$2" 2>&1
}
if ! build "$W/base" "$W/base.log"; then
	echo "mutate: the unmutated tree does not build:" >&2
	tail -n 20 "$W/base.log" >&2
	exit 2
fi

# run DIR TEST LOG: run one test program as make check does
run() {
	local t=$2 prog
	case $t in
	test_*) prog=build/tests/$t ;;
	t*.sh) prog=tests/e2e/$t ;;
	*) echo "mutate: unknown test $t" >&2; return 2 ;;
	esac
	(cd "$1" && UKIT_BIN=$1/build/bin UKIT_SHARED=$SHARED \
		nice timeout 1200 bash tests/run-tests.sh mutate "$prog") >"$3" 2>&1
}

# The tests must pass on the unmutated tree, or a kill proves nothing.
all=$(for i in "${sel[@]}"; do tr ' ' '\n' <<<"${MUTANTS[i + 4]}"; done |
	sort -u | tr '\n' ' ')
for t in $all; do
	if ! run "$W/base" "$t" "$W/base-$t.log"; then
		echo "mutate: $t fails on the unmutated tree:" >&2
		grep -m 5 -e '^FAIL' -e 'not ok' "$W/base-$t.log" >&2
		exit 2
	fi
done
echo "mutate: baseline: ${all% } pass on the unmutated tree"

status=0
for i in "${sel[@]}"; do
	name=${MUTANTS[i]} pat=${MUTANTS[i + 2]} rep=${MUTANTS[i + 3]}
	m=$W/m
	rm -rf "$m"
	cp -a "$W/base" "$m"
	at=$(where "$m" "$pat") || { status=1; continue; }
	file=${at%%:*} line=${at#*:}
	"${PY:-/usr/bin/python3}" - "$m/$file" "$line" "$pat" "$rep" <<'PYEOF' || exit 2
import sys
path, line, pat, rep = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
src = open(path).read().split("\n")
assert src[line - 1].count(pat) == 1
src[line - 1] = src[line - 1].replace(pat, rep)
open(path, "w").write("\n".join(src))
PYEOF
	if ! build "$m" "$W/$name.build.log"; then
		echo "mutant $name: does not build ($file:$line)"
		tail -n 5 "$W/$name.build.log" | sed 's/^/    /'
		status=1
		continue
	fi
	killer=
	for t in ${MUTANTS[i + 4]}; do
		if ! run "$m" "$t" "$W/$name-$t.log"; then
			killer=$t
			break
		fi
	done
	if [ -n "$killer" ]; then
		first=$(grep -m 1 '^ *not ok' "$W/$name-$killer.log" | sed 's/^ *//')
		[ -n "$first" ] || first=$(grep -m 1 '^FAIL' "$W/$name-$killer.log")
		echo "mutant $name: killed by $killer ($file:$line; $first)"
	else
		echo "mutant $name: SURVIVED ($file:$line; ${MUTANTS[i + 4]} all passed)"
		status=1
	fi
done
exit $status
