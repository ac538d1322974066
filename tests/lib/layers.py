#!/usr/bin/env python3
"""layers.py SRCDIR OBJDIR: libukit's layers, checked two ways.

Includes: a file under formats/LAYER/ includes only headers of its own
layer and of the layers before it (core < elf < disk < trust < oci), and
no header includes, directly or not, one that includes it back.

Objects: module A depends on B when A's object file leaves undefined a
symbol that B's defines (nm).  No module depends on a higher layer, and
the modules form no cycle, so any lower part of the library links without
the higher ones (what the minimal verifier relies on).

Prints TAP.
"""
import os
import re
import subprocess
import sys

LAYERS = ["core", "elf", "disk", "trust", "oci"]
src, obj = sys.argv[1], sys.argv[2]
n = 0
fails = 0


def result(ok, desc, detail=()):
    global n, fails
    n += 1
    print(("ok %d - %s" if ok else "not ok %d - %s") % (n, desc))
    if not ok:
        fails += 1
        for d in detail:
            print("#   " + d)


where = {}   # file name -> layer
for layer in LAYERS:
    d = os.path.join(src, "formats", layer)
    if os.path.isdir(d):
        for f in os.listdir(d):
            if f.endswith((".c", ".h")):
                if f in where:
                    result(False, "file name %s is in one layer only" % f)
                where[f] = layer
rank = {l: i for i, l in enumerate(LAYERS)}
inc = {}
for f, layer in where.items():
    text = open(os.path.join(src, "formats", layer, f)).read()
    inc[f] = re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M)

up = []
unknown = []
for f, names in sorted(inc.items()):
    for h in names:
        if h not in where:
            unknown.append("%s/%s includes \"%s\", not a libukit header"
                           % (where[f], f, h))
        elif rank[where[h]] > rank[where[f]]:
            up.append("%s/%s includes %s/%s" % (where[f], f, where[h], h))
result(not unknown, "formats/ includes only libukit headers by quoted name",
       unknown)
result(not up, "no file includes a header of a higher layer", up)

# include cycles among headers
hdr = {f: [h for h in v if h.endswith(".h") and h in where]
       for f, v in inc.items() if f.endswith(".h")}


def cycles(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


c = cycles(hdr)
result(not c, "no include cycles among headers",
       ["cycle: " + " ".join(x) for x in c])

# object-level dependencies
objs = {}
for layer in LAYERS:
    d = os.path.join(obj, "formats", layer)
    if os.path.isdir(d):
        for f in sorted(os.listdir(d)):
            if f.endswith(".o"):
                objs[f[:-2]] = (layer, os.path.join(d, f))


def nm(path, defined):
    args = ["nm", "-P", "--defined-only" if defined else "-u", path]
    out = subprocess.run(args, capture_output=True, text=True,
                         check=True).stdout
    syms = set()
    for line in out.splitlines():
        p = line.split()
        if len(p) >= 2 and (not defined or p[1] in "TDRBVW"):
            syms.add(p[0])
    return syms


result(len(objs) > 10, "found libukit's objects (%d) under %s"
       % (len(objs), obj))
defs = {m: nm(p, True) for m, (l, p) in objs.items()}
owner = {}
for m, ss in defs.items():
    for s in ss:
        owner[s] = m
deps = {}
for m, (layer, p) in objs.items():
    deps[m] = sorted({owner[s] for s in nm(p, False)
                      if s in owner and owner[s] != m})
bad = ["%s/%s uses %s/%s" % (objs[m][0], m, objs[d][0], d)
       for m in sorted(deps) for d in deps[m]
       if rank[objs[d][0]] > rank[objs[m][0]]]
result(not bad, "no module calls into a higher layer", bad)
c = cycles(deps)
result(not c, "modules form no cycle",
       ["cycle: " + " ".join(x) for x in c])
print("1..%d" % n)
sys.exit(1 if fails else 0)
