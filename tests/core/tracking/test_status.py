"""What the tracker says when it has no face to show: the Live panel's status line."""
import numpy as np

from core.tracking.tracker import FaceTracker


def test_status_names_why_there_is_no_face(render_head):
    tracker = FaceTracker()
    assert tracker.process(np.full((240, 320, 3), 3, np.uint8), 0.0).status == "too dark"
    assert tracker.process(np.full((240, 320, 3), 128, np.uint8), 0.1).status == "no face"
    face = render_head(0, 0, 0)
    assert tracker.process(face, 0.2).status == "tracking"
    dark = (face * 0.02).astype(np.uint8)   # the lights go out on a tracked face
    assert [tracker.process(dark, 0.3 + i / 30).status for i in range(3)] == ["too dark"] * 3
    assert not tracker.tracking   # three misses: lost, found again only by detection
