"""The live neural render: shows the latest frame, orbits the camera with the mouse
(drag to turn, wheel to zoom) and shows a small performance overlay."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QWidget


class RenderView(QWidget):
    orbit_dragged = Signal(float, float)   # d_yaw, d_pitch (degrees)
    zoomed = Signal(float)                 # radius factor
    interaction_finished = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(256, 256)
        self._image: QImage | None = None
        self._array: np.ndarray | None = None
        self._drag: QPointF | None = None
        self.overlay = ""
        self.setToolTip("Drag to orbit the camera, scroll to zoom")

    def set_frame(self, rgb: np.ndarray, overlay: str = ""):
        self._array = np.ascontiguousarray(rgb)
        h, w = self._array.shape[:2]
        self._image = QImage(self._array.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        self.overlay = overlay
        self.update()

    def current_frame(self) -> np.ndarray | None:
        return None if self._array is None else self._array.copy()

    def paintEvent(self, event):  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(40, 40, 44))
        if self._image is not None:
            side = min(self.width(), self.height())
            x, y = (self.width() - side) // 2, (self.height() - side) // 2
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(self.rect().adjusted(x, y, -x, -y) if side else self.rect(), self._image)
        if self.overlay:
            width = p.fontMetrics().horizontalAdvance(self.overlay) + 12
            p.fillRect(4, 4, width, 20, QColor(0, 0, 0, 140))
            p.setPen(QColor(235, 235, 235))
            p.drawText(10, 18, self.overlay)
        p.end()

    def mousePressEvent(self, e):  # noqa: N802
        if e.button() == Qt.MouseButton.LeftButton:
            self._drag = e.position()

    def mouseMoveEvent(self, e):  # noqa: N802
        if self._drag is None:
            return
        d = e.position() - self._drag
        self._drag = e.position()
        self.orbit_dragged.emit(-d.x() * 0.4, d.y() * 0.3)

    def mouseReleaseEvent(self, e):  # noqa: N802
        if self._drag is not None:
            self._drag = None
            self.interaction_finished.emit()

    def wheelEvent(self, e):  # noqa: N802
        steps = e.angleDelta().y() / 120.0
        self.zoomed.emit(0.95 ** steps)
        self.interaction_finished.emit()
