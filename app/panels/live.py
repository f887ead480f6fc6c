"""The Live panel: a webcam, a video file, an image folder or an ARKit capture drives the
avatar while you watch.

Threads: the source is opened, read and tracked on a worker (the studio's one mechanism,
app/jobs.py Job); the render is the studio's RenderScheduler (latest request wins). The
worker keeps only the newest tracked frame in a one-slot mailbox (`LiveLink`) and tells
the GUI thread that one is there only when the GUI has taken the previous one, so nothing
ever queues: a slow GUI or render sees fewer, fresher frames. A file source is played in
real time: a frame whose time has already passed when the worker gets to it is skipped
without tracking (counted as dropped).

The GUI thread turns a tracked frame into the document's camera (drive pose) and
expression (drive expression, with a gain per group of names), as one undoable "Live"
step per session, and records what the view shows (the avatar alone or beside the
source with its landmarks) through core.tracking.recording (a fragmented MP4 that stays
playable whatever ends the session).

Faults end in one message (a dialog, also kept in `messages`), never a crash: a source
that cannot be opened (no webcam, a bad video, a CSV without ARKit columns), a source
that stops part-way (webcam unplugged, a corrupt video), a tracker that cannot start.
No face, a dark frame or a lost face are shown in the status line while the tracker
holds and then eases the avatar back to neutral.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
                               QMessageBox, QPushButton, QSpinBox, QWidget)

from app.jobs import Job
from app.panels.common import labeled_slider
from core.expression import Expression
from core.state import OrbitPose

SOURCE_KINDS = ("Webcam", "Video file", "Image folder", "ARKit CSV")
GROUPS = ("Mouth", "Brows", "Eyes", "Cheeks")
PREVIEW_WIDTH = 320
PLOT_HISTORY = 150
PLOT_REDRAW_S = 0.2
DRAIN_SECONDS = 3.0
# expression changes smaller than this (every weight) keep the last expression sent, so the
# engine's cached tri-planes are reused while the face holds still (a new expression costs
# the planes and the occupancy grid, about as much as the preview render itself)
EXPRESSION_DEADBAND = 0.02


def name_group(name: str) -> str:
    """The gain group an ARKit name belongs to."""
    low = name.lower()
    if low.startswith(("jaw", "mouth", "tongue")):
        return "Mouth"
    if low.startswith("brow"):
        return "Brows"
    if low.startswith("eye"):
        return "Eyes"
    return "Cheeks"


def smoothing_settings(amount: float):
    """One-Euro settings (pose, expression) for a smoothing amount in [0, 1]; 0.5 is the
    tracker's default, each 0.5 step moves the cutoffs tenfold."""
    from core.tracking.smoothing import OneEuroSettings
    from core.tracking.tracker import TrackerSettings

    d = TrackerSettings()
    k = 10.0 ** (1.0 - 2.0 * float(np.clip(amount, 0.0, 1.0)))
    p, e = d.pose_smoothing, d.expression_smoothing
    return (OneEuroSettings(p.min_cutoff * k, p.beta, p.d_cutoff), OneEuroSettings(e.min_cutoff * k, e.beta, e.d_cutoff))


@dataclass
class LiveFrame:
    """One tracked frame as the worker hands it to the GUI."""

    index: int
    time: float
    face: bool
    status: str
    pose: object = None            # HeadPose or None
    weights: dict | None = None    # name -> value
    preview: np.ndarray | None = None   # source with landmarks, small
    source: np.ndarray | None = None    # source with landmarks, for side-by-side recording
    timings: dict = field(default_factory=dict)
    dropped: int = 0


