"""Suite-wide settings."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One torch thread for the whole suite: the tensors here are small, and on a 2-core machine shared with a
    Streamlit server, a browser or another job, torch's default thread pool oversubscribes the cores (the tracer and
    small-net training measured 5-40x slower with 2 threads there). Results do not depend on the thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
