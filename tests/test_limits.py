"""Stated limits (efm_core.limits): sizes refused before anything is allocated, scales refused or warned about, and
bounded parsers; issue 14's findings, each as a test that failed before the limits existed."""

import io
import json
import resource

import numpy as np
import pytest
import torch
from learning_testing import tiny_checkpoint
from torch import nn

from efm_core import exact_field, limits, make_plates, trace_lines
from efm_core.checkpoints import CheckpointError, checkpoint_paths, load_checkpoint, read_card, save_checkpoint
from efm_core.cli import main
from efm_core.config import ExperimentConfig
from efm_core.data.files import load_point_cloud, read_npy
from efm_core.lines import LOST
from efm_core.nets import build_net
from efm_core.presets import get_preset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"), "tiny")


def _with_card(base, tmp_path, change):
    st, js = checkpoint_paths(base)
    dst = tmp_path / "edited"
    dst_st, dst_js = checkpoint_paths(dst)
    dst_st.write_bytes(st.read_bytes())
    card = json.loads(js.read_text())
    change(card)
    dst_js.write_text(json.dumps(card))
    return dst


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(
    "net, p, match",
    [
        ({"kind": "mlp", "width": 4096, "depth": 32}, None, "parameters; the limit"),
        ({"kind": "mlp", "width": 300000, "depth": 1}, None, "width 300000 .* above the limit of 65536"),
        ({"kind": "mlp", "width": 60000, "depth": 1}, None, "parameters; the limit"),
        ({"kind": "unet", "channels": 32, "mults": [1, 2], "blocks": 1}, {"kind": "gaussian", "shape": [1, 512, 512]}, "GiB of activations"),
        ({"kind": "mlp", "width": 64, "depth": 100000}, None, "depth"),
    ],
)
def test_a_card_describing_a_huge_net_is_refused_before_building_it(tiny, tmp_path, net, p, match):
    def change(card):
        card["config"]["net"] = net
        if p is not None:
            card["config"]["p"] = card["config"]["q"] = p
            card["data"] = {plate: {"shape": p["shape"], "clip": None} for plate in ("p", "q")}
    dst = _with_card(tiny, tmp_path, change)
    before = _peak_rss_mb()
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(dst)
    assert _peak_rss_mb() - before < 200  # before the limits: +3900 MB for width 4096 x depth 32


def test_a_card_with_an_enormous_gap_is_refused(tiny, tmp_path):
    dst = _with_card(tiny, tmp_path, lambda card: card["config"].update(L=1e308))
    with pytest.raises(CheckpointError, match="L = 1e\\+308 is too large"):
        load_checkpoint(dst)


