import numpy as np
import pytest

from core.tracking.tracker import FaceTracker, TrackerSettings

FPS = 30.0


@pytest.fixture(scope="module")
def tracker():
    return FaceTracker()


def track_still(tracker, image, frames=1):
    tracker.reset()
    for i in range(frames):
        result = tracker.process(image, i / FPS)
    return result


@pytest.mark.parametrize("yaw, pitch, roll", [(25, 0, 0), (-25, 0, 0), (0, 12, 0), (0, -12, 0), (0, 0, 12), (0, 0, -12)])
def test_pose_signs_follow_the_orbit_camera(tracker, render_head, yaw, pitch, roll):
    """A head rendered from an orbit camera at (yaw, pitch, roll) is tracked at about
    those angles: right sign, a few degrees off at most."""
    result = track_still(tracker, render_head(yaw, pitch, roll))
    assert result.face
    got = result.raw_pose.as_array()
    want = np.array([yaw, pitch, roll], float)
    for axis in range(3):
        if want[axis]:
            assert np.sign(got[axis]) == np.sign(want[axis]), (got, want)
    assert np.abs(got - want).max() < 8.0, (got, want)


def test_face_lost_holds_then_eases_back_to_neutral(render_head):
    settings = TrackerSettings(lost_after=2, hold_seconds=0.5, ease_seconds=0.5)
    tracker = FaceTracker(settings=settings)
    face = render_head(20, 0, 0)
    dark = np.zeros_like(face)
    out = [tracker.process(face, i / FPS) for i in range(10)]
    assert all(r.face for r in out)
    last = out[-1]
    assert last.pose.yaw > 10
    lost = [tracker.process(dark, (10 + i) / FPS) for i in range(40)]
    assert not any(r.face for r in lost)
    assert all(r.confidence == 0.0 for r in lost)
    held = [r for r in lost if r.time - lost[0].time <= settings.hold_seconds]
    for r in held:  # held exactly
        assert r.pose == last.pose and np.array_equal(r.expression.values, last.expression.values)
    yaws = [r.pose.yaw for r in lost]
    easing = yaws[len(held):]
    assert all(b <= a for a, b in zip(easing, easing[1:]))   # back towards neutral, never past it
    assert 0 < easing[2] < last.pose.yaw                     # gradually, not at once
    assert yaws[-1] == 0.0 and not lost[-1].expression.values.any()
    back = [tracker.process(face, (50 + i) / FPS) for i in range(6)]
    assert back[0].face and back[-1].pose.yaw > 10


def test_a_second_face_does_not_steal_the_track(tracker, render_head):
    face = render_head(0, 0, 0)
    blank = np.full_like(face, 255)
    alone = np.concatenate([face, blank], axis=1)
    # the newcomer is larger (closer to the camera): detection alone would pick it
    import cv2

    big = cv2.resize(render_head(-15, 0, 0), None, fx=1.3, fy=1.3)[:face.shape[0], :face.shape[1]]
    crowded = np.concatenate([face, big], axis=1)
    tracker.reset()
    for i in range(3):
        tracker.process(alone, i / FPS)
    results = [tracker.process(crowded, (3 + i) / FPS) for i in range(5)]
    assert all(r.face for r in results)
    assert all(r.box.centre[0] < face.shape[1] for r in results)  # still the face on the left
    assert abs(results[-1].raw_pose.yaw) < 8                       # and its pose, not the other's


def test_calibration_makes_the_neutral_face_neutral(render_head):
    tracker = FaceTracker()
    image = render_head(0, 0, 0)
    assert not tracker.calibrate()  # no face seen yet
    track_still(tracker, image)
    assert tracker.calibrate()
    result = tracker.process(image, 1.0)
    assert np.abs(result.raw_pose.as_array()).max() < 3.0
    assert result.raw_expression.values.max() < 0.15
