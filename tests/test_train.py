"""The training loop: schedule, EMA, determinism, exact resume, callback/stop, loss log, and that it learns."""

import csv

import pytest
import torch

from efm_core.config import ExperimentConfig
from efm_core.objectives import EFMObjective, FlowMatchingObjective, PFGMObjective, PFGMppObjective, make_objective
from efm_core.presets import PRESETS, get_preset
from efm_core.sampler import SamplerConfig
from efm_core.sampling import evaluate, generate
from efm_core.train import Trainer, lr_factor

TINY = get_preset("tiny")


def _params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_lr_schedule():
    cfg = TINY.replace(steps=110, warmup=10, lr_schedule="cosine", min_lr_ratio=0.1)
    assert lr_factor(0, cfg) == pytest.approx(0.1) and lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(60, cfg) == pytest.approx(0.55)  # half way down the cosine
    assert lr_factor(110, cfg) == pytest.approx(0.1)
    assert lr_factor(60, cfg.replace(lr_schedule="constant")) == 1.0


def test_same_seed_same_run_and_resume_is_exact(tmp_path):
    straight = Trainer(TINY.replace(steps=8), device="cpu")
    straight.step(8)
    first = Trainer(TINY.replace(steps=8), device="cpu")
    first.step(4)
    first.save(tmp_path / "half")
    resumed = Trainer(TINY.replace(steps=8), device="cpu")
    resumed.resume(tmp_path / "half")
    assert resumed.step_count == 4
    resumed.step(10)  # stops at config.steps
    assert resumed.step_count == 8
    assert torch.equal(_params(straight.net), _params(resumed.net))
    assert torch.equal(_params(straight.ema), _params(resumed.ema))
    assert [r["loss"] for r in straight.history[4:]] == [r["loss"] for r in resumed.history]
    other = Trainer(TINY.replace(steps=8, seed=1), device="cpu")
    other.step(8)
    assert not torch.equal(_params(straight.net), _params(other.net))


def test_resume_refuses_another_config_or_a_slim_checkpoint(tmp_path):
    t = Trainer(TINY, device="cpu")
    t.step(2)
    t.save(tmp_path / "a")
    t.save(tmp_path / "slim", train_state=False)
    with pytest.raises(ValueError, match="differs in \\['L'\\]"):
        Trainer(TINY.replace(L=3.0), device="cpu").resume(tmp_path / "a")
    with pytest.raises(ValueError, match="no training state"):
        Trainer(TINY, device="cpu").resume(tmp_path / "slim")


def test_ema_follows_its_formula():
    t = Trainer(TINY.replace(ema=0.5), device="cpu")
    before = _params(t.ema).clone()
    t.step(1)  # decay min(0.5, (1 + 1) / (10 + 1)) = 2/11
    torch.testing.assert_close(_params(t.ema), before * (2 / 11) + _params(t.net) * (9 / 11))


