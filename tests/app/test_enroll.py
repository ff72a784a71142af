"""`spikelip enroll` and `app.enroll`: prompted takes cut by the segmenter into DVS-Lip clips.

A SynthLip sentence of the prompted words stands in for the person at the camera; its ground
truth (each word's start and end) is the independent judge of every clip (`enrol_helpers`)."""
from __future__ import annotations

import builtins
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.enroll import POST_S, PRE_S, AdaptProgress, Cutter, Enrolment, read_words
from app.segment import Word
from enrol_helpers import check_clips, sentence, takes
from stream.constants import BIN_S, BIN_US
from stream.errors import SpikeLipError
from stream.events import make_events
from stream.sources import open_file
from stream.sources.npy import dvslip_words, save_clip

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["water", "million", "several"]


def tiny_clip(n: int = 5) -> np.ndarray:
    return make_events(np.arange(n) * 1000, np.full(n, 3), np.full(n, 4), np.ones(n))


# ---------------------------------------------------------------------- the word list and the folder


def test_words_come_from_a_file_or_a_comma_list(tmp_path):
    listed = tmp_path / "mine.txt"
    listed.write_text("# my words\nWater\n\nmillion, hello\nwater\n")
    assert read_words(str(listed)) == ["water", "million", "hello"]
    assert read_words("yes, No,yes") == ["yes", "no"]
    with pytest.raises(SpikeLipError, match="'qxzvbt' is not in the CMU Pronouncing Dictionary"):
        read_words("water,qxzvbt")
    with pytest.raises(SpikeLipError, match="no such file"):
        read_words(str(tmp_path / "missing.txt"))
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(SpikeLipError, match="empty"):
        read_words(str(tmp_path / "empty.txt"))


def test_prompts_go_a_round_at_a_time_and_a_new_run_resumes_with_the_first_missing_take(tmp_path):
    e = Enrolment(tmp_path / "me", ["water", "million"], takes=2)
    assert (e.done, e.total) == (0, 4)
    order = []
    for _ in range(2):
        p = e.next_prompt()
        order.append((p.word, p.take, p.index))
        e.save(p.word, tiny_clip())
    assert order == [("water", 1, 0), ("million", 1, 0)]
    resumed = Enrolment(tmp_path / "me", ["water", "million"], takes=2)  # as after a crash: the files count
    assert resumed.done == 2 and resumed.next_prompt().word == "water" and resumed.next_prompt().take == 2
    (tmp_path / "me" / "train" / "water" / "0.npy").unlink()  # a gap is filled first
    assert resumed.next_prompt() == resumed.next_prompt() and resumed.next_prompt().index == 0
    for _ in range(3):
        p = resumed.next_prompt()
        resumed.save(p.word, tiny_clip())
    assert resumed.complete and resumed.done == 4
    assert sorted(p.name for p in (tmp_path / "me" / "train" / "water").iterdir()) == ["0.npy", "1.npy"]
    assert (tmp_path / "me" / "words.txt").read_text() == "million\nwater\n"  # DVS-Lip label order


def test_words_txt_is_written_unless_the_words_are_the_dvslip_100(tmp_path):
    Enrolment(tmp_path / "all", None)
    assert not (tmp_path / "all" / "words.txt").exists()
    e = Enrolment(tmp_path / "some", ["water", "attacks"])
    assert e.words == ["water", "attacks"]  # prompted as given
    assert (tmp_path / "some" / "words.txt").read_text() == "attacks\nwater\n"  # label order: DVS-Lip's
    e = Enrolment(tmp_path / "some")  # no --words: the folder's own list
    assert e.words == ["attacks", "water"] and e.takes == 3
    assert len(Enrolment(tmp_path / "all").words) == len(dvslip_words())


def test_a_folder_with_clips_of_other_words_is_refused(tmp_path):
    save_clip(tmp_path / "me" / "train" / "attacks" / "0.npy", tiny_clip())
    with pytest.raises(SpikeLipError, match=r"holds clips of words not in --words \(attacks\)"):
        Enrolment(tmp_path / "me", ["water"])
    Enrolment(tmp_path / "me", ["water", "attacks"])  # with them it carries on


# ---------------------------------------------------------------------- cutting


