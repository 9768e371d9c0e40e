"""Benchmark of Interaction Field Matching's target against EFM's, and of the training steps, on the CPU (float32).

1. The exact fields of one training step's target, at B query points inside the slab:
   * EFM: ``exact_field(points, pos, neg, L)``, N charges on each plate (2N charges);
   * IFM: ``interaction_field(points, pos, neg, L)``, N quark-antiquark pairs (one flux tube each);
   * GEMM: the four matrix products both need at these shapes (x @ A^T, x @ B^T, W @ A, W @ B): the CPU's limit for
     the 'matmul' method of either field.
   Times are the best of ``--repeats`` runs in process CPU seconds (one thread: equal to wall time on a quiet
   machine, and free of the time the process waited for a core on a busy one).
2. Training: ms per step of the shipped configs in pretrained/configs/ (flow matching, EFM and IFM twins), one
   thread, after 3 warm-up steps (the same measure as the cards' ``cpu_minutes``, without the evaluation).

Usage:  python benchmarks/bench_ifm.py [--quick] [--out table.md]   (the tables of docs/performance_ifm.md)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from efm_core import exact_field, interaction_field  # noqa: E402
from efm_core.config import ExperimentConfig  # noqa: E402
from efm_core.train import Trainer  # noqa: E402

L_GAP = 2.0
FULL = {"D": (64, 784), "N": (512, 2048), "B": 1024, "steps": 20}
QUICK = {"D": (64, 784), "N": (512,), "B": 256, "steps": 5}
TRAINED = ("fm-toy-gauss-swiss-L6", "toy-gauss-swiss-L6", "ifm-toy-gauss-swiss-L6",
           "fm-digits-gen", "digits-gen", "ifm-digits-gen",
           "fm-cdigits-2to3", "cdigits-2to3", "ifm-cdigits-2to3",
           "fm-fashion-gen", "fashion-gen", "ifm-fashion-gen")


def best_cpu_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The least process CPU time of ``repeats`` calls of ``fn`` (s)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def bare_gemms(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x (B, D+1) against both sets (N, D): S = x @ C^T (B, N), then S @ C (B, D), per set."""
    xs = x[:, :-1]
    return (xs @ a.T) @ a + (xs @ b.T) @ b


def field_row(D: int, N: int, B: int, repeats: int) -> dict:
    """Seconds of the EFM target, the IFM target and the bare GEMMs for one size."""
    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(N, D, generator=g), torch.randn(N, D, generator=g) + 1.0
    t = torch.rand(B, 1, generator=g)
    x = (1 - t) * pos[torch.arange(B) % N] + t * neg[torch.arange(B) % N] + 0.1 * torch.randn(B, D, generator=g)
    points = torch.cat([x, L_GAP * t], dim=1)
    efm = best_cpu_seconds(lambda: exact_field(points, pos, neg, L_GAP), repeats)
    ifm = best_cpu_seconds(lambda: interaction_field(points, pos, neg, L_GAP, width=0.1), repeats)
    gemm = best_cpu_seconds(lambda: bare_gemms(points, pos, neg), repeats)
    return {"D": D, "N": N, "B": B, "efm_s": efm, "ifm_s": ifm, "gemm_s": gemm}


def step_ms(name: str, steps: int) -> float:
    """Process CPU ms per training step of the shipped config ``name`` (one thread)."""
    config = ExperimentConfig.from_dict(json.loads((ROOT / "pretrained" / "configs" / f"{name}.json").read_text()))
    trainer = Trainer(config, device="cpu")
    trainer.step(3)
    t0 = time.process_time()
    trainer.step(steps)
    return 1000 * (time.process_time() - t0) / steps


def field_table(rows: list[dict]) -> str:
    lines = ["| D | pairs N | queries B | EFM target (ms) | IFM target (ms) | IFM / EFM | GEMM limit (ms) | IFM / GEMM |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['D']} | {r['N']} | {r['B']} | {1e3 * r['efm_s']:.1f} | {1e3 * r['ifm_s']:.1f} | "
                     f"{r['ifm_s'] / r['efm_s']:.2f} | {1e3 * r['gemm_s']:.1f} | {r['ifm_s'] / r['gemm_s']:.1f} |")
    return "\n".join(lines)


def step_table(times: dict[str, float]) -> str:
    lines = ["| config | ms / step | steps / s | vs flow matching twin |", "|---|---|---|---|"]
    for name, ms in times.items():
        twin = name if name.startswith("fm-") else "fm-" + name.removeprefix("ifm-")
        ratio = f"{ms / times[twin]:.2f}" if twin in times else ""
        lines.append(f"| {name} | {ms:.1f} | {1000 / ms:.1f} | {ratio} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and steps (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per field measurement (best is kept)")
    parser.add_argument("--out", type=Path, help="write the tables (markdown) to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes = QUICK if args.quick else FULL
    rows = [field_row(D, N, sizes["B"], args.repeats) for D in sizes["D"] for N in sizes["N"]]
    present = [n for n in TRAINED if (ROOT / "pretrained" / "configs" / f"{n}.json").is_file()]
    times = {n: step_ms(n, sizes["steps"]) for n in present}
    text = (f"CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread, float32, "
            f"process CPU time.\n\n{field_table(rows)}\n\n{step_table(times)}\n")
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
