"""Shared fixtures for the nn tests: torch (skipped when not installed) and float64."""

import pytest


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add contention
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(threads)
