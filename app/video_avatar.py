"""File > New avatar from video: a video file, or N seconds recorded from the webcam with
a "turn your head slowly" guide, becomes a personal model: `prepare` and the personal
fine-tune (training/personal.py) run in a child process (dlib holds the GIL for seconds
and training wants the cores; in the studio's process either would stall the GUI), as
one cancellable Job with progress and previews. The new model is opened at the end.

The work folder is kept per video (WORK = the library's `personal/<name>-<hash>`), so
Stop and a later New avatar from the same video resume where it stopped.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton,
    QSpinBox, QVBoxLayout,
)

from app.fit_dialog import _pixmap, add_progress_rows
from app.jobs import Cancelled, Job
from core.dataprep.prepare import VIDEO_SUFFIXES

PREVIEW_SIDE = 256
RECORD_SECONDS = 20
# what the person is asked to do while the webcam records, by share of the recording
GUIDE = ((0.15, "Look straight at the camera"),
         (0.40, "Turn your head slowly to your left... and back"),
         (0.65, "Turn your head slowly to your right... and back"),
         (0.82, "Tilt your head slowly up, then down"),
         (1.01, "Talk, smile, raise your brows"))
STAGES = {"prepare": "Finding the face in every frame", "train": "Fine-tuning the model"}


def guide_text(fraction: float) -> str:
    for end, text in GUIDE:
        if fraction < end:
            return text
    return GUIDE[-1][1]


def personal_dir() -> Path:
    """Where personal avatars' work folders are kept (beside the avatar library)."""
    from core.avatar import avatar_library_dir

    return avatar_library_dir().parent / "personal"


def work_folder(video: Path) -> Path:
    """The work folder of a video: its name and a hash of its path, size and time, so
    the same file resumes and another file of the same name does not."""
    st = video.stat()
    key = hashlib.sha1(f"{video.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in video.stem)[:40] or "video"
    return personal_dir() / f"{stem}-{key}"


def run_in_child(inputs, work, init_model, report, cancelled, latest: dict, lock, every: int = 2, overrides=()):
    """The Job's function: start the child, forward its progress, stop it on cancel (it
    saves first, so the work resumes). Returns the child's result."""
    import multiprocessing
    import queue

    ctx = multiprocessing.get_context("spawn")
    messages, stop = ctx.Queue(), ctx.Event()
    from training.personal import run_with_messages

    # the child imports no Qt: its target lives in training/
    proc = ctx.Process(target=run_with_messages, args=([str(p) for p in inputs], str(work), str(init_model), every,
                                            tuple(overrides), messages, stop), daemon=True)
    proc.start()
    result = None
    try:
        while True:
            if cancelled() and not stop.is_set():
                stop.set()
            try:
                msg = messages.get(timeout=0.1)
            except queue.Empty:
                if not proc.is_alive():
                    try:   # the last words may still be in the pipe
                        msg = messages.get(timeout=1.0)
                    except queue.Empty:
                        raise RuntimeError(f"the personal-avatar process ended unexpectedly (exit {proc.exitcode})") from None
                else:
                    continue
            kind = msg[0]
            if kind == "progress":
                _, stage, done, total, text = msg
                with lock:
                    latest["stage"], latest["text"] = stage, text
                if not stop.is_set():
                    try:
                        report(done, total)
                    except Cancelled:
                        stop.set()
            elif kind == "preview":
                with lock:
                    latest["preview"], latest["preview_stage"] = msg[2], msg[1]
            elif kind == "error":
                raise ValueError(msg[1])
            elif kind == "done":
                result = msg[1]
                break
    finally:
        if proc.is_alive():
            stop.set()
            proc.join(60)
            if proc.is_alive():
                proc.terminate()
        proc.join(5)
    if result.get("cancelled"):
        raise Cancelled()
    return result


class ProgressDialog(QDialog):
    """The running job: its stage, a preview (a frame's crop while preparing, the frame
    beside the model's render while training), a bar and Stop."""

    def __init__(self, parent, title: str):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(False)
        lay = QVBoxLayout(self)
        self.preview = QLabel("starting...")
        self.preview.setFixedSize(2 * PREVIEW_SIDE, PREVIEW_SIDE)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.preview)
        self.stage = QLabel("")
        lay.addWidget(self.stage)
        add_progress_rows(self, lay, "", "Stop (run it again to resume)")


