"""Field Matching Lab: the Streamlit entry point, a router over the pages in app/pages/.

Run with ``streamlit run streamlit_app.py``. The router sets up the page, restores the non-widget state from the URL
once per session, runs the chosen page (any error becomes a message, never a traceback) and writes the state back to
the URL so that the address bar is always a shareable link. Widgets restore and write their own URL parameters.
"""

import logging
import os

import streamlit as st
import torch

from app import state, ui

st.set_page_config(page_title="Field Matching Lab", page_icon="⚡", layout="wide")
# One intra-op thread per Python thread: the app's tensors are small (a few thousand rows), and a rerun always runs
# next to a background job (landing check, L sweep, training), so two OpenMP threads each oversubscribe the cores.
# Measured on 2 shared cores: 64 lines, 512 charges a plate traced in 0.15-0.24 s with 1 thread, 0.7 s with 2; an
# MLP training step 2-3.5 ms with 1 thread, 85-93 ms with 2. EFM_APP_THREADS overrides.
torch.set_num_threads(int(os.environ.get("EFM_APP_THREADS", "1")))

PAGES = {
    "The exact field": [
        st.Page("app/pages/field_lines.py", title="Field lines", icon=":material/timeline:", default=True),
        st.Page("app/pages/theorem.py", title="Theorem 3.1", icon=":material/call_split:"),
        st.Page("app/pages/high_dimensions.py", title="High dimensions", icon=":material/stacks:"),
    ],
    "Learned fields": [
        st.Page("app/pages/training_lab.py", title="Training lab", icon=":material/model_training:"),
        st.Page("app/pages/translation.py", title="Translation", icon=":material/swap_horiz:"),
        st.Page("app/pages/generation.py", title="Generation", icon=":material/auto_awesome:"),
    ],
}

for warning in state.init_session(st.session_state, st.query_params):
    st.warning(warning)

page = st.navigation(PAGES, position="top")
try:
    page.run()
except Exception as err:  # st.rerun / st.stop are BaseExceptions and pass through
    logging.getLogger(__name__).exception("page %s failed", page.title)
    st.error(f"Something went wrong on this page ({type(err).__name__}: {err}). Your settings are kept; change one and try again.")

ui.sync_url()
