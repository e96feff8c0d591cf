#!/usr/bin/env python3
"""dwconv side by side with PyTorch and cuDNN, in one run on one card.

Loads the C ABI library built from bench/capi.cu (ctypes: no PyTorch C++
build needed), checks dwconv against F.conv2d on every benchmark case, then
times dwconv, F.conv2d (NCHW and channels_last) and torch.cudnn_convolution
with CUDA events: warm-up, median of repetitions, inputs rotated through
buffers larger than L2, random data. Then the backward: dwconv's dx and
dw / dbias against what autograd runs for F.conv2d
(aten.convolution_backward, with the output mask of each gradient), both
checked against a float64 autograd reference. Prints percent of the copy
floor and speed-ups; writes JSON with --json.

usage: compare_torch.py LIB [--json OUT] [--reps N]
"""
import argparse
import ctypes
import json
import math
import os
import re
import statistics
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {"float": (torch.float32, 0), "half": (torch.float16, 1), "bfloat16": (torch.bfloat16, 2)}
TOL = {"float": 1e-5, "half": 2e-3, "bfloat16": 1.6e-2}  # max |diff| / max |ref|
# Gradients against a float64 reference: one rounding of the result, plus
# float accumulation over up to N*Ho*Wo terms for dw.
GRAD_TOL = {"float": 1e-4, "half": 2e-3, "bfloat16": 1.6e-2}


def load_cases():
    text = open(os.path.join(HERE, "bench_cases.hpp")).read()
    body = text[text.index("kCases[]"):]
    rows = re.findall(r"\{(\d+), (\d+), (\d+), (\d+), (\d+), (\d+), (\d+), (\d+), (true|false)\}", body)
    return [tuple(int(v) for v in r[:8]) + (r[8] == "true",) for r in rows]


def median_ms(fn, sets, reps, inner):
    """Median over reps of the mean time of `inner` calls, rotating sets."""
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for i in range(3):
        fn(i % sets)
    times = []
    turn = 0
    for _ in range(reps):
        start.record()
        for _ in range(inner):
            fn(turn % sets)
            turn += 1
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / inner)
    return statistics.median(times)


def copy_bandwidth():
    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device="cuda").fill_(7)
    b = torch.empty_like(a)
    ms = median_ms(lambda i: b.copy_(a), 1, 20, 1)
    return 2 * n / (ms * 1e-3)


