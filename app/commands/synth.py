"""`spikelip synth`: make a synthetic DVS-Lip dataset, or one sentence recording."""
from __future__ import annotations

import argparse
import math
import sys
import time

from app.options import Number, output_dir, output_file, positive_int, seed
from stream.errors import SpikeLipError

NAME = "synth"
HELP = "generate synthetic lip-reading events (SynthLip): a DVS-Lip-style dataset, an AEDAT4 sentence or a set of them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples:\n"
        "  spikelip synth data/synthlip --clips-per-word 60 --seed 0\n"
        "  spikelip synth --sentence \"the price of water\" --out demo.aedat4 --seed 3\n"
        "  spikelip synth data/sentences --sentences 120 --seed 2001   # for `spikelip boundary`\n"
        "(any English words in the CMU Pronouncing Dictionary; unless they are exactly the 100 DVS-Lip\n"
        " words of assets/words.txt, OUT_DIR/words.txt lists them in label order)"
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("out_dir", nargs="?", metavar="OUT_DIR", type=output_dir,
                        help="dataset folder to write: OUT_DIR/{train,test}/<word>/<k>.npy")
    parser.add_argument("--clips-per-word", type=positive_int, default=None, metavar="N",
                        help="clips of each word in each split, >= 1 (dataset mode)")
    parser.add_argument("--seed", type=seed, default=0,
                        help="random seed in [0, 2^32 - 1]; the same seed gives identical files (default 0)")
    parser.add_argument("--split", choices=("train", "test", "both"), default="both",
                        help="which split(s) to make (default both; they use different speakers)")
    parser.add_argument("--workers", type=positive_int, default=2, help="worker processes, >= 1 (default 2)")
    parser.add_argument("--words", default=None, metavar="W1,W2,...", type=word_list,
                        help="only these words (comma-separated, no empty entries; any word in the CMU Pronouncing "
                        "Dictionary, repeats dropped); default the 100 DVS-Lip words")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--sentence", default=None, metavar="\"WORD WORD ...\"", type=sentence_words,
                        help="make one continuous recording of these words instead of a dataset")
    parser.add_argument("--out", default=None, metavar="FILE.aedat4", type=output_file(".aedat4", what="sentence file"),
                        help="sentence mode: the AEDAT4 file to write (ground truth goes to FILE.json)")
    parser.add_argument("--pause", default=None, metavar="S|MIN,MAX", type=_pause,
                        help="sentence mode: seconds of rest between words, 0 < MIN <= MAX (default 0.3,0.7)")
    parser.add_argument("--sentences", type=positive_int, default=None, metavar="N",
                        help="make N sentence recordings OUT_DIR/<seed>.aedat4 (+ .json) of random words instead of "
                             "a dataset of clips, seeds SEED, SEED+1, ... (material for `spikelip boundary`)")
    parser.add_argument("--words-per-sentence", type=positive_int, default=10, metavar="K",
                        help="with --sentences: different words in each recording, >= 1 (default 10)")
    parser.add_argument("--rate", type=Number(float, low=0.25, high=4.0), default=1.0, metavar="X",
                        help="sentence modes: speaking rate, 0.25-4 times the speaker's own (default 1; 1.3 is fast)")
    parser.add_argument("--head-motion", type=Number(float, low=0.0, high=40.0), default=None, metavar="PX",
                        help="sentence modes: amplitude of the head's wandering in pixels, 0-40 (default the session's, "
                             "0.4-2.5; a fidgeting user moves 5-10)")
    parser.add_argument("--mouth", default=None, metavar="X,Y", type=_point(non_negative=True),
                        help="sentence mode: where the mouth is on the 346 x 260 sensor, pixels >= 0 (default its centre)")
    parser.add_argument("--mouth-scale", type=Number(float, low=0.5, high=2.0), default=1.0, metavar="X",
                        help="sentence modes: the face's size on the sensor against SynthLip clips', 0.5-2 "
                             "(default 1; 1.3 is a camera nearer the face)")
    parser.add_argument("--drift", default=None, metavar="DX,DY", type=_point(non_negative=False),
                        help="sentence mode: pixels the head moves, steadily, over the recording (default 0,0)")


def run(args: argparse.Namespace) -> int:
    if args.sentence is not None:
        return _sentence(args)
    if args.sentences is not None:
        return _sentences(args)
    if args.out is not None:
        raise SpikeLipError("--out is for sentence mode: add --sentence \"WORD WORD ...\", "
                            "or give OUT_DIR for a dataset")
    for option, value in (("--pause", args.pause), ("--mouth", args.mouth), ("--drift", args.drift),
                          ("--rate", None if args.rate == 1.0 else args.rate), ("--head-motion", args.head_motion),
                          ("--mouth-scale", None if args.mouth_scale == 1.0 else args.mouth_scale)):
        if value is not None:
            raise SpikeLipError(f"{option} is for sentence mode (--sentence \"WORD WORD ...\" --out FILE.aedat4): "
                                "a dataset's clips are 128 x 128 crops of one word each")
    if args.out_dir is None:
        raise SpikeLipError("give OUT_DIR and --clips-per-word N for a dataset, "
                            "or --sentence \"...\" --out FILE.aedat4 for a recording")
    if args.clips_per_word is None:
        raise SpikeLipError("dataset mode needs --clips-per-word N")
    from stream.synthlip import generate_dataset

    summary = generate_dataset(args.out_dir, args.clips_per_word, args.seed, split=args.split,
                               workers=args.workers, progress=not args.no_progress, words=args.words)
    ev = summary["events_per_clip"]
    print(f"wrote {summary['clips']} clips to {args.out_dir} ({', '.join(summary['splits'])}) in "
          f"{summary['seconds']:.1f} s ({summary['clips_per_s']:.1f} clips/s); events per clip "
          f"mean {ev['mean']:.0f}, min {ev['min']}, max {ev['max']}")
    return 0


