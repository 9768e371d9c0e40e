"""The lesson path (issue 11): the Start here page, the measured story of L with every number of its sentences
checked against the chart beside it, settings that stay on their own page, and a hand-edited scene that reads
"Custom"."""

from __future__ import annotations

import re

import numpy as np
import pytest
from app_testing import app_test, case_counts, chart, charts, decode, no_errors, trace, wait_for

from app.lesson import GLOSSARY
from app.state import SWEEP_LINES, WIDGETS

NUMBER = r"(\d+(?:\.\d+)?)"
NOISY = rf"{NUMBER} ± {NUMBER}"  # a statistic and its noise (one bootstrap std), as the app writes them


def _noisy(text: str) -> tuple[float, float]:
    """A value written "0.031 ± 0.012" (a unit after it allowed) as (value, std)."""
    value, std = re.match(NOISY, text).groups()
    return float(value), float(std)


def _markdown(at, start: str) -> str:
    found = [m.value for m in at.markdown if m.value.startswith(start)]
    assert found, [m.value[:60] for m in at.markdown]
    return found[0]


def test_start_here_is_the_default_page_with_five_steps_and_links():
    at = app_test()
    no_errors(at)
    assert at.title[0].value.startswith("Start here")
    assert "Electrostatic Field Matching" in at.title[0].value + at.caption[0].value
    heads = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert len(heads) == 5, heads
    links = [p.proto.page for p in at.get("page_link")]
    for page in ("field_lines", "theorem", "high_dimensions", "generation", "large_l"):
        assert any(page in str(link) for link in links), links
    table = _markdown(at, "| method |")
    for method in ("diffusion", "flow matching", "PFGM", "EFM"):
        assert f"**{method}**" in table


def test_start_here_links_fit_their_column_at_1000_px():
    # a step's text column holds about 44 characters of a link at 1000 px; longer labels were cut ("… memor")
    at = app_test()
    labels = [p.proto.label for p in at.get("page_link")]
    assert len(labels) >= 7 and max(len(t) for t in labels) <= 44, labels


def test_start_here_step_sentences_match_their_charts():
    at = app_test(start_case="behind", start_D="32")
    no_errors(at)
    text = _markdown(at, "Of the ")
    total, shown = (int(v) for v in re.findall(r"\*\*(\d+)\*\*", text)[:2])
    figs = [f for f in charts(at) if case_counts(f)]  # step 1 draws no lines
    assert sum(case_counts(figs[0]).values()) == total  # step 2 draws every line
    assert case_counts(figs[1]) == {"behind": shown}  # step 3 only the chosen case
    share, noise = (int(v) for v in re.search(r"carries \*\*(\d+) ± (\d+) %\*\*", _markdown(at, "At **D = 32**")).groups())
    assert 0 < noise < 10  # the median's bootstrap noise over the points
    dims_fig = chart(at, "largest charge's share")
    xs, ys = decode(trace(dims_fig, "largest charge's share")["x"]), decode(trace(dims_fig, "largest charge's share")["y"])
    assert share == round(100 * float(ys[list(xs).index(32)]))


@pytest.fixture(scope="module")
def large_l():
    at = app_test("app/pages/large_l.py")
    wait_for(at, lambda a: any(m.value.startswith("**Measured on these charges**") for m in a.markdown), timeout=900)
    no_errors(at)
    return at


