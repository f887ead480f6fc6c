"""The geometry viewport: the mesh marched out of the current head's density, drawn by
render/mesh_renderer.py off-screen (its own moderngl context) and shown as an image.
Extraction runs on a worker thread when identity or expression change (debounced); orbit
with the left button, pan with the right, zoom with the wheel; shading lit (same SH
lighting as the neural view), normals or wireframe; optionally follows the neural view's
camera."""
from __future__ import annotations


import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core.lighting import SphericalHarmonicsLighting
from core.state import OrbitPose


class _MeshView(QWidget):
    """The mesh drawn by moderngl into an off-screen framebuffer of its own context and
    painted as an image. Why not a QOpenGLWidget: with one in the window Qt composes the
    whole window through OpenGL on every repaint, and without a GPU that is Mesa's
    software rasteriser redrawing 1600x1000 pixels for each neural frame shown (0.6-0.8 of
    a core during drags, bench/studio_bench.py); drawn off-screen, only this picture is
    rasterised, and only when it changes."""

    mesh_ready = Signal(object)

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        self.renderer = None
        self.unavailable = None       # why there is no GL context here, once known
        self._fbo = None
        self._pending_mesh = None
        self._drag = None
        self.setMinimumSize(200, 200)
        self.mesh_ready.connect(self._take_mesh)

    def _ensure_renderer(self) -> bool:
        if self.renderer is None and self.unavailable is None:
            import moderngl

            from render.mesh_renderer import MeshRenderer

            errors = []
            for backend in ("egl", None):   # EGL needs no window; else the platform's own
                try:
                    ctx = (moderngl.create_standalone_context(backend=backend) if backend
                           else moderngl.create_standalone_context())
                    self.renderer = MeshRenderer(ctx)
                    break
                except Exception as e:  # noqa: BLE001 - no such backend here: try the next
                    errors.append(str(e).splitlines()[0] if str(e) else type(e).__name__)
            else:
                self.unavailable = "no OpenGL context for the viewport: " + "; ".join(errors)
                self.owner.status.setText(self.unavailable)
            if self.renderer is not None:
                self._warm_up(self.renderer)
        return self.renderer is not None

    @staticmethod
    def _warm_up(r):
        """Draw a triangle once in every mode into a small framebuffer of the viewport's
        kind: Mesa compiles a shader's code at its first draw (llvmpipe: 40-80 ms on this
        2-core machine with an empty shader cache), so the first mesh would otherwise stall
        the GUI thread in the middle of the user's first drag."""
        fbo = r.ctx.simple_framebuffer((16, 16), components=4)
        try:
            fbo.use()
            r.set_mesh(np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0]], np.float32), np.array([[0, 1, 2]], np.int32))
            for mode in r.MODES:
                r.draw(OrbitPose().to_camera(), SphericalHarmonicsLighting.ambient(), mode)
            fbo.read(components=3)
        finally:
            r.release_mesh()
            fbo.release()

    def _take_mesh(self, mesh):
        self._pending_mesh = mesh
        self.update()

    def paintEvent(self, _event):  # noqa: N802
        from PySide6.QtGui import QColor, QImage, QPainter

        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor.fromRgbF(0.16, 0.16, 0.18))
        if not self._ensure_renderer():
            return
        r = self.renderer
        if self._pending_mesh is not None:
            v, f, c = self._pending_mesh
            r.set_mesh(v, f, c)
            self._pending_mesh = None
            self.owner.meshes_shown += 1
        ratio = self.devicePixelRatioF()
        side = max(1, int(min(self.width(), self.height()) * ratio))   # the camera is square
        if self._fbo is None or self._fbo.size != (side, side):
            if self._fbo is not None:
                self._fbo.release()
            self._fbo = r.ctx.simple_framebuffer((side, side), components=4)
        self._fbo.use()
        r.ctx.viewport = (0, 0, side, side)
        r.draw(self.owner.camera().to_camera(), self.owner.doc.state.lighting, self.owner.mode.currentText())
        pixels = np.frombuffer(self._fbo.read(components=3), np.uint8).reshape(side, side, 3)[::-1]
        img = QImage(np.ascontiguousarray(pixels).data, side, side, 3 * side, QImage.Format.Format_RGB888).copy()
        img.setDevicePixelRatio(ratio)
        x = (self.width() - side / ratio) / 2
        y = (self.height() - side / ratio) / 2
        painter.drawImage(int(x), int(y), img)

    def mousePressEvent(self, e):  # noqa: N802
        self._drag = (e.position(), e.button())

    def mouseMoveEvent(self, e):  # noqa: N802
        if self._drag is None:
            return
        pos, button = self._drag
        d = e.position() - pos
        self._drag = (e.position(), button)
        self.owner.move_camera(d.x(), d.y(), pan=(button.name == "RightButton"))

    def mouseReleaseEvent(self, e):  # noqa: N802
        self._drag = None

    def wheelEvent(self, e):  # noqa: N802
        self.owner.zoom(0.93 ** (e.angleDelta().y() / 120.0))


