"""Command-line options shared by several subcommands, parsed into stream objects."""
from __future__ import annotations

from pathlib import Path

from stream.errors import SpikeLipError
from stream.events import SensorSize
from stream.roi import Crop, Roi
from stream.sources.camera import ON_DISCONNECT


def add_spatial_arguments(p) -> None:
    p.add_argument("--roi", metavar="X,Y,W,H", type=Roi.parse,
                   help="region of interest in sensor pixels (top-left corner and size); "
                        "default: the centred 128 x 128 (times --scale) region of larger sensors")
    p.add_argument("--scale", type=int, default=1, metavar="N",
                   help="integer downscale after cropping (e.g. 2 for a 640 x 480 DVXplorer)")


def crop_for(sensor: SensorSize, args, default_crop: bool = True, origin=None) -> Crop:
    """The crop the user asked for; without --roi/--scale, the default crop or none at all.
    `origin` (the input file) starts the message when the ROI does not fit its sensor."""
    if args.roi is None and args.scale == 1 and not default_crop:
        return Crop(sensor, roi=Roi(0, 0, sensor.width, sensor.height))
    try:
        return Crop(sensor, roi=args.roi, scale=args.scale)
    except SpikeLipError as exc:
        if origin is None:
            raise
        raise SpikeLipError(f"{origin}: {exc}") from None


def add_disconnect_argument(p, default: str) -> None:
    p.add_argument("--on-disconnect", choices=ON_DISCONNECT, default=default,
                   help="when the camera is unplugged: stop (the recording is saved), or wait for it to be "
                        f"plugged in again and carry on (default: {default})")


def shown(path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
