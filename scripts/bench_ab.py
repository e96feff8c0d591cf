#!/usr/bin/env python3
"""Merge the alternating runs of gpu-check.sh's ab step (side=path.json,
side being base or cur) into one JSON, and print per benchmark the median
over rounds of each side's median % of floor, the difference, and the
rounds' spread on each side, so that a difference can be read against
the noise of the same call."""
import argparse
import json
import math
import statistics


def medians(path):
    data = json.load(open(path))
    got = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") == "median" and "floor_pct" in b:
            got[b["run_name"]] = b["floor_pct"]
    return data["context"], got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("runs", nargs="+", help="side=path.json")
    a = ap.parse_args()
    sides = {"base": [], "cur": []}
    ctx = None
    for run in a.runs:
        side, path = run.split("=", 1)
        ctx, got = medians(path)
        sides[side].append(got)
    json.dump({"context": ctx, "rounds": sides}, open(a.out, "w"), indent=1)
    names = [n for n in sides["cur"][0] if all(n in r for s in sides.values() for r in s)]
    print(f"device: {ctx.get('device', '?')}, copy {float(ctx.get('copy_bandwidth_GBps', 0)):.0f} GB/s; "
          f"{len(sides['base'])} rounds a side; % of floor, median over rounds [min-max]")
    print(f"{'benchmark':64} {'base':>16} {'cur':>16} {'diff':>6}")
    logs = []
    for n in names:
        b = [r[n] for r in sides["base"]]
        c = [r[n] for r in sides["cur"]]
        mb, mc = statistics.median(b), statistics.median(c)
        logs.append(math.log(mc / mb))
        print(f"{n.removesuffix('/manual_time'):64} {mb:5.1f} [{min(b):4.1f}-{max(b):4.1f}] "
              f"{mc:5.1f} [{min(c):4.1f}-{max(c):4.1f}] {mc - mb:+6.1f}")
    if logs:
        print(f"geomean cur/base: {math.exp(sum(logs) / len(logs)):.3f} over {len(logs)} benchmarks")


if __name__ == "__main__":
    main()
