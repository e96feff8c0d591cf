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
    ap.add_argument("runs", nargs="+", help="side=path.json (sides: base, cur and any variants)")
    a = ap.parse_args()
    sides = {}
    ctx = None
    for run in a.runs:
        side, path = run.split("=", 1)
        ctx, got = medians(path)
        sides.setdefault(side, []).append(got)
    json.dump({"context": ctx, "rounds": sides}, open(a.out, "w"), indent=1)
    order = ["base"] + sorted(s for s in sides if s != "base")
    names = [n for n in sides["base"][0] if all(n in r for s in sides.values() for r in s)]
    print(f"device: {ctx.get('device', '?')}, copy {float(ctx.get('copy_bandwidth_GBps', 0)):.0f} GB/s; "
          f"{len(sides['base'])} rounds a side; % of floor, median over rounds [min-max], "
          f"then the difference from base")
    print(f"{'benchmark':60} " + " ".join(f"{s[:23]:>23}" for s in order))
    logs = {s: [] for s in order[1:]}
    for n in names:
        cells = []
        mb = statistics.median(r[n] for r in sides["base"])
        for s in order:
            v = [r[n] for r in sides[s]]
            m = statistics.median(v)
            cell = f"{m:5.1f} [{min(v):4.1f}-{max(v):4.1f}]"
            if s != "base":
                cell += f" {m - mb:+5.1f}"
                logs[s].append(math.log(m / mb))
            cells.append(f"{cell:>23}")
        print(f"{n.removesuffix('/manual_time'):60} " + " ".join(cells))
    for s, l in logs.items():
        if l:
            print(f"geomean {s}/base: {math.exp(sum(l) / len(l)):.3f} over {len(l)} benchmarks")


if __name__ == "__main__":
    main()
