"""Fixtures of the window tests."""
import pytest
import torch


@pytest.fixture
def gui_application(qapp):
    """The themed application; it sets torch to one thread, which the other tests must not inherit."""
    from app.gui.launch import application

    threads = torch.get_num_threads()
    yield application()
    torch.set_num_threads(threads)
