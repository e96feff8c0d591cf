#!/usr/bin/env python3
"""Short table of a dwconv_bench JSON: % of floor per case for dwconv's
forward with its default policy, the best explicit policy, the naive
baseline and the graph-captured call, then backward_input and
backward_weight (medians of repetitions), and the geometric means.
With --sweeps REGEX, first every forward policy of the cases whose
dtype/layout/case key matches REGEX, one line a case."""
import json
import math
import re
import sys


def main(path, sweeps=None):
    data = json.load(open(path))
    rows = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median" or "floor_pct" not in b:
            continue
        if b.get("run_name", b["name"]).startswith("probe/"):  # not benchmarked cases
            continue
        parts = b.get("run_name", b["name"]).split("/")
        impl, key = parts[0], "/".join(parts[1:4])
        policy = parts[4] if len(parts) > 4 else ""
        rows.setdefault(key, {}).setdefault(impl, {})[policy] = b
    ctx = data["context"]
    if sweeps:
        for key, r in rows.items():
            if re.search(sweeps, key):
                fwd = r.get("forward", {})
                cells = " ".join(f"{k}={v['floor_pct']:.1f}" for k, v in sorted(fwd.items()))
                print(f"{key}: {cells}")
    print(f"device: {ctx.get('device', '?')}, copy {float(ctx.get('copy_bandwidth_GBps', 0)):.0f} GB/s")
    print(f"{'dtype/layout/case':50} {'default%':>8} {'us':>8} {'best explicit policy':>24} {'naive%':>7} {'graph_us':>8}")
    pcts = []
    nan = float("nan")
    for key, r in rows.items():
        fwd = r.get("forward", {})
        d = fwd.get("default")
        explicit = [(v["floor_pct"], k) for k, v in fwd.items() if k != "default"]
        best = max(explicit) if explicit else (nan, "")
        nv = r.get("naive", {}).get("")
        gr = r.get("forward_graph", {}).get("default")
        if d:
            pcts.append(d["floor_pct"])
        print(f"{key:50} {d['floor_pct'] if d else nan:8.1f} {d['us'] if d else nan:8.2f} "
              f"{best[1]:>16} {best[0]:6.1f}% {nv['floor_pct'] if nv else nan:7.1f} {gr['us'] if gr else nan:8.2f}")
    if pcts:
        gm = math.exp(sum(math.log(p) for p in pcts) / len(pcts))
        print(f"dwconv default: geomean {gm:.1f}% of floor; min {min(pcts):.1f}%; below 90%: "
              f"{sum(p < 90 for p in pcts)} of {len(pcts)}")
    back = [(k, r) for k, r in rows.items() if "backward_input" in r or "backward_weight" in r]
    if back:
        print(f"{'dtype/layout/case':50} {'dx%':>7} {'dx_us':>8} {'dw%':>7} {'dw_us':>8}")
        got = {"backward_input": [], "backward_weight": []}
        for key, r in back:
            cells = []
            for impl in got:
                b = r.get(impl, {}).get("default")
                if b:
                    got[impl].append(b["floor_pct"])
                cells.append(f"{b['floor_pct'] if b else nan:7.1f} {b['us'] if b else nan:8.2f}")
            print(f"{key:50} {' '.join(cells)}")
        for impl, target in (("backward_input", 85), ("backward_weight", 80)):
            v = got[impl]
            if v:
                gm = math.exp(sum(math.log(p) for p in v) / len(v))
                print(f"{impl}: geomean {gm:.1f}% of floor; min {min(v):.1f}%; below {target}%: "
                      f"{sum(p < target for p in v)} of {len(v)}")


if __name__ == "__main__":
    args = sys.argv[1:]
    sweeps = None
    if "--sweeps" in args:
        i = args.index("--sweeps")
        sweeps = args[i + 1]
        del args[i:i + 2]
    main(args[0], sweeps)
