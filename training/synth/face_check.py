"""Realism checks with dlib: does a face detector trained on real photos see our heads,
and do its 68 landmarks agree with the engine's own?

The dlib models come from the `face-recognition-models` package, located without
importing it (its __init__ needs pkg_resources, which new setuptools no longer ships).
"""
from __future__ import annotations

import numpy as np

from core.tracking.landmarks import dlib_model_path


class DlibFaces:
    def __init__(self):
        import dlib

        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(dlib_model_path("shape_predictor_68_face_landmarks.dat")))

    def detect(self, rgb_uint8: np.ndarray, upsample: int = 1):
        """-> (68, 2) landmarks of the most confident face, or None. Coordinates follow
        the engine's convention (pixel i spans [i, i+1]); dlib's name pixel centres."""
        img = np.ascontiguousarray(rgb_uint8)
        dets, scores, _ = self.detector.run(img, upsample, 0.0)
        if not dets:
            return None
        best = dets[int(np.argmax(scores))]
        shape = self.predictor(img, best)
        return np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float64) + 0.5


def inter_ocular(landmarks: np.ndarray) -> float:
    """Distance between the outer eye corners (points 36 and 45), the usual normaliser."""
    return float(np.linalg.norm(landmarks[36] - landmarks[45]))


def landmark_error(engine: np.ndarray, dlib_pts: np.ndarray) -> float:
    """Mean point distance over the inter-ocular distance of the engine's landmarks."""
    return float(np.linalg.norm(engine - dlib_pts, axis=1).mean() / inter_ocular(engine))
