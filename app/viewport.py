"""The geometry viewport: the mesh marched out of the current head's density, drawn by
render/mesh_renderer.py inside a QOpenGLWidget. Extraction runs on a worker thread when
identity or expression change (debounced); orbit with the left button, pan with the
right, zoom with the wheel; shading lit (same SH lighting as the neural view), normals or
wireframe; optionally follows the neural view's camera."""
from __future__ import annotations


import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QSurfaceFormat
from PySide6.QtOpenGLWidgets import QOpenGLWidget
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core.state import OrbitPose


class _GLView(QOpenGLWidget):
    mesh_ready = Signal(object)

    def __init__(self, owner):
        super().__init__()
        fmt = QSurfaceFormat()
        fmt.setVersion(3, 3)
        fmt.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
        fmt.setDepthBufferSize(24)
        self.setFormat(fmt)
        self.owner = owner
        self.renderer = None
        self._pending_mesh = None
        self._drag = None
        self.setMinimumSize(200, 200)
        self.mesh_ready.connect(self._take_mesh)

    def initializeGL(self):  # noqa: N802
        import moderngl

        from render.mesh_renderer import MeshRenderer

        self.renderer = MeshRenderer(moderngl.create_context())

    def _take_mesh(self, mesh):
        self._pending_mesh = mesh
        self.update()

    def paintGL(self):  # noqa: N802
        if self.renderer is None:
            return
        if self._pending_mesh is not None:
            v, f, c = self._pending_mesh
            self.renderer.set_mesh(v, f, c)
            self._pending_mesh = None
            self.owner.meshes_shown += 1
        fbo = self.renderer.ctx.detect_framebuffer(self.defaultFramebufferObject())
        fbo.use()
        ratio = self.devicePixelRatio()
        w, h = int(self.width() * ratio), int(self.height() * ratio)
        self.renderer.ctx.viewport = (0, 0, w, h)
        self.renderer.ctx.clear(0.16, 0.16, 0.18, 1.0)
        side = min(w, h)  # the camera is square, like the neural view: centre a square
        self.renderer.ctx.viewport = ((w - side) // 2, (h - side) // 2, side, side)
        self.renderer.draw(self.owner.camera().to_camera(), self.owner.doc.state.lighting, self.owner.mode.currentText())

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


def limit_software_gl_threads() -> None:
    """On a 2-core machine, make Mesa's software rasteriser (llvmpipe) draw on the thread
    that asks, not on a pool of its own. Why: once a window holds a QOpenGLWidget, Qt
    composes the whole window through OpenGL, so without a GPU every repaint of the studio
    is rasterised by llvmpipe, whose threads (one per core) took 0.6-0.7 of the two cores
    from the render during drags (bench/studio_bench.py under Xvfb: camera drag 11.6-14.2
    frames/s with them, 20.2 without). Only where nobody chose a value, before the first
    GL context exists; ignored by every other GL driver."""
    import os

    if (os.cpu_count() or 1) <= 2:
        os.environ.setdefault("LP_NUM_THREADS", "0")


class GeometryViewport(QWidget):
    GRID = 96

    def __init__(self, doc, engine_ref, parent=None):
        limit_software_gl_threads()   # before the GL widget below makes the first context
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
        self.gl = _GLView(self)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.gl, 1)
        self.mode.currentTextChanged.connect(lambda _t: self.gl.update())
        self.sync.toggled.connect(lambda _b: self.gl.update())
        self._key = None
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
        if looks == getattr(self, "_looks", None):
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
