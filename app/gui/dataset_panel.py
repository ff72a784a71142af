"""Browsing a DVS-Lip (or SynthLip) folder: pick split, word and clip, or play a shuffled
playlist, and keep the session's running accuracy against the true words.
"""
from __future__ import annotations

import random
from pathlib import Path

from PyQt6 import QtCore, QtWidgets

from app.gui import theme
from stream.errors import SpikeLipError
from stream.sources.npy import list_clips

SPLITS = ("test", "train")


class DatasetPanel(QtWidgets.QGroupBox):
    """Emits `play(path, true_word)`; the window reports each clip's outcome to `record`."""

    play = QtCore.pyqtSignal(object, str)

    def __init__(self, parent=None) -> None:
        super().__init__("DVS-Lip clips", parent)
        self.root: Path | None = None
        self.words: list[str] = []
        self.clips: list[tuple[Path, int]] = []
        self.playlist: list[tuple[Path, int]] = []
        self.right = self.total = 0
        self.split_box = QtWidgets.QComboBox()
        self.word_box = QtWidgets.QComboBox()
        self.word_box.setMinimumContentsLength(10)
        self.clip_box = QtWidgets.QComboBox()
        self.clip_box.setMinimumContentsLength(8)
        self.play_button = QtWidgets.QPushButton("Play clip")
        self.shuffle_button = QtWidgets.QPushButton("Shuffled playlist")
        self.shuffle_button.setCheckable(True)
        self.accuracy = QtWidgets.QLabel()
        self.accuracy.setMinimumWidth(220)
        self.split_box.currentTextChanged.connect(self._load_split)
        self.word_box.currentTextChanged.connect(self._fill_clips)
        self.play_button.clicked.connect(self._play_selected)
        self.shuffle_button.toggled.connect(self._toggle_playlist)
        layout = QtWidgets.QHBoxLayout(self)
        for label, widget in (("split", self.split_box), ("word", self.word_box), ("clip", self.clip_box)):
            layout.addWidget(QtWidgets.QLabel(label))
            layout.addWidget(widget)
        layout.addWidget(self.play_button)
        layout.addWidget(self.shuffle_button)
        layout.addStretch(1)
        layout.addWidget(self.accuracy)
        self._show_accuracy()

    def open(self, root: str | Path, words: list[str]) -> None:
        """Show the clips of a `<root>/<split>/<word>/<k>.npy` folder; SpikeLipError if it has none."""
        root = Path(root)
        splits = [s for s in SPLITS if (root / s).is_dir()]
        if not splits:
            raise SpikeLipError(f"{root}: no 'test' or 'train' folder; expected {root}/test/<word>/<k>.npy")
        clips = list_clips(root, splits[0], words)  # fail here, with its message, before changing anything
        self.root, self.words = root, list(words)
        self.setTitle(f"DVS-Lip clips — {root.name}")
        self.split_box.blockSignals(True)
        self.split_box.clear()
        self.split_box.addItems(splits)
        self.split_box.blockSignals(False)
        self._load_split(splits[0], clips)

    def next_clip(self) -> tuple[Path, str] | None:
        """The next clip of the shuffled playlist, or None when it is off or done."""
        if not self.shuffle_button.isChecked() or not self.playlist:
            return None
        path, label = self.playlist.pop()
        return path, self.words[label]

    def record(self, correct: bool) -> None:
        self.total += 1
        self.right += bool(correct)
        self._show_accuracy()

    def _load_split(self, split: str, clips: list | None = None) -> None:
        if not split or self.root is None:
            return
        self.clips = clips if clips is not None else list_clips(self.root, split, self.words)
        present = sorted({self.words[label] for _, label in self.clips})
        self.word_box.blockSignals(True)
        self.word_box.clear()
        self.word_box.addItems(present)
        self.word_box.blockSignals(False)
        self._fill_clips(present[0] if present else "")
        if self.shuffle_button.isChecked():
            self._toggle_playlist(True)

    def _fill_clips(self, word: str) -> None:
        self.clip_box.clear()
        for path, label in self.clips:
            if self.words[label] == word:
                self.clip_box.addItem(path.stem, path)

    def _play_selected(self) -> None:
        path = self.clip_box.currentData()
        if path is not None:
            self.play.emit(path, self.word_box.currentText())

    def _toggle_playlist(self, on: bool) -> None:
        self.playlist = []
        if on and self.clips:
            self.playlist = list(self.clips)
            random.shuffle(self.playlist)
            nxt = self.next_clip()
            if nxt is not None:
                self.play.emit(*nxt)

    def _show_accuracy(self) -> None:
        if not self.total:
            self.accuracy.setText(f"<span style='color:{theme.css(theme.MUTED)}'>session accuracy: no clips yet</span>")
            return
        pct = self.right / self.total
        colour = theme.GOOD if pct >= 0.5 else theme.BAD
        left = f", {len(self.playlist)} left" if self.shuffle_button.isChecked() else ""
        self.accuracy.setText(
            f"session accuracy <b style='color:{theme.css(colour)}'>{self.right}/{self.total} ({pct:.0%})</b>{left}"
        )
