"""The served app under concurrent first visits and concurrent sessions (issue 14): a fresh server, 6 simultaneous
first visits, each draws its first view without an error; 4 Field lines sessions at once (different seeds) all settle without an error. Uses the
helpers of benchmarks/bench_load.py (its own server on loopback, Debian's chromium through Playwright)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
pytest.importorskip("playwright.async_api")
import bench_load  # noqa: E402
from bench_browser import CHROMIUM, Server  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def _clean(outcomes: list[bench_load.Outcome], server: Server) -> None:
    assert all(o.seconds is not None for o in outcomes), "a session did not settle"
    assert not any(o.exceptions or o.errors or o.traceback for o in outcomes), [(o.exceptions, o.errors) for o in outcomes]
    assert "Traceback" not in server.tail()


def test_cold_start_six_first_visits_at_once():
    with tempfile.TemporaryDirectory() as work:
        server = Server(Path(work))  # fresh: nothing imported by a script run yet
        try:
            first = lambda b, i: bench_load.field_lines(b, server.url, i, 600.0, until=bench_load.FIRST_VIEW)  # noqa: E731
            outcomes = asyncio.run(bench_load.scenario(server.url, first, 6))
            _clean(outcomes, server)
        finally:
            server.stop()


def test_four_field_lines_sessions_at_once_all_finish():
    with tempfile.TemporaryDirectory() as work:
        server = Server(Path(work))
        try:
            asyncio.run(bench_load.scenario(server.url, lambda b, i: bench_load.field_lines(b, server.url, 0, 600.0), 1))  # warm
            outcomes = asyncio.run(bench_load.scenario(server.url, lambda b, i: bench_load.field_lines(b, server.url, 10 + i, 600.0), 4))
            _clean(outcomes, server)
        finally:
            server.stop()
