"""Session state of the app: the scene (which charges sit on which plate), presets, URL query parameters, uploads.

No drawing and no physics here. Widget values (L, number of lines, ...) live in ``st.session_state`` under the keys
in ``WIDGETS`` and travel in the URL through Streamlit's own ``bind="query-params"``; the widget helpers in
``app/ui.py`` pass ``WIDGETS[key]`` to every widget, so bounds, defaults and URL names are defined once, here.
Hand-built charges are not widgets: they live under ``CUSTOM_KEYS`` and are written to / read from the URL by
``write_custom_to_url`` / ``read_custom_from_url`` (small sets only, so that a link stays short).

Charges of a plate are an array of rows ``(x_1, ..., x_D, q)``: data coordinates and a positive charge magnitude
(each plate's magnitudes are normalised to total charge 1 by ``efm_core.make_plates``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from efm_core import TOYS
from efm_core.data.files import parse_point_cloud

MAX_CHARGES = 4096  # per plate: uploads and hand-built sets above this are refused
MAX_TOY_CHARGES = 2048  # the charges-per-plate control's upper end
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_CSV_LINE = 1 << 17  # characters of one uploaded CSV line (the csv module's limit; a charge row needs < 100)
SWEEP_LINES = 256  # lines of each kind at every L of the L sweep: Theorem 3.1's default and Why large L is hard's
URL_MAX_CUSTOM = 32  # hand-built plates with at most this many charges are written into the URL
COORD_LIMIT = 1e4  # |coordinate| above this is refused (the views and the tracer are sized for toys)
CUSTOM_KEYS = {"pos": "custom_pos", "neg": "custom_neg"}
PLATE_NAMES = {"pos": "P (positive plate, z = 0)", "neg": "Q (negative plate, z = L)"}

TOY_LABELS = {
    "gaussian": "Gaussian N(0, I)",
    "two_gaussians": "Two Gaussians (modes at ±8)",
    "swiss_roll": "Swiss roll",
    "two_moons": "Two moons",
    "eight_gaussians": "Eight Gaussians",
    "rings": "Three rings",
    "checkerboard": "Checkerboard",
    "uniform_disc": "Uniform disc (radius 3)",
    "single_point": "Single point charge",
}
assert set(TOY_LABELS) == set(TOYS), "every toy of efm_core.data needs a label here"


@dataclass(frozen=True)
class Preset:
    """A starting scene: the toy on each plate (or hand-built charges), L, charges per plate and data dimension."""

    label: str
    p_toy: str
    q_toy: str
    L: float
    n_charges: int
    D: int = 2
    hand_pos: tuple[tuple[float, ...], ...] | None = None  # rows (x..., q) for hand-built scenes
    hand_neg: tuple[tuple[float, ...], ...] | None = None


PRESETS: dict[str, Preset] = {
    "paper_mixture": Preset("Gaussian → two Gaussians (paper)", "gaussian", "two_gaussians", 6.0, 256),
    "paper_swiss": Preset("Gaussian → Swiss roll (paper)", "gaussian", "swiss_roll", 6.0, 256),
    "charge_pair": Preset("One charge pair (dipole)", "single_point", "single_point", 4.0, 1),
    "capacitor": Preset("Capacitor (two uniform discs)", "uniform_disc", "uniform_disc", 1.0, 256),
    "moons_8g": Preset("Two moons → eight Gaussians", "two_moons", "eight_gaussians", 6.0, 256),
    "flat_1d": Preset("1-D: Gaussian → two Gaussians (plates are lines)", "gaussian", "two_gaussians", 6.0, 128, D=1),
    "hand": Preset(
        "Hand-built: two + charges, one − charge",
        "gaussian",
        "gaussian",
        4.0,
        256,
        hand_pos=((-3.0, 0.0, 1.0), (3.0, 0.0, 1.0)),
        hand_neg=((0.0, 0.0, 1.0),),
    ),
}


@dataclass(frozen=True)
class Widget:
    """Bounds, default and help of one widget-backed setting (its session_state key is also its URL name)."""

    default: Any
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    help: str = ""


SOLVER_HELP = (
    "How points are moved along a learned field from z = 0 to z = L: Euler (Algorithm 2 of the paper, one network call "
    "per step), Heun (Heun's method: a second-order step that averages the slopes at the start and at a trial Euler "
    "step; two calls per step, more accurate) or adaptive Dormand-Prince (RK45, step size chosen per line)."
)
STEPS_HELP = (
    "Steps in z of the solver (for the adaptive solver: the first step size, L / steps). More steps: more accurate "
    "lines, more network calls (NFE, the number of function evaluations)."
)


def solver_widgets(page: str) -> dict[str, Widget]:
    """The solver and its step count of one page, under ``{page}_solver`` and ``{page}_solver_steps``."""
    return {f"{page}_solver": Widget("heun", help=SOLVER_HELP), f"{page}_solver_steps": Widget(50, 2, 400, 1, STEPS_HELP)}


WIDGETS: dict[str, Widget] = {
    "preset": Widget("paper_mixture", help="A ready-made scene. Choosing one replaces both plates' charges and L."),
    "D": Widget(2, help="Data dimension D. D = 2: plates are planes in 3-D space. D = 1: plates are lines in a 2-D picture."),
    "p_toy": Widget("gaussian", help="Distribution P whose samples are the positive charges on the plate z = 0."),
    "q_toy": Widget("two_gaussians", help="Distribution Q whose samples are the negative charges on the plate z = L."),
    "n_charges": Widget(256, 1, MAX_TOY_CHARGES, 1, "Samples (charges) drawn for each plate. More charges: smoother field, slower tracing."),
    "seed": Widget(0, 0, 10_000, 1, "Random seed of the samples on both plates (Q uses seed + 1) and of the line starts."),
    "L": Widget(6.0, 0.5, 60.0, 0.5, "Distance between the plates. The paper's learned sampler maps P to Q much better at L = 6 than at "
                 "L = 30, because the lines at L = 30 run far outside where it was taught (page Why large L is hard)."),
    "n_lines": Widget(64, 4, 256, 4, "How many field lines are traced and drawn (starts are spread over P's charges)."),
    "sides": Widget(
        "both",
        help="Two-sided: each line leaves its P charge in a direction drawn uniformly (so, by flux, also backwards). "
        "Forward only: every line starts towards Q, as a sampler that follows the field forwards in z does.",
    ),
    "land_k": Widget(256, 64, 1024, 64, "Lines traced from P's charges for the landing check, for each kind of start. "
                     "About 256 are needed to tell the two kinds apart; they are traced in the background."),
    "cones": Widget(False, help="Draw arrows (cones) along the lines showing the field's direction."),
    "sigma": Widget(0.1, 0.0, 2.0, 0.05, "Noise σ of the training-point sampler (the cloud of points a network would be taught on)."),
    "cloud": Widget(False, help="Show the training-point cloud between the plates (interpolations between P and Q plus noise σ)."),
    "probe_y": Widget(0.0, -20.0, 20.0, 0.5, "The slice through the 3-D space: points with second coordinate x₂ equal to this value."),
    "thm_preset": Widget("behind", help="Put the start where its line shows this case of Theorem 3.1 (found by tracing from a few P points)."),
    "thm_line": Widget("forward", help="Which of the start's two lines the chart below follows."),
    "sweep_lines": Widget(SWEEP_LINES, 32, 1024, 32, "Lines traced at every L of the sweep, for each kind of start. More: less noisy curves, slower."),
    "hd_shift": Widget(4.0, 0.0, 20.0, 0.5, "Distance between the means of the two Gaussians P and Q (along the first axis)."),
    "hd_n": Widget(256, 16, 2048, 16, "Charges on each plate (samples of P and Q)."),
    "hd_L": Widget(6.0, 0.5, 60.0, 0.5, "Distance between the plates in the high-dimension demo."),
    # Start here: one control per step
    "start_n": Widget(32, help="Samples (charges) on each plate."),
    "start_lines": Widget(24, 8, 64, 8, "How many field lines leave P's charges (spread over the charges, directions uniform)."),
    "start_case": Widget("backward", help="Show only the lines that end this way."),
    "start_D": Widget(128, help="Data dimension D of two Gaussians P and Q (128 charges each, means 4 apart, L = 6)."),
    "start_seed": Widget(0, 0, 10_000, 1, "Seed of the starting noise."),
    # learned fields (Training lab, Translation, Generation): each page keeps its own solver settings (``solver_widgets``)
    **solver_widgets("lab"), **solver_widgets("tr"), **solver_widgets("gen"),
    "lab_sigma": Widget(0.1, 0.0, 2.0, 0.05, "Noise σ of the training-point sampler: the mid-gap standard deviation of the "
                        "points the network is taught at (none at the plates)."),
    "lab_y": Widget(0.0, -20.0, 20.0, 0.5, "The slice of the error map: points with second coordinate x₂ equal to this value."),
    "lab_width": Widget(128, help="Width of the network's hidden layers (an MLP with 3 residual blocks). Wider: fits the field "
                        "better per step, but each step is slower."),
    "lab_steps": Widget(2000, 100, 20000, 100, "Training steps of each model (Adam, 256 training points per step, cosine "
                        "learning-rate decay to the last step)."),
    "lab_lr": Widget(1e-3, help="Peak learning rate of Adam (after a short warm-up). Too large: the loss jumps or training "
                     "stops; too small: slow progress."),
    "lab_two_sided": Widget(False, help="Teach the network the field in the whole space, not only between the plates, and "
                            "move points with Theorem 3.1's map: each line leaves P on the side given by the flux there "
                            "(backwards too), loops round the outside if it must, and ends on Q by the plate rule. "
                            "Without it EFM follows the field forwards in z, as the paper's Algorithm 2."),
    "lab_fm": Widget(True, help="Also train conditional flow matching on the same charges with the same network, steps, "
                     "learning rate and seed (the same budget), to compare."),
    "lab_pfgmpp": Widget(False, help="Also train PFGM++ (Xu et al., 2023) on Q's charges alone, with the same network, steps, "
                         "learning rate and seed. It has no P: its samples start on its own prior far out (D_aug = 4 extra "
                         "dimensions) and are carried to Q, so it has no lines beside E's and no angle map; its end points "
                         "and its W2 / energy distance to Q are shown beside the others."),
    "tr_dir": Widget("2to3", help="Translate coloured 2s into 3s, or 3s into 2s (the same field run backwards, or its own "
                     "checkpoint if one is shipped)."),
    "tr_seed": Widget(0, 0, 10_000, 1, "Seed of the gallery's random hues (the inputs are held-out digits the models never saw)."),
    "tr_pick": Widget([0, 1, 2, 3], help="Gallery images to translate and show with their trajectory strips (click tiles "
                      "in the gallery, or these chips)."),
    "gen_model": Widget("pretrained", help="Generate with the shipped checkpoint (with flow matching beside it) or with a "
                        "checkpoint you upload. A checkpoint is a trained network in two files, NAME.safetensors (weights) "
                        "and NAME.json (its model card); in the shipped names `fm-` means flow matching (no prefix: EFM), "
                        "`-gen` generation from noise (Terms on this page: every part of the names)."),
    "gen_seed": Widget(0, 0, 100_000, 1, "Seed of the starting noise. Sample i always starts from the same noise for a given "
                       "seed, whatever the number of samples."),
    "gen_n": Widget(16, 1, 64, 1, "Number of samples to generate."),
    "gen_data": Widget("digits", help="The data the shipped pair of checkpoints generates: scikit-learn's 8×8 digits (D = 64) "
                       "or Fashion-MNIST's 28×28 pictures of clothing (D = 784). Each keeps its own samples and solver steps."),
    "gen_f_n": Widget(8, 1, 32, 1, "Number of 28×28 samples to generate. A 28×28 sample costs the U-Net far more than an 8×8 "
                      "digit costs its net, so the default is small: the page stays quick on a CPU."),
    "gen_f_solver_steps": Widget(15, 2, 200, 1, STEPS_HELP + " The Fashion-MNIST checkpoints were evaluated at Heun, 15 steps."),
    "hd_data": Widget("digits", help="The real data beside the Gaussians: noise → scikit-learn's 8×8 digits (D = 64) or noise → "
                      "Fashion-MNIST's 28×28 clothing (D = 784), as many charges per plate, the same L."),
}


def defaults() -> dict[str, Any]:
    """Default value of every widget-backed setting, by key."""
    return {key: w.default for key, w in WIDGETS.items()}


CUSTOM = "custom"  # the Preset box's entry for a scene that matches no preset (edited by hand)
PRESET_LABELS = {**{k: p.label for k, p in PRESETS.items()}, CUSTOM: "Custom (edited by hand)"}


def _same_rows(rows: Any, hand: tuple | None) -> bool:
    if rows is None or hand is None:
        return rows is None and hand is None
    return np.shape(rows) == np.shape(hand) and np.allclose(rows, hand)


def matching_preset(state: Mapping[str, Any]) -> str:
    """The preset whose toys, charges per plate, D and hand-built charges ``state`` holds, else ``CUSTOM``. L is
    not compared: it has its own control (and the L = 6 / 30 buttons), and a preset's charges at another L are still
    that preset's scene."""
    value = {k: state.get(k, WIDGETS[k].default) for k in ("p_toy", "q_toy", "n_charges", "D")}
    rows = {side: state.get(key) for side, key in CUSTOM_KEYS.items()}
    for name, p in PRESETS.items():
        hand = {"pos": p.hand_pos, "neg": p.hand_neg}
        if not all(_same_rows(rows[s], hand[s]) for s in CUSTOM_KEYS):
            continue
        toys_used = rows["pos"] is None or rows["neg"] is None
        if int(value["D"]) != p.D:
            continue
        if toys_used and (value["p_toy"], value["q_toy"], int(value["n_charges"])) != (p.p_toy, p.q_toy, p.n_charges):
            continue
        return name
    return CUSTOM


