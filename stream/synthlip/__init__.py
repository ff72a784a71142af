"""SynthLip: a synthetic DVS-Lip: words spoken by rendered mouths, seen by a DVS model.

The 100 DVS-Lip words by default; any word of the CMU Pronouncing Dictionary on request
(`lexicon`: the DVS-Lip words keep their table, so their clips never change).

Public API:
- `generate_dataset(out_dir, clips_per_word, seed, split="both", workers=2, progress=True,
  words=None)`: `<out_dir>/{train,test}/<word>/<k>.npy` in the DVS-Lip format, plus
  `<out_dir>/words.txt` (label order) unless the words are exactly the DVS-Lip 100.
- `render_word_events(word, speaker, seed, **options)`: one clip's events (EVENT_DTYPE,
  128 x 128, t in microseconds from 0); `render_word` returns them with the trajectory.
- `generate_sentence(words, out_path, seed, sensor=SensorSize(346, 260), pause_s=(0.3, 0.7))`:
  an AEDAT4 recording of several words, `pause_s` seconds of rest apart, plus `<stem>.json`
  ground truth; returns that ground truth.

Modules: phonemes (table, visemes, coarticulation), lexicon (words -> pronunciations, the CMU
dictionary for words outside the 100), speakers (variation, seed streams), mouth
(renderer), dvs (event camera model), render (words to events), dataset, sentence, samples
(the demo's bundled recordings), build_phonemes (dev tool: rebuilds assets/phonemes.json),
photo (a real face as DAVIS frames and events, for `--roi auto`; imported on its own).
"""
from stream.synthlip.dataset import generate_dataset
from stream.synthlip.dvs import DvsConfig, DvsSimulator, frames_to_events
from stream.synthlip.phonemes import load_pronunciations, load_words, word_track
from stream.synthlip.render import Rendered, render_word, render_word_events
from stream.synthlip.sentence import generate_sentence, generate_sentences
from stream.synthlip.speakers import Speaker, make_speaker, split_speaker_ids

__all__ = [
    "generate_dataset", "generate_sentence", "generate_sentences", "render_word", "render_word_events", "Rendered",
    "DvsConfig", "DvsSimulator", "frames_to_events", "Speaker", "make_speaker", "split_speaker_ids",
    "load_words", "load_pronunciations", "word_track",
]
