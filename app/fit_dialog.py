"""File > New avatar from photo, and a photo dropped on the view: the photo is aligned
and fitted into the model on the studio's one worker mechanism (app/jobs.py Job), with
progress and live previews in a dialog; Stop keeps the best fit so far. The result is
saved to the avatar library and shown. Bad photos (no face, a profile, a tiny face, a
corrupt, unsupported or huge file) end in one dialog and nothing is written.

Nothing here blocks the GUI thread: loading, alignment, the fit and building the tuned
engine all run in the Job; only the finished result is installed on the GUI thread."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton, QVBoxLayout,
)

from app.jobs import Job
from core.fitting.align import PHOTO_SUFFIXES

PREVIEW_SIDE = 192


def _pixmap(rgb: np.ndarray, side: int = PREVIEW_SIDE) -> QPixmap:
    img = np.ascontiguousarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    h, w = img.shape[:2]
    q = QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(q).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation)


def _align_elsewhere(photo, names, cancelled):
    """align_photo in a child process: dlib's detector holds the GIL for seconds (measured:
    a 5.5 s stall of a thread beside it), which would freeze the GUI thread. Polled so
    that a cancel ends it at once."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, TimeoutError

    from app.jobs import Cancelled
    from core.fitting.align import ALIGN_RESOLUTION, align_photo

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        future = pool.submit(align_photo, photo, ALIGN_RESOLUTION, tuple(names))
        while True:
            try:
                return future.result(timeout=0.1)
            except TimeoutError:
                if cancelled():
                    raise Cancelled() from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def add_progress_rows(dialog, layout, status: str, stop_text: str) -> None:
    """A long job's dialog rows: `dialog.status` (a line of text), `dialog.bar` (busy
    until the first progress) and `dialog.stop_button`."""
    dialog.status = QLabel(status)
    layout.addWidget(dialog.status)
    dialog.bar = QProgressBar()
    dialog.bar.setRange(0, 0)
    layout.addWidget(dialog.bar)
    dialog.stop_button = QPushButton(stop_text)
    layout.addWidget(dialog.stop_button)


class FitDialog(QDialog):
    """Progress of one fit: the aligned photo beside the current render, a bar, Stop."""

    def __init__(self, parent, photo_name: str):
        super().__init__(parent)
        self.setWindowTitle(f"New avatar from {photo_name}")
        self.setModal(False)
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.photo_label, self.render_label = QLabel("aligning..."), QLabel("")
        for lab in (self.photo_label, self.render_label):
            lab.setFixedSize(PREVIEW_SIDE, PREVIEW_SIDE)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            row.addWidget(lab)
        lay.addLayout(row)
        add_progress_rows(self, lay, "Loading the photo...", "Stop (keep the best so far)")