class RecordDialog(QDialog):
    """Record N seconds from a webcam with the guide; accept() once the file is written."""

    def __init__(self, parent, out_path: Path, spec_for=lambda device: f"webcam:{device}"):
        super().__init__(parent)
        self.setWindowTitle("Record a video for a new avatar")
        self.out_path = out_path
        self.spec_for = spec_for
        self.job: Job | None = None
        self._lock = threading.Lock()
        self._latest: dict = {}
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.device = QSpinBox()
        self.device.setRange(0, 9)
        self.device.setToolTip("Webcam number (OpenCV VideoCapture index)")
        self.seconds = QSpinBox()
        self.seconds.setRange(5, 120)
        self.seconds.setValue(RECORD_SECONDS)
        self.seconds.setSuffix(" s")
        form.addRow("Webcam", self.device)
        form.addRow("Length", self.seconds)
        lay.addLayout(form)
        self.view = QLabel("The webcam's picture shows here while recording")
        self.view.setFixedSize(480, 360)
        self.view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.view)
        self.guide = QLabel("Sit in even light, face the camera; the guide tells you how to move.")
        font = self.guide.font()
        font.setPointSize(font.pointSize() + 4)
        self.guide.setFont(font)
        lay.addWidget(self.guide)
        self.bar = QProgressBar()
        lay.addWidget(self.bar)
        row = QHBoxLayout()
        self.record_button = QPushButton("Record")
        self.record_button.clicked.connect(self.record)
        row.addWidget(self.record_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.rejected.connect(self.reject)
        row.addWidget(buttons)
        lay.addLayout(row)
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._refresh)

    def record(self):
        if self.job is not None:
            return
        spec, seconds = self.spec_for(self.device.value()), float(self.seconds.value())
        self.record_button.setEnabled(False)
        self.job = Job(self, "Recording", lambda report, cancelled: self._work(spec, seconds, report, cancelled),
                       show_dialog=False)
        self.job.finished.connect(self._recorded)
        self.job.failed.connect(self._failed)
        self._timer.start()
        self.job.start()

    def _work(self, spec, seconds, report, cancelled):
        """On the worker thread: frames -> the recorder, until `seconds` have passed."""
        from core.tracking.recording import VideoRecorder
        from core.tracking.sources import open_source

        tmp = self.out_path.with_name(self.out_path.stem + ".part.mp4")
        source = open_source(spec)
        recorder = VideoRecorder(tmp, source.fps if source.fps and source.fps <= 60 else 30.0)
        t0 = None
        frames = 0
        try:
            for frame in source:
                if cancelled():
                    raise Cancelled()
                if frame.image is None:
                    continue
                now = frame.time
                t0 = now if t0 is None else t0
                elapsed = now - t0
                if elapsed >= seconds:
                    break
                recorder.add(frame.image, elapsed)
                frames += 1
                with self._lock:
                    self._latest = {"image": frame.image, "fraction": elapsed / seconds}
                report(int(elapsed * 10), int(seconds * 10))
        finally:
            written = recorder.close()
            source.close()
        if cancelled():
            tmp.unlink(missing_ok=True)
            raise Cancelled()
        if written < 10:
            tmp.unlink(missing_ok=True)
            reason = getattr(source, "stopped_early", None)
            raise ValueError(f"{spec}: only {written} frames recorded" + (f" ({reason})" if reason else ""))
        os.replace(tmp, self.out_path)
        return {"path": self.out_path, "frames": written}

    def _refresh(self):
        with self._lock:
            latest = dict(self._latest)
        if "image" in latest:
            img = latest["image"]
            self.view.setPixmap(_pixmap(img.astype(np.float32) / 255.0, 480))
            self.guide.setText(guide_text(latest["fraction"]))
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(latest["fraction"], 1.0)))

    def _recorded(self, out):
        self._timer.stop()
        self.result_path = out["path"]
        self.accept()

    def _failed(self, reason):
        self._timer.stop()
        self.job = None
        self.record_button.setEnabled(True)
        if reason != "cancelled":
            QMessageBox.critical(self, "Record a video", reason)

    def reject(self):
        if self.job is not None:
            self.job.cancel()
            self.job.wait(10)
        self._timer.stop()
        super().reject()