def _feed_sentence(cutter: Cutter, origin_us: int, spans, until_s: float, listen_at=None):
    """Steps of a made-up stream: 10 events per bin at rest, 300 inside `spans` (start, end s);
    the segmenter's verdicts as the pipeline reports them (onset 7 bins late, the word at offset)."""
    cuts, all_events = [], []
    rng = np.random.default_rng(0)
    onsets = {int(round((s + 6 * BIN_S) / BIN_S)): s for s, _ in spans}
    commits = {int(round((e + 8 * BIN_S) / BIN_S)): (s, e) for s, e in spans}
    for k in range(int(until_s / BIN_S)):
        t_s = k * BIN_S
        busy = any(s <= t_s < e for s, e in spans)
        n = 300 if busy else 10
        t = origin_us + int(round(k * BIN_US)) + np.sort(rng.integers(0, int(BIN_US), n))
        raw = make_events(t, rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n))
        all_events.append(raw)
        word = Word("w", 0.5, *commits[k]) if k in commits else None
        if listen_at is not None and k == int(listen_at / BIN_S):
            cut = cutter.listen(listen_at)
            cuts += [cut] if cut else []
        cut = cutter.feed(origin_us + int(round(k * BIN_US)), t_s, raw, k in onsets, word, busy)
        cuts += [cut] if cut else []
    return cuts, np.concatenate(all_events)


def test_the_cutter_keeps_rest_around_the_word_and_stops_half_way_to_its_neighbours():
    origin = 5_000_000
    spans = [(0.5, 0.9), (1.0, 1.5), (1.8, 2.2)]
    cutter = Cutter()
    cuts, events = _feed_sentence(cutter, origin, spans, 4.0, listen_at=0.95)  # after the first word ended
    assert len(cuts) == 1
    cut = cuts[0]
    word_start, word_end = cut.word.start_s, cut.word.end_s
    assert abs(word_start - 1.0) < 2 * BIN_S and abs(word_end - 1.5) < 2 * BIN_S
    # rest before: PRE_S, but no closer than half-way to the first word's end; after: up to half-way to the third
    assert cut.start_s == pytest.approx(max(word_start - PRE_S, (spans[0][1] + word_start) / 2), abs=2 * BIN_S)
    assert cut.end_s == pytest.approx(min(word_end + POST_S, (word_end + 1.8) / 2), abs=2 * BIN_S)
    t0, t1 = cut.start_us, cut.end_us
    expected = events[(events["t"] >= t0) & (events["t"] < t1)].copy()
    expected["t"] -= t0
    assert np.array_equal(cut.events, expected)


def test_a_listener_that_lags_behind_the_stream_still_gets_the_next_word():
    cutter = Cutter()
    _feed_sentence(cutter, 0, [(0.5, 0.9), (1.4, 1.8)], 3.0)  # nothing asked while it streamed
    first = cutter.listen(float("-inf"))
    second = cutter.listen(first.end_s)
    assert abs(first.word.start_s - 0.5) < 2 * BIN_S and abs(second.word.start_s - 1.4) < 2 * BIN_S
    assert first.end_s <= second.start_s and cutter.listen(second.end_s) is None


# ---------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def six_words(tmp_path_factory):
    """Each word said twice, in prompt order, a prompt at a time (0.8-1.2 s apart)."""
    return sentence(tmp_path_factory.mktemp("enrol") / "six.aedat4", WORDS * 2, seed=5)


