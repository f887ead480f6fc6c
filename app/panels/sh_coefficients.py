from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QDoubleSpinBox, QGridLayout, QLabel, QWidget

from core.lighting import SH_ORDER_NAMES, SphericalHarmonicsLighting


class SHCoefficientsPanel(QWidget):
    """Advanced lighting: the 27 RGB SH coefficients, editable."""

    def __init__(self, doc, parent=None):
        super().__init__(parent)
        self.doc = doc
        grid = QGridLayout(self)
        for c, name in enumerate(("R", "G", "B")):
            grid.addWidget(QLabel(name), 0, c + 1)
        self.boxes = []
        for k, name in enumerate(SH_ORDER_NAMES):
            grid.addWidget(QLabel(name), k + 1, 0)
            row = []
            for c in range(3):
                box = QDoubleSpinBox()
                box.setRange(-10.0, 10.0)
                box.setDecimals(3)
                box.setSingleStep(0.05)
                box.setToolTip(f"{name} ({'RGB'[c]}): radiance SH coefficient, Ramamoorthi-Hanrahan order")
                box.valueChanged.connect(self._changed)
                grid.addWidget(box, k + 1, c + 1)
                row.append(box)
            self.boxes.append(row)
        self.sync(doc.state)
        doc.state_changed.connect(self.sync)

    def _changed(self, *_):
        coeffs = np.array([[b.value() for b in row] for row in self.boxes])
        self.doc.interactive = True
        self.doc.update("SH coefficient", merge_key="sh", lighting=SphericalHarmonicsLighting(coeffs))

    def sync(self, state):
        # 27 spin boxes: a camera or expression drag leaves the lighting alone, skip them
        key = state.lighting.coeffs.tobytes()
        if key == getattr(self, "_synced", None):
            return
        self._synced = key
        for k, row in enumerate(self.boxes):
            for c, box in enumerate(row):
                box.blockSignals(True)
                box.setValue(float(state.lighting.coeffs[k, c]))
                box.blockSignals(False)
