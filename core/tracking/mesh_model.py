"""Expression weights from MediaPipe's face mesh, shipped as data in
assets/face_mesh_expression.safetensors (tensors + JSON metadata; loading runs no code).

- `canonical`: the average neutral mesh (478, 3), in units where the outer eye corners
  are one apart, frontal (x right, y down, z away from the camera).
- `align_points`: mesh points that expressions barely move (forehead, nose bridge and
  tip, temples, eye corners): each frame's mesh is brought onto the canonical one by the
  similarity transform that fits these best, which takes the head's turn and distance away.
- `feature_points`: lips, lids, irises, brows, cheeks and chin: their offsets from the
  neutral reference (the canonical mesh, or the user's calibrated neutral face) in the
  aligned frame, plus the head's rotation (a turned face's mesh is placed a little
  differently), are the regressor's input.
- an MLP (ReLU) from those features to the model's ARKit weights, trained on synthetic
  heads where the truth is known (`python -m training.mesh_regressor`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.tracking.face_model import mlp_forward, mlp_from_tensors, mlp_tensors

MESH_POINTS = 478   # MediaPipe's face mesh with the irises (refine_landmarks)

MESH_MODEL_FILE = Path(__file__).resolve().parents[2] / "assets" / "face_mesh_expression.safetensors"
MESH_MODEL_FORMAT = "avatar-studio/face-mesh-expression"
# MediaPipe's outer eye corners (the subject's right, left): the unit of length
MESH_EYE_CORNERS = (33, 263)


def similarity_to(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scale s, rotation R and translation t with s R source + t ~ target (least squares,
    Umeyama's method); source, target (N, 3)."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    a, b = source - mu_s, target - mu_t
    cov = b.T @ a / len(source)
    u, sv, vt = np.linalg.svd(cov)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])
    rotation = u @ d @ vt
    var = float(np.mean(np.sum(a * a, axis=1)))
    scale = float(np.trace(np.diag(sv) @ d) / max(var, 1e-12))
    return scale, rotation, mu_t - scale * rotation @ mu_s


def rotation_vector(rotation: np.ndarray) -> np.ndarray:
    """Axis times angle (radians) of a 3x3 rotation."""
    c = np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)
    angle = float(np.arccos(c))
    if angle < 1e-8:
        return np.zeros(3)
    axis = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0], rotation[1, 0] - rotation[0, 1]])
    return axis / (2.0 * np.sin(angle)) * angle


@dataclass
class MeshExpressionModel:
    canonical: np.ndarray            # (478, 3)
    align_points: tuple
    feature_points: tuple
    names: tuple
    layers: list = field(default_factory=list)
    feature_mean: np.ndarray | None = None
    feature_std: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    # -- geometry -------------------------------------------------------------------------
    def align(self, mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mesh brought onto the canonical one (same units and frame) and the rotation
        that did it."""
        mesh = np.asarray(mesh, dtype=np.float64)
        idx = list(self.align_points)
        s, r, t = similarity_to(mesh[idx], self.canonical[idx])
        return s * mesh @ r.T + t, r

    def calibrate(self, mesh: np.ndarray) -> np.ndarray:
        """A user's neutral face as the reference the offsets are measured from."""
        return self.align(mesh)[0]

    def features(self, mesh: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        aligned, rotation = self.align(mesh)
        ref = self.canonical if reference is None else reference
        idx = list(self.feature_points)
        return np.concatenate([(aligned[idx] - ref[idx]).reshape(-1), rotation_vector(rotation)])

    # -- the regressor --------------------------------------------------------------------
    def predict(self, features: np.ndarray) -> np.ndarray:
        """Weights in [0, 1] for (F,) or (N, F) features."""
        x = (np.asarray(features, dtype=np.float64) - self.feature_mean) / self.feature_std
        return np.clip(mlp_forward(self.layers, x), 0.0, 1.0)

    def estimate(self, mesh: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        return self.predict(self.features(mesh, reference))

    # -- file ------------------------------------------------------------------------------
    @classmethod
    def load(cls, path=MESH_MODEL_FILE) -> "MeshExpressionModel":
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: face-mesh expression model not found "
                                    "(python -m training.mesh_regressor writes it)")
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k).astype(np.float64) for k in f.keys()}
            if meta.get("format") != MESH_MODEL_FORMAT:
                raise ValueError(f"not a face-mesh expression model (format {meta.get('format')!r})")
            info = json.loads(meta["info"])
            layers = mlp_from_tensors(tensors, "layer", info["layers"])
            model = cls(tensors["canonical"], tuple(info["align_points"]), tuple(info["feature_points"]),
                        tuple(info["names"]), layers, tensors["feature_mean"], tensors["feature_std"], info)
            if model.canonical.shape != (MESH_POINTS, 3) or model.feature_mean.shape != (3 * len(model.feature_points) + 3,):
                raise ValueError("tensor shapes do not match the metadata")
            return model
        except (SafetensorError, OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a readable face-mesh expression model ({str(e).splitlines()[0]})") from None

    def save(self, path) -> None:
        from safetensors.numpy import save

        from core.fileio import atomic_write_bytes

        tensors = {"canonical": self.canonical.astype(np.float32),
                   "feature_mean": self.feature_mean.astype(np.float32),
                   "feature_std": self.feature_std.astype(np.float32)}
        tensors.update(mlp_tensors("layer", self.layers))
        info = {**self.metadata, "names": list(self.names), "align_points": [int(i) for i in self.align_points],
                "feature_points": [int(i) for i in self.feature_points], "layers": len(self.layers)}
        atomic_write_bytes(path, save(tensors, metadata={"format": MESH_MODEL_FORMAT, "info": json.dumps(info)}))
