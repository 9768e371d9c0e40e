"""Fashion-MNIST at D = 784: the shipped classifier, the metrics of ``fashion_report`` on real images, and the shipped
fashion-gen / fm-fashion-gen checkpoints on a fresh small batch (a few dozen samples: loose versions of the issue's
bars, which the cards hold at 1000 samples; see test_pretrained.py and docs/pretrained.md).

Tests that need the data set are skipped where Debian's dataset-fashion-mnist is not installed (CI installs it);
sampling needs only the checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from efm_core import metrics
from efm_core.checkpoints import load_checkpoint
from efm_core.classifier import FASHION_PATH, accuracy, as_fashion_batch, fashion_outputs, load_fashion_classifier
from efm_core.cli import main
from efm_core.data import datasets
from efm_core.sampling import generate

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
needs_fashion = pytest.mark.skipif(not datasets.fashion_available(), reason=f"Fashion-MNIST not installed ({datasets.FASHION_APT})")
GENERATORS = ["fashion-gen", "fm-fashion-gen"]
N_FRESH = 48


def test_classifier_files_are_small_and_carded():
    card = json.loads(FASHION_PATH.with_suffix(".json").read_text())
    assert card["model"] == "FashionCNN" and card["test_images"] == 10000 and card["test_accuracy"] >= 0.88, card
    assert FASHION_PATH.with_suffix(".safetensors").stat().st_size < 1_000_000


@needs_fashion
def test_classifier_test_accuracy_matches_its_card():
    test = datasets.load_fashion_mnist("test")
    card = json.loads(FASHION_PATH.with_suffix(".json").read_text())
    got = accuracy(load_fashion_classifier(), test.images, test.labels, as_fashion_batch)
    assert abs(got - card["test_accuracy"]) < 1e-3 and got >= 0.88


def test_classifier_refuses_wrong_inputs_and_files(tmp_path):
    with pytest.raises(ValueError, match="28, 28"):
        fashion_outputs(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="NaN"):
        fashion_outputs(torch.full((1, 784), float("nan")))
    with pytest.raises(ValueError, match="python -m efm_core.classifier fashion"):
        load_fashion_classifier(tmp_path / "missing")


@needs_fashion
def test_report_of_real_held_out_images_is_near_perfect():
    """Real test images scored as if generated (against 1000 other test images): what a perfect model reaches."""
    test = datasets.load_fashion_mnist("test")
    train = datasets.load_fashion_mnist("train")
    r = metrics.fashion_report(test.images[:1000], test.images[1000:2000], train.images[:20000])
    assert r["precision"] >= 0.9 and r["recall"] >= 0.9, r
    assert 0.06 <= r["class_share_min"] and r["class_share_max"] <= 0.14, r["class_shares"]
    assert r["fd"] < 12 and r["memorised_share"] <= 0.01, r  # measured 6.8: the FD floor of two real 1000-samples
    copies = metrics.fashion_report(train.images[:200], test.images[:1000], train.images[:20000])
    assert copies["memorised_share"] == 1.0 and copies["nearest_train_min"] < 1e-6  # training images are copies


def _fresh(name):
    ckpt = load_checkpoint(PRETRAINED / name)
    out = generate(ckpt.net, ckpt.config, N_FRESH, seed=7)
    return ckpt, out


@pytest.mark.parametrize("name", GENERATORS)
def test_fresh_samples_are_finite_images_within_the_budget_of_calls(name):
    ckpt, out = _fresh(name)
    assert out.x.shape == (N_FRESH, 1, 28, 28) and int(out.nonfinite.sum()) == 0
    assert out.nfe <= 100
    # mostly inside the pixel range (the generator is trained on [-1, 1] images; a few overshoot, clipped for display)
    assert float((out.x.abs() <= 1.2).double().mean()) > 0.95


@needs_fashion
@pytest.mark.parametrize("name", GENERATORS)
def test_fresh_samples_meet_loose_bars(name):
    """48 samples: every bar loosened for the sample size (class shares of 48 scatter by 4 %, k-NN precision of
    48 samples against 48 reference images is noisier than at 1000)."""
    ckpt, out = _fresh(name)
    test = datasets.load_fashion_mnist("test")
    r = metrics.fashion_report(out.x.clamp(-1, 1), test.images[:N_FRESH], datasets.load_fashion_mnist("train").images)
    assert r["memorised_share"] <= 0.05, r
    assert r["class_share_max"] <= 0.35, r["class_shares"]
    assert r["precision"] >= 0.5 and r["recall"] >= 0.3, r
    # FD of 48 items is dominated by its small-sample bias: 48 real held-out images score 108-140 against the same
    # 48 reference images (measured), so the fresh samples are held to that floor, not to the card's 1000-sample FD
    real = metrics.fashion_report(test.images[1000:1000 + N_FRESH], test.images[:N_FRESH], test.images[2000:2100])
    assert r["fd"] <= 1.5 * real["fd"], (r["fd"], real["fd"])


@pytest.mark.parametrize("name", GENERATORS)
def test_cards_record_the_issue_metrics(name):
    card = load_checkpoint(PRETRAINED / name).card
    m = card["metrics"]
    assert m["n"] == 1000 and m["nonfinite_share"] == 0 and len(m["class_shares"]) == 10
    for key in ("precision", "recall", "fd", "memorised_share", "class_share_min", "class_share_max"):
        assert isinstance(m[key], float), key
    assert m["memorised_share"] <= 0.05  # the near-copy bar


@pytest.mark.parametrize("name", GENERATORS)
def test_cards_meet_the_issue_bars(name):
    """The issue's bars at 1000 samples, as the cards measured them: k-NN precision >= 0.75, recall >= 0.5, every
    class between 4 % and 16 %, at most 5 % near-copies."""
    m = load_checkpoint(PRETRAINED / name).card["metrics"]
    assert m["precision"] >= 0.75 and m["recall"] >= 0.5, m
    assert 0.04 <= m["class_share_min"] and m["class_share_max"] <= 0.16, m["class_shares"]
    assert m["memorised_share"] <= 0.05, m


def test_efm_fd_within_1_5x_of_flow_matching_at_an_equal_budget():
    """The issue's bar: EFM's FD within 1.5x of flow matching's at an equal CPU budget (cards: 31.6 vs 25.1 at
    18.2 and 18.5 CPU minutes, docs/pretrained.md)."""
    efm, fm = (load_checkpoint(PRETRAINED / n).card for n in GENERATORS)
    assert abs(efm["cpu_minutes"] - fm["cpu_minutes"]) <= 0.1 * fm["cpu_minutes"], (efm["cpu_minutes"], fm["cpu_minutes"])
    assert efm["metrics"]["fd"] <= 1.5 * fm["metrics"]["fd"], (efm["metrics"]["fd"], fm["metrics"]["fd"])


@needs_fashion
def test_cli_sample_and_eval_fashion(tmp_path, capsys):
    out = tmp_path / "s.npy"
    assert main(["sample", "--checkpoint", str(PRETRAINED / "fashion-gen"), "--n", "8", "--seed", "0", "--out", str(out)]) == 0
    x = np.load(out)
    assert x.shape == (8, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(PRETRAINED / "fashion-gen"), "--n", "12"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("class_shares", "fd", "precision", "recall", "memorised_share"):
        assert key in report
