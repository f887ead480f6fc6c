"""dlib's face detector and 68-point landmarks, split into the three things a tracker
needs: find faces in a whole frame (only when the track is lost), predict landmarks in a
box, and check cheaply that a box still holds a face.

The models come from the `face-recognition-models` package, located without importing it
(its __init__ needs pkg_resources, which new setuptools no longer ships). Landmarks are
in the engine's pixel convention (pixel i spans [i, i + 1]); dlib names pixel centres.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
# the detector scans 80 x 80 windows: frames are scaled so that this long side is the
# most it looks at (time grows with area), and a small frame is upsampled once
DETECT_LONG_SIDE = 640
UPSAMPLE_BELOW = 400
# the HOG detector is also run at these extra scales of the (resized) frame: faces whose
# HOG score is marginal at one scale often pass at another (measured on engine renders)
DETECT_EXTRA_SCALES = (1.5,)
# dlib's CNN (MMOD) detector, the fallback when HOG finds nothing: far more robust (turned,
# dim or unusual faces) and far slower (~0.1-0.4 s at this size on a laptop CPU), so it
# only runs while no face is tracked, on a frame scaled to this long side
CNN_LONG_SIDE = 320
CNN_MIN_CONFIDENCE = 0.3
# a CNN box as the HOG detector would draw it (its box is about as wide, a little lower
# and to the right; measured on renders and the astronaut photo where both found the face)
CNN_TO_HOG = (0.06, 0.10, 1.0)   # centre shift x, y in box widths; size ratio
# the CNN looks for faces of 80 px and up: a crop of 1.6 boxes at this size holds a ~110 px face
CNN_VERIFY_CROP_PX = 176
# verification: the crop around the tracked box is this many box widths, resized so the
# face fills about one detector window
VERIFY_CROP_BOXES = 1.6
VERIFY_CROP_PX = 136
VERIFY_THRESHOLD = -0.5  # scores are reported from here; 0 is dlib's own detection threshold


def dlib_model_path(name: str = PREDICTOR_FILE) -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the face-recognition-models package is not installed (dlib's landmark model)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: dlib model missing from face-recognition-models")
    return path


@dataclass(frozen=True)
class FaceBox:
    """An axis-aligned box in pixels (engine convention) with the detector's score."""

    left: float
    top: float
    right: float
    bottom: float
    score: float = 0.0

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def centre(self) -> np.ndarray:
        return np.array([0.5 * (self.left + self.right), 0.5 * (self.top + self.bottom)])

    def area(self) -> float:
        return max(self.width, 0.0) * max(self.bottom - self.top, 0.0)

    def iou(self, other: "FaceBox") -> float:
        w = min(self.right, other.right) - max(self.left, other.left)
        h = min(self.bottom, other.bottom) - max(self.top, other.top)
        inter = max(w, 0.0) * max(h, 0.0)
        union = self.area() + other.area() - inter
        return inter / union if union > 0 else 0.0


def to_gray(frame: np.ndarray) -> np.ndarray:
    """uint8 grey image from an RGB(A) or grey frame (uint8, or float in [0, 1])."""
    import cv2

    img = np.asarray(frame)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if img.ndim != 2:
        raise ValueError(f"a frame must be an image (H, W[, C]), got shape {img.shape}")
    return np.ascontiguousarray(img)


