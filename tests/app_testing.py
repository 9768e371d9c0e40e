"""Helpers for the app tests (imported by tests/test_app_*.py and tests/test_figures.py; not a test module)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
# small scenes keep every AppTest run well under a second of tracing
SMALL = {"n_charges": "32", "n_lines": "8", "land_k": "64", "sweep_lines": "32", "hd_n": "32"}


def decode(value: object) -> np.ndarray:
    """A Plotly figure array: a plain list or a base64 typed array {"dtype", "bdata"} -> numpy (None -> NaN)."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            shape = value["shape"]
            arr = arr.reshape([int(v) for v in shape.split(",")] if isinstance(shape, str) else shape)
        return arr
    return np.array([np.nan if v is None else v for v in value], dtype=float) if isinstance(value, list) and value and not isinstance(value[0], list) else np.asarray(value, dtype=float)


def app_test(page: str | None = None, **params: str):
    """An AppTest of the whole app with small scene defaults (overridable as URL parameters), run once on ``page``
    (a script path such as "app/pages/field_lines.py"; default: the default page, Start here)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in {**SMALL, **params}.items():
        at.query_params[key] = value
    if page is not None:
        at.switch_page(page)  # the first run is on that page: the default page (Start here) is not run first
    at.run()
    return at


def charts(at) -> list[dict]:
    """Every Plotly figure on the page as its JSON (``data``, ``layout``, ``frames``)."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart(at, trace_name_prefix: str) -> dict:
    """The first figure holding a trace whose name starts with ``trace_name_prefix``."""
    for fig in charts(at):
        if any(str(t.get("name", "")).startswith(trace_name_prefix) for t in fig["data"]):
            return fig
    raise AssertionError(f"no chart with a trace named {trace_name_prefix!r}; charts: {[[t.get('name') for t in f['data']] for f in charts(at)]}")


def has_chart(at, trace_name_prefix: str) -> bool:
    return any(any(str(t.get("name", "")).startswith(trace_name_prefix) for t in fig["data"]) for fig in charts(at))


def trace(fig: dict, name_prefix: str) -> dict:
    for t in fig["data"]:
        if str(t.get("name", "")).startswith(name_prefix):
            return t
    raise AssertionError(f"no trace {name_prefix!r} in {[t.get('name') for t in fig['data']]}")


def names(fig: dict) -> list[str]:
    return [str(t.get("name")) for t in fig["data"]]


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def select(at, key: str, points: list[dict]) -> None:
    """Simulate a Plotly selection on the chart with widget key ``key`` (read dict-style by the app), then run."""
    at.session_state[key] = {"selection": {"points": points, "point_indices": [p.get("point_index", 0) for p in points], "box": [], "lasso": []}}
    at.run()


def wait_for(at, done, timeout: float = 60.0) -> None:
    """Rerun ``at`` until ``done(at)`` holds (background results arrive between runs)."""
    end = time.monotonic() + timeout
    while not done(at):
        assert time.monotonic() < end, "timed out waiting for a background result"
        time.sleep(0.3)
        at.run()


def case_counts(fig: dict) -> dict[str, int]:
    """Line counts per case from the legend names 'case (count)' of a field-line figure."""
    out = {}
    for name in names(fig):
        head, _, rest = name.partition(" (")
        if head in ("front", "behind", "backward", "lost") and rest.endswith(")"):
            out[head] = int(rest[:-1])
    return out
