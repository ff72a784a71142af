"""`spikelip convert IN OUT`: AEDAT4 <-> DVS-Lip npy, and any supported input to AEDAT4."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from app.options import add_spatial_arguments, crop_for, existing_file, output_file
from stream.errors import SpikeLipError
from stream.events import empty_events
from stream.sources import open_file

NAME = "convert"
HELP = "convert between AEDAT4 recordings and DVS-Lip .npy clips (with optional ROI crop and downscale)"


def add_arguments(p) -> None:
    p.add_argument("input", type=existing_file, help="an .aedat4 recording or a DVS-Lip .npy clip")
    p.add_argument("output", type=output_file(".npy", ".aedat4", create_folders=True, what="output"),
                   help="OUT.npy (DVS-Lip clip: 128 x 128, time from the first event; e.g. DIR/train/<word>/0.npy "
                        "for `spikelip adapt`) or OUT.aedat4; missing folders are created")
    add_spatial_arguments(p, follow=False)


def run(args) -> int:
    out = Path(args.output)
    kind = out.suffix.lower()  # .npy or .aedat4, checked when parsed
    if out.resolve() == Path(args.input).resolve():
        raise SpikeLipError(f"{out}: output would overwrite the input; choose another name")
    with open_file(args.input) as source:
        out.parent.mkdir(parents=True, exist_ok=True)
        crop = crop_for(source.sensor, args, default_crop=(kind == ".npy"), origin=args.input)
        if kind == ".npy":
            n = _to_npy(source, crop, out)
        else:
            n = _to_aedat4(source, crop, out)
        for warning in source.warnings:
            print(f"warning: {warning}")
    print(f"wrote {n:,} events ({crop.sensor}) to {out}")
    return 0


def _to_npy(source, crop, out: Path) -> int:
    from stream.sources.npy import save_clip

    if crop.sensor.width > 128 or crop.sensor.height > 128:
        raise SpikeLipError(f"{out}: DVS-Lip clips are 128x128 but the cropped input is {crop.sensor}; pass --roi X,Y,128,128 or --scale")
    parts = [crop(batch) for batch in source]
    events = np.concatenate(parts) if parts else empty_events()
    if len(events):
        events["t"] -= events["t"][0]
    save_clip(out, events)
    return len(events)


def _to_aedat4(source, crop, out: Path) -> int:
    from stream.writer import AedatWriter

    with AedatWriter(out, crop.sensor, camera_name=source.name) as writer:
        for batch in source:
            writer.write(crop(batch))
        return writer.events_written

