#!/usr/bin/env python3
"""pubapi.py PREFIX [CFLAG...]: libukit's public API as installed under
PREFIX is exactly what libukit.so.0 exports.

The installed headers (PREFIX/include/ukit/*.h) are the API.  Checked:

  (c) an installed header includes only installed headers, and compiles
      alone with -I PREFIX/include (nothing from the source tree);
  (a) every symbol libukit.so.0 exports is declared by an installed header;
  (b) every function (and extern variable) an installed header declares
      is exported;
  and every declared name starts with ukit_.

"Declared" is what the compiler sees: gcc -aux-info lists each function
declared in the headers with the file it comes from (static inline ones
are not symbols and are left out); extern variables are read from the
headers.  Exported is nm -D --defined-only.  A last test, independent of
both parsers, compiles a file that takes the address of every exported
and declared name with only the installed headers, and links it against
the installed libukit.so: an undeclared export fails the compile, a
declared name that is not exported fails the link.  Extra arguments are
compiler flags for that link (the sanitizers, under SAN=1).

Prints TAP.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

prefix = sys.argv[1]
extra = sys.argv[2:]
inc = os.path.join(prefix, "include")
ukit = os.path.join(inc, "ukit")
so = os.path.join(prefix, "lib", "libukit.so.0")
tmp = tempfile.mkdtemp(prefix="pubapi.")
n = 0
fails = 0


def result(ok, desc, detail=()):
    global n, fails
    n += 1
    print(("ok %d - %s" if ok else "not ok %d - %s") % (n, desc))
    if not ok:
        fails += 1
        for d in list(detail)[:20]:
            print("#   " + d)


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


hdrs = sorted(f for f in os.listdir(ukit) if f.endswith(".h")) \
    if os.path.isdir(ukit) else []
result(hdrs, "%s holds the public headers (%d)" % (ukit, len(hdrs)))
cflags = ["-std=c11", "-D_GNU_SOURCE", "-I" + inc]
pc = run(["pkg-config", "--cflags", "jansson", "libcrypto"])
cflags += pc.stdout.split()

# (c) includes
bad = []
for h in hdrs:
    text = strip_comments(open(os.path.join(ukit, h)).read())
    for m in re.finditer(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', text, re.M):
        kind, name = m.groups()
        if kind == '"':
            target = os.path.join(ukit, name)
        elif name.startswith("ukit/"):
            target = os.path.join(inc, name)
        else:
            continue              # a system or dependency header
        if not os.path.isfile(target):
            bad.append("%s includes %s%s%s, which is not installed"
                       % (h, kind, name, '"' if kind == '"' else ">"))
result(not bad, "installed headers include installed headers only", bad)
bad = []
for h in hdrs:
    src = os.path.join(tmp, "alone.c")
    with open(src, "w") as f:
        f.write("#include <ukit/%s>\n" % h)
    r = run(["cc", "-fsyntax-only", "-Wall", "-Wextra", "-Werror"] + cflags
            + [src])
    if r.returncode != 0:
        bad.append("<ukit/%s>: %s" % (h, " ".join(r.stderr.split())[:300]))
result(not bad, "each installed header compiles alone with -I %s" % inc, bad)

# what the headers declare: functions (gcc -aux-info), extern variables
allpub = os.path.join(tmp, "allpub.c")
with open(allpub, "w") as f:
    for h in hdrs:
        f.write("#include <ukit/%s>\n" % h)
aux = os.path.join(tmp, "aux.txt")
r = run(["gcc", "-fsyntax-only", "-aux-info", aux] + cflags + [allpub])
result(r.returncode == 0, "gcc -aux-info reads the installed headers",
       r.stderr.splitlines())
declared = {}                     # name -> header
if r.returncode == 0:
    for line in open(aux):
        m = re.match(r"/\* (.+?):\d+:\w+ \*/ (.*?);", line)
        if not m or not m.group(1).startswith(ukit + "/"):
            continue
        decl = m.group(2)
        if decl.startswith("static "):
            continue              # inline in the header, not a symbol
        names = [x for x in re.findall(r"([A-Za-z_]\w*) \(", decl)
                 if x not in ("int", "void", "char", "const", "unsigned")]
        if names:
            declared.setdefault(names[0], os.path.basename(m.group(1)))
for h in hdrs:
    text = strip_comments(open(os.path.join(ukit, h)).read())
    for m in re.finditer(r"\bextern\s+[^;(){}]*?\b([A-Za-z_]\w*)\s*"
                         r"(?:\[[^\]]*\]\s*)?;", text):
        declared.setdefault(m.group(1), h)
result(len(declared) > 10, "installed headers declare functions (%d)"
       % len(declared))
bad = sorted("%s (%s)" % (s, h) for s, h in declared.items()
             if not s.startswith("ukit_"))
result(not bad, "every name an installed header declares starts with ukit_",
       bad)

r = run(["nm", "-D", "--defined-only", so])
exported = set()
for line in r.stdout.splitlines():
    p = line.split()
    if len(p) >= 3 and p[1] != "A":
        exported.add(p[2].split("@")[0])
result(r.returncode == 0 and exported, "nm -D reads %s (%d exports)"
       % (so, len(exported)), r.stderr.splitlines())

bad = sorted(exported - set(declared))
result(not bad, "(a) libukit.so.0 exports only what installed headers declare",
       ["%d exported, declared by no installed header: %s"
        % (len(bad), " ".join(bad))] if bad else ())
bad = sorted("%s (%s)" % (s, declared[s]) for s in set(declared) - exported)
result(not bad, "(b) libukit.so.0 exports everything installed headers declare",
       ["%d declared, not exported: %s" % (len(bad), " ".join(bad))]
       if bad else ())

# the compiler and the linker, on the same question
names = sorted(exported | set(declared))
src = os.path.join(tmp, "every.c")
with open(src, "w") as f:
    for h in hdrs:
        f.write("#include <ukit/%s>\n" % h)
    f.write("#include <stdio.h>\nstatic const void *const every[] = {\n")
    for s in names:
        f.write("\t(const void *)&%s,\n" % s)
    f.write("};\nint main(void)\n{\n\tprintf(\"%zu\\n\", "
            "sizeof every / sizeof every[0]);\n"
            "\treturn every[0] == NULL;\n}\n")
r = run(["cc", "-Werror=implicit-function-declaration", "-o",
         os.path.join(tmp, "every")] + cflags + extra
        + [src, "-L" + os.path.dirname(so), "-lukit"])
result(r.returncode == 0, "a program naming all %d links against "
       "libukit.so with the installed headers alone" % len(names),
       [" ".join(r.stderr.split())[:1500]])
shutil.rmtree(tmp)
print("1..%d" % n)
sys.exit(1 if fails else 0)
