"""DistributedDataParallel on CPU (gloo): two ranks stay in sync, see different data, and write one checkpoint."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parent.parent
STEPS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    from efm_core import distributed
    from efm_core.presets import get_preset
    from efm_core.train import Trainer

    ctx = distributed.init_distributed(torch.device("cpu"))
    try:
        trainer = Trainer(get_preset("tiny").replace(steps=STEPS), device="cpu", dist=ctx)
        first_batch = trainer.p_source.sample(8, trainer.data_generator.clone_state())
        trainer.step(STEPS)
        params = {f"p{i}": p.detach().clone() for i, p in enumerate(trainer.net.parameters())}
        save_file({**params, "first_batch": first_batch}, os.path.join(out, f"rank{rank}.safetensors"))
        trainer.save(os.path.join(out, "tiny"))
    finally:
        distributed.shutdown(ctx)


@pytest.mark.slow
def test_two_gloo_ranks_stay_in_sync_and_write_one_checkpoint(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a, b = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert not torch.equal(a["first_batch"], b["first_batch"])  # each rank draws its own data
    for key in a:
        if key != "first_batch":
            assert torch.equal(a[key], b[key]), key
    from efm_core.presets import get_preset
    from efm_core.train import Trainer

    single = Trainer(get_preset("tiny").replace(steps=STEPS), device="cpu")
    single.step(STEPS)
    assert not torch.equal(single.net.inp.weight.detach(), a["p0"])  # the update really averaged two ranks' data
    written = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("tiny"))
    assert written == ["tiny.json", "tiny.safetensors"]
    card = json.loads((tmp_path / "tiny.json").read_text())
    assert card["world_size"] == 2 and card["steps"] == STEPS


@pytest.mark.slow
def test_torchrun_cli(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(_free_port()), "-m", "efm_core",
           "train", "--preset", "tiny", "--steps", "6", "--device", "cpu", "--out", str(tmp_path), "--eval-n", "50", "--quiet"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.json", "tiny.log.csv", "tiny.safetensors"]
    card = json.loads((tmp_path / "tiny.json").read_text())
    assert card["world_size"] == 2 and card["steps"] == 6 and card["metrics"]["n"] == 50
    assert done.stdout.count("saved ") == 1  # rank 0 only
