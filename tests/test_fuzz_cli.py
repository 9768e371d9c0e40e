"""Fuzzing ``python -m efm_core`` in-process (``efm_core.cli.main``) with hostile arguments: exit code 0 or 2, at
most one line on stderr for an error and never a traceback, each example time-bounded, and no file written
anywhere but the example's own temporary folder."""

import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fuzz_testing import FUZZ
from hypothesis import given
from hypothesis import strategies as st
from learning_testing import tiny_checkpoint

from efm_core.cli import main

ROOT = Path(__file__).resolve().parent.parent

NUMBERS = ["0", "1", "3", "-1", "2.5", "1e9", "1e7", "1e8", "1000000000", "inf", "-inf", "nan", "", "0x10", "1_0",
           "99999999999999999999999", "٣", "1e308", "-0", " 4", "abc"]
flag_values = st.one_of(st.sampled_from(NUMBERS), st.integers(1, 40).map(str), st.text(max_size=6))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("fuzz_ckpt"), "tiny")


def _flags(draw, names):
    out = []
    for name in draw(st.lists(st.sampled_from(names), max_size=4, unique=True)):
        out += [name, draw(flag_values)]
    return out


@st.composite
def argv(draw, checkpoint):
    command = draw(st.sampled_from(["sample", "eval", "transport", "train", "presets", "bogus", "--help"]))
    solver = ["--steps", "--f-min", "--seed", "--threads"]
    out_file = draw(st.sampled_from(["o.npy", "o.txt", "sub/o.npy", "missing/o.npy", ".npy", "..npy"]))
    ckpt = draw(st.sampled_from([str(checkpoint), "nothing", "in.npy", "cfg.json", ""]))
    if command == "sample":
        return ["sample", "--checkpoint", ckpt, "--n", draw(flag_values), "--out", out_file, *_flags(draw, solver)]
    if command == "eval":
        return ["eval", "--checkpoint", ckpt, *_flags(draw, ["--n", *solver])]
    if command == "transport":
        return ["transport", "--checkpoint", ckpt, "--input", draw(st.sampled_from(["in.npy", "bad.npy", "cfg.json"])),
                "--out", out_file, *_flags(draw, solver)]
    if command == "train":
        source = draw(st.sampled_from([["--preset", "tiny"], ["--preset", "nope"], ["--config", "cfg.json"], ["--config", "in.npy"]]))
        steps = ["--steps", draw(st.sampled_from(["1", "2", "1e8", "0", "x"]))]
        return ["train", *source, "--out", "runs", "--quiet", "--eval-n", draw(st.sampled_from(["0", "8", "1e9"])), *steps,
                *_flags(draw, ["--save-every", "--seed", "--threads"])]
    return [command]


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@FUZZ
@given(data=st.data())
def test_cli_exits_0_or_2_with_one_line_and_writes_only_in_its_folder(checkpoint, data):
    args = data.draw(argv(checkpoint))
    root_before = _files(ROOT / "efm_core") | set(os.listdir(ROOT))
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        (work / "sub").mkdir(parents=True)
        np.save(work / "in.npy", np.zeros((5, 2), dtype=np.float32))
        (work / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
        (work / "cfg.json").write_text('{"name": "tiny", "objective": "efm"' + "[" * 50)
        outside_before = _files(Path(tmp))
        err, out = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        os.chdir(work)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                try:
                    code = main(args)
                except SystemExit as stop:  # --help
                    code = stop.code
        finally:
            os.chdir(cwd)
            torch.set_num_threads(threads)
        text = err.getvalue()
        assert code in (0, 2), (args, code, text)
        assert "Traceback" not in text and "File \"" not in text, (args, text)
        if code == 2:
            assert text.count("\n") == 1 and text.startswith("error:"), (args, text)
        new_outside = {f for f in _files(Path(tmp)) - outside_before if not f.startswith("work")}
        assert not new_outside, (args, new_outside)
    assert _files(ROOT / "efm_core") | set(os.listdir(ROOT)) == root_before, args
