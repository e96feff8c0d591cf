// dwconv benchmarks: the benchmarked shapes, one table shared by the
// benchmark binary and (as text) by compare_torch.py.
#pragma once

#include <cstdio>
#include <dwconv/problem.hpp>
#include <string>

namespace dwconv {
namespace bench {

struct Case {
  int n, c, h, w, k, stride, pad, dilation;
  bool bias;
};

/// Probes: a benchmarked case with another padding along W, to isolate
/// one property of it. Not targets: their names start with probe/ and
/// gpu-check.sh's default filter leaves them out. K = 31 (NCHW forward 68 %
/// and dw 71 % against NHWC 82 / 86 % and NCHW dx 84 %, `2026-11-26-h100-
/// s20.json`): pad_w 0, rows without padding columns and on the line; 16,
/// rows on the line with a half-line shift between x and y; 32, x and y
/// both on the line and whole warps of padding columns. The K9 case at
/// C = 64 (N = 2, the same bytes) and a K15 case shaped as the K31 one
/// (pad_w = pad: no change along W): the NHWC dw tensor-core tile takes
/// C % 64 == 0 at heights no case has. The 56x56 case (2-byte NHWC dw 73 %
/// against the K3 seed's 93 % on the same kernel) with one property
/// changed: 448-row images (columns 8 times as long), C = 8 (N = 1024), no
/// bias, no padding along W, 448-wide rows, 4 times the images; and the
/// seed at a quarter of its images. All the 103 MB forms read 70-73 %, the
/// 411 MB one 91 %: a call's fixed cost, not the shape (b53 in
/// bench/NOTES.md). (Listed before the cases:
/// compare_torch.py reads the rows that follow their name.)
struct Probe {
  Case base;
  int pad_w;
};
inline constexpr Probe kProbes[] = {
    {{8, 64, 512, 512, 31, 1, 15, 1, false}, 0},  {{8, 64, 512, 512, 31, 1, 15, 1, false}, 16},
    {{8, 64, 512, 512, 31, 1, 15, 1, false}, 32}, {{2, 64, 4096, 256, 9, 1, 4, 1, false}, 4},
    {{8, 64, 512, 512, 15, 1, 7, 1, false}, 7},   {{4, 256, 448, 56, 3, 1, 1, 1, true}, 1},
    {{1024, 8, 56, 56, 3, 1, 1, 1, true}, 1},     {{32, 256, 56, 56, 3, 1, 1, 1, false}, 1},
    {{32, 256, 56, 56, 3, 1, 1, 1, true}, 0},     {{4, 256, 56, 448, 3, 1, 1, 1, true}, 1},
    {{128, 256, 56, 56, 3, 1, 1, 1, true}, 1},    {{16, 8, 512, 512, 3, 1, 0, 1, false}, 0},
};

// (N, C, H, W, K, stride, pad, dilation, bias); stride and padding apply to
// both axes, as nn.Conv2d(padding=p, stride=s).
inline constexpr Case kCases[] = {
    {64, 8, 512, 512, 3, 1, 0, 1, false},   {64, 8, 512, 512, 3, 1, 1, 1, true},
    {32, 256, 56, 56, 3, 1, 1, 1, true},    {16, 512, 128, 128, 7, 1, 3, 1, false},
    {32, 128, 256, 256, 5, 2, 2, 1, false}, {32, 64, 256, 256, 3, 1, 2, 2, false},
    {8, 64, 512, 512, 31, 1, 15, 1, false}, {4, 32, 4096, 256, 9, 1, 4, 1, false},
    {1, 32, 64, 64, 3, 1, 1, 1, true},
};

inline Problem to_problem(const Case& k, Layout layout) {
  Problem p;
  p.n = k.n;
  p.c = k.c;
  p.h = k.h;
  p.w = k.w;
  p.k = k.k;
  p.stride_h = p.stride_w = k.stride;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = k.pad;
  p.dilation_h = k.dilation;
  p.layout = layout;
  return p;
}

inline std::string case_name(const Case& k) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%dx%dx%dx%d_k%d_s%d_p%d_d%d%s", k.n, k.c, k.h, k.w, k.k, k.stride, k.pad, k.dilation,
                k.bias ? "_bias" : "");
  return buf;
}

inline Problem to_problem(const Probe& pr, Layout layout) {
  Problem p = to_problem(pr.base, layout);
  p.pad_left = p.pad_right = pr.pad_w;
  return p;
}

inline std::string probe_name(const Probe& pr) { return case_name(pr.base) + "_pw" + std::to_string(pr.pad_w); }

}  // namespace bench
}  // namespace dwconv
