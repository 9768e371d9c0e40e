"""Benchmark of the exact two-plate field (efm_core.field.exact_field) on the CPU, float32.

Three ways to get the field of N positive and N negative charges in R^{D+1} at B query points:

* exact: ``exact_field(points, pos, neg, L)`` with its defaults ('auto': explicit differences for D + 1 <= 32, chunked
  matrix products above; online log-sum-exp; bounded temporaries);
* naive: the obvious broadcasting formula, made finite with a log-sum-exp: ``diff = x[:, None, :] - C[None]``, then
  r^2, log-weights, max, exp, ``(w[..., None] * diff).sum(1)``; it holds several B x N x (D+1) tensors at once, so at
  large sizes it is timed on a subset of the queries and scaled by B / subset (marked * in the table);
* GEMM: only the four matrix products the 'matmul' method needs, at the same shapes (x @ C^T and W @ C per plate):
  the CPU's limit for any method built on them.

Every measurement runs in a fresh subprocess, so its peak memory is its own: peak = VmHWM - VmRSS just before the
call (after the inputs exist), read from /proc/self/status after resetting the high-water mark. Times are the best of
a few runs (one run when a run takes over a second), in process CPU seconds by default: on a shared machine that
leaves out the time the process waited for a core, and with one thread it equals wall-clock time on a quiet machine.
``--wall`` (implied by ``--threads`` > 1) gives wall-clock seconds.

Usage:  python benchmarks/bench_field.py [--quick] [--dims 2 64] [--threads 1] [--wall] [--out table.md]
(the table for docs/performance_field.md; --out writes only the table and its notes; --dims runs only those D)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from efm_core.field import exact_field, resolve_method  # noqa: E402

L_GAP = 2.0
NAIVE_BUDGET = 1 << 25  # elements of one B x N x (D+1) float32 tensor of the naive method (128 MB)
FULL = {"D": (2, 64, 784, 3072), "N": (512, 2048, 8192), "B": 4096}
QUICK = {"D": (2, 784), "N": (512, 2048), "B": 1024}


# ---------------------------------------------------------------------------------------------------------------
# the three computations


def naive_field(x: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, L: float) -> torch.Tensor:
    """Unit direction of E by plain broadcasting, with a log-sum-exp per plate so that it is finite at high D."""
    D = pos.shape[1]
    parts = []
    for charges, z, sign in ((pos, 0.0, 1.0), (neg, L, -1.0)):
        c = torch.cat([charges, torch.full((charges.shape[0], 1), z, dtype=x.dtype)], 1)
        diff = x[:, None, :] - c[None]  # (B, N, D+1)
        logw = -0.5 * (D + 1) * torch.log((diff**2).sum(-1)) - math.log(charges.shape[0])
        top = logw.max(1, keepdim=True).values
        v = sign * (torch.exp(logw - top)[..., None] * diff).sum(1)
        parts.append((v, top[:, 0]))
    (vp, lp), (vn, ln) = parts
    lp, ln = lp + torch.log(vp.norm(dim=1)), ln + torch.log(vn.norm(dim=1))
    top = torch.maximum(lp, ln)
    v = torch.exp(lp - top)[:, None] * vp / vp.norm(dim=1, keepdim=True) + torch.exp(ln - top)[:, None] * vn / vn.norm(dim=1, keepdim=True)
    return v / v.norm(dim=1, keepdim=True)


def bare_gemms(x: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, L: float) -> torch.Tensor:
    """The matrix products of the 'matmul' method at full size: S = x @ C^T (B, N) and S @ C (B, D+1), per plate."""
    out = torch.zeros_like(x)
    for charges, z in ((pos, 0.0), (neg, L)):
        c = torch.cat([charges, torch.full((charges.shape[0], 1), z, dtype=x.dtype)], 1)
        s = x @ c.T
        out += s @ c
    return out


KINDS = {
    "exact": lambda x, p, n, L: exact_field(x, p, n, L),
    "naive": naive_field,
    "gemm": bare_gemms,
}


# ---------------------------------------------------------------------------------------------------------------
# one measurement, in its own process


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def _inputs(D: int, N: int, B: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(N, D, generator=g)
    neg = torch.randn(N, D, generator=g) + 1.0
    t = torch.rand(B, 1, generator=g)
    x = torch.cat([(1 - t) * torch.randn(B, D, generator=g) + t * (torch.randn(B, D, generator=g) + 1.0), t * L_GAP], 1)
    return x, pos, neg


def worker(kind: str, D: int, N: int, B: int, threads: int, wall: int) -> dict:
    """Time ``kind`` on one configuration; returns seconds (for all B queries), peak MB and the subset used."""
    torch.set_num_threads(threads)
    clock = time.perf_counter if wall else time.process_time
    x, pos, neg = _inputs(D, N, B)
    fn = KINDS[kind]
    rows = B if kind != "naive" else max(1, min(B, NAIVE_BUDGET // (N * (D + 1))))
    x = x[:rows].contiguous()
    fn(x[:2], pos[:8], neg[:8], L_GAP)  # load kernels / threads, tiny so it does not raise the high-water mark
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    rss0 = _status_kb("VmRSS")
    best = math.inf
    total = 0.0
    while total < 2.0:
        t0 = clock()
        fn(x, pos, neg, L_GAP)
        elapsed = clock() - t0
        best, total = min(best, elapsed), total + elapsed
        if elapsed > 1.0:
            break
    peak_mb = (_status_kb("VmHWM") - rss0) / 1024
    return {"seconds": best * B / rows, "peak_mb": peak_mb * B / rows, "rows": rows}


def measure(kind: str, D: int, N: int, B: int, threads: int, wall: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, str(D), str(N), str(B), str(threads), str(int(wall))]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------------
# the table


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.3g}" if seconds < 100 else f"{seconds:.0f}"


def _fmt_mb(mb: float) -> str:
    return f"{mb:.0f}" if mb < 10000 else f"{mb / 1024:.0f} GB"


def run(configs: dict, threads: int, wall: bool) -> list[str]:
    head = (
        "| D | N = M | B | method | exact (s) | naive (s) | GEMM (s) | naive / exact | exact / GEMM "
        "| exact peak (MB) | naive peak (MB) | GEMM peak (MB) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for D in configs["D"]:
        for N in configs["N"]:
            B = configs["B"]
            r = {k: measure(k, D, N, B, threads, wall) for k in ("exact", "naive", "gemm")}
            star = "*" if r["naive"]["rows"] < B else ""
            lines.append(
                f"| {D} | {N} | {B} | {resolve_method('auto', D)} | {_fmt_s(r['exact']['seconds'])} "
                f"| {_fmt_s(r['naive']['seconds'])}{star} | {_fmt_s(r['gemm']['seconds'])} "
                f"| {r['naive']['seconds'] / r['exact']['seconds']:.1f}{star} | {r['exact']['seconds'] / r['gemm']['seconds']:.2f} "
                f"| {_fmt_mb(r['exact']['peak_mb'])} | {_fmt_mb(r['naive']['peak_mb'])}{star} | {_fmt_mb(r['gemm']['peak_mb'])} |"
            )
            print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="D in {2, 784}, N in {512, 2048}, B = 1024")
    parser.add_argument("--dims", type=int, nargs="+", help="only these D (default: all of the chosen grid)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per measurement (default 1)")
    parser.add_argument("--wall", action="store_true", help="wall-clock seconds instead of process CPU seconds")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--worker", nargs=6, metavar=("KIND", "D", "N", "B", "THREADS", "WALL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *nums = args.worker
        print(json.dumps(worker(kind, *map(int, nums))))
        return
    configs = dict(QUICK if args.quick else FULL)
    if args.dims:
        configs["D"] = tuple(args.dims)
    args.wall = args.wall or args.threads > 1  # CPU time would add up the threads
    load = os.getloadavg()
    info = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{args.threads} thread(s), float32, {'wall-clock' if args.wall else 'process CPU'} seconds, "
        f"load average at start {load[0]:.1f}"
    )
    print(info, flush=True)
    lines = run(configs, args.threads, args.wall)
    notes = [
        "",
        f"Machine: {info}.",
        "`*`: the naive method was timed on the largest subset of queries whose (subset, N, D+1) tensor has at most "
        f"{NAIVE_BUDGET:,} elements, and its time and memory scaled by B / subset.",
        "The GEMM column times the four matrix products of the 'matmul' method; where 'auto' picks 'direct' "
        "(D + 1 <= 32) the exact field uses no matrix products, and that column is only a yardstick.",
    ]
    print("\n".join(notes))
    if args.out:
        args.out.write_text("\n".join(lines + notes) + "\n")


if __name__ == "__main__":
    main()
