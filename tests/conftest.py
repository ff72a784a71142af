"""Shared test setup: Qt must render offscreen on machines without a screen."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# ONNX exports made by tests go to a throwaway cache, not the user's ~/.cache/spikelip.
if "SPIKELIP_CACHE" not in os.environ:
    import tempfile

    os.environ["SPIKELIP_CACHE"] = tempfile.mkdtemp(prefix="spikelip-test-cache-")
