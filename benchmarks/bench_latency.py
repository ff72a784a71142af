"""`spikelip latency` on the runs the README reports, via the command itself (same code path).

1. The bundled sample sentence at 1x with each runtime: stages, missed deadlines, word decisions.
2. `--compare`: small (bundled weights) and paper-causal (random weights; dense step cost does
   not depend on them) x every runtime, interleaved on the same bins.
3. Flood: synthetic 12 M and 50 M events/s on a 346 x 260 sensor for 10 s at real time.
4. A 60 s SynthLip recording at 1x with paper-causal on the fastest runtime (`--long`, default on).

    .venv/bin/python benchmarks/bench_latency.py [--no-long]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.cli import main as spikelip  # noqa: E402
from app.models import RUNTIMES  # noqa: E402
from benchmarks.common import write_result  # noqa: E402

LONG_WORDS = 50  # every second word of the vocabulary: about 60 s of speech and pauses


def latency(args: list[str], tmp: Path, name: str) -> dict:
    out = tmp / f"{name}.json"
    print(f"\n$ spikelip latency {' '.join(args)}", flush=True)
    if spikelip(["latency", *args, "--json", str(out)]) != 0:
        raise SystemExit(f"spikelip latency {' '.join(args)} failed")
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-long", dest="long", action="store_false", help="skip the 60 s paper-causal replay")
    opts = parser.parse_args()
    result: dict = {"runtimes": list(RUNTIMES)}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        result["sample"] = {r: latency(["--runtime", r], tmp, f"sample-{r}") for r in RUNTIMES}
        result["compare"] = latency(["--compare", "--duration", "5"], tmp, "compare")["runs"]
        result["flood"] = {f"{rate / 1e6:g}M": latency(["--synthetic", f"{rate:g}", "--duration", "10"], tmp, f"flood-{rate:g}")
                           for rate in (12e6, 50e6)}
        if opts.long:
            from stream.sources.npy import dvslip_words
            from stream.synthlip import generate_sentence

            rec = tmp / "long.aedat4"
            generate_sentence(dvslip_words()[::2][:LONG_WORDS], rec, seed=11)
            result["long_paper_causal"] = latency([str(rec), "--model", "paper-causal"], tmp, "long")
    write_result("latency", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
