import os

import pytest

from studio_helpers import wait_refined

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def studio(qtbot, tmp_path, monkeypatch):
    """The studio on the bundled model, with dialogs recorded instead of shown."""
    from PySide6.QtCore import QStandardPaths
    from PySide6.QtWidgets import QMessageBox

    QStandardPaths.setTestModeEnabled(True)
    errors = []
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda *a, **k: errors.append(a[2])))
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda *a, **k: errors.append(a[2])))
    from app.main_window import MainWindow

    w = MainWindow(ask_to_restore=False)
    qtbot.addWidget(w)
    w.show()
    w.errors = errors
    wait_refined(qtbot, w)
    yield w
    w.close()  # stops every background thread
