"""The CLI end to end on the tiny preset, digits in data space, --help for every flag, one-line errors with exit 2."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from efm_core import energy_distance, make_source
from efm_core.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "--preset", "tiny", "--out", str(out), "--device", "cpu", "--eval-n", "100", "--quiet", "--save-every", "10"]) == 0
    return out


def test_train_writes_checkpoint_log_and_metrics(tiny_run):
    card = json.loads((tiny_run / "tiny.json").read_text())
    assert card["steps"] == 30 and card["config"]["name"] == "tiny" and card["has_train_state"]
    assert card["metrics"]["w2"] > 0 and card["metrics"]["transport_nonfinite"] == 0
    lines = (tiny_run / "tiny.log.csv").read_text().splitlines()
    assert lines[0] == "step,loss,lr,grad_norm,seconds" and len(lines) == 31


def test_sample_transport_eval(tiny_run, tmp_path, capsys):
    ckpt = str(tiny_run / "tiny")
    samples = tmp_path / "s.npy"
    assert main(["sample", "--checkpoint", ckpt, "--n", "40", "--seed", "3", "--out", str(samples)]) == 0
    x = np.load(samples)
    assert x.shape == (40, 2) and x.dtype == np.float32 and np.isfinite(x).all()
    again = tmp_path / "s2.npy"
    assert main(["sample", "--checkpoint", ckpt, "--n", "40", "--seed", "3", "--out", str(again)]) == 0
    assert np.array_equal(np.load(again), x)  # seeded
    back = tmp_path / "back.npy"
    assert main(["transport", "--checkpoint", ckpt, "--input", str(samples), "--out", str(back), "--reverse", "--solver", "rk45"]) == 0
    assert np.load(back).shape == (40, 2)
    capsys.readouterr()
    assert main(["eval", "--checkpoint", ckpt, "--n", "60", "--solver", "euler", "--steps", "7"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 60 and report["transport_nfe"] == 7 and report["w2_floor"] > 0



def test_ifm_checkpoints_sample_transport_and_eval_unchanged(tmp_path, capsys):
    """An IFM checkpoint goes through the same commands: forward in z with the usual solvers, samples near Q."""
    ckpt = str(ROOT / "pretrained" / "ifm-toy-gauss-swiss-L6")
    samples, moved = tmp_path / "s.npy", tmp_path / "m.npy"
    assert main(["sample", "--checkpoint", ckpt, "--n", "200", "--out", str(samples)]) == 0
    x = np.load(samples)
    assert x.shape == (200, 2) and np.isfinite(x).all()
    card = json.loads((ROOT / "pretrained" / "ifm-toy-gauss-swiss-L6.json").read_text())["config"]
    q, p = make_source(card["q"]).reference(500), make_source(card["p"]).reference(500)
    assert energy_distance(torch.from_numpy(x), q) < 0.2 * energy_distance(p, q)  # moved onto the roll
    assert main(["transport", "--checkpoint", ckpt, "--input", str(samples), "--out", str(moved), "--reverse"]) == 0
    assert np.load(moved).shape == (200, 2)
    capsys.readouterr()
    assert main(["eval", "--checkpoint", ckpt, "--n", "200", "--steps", "20"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["transport_nfe"] == 40 and report["transport_bad_share"] == 0.0

def test_resume_trains_on(tiny_run, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    for suffix in (".safetensors", ".json"):
        (out / f"tiny{suffix}").write_bytes((tiny_run / f"tiny{suffix}").read_bytes())
    assert main(["train", "--preset", "tiny", "--out", str(out), "--device", "cpu", "--resume", "--steps", "35", "--eval-n", "0", "--quiet"]) == 0
    assert json.loads((out / "tiny.json").read_text())["steps"] == 35
    assert main(["train", "--preset", "tiny", "--out", str(out), "--device", "cpu", "--quiet"]) == 2  # would overwrite


def test_train_from_a_config_file_and_list_presets(tiny_run, tmp_path, capsys):
    config = json.loads((tiny_run / "tiny.json").read_text())["config"]  # a card's config is a valid config file
    config.update(name="mine", steps=3)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    out = tmp_path / "out"
    assert main(["train", "--config", str(path), "--out", str(out), "--device", "cpu", "--eval-n", "0", "--quiet"]) == 0
    assert json.loads((out / "mine.json").read_text())["steps"] == 3
    capsys.readouterr()
    assert main(["presets"]) == 0
    listed = capsys.readouterr().out
    for name in ("tiny", "digits-gen", "fm-digits-gen", "cdigits-2to3", "two_moons-L30", "fm-swiss_roll-L6", "pfgm-two_moons"):
        assert f"\n{name} " in "\n" + listed


def test_digits_samples_are_images_in_range(tmp_path):
    assert main(["train", "--preset", "digits-gen", "--steps", "2", "--out", str(tmp_path), "--device", "cpu", "--eval-n", "0", "--quiet", "--slim"]) == 0
    out = tmp_path / "d.npy"
    assert main(["sample", "--checkpoint", str(tmp_path / "digits-gen"), "--n", "6", "--seed", "0", "--out", str(out), "--steps", "3"]) == 0
    x = np.load(out)
    assert x.shape == (6, 1, 8, 8) and x.min() >= -1.0 and x.max() <= 1.0


def test_help_explains_every_flag():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subparsers) == {"train", "sample", "transport", "eval", "presets"}
    for name, sub in subparsers.items():
        text = sub.format_help()
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in text, (name, flag)
            if action.option_strings and action.dest != "help":
                assert action.help, (name, action.option_strings)


def _run(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "efm_core", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_bad_input_is_one_line_and_exit_2(tiny_run, tmp_path, capsys):
    ckpt = str(tiny_run / "tiny")
    pickled = tmp_path / "evil.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((4, 3), dtype=np.float32))
    (tmp_path / "cfg.json").write_text(json.dumps({"name": "x"}))
    (tmp_path / "fake.safetensors").write_bytes(pickle.dumps({"a": 1}))
    (tmp_path / "fake.json").write_text((tiny_run / "tiny.json").read_text())
    cases = [
        (["train", "--preset", "nope"], "unknown preset"),
        (["train"], "one of the arguments --preset --config is required"),
        (["train", "--config", str(tmp_path / "cfg.json")], "missing required key"),
        (["train", "--config", str(tmp_path / "none.json")], "does not exist"),
        (["sample", "--checkpoint", str(tmp_path / "nothing"), "--n", "3", "--out", str(tmp_path / "o.npy")], "missing nothing.json"),
        (["sample", "--checkpoint", ckpt, "--n", "0", "--out", str(tmp_path / "o.npy")], "positive integer"),
        (["sample", "--checkpoint", ckpt, "--n", "3", "--out", str(tmp_path / "o.txt")], "must end in .npy"),
        (["sample", "--checkpoint", str(tmp_path / "fake"), "--n", "3", "--out", str(tmp_path / "o.npy")], "pickle"),
        (["transport", "--checkpoint", ckpt, "--input", str(pickled), "--out", str(tmp_path / "o.npy")], "not a plain .npy"),
        (["transport", "--checkpoint", ckpt, "--input", str(wrong), "--out", str(tmp_path / "o.npy")], "shape (n, 2)"),
        (["eval", "--checkpoint", ckpt, "--solver", "rk4"], "invalid choice"),
        (["bogus"], "invalid choice"),
    ]
    for args, expected in cases:
        capsys.readouterr()
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err and "Traceback" not in err, (args, err)


@pytest.mark.slow
def test_real_process_help_and_error(tmp_path):
    ok = _run(["sample", "--help"], tmp_path)
    assert ok.returncode == 0 and "--checkpoint" in ok.stdout and "--seed" in ok.stdout
    bad = _run(["sample", "--checkpoint", "missing", "--n", "2", "--out", "x.npy"], tmp_path)
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
