"""Downloadable text: field lines and their end points as CSV (pure functions, no Streamlit)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _fmt(values: Sequence[float]) -> str:
    return ",".join(f"{v:.6g}" for v in values)


def _coords(D: int) -> list[str]:
    return [f"x{i + 1}" for i in range(D)] + ["z"]


def lines_csv(paths: Sequence[np.ndarray], cases: Sequence[str]) -> str:
    """Every line as a polyline: ``line,case,point,x1..xD,z`` (one row per point, z last)."""
    D = paths[0].shape[1] - 1 if len(paths) else 1
    out = [",".join(["line", "case", "point"] + _coords(D))]
    for i, (path, case) in enumerate(zip(paths, cases, strict=True)):
        out.extend(f"{i},{case},{j},{_fmt(pt)}" for j, pt in enumerate(path))
    return "\n".join(out) + "\n"


def endpoints_csv(paths: Sequence[np.ndarray], cases: Sequence[str]) -> str:
    """Start and end of every line: ``line,case,start_x1..start_z,end_x1..end_z``."""
    D = paths[0].shape[1] - 1 if len(paths) else 1
    names = _coords(D)
    out = [",".join(["line", "case"] + [f"start_{c}" for c in names] + [f"end_{c}" for c in names])]
    out.extend(f"{i},{case},{_fmt(p[0])},{_fmt(p[-1])}" for i, (p, case) in enumerate(zip(paths, cases, strict=True)))
    return "\n".join(out) + "\n"


def points_csv(sets: dict[str, np.ndarray]) -> str:
    """Points of several named sets: ``set,x1..xD`` (one row per point)."""
    D = next((p.shape[1] for p in sets.values() if p.ndim == 2), 1)
    out = [",".join(["set"] + [f"x{i + 1}" for i in range(D)])]
    for name, pts in sets.items():
        out.extend(f"{name},{_fmt(p)}" for p in pts)
    return "\n".join(out) + "\n"
