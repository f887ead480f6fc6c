"""Camera control space in EG3D's convention.

cam2world is an OpenCV camera-to-world 4x4 (camera x right, y down, z forward) in a
y-up world; intrinsics are normalised by the image size (fx/W, fy/H, cx/W, cy/H), so the
same label works at any resolution. The 25-float label (16 extrinsics row-major + 9
intrinsics row-major) is exactly what EG3D's dataset.json stores, so those datasets and
their labels load unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

DEFAULT_RADIUS = 2.7
DEFAULT_LOOK_AT = (0.0, 0.0, 0.2)
DEFAULT_FOCAL = 4.2647
# EG3D quotes its field of view as ~18.84 deg and turns it into a focal with an extra
# sqrt(2): focal = 1 / (1.414 * tan(fov / 2)). We keep that convention so the same number
# means the same camera as in EG3D (the true horizontal fov is ~13.4 deg). The default is
# defined by EG3D's FFHQ focal 4.2647, which is fov 18.83 in that convention.
RAY_NEAR, RAY_FAR = 2.25, 3.3
SCENE_BOX = 0.5  # the scene lives in [-0.5, 0.5]^3


def fov_to_focal(fov_deg: float) -> float:
    return 1.0 / (1.414 * math.tan(math.radians(fov_deg) / 2.0))


def focal_to_fov(focal: float) -> float:
    return math.degrees(2.0 * math.atan(1.0 / (1.414 * focal)))


DEFAULT_FOV_DEG = focal_to_fov(DEFAULT_FOCAL)


def look_at_cam2world(origin, target, world_up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """OpenCV cam2world looking from `origin` at `target` with the world's y up."""
    origin = np.asarray(origin, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - origin
    forward /= np.linalg.norm(forward)
    up = np.asarray(world_up, dtype=np.float64)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-8:  # looking straight up/down: pick any right vector
        right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, down, forward, origin
    return m


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: OpenCV cam2world (4x4) and normalised intrinsics (3x3)."""

    cam2world: np.ndarray = field(default_factory=lambda: np.eye(4))
    intrinsics: np.ndarray = field(
        default_factory=lambda: np.array(
            [[DEFAULT_FOCAL, 0, 0.5], [0, DEFAULT_FOCAL, 0.5], [0, 0, 1]], dtype=np.float64
        )
    )

    def __post_init__(self):
        c2w = np.asarray(self.cam2world, dtype=np.float64).reshape(4, 4)
        k = np.asarray(self.intrinsics, dtype=np.float64).reshape(3, 3)
        if not np.all(np.isfinite(c2w)) or not np.all(np.isfinite(k)):
            raise ValueError("camera has non-finite values")
        rot = c2w[:3, :3]
        if not np.allclose(rot.T @ rot, np.eye(3), atol=1e-4):
            raise ValueError("camera rotation is not orthonormal")
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise ValueError("camera focal lengths must be positive")
        object.__setattr__(self, "cam2world", c2w)
        object.__setattr__(self, "intrinsics", k)

    # -- the 25-float EG3D label -------------------------------------------------
    def to_label(self) -> list[float]:
        return [float(v) for v in self.cam2world.reshape(-1)] + [
            float(v) for v in self.intrinsics.reshape(-1)
        ]

    @classmethod
    def from_label(cls, label) -> "Camera":
        values = np.asarray(label, dtype=np.float64).reshape(-1)
        if values.size != 25:
            raise ValueError(f"camera label must have 25 floats, got {values.size}")
        return cls(values[:16].reshape(4, 4), values[16:].reshape(3, 3))

    @property
    def origin(self) -> np.ndarray:
        return self.cam2world[:3, 3].copy()

    @property
    def focal(self) -> float:
        return float(self.intrinsics[0, 0])

    def project(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """World points (N, 3) -> pixel coordinates (N, 2) (x right, y down)."""
        world2cam = np.linalg.inv(self.cam2world)
        pts = np.asarray(points, dtype=np.float64)
        cam = pts @ world2cam[:3, :3].T + world2cam[:3, 3]
        uv = cam[:, :2] / cam[:, 2:3]
        k = self.intrinsics
        x = (uv[:, 0] * k[0, 0] + k[0, 2]) * width
        y = (uv[:, 1] * k[1, 1] + k[1, 2]) * height
        return np.stack([x, y], axis=1)


def orbit(
    yaw: float = 0.0,
    pitch: float = 0.0,
    radius: float = DEFAULT_RADIUS,
    fov: float = DEFAULT_FOV_DEG,
    roll: float = 0.0,
    look_at=DEFAULT_LOOK_AT,
) -> Camera:
    """Camera on a sphere around the world origin, looking at `look_at` (EG3D's sampler).

    Angles in degrees. yaw 0, pitch 0 is the frontal view from +z; positive yaw moves the
    camera towards +x (the subject's left), positive pitch moves it up (looking down).
    Roll turns the image clockwise about the viewing axis.
    """
    yaw_r, pitch_r = math.radians(yaw), math.radians(pitch)
    origin = radius * np.array(
        [math.cos(pitch_r) * math.sin(yaw_r), math.sin(pitch_r), math.cos(pitch_r) * math.cos(yaw_r)]
    )
    c2w = look_at_cam2world(origin, look_at)
    if roll:
        r = math.radians(roll)
        rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
        c2w[:3, :3] = c2w[:3, :3] @ rz
    f = fov_to_focal(fov)
    k = np.array([[f, 0, 0.5], [0, f, 0.5], [0, 0, 1]], dtype=np.float64)
    return Camera(c2w, k)


def generate_rays(camera: Camera, width: int, height: int, device="cpu", dtype=torch.float32):
    """World-space ray origins and unit directions (H*W, 3) through pixel centres."""
    k = camera.intrinsics
    ys, xs = torch.meshgrid(
        (torch.arange(height, dtype=torch.float64) + 0.5) / height,
        (torch.arange(width, dtype=torch.float64) + 0.5) / width,
        indexing="ij",
    )
    dirs_cam = torch.stack(
        [(xs - k[0, 2]) / k[0, 0], (ys - k[1, 2]) / k[1, 1], torch.ones_like(xs)], dim=-1
    ).reshape(-1, 3)
    c2w = torch.as_tensor(camera.cam2world, dtype=torch.float64)
    dirs = dirs_cam @ c2w[:3, :3].T
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    origins = c2w[:3, 3].expand_as(dirs)
    return origins.to(device=device, dtype=dtype), dirs.to(device=device, dtype=dtype)
