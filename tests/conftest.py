"""Shared test setup: Qt must render offscreen on machines without a screen."""
import gc
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory):
    """ONNX exports made by tests go to pytest's temporary folders (pruned by pytest), not the
    user's ~/.cache/spikelip."""
    if "SPIKELIP_CACHE" not in os.environ:
        os.environ["SPIKELIP_CACHE"] = str(tmp_path_factory.mktemp("onnx-cache"))


@pytest.fixture(autouse=True)
def unfreeze_gc():
    """A streaming Pipeline freezes the objects alive when it starts (`gc.freeze`); in a long
    test session that would keep every earlier test's garbage, so each test thaws them."""
    yield
    gc.unfreeze()
