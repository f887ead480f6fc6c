"""The studio's main window: the live render in the middle, control panels docked
around it, menus for models, sessions, undo and help."""
from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMessageBox, QScrollArea

from app.document import StudioDocument
from app.panels.camera import CameraPanel
from app.panels.common import set_quietly
from app.panels.expression import ExpressionPanel
from app.panels.identity import IdentityPanel
from app.panels.lighting import LightingPanel
from app.panels.render_settings import RenderPanel
from app.render_view import RenderView
from app.render_worker import RenderScheduler
from app.session import SESSION_FORMAT, read_session
from core.checkpoint import DEFAULT_MODEL, CheckpointError
from core.engine import InferenceEngine
from core.fileio import atomic_write_text
from core.state import AvatarState, OrbitPose

AUTOSAVE_MS = 30_000


def recovery_path() -> Path:
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation) or str(Path.home())
    return Path(base) / "avatar-studio-recovery.json"


class MainWindow(QMainWindow):
    def __init__(self, model_path=None, device: str = "auto", ask_to_restore: bool = True):
        super().__init__()
        self.setWindowTitle("Avatar Studio")
        self.resize(1280, 820)
        self.model_path = str(model_path or DEFAULT_MODEL)
        self.engine = InferenceEngine.from_checkpoint(self.model_path, device)
        self.doc = StudioDocument(self.engine.default_state())
        self.view = RenderView()
        self.setCentralWidget(self.view)
        self.scheduler = RenderScheduler(self.engine, self)
        self.scheduler.frame_ready.connect(self._show_frame)
        self.scheduler.render_failed.connect(lambda msg: self.statusBar().showMessage(msg, 5000))
        self.frame_times: list[float] = []
        self.frames_shown = 0
        self._build_panels()
        self._build_menus()
        self.doc.state_changed.connect(self._state_changed)
        self.view.orbit_dragged.connect(self._orbit)
        self.view.zoomed.connect(self._zoom)
        self.view.interaction_finished.connect(self.doc.end_interaction)
        self.doc.undo_stack.cleanChanged.connect(self._update_title)
        self._autosave = QTimer(self)
        self._autosave.timeout.connect(self.autosave)
        self._autosave.start(AUTOSAVE_MS)
        self.statusBar().showMessage(f"Model {Path(self.model_path).name} on {self.engine.device}", 5000)
        self._update_title()
        if ask_to_restore:
            QTimer.singleShot(0, self._offer_recovery)
        self.scheduler.request(self.doc.state, interactive=False)

    # -- building -------------------------------------------------------------------------
    def _dock(self, title, widget, area):
        scroll = QScrollArea()
        scroll.setWidget(widget)
        scroll.setWidgetResizable(True)
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(scroll)
        self.addDockWidget(area, dock)
        return dock

    def _build_panels(self):
        if getattr(self, "gallery", None) is not None:
            self.gallery.shutdown()
        if getattr(self, "live_panel", None) is not None:
            self.live_panel.shutdown()
        if getattr(self, "viewport", None) is not None:
            self.viewport.shutdown()
        for dock in getattr(self, "docks", {}).values():
            self.removeDockWidget(dock)
            dock.deleteLater()
        self.identity_panel = IdentityPanel(self.doc, lambda: self.engine)
        from app.panels.gallery import IdentityGallery
        from app.panels.sh_coefficients import SHCoefficientsPanel
        from app.perf_plot import PerformancePlot

        self.gallery = IdentityGallery(self.doc, lambda: self.engine)
        self.gallery.picked.connect(self.identity_panel.seed.setValue)
        self.sh_panel = SHCoefficientsPanel(self.doc)
        self.perf_plot = PerformancePlot()
        from app.timeline import TimelinePanel

        self.timeline = TimelinePanel(self.doc)
        self.expression_panel = ExpressionPanel(self.doc, self.engine.cfg.expression_names)
        self.lighting_panel = LightingPanel(self.doc)
        self.camera_panel = CameraPanel(self.doc)
        self.render_panel = RenderPanel(self.doc)
        from app.panels.live import LivePanel

        self.live_panel = LivePanel(self.doc, self.engine.cfg.expression_names, self.scheduler)
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.viewport = None
        from PySide6.QtGui import QGuiApplication

        if QGuiApplication.platformName() not in ("offscreen", "minimal"):
            from app.viewport import GeometryViewport

            self.viewport = GeometryViewport(self.doc, lambda: self.engine)
            geometry = self.viewport
        else:  # no OpenGL surface on these platforms
            from PySide6.QtWidgets import QLabel

            geometry = QLabel("The geometry viewport needs an OpenGL display.")
        docks = [
            ("Identity", self.identity_panel, left),
            ("Render", self.render_panel, left),
            ("Camera", self.camera_panel, left),
            ("Geometry", geometry, left),
            ("Expression", self.expression_panel, right),
            ("Lighting", self.lighting_panel, right),
            ("Gallery", self.gallery, left),
            ("SH coefficients", self.sh_panel, right),
            ("Performance", self.perf_plot, Qt.DockWidgetArea.BottomDockWidgetArea),
            ("Timeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea),
            ("Live", self.live_panel, right),
        ]
        self.docks = {title: self._dock(title, widget, area) for title, widget, area in docks}
        d = self.docks
        self.timeline.render_button.clicked.connect(lambda: self.exporter.video_dialog("timeline"))
        d["Timeline"].hide()  # View > Timeline shows it
        self.tabifyDockWidget(d["Identity"], d["Gallery"])
        d["Gallery"].visibilityChanged.connect(self.gallery.set_seen)
        self.tabifyDockWidget(d["Lighting"], d["SH coefficients"])
        d["Lighting"].raise_()
        self.tabifyDockWidget(d["Expression"], d["Live"])
        d["Expression"].raise_()
        d["Performance"].hide()  # View > Performance shows it
        if hasattr(self, "view_menu"):
            self._refresh_view_menu()

    def _refresh_view_menu(self):
        self.view_menu.clear()
        d = self.docks
        for dock in d.values():
            self.view_menu.addAction(dock.toggleViewAction())
        self.tabifyDockWidget(d["Identity"], d["Render"])
        d["Identity"].raise_()
        self.resizeDocks([d["Camera"], d["Expression"]], [360, 380], Qt.Orientation.Horizontal)
        self.resizeDocks([d["Identity"], d["Camera"], d["Geometry"]], [220, 200, 380], Qt.Orientation.Vertical)

    def _build_menus(self):
        m = self.menuBar().addMenu("&File")
        self._action(m, "Open &model...", self._open_model_dialog, "Ctrl+Shift+O")
        from app.fit_dialog import PhotoFitController

        self.photo_fitter = PhotoFitController(self)  # also takes photos dropped on the view
        self._action(m, "New avatar from &photo...", self.photo_fitter.choose_photo, "Ctrl+Shift+N")
        from app.video_avatar import VideoAvatarController

        self.video_avatar = VideoAvatarController(self)
        self._action(m, "New avatar from &video...", self.video_avatar.choose_video)
        self._action(m, "New avatar from &webcam recording...", self.video_avatar.record_video)
        self._action(m, "&Open session...", self._open_session_dialog, QKeySequence.StandardKey.Open)
        self._action(m, "&Save session...", self._save_session_dialog, QKeySequence.StandardKey.Save)
        self.recent_menu = m.addMenu("Recent")
        self._refresh_recent()
        m.addSeparator()
        from app.exporting import Exporter

        self.exporter = Exporter(self)
        x = self.menuBar().addMenu("E&xport")
        self._action(x, "&Mesh (GLB, OBJ, PLY)...", self.exporter.mesh_dialog, "Ctrl+E")
        self._action(x, "&Image...", self.exporter.image_dialog, "Ctrl+Shift+E")
        self._action(x, "Every &pass...", self.exporter.passes_dialog)
        for kind in ("orbit", "light", "expression", "timeline"):
            self._action(x, f"&Video: {kind}...", lambda _=False, k=kind: self.exporter.video_dialog(k))
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        e = self.menuBar().addMenu("&Edit")
        undo = self.doc.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.doc.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        e.addAction(undo)
        e.addAction(redo)
        self._action(e, "Reset &camera", lambda: self.doc.update("Reset camera", camera=OrbitPose()), "Home")
        self.view_menu = self.menuBar().addMenu("&View")
        self._refresh_view_menu()
        h = self.menuBar().addMenu("&Help")
        self._action(h, "&About Avatar Studio", self.about)

    def _action(self, menu, text, slot, shortcut=None):
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(shortcut)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    # -- rendering --------------------------------------------------------------------------
    def _state_changed(self, state):
        self.scheduler.request(state, interactive=self.doc.interactive)
        self._update_title()

    def _show_frame(self, img, info):
        self.frames_shown += 1
        self.frame_times.append(time.perf_counter())
        self.frame_times = self.frame_times[-30:]
        fps = 0.0
        if len(self.frame_times) > 1:
            fps = (len(self.frame_times) - 1) / max(self.frame_times[-1] - self.frame_times[0], 1e-6)
        stages = ", ".join(f"{k} {v:.0f}" for k, v in info["timings"].items())
        self.view.set_frame(img, f"{info['quality']}  {info['ms']:.0f} ms  {fps:.1f} fps  [{stages}]")
        self.perf_plot.add_frame(info)
        self.last_frame_info = info

    def _orbit(self, d_yaw, d_pitch):
        c = self.doc.state.camera
        self.doc.interactive = True
        self.doc.update("Orbit", merge_key="orbit", camera=c.with_(
            yaw=(c.yaw + d_yaw + 180) % 360 - 180, pitch=max(-60.0, min(60.0, c.pitch + d_pitch))))

    def _zoom(self, factor):
        c = self.doc.state.camera
        self.doc.update("Zoom", camera=c.with_(radius=max(1.5, min(6.0, c.radius * factor))))

    # -- models and sessions ------------------------------------------------------------------
    def open_model(self, path) -> bool:
        try:
            engine = InferenceEngine.from_checkpoint(path, str(self.engine.device))
        except (CheckpointError, ValueError, OSError) as e:
            self._error("Open model", str(e))
            return False
        self.engine = engine
        self.model_path = str(path)
        self.scheduler.set_engine(engine)
        self._build_panels()
        self.doc.reset(engine.default_state())
        self._remember(path)
        self.statusBar().showMessage(f"Opened model {Path(path).name}", 5000)
        return True

    def use_fitted_avatar(self, engine, state, label: str):
        """Show a fitted avatar: its engine (the model with the avatar's tuned weights)
        replaces the current one, like opening a model, and the document shows its state."""
        self.engine = engine
        self.scheduler.set_engine(engine)
        self._build_panels()
        self.doc.reset(state)
        self.statusBar().showMessage(f"Showing {label}", 5000)

    def session_json(self) -> dict:
        p = self.identity_panel
        return {"format": SESSION_FORMAT, "version": 1, "model": self.model_path, "state": self.doc.state.to_json(),
                "identity_panel": {"seed": p.seed.value(), "seed_b": p.seed_b.value(),
                                   "truncation": p.truncation.value(), "mix": p.mix.value()}}

    def save_session(self, path) -> bool:
        try:
            atomic_write_text(path, json.dumps(self.session_json(), indent=1))
        except OSError as e:
            self._error("Save session", f"{path}: {e.strerror or e}")
            return False
        self.doc.undo_stack.setClean()
        self._remember(path)
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def open_session(self, path) -> bool:
        path = Path(path)
        try:
            session = read_session(path)
        except ValueError as e:
            self._error("Open session", str(e))
            return False
        if session.model and Path(session.model).resolve() != Path(self.model_path).resolve() \
                and not self.open_model(session.model):
            return False
        if session.state.identity.latent.size != self.engine.cfg.latent_dim:
            self._error("Open session", f"{path}: its identity does not fit this model")
            return False
        for key, value in session.identity_panel.items():
            set_quietly(getattr(self.identity_panel, key), value)
        self.doc.reset(session.state)
        self._remember(path)
        return True

    def autosave(self):
        try:
            atomic_write_text(recovery_path(), json.dumps(self.session_json()))
        except OSError:
            pass  # autosave must never interrupt work

    def _offer_recovery(self):
        path = recovery_path()
        if not path.exists():
            return
        answer = QMessageBox.question(self, "Restore session", "Avatar Studio did not close cleanly. Restore the last autosaved session?")
        if answer == QMessageBox.StandardButton.Yes:
            self.open_session(path)

    def shutdown(self):
        """Stop every background thread before the window goes (a thread still inside
        torch or ffmpeg when the interpreter exits aborts the process)."""
        self._autosave.stop()
        self.scheduler.shutdown()
        self.gallery.shutdown()
        self.live_panel.shutdown()
        if self.viewport is not None:
            self.viewport.shutdown()
        self.exporter.shutdown()
        self.photo_fitter.shutdown()
        self.video_avatar.shutdown()

    def closeEvent(self, event):  # noqa: N802
        self.shutdown()
        recovery_path().unlink(missing_ok=True)  # a clean exit leaves nothing to restore
        super().closeEvent(event)

    # -- dialogs ------------------------------------------------------------------------------
    def _open_model_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open model", "", "Models (*.safetensors)")
        if path:
            self.open_model(path)

    def _open_session_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open session", "", "Sessions (*.json)")
        if path:
            self.open_session(path)

    def _save_session_dialog(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save session", "session.json", "Sessions (*.json)")
        if path:
            self.save_session(path)

    def about(self):
        prov = getattr(self.engine, "provenance", {})
        QMessageBox.about(self, "About Avatar Studio", (
            f"Avatar Studio 0.1\n\nModel: {self.model_path}\n{prov.get('kind', '')}\n"
            f"Expressions: {len(self.engine.cfg.expression_names)}\nDevice: {self.engine.device}"))

    def _error(self, title, message):
        self.statusBar().showMessage(message.splitlines()[0], 8000)
        QMessageBox.critical(self, title, message.splitlines()[0])

    def _remember(self, path):
        s = QSettings("AvatarStudio", "AvatarStudio")
        recent = [str(path)] + [p for p in (s.value("recent", []) or []) if p != str(path)]
        s.setValue("recent", recent[:8])
        self._refresh_recent()

    def _refresh_recent(self):
        self.recent_menu.clear()
        for p in QSettings("AvatarStudio", "AvatarStudio").value("recent", []) or []:
            opener = self.open_model if str(p).endswith(".safetensors") else self.open_session
            self.recent_menu.addAction(Path(p).name, lambda p=p, o=opener: o(p))

    def _update_title(self, *_):
        try:
            dirty = "" if self.doc.undo_stack.isClean() else " *"
        except RuntimeError:  # the stack is being torn down with the window
            return
        title = f"Avatar Studio - {Path(self.model_path).name}{dirty}"
        if title != self.windowTitle():   # a drag event must not re-send the title to the window system
            self.setWindowTitle(title)
