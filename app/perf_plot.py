"""Frame-time history (pyqtgraph): total milliseconds per frame and per stage."""
from __future__ import annotations

from collections import deque

import pyqtgraph as pg


class PerformancePlot(pg.PlotWidget):
    STAGES = ("planes", "grid", "march+superres", "shade")

    def __init__(self, parent=None, history: int = 120):
        super().__init__(parent)
        self.setBackground((30, 30, 34))
        self.setLabel("left", "ms")
        self.setLabel("bottom", "frame")
        self.addLegend(offset=(5, 5))
        self.showGrid(y=True, alpha=0.2)
        self.history = {k: deque(maxlen=history) for k in ("total",) + self.STAGES}
        colours = {"total": "w", "planes": "c", "grid": "y", "march+superres": "m", "shade": "g"}
        self.curves = {k: self.plot(pen=pg.mkPen(colours[k], width=1.5), name=k) for k in self.history}
        self.setMinimumHeight(120)

    def add_frame(self, info: dict):
        self.history["total"].append(info["ms"])
        for k in self.STAGES:
            self.history[k].append(info["timings"].get(k, 0.0))
        if not self.isVisible():  # hidden (the default): keep the history, skip the redraw
            return
        for k, curve in self.curves.items():
            curve.setData(list(self.history[k]))

    def showEvent(self, event):  # noqa: N802
        super().showEvent(event)
        for k, curve in self.curves.items():
            curve.setData(list(self.history[k]))
