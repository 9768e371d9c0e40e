"""The served app under concurrent load: N browser sessions at once against one server, each against one alone.

    python benchmarks/bench_load.py [--lines 8] [--trainings 4] [--steps 500] [--timeout 900] [--out docs/performance_load.md]

Starts its own server on a free loopback port (``bench_browser.Server``: the real ``streamlit_app.py``), opens
sessions in Debian's headless /usr/bin/chromium through Playwright (one browser, one context per session, all driven at
once with asyncio) and measures, per scenario, how long each session takes to settle, next to one session alone:

- Field lines: the page with a different seed per session, settled when the landing check (a background job) has
  drawn its numbers and Streamlit's running indicator is gone;
- Training lab: a live run of ``--steps`` EFM steps per session (width 64, no flow matching), settled when the page
  says "done".

It also counts, over every session, Streamlit exception boxes, ``st.error`` boxes and the word "Traceback" in the page,
the tracebacks in the server's log, and samples the server's resident memory (VmRSS of its process) every 0.5 s. Every
wait is bounded by ``--timeout``; a session that does not settle in time is reported as such. Writes a markdown table
(to ``--out`` when given). It asserts nothing about speed: it is a benchmark (``tests/test_load.py`` holds the checks).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_browser import CHROMIUM, CHROMIUM_ARGS, STATUS, VIEWPORT, Server  # noqa: E402

SMALL = "n_charges=128&n_lines=32&land_k=128"
FIRST_VIEW = "Export"  # a heading below the page's main chart: the first view is drawn
LANDED = "Energy distance of the landing points"
ERROR_JS = """() => ({
  exceptions: document.querySelectorAll('[data-testid="stException"]').length,
  errors: [...document.querySelectorAll('[data-testid="stAlertContentError"]')].map(e => e.innerText.slice(0, 200)),
  traceback: document.body.innerText.includes('Traceback'),
})"""


@dataclass
class Outcome:
    """One session: seconds to settle (None: not within the timeout), and what went wrong on its page."""

    seconds: float | None
    exceptions: int = 0
    errors: list[str] = field(default_factory=list)
    traceback: bool = False


class Memory:
    """Samples the resident memory of process ``pid`` every 0.5 s on a thread until ``stop``; ``peak`` in MB."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                text = Path(f"/proc/{self.pid}/status").read_text()
                kb = int(next(line for line in text.splitlines() if line.startswith("VmRSS:")).split()[1])
                self.peak = max(self.peak, kb / 1024)
            except (OSError, StopIteration, ValueError):
                pass
            self._stop.wait(0.5)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(5)
        return self.peak


async def _settled(page, text: str, timeout: float) -> bool:
    """Wait until ``text`` is on the page and the running indicator is gone (twice, 0.5 s apart); False on timeout."""
    end = time.monotonic() + timeout
    calm = 0
    while time.monotonic() < end:
        body = await page.evaluate("() => document.body.innerText")
        running = await page.locator(STATUS).count()
        calm = calm + 1 if (text in body and not running) else 0
        if calm >= 2:
            return True
        await asyncio.sleep(0.5)
    return False


async def _outcome(page, t0: float, ok: bool) -> Outcome:
    seconds = time.monotonic() - t0 if ok else None
    found = await page.evaluate(ERROR_JS)
    return Outcome(seconds, found["exceptions"], found["errors"], found["traceback"])


async def field_lines(browser, url: str, seed: int, timeout: float, until: str = LANDED) -> Outcome:
    """Open Field lines with ``seed``; settled when ``until`` is on the page (default: the landing check's result)."""
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        t0 = time.monotonic()
        await page.goto(f"{url}/field_lines?{SMALL}&seed={seed}", timeout=timeout * 1000)
        return await _outcome(page, t0, await _settled(page, until, timeout))
    finally:
        await context.close()


async def training(browser, url: str, steps: int, timeout: float) -> Outcome:
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        await page.goto(f"{url}/training_lab?lab_steps={steps}&lab_width=64&lab_fm=false&n_charges=128", timeout=timeout * 1000)
        if not await _settled(page, "Start training", timeout):
            return await _outcome(page, 0.0, False)
        t0 = time.monotonic()
        await page.get_by_role("button", name="Start training").first.click(timeout=timeout * 1000)
        return await _outcome(page, t0, await _settled(page, f"step {steps} / {steps}", timeout))
    finally:
        await context.close()