class PhotoFitController(QObject):
    """Owns the fit job of a MainWindow `window` (one at a time)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.job: Job | None = None
        self.dialog: FitDialog | None = None
        self.preset = "default"
        # pivotal tuning: +2.2 dB on the input view of 8 held-out heads, -0.3 dB on novel
        # views (docs/photo-fitting.md)
        self.pti = True
        self._lock = threading.Lock()
        self._latest = {}     # worker -> GUI: {"photo": crop, "preview": render, "text": str}
        window.view.setAcceptDrops(True)
        window.view.installEventFilter(self)

    # -- entry points -------------------------------------------------------------------------
    def choose_photo(self):
        patterns = " ".join(f"*{s}" for s in PHOTO_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self.window, "New avatar from photo", "", f"Images ({patterns})")
        if path:
            self.start(path)

    def eventFilter(self, obj, event):  # noqa: N802
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if self._photo_of(event) is not None:
                event.acceptProposedAction()
                return True
        elif kind == QEvent.Type.Drop:
            path = self._photo_of(event)
            if path is not None:
                event.acceptProposedAction()
                self.start(path)
                return True
        return False

    @staticmethod
    def _photo_of(event):
        mime = event.mimeData()
        if mime is None or not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile():
                return url.toLocalFile()   # a wrong kind of file is refused with a dialog by start()
        return None

    # -- the job -------------------------------------------------------------------------------
    def start(self, path, settings=None) -> Job | None:
        """Fit the photo at `path` in the background; returns the Job (None if one runs)."""
        if self.job is not None and not self.job.done.is_set():
            self.window.statusBar().showMessage("A photo is being fitted already", 4000)
            return None
        from dataclasses import replace

        from core.fitting.fit import PRESETS

        if settings is None:
            settings = PRESETS[self.preset]
            if not self.pti:
                settings = replace(settings, pti_steps=0)
        path = Path(path)
        model_path = self.window.model_path
        device = str(self.window.engine.device)
        base = self.window.doc.state
        provenance = getattr(self.window.engine, "provenance", {})
        self._latest = {}
        self.dialog = FitDialog(self.window, path.name)
        job = Job(self.window, f"Fitting {path.name}", lambda report, cancelled: self._work(
            path, model_path, device, settings, base, provenance, report, cancelled), total=settings.steps + settings.pti_steps,
            show_dialog=False)
        self.job = job
        self.dialog.stop_button.clicked.connect(job.cancel)
        self.dialog.rejected.connect(job.cancel)
        job.progressed.connect(self._progress)
        job.finished.connect(self._finished)
        job.failed.connect(self._failed)
        self.dialog.show()
        return job.start()

    def _work(self, path, model_path, device, settings, base, provenance_of_engine, report, cancelled):
        """On the worker thread: never touches a widget."""
        from core.avatar import library_path
        from core.checkpoint import load_checkpoint
        from core.engine import InferenceEngine
        from core.fitting.align import load_photo
        from core.fitting.fit import fit_photo, make_avatar, training_codes

        photo = load_photo(path)
        model, provenance = load_checkpoint(model_path, device=device)
        try:
            face = _align_elsewhere(photo, model.cfg.expression_names, cancelled)
        except ValueError as e:
            raise ValueError(f"{path.name}: {e}") from None
        with self._lock:
            self._latest["photo"] = face.image
            self._latest["text"] = "; ".join(face.warnings)
        report(0, settings.steps + settings.pti_steps)

        def progress(p):
            with self._lock:
                self._latest["preview"] = p.preview
                self._latest["text"] = f"{p.stage} step {p.step}/{p.total}, loss {p.loss:.4f}, {p.elapsed_s:.0f} s"
            if not cancelled():
                report(p.step, p.total)

        result = fit_photo(model, face, settings, progress, cancel=cancelled, training_codes=training_codes(provenance))
        avatar = make_avatar(face, result, path.stem, model_path, path, settings, model)
        out = avatar.save(library_path(path.stem))
        engine = InferenceEngine(model, device)   # the model is the untuned one again
        avatar.apply_to_engine(engine, model_path)
        engine.provenance = provenance_of_engine
        engine.checkpoint_path = model_path
        state = avatar.state(base=base, photo_expression=True)
        return {"avatar": avatar, "path": out, "engine": engine, "state": state, "result": result}

    def _progress(self, done, total):
        d = self.dialog
        if d is None:
            return
        with self._lock:
            latest = dict(self._latest)
        d.bar.setRange(0, max(total, 1))
        d.bar.setValue(done)
        if "photo" in latest and d.photo_label.pixmap().isNull():
            d.photo_label.setPixmap(_pixmap(latest["photo"]))
        if latest.get("preview") is not None:
            d.render_label.setPixmap(_pixmap(latest["preview"]))
        if latest.get("text"):
            d.status.setText(latest["text"])

    def _finished(self, out):
        if self.dialog is not None:
            self.dialog.close()
            self.dialog = None
        self.window.use_fitted_avatar(out["engine"], out["state"], f"avatar {out['avatar'].name}")
        r = out["result"]
        how = "stopped early, best so far" if r.cancelled else f"{r.steps_done + r.pti_steps_done} steps"
        self.window.statusBar().showMessage(f"Avatar saved to {out['path']} ({how}, {r.seconds:.0f} s)", 10000)
        self.last_result = out

    def _failed(self, reason):
        if self.dialog is not None:
            self.dialog.close()
            self.dialog = None
        if reason != "cancelled":
            QMessageBox.critical(self.window, "New avatar from photo", reason)

    def shutdown(self, timeout: float = 30.0):
        """Cancel a running fit and wait for its thread (the window is closing)."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait(timeout)
