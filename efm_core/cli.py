"""Command line: ``python -m efm_core {train,sample,transport,eval,presets}`` (``--help`` on each for its flags).

Bad arguments, files or checkpoints end with ONE line on stderr and exit code 2 (no traceback); every size-like
argument has an upper bound (``efm_core.limits``) named in the message. An unexpected failure (a bug) also ends with
one line, exit code 1. Messages never quote the content of a file they name.
Multi-process training: ``torchrun --nproc_per_node=K -m efm_core train ...`` (DDP; rank 0 writes the files).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from . import limits
from .config import SAMPLING_SOLVERS, ExperimentConfig
from .presets import PRESETS, get_preset

EXIT_USAGE = 2
EXIT_INTERNAL = 1
MAX_MESSAGE = 400  # characters of an error message printed


def _one_line(err: BaseException) -> str:
    """The message of ``err`` on one line, at most ``MAX_MESSAGE`` characters."""
    message = " ".join(str(err).split())
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _count(limit: int, minimum: int = 1) -> Callable[[str], int]:
    """An argparse type: an integer in [minimum, limit] (``1e3`` style accepted when integral), else a message with
    the bound; the stated limits live in ``efm_core.limits``."""
    wanted = f"a positive integer up to {limit}" if minimum == 1 else f"an integer from {minimum} to {limit}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not (math.isfinite(number) and number == int(number)):
                raise argparse.ArgumentTypeError(f"expected {wanted}, got {text[:40]!r}") from None
            value = int(number)
        if not minimum <= value <= limit:
            note = " (the stated limit keeps runs bounded)" if value > limit else ""
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text[:40]!r}{note}")
        return value

    return parse


def _f_min(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"expected a number in (0, 1], got {text[:40]!r} (the slope guard on f_z of a unit field: above 1 every "
            "sample would barely move)"
        )
    return value


_seed = _count(limits.MAX_SEED, -limits.MAX_SEED)


def _add_solver_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--solver", choices=SAMPLING_SOLVERS, help="ODE solver in z, or arc (two-sided, whole-space nets; default: the checkpoint's)")
    p.add_argument("--steps", type=_count(limits.MAX_SOLVER_STEPS), help="solver steps (euler: NFE = steps, heun: 2 x steps; rk45: initial steps)")
    p.add_argument("--f-min", type=_f_min, dest="f_min", help="slope guard: dx/dz = f_x / max(f_z, f_min) (default 0.05)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    _add_threads_flag(p)
    _add_data_flag(p)


def _add_data_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", dest="data_dir", metavar="DIR", help=(
        "folder of a local data set (Fashion-MNIST idx files, CIFAR-10's cifar-10-batches-bin/); sets $EFM_DATA_DIR "
        "(default: $EFM_DATA_DIR, else /usr/share/datasets/fashion-mnist for Fashion-MNIST)"))


def _add_threads_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=_count(limits.MAX_THREADS), help="CPU threads for torch (default: torch's choice)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m efm_core", description="Electrostatic Field Matching: train, sample, transport, evaluate.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="{train,sample,transport,eval,presets}")

    t = sub.add_parser("train", help="train a model from a preset or a JSON config", description=(
        "Train EFM (or a baseline) and write OUT/NAME.safetensors + OUT/NAME.json (+ OUT/NAME.log.csv, the loss log). "
        "Under torchrun this runs DistributedDataParallel (NCCL on GPUs, gloo on CPUs); rank 0 writes the files."))
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", metavar="NAME", help="a named experiment (list them with: python -m efm_core presets)")
    src.add_argument("--config", metavar="FILE", help="a JSON experiment config (the 'config' entry of a model card works)")
    t.add_argument("--device", default="auto", help="cpu, cuda or auto (default auto: CUDA if available)")
    t.add_argument("--out", default="runs", metavar="DIR", help="output folder (default ./runs)")
    t.add_argument("--resume", action="store_true", help="continue OUT/NAME from its saved training state")
    t.add_argument("--steps", type=_count(limits.MAX_TRAIN_STEPS), help="total training steps (overrides the config; with --resume: train on to this many)")
    t.add_argument("--save-every", type=_count(limits.MAX_TRAIN_STEPS, 0), default=1000, metavar="N", help="also save every N steps (0: only at the end; default 1000)")
    t.add_argument("--eval-n", type=_count(limits.MAX_EVAL_ITEMS, 0), default=1000, metavar="N", help="samples for the metrics stored in the card at the end (0: skip)")
    t.add_argument("--slim", action="store_true", help="save only the sampling (EMA) weights, no training state: smaller, cannot be resumed")
    t.add_argument("--seed", type=_seed, help="random seed (overrides the config)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_threads_flag(t)
    _add_data_flag(t)

    s = sub.add_parser("sample", help="noise -> data: draw samples from a checkpoint", description=(
        "Draw N samples of P (seeded), carry them along the learned field to Q (PFGM, PFGM++: from their prior to "
        "the data), and save them in data space "
        "(e.g. (N, 1, 8, 8) in [-1, 1] for digits) as a float32 .npy file. Noise or a prior needs no data file; a "
        "model whose P is a data set or file draws from it, so it must be there (else move your own items with "
        "transport --input)."))
    s.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint path without suffix (PATH.safetensors + PATH.json)")
    s.add_argument("--n", type=_count(limits.MAX_ITEMS), required=True, help="number of samples")
    s.add_argument("--seed", type=_seed, default=0, help="random seed of the start points (default 0)")
    s.add_argument("--out", required=True, metavar="FILE.npy", help="output .npy file")
    _add_solver_flags(s)

    tr = sub.add_parser("transport", help="data -> data: move given points/images along the learned field", description=(
        "Read IN.npy (n items shaped like the model's data), carry them from plate P (z = 0) to Q (z = L), or back "
        "from Q to P with --reverse, and save the result as float32 .npy."))
    tr.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint path without suffix")
    tr.add_argument("--input", required=True, metavar="IN.npy", help="input array (n, *data shape), a plain .npy (no pickles)")
    tr.add_argument("--out", required=True, metavar="OUT.npy", help="output .npy file")
    tr.add_argument("--reverse", action="store_true", help="go from Q (z = L) back to P (z = 0)")
    _add_solver_flags(tr)

    e = sub.add_parser("eval", help="print the metrics of a checkpoint", description=(
        "Generate (or translate) N items and print efm_core.metrics for them as JSON: W2 against its floor and the "
        "energy distance for point clouds; classifier, FD, k-NN precision/recall and memorisation for digits; "
        "read-as-target and hue kept for translations; plus NFE and the share of bad lines."))
    e.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint path without suffix")
    e.add_argument("--n", type=_count(limits.MAX_EVAL_ITEMS), default=1000, help="items to generate (default 1000)")
    e.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    _add_solver_flags(e)

    sub.add_parser("presets", help="list the named presets", description="List the presets usable with train --preset.")
    return parser


def _solver_overrides(args: argparse.Namespace) -> dict:
    out = {"kind": args.solver, "steps": args.steps, "f_min": args.f_min}
    return {k: v for k, v in out.items() if v is not None}


def _load(path: str, device: str):
    from .checkpoints import load_checkpoint
    from .train import resolve_device

    return load_checkpoint(path, device=resolve_device(device))


def _check_batch(ckpt, n: int, what: str) -> None:
    from .checkpoints import check_batch

    check_batch(ckpt.config, n, what, ckpt.data("p").shape)


def _save_npy(path: str, array: np.ndarray) -> None:
    out = Path(path)
    if out.suffix != ".npy":
        raise UsageError(f"--out must end in .npy; got {path!r}")
    if not out.parent.exists():
        raise UsageError(f"the folder of --out {str(out.parent)!r} does not exist")
    np.save(out, array)


def _clip(x: torch.Tensor, ckpt, plate: str) -> np.ndarray:
    """``x`` in the value range the card records for ``plate`` ('p' or 'q'; nothing of the data is read)."""
    clip = ckpt.data(plate).clip
    x = x if clip is None else x.clamp(*clip)
    return x.detach().cpu().float().numpy()


def cmd_train(args: argparse.Namespace) -> int:
    from . import distributed
    from .checkpoints import checkpoint_paths
    from .sampling import evaluate
    from .train import Trainer, resolve_device

    config = get_preset(args.preset) if args.preset else ExperimentConfig.from_file(args.config)
    changes = {k: v for k, v in (("steps", args.steps), ("seed", args.seed)) if v is not None}
    if changes:
        config = config.replace(**changes)
    device = resolve_device(args.device)
    ctx = distributed.init_distributed(device)
    try:
        out = Path(args.out)
        base = out / config.name

        def save_now_and_then(trainer: Trainer, record: dict) -> None:
            if args.save_every > 0 and record["step"] % args.save_every == 0 and record["step"] < config.steps:
                trainer.save(base, train_state=True)

        trainer = Trainer(config, device=device, log_path=out / f"{config.name}.log.csv", dist=ctx, callback=save_now_and_then)
        if args.resume:
            if not checkpoint_paths(base)[1].exists():
                raise UsageError(f"--resume: no checkpoint {str(base)!r} to resume from")
            trainer.resume(base)
        elif trainer.is_main and checkpoint_paths(base)[1].exists():
            raise UsageError(f"{str(base)!r} already exists; use --resume to continue it or another --out")
        elif trainer.is_main:
            (out / f"{config.name}.log.csv").unlink(missing_ok=True)
        distributed.barrier(ctx)
        trainer.run(progress=not args.quiet)
        metrics = {}
        if args.eval_n > 0 and trainer.is_main:
            metrics = evaluate(trainer.ema, config, n=args.eval_n, seed=config.seed)
        trainer.save(base, metrics=metrics, train_state=not args.slim)
        if trainer.is_main:
            print(f"saved {base}.safetensors and {base}.json after {trainer.step_count} steps ({trainer.seconds:.1f} s)")
            if metrics:
                print(json.dumps(metrics, indent=2))
    finally:
        distributed.shutdown(ctx)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .sampling import generate

    ckpt = _load(args.checkpoint, args.device)
    _check_batch(ckpt, args.n, "--n")
    result = generate(ckpt.net, ckpt.config, args.n, args.seed, **_solver_overrides(args))
    _save_npy(args.out, _clip(result.x, ckpt, "p" if ckpt.config.one_plate else "q"))
    print(f"wrote {args.out}: {args.n} samples, NFE {result.nfe}, bad lines {int(result.bad.sum())}", file=sys.stderr)
    return 0


def _read_npy(path: str) -> np.ndarray:
    from .data.files import read_npy

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--input {path!r} does not exist")
    if p.stat().st_size > limits.MAX_ARRAY_BYTES:
        raise UsageError(f"--input {path!r} has more than {limits.MAX_ARRAY_BYTES} bytes")
    array = read_npy(p.read_bytes(), f"--input {path!r}", limits.MAX_ITEMS)
    if not np.isfinite(array).all():
        raise UsageError(f"--input {path!r} contains NaN or infinite values")
    return array


def cmd_transport(args: argparse.Namespace) -> int:
    from .sampling import translate

    array = _read_npy(args.input)
    ckpt = _load(args.checkpoint, args.device)
    _check_batch(ckpt, array.shape[0], "the rows of --input")
    result = translate(ckpt.net, ckpt.config, torch.from_numpy(array.astype(np.float32)), reverse=args.reverse, **_solver_overrides(args))
    _save_npy(args.out, _clip(result.x, ckpt, "p" if args.reverse else "q"))
    print(f"wrote {args.out}: {result.x.shape[0]} items, NFE {result.nfe}, bad lines {int(result.bad.sum())}", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .sampling import evaluate

    ckpt = _load(args.checkpoint, args.device)
    _check_batch(ckpt, args.n, "--n")
    print(json.dumps(evaluate(ckpt.net, ckpt.config, n=args.n, seed=args.seed, **_solver_overrides(args)), indent=2))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    width = max(len(n) for n in PRESETS)
    for name, config in PRESETS.items():
        print(f"{name:<{width}}  {config.description}")
    return 0


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "transport": cmd_transport, "eval": cmd_eval, "presets": cmd_presets}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 for any usage, file or checkpoint problem)."""
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "threads", None):
            torch.set_num_threads(args.threads)
        if getattr(args, "data_dir", None):
            from .data.datasets import ENV_VAR

            os.environ[ENV_VAR] = args.data_dir
        return COMMANDS[args.command](args)
    except (UsageError, ValueError, OSError) as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except (MemoryError, RecursionError) as err:
        print(f"error: out of resources ({type(err).__name__}); use smaller sizes", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:  # a bug: still one line, never a traceback with the machine's paths
        print(f"error: internal error ({type(err).__name__}: {_one_line(err)}); please report it", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