def test_a_deeply_nested_card_is_a_checkpoint_error(tiny, tmp_path):
    st, js = checkpoint_paths(tiny)
    dst_st, dst_js = checkpoint_paths(tmp_path / "nested")
    dst_st.write_bytes(st.read_bytes())
    dst_js.write_text('{"format": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(CheckpointError, match="nested too deeply"):
        read_card(dst_js)
    dst_js.write_text('{"format": ' + "[" * 40 + "]" * 40 + "}")
    with pytest.raises(CheckpointError, match="nested more than"):
        read_card(dst_js)


def test_build_net_shares_the_size_check():
    with pytest.raises(ValueError, match="parameters; the limit"):
        build_net({"kind": "mlp", "width": 4096, "depth": 32}, (2,), 1.0)
    with pytest.raises(ValueError, match="activations for a batch of 100000"):
        build_net({"kind": "mlp", "width": 1024, "depth": 2}, (2,), 1.0, batch=100000)
    assert isinstance(build_net({"kind": "mlp", "width": 32, "depth": 1}, (2,), 1.0), nn.Module)


@pytest.mark.parametrize(
    "spec, shape",
    [({"kind": "mlp"}, (2,)), ({"kind": "space_mlp", "width": 64}, (3,)), ({"kind": "unet"}, (1, 8, 8)),
     ({"kind": "unet", "channels": 8, "mults": [1, 2, 2], "blocks": 2}, (3, 16, 16))],
)
def test_net_size_counts_parameters_exactly_and_activations_closely(spec, shape):
    """Parameters as the built net has them; activations within 20% of every layer output of a meta forward pass."""
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    size = limits.net_size(lambda: build_net(spec, shape, 1.0), batch=16)
    assert torch.equal(torch.random.get_rng_state(), state)  # sizing draws no random numbers
    net = build_net(spec, shape, 1.0)
    assert size.parameters == sum(p.numel() for p in net.parameters())
    total = [0]
    with torch.device("meta"):
        meta = build_net(spec, shape, 1.0)
    for m in meta.modules():
        if not list(m.children()):
            m.register_forward_hook(lambda _m, _i, o: total.__setitem__(0, total[0] + sum(t.numel() * 4 for t in (o if isinstance(o, tuple) else (o,)))))
    meta(torch.empty(16, *shape, device="meta"), torch.empty(16, device="meta"))
    assert 0.8 < size.activation_bytes / total[0] < 1.2


@pytest.mark.parametrize(
    "change, match",
    [
        ({"n_charges": 10**9, "n_queries": 10**9}, "n_charges = 1000000000 is above the limit"),
        ({"steps": 10**12}, "config steps = 1000000000000 is above the limit"),
        ({"seed": 2**70}, "config seed"),
        ({"solver": {"kind": "heun", "steps": 10**8}}, "solver steps = 100000000 is above the limit"),
    ],
)
def test_config_sizes_have_upper_bounds(change, match):
    with pytest.raises(ValueError, match=match):
        get_preset("tiny").replace(**change)
    assert isinstance(get_preset("digits-gen"), ExperimentConfig)


# --- library inputs ----------------------------------------------------------------------------------------------

POS = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
NEG = torch.tensor([[0.5], [2.0]], dtype=torch.float64)


def test_too_many_lines_are_refused_before_any_work():
    plates = make_plates(POS, NEG, 1.0)
    with pytest.raises(ValueError, match="n_lines = 100000 is above the limit of 10000"):
        trace_lines(plates, n_lines=100000)
    with pytest.raises(ValueError, match="per_charge x positive charges = 20000"):
        trace_lines(plates, per_charge=10000)
    with pytest.raises(ValueError, match="max_steps = 1000000000 is above the limit"):
        trace_lines(plates, n_lines=2, max_steps=10**9)


def test_a_gap_too_small_to_resolve_warns_with_the_reason():
    g = torch.Generator().manual_seed(0)
    plates = make_plates(torch.randn(64, 1, generator=g, dtype=torch.float64), torch.randn(64, 1, generator=g, dtype=torch.float64), 1e-12)
    with pytest.warns(RuntimeWarning, match="field lines were lost. L = 1e-12 is below"):
        tr = trace_lines(plates, n_lines=32)
    assert (tr.case == LOST).any()


@pytest.mark.parametrize("x", [1e150, 1e16, 1e13])
def test_far_queries_warn_instead_of_returning_silent_garbage(x):
    with pytest.warns(RuntimeWarning, match="fields cancel below float64 precision"):
        exact_field([[x, 0.5]], POS, NEG, 1.0)


def test_overflowing_coordinates_and_gaps_are_refused():
    with pytest.raises(ValueError, match="coordinate of size 1e\\+160"):
        exact_field([[1e160, 0.5]], POS, NEG, 1.0)
    with pytest.raises(ValueError, match="L = 1e\\+300 is too large"):
        exact_field([[0.1, 0.5]], POS, NEG, 1e300)


def test_near_queries_do_not_warn(recwarn):
    exact_field([[1e6, 0.5], [0.1, 0.2]], POS, NEG, 1.0)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: exact_field([[0.1, 0.5]], [[1 + 2j], [0.5]], NEG, 1.0), "must hold real numbers"),
        (lambda: exact_field([[0.1, 0.5]], torch.tensor([[1 + 2j], [0.5]]), NEG, 1.0), "must hold real numbers"),
        (lambda: make_plates(POS, NEG, 1.0, pos_weights=np.array([1 + 1j, 1.0])), "must hold real numbers"),
        (lambda: make_plates(torch.zeros(2, 1, device="meta"), NEG, 1.0), "meta tensor"),
        (lambda: exact_field(torch.zeros(2, 2, device="meta"), POS, NEG, 1.0), "meta tensor"),
        (lambda: exact_field([[0.1, 0.5]], np.array([[1.0], [None]], dtype=object), NEG, 1.0), "array of numbers"),
        (lambda: exact_field(torch.zeros(2, 2, dtype=torch.float64, requires_grad=True), POS, NEG, 1.0), "requires grad"),
        (lambda: make_plates(POS.clone().requires_grad_(), NEG, 1.0), "requires grad"),
        (lambda: make_plates(POS.float(), NEG, 1.0, pos_weights=[1e308, 1.0]), "beyond the range of float32"),
    ],
)
def test_unusable_inputs_are_clear_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_huge_charge_magnitudes_normalise_correctly():
    plates = make_plates(POS, NEG, 1.0, pos_weights=[1e308, 1e308])
    assert torch.allclose(plates.pos_weights, torch.tensor([0.5, 0.5], dtype=torch.float64))
    plates = make_plates(POS, NEG, 1.0, pos_weights=[1e308, 3e307])
    assert torch.allclose(plates.pos_weights, torch.tensor([1 / 1.3, 0.3 / 1.3], dtype=torch.float64))
    ref = exact_field([[0.1, 0.5]], POS, NEG, 1.0)
    assert torch.allclose(exact_field([[0.1, 0.5]], POS, NEG, 1.0, pos_weights=[1e308, 1e308]), ref)