class GeometryViewport(QWidget):
    GRID = 96

    def __init__(self, doc, engine_ref, parent=None):
        super().__init__(parent)
        self.doc, self.engine_ref = doc, engine_ref
        self.meshes_shown = 0
        self._camera = OrbitPose(yaw=25.0, pitch=5.0)
        self.mode = QComboBox()
        self.mode.addItems(["lit", "normals", "wireframe"])
        self.mode.setToolTip("Shading of the mesh")
        self.sync = QCheckBox("Follow render camera")
        self.sync.setToolTip("Use the neural view's camera instead of the viewport's own")
        self.status = QLabel("")
        bar = QHBoxLayout()
        bar.addWidget(self.mode)
        bar.addWidget(self.sync)
        bar.addWidget(self.status, 1)
        self.gl = _MeshView(self)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.gl, 1)
        self.mode.currentTextChanged.connect(lambda _t: self.gl.update())
        self.sync.toggled.connect(lambda _b: self.gl.update())
        self._key = None
        self._looks = None   # (lighting, followed camera) the picture was last drawn for
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.timeout.connect(self._extract)
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.timeout.connect(self.gl.update)
        doc.state_changed.connect(self._state_changed)
        self._debounce.start(0)

    def camera(self) -> OrbitPose:
        return self.doc.state.camera if self.sync.isChecked() else self._camera

    def move_camera(self, dx, dy, pan=False):
        c = self._camera
        if pan:
            look = (c.look_at[0] - dx * 0.001 * c.radius, c.look_at[1] + dy * 0.001 * c.radius, c.look_at[2])
            self._camera = c.with_(look_at=look)
        else:
            self._camera = c.with_(yaw=(c.yaw - dx * 0.4 + 180) % 360 - 180,
                                   pitch=max(-85.0, min(85.0, c.pitch + dy * 0.3)))
        self.sync.setChecked(False)
        self.gl.update()

    def zoom(self, factor):
        c = self._camera
        self._camera = c.with_(radius=max(0.8, min(10.0, c.radius * factor)))
        self.gl.update()

    def _state_changed(self, state):
        key = (state.identity.key(), state.expression.key())
        if key != self._key:
            self._debounce.start(300)  # re-extract once the sliders rest
        # what the drawn picture depends on besides the mesh: the lighting, and the neural
        # view's camera only when it is followed (a camera drag in the neural view leaves
        # the viewport's own camera, and so its picture, as it was)
        looks = (state.lighting.coeffs.tobytes(), state.camera if self.sync.isChecked() else None)
        if looks == self._looks:
            return
        self._looks = looks
        # lighting or camera: just redraw, at most 4 times a second while something is
        # dragged (software GL under the neural view's drags cost it frames: measured
        # camera drag 17 -> see docs/benchmarks.md)
        if self.doc.interactive:
            if not self._redraw.isActive():
                self._redraw.start(250)
        else:
            self.gl.update()

    def _extract(self):
        from app.jobs import Job

        state = self.doc.state
        self._key = key = (state.identity.key(), state.expression.key())
        engine = self.engine_ref()
        self.status.setText("extracting mesh...")

        def work(_report, _cancelled):
            from core.export.mesh import MeshExportConfig, extract_mesh

            mesh = extract_mesh(engine, state, MeshExportConfig(resolution=self.GRID, metres=False))
            colors = np.asarray(mesh.visual.vertex_colors)[:, :3] / 255.0
            return key, (np.asarray(mesh.vertices), np.asarray(mesh.faces), colors)

        job = Job(self, "Extracting mesh", work, show_dialog=False)
        job.finished.connect(self._mesh_extracted)
        job.failed.connect(lambda reason: self.status.setText(f"mesh: {reason}"))
        self._jobs = [j for j in getattr(self, "_jobs", []) if not j.done.is_set()] + [job]
        job.start()

    def _mesh_extracted(self, result):
        """GUI thread: show the mesh unless a newer head has been asked for meanwhile."""
        key, mesh = result
        if key == self._key:
            self.gl.mesh_ready.emit(mesh)
            self.status.setText(f"{len(mesh[1])} faces")

    def shutdown(self):
        """Wait for mesh extractions in flight (they cannot be interrupted midway)."""
        self._debounce.stop()
        for job in getattr(self, "_jobs", []):
            job.wait(timeout=60)
