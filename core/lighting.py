"""Lighting control space: RGB second-order spherical harmonics (9 x 3).

Coefficients are the SH projection of the incident radiance, in the Ramamoorthi-Hanrahan
order (L00, L1-1, L10, L11, L2-2, L2-1, L20, L21, L22), expressed in the y-up world frame.
Irradiance at a normal n is E(n) = sum_lm A_l L_lm Y_lm(n) with A = (pi, 2pi/3, pi/4), which
is exactly the c1..c5 polynomial of Ramamoorthi & Hanrahan (2001).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

C1, C2, C3, C4, C5 = 0.429043, 0.511664, 0.743125, 0.886227, 0.247708
SH_ORDER_NAMES = ("L00", "L1-1", "L10", "L11", "L2-2", "L2-1", "L20", "L21", "L22")
# Normalisation constants of the real SH basis, in the order above.
_Y0 = 0.5 * math.sqrt(1.0 / math.pi)
_Y1 = math.sqrt(3.0 / (4.0 * math.pi))
_Y2a = 0.5 * math.sqrt(15.0 / math.pi)
_Y20 = 0.25 * math.sqrt(5.0 / math.pi)
_Y22 = 0.25 * math.sqrt(15.0 / math.pi)
# Lambertian convolution per band (A_l), expanded to the 9 coefficients.
BAND_CONVOLUTION = (math.pi,) + (2.0 * math.pi / 3.0,) * 3 + (math.pi / 4.0,) * 5
PRESETS_FILE = Path(__file__).resolve().parents[1] / "resources" / "lighting_presets.json"


def sh_basis(dirs):
    """Real SH basis (..., 9) at unit directions (..., 3); works on numpy and torch."""
    x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
    stack = torch.stack if isinstance(dirs, torch.Tensor) else np.stack
    one = x * 0 + 1
    return stack(
        [
            _Y0 * one,
            _Y1 * y,
            _Y1 * z,
            _Y1 * x,
            _Y2a * x * y,
            _Y2a * y * z,
            _Y20 * (3.0 * z * z - 1.0),
            _Y2a * x * z,
            _Y22 * (x * x - y * y),
        ],
        -1,
    )


def irradiance_weights(coeffs):
    """(9, 3) radiance coefficients -> (9, 3) weights so that E(n) = sh_basis(n) @ weights."""
    conv = BAND_CONVOLUTION
    if isinstance(coeffs, torch.Tensor):
        return coeffs * torch.tensor(conv, dtype=coeffs.dtype, device=coeffs.device)[:, None]
    return np.asarray(coeffs) * np.asarray(conv)[:, None]


def sh_irradiance(normals, coeffs):
    """Irradiance (..., 3) at unit normals (..., 3) under radiance SH `coeffs` (9, 3)."""
    return sh_basis(normals) @ irradiance_weights(coeffs)


def _sh_rotation_matrix(rotation: np.ndarray) -> np.ndarray:
    """9x9 matrix M with coeffs' = M @ coeffs for radiance rotated by `rotation`.

    SH bands are closed under rotation, so the matrix is recovered exactly by fitting the
    rotated basis on a set of spread directions (least squares, full rank).
    """
    rng = np.random.default_rng(0)
    d = rng.normal(size=(64, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    y = sh_basis(d)  # (64, 9)
    # rotated light: L'(w) = L(R^T w)  =>  Y(w) c' = Y(R^T w) c
    y_rot = sh_basis(d @ np.asarray(rotation))  # rows are (R^T d_i)^T = d_i^T R
    m, *_ = np.linalg.lstsq(y, y_rot, rcond=None)
    m[np.abs(m) < 1e-12] = 0.0
    return m


SH_MAX = 1e6  # far above any environment map's projection; below float32 overflow in shading


@dataclass(frozen=True)
class SphericalHarmonicsLighting:
    """RGB second-order SH lighting: `coeffs` is (9, 3) float64 (radiance projection)."""

    coeffs: np.ndarray

    def __post_init__(self):
        c = np.asarray(self.coeffs, dtype=np.float64)
        if c.shape == (9,):  # grayscale labels (DPR, NeRFFaceLighting) broadcast to RGB
            c = np.repeat(c[:, None], 3, axis=1)
        if c.shape == (27,):
            c = c.reshape(9, 3)
        if c.shape != (9, 3):
            raise ValueError(f"SH lighting needs 9x3 (or 9 grayscale) coefficients, got shape {c.shape}")
        if not np.all(np.isfinite(c)):
            raise ValueError("SH lighting has non-finite coefficients")
        if np.abs(c).max() > SH_MAX:  # 1e308 is finite here but inf/NaN in the float32 renderer
            raise ValueError(f"SH lighting coefficient {np.abs(c).max():g} is over {SH_MAX:g}")
        object.__setattr__(self, "coeffs", c)

    # -- construction ---------------------------------------------------------------
    @classmethod
    def from_directional(cls, direction, color=(1.0, 1.0, 1.0), intensity=1.0, ambient=0.0):
        """A distant light from `direction` (towards the light) plus uniform ambient.

        The light is scaled so that a surface facing it has irradiance ~`intensity`
        (clamped-cosine); `ambient` is the irradiance added everywhere (RGB or scalar).
        """
        d = np.asarray(direction, dtype=np.float64)
        d = d / np.linalg.norm(d)
        color = np.broadcast_to(np.asarray(color, dtype=np.float64), (3,))
        coeffs = sh_basis(d)[:, None] * (intensity * color)[None, :]
        amb = np.broadcast_to(np.asarray(ambient, dtype=np.float64), (3,))
        coeffs = coeffs.copy()
        coeffs[0] += amb / C4
        return cls(coeffs)

    @classmethod
    def ambient(cls, level=1.0):
        return cls.from_directional((0, 0, 1), intensity=0.0, ambient=level)

    @classmethod
    def from_environment_map(cls, image: np.ndarray) -> "SphericalHarmonicsLighting":
        """Project an equirectangular map (H, W, 3) of linear radiance onto SH.

        Row 0 is straight up (+y); the image centre (u = 0.5) is the +z direction, the side
        the frontal camera sits on, so the middle of the panorama lights the face; u grows
        towards +x... wrapping around. Each pixel is weighted by its solid angle.
        """
        img = np.asarray(image, dtype=np.float64)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] < 3 or img.shape[0] < 2 or img.shape[1] < 2:
            raise ValueError(f"environment map must be an HxWx3 image, got shape {img.shape}")
        img = img[..., :3]
        h, w = img.shape[:2]
        theta = (np.arange(h) + 0.5) / h * math.pi  # polar angle from +y
        phi = ((np.arange(w) + 0.5) / w - 0.5) * 2.0 * math.pi
        st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
        dirs = np.stack(
            [st * np.sin(phi)[None, :], np.broadcast_to(ct, (h, w)), st * np.cos(phi)[None, :]], -1
        )
        d_omega = (math.pi / h) * (2.0 * math.pi / w) * np.broadcast_to(st, (h, w))
        basis = sh_basis(dirs)  # (h, w, 9)
        coeffs = np.einsum("hwk,hwc,hw->kc", basis, img, d_omega)
        return cls(coeffs)

    @classmethod
    def from_json(cls, data) -> "SphericalHarmonicsLighting":
        """Accepts {"sh": [[r, g, b] x 9]} or {"sh": [9 floats]} or the bare list."""
        sh = data.get("sh") if isinstance(data, dict) else data
        if sh is None:
            raise ValueError('lighting JSON needs an "sh" key')
        return cls(np.asarray(sh, dtype=np.float64))

    @classmethod
    def preset(cls, name: str) -> "SphericalHarmonicsLighting":
        presets = load_presets()
        if name not in presets:
            raise ValueError(f"unknown lighting preset {name!r}; known: {', '.join(sorted(presets))}")
        return presets[name]

    # -- use --------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"sh": [[float(v) for v in row] for row in self.coeffs]}

    def irradiance(self, normals: np.ndarray) -> np.ndarray:
        return sh_irradiance(np.asarray(normals, dtype=np.float64), self.coeffs)

    def rotated(self, rotation) -> "SphericalHarmonicsLighting":
        """The same light environment turned by the 3x3 rotation matrix."""
        return SphericalHarmonicsLighting(_sh_rotation_matrix(np.asarray(rotation, np.float64)) @ self.coeffs)

    def band_energy(self) -> np.ndarray:
        """Per-band, per-channel energy (3 bands x 3 channels); rotation keeps it."""
        c = self.coeffs
        return np.stack([(c[0:1] ** 2).sum(0), (c[1:4] ** 2).sum(0), (c[4:9] ** 2).sum(0)])

    def dominant_direction(self) -> np.ndarray:
        """Direction of the strongest light, from the linear band (luminance)."""
        lum = self.coeffs @ np.array([0.2126, 0.7152, 0.0722])
        v = np.array([lum[3], lum[1], lum[2]])  # (x, y, z) from L11, L1-1, L10
        n = np.linalg.norm(v)
        return v / n if n > 1e-12 else np.array([0.0, 0.0, 1.0])

    def lerp(self, other: "SphericalHarmonicsLighting", t: float) -> "SphericalHarmonicsLighting":
        return SphericalHarmonicsLighting((1.0 - t) * self.coeffs + t * other.coeffs)

    def slerp(self, other: "SphericalHarmonicsLighting", t: float) -> "SphericalHarmonicsLighting":
        """Blend that swings the key light along the great circle between the two dominant
        directions (a plain blend would dim it passing through the middle): both ends are
        turned towards the in-between direction, then blended."""
        da, db = self.dominant_direction(), other.dominant_direction()
        axis = np.cross(da, db)
        angle = math.atan2(np.linalg.norm(axis), float(np.dot(da, db)))
        if angle < 1e-4 or np.linalg.norm(axis) < 1e-8:
            return self.lerp(other, t)
        axis /= np.linalg.norm(axis)
        a = self.rotated(axis_angle_matrix(axis, t * angle))
        b = other.rotated(axis_angle_matrix(axis, -(1.0 - t) * angle))
        return a.lerp(b, t)

    def as_tensor(self, device="cpu", dtype=torch.float32) -> torch.Tensor:
        return torch.as_tensor(self.coeffs, dtype=dtype, device=device)

    def __eq__(self, other):
        return isinstance(other, SphericalHarmonicsLighting) and np.array_equal(self.coeffs, other.coeffs)

    def __hash__(self):
        return hash(self.coeffs.tobytes())


def axis_angle_matrix(axis, angle: float) -> np.ndarray:
    """Rotation by `angle` radians about the unit `axis` (Rodrigues)."""
    x, y, z = np.asarray(axis, dtype=np.float64)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def rotation_matrix(yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    """Rotation about world y (yaw) then world x (pitch), degrees."""
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return rx @ ry


def load_presets(path: Path = PRESETS_FILE) -> dict[str, SphericalHarmonicsLighting]:
    """Named presets: each is either raw {"sh": ...} or a key light + ambient recipe."""
    data = json.loads(Path(path).read_text())
    presets = {}
    for name, spec in data["presets"].items():
        if "sh" in spec:
            presets[name] = SphericalHarmonicsLighting.from_json(spec)
            continue
        light = SphericalHarmonicsLighting.from_directional(
            spec["direction"], spec.get("color", (1, 1, 1)), spec.get("intensity", 1.0), spec.get("ambient", 0.0)
        )
        for extra in spec.get("extra_lights", []):
            more = SphericalHarmonicsLighting.from_directional(
                extra["direction"], extra.get("color", (1, 1, 1)), extra.get("intensity", 1.0)
            )
            light = SphericalHarmonicsLighting(light.coeffs + more.coeffs)
        presets[name] = light
    return presets


ENVMAP_SUFFIXES = {".hdr", ".exr", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def load_lighting(spec: str) -> SphericalHarmonicsLighting:
    """A preset name, a lighting JSON file ({'sh': 9x3}), or an environment map image."""
    from core.fileio import read_json

    path = Path(spec)
    if path.suffix.lower() == ".json":
        data = read_json(path)
        try:
            return SphericalHarmonicsLighting.from_json(data)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: {e}") from None
    if path.suffix.lower() in ENVMAP_SUFFIXES:
        return SphericalHarmonicsLighting.from_environment_map(load_environment_map(path))
    return SphericalHarmonicsLighting.preset(spec)


def load_environment_map(path) -> np.ndarray:
    """Linear RGB float image: HDR/EXR as stored, 8-bit images converted from sRGB."""
    import os

    os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
    import cv2

    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    try:
        img = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    except cv2.error as e:  # e.g. a header claiming more pixels than OpenCV's limit
        raise ValueError(f"{path}: not a readable image ({str(e).strip().splitlines()[-1][:120]})") from None
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    img = img[..., ::-1].astype(np.float32)
    if path.suffix.lower() not in {".hdr", ".exr"}:
        img = img / (65535.0 if img.max() > 255 else 255.0)
        img = np.where(img <= 0.04045, img / 12.92, ((img + 0.055) / 1.055) ** 2.4)
    return img
