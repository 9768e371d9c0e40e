"""Benchmark of the batched field-line tracer (efm_core.trace_lines) and the exact Theorem 3.1 map on the CPU, D = 2.

Plates: P = 'gaussian', Q = 'two_gaussians' (modes at (+-8, 0)), N charges each, L = 6. For every (N, lines, dtype,
tol) the table gives the wall time of one ``trace_lines(plates, n_lines=..., seed=0)`` call (best of a few runs
when a run is short), steps (attempted) and field evaluations per line, and the share of lost lines.

Baseline: scipy's ``solve_ivp`` (RK45, the same arc-length ODE dp/ds = E/|E| with the same exact field: one
``FieldEvaluator`` prepared once, called on one point per right-hand side, rtol = tol, a terminal event within rho
of a negative charge) on the first few start points of the float64 row, one line at a time; its time per line times
the number of lines is the extrapolated cost of tracing them all that way. Speed-up = that extrapolation / the
batched time.

Also timed: ``transport_exact`` (the Theorem 3.1 map from fresh samples of P) for a few sizes.

Usage:  python benchmarks/bench_tracer.py [--quick] [--threads 1] [--out docs/performance_tracer.md] [--note TEXT]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from scipy.integrate import solve_ivp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from efm_core import make_plates, sample_toy, trace_lines, transport_exact  # noqa: E402
from efm_core.lines import CASES, LENGTH_FACTOR, geometry  # noqa: E402

L_GAP = 6.0
FULL = {"N": (256, 512, 1024), "lines": (64, 256), "scipy_lines": 4, "transport": ((256, 512), (1024, 512))}
QUICK = {"N": (256,), "lines": (64,), "scipy_lines": 2, "transport": ((256, 256),)}
RUNS = (("float64", 1e-6), ("float64", 1e-4), ("float32", 1e-4), ("float32", 1e-3))  # float32 1e-3: the app's
SCIPY_MAX_EVALS = 5000  # a solve_ivp line that has not ended by then is stopped (RK45 can zigzag round a sink)


def _plates(N: int):
    return make_plates(sample_toy("gaussian", N, 2, seed=0), sample_toy("two_gaussians", N, 2, seed=1), L_GAP)


def _timed(fn, min_total: float = 1.0, max_runs: int = 3):
    """(best seconds, last result): repeat while the runs so far took less than ``min_total`` seconds."""
    best, spent, runs, out = float("inf"), 0.0, 0, None
    while runs < max_runs and (runs == 0 or spent < min_total):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best, spent, runs = min(best, dt), spent + dt, runs + 1
    return best, out


class _OutOfEvaluations(Exception):
    pass


def scipy_line(plates, start: torch.Tensor, tol: float) -> tuple[float, int, int]:
    """Trace one line with solve_ivp RK45: (seconds, field evaluations, index of the capturing charge, -1 if it ended
    elsewhere, -2 if it did not end within ``SCIPY_MAX_EVALS`` evaluations)."""
    geo = geometry(plates, torch.float64)
    neg = geo.neg
    count = [0]

    def rhs(_s: float, y: np.ndarray) -> np.ndarray:
        count[0] += 1
        if count[0] > SCIPY_MAX_EVALS:
            raise _OutOfEvaluations
        return geo.field.direction(torch.from_numpy(y)[None])[0].numpy()

    def capture(_s: float, y: np.ndarray) -> float:
        return float(torch.linalg.vector_norm(neg - torch.from_numpy(y), dim=1).min()) - geo.rho_neg

    capture.terminal = True
    t0 = time.perf_counter()
    try:
        sol = solve_ivp(
            rhs,
            (0.0, LENGTH_FACTOR * geo.radius),
            start.numpy(),
            method="RK45",
            rtol=tol,
            atol=tol * geo.rho_neg,
            events=capture,
        )
    except _OutOfEvaluations:
        return time.perf_counter() - t0, count[0] - 1, -2
    seconds = time.perf_counter() - t0
    d, j = torch.linalg.vector_norm(neg - torch.from_numpy(sol.y[:, -1]), dim=1).min(dim=0)
    return seconds, int(sol.nfev), int(j) if float(d) <= 1.01 * geo.rho_neg else -1


def scipy_baseline(plates, tr, tol: float, k: int) -> dict:
    """RK45 on the first k start points of the trace ``tr``: mean seconds and evaluations per line, agreement."""
    res = [scipy_line(plates, tr.start[i].double(), tol) for i in range(k)]
    ended = [i for i, r in enumerate(res) if r[2] != -2]
    same = sum(res[i][2] == int(tr.end_charge[i]) for i in ended)
    return {
        "per_line": sum(r[0] for r in res) / k,
        "scipy_evals": sum(r[1] for r in res) / k,
        "scipy_same_end": f"{same}/{len(ended)}",
        "scipy_unfinished": f"{k - len(ended)}/{k}",
    }


def bench_lines(cfg: dict) -> list[dict]:
    rows = []
    for N in cfg["N"]:
        plates = _plates(N)
        baseline: dict[float, dict] = {}  # per tol, measured once on the first lines of the smallest run
        for n_lines in cfg["lines"]:
            for dtype_name, tol in RUNS:
                dtype = getattr(torch, dtype_name)
                seconds, tr = _timed(partial(trace_lines, plates, n_lines=n_lines, tol=tol, dtype=dtype, seed=0))
                row = {
                    "N": N,
                    "lines": n_lines,
                    "dtype": dtype_name,
                    "tol": tol,
                    "seconds": seconds,
                    "steps": float(tr.steps.double().mean()),
                    "evals": float(tr.evals.double().mean()),
                    "lost": float((tr.case == CASES.index("lost")).double().mean()),
                    "scipy": None,
                }
                if dtype_name == "float64":
                    if tol not in baseline:
                        baseline[tol] = scipy_baseline(plates, tr, tol, cfg["scipy_lines"])
                    row.update(baseline[tol])
                    row["scipy"] = baseline[tol]["per_line"] * n_lines
                rows.append(row)
                print(_line_row(row), flush=True)
    return rows


def bench_transport(cfg: dict) -> list[dict]:
    rows = []
    for n_starts, N in cfg["transport"]:
        plates = _plates(N)
        x = sample_toy("gaussian", n_starts, 2, seed=5)
        for dtype_name in ("float64", "float32"):
            dtype = getattr(torch, dtype_name)
            seconds, (_, cases) = _timed(
                partial(transport_exact, x, plates.pos, plates.neg, L_GAP, tol=1e-4, dtype=dtype)
            )
            row = {
                "starts": n_starts,
                "N": N,
                "dtype": dtype_name,
                "seconds": seconds,
                "lost": float((cases == 3).double().mean()),
            }
            rows.append(row)
            print(_transport_row(row), flush=True)
    return rows


LINE_HEADER = (
    "| charges/plate | lines | dtype | tol | time (s) | ms/line | steps/line | field evals/line | lost | "
    "RK45 one at a time, extrapolated (s) | RK45 evals/line | RK45 unfinished | same end charge | speed-up |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)
TRANSPORT_HEADER = "| fresh starts | charges/plate | dtype | time (s) | lost |\n|---|---|---|---|---|"


def _line_row(r: dict) -> str:
    scipy = "–" if r["scipy"] is None else f"{r['scipy']:.1f}"
    speed = "–" if r["scipy"] is None else f"{r['scipy'] / r['seconds']:.0f}x"
    return (
        f"| {r['N']} | {r['lines']} | {r['dtype']} | {r['tol']:g} | {r['seconds']:.2f} | {1e3 * r['seconds'] / r['lines']:.1f} | "
        f"{r['steps']:.0f} | {r['evals']:.0f} | {100 * r['lost']:.1f}% | {scipy} | "
        f"{r.get('scipy_evals', float('nan')):.0f} | {r.get('scipy_unfinished', '–')} | {r.get('scipy_same_end', '–')} | "
        f"{speed} |"
    ).replace("| nan |", "| – |")


def _transport_row(r: dict) -> str:
    return f"| {r['starts']} | {r['N']} | {r['dtype']} | {r['seconds']:.2f} | {100 * r['lost']:.1f}% |"


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} "
        f"thread(s), Python {platform.python_version()}; load average {load[0]:.1f} when the run ended"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small size only (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=None, help="write the tables as markdown to this file")
    parser.add_argument("--note", default="", help="a sentence on the conditions, added to the markdown file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = QUICK if args.quick else FULL
    print(LINE_HEADER)
    lines = bench_lines(cfg)
    print()
    print(TRANSPORT_HEADER)
    transport = bench_transport(cfg)
    info = machine()
    print(f"\n{info}")
    if args.out is not None:
        text = "\n".join(
            [
                "# Field-line tracer: performance",
                "",
                f"Measured with `python benchmarks/bench_tracer.py{' --quick' if args.quick else ''}"
                f"{f' --threads {args.threads}' if args.threads else ''}` on: {info}. {args.note}".rstrip(),
                "",
                "Columns: wall time of one call; steps are attempted steps (accepted + rejected) per line; field evals are",
                "points at which the exact field was evaluated per line (6 per step, FSAL); lost = share of lines that hit",
                "a radius, length or step bound. RK45 = scipy's solve_ivp on the same ODE and field (one FieldEvaluator",
                "prepared once, one point per call; rtol = tol, atol = tol x rho, terminal event within rho of a negative",
                "charge), one line at a time on the first few",
                "lines of the 64-line run; its mean time per line times the number of lines, and the speed-up over that.",
                f"'Unfinished' RK45 lines had not ended after {SCIPY_MAX_EVALS} evaluations (a global tolerance lets RK45",
                "zigzag round a sink instead of closing in); their time up to the stop is counted, so the extrapolation",
                "is then a lower bound.",
                "",
                "## trace_lines (D = 2, P gaussian, Q two_gaussians, L = 6, lines from the charges)",
                "",
                LINE_HEADER,
                *(_line_row(r) for r in lines),
                "",
                "## transport_exact (Theorem 3.1 map from fresh samples of P, tol 1e-4)",
                "",
                TRANSPORT_HEADER,
                *(_transport_row(r) for r in transport),
                "",
            ]
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
