"""The studio's one mechanism for background work (exports, mesh extraction, gallery
thumbnails): a function run on a worker thread, with progress, cancel, and results
delivered on the GUI thread.

The worker thread never touches a widget: it emits private signals that are queued to
this object, which lives on the GUI thread, and only there are the public signals
(`progressed`, `finished`, `failed`) emitted, so anything connected to them may update
widgets. The thread starts in `start()`, after the caller has connected its slots, so no
result can be emitted before anyone listens. Once its end has been delivered the Job
deletes its Qt side, so a long-lived parent does not collect finished jobs and their
results (the soak bench found the viewport's mesh jobs piling up); Python attributes such
as `result`, `error` and `done` stay readable for whoever holds the object.
"""
from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QProgressDialog


class Cancelled(Exception):
    pass


class Job(QObject):
    progressed = Signal(int, int)       # done, total (GUI thread)
    finished = Signal(object)           # result (GUI thread)
    failed = Signal(str)                # one-line reason, "cancelled" when cancelled (GUI thread)
    _worker_progressed = Signal(int, int)
    _worker_finished = Signal(object)
    _worker_failed = Signal(str)

    def __init__(self, parent, title: str, fn, total: int = 0, show_dialog: bool = True):
        """fn(report(done, total), is_cancelled) -> result; report raises Cancelled once
        the job has been cancelled. Call start() once the signals are connected."""
        super().__init__(parent)
        self._fn = fn
        self._cancel = threading.Event()
        self.done = threading.Event()
        self.result = None
        self.error = None
        self._thread: threading.Thread | None = None
        # queued: emitted on the worker thread, delivered here on the GUI thread
        self._worker_progressed.connect(self._deliver_progress, Qt.ConnectionType.QueuedConnection)
        self._worker_finished.connect(self._deliver_finished, Qt.ConnectionType.QueuedConnection)
        self._worker_failed.connect(self._deliver_failed, Qt.ConnectionType.QueuedConnection)
        self.dialog = None
        if show_dialog:
            self.dialog = QProgressDialog(title, "Cancel", 0, total, parent)
            self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
            self.dialog.setMinimumDuration(300)
            self.dialog.canceled.connect(self._cancel.set)
            self.progressed.connect(self._show_progress)
            self.finished.connect(self.dialog.reset)
            self.failed.connect(lambda _m: self.dialog.reset())

    def start(self) -> "Job":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        def report(done, total):
            if self._cancel.is_set():
                raise Cancelled()
            self._emit(self._worker_progressed, done, total)

        try:
            self.result = self._fn(report, self._cancel.is_set)
            self._emit(self._worker_finished, self.result)
        except Cancelled:
            self.error = "cancelled"
            self._emit(self._worker_failed, "cancelled")
        except Exception as e:  # shown to the user, never fatal
            self.error = str(e).splitlines()[0] if str(e) else type(e).__name__
            self._emit(self._worker_failed, self.error)
        finally:
            self.done.set()

    @staticmethod
    def _emit(signal, *args):
        try:
            signal.emit(*args)
        except RuntimeError:  # the Job went with its window while the work ran: nobody to tell
            pass

    @Slot(int, int)
    def _deliver_progress(self, done, total):
        self.progressed.emit(done, total)

    @Slot(object)
    def _deliver_finished(self, result):
        self.finished.emit(result)
        self.deleteLater()

    @Slot(str)
    def _deliver_failed(self, reason):
        self.failed.emit(reason)
        self.deleteLater()

    def cancel(self):
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work has ended (for shutdown); True if it has."""
        return self.done.wait(timeout) if self._thread is not None else True

    def _show_progress(self, done, total):
        if self.dialog is not None:
            self.dialog.setMaximum(total)
            self.dialog.setValue(done)
