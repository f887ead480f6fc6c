from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QColorDialog, QComboBox, QFileDialog, QFormLayout, QMessageBox, QPushButton, QWidget

from app.panels.common import labeled_slider, set_quietly
from core.lighting import SphericalHarmonicsLighting, load_presets


def direction_from_angles(azimuth: float, elevation: float) -> np.ndarray:
    """Degrees -> unit vector towards the light (azimuth 0 = from the camera side, +z)."""
    a, e = math.radians(azimuth), math.radians(elevation)
    return np.array([math.sin(a) * math.cos(e), math.sin(e), math.cos(a) * math.cos(e)])


class LightBall(QWidget):
    """A sphere lit by the current SH irradiance; drag on it to move the key light."""

    direction_picked = Signal(float, float)  # azimuth, elevation (degrees)
    released = Signal()
    SIZE = 120

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFixedSize(self.SIZE, self.SIZE)
        self.setToolTip("Drag to move the key light; the ball shows the irradiance")
        self._img = None
        y, x = np.mgrid[0:self.SIZE, 0:self.SIZE]
        u = (x + 0.5) / self.SIZE * 2 - 1
        v = 1 - (y + 0.5) / self.SIZE * 2
        r2 = u * u + v * v
        self._mask = r2 <= 1
        self._normals = np.stack([u, v, np.sqrt(np.clip(1 - r2, 0, 1))], -1)

    def set_lighting(self, light: SphericalHarmonicsLighting):
        e = light.irradiance(self._normals.reshape(-1, 3)).reshape(self.SIZE, self.SIZE, 3)
        e = np.clip(e / max(1.0, float(np.percentile(e[self._mask], 99))), 0, 1) ** (1 / 2.2)
        img = np.where(self._mask[..., None], e, 0.16)
        self._arr = np.ascontiguousarray((img * 255).astype(np.uint8))
        self._img = QImage(self._arr.data, self.SIZE, self.SIZE, 3 * self.SIZE, QImage.Format.Format_RGB888)
        self.update()

    def paintEvent(self, event):  # noqa: N802
        p = QPainter(self)
        if self._img is not None:
            p.drawImage(0, 0, self._img)
        p.end()

    def _pick(self, pos):
        u = pos.x() / self.SIZE * 2 - 1
        v = 1 - pos.y() / self.SIZE * 2
        r2 = u * u + v * v
        if r2 > 1:
            u, v = u / math.sqrt(r2), v / math.sqrt(r2)
            r2 = 1.0
        z = math.sqrt(max(0.0, 1 - r2))
        self.direction_picked.emit(math.degrees(math.atan2(u, z)), math.degrees(math.asin(max(-1.0, min(1.0, v)))))

    def mousePressEvent(self, e):  # noqa: N802
        self._pick(e.position())

    def mouseMoveEvent(self, e):  # noqa: N802
        self._pick(e.position())

    def mouseReleaseEvent(self, e):  # noqa: N802
        self.released.emit()


