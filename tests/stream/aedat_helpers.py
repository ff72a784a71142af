"""Reading AEDAT4 files back in tests: through our reader and, independently, through dv-processing."""
import dv_processing as dv
import numpy as np

from stream.events import EVENT_DTYPE, make_events
from stream.sources.aedat4 import AedatFileSource


def read_all(path, **kw) -> tuple[np.ndarray, AedatFileSource]:
    src = AedatFileSource(path, **kw)
    parts = list(src)
    return (np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)), src


def read_dv(path) -> np.ndarray:
    rec = dv.io.MonoCameraRecording(str(path))
    parts = []
    while True:
        batch = rec.getNextEventBatch()
        if batch is None:
            break
        a = batch.numpy()
        parts.append(make_events(a["timestamp"], a["x"], a["y"], a["polarity"]))
    return np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)
