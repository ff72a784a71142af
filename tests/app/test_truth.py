"""Ground truth beside a recording: read back what was written, in both clocks; overlap matching."""
import json

from app.truth import WordSpan, read_sentence, read_word_times, spoken_at


def test_sentence_json_reads_back_in_stream_and_window_clocks(tmp_path):
    rec = tmp_path / "s.aedat4"
    words = [{"word": "water", "start_us": 5_400_000, "end_us": 5_900_000},
             {"word": "about", "start_us": 5_100_000, "end_us": 5_300_000}]
    rec.with_suffix(".json").write_text(json.dumps({"t_start_us": 5_000_000, "words": words}))
    origin, spans = read_sentence(rec)
    assert origin == 5_000_000
    assert spans == [WordSpan("about", 5_100_000, 5_300_000), WordSpan("water", 5_400_000, 5_900_000)]
    times = read_word_times(rec)
    assert [w.word for w in times] == ["about", "water"]
    assert times[1].start == 0.4 and times[1].end == 0.9


def test_missing_or_foreign_json_is_no_ground_truth(tmp_path):
    rec = tmp_path / "s.aedat4"
    assert read_sentence(rec) == (0, []) and read_word_times(rec) == []
    rec.with_suffix(".json").write_text(json.dumps({"something": "else"}))
    assert read_sentence(rec) == (0, [])
    rec.with_suffix(".json").write_text("{not json")
    assert read_word_times(rec) == []


def test_spoken_at_picks_the_largest_overlap():
    spans = [WordSpan("a", 0.0, 1.0), WordSpan("b", 1.0, 2.0)]
    assert spoken_at(spans, 0.8, 1.5).word == "b"
    assert spoken_at(spans, 0.2, 1.1).word == "a"
    assert spoken_at(spans, 3.0, 4.0) is None and spoken_at([], 0.0, 1.0) is None
