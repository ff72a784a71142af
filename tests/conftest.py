"""Shared test setup: Qt must render offscreen on machines without a screen."""
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory):
    """ONNX exports made by tests go to pytest's temporary folders (pruned by pytest), not the
    user's ~/.cache/spikelip."""
    if "SPIKELIP_CACHE" not in os.environ:
        os.environ["SPIKELIP_CACHE"] = str(tmp_path_factory.mktemp("onnx-cache"))