def _sentence(args: argparse.Namespace) -> int:
    if args.out is None:
        raise SpikeLipError("--sentence needs --out FILE.aedat4")
    if args.out_dir is not None or args.clips_per_word is not None:
        raise SpikeLipError("--sentence makes one recording; drop OUT_DIR and --clips-per-word")
    from stream.synthlip import generate_sentence

    from stream.synthlip.sentence import PAUSE_S

    doc = generate_sentence(args.sentence, args.out, args.seed, pause_s=args.pause or PAUSE_S,
                            mouth=args.mouth, drift_px=args.drift or (0.0, 0.0), rate=args.rate,
                            head_motion_px=args.head_motion, mouth_scale=args.mouth_scale)
    words = ", ".join(f"{w['word']} {(w['start_us'] - doc['t_start_us']) / 1e6:.2f}-"
                      f"{(w['end_us'] - doc['t_start_us']) / 1e6:.2f} s" for w in doc["words"])
    print(f"wrote {args.out} ({doc['events']} events, {(doc['t_end_us'] - doc['t_start_us']) / 1e6:.1f} s, "
          f"{doc['sensor']['width']}x{doc['sensor']['height']}) and its ground truth: {words}", file=sys.stdout)
    return 0


def _sentences(args: argparse.Namespace) -> int:
    if args.out_dir is None:
        raise SpikeLipError("--sentences N needs OUT_DIR, the folder for the recordings")
    for option, value in (("--clips-per-word", args.clips_per_word), ("--out", args.out)):
        if value is not None:
            raise SpikeLipError(f"{option} is not for --sentences: it writes OUT_DIR/<seed>.aedat4 recordings")
    from stream.synthlip import generate_sentences
    from stream.synthlip.sentence import PAUSE_S

    start = time.perf_counter()
    docs = generate_sentences(args.out_dir, args.sentences, args.seed, args.words_per_sentence, words=args.words,
                              workers=args.workers, pause_s=args.pause or PAUSE_S, rate=args.rate,
                              head_motion_px=args.head_motion, mouth=args.mouth, drift_px=args.drift or (0.0, 0.0),
                              mouth_scale=args.mouth_scale)
    seconds = sum((d["t_end_us"] - d["t_start_us"]) / 1e6 for d in docs)
    print(f"wrote {len(docs)} sentence recordings to {args.out_dir} ({sum(len(d['words']) for d in docs)} words, "
          f"{seconds:.0f} s of speech and rest) in {time.perf_counter() - start:.1f} s")
    return 0


def _pause(text: str) -> tuple[float, float]:
    """--pause "S" or "MIN,MAX" -> (MIN, MAX) seconds with 0 < MIN <= MAX, checked when parsed."""
    values = _numbers(text)
    if len(values) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected seconds as S or MIN,MAX (e.g. 0.3,0.7), got {text!r}")
    lo, hi = values[0], values[-1]
    if not 0 < lo <= hi:
        raise argparse.ArgumentTypeError(f"expected 0 < MIN <= MAX seconds, got {text!r}")
    return lo, hi


def _numbers(text: str) -> list[float]:
    """Comma-separated finite numbers; [] when any is not one."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        return []
    return values if all(math.isfinite(v) for v in values) else []


def _point(non_negative: bool):
    """X,Y as two finite numbers (pixels), checked when parsed."""
    def point(text: str) -> tuple[float, float]:
        values = _numbers(text)
        if len(values) != 2:
            raise argparse.ArgumentTypeError(f"expected two numbers X,Y (pixels), got {text!r}")
        if non_negative and min(values) < 0:
            raise argparse.ArgumentTypeError(f"expected X,Y >= 0 (pixels from the top-left corner), got {text!r}")
        return values[0], values[1]
    point.__name__ = "X,Y"
    return point


def word_list(text: str) -> list[str]:
    """--words W1,W2,...: words with a pronunciation (the DVS-Lip 100 or the CMU dictionary), checked
    when parsed; separated by commas (or spaces), lower-cased, surrounding punctuation stripped."""
    from stream.synthlip.lexicon import parse_words

    try:
        return parse_words(text, ",")
    except SpikeLipError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def sentence_words(text: str) -> str:
    """--sentence "WORD WORD ...": words with a pronunciation, checked when parsed (the text comes back)."""
    from stream.synthlip.lexicon import parse_words

    try:
        parse_words(text, "")
    except SpikeLipError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text