def rel_err(got, ref):
    ref = ref.double()
    return ((got.double() - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def problem_args(dcode, layout, n, c, h, w, k, s, p, d):
    ll = ctypes.c_longlong
    return (dcode, 1 if layout == "NHWC" else 0, ll(n), ll(c), ll(h), ll(w), k, s, s, d, p, p, p, p)


def backward_rows(lib, msg, case, dname, dtype, dcode, layout, fmt, l2, bw, reps):
    """Times and checks dx and dw / dbias for one case; returns two rows."""
    (n, c, h, w, k, s, p, d, has_bias) = case
    vp = ctypes.c_void_p
    stream = vp(torch.cuda.current_stream().cuda_stream)
    weight = torch.randn(c, 1, k, 1, device="cuda", dtype=dtype)
    x0 = torch.randn(n, c, h, w, device="cuda", dtype=dtype).contiguous(memory_format=fmt)
    y_shape = F.conv2d(x0[:1], weight, None, stride=s, padding=p, dilation=(d, 1), groups=c).shape
    ho, wo = y_shape[2], y_shape[3]
    g0 = torch.randn(n, c, ho, wo, device="cuda", dtype=dtype).contiguous(memory_format=fmt)
    conv = dict(stride=(s, s), padding=(p, p), dilation=(d, 1), transposed=False, output_padding=(0, 0), groups=c)

    def autograd(g, x, wt, mask):
        return torch.ops.aten.convolution_backward(g, x, wt, [c] if has_bias else None, conv["stride"],
                                                   conv["padding"], conv["dilation"], False, conv["output_padding"],
                                                   c, mask)

    ref = autograd(g0.double(), x0.double(), weight.double(), [True, True, has_bias])
    args = problem_args(dcode, layout, n, c, h, w, k, s, p, d)
    nbytes = (x0.numel() + g0.numel()) * x0.element_size()
    sets = max(2, min(32, math.ceil(2 * l2 / nbytes) + 1))
    xs = [x0] + [torch.randn_like(x0).contiguous(memory_format=fmt) for _ in range(sets - 1)]
    gs = [g0] + [torch.randn_like(g0).contiguous(memory_format=fmt) for _ in range(sets - 1)]
    dxs = [torch.empty_like(x0) for _ in range(sets)]
    dw = torch.empty(c, 1, k, 1, device="cuda", dtype=dtype)
    db = torch.empty(c, device="cuda", dtype=dtype)
    ws_bytes = ctypes.c_ulonglong(0)
    rc = lib.dwconv_backward_weight(*args, vp(x0.data_ptr()), vp(g0.data_ptr()), vp(dw.data_ptr()),
                                    vp(db.data_ptr()), None, ctypes.byref(ws_bytes), stream, msg, 256)
    if rc != 0:
        raise RuntimeError(f"dwconv_backward_weight size query returned {rc}: {msg.value.decode()}")
    ws = torch.empty(ws_bytes.value, device="cuda", dtype=torch.uint8)

    def run_dx(i):
        rc = lib.dwconv_backward_input(*args, vp(gs[i].data_ptr()), vp(weight.data_ptr()), vp(dxs[i].data_ptr()),
                                       stream, msg, 256)
        if rc != 0:
            raise RuntimeError(f"dwconv_backward_input returned {rc}: {msg.value.decode()}")

    def run_dw(i):
        rc = lib.dwconv_backward_weight(*args, vp(xs[i].data_ptr()), vp(gs[i].data_ptr()), vp(dw.data_ptr()),
                                        vp(db.data_ptr()) if has_bias else None, vp(ws.data_ptr()),
                                        ctypes.byref(ws_bytes), stream, msg, 256)
        if rc != 0:
            raise RuntimeError(f"dwconv_backward_weight returned {rc}: {msg.value.decode()}")

    run_dx(0)
    run_dw(0)
    torch.cuda.synchronize()
    err_dx = rel_err(dxs[0], ref[0])
    err_dw = rel_err(dw, ref[1])
    if has_bias:
        err_dw = max(err_dw, rel_err(db, ref[2]))
    t_err = autograd(g0, x0, weight, [True, True, has_bias])
    torch_err_dx, torch_err_dw = rel_err(t_err[0], ref[0]), rel_err(t_err[1], ref[1])

    inner = max(1, min(50, int(2e-4 / (nbytes / bw))))
    floor_ms = nbytes / bw * 1e3
    name = f"{n}x{c}x{h}x{w}_k{k}_s{s}_p{p}_d{d}{'_bias' if has_bias else ''}"
    rows = []
    for grad, run, mask, err, terr in (
            ("dx", run_dx, [True, False, False], err_dx, torch_err_dx),
            ("dw", run_dw, [False, True, has_bias], err_dw, torch_err_dw)):
        t_dw = median_ms(run, sets, reps, inner)
        t_pt = median_ms(lambda i: autograd(gs[i], xs[i], weight, mask), sets, reps, inner)
        rows.append(dict(case=name, grad=grad, dtype=dname, layout=layout, max_rel_err=err, torch_max_rel_err=terr,
                         match=err <= GRAD_TOL[dname], floor_ms=floor_ms, dwconv_ms=t_dw, torch_ms=t_pt,
                         dwconv_floor_pct=100 * floor_ms / t_dw, torch_floor_pct=100 * floor_ms / t_pt,
                         speedup_vs_torch=t_pt / t_dw))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("--json")
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    lib = ctypes.CDLL(args.lib)
    lib.dwconv_forward.restype = ctypes.c_int
    msg = ctypes.create_string_buffer(256)
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    bw = copy_bandwidth()
    dev = torch.cuda.get_device_name(0)
    print(f"device {dev}, copy bandwidth {bw / 1e9:.0f} GB/s, torch {torch.__version__}, cudnn {torch.backends.cudnn.version()}")
    results = []
    backward = []
    failures = 0
    for (n, c, h, w, k, s, p, d, has_bias) in load_cases():
        for dname, (dtype, dcode) in DTYPES.items():
            for layout in ("NCHW", "NHWC"):
                fmt = torch.channels_last if layout == "NHWC" else torch.contiguous_format
                weight = torch.randn(c, 1, k, 1, device="cuda", dtype=dtype)
                bias = torch.randn(c, device="cuda", dtype=dtype) if has_bias else None
                xs0 = torch.randn(n, c, h, w, device="cuda", dtype=dtype).contiguous(memory_format=fmt)
                ref = F.conv2d(xs0, weight, bias, stride=s, padding=p, dilation=(d, 1), groups=c)
                ho, wo = ref.shape[2], ref.shape[3]
                nbytes = (xs0.numel() + ref.numel()) * xs0.element_size()
                sets = max(2, min(32, math.ceil(2 * l2 / nbytes) + 1))
                xs = [xs0] + [torch.randn_like(xs0).contiguous(memory_format=fmt) for _ in range(sets - 1)]
                ys = [torch.empty(n, c, ho, wo, device="cuda", dtype=dtype).contiguous(memory_format=fmt)
                      for _ in range(sets)]
                stream = torch.cuda.current_stream().cuda_stream
                bptr = bias.data_ptr() if bias is not None else None

                def run_dwconv(i):
                    rc = lib.dwconv_forward(*problem_args(dcode, layout, n, c, h, w, k, s, p, d),
                                            ctypes.c_void_p(xs[i].data_ptr()),
                                            ctypes.c_void_p(weight.data_ptr()), ctypes.c_void_p(bptr),
                                            ctypes.c_void_p(ys[i].data_ptr()), ctypes.c_void_p(stream), msg, 256)
                    if rc != 0:
                        raise RuntimeError(f"dwconv_forward returned {rc}: {msg.value.decode()}")

                run_dwconv(0)
                torch.cuda.synchronize()
                err = ((ys[0].float() - ref.float()).abs().max() / ref.float().abs().max().clamp_min(1e-30)).item()
                ok = err <= TOL[dname]
                failures += not ok

                def run_torch(i):
                    F.conv2d(xs[i], weight, bias, stride=s, padding=p, dilation=(d, 1), groups=c)

                def run_cudnn(i):
                    torch.cudnn_convolution(xs[i], weight, (p, p), (s, s), (d, 1), c, True, False, False)

                inner = max(1, min(50, int(2e-4 / (nbytes / bw))))
                t_dw = median_ms(run_dwconv, sets, args.reps, inner)
                t_pt = median_ms(run_torch, sets, args.reps, inner)
                try:
                    t_cd = median_ms(run_cudnn, sets, args.reps, inner)
                except RuntimeError:
                    t_cd = float("nan")
                floor_ms = nbytes / bw * 1e3
                row = dict(case=f"{n}x{c}x{h}x{w}_k{k}_s{s}_p{p}_d{d}{'_bias' if has_bias else ''}", dtype=dname,
                           layout=layout, max_rel_err=err, match=ok, floor_ms=floor_ms, dwconv_ms=t_dw,
                           torch_ms=t_pt, cudnn_ms=t_cd, dwconv_floor_pct=100 * floor_ms / t_dw,
                           torch_floor_pct=100 * floor_ms / t_pt, cudnn_floor_pct=100 * floor_ms / t_cd,
                           speedup_vs_torch=t_pt / t_dw, speedup_vs_cudnn=t_cd / t_dw)
                results.append(row)
                del xs, ys
                backward.extend(backward_rows(lib, msg, (n, c, h, w, k, s, p, d, has_bias), dname, dtype, dcode,
                                              layout, fmt, l2, bw, args.reps))
    hdr = f"{'case':34} {'dtype':8} {'layout':6} {'match':5} {'dwconv%':>8} {'torch%':>7} {'cudnn%':>7} {'xTorch':>7} {'xCudnn':>7}"
    print(hdr)
    for r in results:
        print(f"{r['case']:34} {r['dtype']:8} {r['layout']:6} {'yes' if r['match'] else 'NO':5} "
              f"{r['dwconv_floor_pct']:8.1f} {r['torch_floor_pct']:7.1f} {r['cudnn_floor_pct']:7.1f} "
              f"{r['speedup_vs_torch']:7.2f} {r['speedup_vs_cudnn']:7.2f}")
    gm = math.exp(statistics.mean(math.log(r["dwconv_floor_pct"]) for r in results))
    print(f"geomean dwconv % of floor: {gm:.1f}; cases below 90%: "
          f"{sum(r['dwconv_floor_pct'] < 90 for r in results)} of {len(results)}; mismatches: {failures}")
    print()
    print(f"{'case':34} {'grad':4} {'dtype':8} {'layout':6} {'match':5} {'dwconv%':>8} {'torch%':>7} {'xTorch':>7} "
          f"{'err':>8} {'torch_err':>9}")
    for r in backward:
        print(f"{r['case']:34} {r['grad']:4} {r['dtype']:8} {r['layout']:6} {'yes' if r['match'] else 'NO':5} "
              f"{r['dwconv_floor_pct']:8.1f} {r['torch_floor_pct']:7.1f} {r['speedup_vs_torch']:7.2f} "
              f"{r['max_rel_err']:8.1e} {r['torch_max_rel_err']:9.1e}")
    bad = sum(not r["match"] for r in backward)
    for grad, target in (("dx", 85), ("dw", 80)):
        rows = [r for r in backward if r["grad"] == grad]
        gm = math.exp(statistics.mean(math.log(r["dwconv_floor_pct"]) for r in rows))
        print(f"{grad}: geomean dwconv % of floor {gm:.1f}; below {target}%: "
              f"{sum(r['dwconv_floor_pct'] < target for r in rows)} of {len(rows)}; "
              f"min speed-up over torch {min(r['speedup_vs_torch'] for r in rows):.2f}")
    print(f"backward mismatches: {bad}")
    failures += bad
    if args.json:
        json.dump(dict(device=dev, copy_bandwidth_Bps=bw, torch=torch.__version__, results=results,
                       backward=backward), open(args.json, "w"), indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
