"""What the tracker knows about faces, shipped as data in assets/face_tracker.safetensors
(tensors + JSON metadata; loading never executes code):

- `template`: where dlib's 68 landmarks sit on an average head, in the head's frame
  (scene units, y up, the face looking along +z; the engine's world frame). It is
  triangulated from dlib's landmarks on synthetic renders with known cameras, so it
  describes the points as dlib places them, not as an annotator would.
- `pose_points`: the landmarks the head pose is fitted to (those expressions move least).
- two small MLPs on the same input (pose-normalised landmark offsets and the fitted
  angles), trained on synthetic heads where the truth is known: the expression
  regressor (the model's ARKit weights) and the pose refiner (a correction to the fitted
  yaw, pitch and roll: a rigid template cannot know how dlib's points slide as a head
  turns, nor a face's own proportions, and these show in the offsets).

Written by `python -m training.tracking_regressor` (see docs/tracking.md).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.tracking.pose import HeadPose, PoseFit, camera_matrix, rotation_from_orbit_angles, solve_head_pose

FACE_MODEL_FILE = Path(__file__).resolve().parents[2] / "assets" / "face_tracker.safetensors"
FACE_MODEL_FORMAT = "avatar-studio/face-tracker"
OUTER_EYE_CORNERS = (36, 45)


def frontalise(points_2d: np.ndarray, fit: PoseFit, template: np.ndarray, width: int, height: int,
               focal: float) -> np.ndarray:
    """Undo the head pose: each landmark's ray from the camera is met with the plane
    through its template point that faces the head's front (z = template z in the head's
    frame); returns where (x, y) in the head's frame, (68, 2). A landmark that an
    expression moves across the face keeps its movement; the turn of the head is gone."""
    pts = np.asarray(points_2d, dtype=np.float64)
    k_inv = np.linalg.inv(camera_matrix(width, height, focal))
    rays = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ k_inv.T      # camera frame
    normal = fit.rotation[:, 2]                                                  # head +z in the camera frame
    depth = (template[:, 2] + normal @ fit.translation) / _safe(rays @ normal)
    cam_points = rays * depth[:, None]
    head_points = (cam_points - fit.translation) @ fit.rotation  # R^T (x - t), row-wise
    return head_points[:, :2]


def _safe(x: np.ndarray) -> np.ndarray:
    """Keep a ray that grazes its plane (a landmark seen edge-on) from dividing by zero."""
    return np.where(np.abs(x) < 1e-6, np.copysign(1e-6, x), x)


def mlp_tensors(prefix: str, layers) -> dict:
    """An MLP's [(W, b), ...] as float32 tensors named PREFIX.I.weight / .bias."""
    out = {}
    for i, (w, b) in enumerate(layers):
        out[f"{prefix}.{i}.weight"] = np.ascontiguousarray(w, dtype=np.float32)
        out[f"{prefix}.{i}.bias"] = np.ascontiguousarray(b, dtype=np.float32)
    return out


def mlp_from_tensors(tensors: dict, prefix: str, count: int) -> list:
    """The [(W, b), ...] that mlp_tensors wrote under `prefix`."""
    return [(tensors[f"{prefix}.{i}.weight"], tensors[f"{prefix}.{i}.bias"]) for i in range(int(count))]


def mlp_forward(layers, x: np.ndarray) -> np.ndarray:
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


# the pose refiner's outputs are in tenths of a degree's scale: corrections of a few degrees
POSE_OUTPUT_SCALE = 10.0


@dataclass
class FaceEstimate:
    fit: PoseFit            # the PnP fit (its frontalisation made the features)
    pose: HeadPose          # the refined pose
    weights: np.ndarray     # expression weights in the model's names, [0, 1]


