"""Per-item seeds (efm_core.sampling): item i of seed s is the same for any n, in the library and on the command line;
and the helpers the core now holds once (systematic sampling, the point-cloud parser, weighted energy distance,
nearest items)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from efm_core import (
    energy_distance,
    generate,
    nearest_distances,
    nearest_neighbours,
    parse_point_cloud,
    systematic_indices,
)
from efm_core.checkpoints import load_checkpoint
from efm_core.cli import main
from efm_core.presets import get_preset
from efm_core.sampling import start_points

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"


@pytest.mark.parametrize("name", ["digits-gen", "toy-gauss-2gauss-L6"])
def test_the_first_items_of_a_seed_do_not_depend_on_n(name):
    ckpt = load_checkpoint(PRETRAINED / name)
    small = generate(ckpt.net, ckpt.config, 8, seed=0).x
    large = generate(ckpt.net, ckpt.config, 16, seed=0).x
    torch.testing.assert_close(small, large[:8], rtol=0, atol=1e-5)
    assert not torch.allclose(large[:8], large[8:], atol=1e-3)  # the items differ from each other


@pytest.mark.parametrize("name", ["pfgm-two_moons", "pfgmpp-digits"])
def test_prior_items_do_not_depend_on_n(name):
    config = get_preset(name)
    small, far = start_points(config, 8, seed=3)
    large, _ = start_points(config, 16, seed=3)
    assert far
    torch.testing.assert_close(small, large[:8], rtol=0, atol=0)


def test_cli_sample_equals_generate_of_the_loaded_checkpoint(tmp_path):
    out = tmp_path / "x.npy"
    assert main(["sample", "--checkpoint", str(PRETRAINED / "digits-gen"), "--n", "16", "--seed", "0", "--out", str(out)]) == 0
    ckpt = load_checkpoint(PRETRAINED / "digits-gen")
    expected = generate(ckpt.net, ckpt.config, 16, seed=0).x.clamp(-1.0, 1.0).numpy()  # the CLI clips images to [-1, 1]
    np.testing.assert_allclose(np.load(out), expected, rtol=0, atol=1e-6)


def test_systematic_indices_spread_by_weight():
    w = torch.tensor([1.0, 3.0, 0.0, 4.0])
    idx = systematic_indices(w, 8)
    assert torch.equal(torch.bincount(idx, minlength=4), torch.tensor([1, 3, 0, 4]))
    for offset in (0.0, 0.3, 0.999):
        counts = torch.bincount(systematic_indices(w, 10, offset), minlength=4).double()
        assert ((counts - 10 * w / w.sum()).abs() <= 1).all()
    with pytest.raises(ValueError, match="positive integer"):
        systematic_indices(w, 0)


def test_parse_point_cloud_reads_csv_and_npy_bytes_alike():
    arr = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, 1.0]])
    buf = __import__("io").BytesIO()
    np.save(buf, arr)
    from_npy = parse_point_cloud(buf.getvalue(), "c.npy", dims=(2, 3))
    from_csv = parse_point_cloud(b"x,y,w\n0.5,-1,2\n1.5,0,1\n", "c.csv", dims=(2, 3))
    torch.testing.assert_close(from_npy, from_csv)
    with pytest.raises(ValueError, match="limit"):
        parse_point_cloud(b"1,2\n" * 100, "big.csv", max_bytes=10)
    with pytest.raises(ValueError, match="columns"):
        parse_point_cloud(b"1,2,3,4\n", "wide.csv", dims=(2, 3))


def test_weighted_energy_distance_is_the_distance_to_a_weighted_point_set():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 2, generator=g, dtype=torch.float64), torch.randn(7, 2, generator=g, dtype=torch.float64)
    w = torch.rand(7, generator=g, dtype=torch.float64)
    w = w / w.sum()
    d = lambda a, b: torch.linalg.vector_norm(a[:, None] - b[None], dim=2)  # noqa: E731
    ref = 2 * (d(x, y) @ w).mean() - d(x, x).sum() / (40 * 39) - w @ d(y, y) @ w
    assert energy_distance(x, y, unbiased=True, weights_b=w) == pytest.approx(float(ref), abs=1e-12)
    # equal weights on repeated points are the same distribution as the repeated points themselves
    y2 = torch.cat([y, y[:1]])
    w2 = torch.tensor([2.0] + [1.0] * 6 + [0.0], dtype=torch.float64)
    assert energy_distance(x, y2, weights_b=w2) == pytest.approx(energy_distance(x, torch.cat([y, y[:1]])), abs=1e-12)
    assert energy_distance(x, y, weights_a=torch.ones(40), weights_b=torch.ones(7)) == pytest.approx(energy_distance(x, y))


def test_nearest_neighbours_gives_distances_and_indices():
    train = torch.tensor([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]])
    samples = torch.tensor([[3.0, 3.0], [9.0, 1.0]])
    dist, idx = nearest_neighbours(samples, train)
    assert idx.tolist() == [1, 2]
    torch.testing.assert_close(dist, torch.tensor([1.0, 2.0**0.5], dtype=torch.float64))
    torch.testing.assert_close(nearest_distances(samples, train), dist)
