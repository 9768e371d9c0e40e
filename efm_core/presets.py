"""The named presets: ``get_preset(name)`` and ``PRESETS`` (every preset is an ``ExperimentConfig``, see ``config``)."""

from __future__ import annotations

import math

from .config import ExperimentConfig
from .pfgm import PFGMOptions, PFGMppOptions, options_dict

# --- presets ---------------------------------------------------------------------------------------------------------

_TOY_NET = {"kind": "mlp", "width": 256, "depth": 3}
_TOY_TARGETS = ("two_gaussians", "swiss_roll", "two_moons")
_DIGITS_NET = {"kind": "mlp", "width": 512, "depth": 3}
_TOY_RMS = {"two_gaussians": 5.7, "swiss_roll": 1.37, "two_moons": 1.4}  # RMS per coordinate (PFGM++'s sigma_data)
FASHION_L = 30.0


def _toy(name: str, target: str, L: float, objective: str = "efm") -> ExperimentConfig:
    # tent noise of std 4 mid-gap covers where the curved lines go. Gaussian -> two Gaussians, L = 6, 1200 steps,
    # 1000 lines: std 0.5 left 9% of the lines turned back (W2 16), std 2 2.6% (W2 7.4), std 4 none (W2 4.3, floor 1.3);
    # constant noise of std 1: 21% (W2 4.4). Swiss roll: W2 0.79 (std 2) -> 0.70 (std 4), floor 0.53.
    sampler = {"kind": "tent", "sigma": 4.0} if objective == "efm" else {"kind": "none"}
    return ExperimentConfig(
        name=name, objective=objective, p={"kind": "toy", "name": "gaussian", "D": 2},
        q={"kind": "toy", "name": target, "D": 2}, L=L, net=dict(_TOY_NET), sampler=sampler,
        n_charges=1024, n_queries=256, steps=3000, lr=1e-3, warmup=200, ema=0.995,
        solver={"kind": "heun", "steps": 50, "f_min": 0.05},
        description=f"Gaussian -> {target} in 2-D at L = {L:g} ({objective}).",
    )


def _ifm(config: ExperimentConfig, width: float, plan: str = "independent", steps: int | None = None) -> ExperimentConfig:
    """The IFM twin of a flow-matching preset: the same data, L, net (with f_x scaled by 1/L, so that the raw output
    learns L E_x / |E|, the flow-matching velocity's scale, at any L), batches, learning rate and solver; tubes of
    width ``width`` with end caps of L / 10; sampler {} (IFM draws its own points, its options in ``method``)."""
    name = "ifm-" + config.name.removeprefix("fm-")
    method = {"width": width, "cap": round(config.L / 10, 6), "plan": plan, "eps": round(config.L * 1e-4, 6)}
    return config.replace(
        name=name, objective="ifm", net={**config.net, "x_scale": 1.0 / config.L}, sampler={}, method=method,
        steps=config.steps if steps is None else steps,
        description=config.description.replace("(fm)", "(ifm)").replace(" fm)", " ifm)").replace("(fm;", "(ifm;"),
    )


def _toy_two_sided(name: str, target: str, L: float) -> ExperimentConfig:
    # Theorem 3.1's map with a learned field: the net learns the field in the whole space (the whole_space sampler)
    # and the arc solver follows lines out of both sides of P. Gaussian -> two Gaussians, L = 6: forward-only EFM
    # reached W2 3.3x the floor (43 % of P's flux leaves backwards); two-sided 0.75-0.93x (three draws of 1000).
    return ExperimentConfig(
        name=name, objective="efm", p={"kind": "toy", "name": "gaussian", "D": 2},
        q={"kind": "toy", "name": target, "D": 2}, L=L, net={"kind": "space_mlp", "width": 256, "depth": 4},
        sampler={"kind": "whole_space", "sigma": 2.0}, n_charges=1024, n_queries=512, steps=3000, lr=1e-3, warmup=200,
        ema=0.995, solver={"kind": "arc", "sides": "both", "steps": 25},
        description=f"Gaussian -> {target} in 2-D at L = {L:g} (efm, two-sided: field learned in the whole space).",
    )


def pfgmpp_method(scale: float, D_aug: int) -> dict:
    """PFGM++'s options for data of RMS ``scale`` per coordinate: EDM's, with sigma_data = ``scale`` and P_mean
    shifted by log(scale / 0.5), so that the training levels follow the data's scale as EDM's do for images of RMS
    0.5 (the one home of this rule: the presets and the app's Training lab)."""
    return options_dict(PFGMppOptions(D_aug=D_aug, sigma_data=scale, P_mean=round(-1.2 + math.log(scale / 0.5), 3)))


