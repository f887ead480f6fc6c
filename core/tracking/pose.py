"""Head pose from 2D landmarks, in the Camera control space.

A tracked head pose is stated as the orbit camera (`core.camera.orbit`: yaw, pitch, roll
in degrees, looking at the default look-at point) that sees the head turned exactly as
the source camera sees it. So a pose drives the avatar by becoming its camera, and on
the synthetic engine's renders the truth is the OrbitPose the frame was rendered with.
Only the rotation of the head relative to the camera's axes counts: a head that slides
across the picture without turning keeps its angles.

Signs follow from that: a head turned to its own left shows its right cheek, which is
what an orbit camera with negative yaw sees; a head nodding down (chin towards the chest)
is seen from above, positive pitch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.camera import DEFAULT_LOOK_AT, DEFAULT_RADIUS, look_at_cam2world, orbit


@dataclass(frozen=True)
class HeadPose:
    """Orbit angles in degrees (see the module's docstring for their meaning)."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    def as_array(self) -> np.ndarray:
        return np.array([self.yaw, self.pitch, self.roll], dtype=np.float64)


def orbit_angles_from_rotation(cam2world_rotation: np.ndarray, radius: float = DEFAULT_RADIUS,
                               look_at=DEFAULT_LOOK_AT) -> HeadPose:
    """The orbit (yaw, pitch, roll) whose cam2world rotation is `cam2world_rotation`.

    An orbit camera looks from a point on the sphere of `radius` at `look_at`, so its
    viewing direction fixes where on the sphere it is: walking back from `look_at` along
    the direction until the sphere is met gives the origin, hence yaw and pitch; roll is
    what turns the unrolled camera of that origin into the given rotation.
    """
    rot = np.asarray(cam2world_rotation, dtype=np.float64).reshape(3, 3)
    forward = rot[:, 2] / np.linalg.norm(rot[:, 2])
    target = np.asarray(look_at, dtype=np.float64)
    # |target - s * forward| = radius, the far root (the camera is behind the target)
    b = float(target @ forward)
    disc = b * b - float(target @ target) + radius * radius
    s = b + math.sqrt(max(disc, 0.0))
    origin = target - s * forward
    yaw = math.degrees(math.atan2(origin[0], origin[2]))
    pitch = math.degrees(math.asin(float(np.clip(origin[1] / np.linalg.norm(origin), -1.0, 1.0))))
    unrolled = look_at_cam2world(origin, target)[:3, :3]
    rz = unrolled.T @ rot
    roll = math.degrees(math.atan2(rz[1, 0], rz[0, 0]))
    return HeadPose(yaw, pitch, roll)


def rotation_from_orbit_angles(pose: HeadPose, radius: float = DEFAULT_RADIUS, look_at=DEFAULT_LOOK_AT) -> np.ndarray:
    """cam2world rotation (3x3) of the orbit camera at `pose`: the inverse of the above."""
    return orbit(pose.yaw, pose.pitch, radius=radius, roll=pose.roll, look_at=look_at).cam2world[:3, :3].copy()


def camera_matrix(width: int, height: int, focal: float) -> np.ndarray:
    """Pixel intrinsics for a focal normalised by the image width (the Camera convention),
    square pixels, principal point at the image centre. Pixel coordinates are the
    engine's: pixel i spans [i, i + 1]."""
    f = focal * width
    return np.array([[f, 0.0, 0.5 * width], [0.0, f, 0.5 * height], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class PoseFit:
    """A solved head pose: world (head) -> camera rotation and translation, the orbit
    angles, and the reprojection error of the fitted points in pixels (RMS)."""

    rotation: np.ndarray      # (3, 3): x_cam = rotation @ x_head + translation
    translation: np.ndarray   # (3,)
    pose: HeadPose
    reprojection_px: float


def solve_head_pose(points_2d: np.ndarray, template_3d: np.ndarray, width: int, height: int,
                    focal: float, initial: PoseFit | None = None) -> PoseFit:
    """Perspective-n-point fit of the head template to image points (same order).

    With `initial` (the previous frame's fit) the iterative solver starts from there,
    which keeps consecutive frames on the same solution branch.
    """
    import cv2

    obj = np.ascontiguousarray(template_3d, dtype=np.float64).reshape(-1, 1, 3)
    img = np.ascontiguousarray(points_2d, dtype=np.float64).reshape(-1, 1, 2)
    k = camera_matrix(width, height, focal)
    if initial is not None:
        rvec0, _ = cv2.Rodrigues(initial.rotation)
        ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, rvec0.copy(), initial.translation.reshape(3, 1).copy(),
                                      useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    else:
        ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, flags=cv2.SOLVEPNP_EPNP)
        if ok:
            ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, rvec, tvec, useExtrinsicGuess=True,
                                          flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        raise ValueError("head pose: the landmarks admit no camera pose")
    rotation, _ = cv2.Rodrigues(rvec)
    translation = tvec.reshape(3)
    projected, _ = cv2.projectPoints(obj, rvec, tvec, k, None)
    error = float(np.sqrt(np.mean(np.sum((projected.reshape(-1, 2) - img.reshape(-1, 2)) ** 2, axis=1))))
    return PoseFit(rotation, translation, orbit_angles_from_rotation(rotation.T), error)


def head_rotation_to_orbit(yaw_deg: float, pitch_deg: float, roll_deg: float) -> HeadPose:
    """A head's own rotation (right-handed, in the head's frame: x to its left, y up,
    z out of the face; applied yaw about y, then pitch about x, then roll about z) seen
    by a fixed frontal camera, as the orbit pose that shows the same view."""
    y, p, r = (math.radians(v) for v in (yaw_deg, pitch_deg, roll_deg))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    head_to_world = ry @ rx @ rz
    frontal = rotation_from_orbit_angles(HeadPose())
    # the camera stays; in the head's frame it has turned by the inverse of the head
    return orbit_angles_from_rotation(head_to_world.T @ frontal)
