"""MediaPipe's face mesh as the tracker's expression landmarks: 478 points with irises,
dense around the lips, lids and brows, where dlib's 68 points carry almost nothing of a
smile, a blink or a raised brow (docs/tracking.md measures both).

MediaPipe 0.10.14 ships its face-mesh models inside the wheel and runs offline; later
releases ship none. It is optional: `scripts/setup.sh` installs it (without its heavy
dependencies: jax, and an OpenCV build that clashes with opencv-python-headless), and the
tracker falls back to dlib's expression regressor where it is missing.

The mesh runs on a crop around the face the tracker already follows (framed by the centre
and spread of its dlib landmarks, `landmark_frame`, so training data and live frames are
cropped alike), with MediaPipe's own detector confirming the face inside it.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings

import numpy as np

# the crop handed to MediaPipe: square, centred on the dlib landmarks, this many times
# their spread (RMS distance from their centroid, `landmark_frame`) on a side, resized to MESH_CROP_PX
# (the mesh network itself looks at 192 x 192)
MESH_CROP_SPREADS = 5.5
MESH_CROP_PX = 192


def mesh_available() -> bool:
    """Whether MediaPipe (with its face-mesh solution) can be imported here."""
    try:
        return importlib.util.find_spec("mediapipe") is not None
    except (ImportError, ValueError):
        return False


def crop_transform(centre, spread: float) -> tuple[np.ndarray, float, float, float]:
    """The 2x3 affine matrix from frame pixels to the crop, and the crop's origin (x0, y0)
    and scale (crop pixels per frame pixel), for a face at `centre` of landmark `spread`."""
    side = max(MESH_CROP_SPREADS * float(spread), 8.0)
    x0, y0 = float(centre[0]) - side / 2, float(centre[1]) - side / 2
    scale = MESH_CROP_PX / side
    m = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])
    return m, x0, y0, scale


class FaceMesh:
    """MediaPipe's face mesh on single crops (static mode: every call stands alone, so a
    live frame is treated exactly as a training render was)."""

    def __init__(self, min_confidence: float = 0.3):
        os.environ.setdefault("GLOG_minloglevel", "2")
        with warnings.catch_warnings(), _quiet_stderr():
            warnings.simplefilter("ignore")
            from mediapipe.python.solutions import face_mesh

            self._mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                            min_detection_confidence=min_confidence)
            # the first frame builds the TFLite delegates, which also talk on stderr
            self._mesh.process(np.zeros((MESH_CROP_PX, MESH_CROP_PX, 3), np.uint8))

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def points(self, frame: np.ndarray, centre, spread: float) -> np.ndarray | None:
        """(478, 3) mesh points in frame pixels (x, y in the engine's pixel convention;
        z in the same pixel units, smaller is nearer the camera) of the face at `centre`
        whose dlib landmarks have `spread` (`landmark_frame`), or None when MediaPipe finds
        no face there."""
        import cv2

        rgb = _rgb_uint8(frame)
        m, x0, y0, scale = crop_transform(centre, spread)
        crop = cv2.warpAffine(rgb, m, (MESH_CROP_PX, MESH_CROP_PX),
                              flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # protobuf's deprecation warning on every result
            result = self._mesh.process(np.ascontiguousarray(crop))
        if not result.multi_face_landmarks:
            return None
        lm = result.multi_face_landmarks[0].landmark
        pts = np.array([[p.x, p.y, p.z] for p in lm], dtype=np.float64) * MESH_CROP_PX
        out = np.empty_like(pts)
        out[:, 0] = pts[:, 0] / scale + x0
        out[:, 1] = pts[:, 1] / scale + y0
        out[:, 2] = pts[:, 2] / scale
        return out


class PersonSegmenter:
    """MediaPipe's selfie segmentation (shipped in the 0.10.14 wheel, like the face mesh):
    the probability that each pixel of an RGB image is the person. On the engine's heads
    over a wall it agrees with the true alpha at IoU 0.996-0.997 where GrabCut seeded
    from the landmarks reaches 0.98-0.99 (docs/own-data.md)."""

    def __init__(self):
        os.environ.setdefault("GLOG_minloglevel", "2")
        with warnings.catch_warnings(), _quiet_stderr():
            warnings.simplefilter("ignore")
            from mediapipe.python.solutions import selfie_segmentation

            self._seg = selfie_segmentation.SelfieSegmentation(model_selection=0)
            self._seg.process(np.zeros((64, 64, 3), np.uint8))

    def close(self) -> None:
        if self._seg is not None:
            self._seg.close()
            self._seg = None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(H, W) float32 in [0, 1]."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self._seg.process(np.ascontiguousarray(_rgb_uint8(image)))
        return np.asarray(result.segmentation_mask, dtype=np.float32)


def load_person_segmenter():
    """A PersonSegmenter, or None where MediaPipe (or its model) is missing."""
    if not mesh_available():
        return None
    try:
        return PersonSegmenter()
    except Exception:   # a MediaPipe without its models: the caller falls back to GrabCut
        return None


@contextlib.contextmanager
def _quiet_stderr():
    """MediaPipe's C++ start-up lines (absl/TFLite INFO and WARNING, written to file
    descriptor 2 before its logging is configured) kept off the user's terminal."""
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_expression_mesh(source: str = "auto"):
    """(FaceMesh, MeshExpressionModel) for an expression source, or (None, None) for dlib's
    points: "mesh" (an error where it cannot run), "dlib", or "auto" (the mesh where
    MediaPipe and the model are installed and start; dlib otherwise)."""
    from core.tracking.mesh_model import MESH_MODEL_FILE, MeshExpressionModel

    if source not in ("auto", "mesh", "dlib"):
        raise ValueError(f"expression source {source!r}: use auto, mesh or dlib")
    if source == "dlib" or (source == "auto" and not (mesh_available() and MESH_MODEL_FILE.exists())):
        return None, None
    if not mesh_available():
        raise ValueError("the face-mesh expression source needs MediaPipe 0.10.14 (scripts/setup.sh installs it)")
    try:
        return FaceMesh(), MeshExpressionModel.load()
    except Exception as e:   # a MediaPipe without its models (a release after 0.10.14, a bundle that left them out)
        if source == "mesh":
            raise ValueError("MediaPipe's face mesh cannot start here "
                             f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        return None, None


def _rgb_uint8(frame: np.ndarray) -> np.ndarray:
    from core.fileio import to_uint8

    img = np.asarray(frame)
    if img.dtype != np.uint8:
        img = to_uint8(img)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img)
