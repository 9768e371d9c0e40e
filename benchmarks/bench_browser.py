"""Click-to-view timings of the served app in headless Chromium: what a learner waits for after each interaction.

    python benchmarks/bench_browser.py [--only NAME[,NAME...]] [--repeat K] [--out docs/performance_browser.md]

Starts its own Streamlit server on a free loopback port (the real ``streamlit_app.py``, through a launcher that only
times each script run, see ``serve``), drives Debian's /usr/bin/chromium through Playwright (never ``playwright
install``) through a fixed script of learner interactions, and writes a markdown table. Per interaction:

- first chart: from the action to the first Plotly chart drawn (``plotly_afterplot``) after the server began its
  answer (the first ``new_session`` message after the action, so that a chart's own click highlight does not count);
- answered: until the browser has received the end of the first complete full run after the action (``script_finished``);
  message times are when the page's JavaScript handled them, so a renderer busy drawing charts delays them;
- settled: from the action to the moment nothing more happens: Streamlit's running indicator
  (``[data-testid="stStatusWidget"]``) gone, every visible chart drawn, and no websocket message and no chart drawn
  for ``QUIET`` seconds (a background result polled by a fragment counts as not settled); for training also until
  the run reports done;
- websocket kB: bytes of the messages the server sent (payload, before any transport compression);
- largest figure kB: the largest Plotly figure JSON among them;
- script s / runs: the summed duration of the server's script runs in that window (full reruns and fragment runs).

Widgets are found by their visible labels and roles (and charts by their trace names), never by the app's modules,
so that the benchmark keeps working when app/ is restructured. Each interaction that needs a particular start opens
its page with URL settings first (untimed); the others continue from the previous one, so ``--only`` of a chained
interaction measures it from its own start page instead. It is a benchmark: it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 1000}
QUIET = 1.3  # s without messages, charts or the running indicator: longer than the app's slowest fragment timer (1 s)
POLL = 0.1  # s between checks of the page
TIMEOUT = 180.0  # s an ordinary interaction may take before it is reported as not settled
TRAIN_TIMEOUT = 900.0
STATUS = '[data-testid="stStatusWidget"]'
IGNORED_KINDS = (26,)  # ForwardMsg.heartbeat_ack: the connection's keep-alive, not an answer

# In the page: a websocket that records each message's arrival time, size and top-level ForwardMsg field, a hook on
# every Plotly chart's afterplot event, and the last time the running indicator was seen.
INIT_JS = r"""
(() => {
  const b = window.__bench = {msgs: [], plots: [], statusSeen: -1};
  const kind = (buf) => {  // [field, varint value or -1]: the first top-level ForwardMsg field after hash (1), metadata (2)
    const u = new Uint8Array(buf); let i = 0;
    const varint = () => { let v = 0, s = 0, c; do { c = u[i++]; v += (c & 127) * 2 ** s; s += 7; } while (c & 128 && i < u.length); return v; };
    while (i < u.length) {
      const tag = varint(), f = Math.floor(tag / 8), w = tag & 7;
      if (f > 2) return [f, w === 0 ? varint() : -1];
      if (w === 0) varint(); else if (w === 2) { const n = varint(); i += n; } else if (w === 5) i += 4; else if (w === 1) i += 8; else break;
    }
    return [-1, -1];
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (e) => {
        const d = e.data, n = d.byteLength ?? d.size ?? d.length;
        b.msgs.push([performance.now(), n, ...(d instanceof ArrayBuffer ? kind(d) : [-1, -1])]);
      });
    }
  };
  const hooked = new WeakSet();
  new MutationObserver(() => {
    if (document.querySelector('[data-testid="stStatusWidget"]')) b.statusSeen = performance.now();
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
      if (!hooked.has(gd) && gd.on) {
        hooked.add(gd);
        gd.on('plotly_afterplot', () => { gd.__benchDrawn = true; b.plots.push(performance.now()); });
      }
    }
  }).observe(document, {subtree: true, childList: true, attributes: true});
})();
"""

POLL_JS = """(t0) => {
  const b = window.__bench, now = performance.now(), ignored = %s;
  const msgs = b.msgs.filter(m => m[0] >= t0 && !ignored.includes(m[2]));
  const status = !!document.querySelector('%s');
  if (status) b.statusSeen = now;
  const answer = msgs.find(m => m[2] === 4);  // new_session: the server began a run
  const full = msgs.find(m => m[2] === 6 && m[3] === 0);  // script_finished, FINISHED_SUCCESSFULLY: a full run done
  const plots = b.plots.filter(t => t >= t0 && answer && t >= answer[0]);
  const drawn = (gd) => gd && (gd.__benchDrawn || (gd._fullLayout && gd.querySelector('.main-svg')));  // afterplot, or laid out
  const undrawn = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(
    e => e.getClientRects().length && !drawn(e.querySelector('.js-plotly-plot'))).length;  // visible charts not drawn yet
  return {now, status, last: Math.max(t0, b.statusSeen, ...msgs.map(m => m[0]), ...plots),
          finished: msgs.some(m => m[2] === 6), fullDone: full ? full[0] : null, firstPlot: plots.length ? plots[0] : null,
          bytes: msgs.reduce((s, m) => s + m[1], 0), undrawn, text: %s};
}"""


# ------------------------------------------------------------------------------------------- the timed server
def serve(log_path: str, port: int) -> None:
    """Run ``streamlit run streamlit_app.py`` in this process, appending one JSON line per script run (full rerun or
    fragment) to ``log_path``: wall-clock start, seconds, fragment or not. The entry file, and so ``st.navigation``
    and its page paths, are the app's own; only Streamlit's function that executes a run's code is wrapped."""
    import streamlit.runtime.scriptrunner.script_runner as runner
    from streamlit.web import cli

    execute = runner.exec_func_with_error_handling

    def timed(func, ctx):
        t0 = time.time()
        try:
            return execute(func, ctx)
        finally:
            record = {"start": t0, "seconds": time.time() - t0, "fragment": bool(getattr(ctx, "fragment_ids_this_run", None))}
            with open(log_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    runner.exec_func_with_error_handling = timed
    os.chdir(ROOT)
    cli.main(["run", "streamlit_app.py", "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
              "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"], prog_name="streamlit", standalone_mode=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The app on a free loopback port, started by this script's ``--serve`` mode; ``runs(t0, t1)`` reads its log."""

    def __init__(self, workdir: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "runs.jsonl"
        self.out = open(workdir / "server.log", "w+")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(self.log), "--port", str(self.port)],
                                     cwd=ROOT, env=env, stdout=self.out, stderr=subprocess.STDOUT)
        end = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    self.stop()
                    raise RuntimeError("streamlit did not come up:\n" + self.tail()) from None
                time.sleep(0.2)

    def runs(self, t0: float, t1: float) -> list[dict]:
        if not self.log.exists():
            return []
        rows = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [r for r in rows if t0 - 0.05 <= r["start"] <= t1]

    def tail(self) -> str:
        self.out.flush()
        self.out.seek(0)
        return self.out.read()[-3000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------------------------------------ measuring
@dataclass
class Row:
    """One interaction's numbers (seconds, kB); ``settled`` is None when it did not settle within its timeout."""

    name: str
    goal: float
    first_chart: float | None
    answered: float | None
    settled: float | None
    ws_kb: float
    figure_kb: float
    script_s: float
    runs: int
    fragments: int
    note: str = ""


def _figure_bytes(payload: bytes | str) -> int:
    """Size of the Plotly figure JSON in one ForwardMsg (0 when it holds none)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    if isinstance(payload, str):
        return 0
    msg = ForwardMsg()
    try:
        msg.ParseFromString(payload)
    except Exception:  # a message this protobuf version does not know: no figure to count
        return 0
    if msg.WhichOneof("type") != "delta" or msg.delta.WhichOneof("type") != "new_element":
        return 0
    element = msg.delta.new_element
    return len(element.plotly_chart.spec.encode()) if element.WhichOneof("type") == "plotly_chart" else 0


class Browser:
    """Headless Chromium on one page with the recording script installed; ``measure`` times one interaction."""

    def __init__(self, pw, server: Server, profile: str):
        self.server = server
        self.ctx = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True, viewport=VIEWPORT, args=CHROMIUM_ARGS)
        self.ctx.add_init_script(INIT_JS)
        self.page = self.ctx.new_page()
        self.figures: list[int] = []  # figure JSON bytes per received websocket message, in arrival order
        self.page.on("websocket", lambda ws: ws.on("framereceived", lambda p: self.figures.append(_figure_bytes(p))))

    def open(self, path: str) -> None:
        """Open ``path`` (untimed) and wait until it has settled."""
        self.measure("open " + path, 0.0, lambda: self.page.goto(self.server.url + path, wait_until="commit"), reload=True)

    def measure(self, name: str, goal: float, action: Callable[[], None], *, reload: bool = False, done_text: str | None = None,
                timeout: float = TIMEOUT) -> Row:
        """Run ``action`` and wait until the page has settled. ``reload``: the action loads a new document, whose
        clock starts at its navigation (time 0). ``done_text``: settled also needs this text on the page."""
        t0_wall, n_figures = time.time(), len(self.figures)
        t0 = 0.0 if reload else self.page.evaluate("performance.now()")
        action()
        text = "true" if done_text is None else f"document.body.innerText.includes({json.dumps(done_text)})"
        js = POLL_JS % (list(IGNORED_KINDS), STATUS, text)
        while True:
            r = self.page.evaluate(js, t0)
            if not r["status"] and r["finished"] and r["text"] and not r["undrawn"] and r["now"] - r["last"] >= QUIET * 1000:
                settled = (r["last"] - t0) / 1000
                break
            if r["now"] - t0 > timeout * 1000:
                settled = None
                break
            time.sleep(POLL if done_text is None else 5 * POLL)  # reading the page's text is not free: less often
        exceptions = self.page.locator('[data-testid="stException"]').count()
        span = (r["last"] - t0) / 1000
        runs = self.server.runs(t0_wall, t0_wall + span + 0.2)
        first, answered = ((None if r[k] is None else (r[k] - t0) / 1000) for k in ("firstPlot", "fullDone"))
        note = f"{exceptions} exception(s) on the page" if exceptions else ""
        return Row(name, goal, first, answered, settled, r["bytes"] / 1000, max(self.figures[n_figures:], default=0) / 1000,
                   sum(x["seconds"] for x in runs), len(runs), sum(x["fragment"] for x in runs), note)

    def main(self):
        return self.page.get_by_test_id("stMain")

    def close(self) -> None:
        self.ctx.close()


# ------------------------------------------------------------------------------------------- the interactions
def _button(b: Browser, name: str) -> Callable[[], None]:
    return lambda: b.page.get_by_role("button", name=name, exact=True).first.click()


def _choose(b: Browser, label: str, option: str) -> Callable[[], None]:
    """A selectbox by its label: open it (untimed) and return the click on ``option``."""
    box = b.page.get_by_test_id("stSelectbox").filter(has=b.page.get_by_text(label, exact=True))
    box.get_by_role("combobox").click()
    return lambda: b.page.get_by_role("option", name=option, exact=True).click()


def _segment(b: Browser, label: str, option: str) -> Callable[[], None]:
    """A segmented control (a radio group named by its label): the click on ``option``."""
    return lambda: b.page.get_by_role("radiogroup", name=label).get_by_role("radio", name=option, exact=True).click()


def _type_number(b: Browser, label: str, value: int, where: str = "stMain") -> Callable[[], None]:
    """A number input by its label in the main area (or ``where="stSidebar"``): typed untimed, Enter submits it."""
    field = b.page.get_by_test_id(where).get_by_label(label, exact=True)
    field.fill(str(value))

    return lambda: field.press("Enter")


def _navigate(b: Browser, section: str, title: str) -> Callable[[], None]:
    """The top navigation: open the section's menu (untimed) and return the click on the page's link."""
    b.page.get_by_text(section, exact=True).first.click()
    return lambda: b.page.get_by_role("menuitem", name=title).first.click()


def _click_point(b: Browser, trace: str, index: int) -> Callable[[], None]:
    """A click on point ``index`` of the chart trace named ``trace`` (its position read from the live Plotly chart)."""
    js = """([trace, index]) => {
      const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => (g._fullData || []).some(t => t.name === trace));
      gd.scrollIntoView({block: 'center'});
      const t = gd._fullData.find(t => t.name === trace), L = gd._fullLayout, r = gd.getBoundingClientRect();
      const x = L.xaxis._offset + L.xaxis.d2p(t.x[index]), y = L.yaxis._offset + L.yaxis.d2p(t.y[index]);
      return [r.left + x, r.top + y];
    }"""
    x, y = b.page.evaluate(js, [trace, index])
    b.page.mouse.move(x, y)
    time.sleep(0.3)  # Plotly picks the hovered point on click

    return lambda: b.page.mouse.click(x, y)


@dataclass(frozen=True)
class Step:
    """One interaction: ``prepare(b)`` does the untimed part (opening a menu, typing) and returns the timed action.
    ``start``: the page (with URL settings) to open first, or several in turn; opened always when ``fresh``, else only when the previous
    step of this run was not the script's previous step."""

    name: str
    what: str
    goal: float
    start: str | tuple[str, ...]
    prepare: Callable[[Browser], Callable[[], None]]
    fresh: bool = False
    reload: bool = False
    done_text: str | None = None
    timeout: float = TIMEOUT
    expect: str = ""  # a part of the address after the step (the app mirrors its settings in the URL): it took effect


def _goto(path: str) -> Callable[[Browser], Callable[[], None]]:
    return lambda b: (lambda: b.page.goto(b.server.url + path, wait_until="commit"))


TRAIN = "/training_lab?"
DONE = "· done"
STEPS: list[Step] = [
    Step("first_page", "first page (Field lines, a new visitor)", 1.5, "", _goto("/field_lines"), reload=True),
    Step("L30", "L = 30 button (a new L)", 1.0, "/field_lines", lambda b: _button(b, "L = 30"), expect="L=30"),
    Step("L6", "L = 6 button (back to a cached L)", 1.0, ("/field_lines", "/field_lines?L=30"), lambda b: _button(b, "L = 6")),
    Step("L30_cached", "L = 30 button again (cached)", 1.0, ("/field_lines?L=30", "/field_lines"), lambda b: _button(b, "L = 30"), expect="L=30"),
    Step("preset", "preset → Gaussian → Swiss roll", 1.0, "/field_lines", lambda b: _choose(b, "Preset", "Gaussian → Swiss roll (paper)"), expect="preset="),
    Step("D1", "D = 1", 1.0, "/field_lines", lambda b: _segment(b, "Data dimension D", "1"), expect="D=1"),
    Step("charges_2048", "charges per plate → 2048 (default scene)", 1.0, "/field_lines", lambda b: _type_number(b, "Charges per plate", 2048, "stSidebar"), fresh=True,
         expect="n_charges=2048"),
    Step("theorem_load", "first load: Theorem 3.1 (top navigation)", 1.5, "/field_lines", lambda b: _navigate(b, "The exact field", "Theorem 3.1"), fresh=True,
         expect="/theorem"),
    Step("theorem_start", "Theorem 3.1: click a start on P", 1.0, "/theorem", lambda b: _click_point(b, "click to start here", 25 * 9 + 17), expect="thm_start="),
    Step("high_dimensions_load", "first load: High dimensions", 1.5, "/theorem", lambda b: _navigate(b, "The exact field", "High dimensions"), expect="/high_dimensions"),
    Step("training_lab_load", "first load: Training lab", 1.5, "/high_dimensions", lambda b: _navigate(b, "Learned fields", "Training lab"), expect="/training_lab"),
    Step("translation_load", "first load: Translation", 1.5, "/training_lab", lambda b: _navigate(b, "Learned fields", "Translation"), expect="/translation"),
    Step("translation_tile", "Translation: click gallery tile #5", 1.0, "/translation", lambda b: _click_point(b, "tiles", 5), expect="tr_pick="),
    Step("generation_load", "first load: Generation", 1.5, "/translation", lambda b: _navigate(b, "Learned fields", "Generation"), expect="/generation"),
    Step("generation_seed", "Generation: seed → 1", 1.0, "/generation", lambda b: _type_number(b, "Seed", 1), expect="gen_seed=1"),
    Step("train_efm", "Training lab: 2000 steps, EFM alone", 30.0, TRAIN + "lab_fm=false", lambda b: _button(b, "Start training"),
         fresh=True, done_text=DONE, timeout=TRAIN_TIMEOUT),
    Step("train_efm_fm", "Training lab: 2000 steps, EFM + flow matching", 45.0, TRAIN.rstrip("?"), lambda b: _button(b, "Start training"),
         fresh=True, done_text=DONE, timeout=TRAIN_TIMEOUT),
    Step("train_two_sided", "Training lab: 2000 steps, two-sided EFM", 35.0, TRAIN + "lab_fm=false&lab_two_sided=true",
         lambda b: _button(b, "Start training"), fresh=True, done_text=DONE, timeout=TRAIN_TIMEOUT),
]


# ------------------------------------------------------------------------------------------------ the run
FIGURE_GOAL_KB = 150.0


def run_script(steps: list[Step]) -> list[Row]:
    """One pass: a fresh server (empty caches) and a fresh browser through ``steps`` in order."""
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as work, sync_playwright() as pw:
        server = Server(Path(work))
        try:
            b = Browser(pw, server, str(Path(work) / "profile"))
            previous = None
            for step in steps:
                chained = previous is not None and STEPS.index(step) == STEPS.index(previous) + 1
                try:
                    row, previous = _run_step(b, step, opens=bool(step.start) and (step.fresh or not chained)), step
                except Exception as err:  # a widget not found, a page that broke: say so in the table and go on
                    row = Row(step.name, step.goal, None, None, None, 0.0, 0.0, 0.0, 0, 0, f"failed: {type(err).__name__}: {str(err).splitlines()[0]}")
                    previous = None  # the next step opens its own start
                rows.append(row)
                print(_line(row), flush=True)
            b.close()
        finally:
            server.stop()
        if "Traceback" in server.tail():
            print("the server logged a traceback:\n" + server.tail(), file=sys.stderr)
    return rows


def _run_step(b: Browser, step: Step, opens: bool) -> Row:
    if opens:
        for path in (step.start,) if isinstance(step.start, str) else step.start:
            b.open(path)
    action = step.prepare(b)
    row = b.measure(step.name, step.goal, action, reload=step.reload, done_text=step.done_text, timeout=step.timeout)
    notes = [row.note, _progress_text(b) if step.done_text else ""]
    if step.expect and step.expect not in b.page.url:
        notes.append(f"no effect? the address lacks {step.expect!r}")
    row.note = "; ".join(x for x in notes if x)
    return row


def _progress_text(b: Browser) -> str:
    """The Training lab's progress line (its steps/s as the page shows them)."""
    text = b.page.get_by_test_id("stProgress").first.inner_text() if b.page.get_by_test_id("stProgress").count() else ""
    return text.replace("\n", " ").strip()


def _fmt(v: float | None, digits: int = 2, missing: str = "—") -> str:
    return missing if v is None else f"{v:.{digits}f}"


def _verdict(row: Row) -> str:
    bad = []
    if row.settled is None or row.settled > row.goal:
        bad.append("time")
    if row.figure_kb > FIGURE_GOAL_KB:
        bad.append("figure")
    return "yes" if not bad else "no (" + ", ".join(bad) + ")"


def _line(row: Row) -> str:
    return (f"{row.name:22s} first chart {_fmt(row.first_chart):>6s} s  answered {_fmt(row.answered):>6s} s  settled {_fmt(row.settled, missing='timeout'):>7s} s  "
            f"ws {row.ws_kb:8.1f} kB  largest figure {row.figure_kb:7.1f} kB  script {row.script_s:6.2f} s in {row.runs} runs  {row.note}")


def merge(passes: list[list[Row]]) -> list[Row]:
    """Median of each number over repeated passes (settled: None if any pass did not settle)."""
    out = []
    for rows in zip(*passes, strict=True):
        med = statistics.median
        firsts = [r.first_chart for r in rows if r.first_chart is not None]
        answers = [r.answered for r in rows if r.answered is not None]
        settled = None if any(r.settled is None for r in rows) else med(r.settled for r in rows)
        spread = f"settled {min(r.settled for r in rows):.2f}–{max(r.settled for r in rows):.2f} s" if settled is not None and len(rows) > 1 else ""
        note = "; ".join(x for x in (spread, *dict.fromkeys(r.note for r in rows if r.note)) if x)
        out.append(Row(rows[0].name, rows[0].goal, med(firsts) if firsts else None, med(answers) if answers else None, settled, med(r.ws_kb for r in rows),
                       max(r.figure_kb for r in rows), med(r.script_s for r in rows), int(med(r.runs for r in rows)),
                       int(med(r.fragments for r in rows)), note))
    return out


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    import streamlit
    import torch

    browser = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}, torch {torch.__version__}, "
            f"streamlit {streamlit.__version__}, {browser}")