def apply_preset(state: MutableMapping[str, Any], name: str) -> None:
    """Write preset ``name`` into ``state`` (a session_state or a dict): toys, L, charges per plate, D, hand-built charges.

    ``CUSTOM`` keeps the scene as it is. Raises ValueError for an unknown preset.
    """
    if name == CUSTOM:
        state["preset"] = CUSTOM
        return
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESET_LABELS)}.")
    p = PRESETS[name]
    state["preset"] = name
    state["p_toy"], state["q_toy"] = p.p_toy, p.q_toy
    state["L"], state["n_charges"], state["D"] = p.L, p.n_charges, p.D
    for side, rows in (("pos", p.hand_pos), ("neg", p.hand_neg)):
        state[CUSTOM_KEYS[side]] = None if rows is None else np.asarray(rows, dtype=np.float64)


def fit_dimension(rows: np.ndarray | None, D: int) -> np.ndarray | None:
    """Hand-built rows (n, D'+1) adapted to dimension D: extra coordinates dropped, missing ones set to 0."""
    if rows is None or rows.shape[1] == D + 1:
        return rows
    coords, q = rows[:, :-1], rows[:, -1:]
    if coords.shape[1] > D:
        coords = coords[:, :D]
    else:
        coords = np.concatenate([coords, np.zeros((coords.shape[0], D - coords.shape[1]))], axis=1)
    return np.concatenate([coords, q], axis=1)


