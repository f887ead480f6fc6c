"""The live tracker in its helper process answers exactly what the tracker answers in
this process, and the studio's tracking carries on here if the helper goes away."""
import numpy as np
import pytest

from core.expression import DEFAULT_EXPRESSION_NAMES, Expression
from core.tracking.smoothing import OneEuroSettings
from core.tracking.tracker import FaceTracker
from core.tracking.tracker_process import TrackerProcess, frame_from_json, frame_to_json

FPS = 30.0


def frames(render_head):
    smile = Expression.from_dict({"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8}, DEFAULT_EXPRESSION_NAMES, strict=False)
    return [render_head(yaw=y) for y in (0.0, 4.0, 8.0)] + [render_head(yaw=8.0, expression=smile)] * 3


def same(a, b):
    assert a.face == b.face and a.status == b.status
    np.testing.assert_array_equal(a.pose.as_array(), b.pose.as_array())
    np.testing.assert_array_equal(a.expression.values, b.expression.values)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)


@pytest.fixture(scope="module")
def helper():
    tracker = TrackerProcess(DEFAULT_EXPRESSION_NAMES)
    yield tracker
    tracker.close()


def test_the_helper_process_tracks_as_the_tracker_does_here(helper, render_head):
    assert not helper.in_process, f"the helper did not start: {helper.helper_error}"
    here = FaceTracker(names=DEFAULT_EXPRESSION_NAMES)
    assert helper.expression_source == here.expression_source
    helper.reset()
    try:
        for i, img in enumerate(frames(render_head)):
            same(helper.process(img, i / FPS), here.process(img, i / FPS))
        assert helper.calibrate() and here.calibrate()
        slow = OneEuroSettings(min_cutoff=0.1, beta=0.0, d_cutoff=1.0)
        helper.set_smoothing(slow, slow)
        here.set_smoothing(slow, slow)
        for i, img in enumerate(frames(render_head)[::-1], start=10):
            same(helper.process(img, i / FPS), here.process(img, i / FPS))
        helper.clear_calibration()
        here.clear_calibration()
        same(helper.process(frames(render_head)[0], 1.0), here.process(frames(render_head)[0], 1.0))
    finally:
        here.close()


def test_a_dead_helper_leaves_tracking_in_this_process(render_head):
    tracker = TrackerProcess(DEFAULT_EXPRESSION_NAMES)
    try:
        assert not tracker.in_process
        tracker._proc.kill()
        tracker._proc.wait()
        r = tracker.process(render_head(), 0.0)
        assert r.face and tracker.in_process and "stopped" in tracker.helper_error
    finally:
        tracker.close()


def test_tracked_frames_survive_the_json_between_processes(render_head):
    here = FaceTracker(names=DEFAULT_EXPRESSION_NAMES)
    try:
        for r in (here.process(render_head(), 0.0), here.process(np.zeros((64, 64, 3), np.uint8), 5.0)):
            back = frame_from_json(frame_to_json(r), DEFAULT_EXPRESSION_NAMES)
            assert (back.time, back.face, back.confidence, back.box, back.timings_ms, back.status) == \
                   (r.time, r.face, r.confidence, r.box, r.timings_ms, r.status)
            np.testing.assert_array_equal(back.pose.as_array(), r.pose.as_array())
            np.testing.assert_array_equal(back.expression.values, r.expression.values)
            if r.face:
                np.testing.assert_array_equal(back.landmarks, r.landmarks)
                np.testing.assert_array_equal(back.raw_expression.values, r.raw_expression.values)
            else:
                assert back.landmarks is None and back.raw_pose is None
    finally:
        here.close()