class DlibFaceLandmarks:
    """dlib's detectors and 68-point predictor. `cnn`: fall back to the CNN detector when
    the HOG detector finds no face (see `detect`); `cnn_process`: run it in a helper
    process (core/tracking/cnn_server.py, started on its first use) so that it does not
    hold this process's GIL for up to a second, freezing every other thread (a GUI's);
    False runs it inline."""

    def __init__(self, cnn: bool = True, cnn_process: bool = True):
        import dlib

        from core.tracking.cnn_server import CnnDetector

        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(dlib_model_path()))
        self.cnn = None
        if cnn:
            try:
                self.cnn = CnnDetector(dlib_model_path("mmod_human_face_detector.dat"), in_process=cnn_process)
            except FileNotFoundError:
                self.cnn = None

    def close(self) -> None:
        """Stop the CNN helper process, if one was started."""
        if self.cnn is not None:
            self.cnn.close()

    def detect(self, gray: np.ndarray, fallback: bool = False) -> list[FaceBox]:
        """Every face found in the whole frame, best score first: dlib's HOG detector at
        a few scales (boxes overlapping another found at a better score are merged into
        it); when it finds none and `fallback` (the tracker asks for it), dlib's CNN
        detector, whose boxes are mapped to where HOG would have put them (the landmark
        predictor was trained on HOG boxes) and scored as a just-passing HOG detection.
        The CNN also finds profiles, which the 68-point predictor cannot follow: callers
        that need a near-frontal face (photo fitting) leave the fallback off."""
        import cv2

        h, w = gray.shape
        scale = min(1.0, DETECT_LONG_SIDE / max(h, w))
        img = gray if scale == 1.0 else cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        found = []
        for extra in (1.0,) + DETECT_EXTRA_SCALES + ((2.0,) if max(img.shape) < UPSAMPLE_BELOW else ()):
            s = scale * extra
            x = img if extra == 1.0 else cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_LINEAR)
            rects, scores, _ = self.detector.run(x, 0, 0.0)
            found += [FaceBox(r.left() / s, r.top() / s, (r.right() + 1) / s, (r.bottom() + 1) / s, float(sc))
                      for r, sc in zip(rects, scores)]
        boxes = []
        for b in sorted(found, key=lambda b: -b.score):
            if all(b.iou(k) < 0.3 for k in boxes):
                boxes.append(b)
        if not boxes and fallback and self.cnn is not None:
            boxes = self.detect_cnn(gray)
        return boxes

    def detect_cnn(self, gray: np.ndarray) -> list[FaceBox]:
        """dlib's CNN (MMOD) detector, boxes mapped to HOG's convention, score 0."""
        import cv2

        if self.cnn is None:
            return []
        h, w = gray.shape
        scale = CNN_LONG_SIDE / max(h, w)
        img = gray if scale == 1.0 else cv2.resize(gray, (round(w * scale), round(h * scale)),
                                                   interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        dx, dy, size = CNN_TO_HOG
        boxes = []
        for left, top, right, bottom, confidence in self.cnn(img):
            if confidence < CNN_MIN_CONFIDENCE:
                continue
            bw = (right + 1 - left) / scale
            cx = (left + right + 1) / 2 / scale + dx * bw
            cy = (top + bottom + 1) / 2 / scale + dy * bw
            half = 0.5 * size * bw
            boxes.append(FaceBox(cx - half, cy - half, cx + half, cy + half, 0.0))
        return boxes

    def landmarks(self, gray: np.ndarray, box: FaceBox) -> np.ndarray:
        """(68, 2) iBUG points predicted inside `box`."""
        rect = self._dlib.rectangle(int(round(box.left)), int(round(box.top)),
                                    int(round(box.right)) - 1, int(round(box.bottom)) - 1)
        shape = self.predictor(gray, rect)
        return np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float64) + 0.5

    def verify(self, gray: np.ndarray, box: FaceBox, threshold: float = VERIFY_THRESHOLD) -> float:
        """The detector's best score for a face overlapping `box`, looked for only in a
        crop around it (about a millisecond): how sure we are it still holds a face.
        Returns `threshold` when nothing scoring above it is found."""
        import cv2

        side = VERIFY_CROP_BOXES * box.width
        if side < 8:
            return threshold
        cx, cy = box.centre
        x0, y0 = cx - side / 2, cy - side / 2
        scale = VERIFY_CROP_PX / side
        # the crop may reach past the frame: warpAffine pads it with the border colour
        m = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])
        crop = cv2.warpAffine(gray, m, (VERIFY_CROP_PX, VERIFY_CROP_PX), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        rects, scores, _ = self.detector.run(crop, 0, threshold)
        best = threshold
        for r, s in zip(rects, scores):
            found = FaceBox(x0 + r.left() / scale, y0 + r.top() / scale, x0 + (r.right() + 1) / scale,
                            y0 + (r.bottom() + 1) / scale)
            if found.iou(box) > 0.3:
                best = max(best, float(s))
        return best


    def verify_cnn(self, gray: np.ndarray, box: FaceBox) -> bool:
        """The CNN detector's answer for the same crop (tens of milliseconds): asked only
        when HOG's verification fails, since HOG is a frontal detector and a tracked head
        turned past ~30 degrees or dimly lit falls out of it while still plainly a face."""
        import cv2

        if self.cnn is None:
            return False
        side = VERIFY_CROP_BOXES * box.width
        if side < 8:
            return False
        cx, cy = box.centre
        x0, y0 = cx - side / 2, cy - side / 2
        px = CNN_VERIFY_CROP_PX
        scale = px / side
        m = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])
        crop = cv2.warpAffine(gray, m, (px, px), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        dx, dy, size = CNN_TO_HOG
        for left, top, right, bottom, _confidence in self.cnn(crop):   # dlib reports confidences >= 0 only
            bw = (right + 1 - left) / scale
            fx = x0 + (left + right + 1) / 2 / scale + dx * bw
            fy = y0 + (top + bottom + 1) / 2 / scale + dy * bw
            found = FaceBox(fx - size * bw / 2, fy - size * bw / 2, fx + size * bw / 2, fy + size * bw / 2)
            if found.iou(box) > 0.3:
                return True
        return False


def landmark_frame(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centroid (2,) and spread (RMS distance from it) of landmarks (N, 2): where a face
    is and how big, for framing boxes and crops."""
    pts = np.asarray(points, dtype=np.float64)
    centroid = pts.mean(axis=0)
    spread = float(np.sqrt(np.mean(np.sum((pts - centroid) ** 2, axis=1))))
    return centroid, max(spread, 1e-6)


class BoxFromLandmarks:
    """Where the detector would put its box, predicted from the last frame's landmarks.

    The landmark predictor was trained on the detector's boxes, so a tracked face must be
    handed a box of the same kind. The relation (box centre and size in units of the
    landmarks' centroid and spread) is measured on each detection and reused until the
    next one, which keeps it right for this face and this detector.
    """

    def __init__(self, offset, size: float):
        self.offset = np.asarray(offset, dtype=np.float64).reshape(2)
        self.size = float(size)

    @classmethod
    def measure(cls, box: FaceBox, points: np.ndarray) -> "BoxFromLandmarks":
        centroid, spread = landmark_frame(points)
        return cls((box.centre - centroid) / spread, box.width / spread)

    def __call__(self, points: np.ndarray, score: float = 0.0) -> FaceBox:
        centroid, spread = landmark_frame(points)
        c = centroid + self.offset * spread
        half = 0.5 * self.size * spread
        return FaceBox(c[0] - half, c[1] - half, c[0] + half, c[1] + half, score)
