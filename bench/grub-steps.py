#!/usr/bin/env python3
"""bench/grub-steps.py DIR RUNS SHIFT: the boots and the table of
bench/grub-steps.sh (DIR: its files; SHIFT: -icount's; see there)."""
import os
import re
import resource
import subprocess
import sys
import time

D, RUNS, SHIFT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
QEMU = ["qemu-system-x86_64", "-accel", "tcg", "-m", "128", "-nographic",
        "-display", "none", "-monitor", "none", "-no-reboot",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


def boot(want, args, trace=None):
    """One boot: (wall s, CPU s, ukexit's TSC or None); exits the bench
    unless it ended as wanted (serial: the kernel's line on COM1; exit:
    ukexit's status 67 and its line)."""
    serial = os.path.join(D, "serial")
    if os.path.exists(serial):
        os.unlink(serial)
    cmd = QEMU + ["-serial", "file:" + serial] + args
    if trace:
        cmd += ["-trace", "ide_sector_read", "-D", trace]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic_ns()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=300, check=False)
    t1 = time.monotonic_ns()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(serial, "rb") as f:
        out = f.read()
    tsc = None
    if want == "serial":
        ok = re.search(rb"ukit-mb: .*bench", out) is not None
    else:
        m = re.search(rb"ukexit tsc=([0-9a-f]{16})", out)
        ok = p.returncode == 67 and m is not None
        tsc = int(m.group(1), 16) if m else None
    if not ok:
        sys.exit("bench: boot did not end as %s (status %d): %s" %
                 (want, p.returncode, " ".join(args)))
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return (t1 - t0) / 1e9, cpu, tsc


def sectors(want, args):
    trace = os.path.join(D, "trace")
    if os.path.exists(trace):
        os.unlink(trace)
    boot(want, args, trace)
    with open(trace) as f:
        return sum(1 for l in f if "ide_sector_read" in l)


def median(v):
    v = sorted(v)
    return v[(len(v) - 1) // 2]


ways = []
with open(os.path.join(D, "ways")) as f:
    for line in f:
        name, want, *args = line.split()
        ways.append((name, want, args))
runs = {name: [] for name, _, _ in ways}
for _ in range(RUNS):
    for name, want, args in ways:
        runs[name].append(boot(want, args))
wall = {n: median([r[0] for r in v]) * 1000 for n, v in runs.items()}
cpu = {n: median([r[1] for r in v]) * 1000 for n, v in runs.items()}
sec = {n: sectors(w, a) for n, w, a in ways if n != "kernel"}
# guest instructions to ukexit, in millions: -icount's TSC / 2^SHIFT
ins = {n: boot(w, ["-icount", "shift=%d,sleep=off" % SHIFT] + a)[2] /
       2 ** SHIFT / 1e6 for n, w, a in ways if w == "exit"}

with open(os.path.join(D, "steps.all")) as f:
    steps = [l.rstrip("\n").split("\t") for l in f]
print("%-26s %7s %7s %7s %7s %7s %6s %8s %7s %7s" % (
    "step", "sectors", "wall", "CPU", "wall+", "CPU+", "IDE+", "CPU+/KiB",
    "Minsn", "Minsn+"))
print("%-26s %7s %7.0f %7.0f   (ms: absolute)" % ("-kernel", "-",
      wall["kernel"], cpu["kernel"]))


def row(label, n, name, prev, size=0):
    print("%-26s %7s %7.0f %7.0f %7.0f %7.0f %6d %8s %7s %7s" % (
        label, n, wall[name] - wall["kernel"], cpu[name] - cpu["kernel"],
        wall[name] - wall[prev], cpu[name] - cpu[prev],
        sec[name] - (sec[prev] if prev in sec else 0),
        "%.2f" % ((cpu[name] - cpu[prev]) * 1024 / size) if size else "-",
        "%.3f" % ins[name] if name in ins else "-",
        "%.3f" % (ins[name] - ins[prev]) if name in ins and prev in ins
        else "-"))


row("floor (MBR)", 1, "floor", "kernel")
prev = "floor"
for k, (label, n, size) in enumerate(steps):
    row("%d %s" % (k, label), n, "v%d" % k, prev, int(size))
    prev = "v%d" % k
row("boot (whole disk)", "-", "full", prev)
row("start-up without TSC", steps[0][1], "v0-notsc", "v0")
print("(ms; wall, CPU: over -kernel; wall+, CPU+, IDE+ sectors: over the row")
print(" before; every variant ends with ukexit's insmod, one 64-sector read;")
print(" Minsn: millions of guest instructions to ukexit under -icount")
print(" shift=%d, where the 55 ms PIT wait is %.1f of them)" % (
    SHIFT, 55e6 / 2 ** SHIFT / 1e6))

# PERF=1: where QEMU's host time goes (perf record, cpu-clock at 10 kHz):
# the samples of the last step's boot over the floor's, by shared object
# and by symbol (mean of 3 boots each)
if os.environ.get("PERF"):
    from collections import Counter

    def prof(name, key):
        c = Counter()
        args = dict((n, (w, a)) for n, w, a in ways)[name][1]
        for i in range(3):
            data = os.path.join(D, "perf.data")
            subprocess.run(["perf", "record", "-q", "-F", "10000", "-o", data,
                            "--"] + QEMU + ["-serial", "file:" + os.path.join(
                                D, "serial")] + args,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            rep = subprocess.run(["perf", "report", "-i", data, "--stdio",
                                  "--no-children", "-n", "-g", "none",
                                  "--sort", key], capture_output=True,
                                 text=True, check=True).stdout
            for line in rep.splitlines():
                f = line.split(None, 2)
                if line.startswith("#") or len(f) < 3:
                    continue
                c[re.sub(r" tid \d+", "", f[2]).strip()] += int(f[1]) / 3
        return c

    last = "v%d" % (len(steps) - 1)
    for key, top in (("dso", 8), ("sym", 15)):
        f, a = prof("floor", key), prof(last, key)
        t = sum(a.values()) - sum(f.values())
        print("perf: %s over the floor, %.0f samples (10 kHz), by %s:" % (
            last, t, key))
        for k, v in Counter({k: a[k] - f.get(k, 0) for k in a}).most_common(
                top):
            print("  %6.0f %5.1f%%  %s" % (v, 100 * v / t, k))
