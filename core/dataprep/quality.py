"""Quality filters for prepared frames: each returns a reason to drop a frame, or None.

Thresholds are settings (`QualitySettings`); the report counts frames per reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# the reasons a frame can be dropped, as the report names them
NO_FACE = "no face"
SEVERAL_FACES = "several faces"
TOO_SMALL = "face too small"
BLURRY = "blurry"
EXTREME_POSE = "extreme pose"
CLOSED_EYES = "closed eyes"
FACE_CUT = "face outside the frame"
UNREADABLE = "unreadable file"
REASONS = (NO_FACE, SEVERAL_FACES, TOO_SMALL, BLURRY, EXTREME_POSE, CLOSED_EYES, FACE_CUT, UNREADABLE)


@dataclass(frozen=True)
class QualitySettings:
    min_face_px: float = 64.0        # detector box width in the source image
    max_yaw: float = 55.0            # degrees (orbit convention)
    max_pitch: float = 35.0
    min_sharpness: float = 0.45      # see sharpness(): ~0.7-1 for a sharp face, falls with blur
    min_eye_opening: float = 0.12    # eye aspect ratio below this on both eyes: "closed eyes"
    keep_closed_eyes: bool = False
    max_outside: float = 0.15        # share of the crop that lies outside the source image

    def to_json(self) -> dict:
        return dict(self.__dict__)


def sharpness(gray_crop: np.ndarray, landmarks: np.ndarray) -> float:
    """How much fine detail the face has, scale-free: the gradient energy of the face
    box at the crop's resolution over the same after a further slight blur. A sharp face
    loses much of its fine detail to the extra blur (ratio near 1 - its blurred share);
    an already blurred one barely changes (ratio near 0). Independent of contrast."""
    import cv2

    pts = np.asarray(landmarks, dtype=np.float64)
    x0, y0 = np.floor(pts.min(0)).astype(int)
    x1, y1 = np.ceil(pts.max(0)).astype(int)
    h, w = gray_crop.shape
    box = gray_crop[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)].astype(np.float32)
    if box.shape[0] < 8 or box.shape[1] < 8:
        return 0.0
    def energy(img):
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
        return float(np.mean(gx * gx + gy * gy))
    e = energy(box)
    if e <= 1e-6:
        return 0.0
    blurred = cv2.GaussianBlur(box, (0, 0), 1.0)
    return float(np.clip(1.0 - energy(blurred) / e, 0.0, 1.0)) / 0.5  # /0.5: a sharp face reads ~1


def eye_opening(landmarks: np.ndarray) -> tuple[float, float]:
    """Eye aspect ratio of each eye (iBUG 36-41, 42-47): lid distance over eye width,
    ~0.25-0.3 for an open eye, < 0.1 closed."""
    pts = np.asarray(landmarks, dtype=np.float64)
    out = []
    for s in (36, 42):
        p = pts[s:s + 6]
        width = np.linalg.norm(p[0] - p[3])
        lids = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
        out.append(float(lids / (2.0 * max(width, 1e-6))))
    return out[0], out[1]


def check_aligned(pose, crop_gray: np.ndarray, crop_landmarks: np.ndarray, outside: float,
                  settings: QualitySettings, upscale: float = 1.0) -> tuple[str | None, dict]:
    """Reason from the aligned crop (pose in degrees, landmarks in crop pixels) and the
    measured values, for the report. `upscale`: crop pixels per source pixel; sharpness
    is measured at the source's own pixel density (a small face is not a blurred one)."""
    import cv2

    gray, pts = crop_gray, np.asarray(crop_landmarks, dtype=np.float64)
    if upscale > 1.0:
        side = max(16, int(round(crop_gray.shape[0] / upscale)))
        gray = cv2.resize(crop_gray, (side, side), interpolation=cv2.INTER_AREA)
        pts = pts * (side / crop_gray.shape[0])
    sharp = sharpness(gray, pts)
    eyes = eye_opening(crop_landmarks)
    values = {"sharpness": round(sharp, 3), "eye_opening": [round(e, 3) for e in eyes],
              "outside": round(float(outside), 3)}
    if abs(pose.yaw) > settings.max_yaw or abs(pose.pitch) > settings.max_pitch:
        return EXTREME_POSE, values
    if outside > settings.max_outside:
        return FACE_CUT, values
    if sharp < settings.min_sharpness:
        return BLURRY, values
    if not settings.keep_closed_eyes and max(eyes) < settings.min_eye_opening:
        return CLOSED_EYES, values
    return None, values
