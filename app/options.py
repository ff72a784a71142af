"""Command-line options shared by several subcommands, parsed into stream objects."""
from __future__ import annotations

from stream.events import SensorSize
from stream.roi import Crop, Roi


def add_spatial_arguments(p) -> None:
    p.add_argument("--roi", metavar="X,Y,W,H", type=Roi.parse,
                   help="region of interest in sensor pixels (top-left corner and size); "
                        "default: the centred 128 x 128 (times --scale) region of larger sensors")
    p.add_argument("--scale", type=int, default=1, metavar="N",
                   help="integer downscale after cropping (e.g. 2 for a 640 x 480 DVXplorer)")


def crop_for(sensor: SensorSize, args, default_crop: bool = True) -> Crop:
    """The crop the user asked for; without --roi/--scale, the default crop or none at all."""
    if args.roi is None and args.scale == 1 and not default_crop:
        return Crop(sensor, roi=Roi(0, 0, sensor.width, sensor.height))
    return Crop(sensor, roi=args.roi, scale=args.scale)