# ---------------------------------------------------------------------------------------------- charges as tables
def check_charges(rows: object, D: int, what: str = "the charges") -> np.ndarray:
    """Validate hand-built / uploaded charges: returns float64 (n, D+1) rows (x_1..x_D, q).

    Accepts (n, D) coordinates (every charge gets magnitude 1) or (n, D+1) with the magnitude last.
    Raises ValueError saying what is wrong and how to fix it.
    """
    try:
        arr = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: could not read the values as numbers; use plain decimal numbers only.") from None
    if arr.ndim == 1 and D == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{what}: expected a table (one charge per row); got an array of shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError(f"{what}: no charges. A plate needs at least one charge.")
    if arr.shape[0] > MAX_CHARGES:
        raise ValueError(
            f"{what}: {arr.shape[0]} charges, but the app takes at most {MAX_CHARGES} per plate "
            "(the tracer would be too slow to be interactive). Subsample the file and upload it again."
        )
    if arr.shape[1] == D:
        arr = np.concatenate([arr, np.ones((arr.shape[0], 1))], axis=1)
    if arr.shape[1] != D + 1:
        raise ValueError(
            f"{what}: {arr.shape[1]} columns, but in dimension D = {D} a charge has {D} coordinate(s) "
            f"and an optional magnitude, i.e. {D} or {D + 1} columns."
        )
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise ValueError(f"{what}: {bad} row(s) contain empty, NaN or infinite values; fill them in or delete them.")
    if np.abs(arr[:, :-1]).max() > COORD_LIMIT:
        raise ValueError(f"{what}: coordinates must lie within ±{COORD_LIMIT:g}; rescale the data.")
    if (arr[:, -1] <= 0).any():
        raise ValueError(
            f"{what}: charge magnitudes must be > 0 (the sign comes from the plate: P positive, Q negative); "
            f"{int((arr[:, -1] <= 0).sum())} row(s) are not."
        )
    return arr


