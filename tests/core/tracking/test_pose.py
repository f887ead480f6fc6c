import numpy as np
import pytest

from core.camera import DEFAULT_FOCAL, orbit
from core.tracking.face_model import FaceModel, frontalise
from core.tracking.pose import (
    HeadPose, head_rotation_to_orbit, orbit_angles_from_rotation, rotation_from_orbit_angles, solve_head_pose,
)

RES = 256


@pytest.mark.parametrize("pose", [HeadPose(20, -10, 5), HeadPose(-35, 15, -8), HeadPose(0, 0, 0), HeadPose(120, 50, 30)])
def test_orbit_angles_round_trip(pose):
    back = orbit_angles_from_rotation(rotation_from_orbit_angles(pose))
    np.testing.assert_allclose(back.as_array(), pose.as_array(), atol=1e-9)


def test_a_head_turned_to_its_left_is_seen_from_an_orbit_camera_to_its_right():
    assert head_rotation_to_orbit(20, 0, 0).yaw < -15     # camera towards -x, the subject's right
    assert head_rotation_to_orbit(0, 20, 0).pitch > 15    # chin down: seen from above
    assert head_rotation_to_orbit(0, 0, 20).roll == pytest.approx(20)
    assert head_rotation_to_orbit(0, 0, 0) == HeadPose(0.0, 0.0, 0.0)


def synthetic_face(rng):
    """A face-like point cloud: 68 points spread over a head-sized, curved patch."""
    xy = rng.uniform(-0.1, 0.1, (68, 2))
    z = 0.15 - 2.0 * (xy ** 2).sum(1)
    return np.c_[xy, z]


def test_pnp_recovers_an_exact_orbit_camera():
    rng = np.random.default_rng(0)
    points = synthetic_face(rng)
    for pose in (HeadPose(25, 8, -4), HeadPose(-30, -10, 6)):
        cam = orbit(pose.yaw, pose.pitch, roll=pose.roll)
        uv = cam.project(points, RES, RES)
        fit = solve_head_pose(uv, points, RES, RES, DEFAULT_FOCAL)
        np.testing.assert_allclose(fit.pose.as_array(), pose.as_array(), atol=1e-4)
        assert fit.reprojection_px < 1e-4


def test_frontalise_undoes_the_pose_and_keeps_the_offsets():
    """Points moved within the face's plane, seen from a turned camera, come back as
    exactly those moves."""
    rng = np.random.default_rng(1)
    template = synthetic_face(rng)
    moves = rng.normal(0, 0.005, (68, 2))
    moved = template.copy()
    moved[:, :2] += moves
    pose = HeadPose(-25, 10, 5)
    cam = orbit(pose.yaw, pose.pitch, roll=pose.roll)
    uv = cam.project(moved, RES, RES)
    fit = solve_head_pose(cam.project(template, RES, RES), template, RES, RES, DEFAULT_FOCAL)
    back = frontalise(uv, fit, template, RES, RES, DEFAULT_FOCAL)
    np.testing.assert_allclose(back - template[:, :2], moves, atol=1e-6)


def test_calibrating_on_a_frontal_view_gives_back_that_face():
    rng = np.random.default_rng(2)
    template = synthetic_face(rng)
    user = template.copy()
    user[:, :2] *= 1.05  # a slightly bigger face than the average one
    model = FaceModel(template, tuple(range(68)), ())
    uv = orbit(0, 0).project(user, RES, RES)
    reference = model.calibrate(uv, RES, RES, DEFAULT_FOCAL)
    fit = model.fit_pose(uv, RES, RES, DEFAULT_FOCAL, reference)
    assert np.abs(fit.pose.as_array()).max() < 1e-3
    np.testing.assert_allclose(reference[:, 2], template[:, 2])
