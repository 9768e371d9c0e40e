"""Choosing the checkpoints of the learned-field pages: the shipped ones (with a message saying how to get one that
is missing), or one the user uploads on the Generation page (checked before it is built, see
``app.compute.loading``). Streamlit code; every loaded model comes back as (cache key, checkpoint).
"""

from __future__ import annotations

import streamlit as st

from app import ui
from app.compute import loading
from app.compute.loading import Checkpoint

UPLOAD_KEY = "_gen_upload"  # (digest, base name, tensor bytes, card bytes) of the last valid upload
ERROR_KEY = "_gen_upload_error"


def shipped(names: dict[str, str]) -> dict[str, tuple[str, Checkpoint]]:
    """label -> (cache key, checkpoint) for the shipped checkpoints ``names`` (label -> name) that are there; a
    missing one gets an info on how to train it, a broken one an error."""
    out = {}
    for label, name in names.items():
        with ui.guard(f"Could not load the checkpoint {name}"):
            ckpt = loading.load_pretrained(name)
            if ckpt is None:
                st.info(loading.missing_message(name))
            else:
                out[label] = (loading.pretrained_key(name), ckpt)
    return out


def _on_upload() -> None:
    ss = st.session_state
    files = ss.get("gen_files") or []
    if not files:
        return
    try:
        upload = loading.read_upload([(f.name, f.getvalue()) for f in files])
        loading.load_uploaded(*upload)
    except ValueError as err:  # CheckpointError is a ValueError
        ss[ERROR_KEY] = str(err)
        return
    ss[UPLOAD_KEY] = upload
    ss["gen_model"] = "upload"


def upload_box(shown: bool) -> None:
    """The uploader of a checkpoint (shown when asked, or while the last upload's error is to be read)."""
    ss = st.session_state
    if not (shown or ss.get(ERROR_KEY)):
        return
    with st.container(border=True):
        st.file_uploader(
            "Upload a checkpoint: NAME.safetensors and NAME.json together", type=["safetensors", "json"],
            accept_multiple_files=True, key="gen_files", on_change=_on_upload,
            help="The two files `python -m efm_core train` writes. The card is checked (format, config, hashes, tensor "
            f"shapes) and nothing in it is executed; at most {loading.MAX_UPLOAD_BYTES // 2**20} MB.",
        )
        if ss.get(ERROR_KEY):
            st.error(f"This upload cannot be used: {ss.pop(ERROR_KEY)} The previous model is kept.")


def uploaded() -> dict[str, tuple[str, Checkpoint]]:
    """{base name: (digest, checkpoint)} of the last valid upload; stops the page with a hint when there is none."""
    upload = st.session_state.get(UPLOAD_KEY)
    if upload is None:
        st.info("Upload a checkpoint made by `python -m efm_core train` (both files at once) to generate with it.")
        st.stop()
    out = {}
    with ui.guard("Could not load the uploaded checkpoint"):
        out[upload[1]] = (upload[0], loading.load_uploaded(*upload))
    return out
