"""Mirrored copies of prepared samples: the image flipped left-right and every label with it.

One function, `mirror_sample`, mirrors everything a sample carries, so the copy cannot
get one label mirrored and another not:

- camera: the world is reflected in the x = 0 plane (the head's plane of symmetry) and
  the image in its vertical centre line, so cam2world' = M cam2world M with
  M = diag(-1, 1, 1) on both the world and the camera side; cx -> 1 - cx. An orbit camera
  at (yaw, pitch, roll) becomes the one at (-yaw, pitch, -roll).
- SH lighting: the coefficients of the basis functions odd in x (L11 ~ x, L2-2 ~ xy,
  L21 ~ xz) change sign.
- expression: ARKit names are the subject's own sides, so every ...Left weight trades
  places with its ...Right twin (eyeBlinkLeft <-> eyeBlinkRight, jawLeft <-> jawRight).
- landmarks: x -> width - x (the engine's pixel convention, pixel i spans [i, i + 1]) and
  the 68 iBUG points renumbered (point 36, the right eye's outer corner, becomes 45).
- images and masks: flipped.

Applied twice it gives back the sample exactly (tests check it).
"""
from __future__ import annotations

import numpy as np

# iBUG 68-point layout: each point's mirror twin
_PAIRS = ([(i, 16 - i) for i in range(8)] + [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22)]
          + [(31, 35), (32, 34)] + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
          + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)] + [(60, 64), (61, 63), (65, 67)])
LANDMARK_MIRROR = np.arange(68)
for _a, _b in _PAIRS:
    LANDMARK_MIRROR[_a], LANDMARK_MIRROR[_b] = _b, _a
# SH coefficients (Ramamoorthi-Hanrahan order) whose basis function is odd in x
SH_MIRROR_SIGN = np.array([1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, 1.0])
_M = np.diag([-1.0, 1.0, 1.0, 1.0])


def mirror_name(name: str) -> str:
    """eyeBlinkLeft -> eyeBlinkRight and back; other names unchanged."""
    for side, other in (("Left", "Right"), ("Right", "Left")):
        if name.endswith(side):
            return name[: -len(side)] + other
    return name


def mirror_camera_label(label) -> list[float]:
    values = np.asarray(label, dtype=np.float64).reshape(-1)
    if values.size != 25:
        raise ValueError(f"camera label must have 25 floats, got {values.size}")
    c2w = _M @ values[:16].reshape(4, 4) @ _M
    k = values[16:].reshape(3, 3).copy()
    k[0, 2] = 1.0 - k[0, 2]
    k[0, 1] = -k[0, 1]  # skew (0 in practice) changes sign with x
    return [float(v) for v in c2w.reshape(-1)] + [float(v) for v in k.reshape(-1)]


def mirror_sample(labels: dict, image: np.ndarray | None = None, mask: np.ndarray | None = None,
                  width: int | None = None):
    """The mirrored copy of one sample. `labels` may hold "camera" (25 floats), "sh" (27
    or 9 floats), "expression" ({name: weight}), "landmarks" (68 x [x, y], pixels of an
    image `width` wide: the image's width when an image is given); other keys are copied.
    Returns (labels, image, mask), each flipped (None stays None)."""
    out = dict(labels)
    if image is not None:
        width = image.shape[1]
    if "camera" in labels:
        out["camera"] = mirror_camera_label(labels["camera"])
    if "sh" in labels:
        sh = np.asarray(labels["sh"], dtype=np.float64)
        sign = SH_MIRROR_SIGN if sh.size == 9 else np.repeat(SH_MIRROR_SIGN, 3)
        if sh.size not in (9, 27):
            raise ValueError(f"sh needs 27 (or 9) numbers, got {sh.size}")
        out["sh"] = [float(v) for v in sh.reshape(-1) * sign]
    if "expression" in labels:
        out["expression"] = {mirror_name(k): float(v) for k, v in labels["expression"].items()}
    if labels.get("landmarks") is not None:
        if width is None:
            raise ValueError("mirroring landmarks needs the image width")
        pts = np.asarray(labels["landmarks"], dtype=np.float64).reshape(68, 2)[LANDMARK_MIRROR].copy()
        pts[:, 0] = width - pts[:, 0]
        out["landmarks"] = [[float(x), float(y)] for x, y in pts]
    flip = (lambda a: None if a is None else np.ascontiguousarray(np.asarray(a)[:, ::-1]))
    return out, flip(image), flip(mask)
