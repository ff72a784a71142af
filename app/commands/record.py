"""`spikelip record OUT.aedat4`: save a camera, DV's network output (`--connect`) or the synthetic
source to an AEDAT4 file.

The file stays valid whatever stops the recording: the duration, Ctrl-C, SIGTERM, a camera
unplug, a network fault or a write error all end in the writer being closed with every event
received so far. With `--on-disconnect wait` an unplugged camera is waited for and the recording
goes on; a DV stream that DV ends normally ends the recording (exit 0).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from app.options import add_connect_argument, add_disconnect_argument, event_rate, output_file, positive_float
from stream.errors import SpikeLipError
from stream.events import SensorSize
from stream.pacing import paced

NAME = "record"
HELP = "record events from a camera, DV's network output (--connect) or the synthetic source to an AEDAT4 file"


def add_arguments(p) -> None:
    p.add_argument("output", nargs="?", type=output_file(".aedat4", what="recording"),
                   help="OUT.aedat4, in an existing folder")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", metavar="NAME", help="camera to record (default: the first one found)")
    src.add_argument("--synthetic", action="store_true", help="record the synthetic source instead of a camera")
    add_connect_argument(src)
    p.add_argument("--rate", type=event_rate, default=200_000, metavar="EPS",
                   help="synthetic source: events per second, > 0 and <= 1e9 (default 200000)")
    p.add_argument("--duration", type=positive_float, metavar="S",
                   help="stop after S > 0 seconds (default: until Ctrl-C)")
    p.add_argument("--list-cameras", action="store_true", help="list connected cameras and exit")
    add_disconnect_argument(p, "stop")


def run(args) -> int:
    from stream.sources.camera import list_cameras

    if args.list_cameras:
        names = list_cameras()
        print("\n".join(names) if names else "no event camera found")
        return 0
    if not args.output:
        raise SpikeLipError("give the output file: spikelip record OUT.aedat4")
    source = _open_source(args)
    return record(source, Path(args.output), args.duration)


def _open_source(args):
    if args.connect is not None:
        from stream.sources.network import NetworkSource

        return NetworkSource(args.connect)
    if args.synthetic:
        from stream.sources.synthetic import SyntheticSource

        return SyntheticSource(rate_eps=args.rate, duration_s=None, sensor=SensorSize(346, 260))
    from stream.sources.camera import open_camera

    return open_camera(args.camera, args.on_disconnect)


def record(source, out: Path, duration_s: float | None) -> int:
    """Write `source` to `out` until the duration passes or the user stops it (0); a failing source or
    writer raises SpikeLipError once the file is closed with every event received before it."""
    from stream.writer import AedatWriter, finalise_on_sigterm

    batches = iter(source) if source.live else (ev for ev, _ in paced(source, 1.0))
    reason, failure, notice = "duration reached", None, None
    start = time.monotonic()
    print(f"recording {source.name} ({source.sensor}) to {out}" + (f" for {duration_s:g} s" if duration_s else "; Ctrl-C to stop"),
          file=sys.stderr)
    camera = getattr(source, "camera", None)  # a DV stream names the camera it carries
    camera = camera if isinstance(camera, str) and camera else source.name
    frames = "frames" in source.streams  # a DAVIS: its APS frames are kept too (`--roi auto` finds faces in them)
    source.want_frames = frames
    with AedatWriter(out, source.sensor, camera_name=camera, frames=frames) as writer, finalise_on_sigterm():
        try:
            for batch in batches:
                writer.write(batch)
                for frame in source.take_frames():
                    writer.write_frame(frame)
                if getattr(source, "notice", None) != notice:  # a camera waited for after an unplug
                    notice = source.notice
                    print(f"spikelip record: {notice}", file=sys.stderr)
                if duration_s is not None and time.monotonic() - start >= duration_s:
                    break
            else:  # a DV stream that DV ended (cameras never end by themselves)
                reason = f"{source.name}: the stream ended"
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM via finalise_on_sigterm
            reason = "stopped by the user"
        except SpikeLipError as exc:  # camera unplugged, write error: keep what was received
            failure = str(exc)
        finally:
            source.close()
    if failure is not None:  # the file is closed and valid: say so in the one error line
        saved = "" if "saved" in failure else f" ({writer.events_written:,} events before it are saved in {out})"
        raise SpikeLipError(failure + saved)
    for warning in source.warnings:
        print(f"spikelip record: warning: {warning}", file=sys.stderr)
    saved = f" and {writer.frames_written:,} APS frames" if frames else ""
    print(f"{reason}: wrote {writer.events_written:,} events{saved} to {out}", file=sys.stderr)
    return 0