@dataclass
class FaceModel:
    template: np.ndarray                 # (68, 3)
    pose_points: tuple                   # landmark indices for the pose fit
    names: tuple                         # ARKit names the regressor outputs
    expression_layers: list = field(default_factory=list)   # [(W (in, out), b (out,)), ...], ReLU between
    pose_layers: list = field(default_factory=list)         # empty: no refinement
    feature_mean: np.ndarray | None = None
    feature_std: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def scale(self) -> float:
        """The template's outer-eye-corner distance: offsets are measured in it."""
        a, b = OUTER_EYE_CORNERS
        return float(np.linalg.norm(self.template[a, :2] - self.template[b, :2]))

    @classmethod
    def load(cls, path=FACE_MODEL_FILE) -> "FaceModel":
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: face tracker model not found (python -m training.tracking_regressor writes it)")
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k).astype(np.float64) for k in f.keys()}
            if meta.get("format") != FACE_MODEL_FORMAT:
                raise ValueError(f"not a face tracker model (format {meta.get('format')!r})")
            info = json.loads(meta["info"])

            def layers(prefix):
                return mlp_from_tensors(tensors, prefix, info["layers"][prefix])

            return cls(tensors["template"], tuple(info["pose_points"]), tuple(info["names"]), layers("expression"),
                       layers("pose"), tensors["feature_mean"], tensors["feature_std"], info)
        except (SafetensorError, OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a readable face tracker model ({str(e).splitlines()[0]})") from None

    def save(self, path) -> None:
        from safetensors.numpy import save

        from core.fileio import atomic_write_bytes

        tensors = {"template": self.template.astype(np.float32),
                   "feature_mean": self.feature_mean.astype(np.float32),
                   "feature_std": self.feature_std.astype(np.float32)}
        tensors.update(mlp_tensors("expression", self.expression_layers), **mlp_tensors("pose", self.pose_layers))
        info = {**self.metadata, "names": list(self.names), "pose_points": [int(i) for i in self.pose_points],
                "layers": {"expression": len(self.expression_layers), "pose": len(self.pose_layers)}}
        atomic_write_bytes(path, save(tensors, metadata={"format": FACE_MODEL_FORMAT, "info": json.dumps(info)}))

    # -- pose and calibration -------------------------------------------------------------
    def fit_pose(self, points_2d: np.ndarray, width: int, height: int, focal: float,
                 reference: np.ndarray | None = None, initial: PoseFit | None = None) -> PoseFit:
        """Head pose by PnP against the reference face (default: the template)."""
        ref = self.template if reference is None else reference
        idx = list(self.pose_points)
        return solve_head_pose(np.asarray(points_2d)[idx], ref[idx], width, height, focal, initial)

    def calibrate(self, points_2d: np.ndarray, width: int, height: int, focal: float) -> np.ndarray:
        """A user's neutral face as a reference (68, 3), from landmarks of a frame where
        they look straight at the camera with a neutral face: their landmarks, moved
        into the head's frontal plane, take the template's place (its depths stay).
        Poses fitted to it are then relative to that straight look, and expression
        offsets are relative to their own neutral face, not the average one."""
        pts = np.asarray(points_2d, dtype=np.float64)
        rotation = rotation_from_orbit_angles(HeadPose()).T   # head -> camera, frontal
        idx = list(self.pose_points)
        # with the rotation known, the projection equations are linear in the translation:
        # (u - cx) (r3.X + tz) = f (r1.X + tx), likewise for v
        k = camera_matrix(width, height, focal)
        rx = self.template[idx] @ rotation.T
        rows, rhs = [], []
        for axis in (0, 1):
            c = pts[idx, axis] - k[axis, 2]
            f = k[axis, axis]
            a = np.zeros((len(idx), 3))
            a[:, axis] = f
            a[:, 2] = -c
            rows.append(a)
            rhs.append(c * rx[:, 2] - f * rx[:, axis])
        translation, *_ = np.linalg.lstsq(np.concatenate(rows), np.concatenate(rhs), rcond=None)
        fit = PoseFit(rotation, translation, HeadPose(), 0.0)
        reference = self.template.copy()
        reference[:, :2] = frontalise(pts, fit, self.template, width, height, focal)
        return reference

    # -- the regressors ----------------------------------------------------------------
    def features(self, points_2d: np.ndarray, fit: PoseFit, width: int, height: int, focal: float,
                 reference: np.ndarray | None = None) -> np.ndarray:
        """The regressors' input: landmark offsets from the neutral reference (the
        template, or the user's calibrated neutral face) in the head's frontal plane,
        in units of the eye-corner distance, then the fitted yaw, pitch and roll
        (radians), which tell how dlib's placement changes as the head turns."""
        ref = self.template if reference is None else reference
        offsets = (frontalise(points_2d, fit, ref, width, height, focal) - ref[:, :2]) / self.scale
        return np.concatenate([offsets.reshape(-1), np.radians(fit.pose.as_array())])

    def _standardise(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, dtype=np.float64) - self.feature_mean) / self.feature_std

    def predict_expression(self, features: np.ndarray) -> np.ndarray:
        """Expression weights in [0, 1] for a (F,) or (N, F) feature array."""
        return np.clip(mlp_forward(self.expression_layers, self._standardise(features)), 0.0, 1.0)

    def predict_pose_correction(self, features: np.ndarray) -> np.ndarray:
        """Degrees to add to the fitted (yaw, pitch, roll)."""
        if not self.pose_layers:
            return np.zeros(np.shape(features)[:-1] + (3,))
        return POSE_OUTPUT_SCALE * mlp_forward(self.pose_layers, self._standardise(features))

    def estimate(self, points_2d: np.ndarray, width: int, height: int, focal: float,
                 reference: np.ndarray | None = None, initial: PoseFit | None = None) -> FaceEstimate:
        """Pose and expression from one frame's landmarks. The pose is always fitted to
        the template (`initial`: the previous frame's template fit) and refined; a
        calibrated `reference` changes only the expression features (fitted to the
        reference, as the regressor was trained). Measured on held-out training heads:
        poses fitted to a calibrated face were worse (3.4 -> 4.9 degrees median)."""
        fit = self.fit_pose(points_2d, width, height, focal, None, initial)
        feats = self.features(points_2d, fit, width, height, focal, None)
        pose = HeadPose(*(fit.pose.as_array() + self.predict_pose_correction(feats)))
        if reference is not None:
            ref_fit = self.fit_pose(points_2d, width, height, focal, reference)
            feats = self.features(points_2d, ref_fit, width, height, focal, reference)
        return FaceEstimate(fit, pose, self.predict_expression(feats))
