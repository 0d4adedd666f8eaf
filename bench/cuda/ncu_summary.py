#!/usr/bin/env python3
"""Summarizes an Nsight Compute CSV (ncu --csv --log-file F --metrics gpu__time_duration.sum,
dram__bytes_read.sum,dram__bytes_write.sum): one line per kernel (name with template arguments,
grid), with launches, mean and total duration, DRAM bytes per launch and the DRAM bandwidth the
kernel reached alone (ncu serializes kernels: no overlap, no launch gaps).
   ncu_summary.py FILE.csv [per_step_kernel_regex]"""
import csv, re, sys
from collections import defaultdict

rows = defaultdict(lambda: defaultdict(float))  # launch id -> metric -> value
name = {}
with open(sys.argv[1], newline="") as f:
    lines = [l for l in f if l.startswith('"')]
for r in csv.DictReader(lines):
    i = r["ID"]
    k = r["Kernel Name"]
    k = re.sub(r"\(anonymous namespace\)::", "", k)
    k = re.sub(r"^void ", "", k)
    k = k.split("(")[0] if not k.startswith("(") else k
    name[i] = (k[:70], r.get("Grid Size", ""))
    v = float(r["Metric Value"].replace(",", "")) if r["Metric Value"] not in ("", "n/a") else 0.0
    unit = r["Metric Unit"]
    scale = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "second": 1e6,
             "byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9}.get(unit, 1.0)
    rows[i][r["Metric Name"]] = v * scale
agg = defaultdict(lambda: [0, 0.0, 0.0])
for i, m in rows.items():
    a = agg[name[i]]
    a[0] += 1
    a[1] += m.get("gpu__time_duration.sum", 0.0)
    a[2] += m.get("dram__bytes_read.sum", 0.0) + m.get("dram__bytes_write.sum", 0.0)
total = sum(a[1] for a in agg.values())
print(f"{'kernel':70s} {'grid':>16s} {'n':>5s} {'mean us':>9s} {'total us':>10s} {'%':>5s} {'MB/launch':>9s} {'GB/s':>7s}")
for (k, g), (n, t, b) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
    bw = b / (t * 1e-6) / 1e9 if t > 0 else 0.0
    print(f"{k:70s} {g:>16s} {n:5d} {t / n:9.2f} {t:10.1f} {100 * t / total:5.1f} {b / n / 1e6:9.3f} {bw:7.0f}")
print(f"{'all':70s} {'':>16s} {sum(a[0] for a in agg.values()):5d} {'':>9s} {total:10.1f}")
if len(sys.argv) > 2:  # per decode step: launches of the marker kernel (one per step)
    steps = sum(n for (k, g), (n, t, b) in agg.items() if re.search(sys.argv[2], k + " " + g))
    if steps:
        print(f"per step ({steps} steps by /{sys.argv[2]}/): {total / steps:.1f} us kernel time")