class VideoAvatarController(QObject):
    """Owns the personal-avatar job of a MainWindow `window` (one at a time)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.job: Job | None = None
        self.dialog: ProgressDialog | None = None
        self.every = 2            # every 2nd frame of the video
        self.overrides = ()       # recipe overrides (tests: steps=...)
        self._lock = threading.Lock()
        self._latest: dict = {}
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._refresh)

    # -- entry points -------------------------------------------------------------------------
    def choose_video(self):
        patterns = " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(self.window, "New avatar from video", "", f"Videos ({patterns})")
        if path:
            self.start(path)

    def record_video(self):
        if self._busy():
            return
        folder = personal_dir() / "recordings"
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / time.strftime("webcam-%Y%m%d-%H%M%S.mp4")
        dialog = RecordDialog(self.window, out)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.start(dialog.result_path)

    def _busy(self) -> bool:
        if self.job is not None and not self.job.done.is_set():
            self.window.statusBar().showMessage("A personal avatar is being made already", 4000)
            return True
        return False

    # -- the job -------------------------------------------------------------------------------
    def start(self, path) -> Job | None:
        """Make a personal avatar of the video at `path` in the background (None if one runs
        or the file cannot be used; the reason is shown)."""
        if self._busy():
            return None
        path = Path(path)
        if not path.is_file():
            QMessageBox.critical(self.window, "New avatar from video", f"{path}: no such file")
            return None
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            QMessageBox.critical(self.window, "New avatar from video",
                                 f"{path.name}: not a video ({', '.join(sorted(VIDEO_SUFFIXES))})")
            return None
        work = work_folder(path)
        init_model = self.window.model_path
        self._latest = {}
        self.dialog = ProgressDialog(self.window, f"New avatar from {path.name}")
        job = Job(self.window, f"Avatar from {path.name}", lambda report, cancelled: run_in_child(
            [path], work, init_model, report, cancelled, self._latest, self._lock, self.every, self.overrides),
            show_dialog=False)
        self.job = job
        self.dialog.stop_button.clicked.connect(job.cancel)
        self.dialog.rejected.connect(job.cancel)
        job.progressed.connect(self._progress)
        job.finished.connect(self._finished)
        job.failed.connect(self._failed)
        self.dialog.show()
        self._timer.start()
        return job.start()

    def _progress(self, done, total):
        if self.dialog is not None:
            self.dialog.bar.setRange(0, max(total, 1))
            self.dialog.bar.setValue(done)

    def _refresh(self):
        d = self.dialog
        if d is None:
            return
        with self._lock:
            latest = dict(self._latest)
        if latest.get("stage"):
            d.stage.setText(STAGES.get(latest["stage"], latest["stage"]))
        if latest.get("text"):
            d.status.setText(latest["text"])
        if latest.get("preview") is not None:
            rgb = latest["preview"].astype(np.float32) / 255.0
            d.preview.setPixmap(_pixmap(rgb, 2 * PREVIEW_SIDE if rgb.shape[1] > rgb.shape[0] else PREVIEW_SIDE))
            self.previews_shown = getattr(self, "previews_shown", 0) + 1
            with self._lock:
                if self._latest.get("preview") is latest["preview"]:
                    del self._latest["preview"]

    def _close_dialog(self):
        self._timer.stop()
        if self.dialog is not None:
            self.dialog.close()
            self.dialog = None

    def _finished(self, out):
        self._close_dialog()
        self.last_result = out
        if self.window.open_model(out["model"]):
            kept = out["prepare"].get("kept_frames")
            self.window.statusBar().showMessage(
                f"Personal model {out['model']} ({kept} frames, {out['steps']} steps, {out['seconds'] / 60:.1f} min)", 15000)

    def _failed(self, reason):
        self._close_dialog()
        if reason == "cancelled":
            self.window.statusBar().showMessage("Stopped; New avatar from the same video resumes it", 8000)
        else:
            QMessageBox.critical(self.window, "New avatar from video", reason)

    def shutdown(self, timeout: float = 90.0):
        """Stop a running job (the child saves its work first) and wait for it."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait(timeout)
