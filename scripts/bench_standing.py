#!/usr/bin/env python3
"""Where a dwconv_bench JSON stands against the issues' targets: per pass
(forward 90 %, backward_input 85 %, backward_weight 80 % of the floor on
every large case), the geometric mean and the count at target over the
large cases (all but 1x32x64x64), the units short of target, and the
1x32x64x64 case's time per call (the `us` counter: plain calls and, for
forward, graph-captured ones; target 4 us)."""
import json
import math
import sys

TARGETS = {"forward": 90.0, "backward_input": 85.0, "backward_weight": 80.0}
TINY = "1x32x64x64"


def per_call(units):
    """'dtype/layout us' for each 1x32x64x64 unit, from its `us` counter."""
    return ", ".join(f"{k.split('/')[0]}/{k.split('/')[1]} {b['us']:.2f}" for k, b in sorted(units.items()))


def main(path):
    data = json.load(open(path))
    rows = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median" or "floor_pct" not in b:
            continue
        parts = b["run_name"].split("/")
        if len(parts) < 5 or parts[4] != "default":
            continue
        rows.setdefault(parts[0], {})["/".join(parts[1:4])] = b
    ctx = data["context"]
    print(f"device: {ctx.get('device', '?')}, copy {float(ctx.get('copy_bandwidth_GBps', 0)):.0f} GB/s")
    for impl, target in TARGETS.items():
        got = rows.get(impl, {})
        large = {k: b["floor_pct"] for k, b in got.items() if TINY not in k}
        if not large:
            continue
        gm = math.exp(sum(math.log(v) for v in large.values()) / len(large))
        ok = sum(v >= target for v in large.values())
        print(f"{impl}: geomean {gm:.1f} % over {len(large)} large units, {ok} at or above {target:.0f} %")
        short = sorted((v, k) for k, v in large.items() if v < target)
        if short:
            print("  short: " + ", ".join(f"{k} {v:.1f}" for v, k in short))
        tiny = {k: b for k, b in got.items() if TINY in k}
        if tiny:
            print("  " + TINY + " us/call: " + per_call(tiny))
    graph = rows.get("forward_graph", {})
    if graph:
        print("forward_graph " + TINY + " us/call: " + per_call(graph))


if __name__ == "__main__":
    main(sys.argv[1])
