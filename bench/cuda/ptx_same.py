#!/usr/bin/env python3
"""Whether two PTX files hold the same kernels, kernel by kernel, up to names: for checking on a
machine without a GPU that a refactor of CUDA code leaves the kernels' instructions unchanged.

    ptx_same.py OLD.ptx NEW.ptx

Per kernel (matched by demangled name, anonymous namespaces dropped; trailing template arguments
`false`, and those of PTX_SAME_ONE / PTX_SAME_DROP, may be missing on either side): "same" when the bodies are
equal after renaming virtual registers in order of appearance and dropping labels' numbers, call
sequence numbers, shared-variable declarations and the parameter block's size; "same multiset" when
only the order of instructions or of register names differs (sorted lines equal with register
numbers erased); else "DIFF". Exit status 1 if any kernel present in both differs, else 0."""
import os
import re
import subprocess
import sys


def canon(body, erase_regs=False):
    body = re.sub(r"callseq \d+", "callseq N", body)
    body = re.sub(r"\.param \.align 8 \.b8 SYM\[\d+\]", "PARAM", body)
    body = "\n".join(l for l in body.splitlines() if not l.strip().startswith(".shared") and "demoted variable" not in l)
    body = re.sub(r"\.reg .*", "", body)
    i = body.find("\n.func")  # helpers the compiler appends after the last kernel
    if i > 0:
        body = body[:i]
    if erase_regs:
        return re.sub(r"%(rd|r|rs|f|fd|p)\d+", "%R", body)
    names = {}

    def rename(m):
        d = names.setdefault(m.group(1), {})
        return d.setdefault(m.group(0), "%%%s#%d" % (m.group(1), len(d)))

    return re.sub(r"%(rd|r|rs|f|fd|p)(\d+)", rename, body)


def kernels(path):
    text = open(path).read()
    found = list(re.finditer(r"\.entry (\S+)\(", text))
    out = {}
    for i, m in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        body = text[m.start():end]
        name = subprocess.run(["c++filt", m.group(1)], capture_output=True, text=True).stdout.strip()
        name = name.replace("(anonymous namespace)::", "")
        body = re.sub(r"_ZN\d+_GLOBAL__N__\w+", "SYM", body)
        body = re.sub(r"_Z\w+", "SYM", body)
        body = re.sub(r"\$L__BB\d+_", "$L__BB_", body)
        body = re.sub(r"__local_depot\d+", "DEPOT", body)
        out[name] = body
    return out


def main():
    old, new = kernels(sys.argv[1]), kernels(sys.argv[2])
    # template parameters added or removed with a default (false; also 1 with PTX_SAME_ONE=1, and
    # the comma-separated values of PTX_SAME_DROP, e.g. 0): match NAME<..., false> on one side
    # with NAME<...> on the other
    vals = ["false"] + (["1"] if os.environ.get("PTX_SAME_ONE") == "1" else [])
    vals += [v for v in os.environ.get("PTX_SAME_DROP", "").split(",") if v]
    dflt = r", (%s)>\(" % "|".join(re.escape(v) for v in vals)

    def bare(name):
        while True:
            alt = re.sub(dflt, ">(", name)
            if alt == name:
                return name
            name = alt

    for side, other in ((new, old), (old, new)):
        for name in [n for n in side if n not in other]:
            alt = bare(name)
            if alt != name and alt not in side:
                match = [n for n in other if bare(n) == alt and n not in side]
                if len(match) == 1:
                    side[match[0]] = side.pop(name)
    counts = {"same": 0, "same multiset": 0, "DIFF": 0}
    for name in sorted(set(old) & set(new)):
        if canon(old[name]) == canon(new[name]):
            verdict = "same"
        elif sorted(canon(old[name], True).splitlines()) == sorted(canon(new[name], True).splitlines()):
            verdict = "same multiset"
        else:
            verdict = "DIFF"
        counts[verdict] += 1
        if verdict != "same":
            print("%-13s %s" % (verdict, name))
    for name in sorted(set(old) - set(new)):
        print("only old      %s" % name)
    for name in sorted(set(new) - set(old)):
        print("only new      %s" % name)
    print("kernels in both: %d same, %d same multiset, %d DIFF" % (counts["same"], counts["same multiset"], counts["DIFF"]))
    return 1 if counts["DIFF"] else 0


if __name__ == "__main__":
    sys.exit(main())
