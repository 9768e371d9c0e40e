"""Benchmarks of the learned-field pages: time to the first picture on each page, steps/s of live training in the
Training lab, and seconds to generate 64 digits.

    python benchmarks/bench_app_learning.py                    # everything (a few minutes on 2 CPU cores)
    python benchmarks/bench_app_learning.py --part training    # only the live-training rates
    python benchmarks/bench_app_learning.py --threads 2        # torch threads (default 1, see the docs)

Prints markdown tables (paste them into docs/performance_app_learning.md) and the load average at start and end.
Every time is given as wall seconds and as CPU seconds of this process (``time.process_time``): on a shared machine
other processes stretch the wall time, while the CPU time of a one-thread run is about the wall time it would take on
an idle core.

* First picture: server-side time of a cold AppTest run of the page in a fresh process (the page's own script,
  imports and the first model loads included, the router's run before it excluded). For the Training lab, also the
  run after pressing Start (setting up both trainers, the first training chunk and the first evaluation).
* Live training: ``LabRun`` on the Field lines page's "Two moons" scene (256 charges of N(0, I) on P and of the two
  moons on Q, L = 6, noise 0.1) with the page's defaults (width 128, 256 training points per step), EFM alone and
  EFM + flow matching in lockstep, and two-sided EFM (whole-space net and sampler), timed over the whole 2000 steps.
* 64 digits: ``learned.move`` of 64 noise images along the shipped ``digits-gen`` / ``fm-digits-gen`` nets (or
  untrained nets of the preset's architecture if they are not there: the time does not depend on the weights).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = {
    "Training lab (before training)": "app/pages/training_lab.py",
    "Translation": "app/pages/translation.py",
    "Generation": "app/pages/generation.py",
}

_FIRST_PICTURE = r"""
import sys, time, torch
torch.set_num_threads({threads})
sys.path.insert(0, {root!r})
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({app!r}, default_timeout=600)
at.run()
at.switch_page({page!r})
t0, c0 = time.perf_counter(), time.process_time(); at.run(); page, page_cpu = time.perf_counter() - t0, time.process_time() - c0
assert not at.exception, [e.value for e in at.exception]
charts = len(at.get("plotly_chart"))
start = start_cpu = float("nan")
if {lab}:
    button = next(b for b in at.button if b.label == "Start training")
    t0, c0 = time.perf_counter(), time.process_time(); button.click().run(); start, start_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert not at.exception, [e.value for e in at.exception]
print(page, page_cpu, start, start_cpu, charts)
"""


def load() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def first_picture(threads: int) -> str:
    rows = ["| page | first run: wall / CPU s | figures drawn | after Start: wall / CPU s |", "|---|---|---|---|"]
    for label, page in PAGES.items():
        code = _FIRST_PICTURE.format(threads=threads, root=str(ROOT), app=str(ROOT / "streamlit_app.py"), page=page, lab="lab" in page)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
        page_s, page_cpu, start_s, start_cpu, charts = (float(v) for v in out[-5:])
        after = "—" if start_s != start_s else f"{start_s:.2f} / {start_cpu:.2f}"
        rows.append(f"| {label} | {page_s:.2f} / {page_cpu:.2f} | {charts:.0f} | {after} |")
    return "\n".join(rows)


def training(steps: int) -> str:
    from app.compute import exact, lab

    scene = exact.scene_charges(2, "gaussian", "two_moons", 256, 0, None, None)
    rows = ["| models | width | steps | wall s | CPU s | steps/s (CPU) |", "|---|---|---|---|---|---|"]
    cases = ((False, 128, steps, False), (True, 128, steps, False), (False, 64, steps // 4, False), (False, 256, steps // 4, False),
             (False, 128, steps, True))
    for with_fm, width, n, two_sided in cases:
        run = lab.LabRun(scene, lab.LabSettings(scene.key, 6.0, 0.1, width, n, 1e-3, 0, with_fm, two_sided))
        t0, c0 = time.perf_counter(), time.process_time()
        while not run.done:
            run.advance(0.4)  # the page's chunks
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        label = " + ".join(run.trainers) + (" (two-sided: whole-space net)" if two_sided else "")
        rows.append(f"| {label} | {width} | {n} | {seconds:.1f} | {cpu:.1f} | {n / cpu:.0f} |")
    return "\n".join(rows)


def digits(n: int) -> str:
    import torch

    from app.compute import learned, loading
    from efm_core.checkpoints import build_model
    from efm_core.data.sources import make_source
    from efm_core.presets import get_preset

    rows = ["| model | weights | solver | NFE | wall s for 64 | CPU s for 64 |", "|---|---|---|---|---|---|"]
    for name in ("digits-gen", "fm-digits-gen"):
        ckpt = loading.load_pretrained(name)
        config = ckpt.config if ckpt is not None else get_preset(name)
        net = ckpt.net if ckpt is not None else build_model(config).eval()
        x0 = make_source(config.p).sample(n, torch.Generator().manual_seed(0))  # the noise generate() starts from
        for solver, steps in (("euler", 50), ("heun", 50), ("rk45", 20)):
            learned.move(net, config, x0[:4], solver=solver, steps=steps)  # warm-up
            c0 = time.process_time()
            m = learned.move(net, config, x0, solver=solver, steps=steps, snapshots=8, clip=(-1.0, 1.0))
            cpu = time.process_time() - c0
            weights = "shipped" if ckpt is not None else "untrained, same net"
            rows.append(f"| {name} | {weights} | {learned.SOLVER_LABELS[solver]}, {steps} steps | {m.nfe} | {m.seconds:.2f} | {cpu:.2f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "pages", "training", "digits"), default="all")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps of the live-training rows (default 2000)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} thread(s); load average at start {load()}\n")
    if args.part in ("all", "pages"):
        print("### Time to the first picture\n\n" + first_picture(args.threads) + "\n")
    if args.part in ("all", "training"):
        print("### Live training (Training lab)\n\n" + training(args.steps) + "\n")
    if args.part in ("all", "digits"):
        print("### Generating 64 digits\n\n" + digits(64) + "\n")
    print(f"load average at the end {load()}")


if __name__ == "__main__":
    main()
