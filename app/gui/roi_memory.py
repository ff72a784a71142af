"""Which crop a run starts with: the ROI given on the command line, else the one last dragged
for this camera (kept in QSettings), else the centred default of `stream.roi`.
"""
from __future__ import annotations

from PyQt6 import QtCore

from app.options import AUTO
from stream.constants import MOUTH_SIDE
from stream.errors import SpikeLipError
from stream.events import SensorSize
from stream.mouth_tracker import following_crop
from stream.roi import Crop, Roi
from stream.sources.base import EventSource

GROUP = "roi/"
AUTO_KEY = GROUP + "auto"  # "true" while the window's "Auto" box is ticked


def crop_for_roi(sensor: SensorSize, roi: Roi) -> Crop:
    """A dragged ROI is 128 x N pixels square: downscale it by N so the model still sees 128 x 128."""
    return Crop(sensor, roi=roi, scale=max(1, min(roi.w, roi.h) // MOUTH_SIDE))


def key(camera: str, sensor: SensorSize) -> str:
    return GROUP + f"{camera} {sensor}".replace("/", "_").replace("\\", "_")


def snapshot(settings: QtCore.QSettings) -> dict[str, str]:
    """The remembered ROIs as a plain dict, for the worker thread (QSettings stays in the GUI thread)."""
    return {k: str(settings.value(k)) for k in settings.allKeys() if k.startswith(GROUP)}


def choose_crop(cli_crop: tuple[Roi | str | None, int] | None, remembered: dict[str, str], source: EventSource) -> Crop:
    """Called by the worker once the source is open and its camera name and sensor are known.
    `--roi auto`, or the window's "Auto" box left ticked, gives a crop that follows the mouth."""
    if cli_crop is not None:
        roi, scale = cli_crop
        if roi == AUTO:
            return following_crop(source.sensor, scale, frames="frames" in source.streams)
        return Crop(source.sensor, roi=roi, scale=scale)
    if remembered.get(AUTO_KEY) == "true":
        return following_crop(source.sensor, frames="frames" in source.streams)
    saved = remembered.get(key(source.name, source.sensor))
    if saved:
        try:
            return crop_for_roi(source.sensor, Roi.parse(saved))
        except SpikeLipError:  # a ROI for a sensor setting that no longer fits: fall back
            pass
    return Crop(source.sensor)