def test_large_l_sweep_sentence_agrees_with_its_chart(large_l):
    at = large_l
    text = _markdown(at, "**Measured on these charges**")
    fig = chart(at, "backward share")
    Ls = list(decode(trace(fig, "backward share")["x"]))
    back = decode(trace(fig, "backward share")["y"])
    fwd = decode(trace(fig, "forward-only starts")["y"])
    fwd_std = decode(trace(fig, "forward-only starts")["error_y"]["array"])
    bulge = decode(trace(fig, "bulge")["y"])
    radius = decode(trace(fig, "training region's radius")["y"])
    outside = decode(trace(fig, "lines leaving the region")["y"])
    assert text.startswith(f"**Measured on these charges** ({SWEEP_LINES} lines of each kind")  # Theorem 3.1's default
    lo, hi = (float(v) for v in re.search(rf"backwards is {NUMBER}–{NUMBER}", text).groups())
    assert (lo, hi) == (round(back.min(), 2), round(back.max(), 2))
    assert hi - lo < 0.1 and 0.4 < lo  # the project's finding: about half at every L
    worst_L, worst, worst_std = (float(v) for v in re.search(rf"largest energy distance is at L = {NUMBER} \({NOISY}", text).groups())
    k = int(np.argmax(fwd))
    assert worst_L == Ls[k] and (worst, worst_std) == (round(fwd[k], 3), round(fwd_std[k], 3))
    i30, i6 = Ls.index(30.0), Ls.index(6.0)
    at30 = re.search(rf"at L = 30 it is {NOISY}, (inside|above|at the edge of) the floor's band", text)
    assert (float(at30.group(1)), float(at30.group(2))) == (round(fwd[i30], 3), round(fwd_std[i30], 3))
    floor_hi = decode(trace(fig, "floor (95 % of Q's own samples)")["y"])[len(Ls) :][::-1]  # the band's top, over L
    v, e, top = fwd[i30], fwd_std[i30], floor_hi[i30]
    assert at30.group(3) == ("inside" if v + e <= top else "above" if v - e > top else "at the edge of")
    assert fwd[i30] < fwd[i6] + 2 * np.hypot(fwd_std[i30], fwd_std[i6])  # not worse at L = 30, beyond the noise
    b30, b6 = (float(v) for v in re.search(rf"reach {NUMBER} from the axis at L = 30 \({NUMBER} at L = 6\)", text).groups())
    assert (b30, b6) == (round(bulge[i30], 1), round(bulge[i6], 1)) and b30 > 2 * b6
    assert float(re.search(rf"within {NUMBER} of it", text).group(1)) == round(radius[i30], 1)
    o30, s30, o6, s6 = (int(v) for v in re.search(r"(\d+) ± (\d+) % of the forward lines leave that training region at L = 30, (\d+) ± (\d+) %", text).groups())
    outside_std = decode(trace(fig, "lines leaving the region")["error_y"]["array"])
    assert (o30, o6, s30, s6) == (round(outside[i30]), round(outside[i6]), round(outside_std[i30]), round(outside_std[i6]))
    assert o30 - 2 * s30 > 50 > o6 + 2 * s6  # "most of the lines" at large L, beyond the noise


def test_large_l_checkpoints_sentence_agrees_with_the_metrics(large_l):
    at = large_l
    text = _markdown(at, "**What the two rows show.**")
    metrics = {}
    for m in at.metric:
        metrics.setdefault(m.label, []).append(m.value)
    out6, out30 = metrics["Exact lines leaving the region"]
    assert f"in {out6} of cases at L = 6 and {out30} at L = 30" in text
    bad6, bad30 = metrics["slab: bad lines"]
    assert f"at L = 30, {bad30} of its lines" in text and f"(at L = 6: {bad6})" in text
    slab6, slab30 = metrics["slab: energy distance"]
    two6, two30 = metrics["two-sided: energy distance"]
    assert f"end points are {slab30} from Q" in text and f"lands {two30} from Q at L = 30 and {two6} at L = 6" in text
    (t, ts), (s, ss) = _noisy(two30), _noisy(slab30)
    assert s - t > 2 * np.hypot(ts, ss)  # the whole-space net with two-sided lines is closer at L = 30, beyond the noise
    for kind in ("slab", "two-sided"):  # the cards' W2 / floor with its noise: the slab net far above the floor at L = 30
        assert all(re.fullmatch(rf"{NOISY}×", v) for v in metrics[f"{kind}: W2 / floor (card)"])
    assert _noisy(metrics["slab: W2 / floor (card)"][1])[0] > 10 * _noisy(metrics["two-sided: W2 / floor (card)"][1])[0]
    assert len(at.get("plotly_chart")) >= 3
    terms = " ".join(m.value for m in next(e for e in at.expander if e.label == "Terms on this page").markdown)
    assert all(f"**{t}**: {GLOSSARY[t]}" in terms for t in ("checkpoint", "V-statistic", "Heun"))


