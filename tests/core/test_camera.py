import math

import numpy as np
import pytest
import torch

from core.camera import (
    DEFAULT_FOCAL, DEFAULT_FOV_DEG, Camera, focal_to_fov, fov_to_focal, generate_rays, orbit,
)


def test_default_fov_gives_eg3d_focal():
    assert fov_to_focal(DEFAULT_FOV_DEG) == pytest.approx(DEFAULT_FOCAL, abs=1e-9)
    assert DEFAULT_FOV_DEG == pytest.approx(18.837, abs=0.01)  # the figure EG3D quotes
    assert orbit().focal == pytest.approx(4.2647, abs=1e-9)
    assert focal_to_fov(fov_to_focal(30.0)) == pytest.approx(30.0)


def test_frontal_orbit_is_opencv_looking_at_target():
    cam = orbit()
    c2w = cam.cam2world
    np.testing.assert_allclose(c2w[:3, 3], [0, 0, 2.7], atol=1e-9)
    right, down, forward = c2w[:3, 0], c2w[:3, 1], c2w[:3, 2]
    np.testing.assert_allclose(right, [1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(down, [0, -1, 0], atol=1e-9)  # image y is down, world y is up
    target = np.array([0, 0, 0.2])
    np.testing.assert_allclose(forward, (target - c2w[:3, 3]) / np.linalg.norm(target - c2w[:3, 3]), atol=1e-9)


@pytest.mark.parametrize("yaw,pitch", [(30, 10), (-45, -20), (170, 60)])
def test_orbit_radius_and_look_at(yaw, pitch):
    cam = orbit(yaw, pitch)
    assert np.linalg.norm(cam.origin) == pytest.approx(2.7)
    # the look-at point projects to the image centre
    uv = cam.project(np.array([[0, 0, 0.2]]), 100, 100)
    np.testing.assert_allclose(uv, [[50, 50]], atol=1e-6)


def test_positive_yaw_moves_camera_to_plus_x_and_pitch_up():
    assert orbit(yaw=30).origin[0] > 0
    assert orbit(pitch=30).origin[1] > 0


def test_label_round_trip_matches_eg3d_layout():
    cam = orbit(25, -5, fov=20)
    label = cam.to_label()
    assert len(label) == 25
    assert label[16] == pytest.approx(fov_to_focal(20))  # fx/W right after the 16 extrinsics
    back = Camera.from_label(label)
    np.testing.assert_allclose(back.cam2world, cam.cam2world)
    np.testing.assert_allclose(back.intrinsics, cam.intrinsics)


def test_bad_labels_are_rejected():
    with pytest.raises(ValueError, match="25 floats"):
        Camera.from_label([0.0] * 24)
    bad = np.eye(4)
    bad[:3, :3] *= 2
    with pytest.raises(ValueError, match="orthonormal"):
        Camera(bad)


def test_rays_pass_through_their_pixels():
    cam = orbit(15, 5)
    o, d = generate_rays(cam, 8, 6, dtype=torch.float64)
    assert o.shape == (48, 3) and d.shape == (48, 3)
    np.testing.assert_allclose(d.norm(dim=-1).numpy(), 1.0, atol=1e-12)
    pts = (o + 2.0 * d).numpy()
    uv = cam.project(pts, 8, 6)
    ys, xs = np.meshgrid(np.arange(6) + 0.5, np.arange(8) + 0.5, indexing="ij")
    np.testing.assert_allclose(uv, np.stack([xs.ravel(), ys.ravel()], 1), atol=1e-6)
