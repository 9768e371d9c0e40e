"""Field Matching Lab: the Streamlit entry point, a router over the pages in app/pages/.

Run with ``streamlit run streamlit_app.py``. The router sets up the page, restores the non-widget state from the URL
once per session, runs the chosen page (any error becomes a message, never a traceback) and writes the state back to
the URL so that the address bar is always a shareable link. Widgets restore and write their own URL parameters.
"""

import logging
import os

import streamlit as st
import torch

import app.preload  # noqa: F401  (first: every heavy import done once, under the import lock; see its docstring)
from app import state, ui

st.set_page_config(page_title="Field Matching Lab", page_icon="⚡", layout="wide")
# One intra-op thread per Python thread: the app's tensors are small (a few thousand rows), and a rerun always runs
# next to a background job (landing check, L sweep, training), so two OpenMP threads each oversubscribe the cores.
# Measured on 2 shared cores: 64 lines, 512 charges a plate traced in 0.15-0.24 s with 1 thread, 0.7 s with 2; an
# MLP training step 2-3.5 ms with 1 thread, 85-93 ms with 2. EFM_APP_THREADS overrides.
torch.set_num_threads(int(os.environ.get("EFM_APP_THREADS", "1")))

SCRIPTS = {  # section -> (script stem in app/pages/, title, icon); the first is the default page
    "Start here": [("start_here", "Start here", ":material/school:")],
    "The exact field": [
        ("field_lines", "Field lines", ":material/timeline:"),
        ("theorem", "Theorem 3.1", ":material/call_split:"),
        ("high_dimensions", "High dimensions", ":material/stacks:"),
    ],
    "Learned fields": [
        ("large_l", "Why large L is hard", ":material/straighten:"),
        ("training_lab", "Training lab", ":material/model_training:"),
        ("translation", "Translation", ":material/swap_horiz:"),
        ("generation", "Generation", ":material/auto_awesome:"),
    ],
}
SCENE_PAGES = {"field_lines", "theorem", "training_lab"}  # pages with the scene sidebar (their links carry hand-built charges)
PAGES = {
    section: [st.Page(f"app/pages/{stem}.py", title=title, icon=icon, default=stem == "start_here") for stem, title, icon in rows]
    for section, rows in SCRIPTS.items()
}
STEM = {title: stem for rows in SCRIPTS.values() for stem, title, _ in rows}

for warning in state.init_session(st.session_state, st.query_params):
    st.warning(warning)
if st.session_state.pop("_link_changed", False):
    ui.reseed_from_link()

page = st.navigation(PAGES, position="top")
stem = STEM.get(getattr(page, "title", None), "")  # no title outside `streamlit run` (e.g. a spawned worker re-running this file)
ui.set_current_page(stem, stem in SCENE_PAGES)
state.keep_settings_across_page_switch(st.session_state, stem)
try:
    page.run()
except Exception as err:  # st.rerun / st.stop are BaseExceptions and pass through
    logging.getLogger(__name__).exception("page %s failed", stem)
    st.error(f"Something went wrong on this page ({type(err).__name__}: {err}). Your settings are kept; change one and try again.")

state.remember_settings(st.session_state)
ui.sync_url()
