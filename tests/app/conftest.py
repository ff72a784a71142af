"""Fixtures of the window tests."""
import pytest
import torch


@pytest.fixture
def gui_application(qapp):
    """The themed application; it sets torch to one thread, which the other tests must not inherit."""
    from app.gui.launch import application

    threads = torch.get_num_threads()
    yield application()
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def model():
    """The `small` network, untrained: the window tests need a model, not its reading, and it loads fast."""
    from model import build
    from stream.sources.npy import dvslip_words

    net = build("small").eval()
    return net, getattr(net, "words", None) or dvslip_words(), "small (test)", "torch"


@pytest.fixture
def window(qtbot, model, tmp_path, gui_application):
    """The window, offscreen, with settings of its own, replaying files as fast as it can."""
    from PyQt6 import QtCore

    from app.gui.main_window import MainWindow

    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(model=model, settings=settings, speed=None)
    qtbot.addWidget(w)
    w.resize(1400, 850)
    w.show()
    yield w
    w.close()


@pytest.fixture(scope="module")
def not_a_folder(tmp_path_factory):
    """A file: no folder can be made under it (an output path that cannot be written)."""
    path = tmp_path_factory.mktemp("blocked") / "file.txt"
    path.write_text("a file, so no folder can be made under it\n")
    return path