async def scenario(url: str, make, n: int) -> list[Outcome]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            done = await asyncio.gather(*(make(browser, i) for i in range(n)), return_exceptions=True)
            return [o if isinstance(o, Outcome) else Outcome(None, errors=[f"the session failed: {type(o).__name__}: {str(o)[:160]}"]) for o in done]
        finally:
            await browser.close()


def _fmt(outcomes: list[Outcome]) -> str:
    done = [o.seconds for o in outcomes if o.seconds is not None]
    if not done:
        return "none settled"
    return f"{min(done):.1f} / {sorted(done)[len(done) // 2]:.1f} / {max(done):.1f}" + ("" if len(done) == len(outcomes) else f" ({len(outcomes) - len(done)} not settled)")


def bare_rate(steps: int) -> float:
    """Steps per wall second of the same training as the page's (default scene, 128 charges, width 64, EFM alone),
    run bare in this process on one torch thread (``LabRun.advance``): the rate the page should come close to."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from app.compute import exact, lab

    torch.set_num_threads(1)
    scene = exact.scene_charges(2, "gaussian", "two_gaussians", 128, 0, None, None)
    run = lab.LabRun(scene, lab.LabSettings(scene.key, 6.0, 0.1, 64, steps, 1e-3, 0, False))
    t0 = time.perf_counter()
    while not run.done:
        run.advance(0.4)
    return steps / (time.perf_counter() - t0)


def run(lines: int, trainings: int, steps: int, timeout: float) -> str:
    rows = ["| scenario | sessions | settled s: min / median / max | worst vs alone | goal | errors on pages | server tracebacks | peak server MB |",
            "|---|---|---|---|---|---|---|---|"]
    load0 = os.getloadavg()
    bare = bare_rate(steps)
    with tempfile.TemporaryDirectory() as work:
        server = Server(Path(work))
        memory = Memory(server.proc.pid)
        try:
            cases = [
                ("Field lines (seed per session)", lines, 3.0, lambda b, i: field_lines(b, server.url, 100 + i, timeout)),
                (f"Training lab, {steps} EFM steps", trainings, 5.0, lambda b, i: training(b, server.url, steps, timeout)),
            ]
            asyncio.run(scenario(server.url, cases[0][3], 1))  # warm the server's imports and caches (not reported)
            for name, n, goal, make in cases:
                alone = asyncio.run(scenario(server.url, lambda b, i, make=make: make(b, 50 + i), 1))
                many = asyncio.run(scenario(server.url, make, n))
                tracebacks = server.tail().count("Traceback")
                bad = sum(o.exceptions + len(o.errors) + o.traceback for o in alone + many)
                base = alone[0].seconds
                worst = max((o.seconds for o in many if o.seconds is not None), default=None)
                ratio = "—" if base is None or worst is None else f"{worst / base:.1f}×"
                rows.append(f"| {name} alone | 1 | {_fmt(alone)} | — | — | {sum(o.exceptions + len(o.errors) + o.traceback for o in alone)} | | |")
                rows.append(f"| {name} | {n} | {_fmt(many)} | {ratio} | ≤ {goal:g}× | {bad} | {tracebacks} | {memory.peak:.0f} |")
                if "Training" in name and base is not None:
                    page_rate = steps / base
                    rows.append(f"| live rate alone (page, wall clock) vs bare `LabRun.advance` | 1 | {page_rate:.0f} vs {bare:.0f} steps/s | "
                                f"{bare / page_rate:.2f}× slower | ≤ 1.5× | | | |")
                print("\n".join(rows[-2:]), file=sys.stderr, flush=True)  # as it goes: a long run shows its rows early
                for o in alone + many:
                    for e in o.errors:
                        print("page error:", e, file=sys.stderr, flush=True)
        finally:
            peak = memory.stop()
            server.stop()
    head = (f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, load average {load0[0]:.1f} at start and "
            f"{os.getloadavg()[0]:.1f} at end; peak server memory {peak:.0f} MB (goal < 2048).")
    return head + "\n\n" + "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=8)
    parser.add_argument("--trainings", type=int, default=4)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds any one session may take before it is reported as not settled")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    table = run(args.lines, args.trainings, args.steps, args.timeout)
    print(table)
    if args.out:
        args.out.write_text(args.out.read_text().split("<!-- table -->")[0] + "<!-- table -->\n\n" + table + "\n" if args.out.exists() else table + "\n")


if __name__ == "__main__":
    main()
