"""Streamlit pieces shared by the pages: bound widgets, page headers, explanations, error guards, downloads.

Every setting widget is created through ``slider`` / ``select`` / ``toggle`` / ``number``: they take bounds, default
and help text from ``app.state.WIDGETS``, keep their value across page switches (``persist_state="session"``) and
mirror it in the URL (``bind="query-params"``; values equal to the default are left out of the link).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from app import state
from app.lesson import GLOSSARY, TERM_LABELS
from app.state import CUSTOM_KEYS, WIDGETS
from efm_core import Spread

log = logging.getLogger(__name__)
BOUND = {"bind": "query-params", "persist_state": "session"}

# every chart's toolbar: a few buttons, shown on hover in the top band of the figure
# (``app.figures.common.TOOLBAR_BAND``), which holds nothing else; a chart that is clicked (``on_select``) gets no
# toolbar at all (``chart``)
PLOT_CONFIG = {
    "displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2},
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines", "hoverClosestCartesian",
                               "hoverCompareCartesian", "hoverClosest3d", "orbitRotation", "tableRotation",
                               "resetCameraLastSave3d"],
}
CLICK_CONFIG = {**PLOT_CONFIG, "displayModeBar": False}


# ------------------------------------------------------------------------------------------------ bound widgets
def _keep(key: str) -> None:
    """Re-assign a widget's session value before it is created: a widget with the same key on another page would
    otherwise show its default for one run after a page switch (Streamlit 1.67, seen in AppTest)."""
    if key in st.session_state:
        st.session_state[key] = st.session_state[key]


def slider(label: str, key: str, fmt: str | None = None, **kw: Any) -> Any:
    w = WIDGETS[key]
    _keep(key)
    return st.slider(label, w.lo, w.hi, w.default, w.step, format=fmt, key=key, help=w.help, **BOUND, **kw)


def number(label: str, key: str, **kw: Any) -> Any:
    w = WIDGETS[key]
    _keep(key)
    return st.number_input(label, w.lo, w.hi, w.default, w.step, key=key, help=w.help, **BOUND, **kw)


def select(label: str, key: str, options: Sequence[Any], labels: dict[Any, str] | None = None, **kw: Any) -> Any:
    w = WIDGETS[key]
    _keep(key)
    fmt = (lambda v: labels.get(v, str(v))) if labels else str
    return st.selectbox(label, list(options), index=list(options).index(w.default), format_func=fmt, key=key,
                        help=w.help, **BOUND, **kw)


def segmented(label: str, key: str, options: Sequence[Any], labels: dict[Any, str], **kw: Any) -> Any:
    w = WIDGETS[key]
    _keep(key)
    value = st.segmented_control(
        label, list(options), default=w.default, format_func=lambda v: labels[v], key=key, help=w.help, required=True,
        **BOUND, **kw,
    )
    return w.default if value is None else value


def toggle(label: str, key: str, **kw: Any) -> bool:
    w = WIDGETS[key]
    _keep(key)
    return st.toggle(label, w.default, key=key, help=w.help, **BOUND, **kw)


# ----------------------------------------------------------------------------------------------- page opening
def page_header(title: str, caption: str) -> None:
    """A page's opening: its title and the caption under it."""
    st.title(title)
    st.caption(caption)


def p_toy() -> str | None:
    """P's toy distribution for fresh points of P, or None when P's charges are hand-built."""
    return None if st.session_state.get(CUSTOM_KEYS["pos"]) is not None else st.session_state["p_toy"]


# ------------------------------------------------------------------------------------------ background results
def background_panel(
    futures: Sequence[Future], period: float, what: str, waiting: Callable[[int, int], None],
    draw: Callable[[list[tuple[int, Any]]], None], partial: bool = False,
) -> None:
    """Draw the results of background jobs (``app.background``) in place, without holding the page in "running".

    A fragment polls every ``period`` seconds while a job is pending and calls ``waiting(done, total)``; with
    ``partial`` it also draws the results that arrived. When the last one arrives while polling, one full rerun draws
    them without the timer. A failed job shows "``what`` failed: ..."; ``draw`` gets (index, result) of the finished
    jobs.
    """
    pending = not all(f.done() for f in futures)

    @st.fragment(run_every=period if pending else None)
    def panel() -> None:
        done = [f.done() for f in futures]
        if pending and all(done):
            st.rerun()
        failed = [f for f, d in zip(futures, done, strict=True)
                  if d and not f.cancelled() and f.exception() is not None]
        if failed:
            st.error(f"{what} failed: {failed[0].exception()}")
            return
        if not all(done):
            waiting(sum(done), len(done))
            if not partial:
                return
        ready = [(i, f.result()) for i, (f, d) in enumerate(zip(futures, done, strict=True)) if d and not f.cancelled()]
        if ready:
            draw(ready)

    panel()


def set_current_page(stem: str, scene_page: bool) -> None:
    """Record, for ``sync_url``, which page runs (its script stem) and whether it has the scene sidebar."""
    st.session_state["_page_stem"] = (stem, scene_page)


def reseed_from_link() -> None:
    """After ``state.init_session`` removed invalid values from the link: make Streamlit seed the bound widgets from
    the cleaned link. It seeds them from a copy of the first query string kept apart from ``st.query_params``; without
    this, a value its own parser cannot take (``n_charges=inf``) raised OverflowError. Uses Streamlit's internal
    ``set_initial_query_params_from_current`` (as of 1.67); a no-op if that is ever gone (tests/test_fuzz_urls.py
    would then fail on such a link)."""
    ctx = get_script_run_ctx()
    with contextlib.suppress(AttributeError), ctx.session_state.query_params() as params:
        params.set_initial_query_params_from_current()


