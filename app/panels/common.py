"""Small helpers shared by the control panels."""
from __future__ import annotations

from PySide6.QtCore import Qt
from superqt import QLabeledDoubleSlider


def labeled_slider(lo: float, hi: float, value: float, tooltip: str = "", decimals: int = 2) -> QLabeledDoubleSlider:
    s = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setValue(value)
    if tooltip:
        s.setToolTip(tooltip)
    return s


def set_quietly(widget, value):
    """Update a widget from the document without it announcing a user change."""
    widget.blockSignals(True)
    try:
        widget.setValue(value)
    finally:
        widget.blockSignals(False)
