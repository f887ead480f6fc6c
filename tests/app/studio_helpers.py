"""Helpers for driving the studio in tests."""
import numpy as np


def wait_refined(qtbot, w, timeout=30000):
    """Wait until the frame for the document's current state, refined, is on screen."""
    def done():
        info = getattr(w, "last_frame_info", None)
        return (info is not None and info["state"] == w.doc.state and info["quality"] == "refined"
                and w.scheduler.is_idle())
    qtbot.waitUntil(done, timeout=timeout)
    return w.view.current_frame()


def frame_diff(a, b) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
