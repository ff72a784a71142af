"""`spikelip demo`: live lip reading from a connected camera or DV's network output (GUI when a
display exists)."""
from __future__ import annotations

from app.commands.replay import display_available
from app.models import RUNTIMES, load_model
from app.options import add_connect_argument, add_disconnect_argument, add_spatial_arguments, crop_for, model_spec, roi_text
from app.pipeline import Pipeline

NAME = "demo"
HELP = "live lip reading from a connected DAVIS/DVXplorer camera (or DV's network output: --connect)"


def add_arguments(p) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", metavar="NAME", help="camera to open (default: the first one found)")
    add_connect_argument(src)
    p.add_argument("--model", metavar="NAME_OR_PATH", type=model_spec, help="model name, config JSON or checkpoint (default: the bundled model)")
    p.add_argument("--headless", action="store_true", help="no window: print predictions on the terminal")
    p.add_argument("--runtime", default="fastest", choices=(*RUNTIMES, "fastest"),
                   help="headless: how the model is stepped, torch (eager), onnx (onnxruntime) or sparse (onnxruntime, "
                        "gather-sparse GRU); default the "
                        "fastest (the window steps the fastest runtime whose export also gives the layers' spikes, for its rasters)")
    add_disconnect_argument(p, "wait")
    add_spatial_arguments(p)


def run(args) -> int:
    if not args.headless and display_available():
        from app.gui import run_camera_window

        return run_camera_window(args)
    from model import Readout

    net, words, description, _ = load_model(args.model, runtime=args.runtime)
    with _open_source(args) as source:
        crop = crop_for(source.sensor, args, frames="frames" in source.streams)
        print(f"live from {source.name} ({source.sensor}, ROI {roi_text(crop)}) with model {description}; "
              "words print as the lips stop; Ctrl-C to stop")
        notice = None
        pipeline = Pipeline(source, net, Readout(words), crop=crop)  # a word per stretch of moving lips
        for r in pipeline:
            if getattr(source, "notice", None) != notice:
                notice = source.notice
                print(notice, flush=True)
            if r.revised is not None:
                print(f"  read again: {r.revised.word} ({r.revised.confidence:.2f}), instead of the last word", flush=True)
            if r.word is not None:
                _print_word(r.word)
        word = pipeline.finish()
        if word is not None:
            _print_word(word)
        for warning in source.warnings:
            print(f"warning: {warning}", flush=True)
    if args.connect is not None:  # a camera never ends by itself; DV ended its stream
        print(f"{source.name}: the stream ended", flush=True)
    return 0


def _open_source(args):
    if args.connect is not None:
        from stream.sources.network import NetworkSource

        return NetworkSource(args.connect)
    from stream.sources.camera import open_camera

    return open_camera(args.camera, args.on_disconnect)


def _print_word(word) -> None:
    print(f"t={word.end_s:8.2f}s  {word.word} ({word.confidence:.2f})", flush=True)
