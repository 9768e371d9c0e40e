"""Server-side timings of the app, through Streamlit's AppTest (the script run, as the server would run it).

    python benchmarks/bench_app.py [--repeats 3]

Prints markdown tables (copied into docs/performance_app.md):

1. A rerun of the Field lines page after an L change, 512 charges a plate, 64 lines, D = 2 (goal <= 0.5 s): a new
   L is not in the cache, so this is the tracer's time plus drawing. Measured after the background work of the
   previous L has finished, so that nothing else runs. Also: a cached rerun (back to an L seen before), and the time
   until the background landing check (256 lines per kind of start) is ready.
2. First load of each page with the default settings and empty caches (the Theorem page's L sweep and the Field
   lines page's landing check arrive later, from the background; their time to ready is listed too).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from app import background  # noqa: E402
from app.state import SWEEP_LINES  # noqa: E402

APP = str(ROOT / "streamlit_app.py")
FIELD_LINES = "app/pages/field_lines.py"
PAGES = {"Start here": None, "Field lines": FIELD_LINES, "Theorem 3.1": "app/pages/theorem.py", "High dimensions": "app/pages/high_dimensions.py"}


def _wait_background(timeout: float = 600.0) -> float:
    """Seconds until every background job has finished."""
    t0 = time.perf_counter()
    while background.pending():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("background work did not finish")
        time.sleep(0.05)
    return time.perf_counter() - t0


def _timed_run(at: AppTest) -> float:
    t0 = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    return elapsed


def l_change(repeats: int) -> list[tuple[str, str]]:
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["n_charges"] = "512"
    at.query_params["n_lines"] = "64"
    at.switch_page(FIELD_LINES)  # the default page is Start here
    _timed_run(at)
    _wait_background()
    new, traced, cached, landing = [], [], [], []
    for i in range(repeats):
        L = 6.5 + i
        at.slider(key="L").set_value(L)
        new.append(_timed_run(at))
        caption = next(c.value for c in at.caption if "lines traced in" in c.value)
        traced.append(float(caption.split(" in ")[1].split(" s")[0]))
        landing.append(new[-1] + _wait_background())
        at.slider(key="L").set_value(6.0)
        cached.append(_timed_run(at))
        _wait_background()
    med = statistics.median
    return [
        ("rerun after an L change (new L, 512 charges a plate, 64 lines, D = 2)", f"{med(new):.2f} s"),
        ("  of which the tracer (64 lines, float32, tol 1e-3)", f"{med(traced):.2f} s"),
        ("rerun back to an L seen before (cached)", f"{med(cached):.2f} s"),
        ("landing check ready (256 lines per kind of start, background)", f"{med(landing):.1f} s"),
    ]


def first_loads() -> list[tuple[str, str]]:
    rows = []
    for name, page in PAGES.items():
        st.cache_data.clear()
        at = AppTest.from_file(APP, default_timeout=600)
        if page is None:
            t = _timed_run(at)
        else:
            _timed_run(at)  # the router's default page first, as a visitor following a link would not; then switch
            _wait_background()
            st.cache_data.clear()
            at.switch_page(page)
            t = _timed_run(at)
        rows.append((f"first load: {name}", f"{t:.2f} s"))
        ready = _wait_background()
        if ready > 0.1:
            what = {FIELD_LINES: "landing check", None: "lesson views", "app/pages/theorem.py": f"L sweep (8 values of L x 2 kinds x {SWEEP_LINES} lines)"}.get(page, "background work")
            rows.append((f"  {name}: {what} ready after", f"{t + ready:.1f} s"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the app sets EFM_APP_THREADS, default 1)")
    args = parser.parse_args()
    os.environ["EFM_APP_THREADS"] = str(args.threads)
    print(f"torch threads (EFM_APP_THREADS): {args.threads}, cpu count: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    rows = l_change(args.repeats) + first_loads()
    print("\n| what | time |\n|---|---|")
    for what, value in rows:
        print(f"| {what} | {value} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
