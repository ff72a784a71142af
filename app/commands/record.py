"""`spikelip record OUT.aedat4`: save a camera (or the synthetic source) to an AEDAT4 file.

The file stays valid whatever stops the recording: the duration, Ctrl-C, SIGTERM, a camera
unplug or a write error all end in the writer being closed with every event received so far.
With `--on-disconnect wait` an unplugged camera is waited for and the recording goes on.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from app.options import add_disconnect_argument
from stream.errors import SpikeLipError
from stream.events import SensorSize
from stream.pacing import paced

NAME = "record"
HELP = "record events from a camera (or the synthetic source) to an AEDAT4 file"


def add_arguments(p) -> None:
    p.add_argument("output", nargs="?", help="OUT.aedat4")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", metavar="NAME", help="camera to record (default: the first one found)")
    src.add_argument("--synthetic", action="store_true", help="record the synthetic source instead of a camera")
    p.add_argument("--rate", type=float, default=200_000, metavar="EPS", help="synthetic source: events per second")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
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
    out = Path(args.output)
    if out.suffix.lower() != ".aedat4":
        raise SpikeLipError(f"{out}: recordings are written as .aedat4; choose a name ending in .aedat4")
    source = _open_source(args)
    return record(source, out, args.duration)


def _open_source(args):
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
    with AedatWriter(out, source.sensor, camera_name=source.name) as writer, finalise_on_sigterm():
        try:
            for batch in batches:
                writer.write(batch)
                if getattr(source, "notice", None) != notice:  # a camera waited for after an unplug
                    notice = source.notice
                    print(f"spikelip record: {notice}", file=sys.stderr)
                if duration_s is not None and time.monotonic() - start >= duration_s:
                    break
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM via finalise_on_sigterm
            reason = "stopped by the user"
        except SpikeLipError as exc:  # camera unplugged, write error: keep what was received
            failure = str(exc)
        finally:
            source.close()
    if failure is not None:  # the file is closed and valid: say so in the one error line
        saved = "" if "saved" in failure else f" ({writer.events_written:,} events before it are saved in {out})"
        raise SpikeLipError(failure + saved)
    print(f"{reason}: wrote {writer.events_written:,} events to {out}", file=sys.stderr)
    return 0
