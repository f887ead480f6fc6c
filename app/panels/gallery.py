from __future__ import annotations


import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from core.state import OrbitPose, RenderSettings


class IdentityGallery(QWidget):
    """Thumbnails of sampled heads (rendered in the background); click one to pick it."""

    picked = Signal(int)           # seed
    thumbnail_ready = Signal(int, object)
    COUNT = 8

    def __init__(self, doc, engine_ref, parent=None):
        super().__init__(parent)
        self.doc, self.engine_ref = doc, engine_ref
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(72, 72))
        self.list.setMinimumHeight(180)
        self.list.itemClicked.connect(lambda item: self.picked.emit(int(item.data(256))))
        more = QPushButton("More heads")
        more.setToolTip("Sample another page of identities")
        more.clicked.connect(self.next_page)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(more)
        self.thumbnail_ready.connect(self._add)
        self._job = None
        self.page = 0
        self.thumbnails_done = 0

    def set_seen(self, seen: bool):
        """The gallery's dock tab became the shown one (or stopped being it). Thumbnails
        are rendered when the gallery is first seen, not at start-up, where they would
        compete with the first frames for the CPU: a dock's `visibilityChanged`, not the
        widget's showEvent, which Qt also sends to a tabbed dock's hidden page (it did, and
        8 thumbnails, ~750 ms of the engine, fell into the first second of the first drag)."""
        if seen and self.page == 0:
            self.next_page()

    def next_page(self):
        self.shutdown()
        self.list.clear()
        seeds = list(range(self.page * self.COUNT, (self.page + 1) * self.COUNT))
        self.page += 1
        engine, base = self.engine_ref(), self.doc.state
        truncation = 0.7

        def work(_report, cancelled):
            for seed in seeds:
                if cancelled():
                    return
                state = base.with_(identity=engine.sample_identity(seed, truncation), camera=OrbitPose(yaw=15),
                                   render=RenderSettings(64, "preview"))
                frame = engine.render(state, "preview", keep=False).frame
                img = (np.clip(frame.rgb.numpy(), 0, 1) * 255).astype(np.uint8)
                try:  # queued to _add on the GUI thread (the gallery lives there)
                    self.thumbnail_ready.emit(seed, np.ascontiguousarray(img))
                except RuntimeError:  # the gallery was closed meanwhile
                    return

        from app.jobs import Job

        self._job = Job(self, "Gallery", work, show_dialog=False).start()

    def shutdown(self):
        """Stop rendering thumbnails (waits for the one in progress)."""
        if self._job is not None:
            self._job.cancel()
            self._job.wait(timeout=30)

    def _add(self, seed, img):
        h, w = img.shape[:2]
        pix = QPixmap.fromImage(QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())
        item = QListWidgetItem(QIcon(pix), f"seed {seed}")
        item.setData(256, seed)
        self.list.addItem(item)
        self.thumbnails_done += 1