def test_callback_can_stop_and_chunks_and_log(tmp_path):
    seen = []

    def callback(trainer, record):
        seen.append(record["step"])
        return record["step"] < 3

    log = tmp_path / "log.csv"
    t = Trainer(TINY, device="cpu", callback=callback, log_path=log)
    records = t.step(10)
    assert [r["step"] for r in records] == [1, 2, 3] and seen == [1, 2, 3] and t.done
    assert t.step(5) == []
    rows = list(csv.DictReader(log.open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert all(float(r["loss"]) > 0 and float(r["lr"]) > 0 for r in rows)
    t2 = Trainer(TINY, device="cpu")
    assert len(t2.step(4)) == 4 and len(t2.step(4)) == 4 and t2.step_count == 8


def test_objectives_by_config():
    assert isinstance(make_objective(TINY), EFMObjective)
    assert isinstance(make_objective(get_preset("fm-two_moons-L6")), FlowMatchingObjective)
    assert isinstance(make_objective(get_preset("pfgm-two_moons")), PFGMObjective)
    assert isinstance(make_objective(get_preset("pfgmpp-digits")), PFGMppObjective)
    with pytest.raises(ValueError, match="sampler kinds 'none' and 'constant'"):
        FlowMatchingObjective(1.0, SamplerConfig(kind="tent"), 8)


def test_flow_matching_loss_is_zero_for_the_true_velocity():
    shift = torch.tensor([3.0, -1.0])

    def perfect(x, z):
        return shift.expand_as(x), torch.zeros(x.shape[0])

    p = torch.randn(32, 2)
    objective = FlowMatchingObjective(6.0, SamplerConfig(kind="none"), 16)
    assert float(objective(perfect, p, p + shift, torch.Generator())) == pytest.approx(0.0, abs=1e-10)
    assert float(objective(perfect, p, p + 2 * shift, torch.Generator())) == pytest.approx(float((shift**2).sum()))


def test_config_validation_and_presets():
    assert {"tiny", "digits-gen", "cdigits-2to3", "two_moons-L6", "two_moons-L30"} <= set(PRESETS)
    for name in [n for n in PRESETS if n.endswith("-two-sided")]:  # the same task, solved with Theorem 3.1's map
        one_sided = PRESETS[name.removesuffix("-two-sided")]
        assert (PRESETS[name].p, PRESETS[name].q, PRESETS[name].L) == (one_sided.p, one_sided.q, one_sided.L)
        assert PRESETS[name].solver["kind"] == "arc" and PRESETS[name].net["kind"] == "space_mlp"
    for name in [n for n in PRESETS if not n.startswith(("fm-", "ifm-", "pfgm-", "pfgmpp-", "tiny")) and not n.endswith("-two-sided")]:
        # the flow-matching twin: the same task and net (EFM's output scaling x_scale aside), about the same steps
        # (equal CPU time: a flow-matching step is a few % cheaper)
        twin, efm = PRESETS["fm-" + name], PRESETS[name]
        assert (twin.objective, twin.p, twin.q, twin.n_queries, twin.net) == (
            "fm", efm.p, efm.q, efm.n_queries, {k: v for k, v in efm.net.items() if k != "x_scale"},
        )
        assert efm.steps <= twin.steps <= 1.1 * efm.steps
    spec = TINY.to_dict()
    assert ExperimentConfig.from_dict(spec) == TINY
    with pytest.raises(ValueError, match="unknown config key"):
        ExperimentConfig.from_dict({**spec, "stepz": 3})
    with pytest.raises(ValueError, match="missing required"):
        ExperimentConfig.from_dict({k: v for k, v in spec.items() if k != "L"})
    with pytest.raises(ValueError, match="L must be"):
        TINY.replace(L=-1.0)
    with pytest.raises(ValueError, match="n_queries"):
        TINY.replace(n_queries=10_000)
    with pytest.raises(ValueError, match="unknown solver option"):
        TINY.replace(solver={"kind": "heun", "stepz": 3})


@pytest.mark.slow
def test_short_training_lowers_w2():
    """About 10 s of CPU: Gaussian -> two moons at L = 2; the EMA net's W2 falls far below the untrained net's."""
    config = TINY.replace(net={"kind": "mlp", "width": 64, "depth": 2}, steps=400, warmup=20, n_charges=512, n_queries=128, ema=0.98)
    trainer = Trainer(config, device="cpu")
    before = evaluate(trainer.ema, config, n=300, seed=5)
    trainer.run(progress=False)
    after = evaluate(trainer.ema, config, n=300, seed=5)
    assert after["w2"] < 0.5 * before["w2"]
    assert after["w2"] < 3 * after["w2_floor"]
    lines = generate(trainer.ema, config, 1000, seed=11)  # the bar: 0 of 1000 lines NaN or off the plate
    assert torch.isfinite(lines.x).all() and torch.equal(lines.z, torch.full((1000,), config.L))
    assert int(lines.nonfinite.sum()) == 0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_checkpoint_and_sampling(tmp_path):
    trainer = Trainer(TINY.replace(steps=5), device="cuda")
    trainer.run(progress=False)
    assert next(trainer.net.parameters()).is_cuda
    trainer.save(tmp_path / "tiny")
    resumed = Trainer(TINY.replace(steps=5), device="cuda")
    resumed.resume(tmp_path / "tiny")
    assert torch.equal(_params(resumed.ema), _params(trainer.ema))
    report = evaluate(resumed.ema, TINY, n=64, seed=0)
    assert report["transport_nonfinite"] == 0 and report["w2"] > 0


@pytest.mark.parametrize("objective, sampler", [("efm", {"kind": "tent", "sigma": 0.3}), ("fm", {"kind": "none"})])
def test_finite_sources_of_different_sizes_train(objective, sampler):
    """P (the 2s, ~140 items) is smaller than n_queries and than Q (1s and 3s): steps use equally many of each."""
    config = get_preset("tiny").replace(
        name="sizes", objective=objective, sampler=sampler, n_charges=512, n_queries=200, steps=2,
        p={"kind": "digits", "classes": [2], "split": "train"}, q={"kind": "digits", "classes": [1, 3], "split": "train"},
        net={"kind": "mlp", "width": 16, "depth": 1},
    )
    trainer = Trainer(config, device="cpu")
    records = trainer.step(2)
    assert len(records) == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in records)
    assert trainer.cpu_seconds > 0
