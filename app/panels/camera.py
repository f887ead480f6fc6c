from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QPushButton, QWidget

from app.panels.common import labeled_slider, set_quietly
from core.state import OrbitPose


class CameraPanel(QWidget):
    """Yaw, pitch, distance and field of view of the orbit camera."""

    def __init__(self, doc, parent=None):
        super().__init__(parent)
        self.doc = doc
        form = QFormLayout(self)
        cam = doc.state.camera
        self.sliders = {
            "yaw": labeled_slider(-180, 180, cam.yaw, "Turn around the head (degrees)", 1),
            "pitch": labeled_slider(-60, 60, cam.pitch, "Look from above (+) or below (-) (degrees)", 1),
            "radius": labeled_slider(1.5, 6.0, cam.radius, "Distance from the centre of the head"),
            "fov": labeled_slider(5, 60, cam.fov, "Field of view (EG3D convention, degrees)", 1),
        }
        for name, s in self.sliders.items():
            form.addRow(name.capitalize() if name != "radius" else "Distance", s)
            s.valueChanged.connect(lambda _v, n=name: self._changed(n))
            s.sliderReleased.connect(doc.end_interaction)
        reset = QPushButton("Reset camera")
        reset.setToolTip("Back to the frontal view")
        reset.clicked.connect(lambda: doc.update("Reset camera", camera=OrbitPose()))
        form.addRow(reset)
        doc.state_changed.connect(self.sync)

    def _changed(self, name):
        cam = self.doc.state.camera
        values = {k: s.value() for k, s in self.sliders.items()}
        self.doc.interactive = True
        self.doc.update(f"Camera {name}", merge_key=f"camera.{name}", camera=cam.with_(
            yaw=values["yaw"], pitch=values["pitch"], radius=values["radius"], fov=values["fov"]))

    def sync(self, state):
        cam = state.camera
        if cam == getattr(self, "_synced", None):   # an expression or lighting drag
            return
        self._synced = cam
        for name in self.sliders:
            set_quietly(self.sliders[name], getattr(cam, name))
