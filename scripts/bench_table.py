#!/usr/bin/env python3
"""Short table of a forward_bench JSON: % of floor per case for dwconv and
the naive baseline (medians of repetitions), and the geometric mean."""
import json
import math
import sys


def main(path):
    data = json.load(open(path))
    rows = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median" or "floor_pct" not in b:
            continue
        name = b.get("run_name", b["name"])
        impl, rest = name.split("/", 1)
        key = rest.rsplit("/default", 1)[0]
        rows.setdefault(key, {})[impl] = b
    print(f"device: {data['context'].get('device', '?')}, copy {float(data['context'].get('copy_bandwidth_GBps', 0)):.0f} GB/s")
    print(f"{'dtype/layout/case':52} {'dwconv%':>8} {'us':>9} {'naive%':>7}")
    pcts = []
    for key, r in rows.items():
        d, nv = r.get("forward"), r.get("naive")
        if d:
            pcts.append(d["floor_pct"])
        print(f"{key:52} {d['floor_pct'] if d else float('nan'):8.1f} {d['us'] if d else float('nan'):9.2f} "
              f"{nv['floor_pct'] if nv else float('nan'):7.1f}")
    if pcts:
        gm = math.exp(sum(math.log(p) for p in pcts) / len(pcts))
        print(f"dwconv geomean {gm:.1f}% of floor; min {min(pcts):.1f}%; below 90%: {sum(p < 90 for p in pcts)} of {len(pcts)}")


if __name__ == "__main__":
    main(sys.argv[1])