def parse_upload(name: str, data: bytes, D: int) -> np.ndarray:
    """Parse an uploaded point cloud (CSV or NPY, by its suffix) into validated rows (n, D+1); see ``check_charges``.

    CSV: one charge per row, ``D`` coordinates and an optional magnitude; a header line is allowed.
    NPY: a numeric array of shape (n, D) or (n, D+1); pickled objects are refused. The bytes are read by the core's
    one parser, ``efm_core.data.files.parse_point_cloud``, with the app's row and size limits.
    """
    label = f"upload {name!r}"
    lower = name.lower()
    fmt = "npy" if lower.endswith(".npy") else "csv" if lower.endswith((".csv", ".txt")) else None
    if fmt is None:
        raise ValueError(f"{label}: unknown file type; upload a .csv (one charge per row) or a .npy array.")
    cloud = parse_point_cloud(data, label, max_points=MAX_CHARGES, max_bytes=MAX_UPLOAD_BYTES, fmt=fmt, max_line=MAX_CSV_LINE)
    return check_charges(cloud.numpy(), D, label)


def table_key(side: str, rows: np.ndarray) -> str:
    """Widget key of a plate's charge table: a new table (no stale edits) whenever the rows change."""
    return f"table_{side}_{hashlib.md5(np.ascontiguousarray(rows).tobytes()).hexdigest()[:10]}"