def sync_url() -> None:
    """Write the non-widget state of the current page (``state.url_extras``) into the address bar: at the end of
    every full run (the router) and of a fragment run that changes it (widgets keep their own URL parameters)."""
    stem, scene_page = st.session_state.get("_page_stem", ("", False))
    for name, value in state.url_extras(st.session_state, stem, scene_page).items():
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != value:
            st.query_params[name] = value


# --------------------------------------------------------------------------------------------------- messages
@contextlib.contextmanager
def guard(what: str) -> Iterator[None]:
    """Turn any error inside the block into a clear ``st.error`` (ValueError messages are shown as they are)."""
    try:
        yield
    except ValueError as err:
        st.error(f"{what}: {err}")
    except Exception as err:  # the app never shows a traceback; the log keeps it
        log.exception("unexpected error: %s", what)
        st.error(f"{what}: an unexpected {type(err).__name__} occurred ({err}). The previous settings still apply; "
                 "try other values.")


def explain(what: str, why: str, equations: Sequence[str] = (), expanded: bool = True) -> None:
    """The 'what you see / why it matters' box with the equations."""
    with st.expander("What you see · why it matters", expanded=expanded):
        a, b = st.columns(2)
        a.markdown("**What you see.** " + what)
        b.markdown("**Why it matters.** " + why)
        for eq in equations:
            st.latex(eq)


def glossary(terms: Sequence[str], expanded: bool = False) -> None:
    """A "Terms on this page" box defining ``terms`` (keys of ``app.lesson.GLOSSARY``), in the given order."""
    with st.expander("Terms on this page", expanded=expanded):
        st.markdown("\n".join(f"- **{TERM_LABELS.get(term, term)}**: {GLOSSARY[term]}" for term in terms))


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def subscript(n: int) -> str:
    """n as subscript digits: 12 -> "₁₂" (coordinate names such as x₁ in plain text)."""
    return str(n).translate(SUBSCRIPT)


def superscript(n: int) -> str:
    """An integer as Unicode superscript digits (chart annotations cannot render math)."""
    return str(n).translate(SUPERSCRIPT)


def tex_number(v: float) -> str:
    """A number in LaTeX scientific notation, 3 decimals: 1.234 \\times 10^{-5}."""
    mant, exp = f"{v:.3e}".split("e")
    return rf"{mant} \times 10^{{{int(exp)}}}"


def noisy_metric(where: Any, label: str, value: Spread, spec: str, help: str) -> None:
    """A statistic with its noise (``efm_core.Spread``) as a metric in a narrow column: the value large, "± std" small
    and grey beneath it (as one string "0.031 ± 0.012" it was cut in a third of a page at 1000 px)."""
    where.metric(label, f"{value.value:{spec}}", delta=f"± {value.std:{spec}}", delta_color="off", delta_arrow="off",
                 help=help)


def panels(n: int, stacked: bool) -> list[Any]:
    """``n`` places for one panel per model: columns side by side, or full-width containers one below the other when
    ``stacked`` (pictures wider than half the page, such as strips of 28×28 images)."""
    return [st.container() for _ in range(n)] if stacked else list(st.columns(n))


def chart(fig: Any, where: Any = None, **kw: Any) -> Any:
    """``st.plotly_chart`` (in ``where``, a column say, else the page) with the app's one plot config and no
    Streamlit theme (every figure carries its own template). A chart that is clicked (``on_select``) or a picture of
    images gets no toolbar, so that the toolbar never covers a click target or a tile. Returns the selection event."""
    bare = "on_select" in kw or (len(fig.data) and fig.data[0].type == "image")
    return (where or st).plotly_chart(fig, theme=None, config=CLICK_CONFIG if bare else PLOT_CONFIG, **kw)


def model_card(card: dict) -> None:
    """A checkpoint's JSON model card as a table of (field, value), nested fields dotted ("config.net.width")."""
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            rows.append((prefix, value if isinstance(value, str) else json.dumps(value)))

    walk("", {k: v for k, v in card.items() if k != "tensors"})
    st.dataframe(pd.DataFrame(rows, columns=["field", "value"]), hide_index=True, width="stretch")


def chart_key(key: str) -> str:
    """The versioned widget key of a selectable chart: bumping the version clears its selection."""
    return f"{key}_{st.session_state.get(f'_{key}_version', 0)}"


def _apply_selection(key: str, event: Any, handler: Callable[[dict], bool]) -> bool:
    """``handler(selection)`` on a chart's selection event (read dict-style); when it changed the app's state, bump
    the chart's key version (so the same click is not applied twice). Returns whether it did."""
    selection = event.get("selection", {}) if isinstance(event, dict) or hasattr(event, "get") else {}
    if selection and selection.get("points") and handler(selection):
        version = f"_{key}_version"
        st.session_state[version] = st.session_state.get(version, 0) + 1
        return True
    return False


def on_selection(key: str, handler: Callable[[dict], bool]) -> Callable[[], None]:
    """The ``on_select`` callback of ``st.plotly_chart(..., key=chart_key(key))``: it applies ``handler`` to the
    click before the rerun that the click starts, so that one run (not two) draws its effect."""
    widget = chart_key(key)
    return lambda: _apply_selection(key, st.session_state.get(widget), handler)


def consume_selection(key: str, event: Any, handler: Callable[[dict], bool]) -> None:
    """Act once on a selection that reached the run without the ``on_selection`` callback (set in session state
    directly, as AppTest does): apply ``handler`` as that callback would, then rerun the app."""
    if _apply_selection(key, event, handler):
        st.rerun()
