"""Writing a file so that readers see the old version or the new one, never half of either."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object], suffix: str = "") -> None:
    """`write(tmp)` then rename tmp onto `path`: a run killed mid-write leaves the old file whole.

    tmp is a hidden sibling ending in ".tmp" plus `suffix` (for writers that insist on an
    extension), so a folder scan for clips or models never mistakes it for a finished file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
