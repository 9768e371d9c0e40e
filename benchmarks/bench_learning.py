"""Learning benchmarks: training speed, digit sampling time, and EFM vs baselines at an equal budget on the toys.

    python benchmarks/bench_learning.py                 # everything, about 10 minutes on 2 CPU cores
    python benchmarks/bench_learning.py --part speed    # only steps/s and the 64-digit sampling time
    python benchmarks/bench_learning.py --steps 600     # a smaller training budget per model
    python benchmarks/bench_learning.py --part two-sided  # the arc solver on the shipped two-sided toys (~2 min)

Prints markdown tables (paste them into docs/performance_learning.md). Runs on one CPU thread by default (``--threads``).
EFM vs baselines: every model has the same net (the toy preset's MLP), the same number of steps and training points per
step, and is sampled with Heun (50 steps, 100 NFE; flow matching's dx/dz = v / L needs no guard). W2 is the exact
W2 between 1000 transported points and 1000 fresh target points, against the two-sample floor at the same n;
"bad" is the share of lines whose slope guard f_z <= 0.05 was used (turned back) or that went non-finite.
Flow matching does not depend on L (its net sees t = z / L), so one run serves both L columns.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from efm_core import metrics  # noqa: E402
from efm_core.checkpoints import load_checkpoint  # noqa: E402
from efm_core.data.sources import make_source  # noqa: E402
from efm_core.fields import (
    learned_field,  # noqa: E402
    space_field,  # noqa: E402
)
from efm_core.lines import BACKWARD, LOST  # noqa: E402
from efm_core.nets import count_parameters  # noqa: E402
from efm_core.presets import get_preset  # noqa: E402
from efm_core.sampling import (
    evaluate,  # noqa: E402
    generate,  # noqa: E402
)
from efm_core.solvers import transport  # noqa: E402
from efm_core.theorem import transport_two_sided  # noqa: E402
from efm_core.train import Trainer  # noqa: E402

TOYS = ("two_gaussians", "swiss_roll", "two_moons")


def steps_per_second(config, steps: int = 30, warm: int = 5) -> float:
    trainer = Trainer(config.replace(steps=steps + warm), device="cpu")
    trainer.step(warm)
    start = time.perf_counter()
    trainer.step(steps)
    return steps / (time.perf_counter() - start)


def speed_table() -> str:
    rows = ["| model | net | parameters | charges / queries per step | steps/s |", "|---|---|---|---|---|"]
    cases = [
        ("toy (two_moons-L6)", get_preset("two_moons-L6")),
        ("digits-gen (MLP)", get_preset("digits-gen")),
        ("digits-gen (U-Net 16, [1, 2])", get_preset("digits-gen").replace(net={"kind": "unet", "channels": 16, "mults": [1, 2]})),
        ("digits-gen (U-Net 32, [1, 2])", get_preset("digits-gen").replace(net={"kind": "unet", "channels": 32, "mults": [1, 2]})),
        ("cdigits-2to3 (MLP, OT pairs)", get_preset("cdigits-2to3")),
    ]
    for label, config in cases:
        trainer = Trainer(config, device="cpu")
        rate = steps_per_second(config)
        spec = config.net
        net = f"{spec['kind']} " + ", ".join(f"{k}={v}" for k, v in spec.items() if k != "kind")
        rows.append(f"| {label} | {net} | {count_parameters(trainer.net):,} | {config.n_charges} / {config.n_queries} | {rate:.1f} |")
    return "\n".join(rows)


def sampling_table() -> str:
    rows = ["| net | solver | NFE | seconds for 64 digits |", "|---|---|---|---|"]
    unets = [(f"U-Net {c}, [1, 2]", {"kind": "unet", "channels": c, "mults": [1, 2]}) for c in (16, 32)]
    for label, net in [("MLP 512x3", None), *unets]:
        config = get_preset("digits-gen") if net is None else get_preset("digits-gen").replace(net=net)
        trainer = Trainer(config, device="cpu")
        for kind, steps in (("euler", 100), ("heun", 50)):
            generate(trainer.ema, config, 64, seed=0, kind=kind, steps=2)  # warm-up
            start = time.perf_counter()
            result = generate(trainer.ema, config, 64, seed=0, kind=kind, steps=steps)
            rows.append(f"| {label} | {kind} {steps} steps | {result.nfe} | {time.perf_counter() - start:.2f} |")
    return "\n".join(rows)


def _run(config, steps: int) -> tuple[dict, float]:
    trainer = Trainer(config.replace(steps=steps), device="cpu")
    start = time.perf_counter()
    trainer.run(progress=False)
    seconds = time.perf_counter() - start
    return evaluate(trainer.ema, trainer.config, n=1000, seed=1), seconds


def comparison_table(steps: int) -> str:
    rows = [
        "| target | L | method | W2 | floor | W2 / floor | NFE | bad lines | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for toy in TOYS:
        fm = _run(get_preset(f"fm-{toy}-L6"), steps)
        for L in (6, 30):
            rows.append(_row(toy, L, "EFM", *_run(get_preset(f"{toy}-L{L}"), steps)))
            rows.append(_row(toy, L, "flow matching", *fm))
        rows.append(_row(toy, "-", "PFGM++ (D_aug 4, sigma_max 80)", *_run(get_preset(f"pfgmpp-{toy}"), steps)))
        print("\n".join(rows[-5:]), file=sys.stderr, flush=True)
    return "\n".join(rows)


def _row(toy, L, label, report, seconds) -> str:
    return (
        f"| {toy} | {L} | {label} | {report['w2']:.2f} | {report['w2_floor']:.2f} | {report['w2_over_floor']:.2f} | "
        f"{report['transport_nfe']} | {report['transport_bad_share']:.1%} | {seconds:.0f} |"
    )


class _Timed:
    """A field callable that adds up the seconds spent inside the network."""

    def __init__(self, field) -> None:
        self.field, self.seconds = field, 0.0

    def __call__(self, *args):
        start = time.perf_counter()
        out = self.field(*args)
        self.seconds += time.perf_counter() - start
        return out


def two_sided_table(n: int = 1000) -> str:
    """The shipped two-sided toys moved by the arc solver (both sides, forward only) and by Heun in z (50 steps)."""
    rows = [
        "| checkpoint | solver | NFE | seconds | in the net | solver overhead | W2 / floor | backward | lost |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    root = Path(__file__).resolve().parent.parent / "pretrained"
    for name in ("toy-gauss-2gauss-L6", "toy-gauss-swiss-L6", "toy-gauss-2gauss-L30", "toy-gauss-swiss-L30"):
        ckpt = load_checkpoint(root / name)
        config, floor = ckpt.config, ckpt.card["metrics"]["w2_floor"]
        x0 = make_source(config.p).sample(n, torch.Generator().manual_seed(1))
        target = make_source(config.q).reference(n, 1001)
        for label in ("arc, both sides", "arc, forward only", "heun in z, 50 steps"):
            timed = _Timed(learned_field(ckpt.net, "efm", config.L) if label.startswith("heun") else space_field(ckpt.net))
            start = time.perf_counter()
            if label.startswith("heun"):
                out = transport(timed, x0, 0.0, config.L, solver="heun", steps=50)
                end, nfe, backward, lost = out.x, out.nfe, "-", f"{out.bad.double().mean():.1%} bad"
            else:
                lines = transport_two_sided(timed, x0, 0.0, config.L, config.L, sides="both" if "both" in label else "forward", seed=1)
                end, nfe = lines.end[:, :-1], lines.nfe
                backward, lost = (f"{(lines.case == c).double().mean():.1%}" for c in (BACKWARD, LOST))
            seconds = time.perf_counter() - start
            w2 = metrics.w2_exact(end, target) / floor
            rows.append(f"| {name} | {label} | {nfe} | {seconds:.2f} | {timed.seconds:.2f} | {seconds / timed.seconds:.2f}x | "
                        f"{w2:.2f} | {backward} | {lost} |")
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "speed", "compare", "two-sided"), default="all")
    parser.add_argument("--steps", type=int, default=1200, help="training steps per model in the comparison (default 1200)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)\n")
    if args.part in ("all", "speed"):
        print("### Training speed\n\n" + speed_table() + "\n")
        print("### Sampling 64 digits (untrained weights: the time does not depend on them)\n\n" + sampling_table() + "\n")
    if args.part in ("all", "two-sided"):
        print("### Two-sided transport of 1000 lines (shipped checkpoints)\n\n" + two_sided_table() + "\n")
    if args.part in ("all", "compare"):
        print(f"### EFM vs baselines, {args.steps} steps each\n\n" + comparison_table(args.steps) + "\n")


if __name__ == "__main__":
    main()
