"""Fuzzing what users upload: point clouds (CSV / NPY bytes) and checkpoint cards (JSON), hostile or broken. Each
is read to a correct result or refused with a clear ValueError (CheckpointError is one), within the deadline."""

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fuzz_testing import FUZZ, HUGE_FLOATS, HUGE_INTS, clear_or_correct
from hypothesis import given
from hypothesis import strategies as st
from learning_testing import tiny_checkpoint

from efm_core.checkpoints import Checkpoint, checkpoint_paths, load_checkpoint
from efm_core.data.files import load_point_cloud

MAX_POINTS = 64

cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["", "x", "1e999", "0x1p3", "1_0", "١", "nan", "-", "\"1\"", "1,5", "0" * 140_000, "9" * 5000]),
    st.text(max_size=5),
)
csv_text = st.builds(
    lambda rows, sep, header, newline: (header + newline + newline.join(sep.join(r) for r in rows)).encode("utf-8", "surrogatepass"),
    st.lists(st.lists(cells, min_size=1, max_size=3), max_size=80),
    st.sampled_from([",", ";", "\t", " ", ",,"]),
    st.sampled_from(["", "x,y", "# comment", "\ufeffa;b"]),
    st.sampled_from(["\n", "\r\n", "\r"]),
)


def _npy_bytes(shape, dtype, cut, flip):
    buf = io.BytesIO()
    values = np.arange(int(np.prod(shape))).reshape(shape) if dtype != "object" else np.array([{"a": 1}] * int(np.prod(shape)), dtype=object).reshape(shape)
    np.save(buf, values.astype(dtype) if dtype != "object" else values, allow_pickle=True)
    raw = bytearray(buf.getvalue())
    if flip is not None and raw:
        raw[flip % len(raw)] ^= 0xFF
    return bytes(raw[:cut]) if cut is not None else bytes(raw)


npy_bytes = st.builds(
    _npy_bytes,
    st.lists(st.integers(0, 70), min_size=0, max_size=3).map(tuple),
    st.sampled_from(["<f8", "<f4", "<i8", "|b1", "<c16", "<U3", "object", ">f8", "<f2"]),
    st.one_of(st.none(), st.integers(0, 300)),
    st.one_of(st.none(), st.integers(0, 300)),
)


def _npz_bytes(n: int) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, a=np.zeros((n, 2)))
    return buf.getvalue()


uploads = st.one_of(csv_text, npy_bytes, st.binary(max_size=300), st.integers(0, 5).map(_npz_bytes),
                    st.binary(max_size=64).map(lambda b: b"\x93NUMPY" + b))


@FUZZ
@given(raw=uploads, dims=st.sampled_from([None, (1, 2), (2,)]))
def test_point_cloud_uploads_are_read_correctly_or_refused_clearly(raw, dims):
    def check(points):
        assert isinstance(points, torch.Tensor) and points.dtype == torch.float64 and points.ndim == 2
        assert 1 <= points.shape[0] <= MAX_POINTS and torch.isfinite(points).all()
        assert dims is None or points.shape[1] in dims

    clear_or_correct(lambda: load_point_cloud(raw, dims=dims, max_points=MAX_POINTS), check)


@pytest.fixture(scope="module")
def card_pair(tmp_path_factory):
    base = tiny_checkpoint(tmp_path_factory.mktemp("fuzz_card"), "tiny")
    st_path, json_path = checkpoint_paths(base)
    return st_path.read_bytes(), json.loads(json_path.read_text())


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.sampled_from(HUGE_INTS), st.integers(-3, 600), st.sampled_from(HUGE_FLOATS[:-3]),
              st.floats(-1e3, 1e3), st.text(max_size=8), st.sampled_from(["mlp", "unet", "space_mlp", "toy", "gaussian", "points_file"])),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.sampled_from(
        ["kind", "width", "depth", "channels", "mults", "blocks", "shape", "std", "name", "D", "path", "size", "emb_features"]), children, max_size=4)),
    max_leaves=12,
)
CONFIG_KEYS = ["net", "p", "q", "L", "n_charges", "n_queries", "steps", "seed", "solver", "sampler", "objective", "target", "lr", "ema"]


@st.composite
def card_changes(draw):
    kind = draw(st.sampled_from(["config", "config", "net", "top", "text", "nested"]))
    if kind == "config":
        return kind, {draw(st.sampled_from(CONFIG_KEYS)): draw(json_values) for _ in range(draw(st.integers(1, 3)))}
    if kind == "net":
        return kind, {k: draw(st.one_of(st.sampled_from(HUGE_INTS), st.integers(1, 64))) for k in draw(st.lists(st.sampled_from(["width", "depth", "emb_features"]), min_size=1, unique=True))}
    if kind == "top":
        return kind, {draw(st.sampled_from(["format", "format_version", "tensors", "sha256", "steps", "config"])): draw(json_values)}
    if kind == "text":
        return kind, draw(st.one_of(st.text(max_size=40), st.sampled_from(["{", "[1e999]", '{"a": NaN}', "\x00", "1" * 5000])))
    return kind, draw(st.integers(10, 100_000))


@FUZZ
@given(change=card_changes())
def test_uploaded_cards_load_correctly_or_are_refused_clearly(card_pair, change):
    weights, card = card_pair
    kind, value = change
    card = json.loads(json.dumps(card))
    if kind == "config":
        card["config"].update(value)
        text = json.dumps(card)
    elif kind == "net":
        card["config"]["net"].update(value)
        text = json.dumps(card)
    elif kind == "top":
        card.update(value)
        text = json.dumps(card)
    elif kind == "text":
        text = value
    else:
        text = '{"format": ' + "[" * value + "]" * value + "}"
    with tempfile.TemporaryDirectory() as tmp:
        st_path, json_path = checkpoint_paths(Path(tmp) / "upload")
        st_path.write_bytes(weights)
        json_path.write_text(text, encoding="utf-8", errors="surrogatepass")
        before = sorted(p.name for p in Path(tmp).iterdir())

        def check(ckpt):
            assert isinstance(ckpt, Checkpoint) and not ckpt.net.training

        clear_or_correct(lambda: load_checkpoint(Path(tmp) / "upload"), check)
        assert sorted(p.name for p in Path(tmp).iterdir()) == before
