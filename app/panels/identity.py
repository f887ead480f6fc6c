from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QPushButton, QSpinBox, QWidget

from app.panels.common import labeled_slider


class IdentityPanel(QWidget):
    """Seed, randomise, truncation, and an A/B mix between two seeds."""

    def __init__(self, doc, engine_ref, parent=None):
        super().__init__(parent)
        self.doc, self.engine_ref = doc, engine_ref
        form = QFormLayout(self)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Identity seed A: a head drawn from the model's prior")
        self.seed_b = QSpinBox()
        self.seed_b.setRange(0, 2**31 - 1)
        self.seed_b.setValue(1)
        self.seed_b.setToolTip("Identity seed B, for mixing")
        self.truncation = labeled_slider(0.0, 1.0, 0.7, "Pull towards the average head (0) or allow extremes (1)")
        self.mix = labeled_slider(0.0, 1.0, 0.0, "Blend from identity A (0) to identity B (1)")
        randomise = QPushButton("Randomise")
        randomise.setShortcut("Ctrl+R")
        randomise.setToolTip("A new random seed (Ctrl+R)")
        randomise.clicked.connect(self.randomise)
        form.addRow("Seed A", self.seed)
        form.addRow(randomise)
        form.addRow("Truncation", self.truncation)
        form.addRow("Seed B", self.seed_b)
        form.addRow("Mix A-B", self.mix)
        self.seed.valueChanged.connect(lambda _v: self._changed("Identity seed", interactive=False))
        self.seed_b.valueChanged.connect(lambda _v: self._changed("Identity seed B", interactive=False))
        self.truncation.valueChanged.connect(lambda _v: self._changed("Truncation", "truncation"))
        self.mix.valueChanged.connect(lambda _v: self._changed("Identity mix", "mix"))
        for s in (self.truncation, self.mix):
            s.sliderReleased.connect(doc.end_interaction)

    def randomise(self):
        import random

        self.seed.setValue(random.randint(0, 99999))

    def current_identity(self):
        engine = self.engine_ref()
        trunc = self.truncation.value()
        a = engine.sample_identity(self.seed.value(), trunc)
        if self.mix.value() <= 0:
            return a
        return a.lerp(engine.sample_identity(self.seed_b.value(), trunc), self.mix.value())

    def _changed(self, text, merge_key=None, interactive=True):
        self.doc.interactive = interactive and merge_key is not None
        self.doc.update(text, merge_key=merge_key, identity=self.current_identity())
