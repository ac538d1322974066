#!/bin/bash
# t22-solo5-diff: differential test of query-manifest/query-abi against a
# real solo5-elftool on randomly mutated ELFs (tests/gen/solo5diff.py).
# Solo5 is not packaged for Debian: set SOLO5_ELFTOOL to a solo5-elftool
# binary built for this host to run it, or SOLO5_BUILD to a Solo5 source
# tree built with ./configure.sh && make (then its elftool, and also the
# real unikernels of its tests/ are compared); skipped otherwise.
. "$(dirname "$0")/lib.sh"
MKELF="bash $TOP/tests/gen/mkelf.sh"
D=$SHARED/data/solo5
if [ -z "${SOLO5_ELFTOOL:-}" ] && [ -n "${SOLO5_BUILD:-}" ]; then
	SOLO5_ELFTOOL=$SOLO5_BUILD/elftool/solo5-elftool
fi

if [ -z "${SOLO5_ELFTOOL:-}" ] || [ ! -x "$SOLO5_ELFTOOL" ]; then
	skip "SOLO5_ELFTOOL not set (no solo5-elftool to compare with)"
	done_testing
	exit 0
fi
$MKELF -m "$D/m01-net/note.hex" -b "$T/a.elf"
$MKELF -m "$D/m03-net-block/note.hex" -t 3 -v 1 "$T/b.elf"
$MKELF -e 1 -m "$D/m00-empty/note.hex" "$T/c.elf"
for f in a b c; do
	for q in query-manifest query-abi; do
		"$SOLO5_ELFTOOL" $q "$T/$f.elf" >"$T/s" 2>/dev/null
		ukit-elftool $q "$T/$f.elf" >"$T/u" 2>/dev/null
		[ "$f" = c ] || same_file "$q $f.elf: same output as solo5-elftool" "$T/s" "$T/u"
	done
done
check "${SOLO5_DIFF_N:-150} mutated ELFs: ukit agrees with solo5-elftool or differs only as documented" \
	"$PY" "$TOP/tests/gen/solo5diff.py" "$SOLO5_ELFTOOL" "$UKIT_BIN/ukit-elftool" \
	"${SOLO5_DIFF_N:-150}" 1 "$T/a.elf" "$T/b.elf" "$T/c.elf"
sed 's/^/# /' "$T/.out"
if [ -n "${SOLO5_BUILD:-}" ]; then
	# Solo5's own test unikernels: the same bytes and exit codes; but
	# solo5-elftool reads only its host's machine (a known Solo5 bug:
	# "elf header invalid"), so for a cross-built tree (aarch64) ukit
	# must succeed with valid JSON where solo5-elftool fails
	host=$(readelf -h "$SOLO5_ELFTOOL" | sed -n 's/^ *Machine: *//p')
	n=0 nx=0 bad=
	for f in "$SOLO5_BUILD"/tests/*/*.hvt "$SOLO5_BUILD"/tests/*/*.spt \
		"$SOLO5_BUILD"/tests/*/*.virtio "$SOLO5_BUILD"/tests/*/*.xen \
		"$SOLO5_BUILD"/tests/*/*.muen; do
		[ -f "$f" ] || continue
		m=$(readelf -h "$f" | sed -n 's/^ *Machine: *//p')
		for q in query-manifest query-abi; do
			"$SOLO5_ELFTOOL" $q "$f" >"$T/s" 2>"$T/se"; rs=$?
			ukit-elftool $q "$f" >"$T/u" 2>/dev/null; ru=$?
			n=$((n + 1))
			if [ "$m" != "$host" ]; then
				nx=$((nx + 1))
				if [ $rs != 1 ] || ! grep -q 'elf header invalid' "$T/se" ||
					[ $ru != 0 ] || ! "$PY" -m json.tool "$T/u" >/dev/null 2>&1; then
					bad="$bad $q:${f##*/}"
				fi
			elif [ $rs != $ru ] || ! cmp -s "$T/s" "$T/u"; then
				bad="$bad $q:${f##*/}"
			fi
		done
	done
	if [ $n -gt 0 ] && [ -z "$bad" ]; then
		ok "Solo5's own test unikernels: $n queries, the same bytes and exit codes ($nx on another machine than solo5-elftool's: ukit reads them, it cannot)"
	else
		not_ok "Solo5's own test unikernels ($n queries) differ:$bad"
	fi
fi
done_testing
