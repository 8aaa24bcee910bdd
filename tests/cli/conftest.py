"""Training tests run single-threaded: the test machine is small and shared, and torch's
thread pool is much slower than one thread under contention."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