def one_plate(name: str, objective: str, data: dict, net: dict, steps: int, n_charges: int, scale: float,
              D_aug: int) -> ExperimentConfig:
    """PFGM (z_max = 40, upstream's CIFAR-10 options) or PFGM++ (sigma_max = 80 and ``pfgmpp_method(scale, D_aug)``,
    ``scale`` the data's RMS per coordinate) on the data spec ``data`` alone."""
    if objective == "pfgm":
        L, method = 40.0, options_dict(PFGMOptions())
        solver = {"kind": "rk45", "steps": 20, "rtol": 1e-4, "atol": 1e-4, "f_min": 1e-4, "max_steps": 2000}
    else:
        L, method = 80.0, pfgmpp_method(scale, D_aug)
        solver = {"kind": "heun", "steps": 18}
    what = "PFGM" if objective == "pfgm" else f"PFGM++ (D_aug = {D_aug})"
    return ExperimentConfig(
        name=name, objective=objective, p=data, q=None, L=L, net=dict(net), sampler={}, n_charges=n_charges,
        n_queries=256, steps=steps, lr=1e-3, warmup=200, ema=0.995 if data["kind"] == "toy" else 0.999, solver=solver,
        description=f"{what}: {data.get('name', data['kind'])} alone on z = 0.", method=method,
    )


def _image_net(net: dict, objective: str, D: int) -> dict:
    """``net`` with EDM's output scaling for EFM: its unit field has components of about 1/sqrt(D), so the net's f_x
    is its raw output times 1/sqrt(D) (flow matching's velocity has components of order one and keeps the raw
    output). At D = 784 and 250 steps this took EFM's FD from 225 to 145 (flow matching: 141), at D = 64 and 3000
    steps from 49 to 31 (docs/pretrained.md)."""
    return {**net, "x_scale": 1.0 / math.sqrt(D)} if objective == "efm" else dict(net)


def _digits_gen(name: str, objective: str) -> ExperimentConfig:
    return ExperimentConfig(
        name=name, objective=objective, p={"kind": "gaussian", "shape": [1, 8, 8], "std": 1.0},
        q={"kind": "digits", "classes": None, "split": "train"}, L=5.0, net=_image_net(_DIGITS_NET, objective, 64),
        sampler={"kind": "tent", "sigma": 0.05} if objective == "efm" else {"kind": "none"},
        n_charges=2048, n_queries=256, steps=6000, lr=1e-3, warmup=200, ema=0.999,
        solver={"kind": "heun", "steps": 50, "f_min": 0.05},
        description=f"N(0, I) noise -> scikit-learn digits (train split), 8x8 ({objective}).",
    )


_FASHION_NET = {"kind": "edm_unet", "channels": 16, "mults": [1, 2, 4], "blocks": 1, "attention": 1}



def _fashion_gen(name: str, objective: str) -> ExperimentConfig:
    # L ~ |x_Q - x_P| (about 34 for N(0, I) noise against Fashion-MNIST at D = 784): then f_z ~ |f_x| ~ 0.7 and
    # neither component's regression error dominates the slope dx/dz = f_x / f_z (see docs/pretrained.md).
    return ExperimentConfig(
        name=name, objective=objective, p={"kind": "gaussian", "shape": [1, 28, 28], "std": 1.0},
        q={"kind": "fashion_mnist", "split": "train", "classes": None}, L=FASHION_L,
        net=_image_net(_FASHION_NET, objective, 784), sampler={"kind": "tent", "sigma": 0.05} if objective == "efm" else {"kind": "none"},
        # equal CPU time: a flow-matching step is about 4 % cheaper (no exact field)
        n_charges=512, n_queries=64, steps=4000 if objective == "efm" else 4150, lr=2e-3, warmup=100, ema=0.999,
        solver={"kind": "heun", "steps": 15, "f_min": 0.05},
        description=f"N(0, I) noise -> Fashion-MNIST (train split), 28x28, D = 784 ({objective}).",
    )


def _cifar10_gen(name: str, objective: str) -> ExperimentConfig:
    # For a GPU: the same recipe at 32x32x3 (D = 3072), a wider U-Net; not trained by the project.
    return ExperimentConfig(
        name=name, objective=objective, p={"kind": "gaussian", "shape": [3, 32, 32], "std": 1.0},
        q={"kind": "cifar10", "split": "train", "classes": None}, L=60.0,
        net=_image_net({"kind": "edm_unet", "channels": 128, "mults": [1, 2, 2, 2], "blocks": 2, "attention": 1}, objective, 3072),
        sampler={"kind": "tent", "sigma": 0.05} if objective == "efm" else {"kind": "none"}, n_charges=1024,
        n_queries=128, steps=200000, lr=2e-4, warmup=5000, ema=0.9999, solver={"kind": "heun", "steps": 50, "f_min": 0.05},
        description=f"N(0, I) noise -> CIFAR-10 (train split), 32x32x3, D = 3072 ({objective}; GPU: --data-dir DIR --device cuda).",
    )


