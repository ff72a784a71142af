"""Model tests run on 2 threads (the target machine) from a fixed seed."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)
    torch.manual_seed(0)
