"""Data apart from configs: what a spec states without reading (``spec_info``), in-memory sources for the Trainer,
the data shapes a model card records, and a checkpoint trained from point files that samples after they are gone."""

import json

import numpy as np
import pytest
import torch

from efm_core.checkpoints import CheckpointError, checkpoint_paths, load_checkpoint
from efm_core.cli import main
from efm_core.config import OBJECTIVES, ExperimentConfig
from efm_core.data.sources import DataInfo, as_source, make_source, spec_info
from efm_core.objectives import OBJECTIVES as REGISTRY
from efm_core.objectives import EFMObjective, make_objective
from efm_core.presets import get_preset
from efm_core.train import Trainer

SPECS = [
    {"kind": "toy", "name": "two_moons", "D": 2},
    {"kind": "gaussian", "shape": [1, 8, 8], "std": 1.0},
    {"kind": "digits", "classes": [3], "split": "train"},
    {"kind": "coloured_digits", "classes": [2], "split": "test"},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["kind"])
def test_a_spec_states_what_its_source_makes(spec):
    assert spec_info(spec) == make_source(spec).info


def test_a_point_file_tells_its_shape_only_by_being_read(tmp_path):
    path = tmp_path / "cloud.npy"
    np.save(path, np.random.default_rng(0).normal(size=(50, 3)))
    spec = {"kind": "points_file", "path": str(path)}
    assert spec_info(spec) is None and make_source(spec).info == DataInfo((3,), None)


def test_a_memory_spec_needs_its_items_handed_over():
    spec = {"kind": "memory", "shape": [2], "clip": None, "name": "charges"}
    with pytest.raises(ValueError, match="held in memory"):
        make_source(spec)
    items = torch.randn(10, 2)
    assert torch.equal(as_source(items, spec, "P").items, items)
    with pytest.raises(ValueError, match="states items"):
        as_source(torch.randn(10, 3), spec, "P")


def test_the_trainer_takes_items_in_memory(tmp_path):
    tiny = get_preset("tiny")
    config = tiny.replace(p={"kind": "memory", "shape": [2]}, q={"kind": "memory", "shape": [2]}, steps=3)
    p, q = torch.randn(64, 2), torch.randn(64, 2) + 3.0
    trainer = Trainer(config, p_data=p, q_data=q, device="cpu")
    trainer.step(3)
    card = json.loads(trainer.save(tmp_path / "mem", train_state=False).read_text())
    assert card["data"] == {"p": {"shape": [2], "clip": None}, "q": {"shape": [2], "clip": None}}
    assert load_checkpoint(tmp_path / "mem").net.data_shape == (2,)


def test_objectives_come_from_the_registry():
    assert OBJECTIVES == tuple(REGISTRY) == ("efm", "fm", "ifm", "pfgm", "pfgmpp")
    loss = make_objective(get_preset("tiny"))
    assert isinstance(loss, EFMObjective) and loss.L == 2.0 and loss.n_queries == 64


def _train_from_files(tmp_path, p_file: bool) -> tuple:
    """The tiny preset trained with Q (and P if ``p_file``) from point files, which are then deleted."""
    rng = np.random.default_rng(1)
    files = {"q": tmp_path / "q.csv", "p": tmp_path / "p.npy"}
    np.savetxt(files["q"], rng.normal(size=(300, 2)) + [2.0, 0.0], delimiter=",")
    np.save(files["p"], rng.normal(size=(300, 2)))
    config = get_preset("tiny").to_dict()
    config["q"] = {"kind": "points_file", "path": str(files["q"])}
    if p_file:
        config["p"] = {"kind": "points_file", "path": str(files["p"])}
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = tmp_path / "runs"
    args = ["train", "--config", str(tmp_path / "config.json"), "--out", str(out), "--device", "cpu", "--quiet"]
    assert main([*args, "--eval-n", "50", "--save-every", "0"]) == 0
    for f in files.values():
        f.unlink()
    return out / "tiny", config


def test_a_checkpoint_from_point_files_samples_after_they_are_deleted(tmp_path, capsys):
    base, _ = _train_from_files(tmp_path, p_file=False)
    card = json.loads(checkpoint_paths(base)[1].read_text())
    assert card["data"] == {"p": {"shape": [2], "clip": None}, "q": {"shape": [2], "clip": None}}
    out = tmp_path / "s.npy"
    assert main(["sample", "--checkpoint", str(base), "--n", "20", "--out", str(out)]) == 0
    assert np.load(out).shape == (20, 2) and np.isfinite(np.load(out)).all()
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(base), "--n", "20"]) == 2
    err = capsys.readouterr().err
    assert "evaluate compares samples with the model's data" in err and "q.csv" in err and "Traceback" not in err


def test_a_checkpoint_whose_p_is_a_deleted_file_transports_and_says_how_to_sample(tmp_path, capsys):
    base, _ = _train_from_files(tmp_path, p_file=True)
    assert load_checkpoint(base).net.data_shape == (2,)
    inputs, moved = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(inputs, np.zeros((5, 2), dtype=np.float32))
    assert main(["transport", "--checkpoint", str(base), "--input", str(inputs), "--out", str(moved)]) == 0
    assert np.load(moved).shape == (5, 2)
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(base), "--n", "5", "--out", str(tmp_path / "s.npy")]) == 2
    err = capsys.readouterr().err
    assert "P data" in err and "transport" in err and "--input" in err and "Traceback" not in err


def test_an_old_card_without_data_falls_back_and_says_how_to_mend_it(tmp_path):
    base, _ = _train_from_files(tmp_path, p_file=True)
    js = checkpoint_paths(base)[1]
    card = json.loads(js.read_text())
    del card["data"]
    js.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match='records no data shapes.*"data"'):
        load_checkpoint(base)
    config = ExperimentConfig.from_dict(card["config"]).replace(p={"kind": "toy", "name": "gaussian", "D": 2})
    card["config"] = config.to_dict()
    js.write_text(json.dumps(card))
    ckpt = load_checkpoint(base)  # P's shape is stated by its toy spec, Q's file shares it: nothing is read
    assert ckpt.data("p") == ckpt.data("q") == DataInfo((2,), None)


def test_a_card_whose_data_contradicts_its_config_is_refused(tmp_path):
    base, _ = _train_from_files(tmp_path, p_file=False)
    js = checkpoint_paths(base)[1]
    card = json.loads(js.read_text())
    card["data"]["p"]["shape"] = [3]
    js.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="differs from what its config's data spec states"):
        load_checkpoint(base)