class LiveLink:
    """The one-slot mailbox between the worker and the GUI, and the GUI's requests to the
    worker (calibrate, smoothing). Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._frame: LiveFrame | None = None
        self._taken = True
        self.calibrate_requested = False
        self.clear_calibration_requested = False
        self.smoothing: float | None = None
        self.loop = False
        self.notes: list[str] = []

    def put(self, frame: LiveFrame) -> bool:
        """Replace the waiting frame; True if the GUI should be told (it took the last)."""
        with self._lock:
            self._frame = frame
            tell, self._taken = self._taken, False
            return tell

    def take(self) -> LiveFrame | None:
        with self._lock:
            frame, self._frame = self._frame, None
            self._taken = True
            return frame

    def pop_requests(self):
        with self._lock:
            out = (self.calibrate_requested, self.clear_calibration_requested, self.smoothing)
            self.calibrate_requested = self.clear_calibration_requested = False
            self.smoothing = None
            return out

    def note(self, text: str):
        with self._lock:
            self.notes.append(text)

    def pop_notes(self) -> list[str]:
        with self._lock:
            out, self.notes = self.notes, []
            return out


def run_live(spec: str, fps: float | None, names, link: LiveLink, tell, cancelled, tracker_cache: dict,
             realtime: bool = True) -> dict:
    """The worker: open `spec`, read, track, hand frames to `link`; `tell()` wakes the GUI
    (raises when cancelled). Returns a summary; raises a one-line error when the source
    cannot be opened."""
    from core.expression import Expression as _Expr
    from core.tracking.recording import draw_landmarks
    from core.tracking.sources import open_source

    source = open_source(spec, fps)
    try:
        tracker = None
        if source.has_images:
            tracker = tracker_cache.get("tracker")
            if tracker is None or tracker.names != tuple(names):
                from core.tracking.tracker_process import TrackerProcess

                # the tracker in its own process: dlib holds the GIL while it works, and a
                # tracker thread here slowed each render by ~30% (and the CNN detector would
                # stop the GUI thread for up to a second each time a face is looked for)
                tracker = tracker_cache["tracker"] = TrackerProcess(names)
            if tracker.expression_source != "mesh":
                link.note("MediaPipe's face mesh is not available: expressions are read from dlib's 68 points "
                          "(jawOpen only; scripts/setup.sh installs it)")
            tracker.reset()
        else:
            cap = source.capture
            if cap.ignored_columns:
                shown = ", ".join(cap.ignored_columns[:4]) + (" ..." if len(cap.ignored_columns) > 4 else "")
                link.note(f"{source.name}: ignored {len(cap.ignored_columns)} unknown column(s): {shown}")
            missing = [n for n in names if n not in cap.weights]
            if missing:
                link.note(f"{source.name}: no column for {len(missing)} of the model's names "
                          f"({', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}): held at 0")
            if cap.head is None:
                link.note(f"{source.name}: no head rotation columns; the camera is not driven")
        shown = dropped = faces = 0
        start = time.monotonic()
        offset = 0.0
        while True:
            frames = iter(source)
            last_time = 0.0
            while True:
                if cancelled():
                    return _summary(source, shown, dropped, faces, cancelled=True)
                t0 = time.perf_counter()
                try:
                    sf = next(frames)
                except StopIteration:
                    break
                capture_ms = (time.perf_counter() - t0) * 1e3
                last_time = sf.time
                t_frame = offset + sf.time
                if realtime and source.frame_count is not None:
                    due = start + t_frame
                    now = time.monotonic()
                    if now > due + 1.0 / max(source.fps, 1.0):   # stale: its time has gone
                        dropped += 1
                        continue
                    if now < due:
                        time.sleep(min(due - now, 1.0))
                calibrate, clear, smoothing = link.pop_requests()
                timings = {"capture": capture_ms}
                if tracker is not None:
                    if smoothing is not None:
                        tracker.set_smoothing(*smoothing_settings(smoothing))
                    if clear:
                        tracker.clear_calibration()
                    t1 = time.perf_counter()
                    r = tracker.process(sf.image, t_frame)
                    timings["track"] = (time.perf_counter() - t1) * 1e3
                    if calibrate:
                        link.note("calibrated: this face is now the neutral face looking at the camera"
                                  if tracker.calibrate() else "calibration needs a face in view")
                    img = draw_landmarks(sf.image, r.landmarks if r.face else None, max_width=640)
                    preview = draw_landmarks(img, None, max_width=PREVIEW_WIDTH)
                    frame = LiveFrame(sf.index, t_frame, r.face, r.status, r.pose, r.expression.to_dict(), preview,
                                      img, timings, dropped)
                else:
                    w = _Expr.from_dict(sf.weights or {}, tuple(names), strict=False).to_dict()
                    frame = LiveFrame(sf.index, t_frame, True, "capture", sf.pose, w, None, None, timings, dropped)
                faces += frame.face
                shown += 1
                if link.put(frame):
                    tell(shown, source.frame_count or 0)
            if source.stopped_early:
                raise RuntimeError(f"{source.stopped_early} (the session stopped there)")
            if not (link.loop and source.frame_count is not None and shown):
                break
            offset += last_time + 1.0 / max(source.fps, 1.0)
            if hasattr(source, "_reader"):   # a video file plays again from its start
                source.close()
                source = open_source(spec, fps)
        return _summary(source, shown, dropped, faces)
    finally:
        source.close()


def _summary(source, shown, dropped, faces, cancelled=False) -> dict:
    return {"source": source.name, "frames": shown, "dropped": dropped, "faces": faces, "cancelled": cancelled,
            "ended": not cancelled}


class FrameTimePlot(pg.PlotWidget):
    """Milliseconds per live frame: capture, tracking, render, and the time between the
    avatar frames shown."""

    CURVES = {"capture": "c", "track": "y", "render": "m", "shown every": "w"}

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground((30, 30, 34))
        self.setLabel("left", "ms")
        self.setLabel("bottom", "live frame")
        self.addLegend(offset=(-5, 5), colCount=2)
        self.showGrid(y=True, alpha=0.2)
        self.setXRange(0, PLOT_HISTORY, padding=0)
        self.setMouseEnabled(x=False, y=False)
        self.history = {k: deque(maxlen=PLOT_HISTORY) for k in self.CURVES}
        self.curves = {k: self.plot(pen=pg.mkPen(c, width=1.5), name=k) for k, c in self.CURVES.items()}
        self.setMinimumHeight(110)
        self._drawn = 0.0

    def add(self, key: str, ms: float):
        self.history[key].append(float(ms))

    def redraw(self, force: bool = False):
        now = time.monotonic()
        if not force and (now - self._drawn < PLOT_REDRAW_S or not self.isVisible()):
            return
        self._drawn = now
        for k, curve in self.curves.items():
            curve.setData(list(self.history[k]))
        # the y range follows the bulk of the values, not a start-up spike
        values = [v for h in self.history.values() for v in h]
        if values:
            self.setYRange(0, max(20.0, 1.3 * float(np.percentile(values, 95))), padding=0)


class LivePanel(QWidget):
    """See the module docstring. `scheduler` is the studio's RenderScheduler (for the
    avatar frames recorded and timed); `names` the model's expression names."""

    message = Signal(str)   # every fault or note shown to the user

    def __init__(self, doc, names, scheduler=None, parent=None):
        super().__init__(parent)
        self.doc, self.names = doc, tuple(names)
        self.scheduler = scheduler
        self.job: Job | None = None
        self.link: LiveLink | None = None
        self.recorder = None
        self.messages: list[str] = []
        self.frames_tracked = 0
        self.frames_shown = 0
        self._shown_times: deque = deque(maxlen=60)
        self._tracker_cache: dict = {}
        self._last_source_image = None
        self._dialog = None
        self._draining = False
        self._drain_seen = False
        self._drain_deadline = 0.0

        grid = QGridLayout(self)
        row = 0
        self.kind = QComboBox()
        self.kind.addItems(SOURCE_KINDS)
        self.kind.setCurrentIndex(1)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        grid.addWidget(QLabel("Source"), row, 0)
        grid.addWidget(self.kind, row, 1)
        self.device = QSpinBox()
        self.device.setRange(0, 9)
        self.device.setPrefix("device ")
        self.device.setToolTip("Webcam number (OpenCV VideoCapture index)")
        grid.addWidget(self.device, row, 2)
        row += 1
        self.path = QLineEdit()
        self.path.setPlaceholderText("video file, image folder or ARKit .csv")
        self.browse = QPushButton("Browse...")
        self.browse.clicked.connect(self._browse)
        grid.addWidget(self.path, row, 0, 1, 2)
        grid.addWidget(self.browse, row, 2)
        row += 1
        self.preview = QLabel("No source")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(PREVIEW_WIDTH, 180)
        self.preview.setStyleSheet("background: #1e1e22; color: #aaa;")
        grid.addWidget(self.preview, row, 0, 1, 3)
        row += 1
        self.status = QLabel("Stopped")
        self.status.setWordWrap(True)
        grid.addWidget(self.status, row, 0, 1, 3)
        row += 1
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.toggle)
        self.calibrate_button = QPushButton("Calibrate neutral")
        self.calibrate_button.setToolTip("Look straight at the camera with a neutral face, then press")
        self.calibrate_button.clicked.connect(self.calibrate)
        self.loop = QCheckBox("Loop")
        self.loop.setToolTip("Play a video file or image folder again when it ends")
        self.loop.toggled.connect(lambda on: setattr(self.link, "loop", on) if self.link else None)
        for w in (self.start_button, self.calibrate_button, self.loop):
            buttons.addWidget(w)
        grid.addLayout(buttons, row, 0, 1, 3)
        row += 1
        self.drive_pose = QCheckBox("Drive head pose")
        self.drive_pose.setChecked(True)
        self.drive_expression = QCheckBox("Drive expression")
        self.drive_expression.setChecked(True)
        grid.addWidget(self.drive_pose, row, 0)
        grid.addWidget(self.drive_expression, row, 1, 1, 2)
        row += 1
        grid.addWidget(QLabel("Smoothing"), row, 0)
        self.smoothing = labeled_slider(0.0, 1.0, 0.5, "Steadier (right) or quicker (left); 0.5 is the default")
        self.smoothing.valueChanged.connect(self._smoothing_changed)
        grid.addWidget(self.smoothing, row, 1, 1, 2)
        row += 1
        self.gains = {}
        for g in GROUPS:
            grid.addWidget(QLabel(f"{g} gain"), row, 0)
            s = labeled_slider(0.0, 2.0, 1.0, f"Multiplies the tracked {g.lower()} weights")
            grid.addWidget(s, row, 1, 1, 2)
            self.gains[g] = s
            row += 1
        rec = QHBoxLayout()
        self.record_button = QPushButton("Record...")
        self.record_button.setToolTip("Record the avatar to MP4 while live")
        self.record_button.clicked.connect(self._record_clicked)
        self.side_by_side = QCheckBox("Side by side")
        self.side_by_side.setToolTip("Record the source (with its landmarks) left of the avatar")
        rec.addWidget(self.record_button)
        rec.addWidget(self.side_by_side)
        grid.addLayout(rec, row, 0, 1, 3)
        row += 1
        self.plot = FrameTimePlot()
        grid.addWidget(self.plot, row, 0, 1, 3)
        self._groups = np.array([GROUPS.index(name_group(n)) for n in self.names])
        if scheduler is not None:
            scheduler.frame_ready.connect(self._avatar_frame)
        self._kind_changed(self.kind.currentIndex())

    # -- source ------------------------------------------------------------------------------
    def _kind_changed(self, index):
        webcam = SOURCE_KINDS[index] == "Webcam"
        self.device.setEnabled(webcam)
        self.path.setEnabled(not webcam)
        self.browse.setEnabled(not webcam)

    def _browse(self):
        kind = self.kind.currentText()
        if kind == "Image folder":
            path = QFileDialog.getExistingDirectory(self, "Image folder")
        else:
            filt = "ARKit CSV (*.csv)" if kind == "ARKit CSV" else "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.gif)"
            path, _ = QFileDialog.getOpenFileName(self, kind, "", filt)
        if path:
            self.path.setText(path)

    def source_spec(self) -> str:
        if self.kind.currentText() == "Webcam":
            return f"webcam:{self.device.value()}"
        return self.path.text().strip()

    def set_source(self, kind: str, value) -> None:
        """Pick a source without the dialogs (also for scripts and tests)."""
        self.kind.setCurrentIndex(SOURCE_KINDS.index(kind))
        if kind == "Webcam":
            self.device.setValue(int(value))
        else:
            self.path.setText(str(value))

    # -- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None

    def toggle(self):
        self.stop() if self.running else self.start()

    def start(self, realtime: bool = True) -> bool:
        if self.running:
            return True
        spec = self.source_spec()
        if not spec:
            self._fault("Live: choose a video file, an image folder or an ARKit CSV first (or the webcam)")
            return False
        if self.kind.currentText() != "Webcam" and not Path(spec).exists():
            self._fault(f"{spec}: no such file or folder")
            return False
        self.link = LiveLink()
        self.link.loop = self.loop.isChecked()
        self.link.smoothing = self.smoothing.value()
        self.frames_tracked = 0
        self._shown_times.clear()
        names, link, cache = self.names, self.link, self._tracker_cache

        def work(report, cancelled):
            return run_live(spec, None, names, link, report, cancelled, cache, realtime)

        self.job = Job(self, "Live", work, show_dialog=False)
        self.job.progressed.connect(self._frame_waiting)
        self.job.finished.connect(self._ended)
        self.job.failed.connect(self._failed)
        self.job.start()
        self.start_button.setText("Stop")
        self.status.setText(f"Opening {spec} ...")
        return True

    def stop(self):
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Stopping ...")

    def calibrate(self):
        if self.link is None or not self.running:
            self._note("Calibrate while live: look straight at the camera with a neutral face")
            return
        self.link.calibrate_requested = True

    def _smoothing_changed(self, value):
        if self.link is not None:
            self.link.smoothing = float(value)

    def _frame_waiting(self, done, total):
        link = self.link
        if link is None:
            return
        for note in link.pop_notes():
            self._note(note)
        frame = link.take()
        if frame is None:
            return
        self.frames_tracked += 1
        for k in ("capture", "track"):
            if k in frame.timings:
                self.plot.add(k, frame.timings[k])
        if frame.preview is not None:
            h, w = frame.preview.shape[:2]
            img = QImage(frame.preview.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            self.preview.setPixmap(QPixmap.fromImage(img))
        self._last_source_image = frame.source
        where = f"frame {frame.index + 1}" + (f"/{total}" if total else "")
        text = {"tracking": "tracking", "capture": "capture", "no face": "no face in view: holding, then easing to neutral",
                "too dark": "too dark to see a face: holding, then easing to neutral",
                "face lost": "face lost: holding, then easing to neutral"}.get(frame.status, frame.status)
        tail = f", {frame.dropped} stale frames skipped" if frame.dropped else ""
        fps = self.display_fps()
        self.status.setText(f"Live {where}: {text}{tail}" + (f"; avatar {fps:.1f} frames/s" if fps else ""))
        self._drive(frame)
        self.plot.redraw()

    def _drive(self, frame: LiveFrame):
        changes = {}
        state = self.doc.state
        if self.drive_pose.isChecked() and frame.pose is not None:
            c = state.camera
            changes["camera"] = OrbitPose(float(frame.pose.yaw), float(np.clip(frame.pose.pitch, -89.0, 89.0)),
                                          float(frame.pose.roll), c.radius, c.fov, c.look_at)
        if self.drive_expression.isChecked() and frame.weights is not None:
            gains = np.array([self.gains[g].value() for g in GROUPS])[self._groups]
            values = np.clip(np.array([frame.weights.get(n, 0.0) for n in self.names]) * gains, 0.0, 1.0)
            last = state.expression.with_names(self.names).values
            if np.max(np.abs(values - last), initial=0.0) >= EXPRESSION_DEADBAND:
                changes["expression"] = Expression(self.names, values)
        if changes:
            self.doc.interactive = True
            self.doc.update("Live", merge_key="live", **changes)

    def _ended(self, summary):
        self._frame_waiting(summary.get("frames", 0), 0)   # the last frame, if the GUI was not told of it
        self._finish()
        what = f"{summary['frames']} frames tracked" if summary.get("frames") else "no frames"
        if summary.get("dropped"):
            what += f", {summary['dropped']} stale frames skipped"
        if summary.get("frames") and not summary.get("faces"):
            self._fault(f"{summary['source']}: no face found in any of its frames")
        self.status.setText(("Stopped" if summary.get("cancelled") else "The source ended") + f": {what}")

    def _failed(self, reason):
        self._finish()
        if reason == "cancelled":
            self.status.setText("Stopped")
            return
        self.status.setText(f"Stopped: {reason}")
        self._fault(reason)

    def _finish(self):
        self.job = None
        self.start_button.setText("Start")
        self._draining = self.recorder is not None
        self._drain_seen = False
        self._drain_deadline = time.monotonic() + DRAIN_SECONDS
        self.doc.end_interaction()
        if self._draining:
            self._drain()
        self.plot.redraw(force=True)

    def _drain(self):
        """After the source ends, the frames the render still owes the session are
        recorded too (until the renderer is idle, at most DRAIN_SECONDS), then the
        recording is finished."""
        if not self._draining:
            return
        idle = self.scheduler is None or self.scheduler.is_idle()
        if (idle and self._drain_seen) or time.monotonic() > self._drain_deadline or self.running:
            self._draining = False
            if self.recorder is not None and not self.running:
                self.stop_recording()
            return
        self._drain_seen = self._drain_seen or idle
        QTimer.singleShot(50, self._drain)

    # -- the avatar frames -------------------------------------------------------------------
    def _avatar_frame(self, img, info):
        if not (self.running or self._draining):
            return
        now = time.monotonic()
        if self._shown_times:
            self.plot.add("shown every", (now - self._shown_times[-1]) * 1e3)
        self._shown_times.append(now)
        self.frames_shown += 1
        self.plot.add("render", info.get("ms", 0.0))
        if self.recorder is not None:
            frame = img
            if self.side_by_side.isChecked():
                from core.tracking.recording import side_by_side

                frame = side_by_side(self._last_source_image, img)
            self.recorder.add(frame, now)

    def display_fps(self) -> float:
        t = self._shown_times
        if len(t) < 5:
            return 0.0
        return (len(t) - 1) / max(t[-1] - t[0], 1e-6)

    # -- recording ---------------------------------------------------------------------------
    def _record_clicked(self):
        if self.recorder is not None:
            self.stop_recording()
            return
        path, _ = QFileDialog.getSaveFileName(self, "Record to MP4", "live.mp4", "MP4 video (*.mp4)")
        if path:
            self.start_recording(path if path.lower().endswith(".mp4") else path + ".mp4")

    def start_recording(self, path, fps: float = 30.0) -> bool:
        from core.tracking.recording import VideoRecorder

        try:
            self.recorder = VideoRecorder(path, fps)
        except (OSError, ValueError) as e:
            self._fault(f"{path}: cannot record there ({str(e).splitlines()[0]})")
            return False
        self.record_button.setText("Stop recording")
        return True

    def stop_recording(self) -> int:
        rec, self.recorder = self.recorder, None
        self.record_button.setText("Record...")
        if rec is None:
            return 0
        count = rec.close()
        if rec.error:
            self._fault(rec.error)
        else:
            self._note(f"recorded {count} frames to {rec.path}")
        return count

    # -- messages ----------------------------------------------------------------------------
    def _note(self, text: str):
        self.messages.append(text)
        self.message.emit(text)
        self.status.setText(text)

    def _fault(self, text: str):
        """One dialog (not blocking the GUI thread), the message kept."""
        self.messages.append(text)
        self.message.emit(text)
        if self._dialog is not None:
            self._dialog.close()
        self._dialog = QMessageBox(QMessageBox.Icon.Warning, "Live", text, QMessageBox.StandardButton.Ok, self)
        self._dialog.setWindowModality(Qt.WindowModality.NonModal)
        self._dialog.open()

    def shutdown(self, timeout: float = 5.0):
        """Stop the session and finish a recording (the window is closing)."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait(timeout)
        if self.recorder is not None:
            self.stop_recording()
        self.job = None
        tracker = self._tracker_cache.pop("tracker", None)
        if tracker is not None:
            tracker.close()