def test_theorem_sweep_says_it_shares_its_lines_with_why_large_l_is_hard():
    # one setting, one home: the Theorem 3.1 sweep's default line count is the one Why large L is hard uses
    assert WIDGETS["sweep_lines"].default == SWEEP_LINES
    at = app_test("app/pages/theorem.py", sweep_lines=str(SWEEP_LINES))
    no_errors(at)
    text = _markdown(at, "Every L traces the same starts")
    assert f"With the default scene and {SWEEP_LINES} lines per L this is that page's sweep, number for number" in text
    assert at.slider(key="sweep_lines").value == SWEEP_LINES


@pytest.mark.parametrize("L", ["6", "30"])
def test_theorem_default_example_shows_no_lost_line(L):
    at = app_test("app/pages/theorem.py", L=L, n_charges="256")
    no_errors(at)
    text = _markdown(at, "Forward line:")
    assert "lost" not in text and "**behind**" in text, text


def test_generation_solver_does_not_change_translation():
    at = app_test("app/pages/generation.py")
    at.selectbox(key="gen_solver").set_value("euler").run()
    at.number_input(key="gen_solver_steps").set_value(2).run()
    at.switch_page("app/pages/translation.py").run()
    no_errors(at)
    assert at.selectbox(key="tr_solver").value == "heun" and at.number_input(key="tr_solver_steps").value == 50
    assert at.session_state["gen_solver"] == "euler"


def test_clicked_start_stays_in_the_theorem_page_link():
    at = app_test("app/pages/theorem.py")
    at.session_state["thm_start"] = (0.5, -0.5)
    at.run()
    assert at.query_params.get("thm_start") in ("0.5:-0.5", ["0.5:-0.5"])
    at.switch_page("app/pages/start_here.py").run()
    assert "thm_start" not in at.query_params


def test_hand_edited_scene_reads_custom():
    at = app_test("app/pages/field_lines.py")
    assert at.selectbox(key="preset").value == "paper_mixture"
    at.selectbox(key="q_toy").set_value("rings").run()
    no_errors(at)
    assert at.selectbox(key="preset").value == "custom"
    at.selectbox(key="preset").set_value("paper_swiss").run()
    assert at.selectbox(key="preset").value == "paper_swiss" and at.session_state["q_toy"] == "swiss_roll"


@pytest.mark.parametrize(
    "page, terms",
    [
        ("app/pages/field_lines.py", ["V-statistic"]),
        ("app/pages/theorem.py", ["V-statistic"]),
        ("app/pages/generation.py", ["checkpoint", "Heun"]),
        ("app/pages/translation.py", ["checkpoint", "Heun"]),
        ("app/pages/training_lab.py", ["V-statistic", "Heun"]),
    ],
)
def test_terms_are_defined_on_the_page_that_uses_them(page, terms):
    # checkpoint names, Heun's solver and the V-statistic were used without a definition on their page
    at = app_test(page)
    box = next(e for e in at.expander if e.label == "Terms on this page")
    text = " ".join(m.value for m in box.markdown)
    for term in terms:
        assert f"**{term}**: {GLOSSARY[term]}" in text, term
    if "checkpoint" in terms:  # the name parts are spelled out
        assert all(part in GLOSSARY["checkpoint"] for part in ("`fm-`", "`-gen`", "`-slab`", "`-L30`", "`fashion`"))
    if "Heun" in terms:  # and the solver's tooltip says what Heun's method is
        assert "second-order" in " ".join(s.help or "" for s in at.selectbox if s.label == "Solver")
