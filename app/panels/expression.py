from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QPushButton, QToolButton, QWidget

from app.panels.common import labeled_slider, set_quietly
from core.expression import Expression, load_expression_presets


class ExpressionPanel(QWidget):
    """One slider per expression the model knows, resets, and presets."""

    def __init__(self, doc, names, parent=None):
        super().__init__(parent)
        self.doc, self.names = doc, tuple(names)
        grid = QGridLayout(self)
        self.presets = QComboBox()
        self.presets.addItem("Preset...")
        self._preset_values = load_expression_presets(self.names)
        self.presets.addItems(sorted(self._preset_values))
        self.presets.activated.connect(self._preset)
        grid.addWidget(self.presets, 0, 0, 1, 2)
        reset_all = QPushButton("Reset all")
        reset_all.clicked.connect(lambda: doc.update("Reset expression", expression=Expression.neutral(self.names)))
        grid.addWidget(reset_all, 0, 2)
        self.sliders = {}
        values = doc.state.expression.with_names(self.names)
        for row, name in enumerate(self.names, start=1):
            grid.addWidget(QLabel(name), row, 0)
            s = labeled_slider(0.0, 1.0, values[name], f"ARKit blendshape {name}")
            s.valueChanged.connect(lambda v, n=name: self._changed(n, v))
            s.sliderReleased.connect(doc.end_interaction)
            grid.addWidget(s, row, 1)
            r = QToolButton()
            r.setText("0")
            r.setToolTip(f"Reset {name}")
            r.clicked.connect(lambda _=False, n=name: self._changed(n, 0.0, interactive=False))
            grid.addWidget(r, row, 2)
            self.sliders[name] = s
        doc.state_changed.connect(self.sync)

    def _changed(self, name, value, interactive=True):
        ex = self.doc.state.expression.with_names(self.names).with_value(name, float(value))
        self.doc.interactive = interactive
        self.doc.update(f"Expression {name}", merge_key=f"expr.{name}" if interactive else None, expression=ex)

    def _preset(self, index):
        if index <= 0:
            return
        name = self.presets.itemText(index)
        self.doc.update(f"Expression preset {name}", expression=self._preset_values[name])
        self.presets.setCurrentIndex(0)

    def sync(self, state):
        ex = state.expression.with_names(self.names)
        key = ex.key()
        if key == getattr(self, "_synced", None):   # a camera or lighting drag
            return
        self._synced = key
        for name, s in self.sliders.items():
            set_quietly(s, ex[name])
