from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QComboBox, QFormLayout, QPushButton, QWidget

from core.state import PASSES, RenderSettings

RESOLUTIONS = (128, 256, 512)


class RenderPanel(QWidget):
    """Which pass the view shows, at what resolution, over which background."""

    def __init__(self, doc, parent=None):
        super().__init__(parent)
        self.doc = doc
        form = QFormLayout(self)
        self.render_pass = QComboBox()
        self.render_pass.addItems(PASSES)
        self.render_pass.setToolTip("G-buffer pass to show")
        self.resolution = QComboBox()
        self.resolution.addItems([str(r) for r in RESOLUTIONS])
        self.resolution.setToolTip("Output size of refined frames (previews use half)")
        self.background = QPushButton("Background...")
        form.addRow("Pass", self.render_pass)
        form.addRow("Resolution", self.resolution)
        form.addRow(self.background)
        self.render_pass.currentTextChanged.connect(lambda t: self._set(render_pass=t))
        self.resolution.currentTextChanged.connect(lambda t: self._set(resolution=int(t)))
        self.background.clicked.connect(self._pick_background)
        self.sync(doc.state)
        doc.state_changed.connect(self.sync)

    def _set(self, **changes):
        r = self.doc.state.render
        values = {"resolution": r.resolution, "quality": r.quality, "render_pass": r.render_pass,
                  "background": r.background}
        values.update(changes)
        self.doc.interactive = False
        self.doc.update("Render settings", render=RenderSettings(**values))

    def _pick_background(self):
        bg = self.doc.state.render.background
        c = QColorDialog.getColor(QColor.fromRgbF(*bg), self, "Background")
        if c.isValid():
            self._set(background=(c.redF(), c.greenF(), c.blueF()))

    def sync(self, state):
        for w, text in ((self.render_pass, state.render.render_pass), (self.resolution, str(state.render.resolution))):
            w.blockSignals(True)
            if w.findText(text) < 0:
                w.addItem(text)
            w.setCurrentText(text)
            w.blockSignals(False)
