"""Open any supported input by path or name: AEDAT4 recording, DVS-Lip clip, camera, synthetic."""
from __future__ import annotations

import os
from pathlib import Path

from stream.errors import SpikeLipError
from stream.sources.base import EventSource

SUPPORTED = ".aedat4 (DV recording), .npy (DVS-Lip clip)"


def open_file(path: str | os.PathLike) -> EventSource:
    """The source for a recording or clip file, chosen by extension; clear errors otherwise."""
    path = Path(path)
    if not path.exists():
        raise SpikeLipError(f"{path}: no such file")
    if path.is_dir():
        raise SpikeLipError(f"{path}: is a folder; give one recording or clip ({SUPPORTED})")
    suffix = path.suffix.lower()
    if suffix == ".aedat4":
        from stream.sources.aedat4 import AedatFileSource

        return AedatFileSource(path)
    if suffix == ".npy":
        from stream.sources.npy import NpyClipSource

        return NpyClipSource(path)
    raise SpikeLipError(f"{path}: unknown file type '{suffix or '(none)'}'; supported: {SUPPORTED}")
