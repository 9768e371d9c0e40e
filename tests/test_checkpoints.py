"""Checkpoints: bit-exact round trip, and refusal (with a clear message, without running code) of everything else."""

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from efm_core.checkpoints import (
    FORMAT_VERSION,
    CheckpointError,
    checkpoint_paths,
    load_checkpoint,
    load_tensors,
    save_checkpoint,
)
from efm_core.presets import get_preset
from efm_core.train import Trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    config = get_preset("tiny").replace(steps=5)
    trainer = Trainer(config, device="cpu")
    trainer.step(5)
    base = tmp_path_factory.mktemp("ckpt") / "tiny"
    trainer.save(base, metrics={"w2": 1.5, "nan_metric": float("nan")})
    return trainer, base


def _copy(base, tmp_path, name="copy"):
    st, js = checkpoint_paths(base)
    dst = tmp_path / name
    dst_st, dst_js = checkpoint_paths(dst)
    dst_st.write_bytes(st.read_bytes())
    dst_js.write_text(js.read_text())
    return dst


def test_round_trip_is_bit_exact(trained):
    trainer, base = trained
    card, tensors = load_tensors(base)
    saved = trainer.state_tensors()
    assert set(tensors) == set(saved)
    for k, v in saved.items():
        assert tensors[k].dtype == v.dtype and torch.equal(tensors[k], v.cpu()), k
    ckpt = load_checkpoint(base)
    x, z = torch.randn(9, 2), torch.rand(9) * 2
    a, b = ckpt.net(x, z), trainer.ema(x, z)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert card["steps"] == 5 and card["format_version"] == FORMAT_VERSION and card["config"]["L"] == 2.0
    assert card["metrics"] == {"w2": 1.5, "nan_metric": None}  # strict JSON
    assert card["config"]["sampler"]["kind"] == "tent" and card["seed"] == 0 and card["has_train_state"]


def test_paths_with_or_without_suffix(trained):
    _, base = trained
    for variant in (base, str(base) + ".json", str(base) + ".safetensors"):
        assert load_checkpoint(variant).config.name == "tiny"


@pytest.mark.parametrize("missing", [".json", ".safetensors"])
def test_missing_file_is_refused(trained, tmp_path, missing):
    dst = _copy(trained[1], tmp_path)
    (tmp_path / ("copy" + missing)).unlink()
    with pytest.raises(CheckpointError, match=f"missing copy{missing}"):
        load_checkpoint(dst)


class _Payload:
    """Unpickling this would create a marker file: proof that the loader never unpickles."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickle_is_refused_without_running_it(trained, tmp_path, writer):
    dst = _copy(trained[1], tmp_path)
    marker = tmp_path / "pwned"
    st = checkpoint_paths(dst)[0]
    if writer == "pickle":
        st.write_bytes(pickle.dumps({"net.x": _Payload(str(marker))}))
    else:
        torch.save({"net.x": _Payload(str(marker))}, st)
    with pytest.raises(CheckpointError, match="pickle.*refused"):
        load_checkpoint(dst)
    assert not marker.exists()


def test_garbage_and_foreign_json_are_refused(trained, tmp_path):
    dst = _copy(trained[1], tmp_path)
    st, js = checkpoint_paths(dst)
    st.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header at all")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(dst)
    js.write_text("{not json")
    with pytest.raises(CheckpointError, match="not a valid JSON"):
        load_checkpoint(dst)
    js.write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not a Field Matching Lab model card"):
        load_checkpoint(dst)


def test_json_of_another_checkpoint_is_refused(trained, tmp_path):
    trainer, base = trained
    other = Trainer(get_preset("tiny").replace(seed=1), device="cpu")
    other.save(tmp_path / "other")
    dst = _copy(base, tmp_path)
    checkpoint_paths(dst)[1].write_text(checkpoint_paths(tmp_path / "other")[1].read_text())
    with pytest.raises(CheckpointError, match="SHA-256 differs"):
        load_checkpoint(dst)


def test_config_that_does_not_fit_the_weights_is_refused(trained, tmp_path):
    dst = _copy(trained[1], tmp_path)
    js = checkpoint_paths(dst)[1]
    card = json.loads(js.read_text())
    card["config"]["net"]["width"] = 48
    js.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="do not fit the net.*wrong shape"):
        load_checkpoint(dst)


def test_wrong_shape_tensor_file_is_refused(trained, tmp_path):
    """A self-consistent pair (hash and manifest updated) whose tensors have the wrong shapes for the config."""
    trainer, base = trained
    tensors = {k: v for k, v in trainer.state_tensors(train_state=False).items()}
    key = next(k for k in tensors if k.endswith("weight"))
    tensors[key] = torch.zeros(tensors[key].shape[0] + 1, *tensors[key].shape[1:])
    save_checkpoint(tmp_path / "bad", trainer.config, tensors, steps=1)
    with pytest.raises(CheckpointError, match=f"wrong shape for {key.removeprefix('net.')}"):
        load_checkpoint(tmp_path / "bad")
    # and a manifest that lies about the file
    dst = _copy(base, tmp_path)
    js = checkpoint_paths(dst)[1]
    card = json.loads(js.read_text())
    first = next(iter(card["tensors"]))
    card["tensors"][first]["shape"] = [1, 2, 3]
    js.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="differ from the manifest"):
        load_checkpoint(dst)


def test_newer_format_and_missing_weights_are_refused(trained, tmp_path):
    dst = _copy(trained[1], tmp_path)
    js = checkpoint_paths(dst)[1]
    card = json.loads(js.read_text())
    card["format_version"] = FORMAT_VERSION + 1
    js.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="Update the code"):
        load_checkpoint(dst)
    with pytest.raises(ValueError, match="net's weights"):
        save_checkpoint(tmp_path / "empty", trained[0].config, {"other": torch.zeros(1)}, steps=0)
    save_file({"net.unrelated": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    save_checkpoint(tmp_path / "x", trained[0].config, {"net.unrelated": torch.zeros(2)}, steps=0)
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "x")
