#!/bin/bash
# t02-man-help: the manual pages match behaviour.  For every tool and
# every command (discovered from TOOL --help), the options `TOOL CMD --help`
# lists and the options the man page's SYNOPSIS shows for that command
# are the same set (an option matches by either of its names), and every
# name --help gives (short and long) appears in the page.  Every command
# has a SYNOPSIS entry, the pages pass mandoc -Tlint, and ukit(7) exists.
. "$(dirname "$0")/lib.sh"

# manhelp.py HELP MAN CMD: --help's options = the SYNOPSIS options of CMD
# ("": the tool's own blocks, for a tool without commands).
cat >"$T/manhelp.py" <<'PYEOF'
import re, sys
help_text, man, cmd = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
# --help: one entry per option line, its names
entries = []
for line in help_text[help_text.index("\noptions:\n") + 10:].splitlines():
    spec = re.split(r"\s{2,}", line.strip())[0]
    names = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", spec))
    if names & {"-h", "--help", "--version"}:
        continue
    entries.append(names)
# SYNOPSIS: the blocks ".Nm" / ".Cm CMD" ... up to the next ".Nm"
syn = man[man.index(".Sh SYNOPSIS"):man.index(".Sh DESCRIPTION")]
# a command with sub-commands (ukit-pack oci) has one block per
# sub-command, ".Cm oci build", and its --help lists their union
blocks = [b for b in syn.split("\n.Nm\n")
          if b.startswith(".Cm %s\n" % cmd) or b.startswith(".Cm %s " % cmd)]
if not cmd:
    blocks = [b for b in syn.split("\n.Nm\n")[1:] if not b.startswith(".Cm ")]
assert blocks, "%s has no SYNOPSIS entry" % cmd
def fl_names(text):
    out = set()
    for line in text.splitlines():
        toks = line.split()
        if toks and toks[0].startswith("."):
            toks[0] = toks[0][1:]
        i = 0
        while i < len(toks):
            if toks[i] == "Fl":
                i += 1
                while i < len(toks) and not re.fullmatch(r"[A-Z][a-z]|Ns|Pf", toks[i]):
                    if toks[i] not in ("|", ",", "..."):
                        out.add("-" + toks[i].rstrip(","))
                    i += 1
            else:
                i += 1
    return out
synopt = set()
for b in blocks:
    synopt |= fl_names(b)
for names in entries:
    assert names & synopt, "--help option %s is not in the SYNOPSIS of %s" % (sorted(names), cmd)
    for n in names:
        assert n in fl_names(man), "%s is nowhere in the page as Fl" % n
for o in synopt:
    assert any(o in names for names in entries), "SYNOPSIS option %s of %s is not in --help" % (o, cmd)
PYEOF

check "ukit(7) passes mandoc -Tlint" mandoc -Tlint -Wwarning "$TOP/doc/ukit.7"
for bin in "$UKIT_BIN"/ukit-*; do
	t=$(basename "$bin")
	man=$(ls "$TOP"/*/"$t.1" 2>/dev/null | head -n 1)
	if [ -z "$man" ]; then
		not_ok "$t: no manual page"
		continue
	fi
	check "$t(1) passes mandoc -Tlint" mandoc -Tlint -Wwarning "$man"
	cmds=$("$t" --help | sed -n "s/^    $t \([a-z][a-z0-9-]*\).*/\1/p" | grep -vx help | sort -u)
	# a tool of one job (ukit-verify) has no commands: its own --help
	# against the SYNOPSIS blocks without a .Cm
	if ! "$t" --help | grep -qx 'commands:'; then
		"$t" --help >"$T/help"
		check "$t: --help options = $t(1) SYNOPSIS options" \
			"$PY" "$T/manhelp.py" "$T/help" "$man" ""
		continue
	fi
	for c in $cmds; do
		"$t" "$c" --help >"$T/help"
		check "$t $c: --help options = $t(1) SYNOPSIS options" \
			"$PY" "$T/manhelp.py" "$T/help" "$man" "$c"
	done
done
done_testing