def run_enroll(args, capsys):
    code = main(["enroll", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_every_prompted_word_is_cut_from_a_sentence_into_its_clip(tmp_path, six_words, capsys):
    folder = tmp_path / "me"
    code, out, err = run_enroll(["--out", folder, "--words", ",".join(WORDS), "--takes", 2, "--speed", 0,
                                 six_words], capsys)
    assert code == 0, err
    kept = check_clips(folder, six_words, spoken=list(range(6)))
    assert [t["word"] for t in kept] == WORDS * 2
    for word in WORDS:
        assert sorted(p.name for p in (folder / "train" / word).iterdir()) == ["0.npy", "1.npy"]
    assert (folder / "words.txt").read_text().split() == ["million", "several", "water"]  # DVS-Lip label order
    sessions = list((folder / "sessions").glob("*.aedat4"))
    assert len(sessions) == 1 and kept[0]["session"] == sessions[0].name
    lines = out.splitlines()
    assert "[1/6] 'water' (take 1 of 2)" in lines and lines.count("  3  2  1  ... say it now") == 6
    assert f"6 of 6 clips in {folder}" in lines
    assert lines[-1] == f"next: spikelip adapt --data {folder} --out runs/me"


@pytest.mark.slow
def test_words_said_quickly_one_after_another_are_each_cut_without_their_neighbours(tmp_path, capsys):
    said = ["million", "several", "water", "million", "several"]
    recording = sentence(tmp_path / "quick.aedat4", said, seed=6, pause=(0.3, 0.7))  # as in speech
    folder = tmp_path / "me"
    code, _, err = run_enroll(["--out", folder, "--words", "million,several,water", "--takes", 2, "--speed", 0,
                               "--countdown", 0, recording], capsys)
    assert code == 0, err
    check_clips(folder, recording, spoken=list(range(5)), min_rest=0.0)


@pytest.mark.slow
def test_a_new_run_carries_on_where_the_recording_stopped_and_loses_nothing(tmp_path, capsys):
    folder = tmp_path / "me"
    first = sentence(tmp_path / "first.aedat4", WORDS[:2], seed=7)
    code, out, _ = run_enroll(["--out", folder, "--words", ",".join(WORDS), "--takes", 1, "--speed", 0,
                               "--countdown", 0, first], capsys)
    assert code == 0 and "the recording ended before every take was made" in out
    assert "2 of 3 clips" in out and "1 takes are missing: run the same command to record them" in out
    check_clips(folder, first)
    saved = {p: p.read_bytes() for p in (folder / "train").rglob("*.npy")}
    rest = sentence(tmp_path / "rest.aedat4", WORDS[2:], seed=8)
    code, out, _ = run_enroll(["--out", folder, "--words", ",".join(WORDS), "--speed", 0, "--countdown", 0,
                               "--takes", 1, rest], capsys)
    assert code == 0 and out.splitlines()[0].endswith("2 of 3 clips there") and "[3/3] 'several'" in out
    assert all(p.read_bytes() == data for p, data in saved.items())  # the first run's clips are untouched
    assert [t["word"] for t in takes(folder)] == WORDS and len(list((folder / "sessions").iterdir())) == 2
    check_clips(folder, rest, spoken=[0], first=2)
    assert Enrolment(folder, takes=1).complete


@pytest.mark.slow
def test_on_a_terminal_a_take_can_be_redone_and_q_quits_keeping_the_rest(tmp_path, capsys, monkeypatch):
    said = ["water", "water", "million", "several"]
    recording = sentence(tmp_path / "redo.aedat4", said, seed=9)
    answers = iter(["r", "", "", "q"])  # redo the first 'water', keep the second and 'million', quit at 'several'
    asked = []

    def answer(question):
        asked.append(question)
        return next(answers)

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(builtins, "input", answer)
    folder = tmp_path / "me"
    code, out, _ = run_enroll(["--out", folder, "--words", ",".join(WORDS), "--takes", 1, "--speed", 0,
                               "--countdown", 0, recording], capsys)
    assert code == 0 and len(asked) == 4 and "  again" in out and "quitting" in out
    check_clips(folder, recording, spoken=[1, 2])  # 'water' from its second utterance
    assert Enrolment(folder).done == 2 and "1 takes are missing" in out


@pytest.mark.slow
def test_silence_after_the_prompt_gets_a_hint_and_the_prompt_again(tmp_path, capsys):
    recording = sentence(tmp_path / "slow.aedat4", WORDS[:2], seed=4, pause=(7.0, 7.0))
    folder = tmp_path / "me"
    code, out, _ = run_enroll(["--out", folder, "--words", ",".join(WORDS[:2]), "--takes", 1, "--speed", 0,
                               "--countdown", 0, "--timeout", 3, recording], capsys)
    assert code == 0 and out.count("no speech heard") >= 1
    assert out.count("[2/2] 'million' (take 1 of 1)") >= 2  # prompted again after the hint
    check_clips(folder, recording, spoken=[0, 1])


@pytest.mark.slow
def test_adapt_runs_right_after_and_makes_a_model_of_the_words(tmp_path, six_words, capsys):
    folder, run = tmp_path / "me", tmp_path / "run"
    code, out, err = run_enroll(["--out", folder, "--words", ",".join(WORDS), "--takes", 2, "--speed", 0,
                                 "--countdown", 0, "--adapt", run, "--adapt-minutes", 0.2, six_words], capsys)
    assert code == 0, err
    assert f"adapting: spikelip adapt --data {folder} --out {run} --minutes 0.2" in out
    from model import build

    net = build(str(run / "model.json"))
    assert net.words == ["million", "several", "water"]
    assert f"use it: spikelip replay --model {run / 'model.json'}" in out


def test_adapt_progress_follows_the_epochs_and_their_planned_number():
    progress = AdaptProgress(minutes=1000, max_epochs=60)
    progress.log("epoch 0: held-out takes top-1 11.0%")
    assert progress.fraction < 0.01
    progress.log("epoch 10 of 40: loss 0.300, held-out takes top-1 90.0% (2.0 s)")  # the budget's plan
    assert progress.fraction == pytest.approx(0.25, abs=0.01)
    progress.log("kept the model before fine-tuning: ...")
    assert progress.epoch == 10 and progress.line.startswith("kept")
    progress.done = True
    assert progress.fraction == 1.0


def _start(args):
    return subprocess.Popen([sys.executable, "-m", "app.cli", "enroll", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.slow
def test_ctrl_c_keeps_every_clip_and_a_finalised_session_and_the_next_run_finishes(tmp_path, six_words, capsys):
    import dv_processing as dv

    folder = tmp_path / "me"
    proc = _start(["--out", folder, "--words", ",".join(WORDS), "--takes", 2, "--countdown", 0, six_words])
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            if line.startswith("  saved "):
                break
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and f"stopped: 1 of 6 clips in {folder} and every event in" in stderr
    session = next((folder / "sessions").glob("*.aedat4"))
    recording = dv.io.MonoCameraRecording(str(session))  # dv-processing opens only finalised files
    parts = []
    while (batch := recording.getNextEventBatch()) is not None:
        a = batch.numpy()
        parts.append(make_events(a["timestamp"], a["x"], a["y"], a["polarity"]))
    kept = np.concatenate(parts)
    said = np.concatenate(list(open_file(six_words)))
    assert np.array_equal(kept, said[:len(kept)])  # every event read before the signal, in order
    assert kept["t"][-1] >= takes(folder)[0]["end_us"]
    check_clips(folder, six_words, spoken=[0])
    missing = (WORDS * 2)[1:]  # the prompts still to come, in their order
    rest = sentence(tmp_path / "rest.aedat4", missing, seed=6)
    code, out, err = run_enroll(["--out", folder, "--words", ",".join(WORDS), "--takes", 2, "--speed", 0,
                                 "--countdown", 0, rest], capsys)
    assert code == 0 and out.splitlines()[0].endswith("1 of 6 clips there"), err
    check_clips(folder, rest, spoken=list(range(5)), first=1)
    assert Enrolment(folder, WORDS, 2).complete


BAD_INPUT = [
    (["--words", "water,qxzvbt"], "argument --words: 'qxzvbt' is not in the CMU Pronouncing Dictionary"),
    (["--out", "{blocker}/me"], "argument --out: {blocker}/me: {blocker} is a file, not a folder"),
    (["{tmp}/missing.aedat4"], "argument PATH: {tmp}/missing.aedat4: no such file or folder"),
    (["--words", "water", "{sample}"], "{tmp}/me: holds clips of words not in --words (attacks)"),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv,message", BAD_INPUT, ids=["no pronunciation", "unwritable DIR", "missing PATH",
                                                         "other words in DIR"])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, not_a_folder):
    save_clip(tmp_path / "me" / "train" / "attacks" / "0.npy", tiny_clip())
    fill = {"tmp": tmp_path, "blocker": not_a_folder, "sample": ROOT / "assets" / "samples" / "sample.aedat4"}
    argv = [a.format(**fill) for a in argv]
    if "--out" not in argv:
        argv = ["--out", str(tmp_path / "me"), *argv]
    done = subprocess.run([sys.executable, "-m", "app.cli", "enroll", *argv], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and "Traceback" not in done.stderr, done.stderr
    assert err[0].startswith(f"spikelip enroll: error: {message.format(**fill)}"), err
    assert not (tmp_path / "me" / "sessions").exists() and not (tmp_path / "me" / "words.txt").exists()