def _cdigits(name: str, objective: str) -> ExperimentConfig:
    return ExperimentConfig(
        name=name, objective=objective, p={"kind": "coloured_digits", "classes": [2], "split": "train"},
        q={"kind": "coloured_digits", "classes": [3], "split": "train"}, L=2.0, net=dict(_DIGITS_NET),
        sampler={"kind": "tent", "sigma": 0.05, "pairing": "ot"} if objective == "efm" else {"kind": "none", "pairing": "ot"},
        n_charges=1024, n_queries=256, steps=3000, lr=1e-3, warmup=200, ema=0.999,
        solver={"kind": "heun", "steps": 50, "f_min": 0.05},
        description=f"Coloured digits 2 -> 3 (random hues, minibatch-OT pairs), 8x8x3 ({objective}).",
    )


def _tiny() -> ExperimentConfig:
    return ExperimentConfig(
        name="tiny", objective="efm", p={"kind": "toy", "name": "gaussian", "D": 2},
        q={"kind": "toy", "name": "two_moons", "D": 2}, L=2.0, net={"kind": "mlp", "width": 32, "depth": 1},
        sampler={"kind": "tent", "sigma": 0.3}, n_charges=128, n_queries=64, steps=30, warmup=5, ema=0.9,
        solver={"kind": "heun", "steps": 10, "f_min": 0.05}, description="A seconds-long run for tests.",
    )


# IFM presets: tube width S (data units) and plan of each flow-matching twin (cap L / 10, see ``_ifm``)
_IFM_TWINS = {
    **{f"{t}-L{L}": (1.0 if t == "two_gaussians" else 0.3, "independent") for t in _TOY_TARGETS for L in (6, 30)},
    "digits-gen": (0.1, "independent"), "cdigits-2to3": (0.1, "ot"), "fashion-gen": (0.1, "independent"),
    "cifar10-gen": (0.1, "independent"),
}


def _build_presets() -> dict[str, ExperimentConfig]:
    presets = {"tiny": _tiny()}
    for target in _TOY_TARGETS:
        for L in (6, 30):
            name = f"{target}-L{L}"
            presets[name] = _toy(name, target, float(L))
            presets[f"fm-{name}"] = _toy(f"fm-{name}", target, float(L), "fm")
            presets[f"{name}-two-sided"] = _toy_two_sided(f"{name}-two-sided", target, float(L))
        toy = {"kind": "toy", "name": target, "D": 2}  # PFGM++: D_aug = 2N on the toys and the digits
        presets[f"pfgm-{target}"] = one_plate(f"pfgm-{target}", "pfgm", toy, _TOY_NET, 1500, 1024, 1.0, 1)
        presets[f"pfgmpp-{target}"] = one_plate(f"pfgmpp-{target}", "pfgmpp", toy, _TOY_NET, 1500, 1024,
                                                _TOY_RMS[target], 4)
    presets["digits-gen"] = _digits_gen("digits-gen", "efm")
    presets["fm-digits-gen"] = _digits_gen("fm-digits-gen", "fm")
    digits = {"kind": "digits", "classes": None, "split": "train"}
    presets["pfgm-digits"] = one_plate("pfgm-digits", "pfgm", digits, _DIGITS_NET, 2000, 2048, 1.0, 1)
    presets["pfgmpp-digits"] = one_plate("pfgmpp-digits", "pfgmpp", digits, _DIGITS_NET, 2000, 2048, 0.5, 128)
    presets["cdigits-2to3"] = _cdigits("cdigits-2to3", "efm")
    presets["fm-cdigits-2to3"] = _cdigits("fm-cdigits-2to3", "fm")
    presets["fashion-gen"] = _fashion_gen("fashion-gen", "efm")
    presets["fm-fashion-gen"] = _fashion_gen("fm-fashion-gen", "fm")
    presets["cifar10-gen"] = _cifar10_gen("cifar10-gen", "efm")
    presets["fm-cifar10-gen"] = _cifar10_gen("fm-cifar10-gen", "fm")
    for name, (width, plan) in _IFM_TWINS.items():
        presets[f"ifm-{name}"] = _ifm(presets[f"fm-{name}"], width, plan)
    return presets


PRESETS: dict[str, ExperimentConfig] = _build_presets()


def get_preset(name: str) -> ExperimentConfig:
    """A fresh copy of a named preset; ValueError listing the names if unknown."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}.")
    return ExperimentConfig.from_dict(PRESETS[name].to_dict())
