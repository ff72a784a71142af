"""The one event representation used by every source, binner and writer.

Events are NumPy structured arrays of `EVENT_DTYPE`: `t` in microseconds (int64), `x`, `y`
pixel coordinates (int16) and polarity `p` (int8, 1 = ON, 0 = OFF), in time order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stream.errors import SpikeLipError

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])


@dataclass(frozen=True)
class SensorSize:
    """Width and height of the pixel array the events' coordinates refer to."""

    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def empty_events() -> np.ndarray:
    return np.zeros(0, dtype=EVENT_DTYPE)


def make_events(t, x, y, p) -> np.ndarray:
    """Pack four equal-length columns into an `EVENT_DTYPE` array."""
    t = np.asarray(t)
    out = np.empty(t.shape[0], dtype=EVENT_DTYPE)
    out["t"] = t
    out["x"] = x
    out["y"] = y
    out["p"] = p
    return out


def as_events(array: np.ndarray, origin: str = "events") -> np.ndarray:
    """Convert a structured (t, x, y, p) array or a plain (N, 4) array to `EVENT_DTYPE`.

    `origin` names where the array came from, for the error message. Values that do not fit
    the event fields (NaN, coordinates beyond int16) are refused rather than wrapped around.
    """
    array = np.asarray(array)
    if array.dtype == EVENT_DTYPE and array.ndim == 1:
        return array
    if array.dtype.names is not None and array.ndim == 1:
        missing = [f for f in ("t", "x", "y", "p") if f not in array.dtype.names]
        if missing:
            raise SpikeLipError(
                f"{origin}: structured array lacks field(s) {', '.join(missing)}; "
                f"expected fields t, x, y, p (DVS-Lip format)"
            )
        columns = [array[f] for f in ("t", "x", "y", "p")]
    elif array.dtype.names is None and array.ndim == 2 and array.shape[1] == 4 and array.dtype.kind in "iuf":
        columns = [array[:, k] for k in range(4)]
    else:
        raise SpikeLipError(
            f"{origin}: expected a structured array with fields t, x, y, p or a plain (N, 4) "
            f"numeric array, got dtype {array.dtype} and shape {array.shape}"
        )
    for name, col in zip("txyp", columns):
        if col.dtype.kind not in "iufb":
            raise SpikeLipError(f"{origin}: field {name} has type {col.dtype}; expected numbers")
        info = np.iinfo(EVENT_DTYPE[name])
        if len(col) and col.dtype.kind != "b" and not (info.min <= col.min() and col.max() <= info.max):
            raise SpikeLipError(
                f"{origin}: field {name} holds values outside {EVENT_DTYPE[name]} "
                f"({col.min()} .. {col.max()}); the file is damaged or not an event clip"
            )
    return make_events(*columns)