# --- the CLI -------------------------------------------------------------------------------------------------------


def _cli(args, capsys):
    capsys.readouterr()
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    "args, flag",
    [
        (["sample", "--n", "1e9"], "--n"),
        (["sample", "--n", "1000000000"], "--n"),
        (["sample", "--n", "1e7"], "--n"),
        (["sample", "--n", "4", "--steps", "1e8"], "--steps"),
        (["eval", "--n", "1e9"], "--n"),
        (["sample", "--n", "4", "--f-min", "inf"], "--f-min"),
        (["sample", "--n", "4", "--f-min", "nan"], "--f-min"),
        (["sample", "--n", "4", "--f-min", "1e300"], "--f-min"),
        (["sample", "--n", "4", "--seed", str(2**64)], "--seed"),
        (["sample", "--n", "4", "--threads", "100000"], "--threads"),
    ],
)
def test_cli_sizes_are_bounded_with_a_message_naming_the_argument(tiny, tmp_path, capsys, args, flag):
    args = [args[0], "--checkpoint", tiny, *args[1:]]
    if args[0] == "sample":
        args += ["--out", tmp_path / "o.npy"]
    code, err = _cli(args, capsys)
    assert code == 2 and err.count("\n") == 1 and f"argument {flag}" in err and "Traceback" not in err, err
    assert not (tmp_path / "o.npy").exists()


def test_cli_train_bounds(tmp_path, capsys):
    for args, flag in ((["--steps", "1e8"], "--steps"), (["--eval-n", "1e9"], "--eval-n"), (["--save-every", "-1"], "--save-every")):
        code, err = _cli(["train", "--preset", "tiny", "--out", tmp_path, *args], capsys)
        assert code == 2 and f"argument {flag}" in err, err
    assert not list(tmp_path.iterdir())


