"""Real-image benchmarks (D = 784 Fashion-MNIST, D = 3072 CIFAR-10) on one device: exact field, training step, sampling.

    python benchmarks/bench_images.py --device cpu --threads 2 --part sample   # the CPU row of docs/pretrained.md
    python benchmarks/bench_images.py --device cuda --out docs/performance_gpu.md   # what benchmarks/gpu_check.sh runs

Times (median of ``--repeats`` after one warm-up, synchronised on CUDA):

* the exact two-plate field E/|E| (``field.plate_field_at``, float32) of N charges a plate at B query points, D = 784
  and 3072 (the training target of EFM at Fashion-MNIST and CIFAR-10 sizes);
* one training step (target + forward + backward + Adam + EMA) of the ``fashion-gen`` and ``cifar10-gen`` presets,
  with the data plate replaced by Gaussian images of the same shape (no data set is needed; the step does the same
  work);
* sampling 64 images with the shipped ``pretrained/fashion-gen`` (and ``fm-fashion-gen``) at the checkpoint's solver,
  and with a freshly initialised ``cifar10-gen`` net (Heun, 50 steps = 100 network calls).

Prints a markdown table and, with ``--out``, writes it to that file with the machine's description.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from efm_core.checkpoints import build_model, load_checkpoint  # noqa: E402
from efm_core.field import plate_field_at  # noqa: E402
from efm_core.nets import count_parameters  # noqa: E402
from efm_core.plates import make_plates  # noqa: E402
from efm_core.presets import get_preset  # noqa: E402
from efm_core.sampling import generate  # noqa: E402
from efm_core.train import Trainer  # noqa: E402


def _timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls after one warm-up."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def field_rows(device: torch.device, repeats: int) -> list[str]:
    rows = []
    g = torch.Generator().manual_seed(0)
    for D, n, B in ((784, 1024, 256), (784, 4096, 1024), (3072, 1024, 256), (3072, 4096, 1024)):
        plates = make_plates(torch.randn(n, D, generator=g), torch.rand(n, D, generator=g) * 2 - 1, 30.0)
        points = torch.cat([torch.randn(B, D, generator=g), 30 * torch.rand(B, 1, generator=g)], 1).to(device)
        seconds = _timed(lambda points=points, plates=plates: plate_field_at(points, plates).direction, device, repeats)
        rows.append(f"| exact field E/\\|E\\|, D = {D} | {n} charges a plate, {B} points | {1000 * seconds:.1f} ms |")
    return rows


def _synthetic(config):
    """The preset with its data plate replaced by Gaussian images of the same shape (timing only, no data set)."""
    shape = list(config.p["shape"])
    return config.replace(q={"kind": "gaussian", "shape": shape, "std": 0.5})


def step_rows(device: torch.device, repeats: int) -> list[str]:
    rows = []
    for name in ("fashion-gen", "fm-fashion-gen", "cifar10-gen"):
        config = _synthetic(get_preset(name)).replace(steps=10_000, warmup=1)
        trainer = Trainer(config, device=device)
        seconds = _timed(lambda trainer=trainer: trainer.step(1), device, repeats)
        params = count_parameters(trainer.net)
        rows.append(f"| training step `{name}` | {config.net['kind']} {config.net.get('channels')} ch, {params / 1e6:.2f} M params, "
                    f"{config.n_queries} points, {config.n_charges} charges | {1000 * seconds:.1f} ms |")
    return rows


def sampling_rows(device: torch.device, repeats: int) -> list[str]:
    rows = []
    for name in ("fashion-gen", "fm-fashion-gen"):
        path = ROOT / "pretrained" / name
        if not path.with_suffix(".json").is_file():
            continue
        ckpt = load_checkpoint(path, device=device)
        nfe = generate(ckpt.net, ckpt.config, 64, seed=0).nfe
        seconds = _timed(lambda ckpt=ckpt: generate(ckpt.net, ckpt.config, 64, seed=0), device, repeats)
        rows.append(f"| sample 64 images, `{name}` | {ckpt.config.solver.get('kind')} {ckpt.config.solver.get('steps')} steps, NFE {nfe} | {seconds:.2f} s |")
    if device.type != "cuda":  # the GPU-sized cifar10-gen net would take minutes on a CPU
        return rows
    config = get_preset("cifar10-gen")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_model(config).to(device).eval()
    seconds = _timed(lambda: generate(net, config, 64, seed=0, kind="heun", steps=50), device, max(1, repeats // 2))
    rows.append(f"| sample 64 images, `cifar10-gen` (untrained net) | heun 50 steps, NFE 100 | {seconds:.2f} s |")
    return rows


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="write the table to this markdown file")
    parser.add_argument("--part", choices=("all", "field", "step", "sample"), default="all")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA GPU (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    parts = {"field": field_rows, "step": step_rows, "sample": sampling_rows}
    rows = ["| what | size | time |", "|---|---|---|"]
    for part, rows_of in parts.items():
        if args.part in ("all", part):
            rows += rows_of(device, args.repeats)
    table = "\n".join(rows)
    print(table)
    if args.out is not None:
        args.out.write_text(
            "# Real-image sizes on a GPU\n\nWritten by `benchmarks/gpu_check.sh` (`benchmarks/bench_images.py --device cuda`) on "
            f"{machine(device)}. Medians of {args.repeats} runs after a warm-up, synchronised. Training steps use Gaussian "
            "images in place of the data set (the same work per step).\n\n" + table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