def table(rows: list[Row], steps: list[Step], header: str) -> str:
    what = {s.name: s.what for s in steps}
    lines = [header, "", "| interaction | goal (settled) | first chart s | answered s | settled s | websocket kB | largest figure kB | script s (runs, of them fragment) | within goal | notes |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {what[r.name]} (`{r.name}`) | ≤ {r.goal:g} s | {_fmt(r.first_chart)} | {_fmt(r.answered)} | {_fmt(r.settled, missing='not settled')} | "
                     f"{r.ws_kb:.0f} | {r.figure_kb:.0f} | {r.script_s:.2f} ({r.runs}, {r.fragments}) | {_verdict(r)} | {r.note} |")
    return "\n".join(lines) + "\n"


METHOD = f"""Made by `python3 benchmarks/bench_browser.py` (rerun it to refresh this page). The app is served by its own
Streamlit server on a loopback port, with empty caches, and driven in headless Debian Chromium through Playwright at
{VIEWPORT['width']}×{VIEWPORT['height']}, one learner session through the interactions below in order (a step whose
*start* needs other settings opens its page with them first, untimed). Times run from the click (or the navigation)
to: **first chart**, the first Plotly chart drawn after the server began its answer; **answered**, the browser has
received the end of the first complete full script run after the action; **settled**, nothing left to
happen: Streamlit's running indicator gone, every visible chart drawn, and no websocket message and no chart drawn for {QUIET} s (background
results that a fragment polls for count as not settled; training also waits for the run to report done).
**websocket kB**: what the server sent (payload bytes). **largest figure kB**: the largest Plotly figure JSON among
it (goal ≤ {FIGURE_GOAL_KB:g} kB at the default settings). **script s**: the summed duration of the server's script
runs in the window (full reruns and fragment runs, timed by wrapping Streamlit's run of the app's code). Message
times are those at which the page's JavaScript handled them: while the browser is busy drawing a chart, later
messages wait, so *answered* much later than *script s* says the time goes to transfer and drawing, not to the
server."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help=f"comma-separated interactions to run: {', '.join(s.name for s in STEPS)}")
    parser.add_argument("--repeat", type=int, default=1, help="passes, each with a fresh server and browser; the table shows medians")
    parser.add_argument("--out", help="markdown file to write (default docs/performance_browser.md; with --only: none unless given)")
    parser.add_argument("--serve", metavar="LOG", help=argparse.SUPPRESS)  # internal: the timed server of Server()
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if not Path(CHROMIUM).exists():
        sys.exit(f"bench_browser: needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    names = [n.strip() for n in args.only.split(",")] if args.only else [s.name for s in STEPS]
    unknown = [n for n in names if n not in {s.name for s in STEPS}]
    if unknown or args.repeat < 1:
        sys.exit(f"bench_browser: unknown interaction(s) {', '.join(unknown)}; choose from {', '.join(s.name for s in STEPS)}" if unknown
                 else "bench_browser: --repeat must be at least 1")
    steps = [s for s in STEPS if s.name in names]
    load0, started = os.getloadavg()[0], datetime.datetime.now(datetime.timezone.utc)
    passes = []
    for k in range(args.repeat):
        print(f"pass {k + 1} / {args.repeat}", flush=True)
        passes.append(run_script(steps))
    header = (f"Measured {started:%Y-%m-%d %H:%M} UTC on {machine()}; {args.repeat} pass(es), load average "
              f"{load0:.1f} at the start and {os.getloadavg()[0]:.1f} at the end.")
    text = table(merge(passes), steps, header)
    print("\n" + text)
    out = args.out or (None if args.only else str(ROOT / "docs" / "performance_browser.md"))
    if out:
        Path(out).write_text("# Performance: the app in a browser\n\n" + METHOD + "\n\n" + text)
        print(f"written to {out}")


if __name__ == "__main__":
    main()