def charges_csv(rows: np.ndarray) -> str:
    """Rows (n, D+1) as CSV text with a header x1..xD, q (the format ``parse_upload`` reads back)."""
    D = rows.shape[1] - 1
    head = ",".join([f"x{i + 1}" for i in range(D)] + ["q"])
    return head + "\n" + "\n".join(",".join(f"{v:.6g}" for v in r) for r in rows) + "\n"


# ------------------------------------------------------------------------------------------------ URL round trip
def encode_charges(rows: np.ndarray) -> str:
    """Compact URL text for a few charges: ``x:y:q_x:y:q`` -> rows joined by '_' and values by ':'."""
    return "_".join(":".join(f"{v:.4g}" for v in r) for r in rows)


def decode_charges(text: str, D: int) -> np.ndarray:
    """Inverse of ``encode_charges``, validated; raises ValueError for malformed text."""
    try:
        rows = [[float(v) for v in part.split(":")] for part in text.split("_") if part]
    except ValueError:
        raise ValueError(f"could not read charges from {text[:40]!r}: expected numbers separated by ':' and '_'.") from None
    if len({len(r) for r in rows}) > 1:
        raise ValueError("charges in the link have different numbers of values per charge.")
    return check_charges(rows, D, "charges in the link")


def read_custom_from_url(query: Mapping[str, str], D: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Hand-built charges found in the query parameters ``cpos`` / ``cneg``; returns (rows by side, warnings)."""
    found: dict[str, np.ndarray] = {}
    warnings: list[str] = []
    for side in ("pos", "neg"):
        text = query.get("c" + side)
        if not text:
            continue
        try:
            found[side] = decode_charges(text, D)
        except ValueError as err:
            warnings.append(f"Ignored the link's {PLATE_NAMES[side]} charges: {err}")
    return found, warnings


def custom_url_params(custom: Mapping[str, np.ndarray | None]) -> dict[str, str]:
    """Query parameters for the hand-built plates that are small enough to share (``cpos`` / ``cneg``)."""
    out = {}
    for side, rows in custom.items():
        if rows is not None and rows.shape[0] <= URL_MAX_CUSTOM:
            out["c" + side] = encode_charges(rows)
    return out


# ------------------------------------------------------------------------------- non-widget state (+ its URL part)
EXTRA_KEYS = {"probe": "field_lines", "thm_start": "theorem"}  # points chosen by clicking (tuples of floats, None when
# not chosen) and the page (its script's name) whose link carries each


def encode_point(point: tuple[float, ...]) -> str:
    return ":".join(f"{v:.4g}" for v in point)


def decode_point(text: str, size: int) -> tuple[float, ...]:
    """A point written by ``encode_point`` with ``size`` finite coordinates; ValueError otherwise."""
    try:
        values = tuple(float(v) for v in text.split(":"))
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a list of numbers separated by ':'.") from None
    if len(values) != size or not all(np.isfinite(values)) or max(abs(v) for v in values) > COORD_LIMIT:
        raise ValueError(f"{text[:40]!r} must be {size} finite numbers within ±{COORD_LIMIT:g}.")
    return values


def check_url_values(query: Mapping[str, str]) -> dict[str, str]:
    """The link's widget values that Streamlit would replace or round silently, each with a warning: a number that is
    not a number, outside its widget's bounds, or not a whole number where one is needed (``n_charges=1.5``), and a
    toy, preset or D that does not exist (a choice may be written as its key or its label)."""
    toys = {*TOY_LABELS, *TOY_LABELS.values()}
    choices = {"preset": {*PRESETS, *(p.label for p in PRESETS.values())}, "p_toy": toys, "q_toy": toys, "D": {"1", "2"}}
    bad = {}
    for key, text in query.items():
        w = WIDGETS.get(key)
        if w is None:
            continue
        problem = None
        if key in choices:
            problem = None if str(text) in choices[key] else "is not one of the choices"
        elif w.lo is not None and w.hi is not None:
            try:
                value = float(text)
            except ValueError:
                value, problem = None, "is not a number"
            if value is not None and (not np.isfinite(value) or not w.lo <= value <= w.hi):
                problem = f"is outside {w.lo:g} … {w.hi:g}"
            elif value is not None and isinstance(w.default, int) and value != int(value):
                problem = "is not a whole number"
        if problem is not None:
            bad[key] = (f"The link's {key} = {str(text)[:40]!r} {problem}, so the app replaced it by a valid value (the "
                        f"default is {w.default!r}): check that control before you rely on the picture.")
    return bad


def init_session(ss: MutableMapping[str, Any], query: MutableMapping[str, str]) -> list[str]:
    """Once per session: hand-built charges and clicked points from the URL (validated), else empty.

    Returns warnings about parts of the link that were ignored or replaced. Widget values are restored by Streamlit
    itself; the values ``check_url_values`` finds invalid are removed from ``query`` first, with a warning each, so
    that the widgets start at their defaults (Streamlit's own parser raised OverflowError on ``n_charges=inf``).
    """
    if ss.get("_session_ready"):
        return []
    try:
        D = int(query.get("D", WIDGETS["D"].default))
    except ValueError:
        D = WIDGETS["D"].default
    D = D if D in (1, 2) else WIDGETS["D"].default
    bad = check_url_values(query)
    for key in bad:
        del query[key]
    ss["_link_changed"] = bool(bad)  # the router re-seeds the widgets from the cleaned link (ui.reseed_from_link)
    found, warnings = read_custom_from_url(query, D)
    warnings = list(bad.values()) + warnings
    for side, key in CUSTOM_KEYS.items():
        ss[key] = found.get(side)
    for key, size in (("probe", D + 1), ("thm_start", D)):
        ss[key] = None
        if query.get(key):
            try:
                ss[key] = decode_point(query[key], size)
            except ValueError as err:
                warnings.append(f"Ignored the link's {key}: {err}")
    ss["_session_ready"] = True
    return warnings


def keep_settings_across_page_switch(ss: MutableMapping[str, Any], page: str) -> list[str]:
    """At the start of a full run on ``page``: after a switch from another page, put back every setting that the
    switch reset to its default (returns their keys); then remember where this run is.

    Streamlit keeps widget values across pages (``persist_state="session"``), but a page switch that arrives while a
    fragment of the old page is being redrawn can carry the widgets' mount-time defaults from the browser (seen on
    2 shared cores: L = 12 on Field lines came back as 6 on the next page). A page switch carries no edit of a
    setting, so a value that fell back to its default there is restored from the last completed run
    (``remember_settings``); a setting the user set to its default stays, since the remembered value is that default.
    """
    saved: dict[str, Any] = ss.get("_settings") or {}
    restored = []
    if ss.get("_settings_page") not in (None, page):
        for key, value in saved.items():
            default = WIDGETS[key].default
            if value != default and ss.get(key, default) == default:
                ss[key] = value
                restored.append(key)
    ss["_settings_page"] = page
    return restored


def remember_settings(ss: MutableMapping[str, Any]) -> None:
    """At the end of a completed full run: the value of every setting, for ``keep_settings_across_page_switch``."""
    ss["_settings"] = {key: ss[key] for key in WIDGETS if key in ss}


def url_extras(ss: Mapping[str, Any], page: str, scene_page: bool) -> dict[str, str | None]:
    """Query parameters for the non-widget state of ``page`` (its script's name; None: remove the parameter): the
    hand-built charges on a page with the scene sidebar, a clicked point on its own page only."""
    custom = custom_url_params({side: ss.get(key) for side, key in CUSTOM_KEYS.items()}) if scene_page else {}
    out: dict[str, str | None] = {"cpos": custom.get("cpos"), "cneg": custom.get("cneg")}
    for key, owner in EXTRA_KEYS.items():
        value = ss.get(key)
        out[key] = None if value is None or owner != page else encode_point(value)
    return out
