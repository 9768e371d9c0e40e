"""Train (reproduce) the shipped checkpoints: ``python scripts/train_pretrained.py NAME [NAME ...]``.

For each NAME this runs exactly

    python -m efm_core train --config pretrained/configs/NAME.json --out RUNS --device cpu --threads 1 --slim --quiet --save-every 0

(one CPU thread, only the sampling weights saved), measures the CPU time of that process (training plus the
1000-sample evaluation stored in the card) and writes it into the card as ``cpu_minutes`` (the trainer's own figure
is wall time, which counts time lost to other processes on a shared machine), then copies NAME.safetensors +
NAME.json into ``--dest`` (default pretrained/). The loss log stays in RUNS (default: a temporary folder).
Run at most a couple at once on a small machine; ``--all`` trains every config in pretrained/configs/.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "pretrained" / "configs"


def train_command(name: str, runs: Path) -> list[str]:
    """The CLI call that trains checkpoint ``name`` into the folder ``runs``."""
    return [
        sys.executable, "-m", "efm_core", "train", "--config", str(CONFIGS / f"{name}.json"), "--out", str(runs),
        "--device", "cpu", "--threads", "1", "--slim", "--quiet", "--save-every", "0",
    ]


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train_one(name: str, runs: Path, dest: Path) -> dict:
    """Train ``name``, record its CPU minutes in the card, copy both files to ``dest``; returns the card."""
    before = _children_cpu_seconds()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run(train_command(name, runs), check=True, cwd=ROOT, env=env)
    cpu_minutes = (_children_cpu_seconds() - before) / 60.0
    card_path = runs / f"{name}.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["cpu_minutes"] = round(cpu_minutes, 2)
    card["cpu_threads"] = 1
    card["reproduce"] = f"python scripts/train_pretrained.py {name}"
    card_path.write_text(json.dumps(card, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    dest.mkdir(parents=True, exist_ok=True)
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(runs / f"{name}{suffix}", dest / f"{name}{suffix}")
    return card


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="checkpoint names (files in pretrained/configs/ without .json)")
    parser.add_argument("--all", action="store_true", help="train every config in pretrained/configs/")
    parser.add_argument("--runs", type=Path, help="folder for the run files and loss logs (default: a temporary one)")
    parser.add_argument("--dest", type=Path, default=ROOT / "pretrained", help="where to copy the checkpoints (default pretrained/)")
    args = parser.parse_args()
    names = sorted(p.stem for p in CONFIGS.glob("*.json")) if args.all else args.names
    unknown = [n for n in names if not (CONFIGS / f"{n}.json").is_file()]
    if not names or unknown:
        parser.error(f"unknown or no names {unknown}; choose from {sorted(p.stem for p in CONFIGS.glob('*.json'))}")
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            runs = args.runs if args.runs is not None else Path(tmp)
            card = train_one(name, runs, args.dest)
        print(f"{name}: {card['steps']} steps, {card['cpu_minutes']} CPU minutes, metrics {json.dumps(card['metrics'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