class LightingPanel(QWidget):
    """Key light (direction ball, intensity, colour) + ambient, presets, environment maps.

    The document holds only SH coefficients, which the sliders cannot be read back from
    (presets and environment maps have no key light), so the panel remembers which slider
    settings showed each lighting it has seen; undo and redo put those settings back."""

    REMEMBERED_LIGHTINGS = 4096  # a long session's drags; each entry is ~300 bytes

    def __init__(self, doc, parent=None):
        super().__init__(parent)
        self.doc = doc
        self._settings_of: OrderedDict[bytes, tuple] = OrderedDict()  # SH bytes -> slider settings
        self._presets = load_presets()
        form = QFormLayout(self)
        self.preset = QComboBox()
        self.preset.addItem("Preset...")
        self.preset.addItems(sorted(self._presets))
        self.preset.activated.connect(self._preset)
        form.addRow(self.preset)
        self.ball = LightBall()
        self.ball.direction_picked.connect(self._ball)
        self.ball.released.connect(doc.end_interaction)
        form.addRow(self.ball)
        self.azimuth = labeled_slider(-180, 180, -30, "Key light direction around the head (degrees)", 0)
        self.elevation = labeled_slider(-90, 90, 25, "Key light height (degrees)", 0)
        self.intensity = labeled_slider(0, 3, 0.85, "Key light intensity")
        self.ambient = labeled_slider(0, 2, 0.35, "Uniform ambient light")
        self._color = QColor(255, 255, 255)
        self.color_button = QPushButton("Key colour...")
        self.color_button.clicked.connect(self._pick_color)
        for label, w in (("Azimuth", self.azimuth), ("Elevation", self.elevation), ("Intensity", self.intensity),
                         ("Ambient", self.ambient)):
            form.addRow(label, w)
            w.valueChanged.connect(lambda _v: self._changed())
            w.sliderReleased.connect(doc.end_interaction)
        form.addRow(self.color_button)
        env = QPushButton("Environment map...")
        env.setToolTip("Project an HDR/EXR/PNG/JPG equirectangular map onto SH")
        env.clicked.connect(self._load_envmap)
        form.addRow(env)
        self.ball.set_lighting(doc.state.lighting)
        self._remember(doc.state.lighting)
        doc.state_changed.connect(self.sync)

    def current_light(self) -> SphericalHarmonicsLighting:
        c = self._color
        return SphericalHarmonicsLighting.from_directional(
            direction_from_angles(self.azimuth.value(), self.elevation.value()),
            (c.redF(), c.greenF(), c.blueF()), self.intensity.value(), self.ambient.value())

    def sync(self, state):
        """Follow the document: the ball shows its lighting; the sliders show the settings
        that made it, or keep theirs for a lighting they did not make (a preset, an
        environment map, an SH edit), which is then remembered with them. A state change
        that leaves the lighting alone (a camera or expression drag) costs nothing here:
        redrawing the ball on every drag event took the GUI thread ~4 ms a frame."""
        key = state.lighting.coeffs.tobytes()
        if key == getattr(self, "_synced", None):
            return
        self._synced = key
        self.ball.set_lighting(state.lighting)
        if key not in self._settings_of:
            self._remember(state.lighting)
            return
        self._settings_of.move_to_end(key)
        azimuth, elevation, intensity, ambient, rgb = self._settings_of[key]
        for widget, value in ((self.azimuth, azimuth), (self.elevation, elevation), (self.intensity, intensity),
                              (self.ambient, ambient)):
            set_quietly(widget, value)
        self._color = QColor.fromRgba(rgb)

    def _remember(self, light: SphericalHarmonicsLighting):
        key = light.coeffs.tobytes()
        self._settings_of[key] = (self.azimuth.value(), self.elevation.value(), self.intensity.value(),
                                  self.ambient.value(), self._color.rgba())
        self._settings_of.move_to_end(key)
        while len(self._settings_of) > self.REMEMBERED_LIGHTINGS:
            self._settings_of.popitem(last=False)

    def _apply_sliders(self, text, merge_key=None):
        light = self.current_light()
        self._remember(light)  # before the document announces it, so sync finds these settings
        self.doc.update(text, merge_key=merge_key, lighting=light)

    def _changed(self, text="Lighting"):
        self.doc.interactive = True
        self._apply_sliders(text, merge_key="lighting")

    def _ball(self, az, el):
        set_quietly(self.azimuth, az)
        set_quietly(self.elevation, el)
        self._changed("Move key light")

    def _pick_color(self):
        c = QColorDialog.getColor(self._color, self, "Key light colour")
        if c.isValid():
            self._color = c
            self._apply_sliders("Key light colour")

    def _preset(self, index):
        if index > 0:
            name = self.preset.itemText(index)
            self.doc.update(f"Lighting preset {name}", lighting=self._presets[name])
            self.preset.setCurrentIndex(0)

    def _load_envmap(self):
        path, _ = QFileDialog.getOpenFileName(self, "Environment map", "", "Images (*.hdr *.exr *.png *.jpg *.jpeg)")
        if path:
            self.load_envmap(path)

    def load_envmap(self, path: str) -> bool:
        from pathlib import Path

        from core.lighting import load_environment_map

        try:
            light = SphericalHarmonicsLighting.from_environment_map(load_environment_map(Path(path)))
        except (ValueError, OSError) as e:
            QMessageBox.warning(self, "Environment map", str(e).splitlines()[0])
            return False
        self.doc.update("Environment map", lighting=light)
        return True
