"""A simple keyframe timeline: add the current state as a keyframe, remove one, scrub
through the interpolation, play it, render it to a video."""
from __future__ import annotations

import json

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDoubleSpinBox, QHBoxLayout, QListWidget, QPushButton, QSlider, QVBoxLayout, QWidget,
)

from core.export import video


class TimelinePanel(QWidget):
    STEPS = 1000

    def __init__(self, doc, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.keys: list[tuple[float, object]] = []
        self.list = QListWidget()
        self.time = QDoubleSpinBox()
        self.time.setRange(0.0, 600.0)
        self.time.setSuffix(" s")
        self.time.setToolTip("Time of the next keyframe")
        add = QPushButton("Add keyframe")
        add.setToolTip("Store the current state at this time")
        add.clicked.connect(self.add_current)
        remove = QPushButton("Remove")
        remove.clicked.connect(self.remove_selected)
        self.scrub = QSlider(Qt.Orientation.Horizontal)
        self.scrub.setRange(0, self.STEPS)
        self.scrub.setToolTip("Scrub through the timeline")
        self.scrub.valueChanged.connect(self._scrubbed)
        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(self.toggle_play)
        self.render_button = QPushButton("Render video...")
        row = QHBoxLayout()
        for w in (self.time, add, remove):
            row.addWidget(w)
        row2 = QHBoxLayout()
        row2.addWidget(self.play_button)
        row2.addWidget(self.render_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.list)
        layout.addWidget(self.scrub)
        layout.addLayout(row2)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)

    @property
    def duration(self) -> float:
        return self.keys[-1][0] - self.keys[0][0] if len(self.keys) > 1 else 0.0

    def add_current(self):
        t = self.time.value()
        self.keys = sorted([k for k in self.keys if abs(k[0] - t) > 1e-6] + [(t, self.doc.state)], key=lambda k: k[0])
        self.time.setValue(t + 1.0)
        self._refresh()

    def remove_selected(self):
        row = self.list.currentRow()
        if 0 <= row < len(self.keys):
            del self.keys[row]
            self._refresh()

    def _refresh(self):
        self.list.clear()
        for t, s in self.keys:
            self.list.addItem(f"{t:6.2f} s   yaw {s.camera.yaw:+.0f}   {s.identity.name or 'identity'}")

    def state_at(self, fraction: float):
        start = self.keys[0][0]
        return video.timeline_state(self.keys, start + self.duration * fraction)

    def _scrubbed(self, value):
        if len(self.keys) < 2:
            return
        self.doc.interactive = True
        self.doc.set_state(self.state_at(value / self.STEPS), "Scrub timeline", merge_key="timeline")

    def toggle_play(self):
        if self._timer.isActive():
            self._timer.stop()
            self.play_button.setText("Play")
            self.doc.end_interaction()
        elif len(self.keys) > 1:
            self._timer.start(40)
            self.play_button.setText("Stop")

    def _tick(self):
        step = max(1, int(self.STEPS * 0.04 / max(self.duration, 1e-6)))
        self.scrub.setValue((self.scrub.value() + step) % (self.STEPS + 1))

    def to_json(self) -> dict:
        return {"keyframes": [{"time": t, "state": s.to_json()} for t, s in self.keys]}

    def save(self, path):
        from core.fileio import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_json(), indent=1))
