"""What the model says: top-5 bars every step, the listening/speaking state, the transcript."""
from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from app.gui import theme
from app.segment import Word


class Top5Bars(QtWidgets.QWidget):
    """Five words with probability bars; the top word stands out, the true word (if known) is marked."""

    ROW = 30

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.top5: list[tuple[str, float]] = []
        self.truth: str | None = None
        self.setMinimumHeight(self.ROW * 5 + 6)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)

    def set_top5(self, top5: list[tuple[str, float]]) -> None:
        if top5 != self.top5:
            self.top5 = list(top5)
            self.update()

    def set_truth(self, word: str | None) -> None:
        self.truth = word
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        w = self.width()
        name_w, pct_w = 130, 56
        bar_w = max(10, w - name_w - pct_w - 12)
        font = QtGui.QFont(theme.FONT_FAMILY, theme.FONT_SIZE + 2)
        for i in range(5):
            y = 3 + i * self.ROW
            word, prob = self.top5[i] if i < len(self.top5) else ("", 0.0)
            first = i == 0 and bool(word)
            font.setBold(first)
            p.setFont(font)
            colour = theme.ACCENT if first else theme.TEXT
            if word and word == self.truth:
                colour = theme.GOOD
            p.setPen(QtGui.QColor(*colour))
            p.drawText(QtCore.QRectF(4, y, name_w - 8, self.ROW - 6),
                       QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignLeft,
                       word + (" ✓" if word and word == self.truth else ""))
            track = QtCore.QRectF(name_w, y + 5, bar_w, self.ROW - 14)
            p.fillRect(track, QtGui.QColor(40, 44, 54))
            bar = QtCore.QRectF(track.x(), track.y(), track.width() * max(0.0, min(1.0, prob)), track.height())
            p.fillRect(bar, QtGui.QColor(*(theme.ACCENT if first else (70, 130, 190))))
            p.setPen(QtGui.QColor(*theme.TEXT))
            font.setBold(False)
            p.setFont(font)
            p.drawText(QtCore.QRectF(name_w + bar_w + 6, y, pct_w, self.ROW - 6),
                       QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignRight,
                       f"{prob:.0%}" if word else "")
        p.end()


class SpeechIndicator(QtWidgets.QWidget):
    """"speaking" while the segmenter hears a word, "listening" between words, "whole clip" otherwise."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.state = QtWidgets.QLabel()
        self.state.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.state.setMinimumWidth(150)
        self.activity = QtWidgets.QLabel()
        self.activity.setStyleSheet(f"color: {theme.css(theme.MUTED)}")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.state)
        layout.addWidget(self.activity, 1)
        self._state = None
        self.set_state(False, 0.0, segmented=True)

    def set_state(self, speaking: bool, level: float, segmented: bool) -> None:
        self.activity.setText(f"activity {level:4.0f} events/bin")
        if (speaking, segmented) == self._state:
            return
        self._state = (speaking, segmented)
        if not segmented:
            text = f"<span style='color:{theme.css(theme.MUTED)}'>■ whole clip</span>"
        elif speaking:
            text = f"<b style='color:{theme.css(theme.GOOD)}'>● speaking</b>"
        else:
            text = f"<span style='color:{theme.css(theme.MUTED)}'>○ listening</span>"
        self.state.setText(f"<span style='font-size:14pt'>{text}</span>")


class TranscriptView(QtWidgets.QWidget):
    """The recognised words: a running sentence in large type and a list with time and confidence."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.sentence = QtWidgets.QLabel()
        self.sentence.setWordWrap(True)
        self.sentence.setMinimumHeight(34)
        self.sentence.setStyleSheet(f"font-size: 15pt; color: {theme.css(theme.TEXT)}")
        self.list = QtWidgets.QListWidget()
        self.list.setFont(QtGui.QFont("DejaVu Sans Mono", theme.FONT_SIZE))
        self.list.setAlternatingRowColors(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.sentence)
        layout.addWidget(self.list, 1)
        self.words: list[tuple[Word, bool | None]] = []

    def clear(self) -> None:
        self.words.clear()
        self.list.clear()
        self.sentence.setText("")

    def add(self, word: Word, truth: str | None = None) -> None:
        """Append a committed word; with `truth` it is marked right or wrong."""
        self.words.append((word, None))
        self.list.addItem(QtWidgets.QListWidgetItem())
        self._show_last(word, truth)
        self.list.scrollToBottom()

    def revise(self, word: Word, truth: str | None = None) -> None:
        """The last word, read again for longer, is another word: it replaces it (marked "read again")."""
        if self.words:
            self._show_last(word, truth, again=True)

    def _show_last(self, word: Word, truth: str | None, again: bool = False) -> None:
        correct = None if truth is None else word.word == truth
        self.words[-1] = (word, correct)
        mark = "" if correct is None else ("  ✓" if correct else f"  ✗ {truth}")
        item = self.list.item(self.list.count() - 1)
        item.setText(f"{word.start_s:6.2f} s  {word.word:<13} {word.confidence:4.0%}{mark}{'  (read again)' if again else ''}")
        if correct is not None:
            item.setForeground(QtGui.QColor(*(theme.GOOD if correct else theme.BAD)))
        shown = []
        for w, ok in self.words[-8:]:
            colour = theme.TEXT if ok is None else (theme.GOOD if ok else theme.BAD)
            shown.append(f"<span style='color:{theme.css(colour)}'>{w.word}</span>")
        self.sentence.setText(" ".join(shown))