def test_cli_activation_memory_is_checked_before_sampling(tmp_path, capsys):
    config = get_preset("tiny").replace(net={"kind": "mlp", "width": 1024, "depth": 2})
    from efm_core.checkpoints import build_model

    net = build_model(config)
    base = tmp_path / "wide"
    save_checkpoint(base, config, {f"net.{k}": v for k, v in net.state_dict().items()}, steps=0)
    code, err = _cli(["sample", "--checkpoint", base, "--n", "100000", "--out", tmp_path / "o.npy"], capsys)
    assert code == 2 and "--n = 100000 items" in err and "GiB of activations" in err, err


def test_cli_never_quotes_a_file_it_was_pointed_at(tiny, tmp_path, capsys):
    secret = "root:x:0:0:TOPSECRET:/root:/bin/bash"
    text = tmp_path / "passwd"
    text.write_text(secret + "\n")
    npy = tmp_path / "passwd.npy"
    npy.write_text(secret + "\n")
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**get_preset("tiny").to_dict(), "p": {"kind": "points_file", "path": str(text)}}))
    cases = [
        ["train", "--config", text, "--out", tmp_path / "runs"],
        ["train", "--config", cfg, "--out", tmp_path / "runs"],
        ["transport", "--checkpoint", tiny, "--input", npy, "--out", tmp_path / "o.npy"],
        ["transport", "--checkpoint", tiny, "--input", text, "--out", tmp_path / "o.npy"],
    ]
    for args in cases:
        code, err = _cli(args, capsys)
        assert code == 2 and err.count("\n") == 1, err
        assert "TOPSECRET" not in err and "root:x" not in err, err


def test_f_min_inf_is_refused_by_the_library_too():
    from efm_core.solvers import transport

    def field(x, z):
        return torch.ones_like(x), torch.ones_like(z)

    with pytest.raises(ValueError, match="f_min must be a finite number"):
        transport(field, torch.zeros(3, 2), 0.0, 1.0, f_min=float("inf"))
    with pytest.raises(ValueError, match="steps = 100000000 is above the limit"):
        transport(field, torch.zeros(3, 2), 0.0, 1.0, steps=10**8)


# --- parsers -------------------------------------------------------------------------------------------------------


def _npz(array) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, a=array)
    return buf.getvalue()


def test_an_npz_renamed_npy_is_a_clear_error(tmp_path):
    path = tmp_path / "cloud.npy"
    path.write_bytes(_npz(np.zeros((4, 2))))
    with pytest.raises(ValueError, match="npz \\(zip\\) archive"):
        load_point_cloud(path)
    with pytest.raises(ValueError, match="npz \\(zip\\) archive"):
        read_npy(path.read_bytes(), "cloud.npy")


def test_a_csv_field_over_131072_characters_is_a_clear_error():
    with pytest.raises(ValueError, match="line 2: field 2 is not a number"):
        load_point_cloud(b"1,2\n3," + b"x" * 200_000 + b"\n")
    assert load_point_cloud(b"1,2\n3," + b"0" * 200_000 + b"4\n").shape == (2, 2)


def test_row_limits_are_enforced_while_parsing(monkeypatch):
    """A 10^6-row CSV stops at the limit: at most limit + 1 rows are ever converted to numbers."""
    from efm_core.data import files as images

    calls = [0]
    real = images._number

    def counting(cell):
        calls[0] += 1
        return real(cell)

    monkeypatch.setattr(images, "_number", counting)
    raw = b"x,y\n" + b"0.5,-1.25\n" * 1_000_000
    with pytest.raises(ValueError, match="more than 4096 rows"):
        load_point_cloud(raw, max_points=4096)
    assert calls[0] <= 2 * 4097 + 2


def test_npy_row_and_size_limits_come_from_the_header():
    buf = io.BytesIO()
    np.save(buf, np.zeros((5000, 2)))
    with pytest.raises(ValueError, match="5000 rows; at most 4096"):
        load_point_cloud(buf.getvalue(), max_points=4096)
    for shape, match in (((10**6, 2), "shorter than its header says"), ((10**9, 10**3), "at most 1073741824")):
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
        with pytest.raises(ValueError, match=match):
            read_npy(header.getvalue() + b"\0" * 64, "x.npy")
