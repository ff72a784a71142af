"""`spikelip demo`: live lip reading from a connected camera (GUI when a display exists)."""
from __future__ import annotations

from app.commands.replay import display_available
from app.models import RUNTIMES, load_model
from app.options import add_disconnect_argument, add_spatial_arguments, crop_for
from app.pipeline import Pipeline
from app.segment import SegmentedReadout

NAME = "demo"
HELP = "live lip reading from a connected DAVIS/DVXplorer camera"


def add_arguments(p) -> None:
    p.add_argument("--camera", metavar="NAME", help="camera to open (default: the first one found)")
    p.add_argument("--model", metavar="NAME_OR_PATH", help="model name, config JSON or checkpoint (default: the bundled model)")
    p.add_argument("--headless", action="store_true", help="no window: print predictions on the terminal")
    p.add_argument("--runtime", default="fastest", choices=(*RUNTIMES, "fastest"),
                   help="headless: how the model is stepped, torch (eager), onnx (onnxruntime) or sparse (onnxruntime, "
                        "gather-sparse GRU); default the "
                        "fastest (the window always uses torch: its spike rasters need the layers' spikes)")
    add_disconnect_argument(p, "wait")
    add_spatial_arguments(p)


def run(args) -> int:
    from stream.sources.camera import open_camera

    if not args.headless and display_available():
        from app.gui import run_camera_window

        return run_camera_window(args)
    from model import Readout

    net, words, description, _ = load_model(args.model, runtime=args.runtime)
    readout = SegmentedReadout(Readout(words))  # a word per stretch of moving lips, as in the window
    with open_camera(args.camera, args.on_disconnect) as source:
        crop = crop_for(source.sensor, args)
        print(f"live from {source.name} ({source.sensor}, ROI {crop.roi}) with model {description}; "
              "words print as the lips stop; Ctrl-C to stop")
        notice = t_first = None
        pipeline = Pipeline(source, net, readout, crop=crop)
        for r in pipeline:
            if getattr(source, "notice", None) != notice:
                notice = source.notice
                print(notice, flush=True)
            t_first = r.t_us if t_first is None else t_first
            word = readout.observe(r.events, (r.t_us - t_first) / 1e6)
            if word is not None:
                pipeline.restart_model()
                print(f"t={word.end_s:8.2f}s  {word.word} ({word.confidence:.2f})", flush=True)
    return 0
