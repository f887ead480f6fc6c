"""Long work off the GUI thread with a progress dialog and a Cancel button."""
from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog


class Cancelled(Exception):
    pass


class Job(QObject):
    progressed = Signal(int, int)       # done, total
    finished = Signal(object)           # result
    failed = Signal(str)

    def __init__(self, parent, title: str, fn, total: int = 0, show_dialog: bool = True):
        """fn(report(done, total), is_cancelled) -> result; report raises Cancelled once
        the user has pressed Cancel."""
        super().__init__(parent)
        self._cancel = threading.Event()
        self.dialog = None
        if show_dialog:
            self.dialog = QProgressDialog(title, "Cancel", 0, total, parent)
            self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
            self.dialog.setMinimumDuration(300)
            self.dialog.canceled.connect(self._cancel.set)
            self.progressed.connect(self._show_progress)
            self.finished.connect(self.dialog.reset)
            self.failed.connect(lambda _m: self.dialog.reset())
        self.done = threading.Event()
        self.result = None
        self.error = None

        def report(done, total_):
            if self._cancel.is_set():
                raise Cancelled()
            self.progressed.emit(done, total_)

        def run():
            try:
                self.result = fn(report, self._cancel.is_set)
                self.finished.emit(self.result)
            except Cancelled:
                self.error = "cancelled"
                self.failed.emit("cancelled")
            except Exception as e:  # shown to the user, never fatal
                self.error = str(e).splitlines()[0] if str(e) else type(e).__name__
                self.failed.emit(self.error)
            finally:
                self.done.set()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def cancel(self):
        self._cancel.set()

    def _show_progress(self, done, total):
        if self.dialog is not None:
            self.dialog.setMaximum(total)
            self.dialog.setValue(done)
