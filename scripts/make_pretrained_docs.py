"""Sample grids of the shipped checkpoints (docs/images/NAME.png) and the markdown tables of their cards.

``python scripts/make_pretrained_docs.py [TASK ...]`` (tasks such as ``fashion-gen``; default all) writes one PNG per checkpoint in pretrained/, a picture of the learned
two-sided lines beside the exact ones for each two-sided toy (docs/images/NAME-lines.png), and prints two tables: the
model cards (for pretrained/README.md) and EFM vs flow matching vs IFM (for docs/pretrained.md). Seeded, one CPU thread,
about two minutes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from efm_core.checkpoints import load_checkpoint  # noqa: E402
from efm_core.config import ARC  # noqa: E402
from efm_core.data.sources import make_source  # noqa: E402
from efm_core.fields import space_field  # noqa: E402
from efm_core.lines import CASES  # noqa: E402
from efm_core.plates import make_plates  # noqa: E402
from efm_core.sampling import generate, translate  # noqa: E402
from efm_core.theorem import transport_trace, transport_two_sided  # noqa: E402

PRETRAINED = ROOT / "pretrained"
IMAGES = ROOT / "docs" / "images"
TASKS = [
    ("digits-gen", "noise -> digits", ("precision", "recall", "class_share_min", "class_share_max", "memorised_share", "fd")),
    ("cdigits-2to3", "coloured 2 -> 3", ("read_as_target", "hue_kept_share", "hue_error_median")),
    ("fashion-gen", "noise -> Fashion-MNIST 28x28", ("precision", "recall", "class_share_min", "class_share_max",
                                                     "memorised_share", "fd", "transport_nfe")),
    *[(f"toy-gauss-{t}-L{L}", f"Gaussian -> {w}, L = {L}", ("w2", "w2_floor", "w2_over_floor", "transport_bad_share",
                                                                  "transport_backward_share"))
      for t, w in (("2gauss", "two Gaussians"), ("swiss", "Swiss roll")) for L in (6, 30)],
]
PEERS = ["pfgmpp-digits-gen", "pfgmpp-toy-swiss"]  # PFGM++ (efm_core.pfgm), a baseline without a flow-matching twin
TWINS = ("", "fm-", "ifm-")  # EFM, its flow-matching twin and its IFM twin (the same task at the same CPU budget)


def _to_rgb(images: torch.Tensor) -> torch.Tensor:
    """(n, C, 8, 8) in [-1, 1] -> (n, 8, 8, 3) in [0, 1]."""
    x = ((images.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1)
    return x.expand(-1, -1, -1, 3) if x.shape[-1] == 1 else x


def _tile(images: torch.Tensor, cols: int) -> torch.Tensor:
    """(n, h, w, 3) -> one mosaic (rows * (h + 1), cols * (w + 1), 3) with 1-pixel grey gutters."""
    n, h, w, _ = images.shape
    rows = -(-n // cols)
    canvas = torch.full((rows * (h + 1) + 1, cols * (w + 1) + 1, 3), 0.35)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = images[i]
    return canvas


def _save(fig: plt.Figure, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMAGES / f"{name}.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def digits_grid(name: str) -> None:
    ckpt = load_checkpoint(PRETRAINED / name)
    x = generate(ckpt.net, ckpt.config, 100, seed=0).x
    fig, ax = plt.subplots(figsize=(5, 5) if x.shape[-1] <= 8 else (9, 9))  # 28x28 tiles at about 84 px
    ax.imshow(_tile(_to_rgb(x), 10).numpy(), interpolation="nearest")
    ax.set_title(f"{name}: 100 samples (seed 0)")
    ax.axis("off")
    _save(fig, name)


def translation_grid(name: str) -> None:
    ckpt = load_checkpoint(PRETRAINED / name)
    twos = make_source({"kind": "coloured_digits", "classes": [2], "split": "test"}).reference(12, 0)
    threes = make_source({"kind": "coloured_digits", "classes": [3], "split": "test"}).reference(12, 1)
    rows = [twos, translate(ckpt.net, ckpt.config, twos).x, threes, translate(ckpt.net, ckpt.config, threes, reverse=True).x]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.imshow(_tile(_to_rgb(torch.cat(rows)), 12).numpy(), interpolation="nearest")
    ax.set_title(f"{name}: held-out 2s -> 3s (rows 1-2), 3s -> 2s backwards (rows 3-4)")
    ax.axis("off")
    _save(fig, name)


def toy_scatter(name: str) -> None:
    ckpt = load_checkpoint(PRETRAINED / name)
    x = generate(ckpt.net, ckpt.config, 1000, seed=0).x
    target = make_source(ckpt.config.p if ckpt.config.one_plate else ckpt.config.q).reference(1000, 1)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(target[:, 0], target[:, 1], s=3, c="0.7", label="target")
    ax.scatter(x[:, 0], x[:, 1], s=3, c="tab:blue", label="transported")
    lo, hi = target.min(0).values - 3, target.max(0).values + 3  # frame of the target; count what falls outside
    outside = int(((x < lo) | (x > hi)).any(1).sum())
    ax.set_xlim(float(lo[0]), float(hi[0]))
    ax.set_ylim(float(lo[1]), float(hi[1]))
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    ax.set_title(f"{name}\n1000 samples, {outside} outside the frame", fontsize=9)
    _save(fig, name)


CASE_COLOURS = {"front": "tab:blue", "behind": "tab:orange", "backward": "tab:green", "lost": "black"}


def _draw_lines(ax: plt.Axes, paths: list[torch.Tensor], cases: torch.Tensor, L: float, title: str) -> None:
    """Lines projected on the (x1, z) plane, coloured by case, with the plates and a legend with the case shares."""
    for path, case in zip(paths, cases.tolist(), strict=True):
        ax.plot(path[:, 0], path[:, -1], lw=0.5, color=CASE_COLOURS[CASES[case]], alpha=0.7)
    for z, colour in ((0.0, "tab:red"), (L, "tab:purple")):
        ax.axhline(z, color=colour, lw=1.5)
    for i, name in enumerate(CASES):
        ax.plot([], [], color=CASE_COLOURS[name], label=f"{name} {float((cases == i).double().mean()):.0%}")
    ax.set_xlim(-30, 30)
    ax.set_ylim(-25, L + 25)
    ax.set_xlabel("x1 (data units)")
    ax.set_ylabel("z (data units)")
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title(title, fontsize=9)


def two_sided_lines(name: str, n: int = 150) -> None:
    """docs/images/NAME-lines.png: n learned two-sided lines beside the exact lines of 1024 charges a plate from the
    same start points (P plate red at z = 0, Q plate purple at z = L; lines beyond the frame are cut)."""
    ckpt = load_checkpoint(PRETRAINED / name)
    config = ckpt.config
    g = torch.Generator().manual_seed(0)
    P, Q = make_source(config.p), make_source(config.q)
    starts = P.sample(n, g)
    learned = transport_two_sided(space_field(ckpt.net), starts, 0.0, config.L, config.L, seed=1, return_path=True)
    plates = make_plates(P.sample(1024, g), Q.sample(1024, g), config.L)
    exact = transport_trace(plates, starts, sides="both", seed=1, return_paths=True, dtype=torch.float32)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5), sharey=True)
    _draw_lines(axes[0], list(learned.path.transpose(0, 1)), learned.case, config.L, f"learned field ({name})")
    _draw_lines(axes[1], exact.paths, exact.case, config.L, "exact field, 1024 charges a plate")
    fig.suptitle(f"{n} lines from the same points of P, side chosen by the flux share; projection on (x1, z)", fontsize=9)
    _save(fig, f"{name}-lines")


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else "–" if value is None else str(value)


def table() -> str:
    """Markdown: one row per task, EFM, FM and IFM metrics side by side, with steps and CPU minutes."""
    lines = ["| task | metric | EFM | flow matching | IFM |", "|---|---|---|---|---|"]
    for name, task, keys in TASKS:
        cards = [json.loads((PRETRAINED / f"{prefix}{name}.json").read_text()) for prefix in TWINS]
        budget = " | ".join(f"{c['steps']} / {c['cpu_minutes']}" for c in cards)
        lines.append(f"| {task} (`{name}`) | steps / CPU min | {budget} |")
        for key in keys:
            lines.append(f"| | {key} | " + " | ".join(_fmt(c["metrics"].get(key)) for c in cards) + " |")
    return "\n".join(lines)


def _headline(metrics: dict) -> str:
    if "precision" in metrics:
        return (f"precision {metrics['precision']:.2f}, recall {metrics['recall']:.2f}, classes "
                f"{100 * metrics['class_share_min']:.1f}-{100 * metrics['class_share_max']:.1f} %, near-copies "
                f"{100 * metrics['memorised_share']:.0f} %")
    if "read_as_target" in metrics:
        return f"read as 3 {100 * metrics['read_as_target']:.1f} %, hue kept {100 * metrics['hue_kept_share']:.1f} %"
    return (f"W2 {metrics['w2']:.2f} = {metrics['w2_over_floor']:.2f}x floor, bad lines "
            f"{100 * metrics['transport_bad_share']:.1f} %")


def cards_table() -> str:
    """Markdown: one row per shipped checkpoint (pretrained/README.md's model cards)."""
    lines = ["| name | method | L | pairs | net | steps | CPU min | size (MB) | metrics at save time (1000 items) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for full in [prefix + name for name, _, _ in TASKS for prefix in TWINS] + PEERS:
        card = json.loads((PRETRAINED / f"{full}.json").read_text())
        config, net = card["config"], card["config"]["net"]
        size = (PRETRAINED / f"{full}.safetensors").stat().st_size / 2**20
        pairing = config.get("method", {}).get("plan") or config["sampler"].get("pairing", "independent")
        pairs = pairing if config["q"] is not None else "–"
        size_text = f"{net['channels']} ch {net.get('mults')}" if "channels" in net else f"{net.get('width')}x{net.get('depth')}"
        method = {"pfgmpp": "PFGM++"}.get(config["objective"], config["objective"].upper())
        lines.append(f"| `{full}` | {method} | {config['L']:g} | {pairs} | {net['kind']} "
                     f"{size_text} | {card['steps']} | {card['cpu_minutes']} | {size:.1f} | "
                     f"{_headline(card['metrics'])} |")
    return "\n".join(lines)


def main(only: list[str]) -> None:
    """Pictures of every task (or of the tasks named in ``only``, e.g. ``fashion-gen``), then both tables."""
    plt.switch_backend("Agg")
    torch.set_num_threads(1)
    grids = {"digits-gen": digits_grid, "fashion-gen": digits_grid, "cdigits-2to3": translation_grid, PEERS[0]: digits_grid}
    runs = [(name, prefix + name) for name, _, _ in TASKS for prefix in TWINS] + [(n, n) for n in PEERS]
    for name, full in runs:
        if (only and name not in only) or not (PRETRAINED / f"{full}.json").is_file():
            continue
        grids.get(name, toy_scatter)(full)
        if load_checkpoint(PRETRAINED / full).config.solver.get("kind") == ARC:
            two_sided_lines(full)
    print(cards_table(), table(), sep="\n\n")


if __name__ == "__main__":
    main(sys.argv[1:])
