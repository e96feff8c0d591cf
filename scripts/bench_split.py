#!/usr/bin/env python3
"""Splits a unit's time a call into a steady rate and a fixed cost, from two
sizes of the same problem in one dwconv_bench JSON: a unit and a unit (or
probe) whose case differs only in N. With time = fixed + floor / rate at
both sizes (floor: the unit's floor time, `us` x floor_pct / 100), the rate
is the second size's extra floor over its extra time (in % of the copy
bandwidth) and the fixed cost is what is left of the first size's time.
b53.4 in bench/NOTES.md: every 2-byte 56x56 unit at 32 and 128 images.

usage: scripts/bench_split.py BENCH_JSON [--small N] [--large N]
(default 32 and 128: the 56x56 case and its probe at 4 times the images)."""
import argparse
import json


def unit_key(run_name):
    """(op, dtype, layout, case without N, policy) and N, or None for names
    that are not units or probes of a pass."""
    parts = run_name.split("/")
    if parts[0] == "probe":
        parts = parts[1:]
    if len(parts) < 5 or parts[0] not in ("forward", "backward_input", "backward_weight"):
        return None
    op, dtype, layout, case, policy = parts[:5]
    n, _, rest = case.partition("x")
    if not n.isdigit():
        return None
    # A probe's name ends in _pw<pad_w>; a case with pad_w == pad is the same problem.
    base, _, pw = rest.rpartition("_pw")
    if pw.isdigit() and f"_p{pw}_" in base:
        rest = base
    return (op, dtype, layout, rest, policy), int(n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json")
    ap.add_argument("--small", type=int, default=32)
    ap.add_argument("--large", type=int, default=128)
    args = ap.parse_args()
    sizes = {}
    for b in json.load(open(args.json))["benchmarks"]:
        if b.get("aggregate_name") != "median" or "floor_pct" not in b:
            continue
        key = unit_key(b["run_name"])
        if key is None:
            continue
        us = b["us"]
        sizes.setdefault(key[0], {})[key[1]] = (us, us * b["floor_pct"] / 100.0)
    print(f"{'unit':58s} {'N=' + str(args.small):>7s} {'N=' + str(args.large):>7s} {'rate':>7s} {'fixed':>8s}")
    for k in sorted(sizes):
        v = sizes[k]
        if args.small not in v or args.large not in v:
            continue
        (t1, f1), (t2, f2) = v[args.small], v[args.large]
        if t2 <= t1 or f2 <= f1:
            continue
        ratio = (t2 - t1) / (f2 - f1)  # time a floor-second in steady state
        fixed = t1 - f1 * ratio
        name = "/".join(k[:3]) + "/" + k[3]
        print(f"{name[:58]:58s} {100 * f1 / t1:6.1f}% {100 * f2 / t2:6.1f}% {100 / ratio:6.1f}% {fixed:6.1f}us")


if __name__ == "__main__":
    main()
