"""Datasets in EG3D's format plus our labels (see training/synth/dataset.py), loaded for
training: images resized to the training size, cameras, SH, expressions, identities, and
the optional albedo / normal / alpha passes. Every way a dataset can be wrong ends in a
DatasetError whose message is one line naming the file and the problem."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.camera import Camera
from core.expression import Expression


class DatasetError(ValueError):
    pass


@dataclass
class Sample:
    name: str
    image: np.ndarray          # (S, S, 3) float32 in [0, 1]
    camera: Camera
    sh: np.ndarray             # (9, 3)
    expression: np.ndarray     # (E,) in the model's name order
    identity: int              # dense index 0..n_identities-1
    albedo: np.ndarray | None = None   # premultiplied by alpha, like the passes on disk
    shading: np.ndarray | None = None  # diffuse shading (irradiance x visibility), premultiplied, clipped to 1
    normal: np.ndarray | None = None   # unit normal x alpha
    alpha: np.ndarray | None = None
    group: str | None = None           # samples of one group differ only in expression
    region: np.ndarray | None = None   # (S, S) 1 on the eyes, brows and mouth (from landmarks), else 0


def identity_key(raw_id, parameters=None) -> str:
    """What names an identity across datasets. Synthetic datasets number their heads from 0
    in every dataset, so there the key is a fingerprint of the head's parameters: held-out
    views of a head find its trained code, and a new head with a reused number does not."""
    if parameters is None:
        return f"id:{raw_id}"
    blob = json.dumps(parameters, sort_keys=True, separators=(",", ":")).encode()
    return "head:" + hashlib.sha1(blob).hexdigest()[:16]


# dlib's 68-point layout: brows 17-26, eyes 36-47, mouth 48-67
EYE_REGIONS = (range(17, 22), range(22, 27), range(36, 42), range(42, 48))
MOUTH_REGIONS = (range(48, 68),)


def face_region_mask(landmarks, image_size: int, size: int, parts=EYE_REGIONS + MOUTH_REGIONS) -> np.ndarray | None:
    """(size, size) float mask, 1 inside padded boxes around each brow, eye and the mouth
    (the parts expressions move and the eye reads), from 68 landmarks given in pixels of
    an image `image_size` wide."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2) or not np.isfinite(pts).all():
        return None
    pts = pts * (size / image_size)
    mask = np.zeros((size, size), np.float32)
    scale = np.linalg.norm(pts[36:42].mean(0) - pts[42:48].mean(0))  # inter-ocular distance
    for part in parts:
        p = pts[list(part)]
        pad = 0.25 * scale
        x0, y0 = np.floor(p.min(0) - pad).astype(int)
        x1, y1 = np.ceil(p.max(0) + pad).astype(int)
        mask[max(y0, 0):max(min(y1, size), 0), max(x0, 0):max(min(x1, size), 0)] = 1.0
    return mask


class HeadDataset:
    def __init__(self, folder, size: int, expression_names, shading: bool = False):
        """shading: also load the shading passes (only the shading loss reads them; a
        2,400-view set's take ~1.9 GB at 256 px)."""
        import cv2

        self.folder = Path(folder)
        meta_path = self.folder / "dataset.json"
        if not self.folder.is_dir():
            raise DatasetError(f"{self.folder}: no such dataset folder")
        if not meta_path.exists():
            raise DatasetError(f"{meta_path}: missing (a dataset is a folder with images and dataset.json)")
        try:
            meta = json.loads(meta_path.read_text())
        except RecursionError:
            raise DatasetError(f"{meta_path}: JSON nested too deeply") from None
        except (OSError, ValueError) as e:  # ValueError: not JSON, not UTF-8
            raise DatasetError(f"{meta_path}: not readable JSON ({str(e).splitlines()[0]})") from None
        labels = meta.get("labels") if isinstance(meta, dict) else None
        if not labels:
            raise DatasetError(f"{meta_path}: no labels (the dataset is empty)")
        names = tuple(expression_names)
        raw_ids = sorted({meta.get("identity", {}).get(n[0], 0) for n in labels}, key=str)
        self.identity_index = {v: i for i, v in enumerate(raw_ids)}
        params = meta.get("identity_parameters", {})
        self.identity_keys = [identity_key(r, params.get(str(r))) for r in raw_ids]
        # each identity's synthetic-engine parameters (None for a person's own data)
        self.identity_parameters = [params.get(str(r)) for r in raw_ids]
        self.samples: list[Sample] = []
        for entry in labels:
            if not (isinstance(entry, list) and len(entry) == 2):
                raise DatasetError(f"{meta_path}: a label must be [file, 25 floats], got {str(entry)[:60]}")
            name, label = entry
            try:
                camera = Camera.from_label(label)
            except (ValueError, TypeError) as e:
                raise DatasetError(f"{meta_path}: label of {name}: {e}") from None
            if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts:
                raise DatasetError(f"{meta_path}: label file {str(name)[:60]!r} points outside the dataset folder")
            path = self.folder / name
            if not path.is_file():  # checked first: OpenCV would also print a warning of its own
                raise DatasetError(f"{path}: missing or not an image")
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise DatasetError(f"{path}: missing or not an image")
            sh = np.asarray(meta.get("sh", {}).get(name, [0.0] * 27), dtype=np.float64)
            if sh.size == 9:
                sh = np.repeat(sh[:, None], 3, 1)
            if sh.size != 27:
                raise DatasetError(f"{meta_path}: sh of {name} needs 27 (or 9) numbers, got {sh.size}")
            ex = Expression.from_dict(meta.get("expression", {}).get(name, {}), names, strict=False).values
            stem = Path(name).stem
            passes = {}
            for key in ("albedo", "shading", "normal", "alpha") if shading else ("albedo", "normal", "alpha"):
                pp = self.folder / "passes" / f"{stem}_{key}.png"
                if pp.exists():
                    passes[key] = self._load(pp, size, gray=(key == "alpha"))
            if "normal" in passes:  # stored as (n / 2 + 1/2) * alpha: make it n * alpha
                a = passes["alpha"][..., None] if "alpha" in passes else 1.0
                passes["normal"] = passes["normal"] * 2 - a
            group = meta.get("view_group", {}).get(name)
            region = None
            landmarks = meta.get("landmarks", {}).get(name)
            if landmarks is not None:
                region = face_region_mask(landmarks, img.shape[1], size)
            self.samples.append(Sample(name, self._load(path, size), camera, sh.reshape(9, 3), ex,
                                       self.identity_index[meta.get("identity", {}).get(name, 0)], **passes,
                                       group=str(group) if group is not None else None, region=region))
        # groups (same head, view and light; only the expression differs): the neutral
        # member first, for paired training of expression changes
        groups: dict[str, list[int]] = {}
        for i, sample in enumerate(self.samples):
            if sample.group is not None:
                groups.setdefault(sample.group, []).append(i)
        self.groups = [sorted(m, key=lambda i: float(np.abs(self.samples[i].expression).sum()))
                       for _, m in sorted(groups.items()) if len(m) > 1]

    @staticmethod
    def _load(path, size, gray=False):
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
        if img is None:
            raise DatasetError(f"{path}: not an image")
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        return img if gray else img[..., ::-1].copy()

    def targets(self, sample: Sample, size: int) -> dict:
        """A sample's image and passes as tensors at `size` (area-averaged when smaller
        than the loaded size), for the loss."""
        import torch
        import torch.nn.functional as F

        out = {}
        for key in ("image", "albedo", "shading", "normal", "alpha", "region"):
            value = getattr(sample, key)
            if value is None:
                continue
            t = torch.as_tensor(value)
            if t.shape[0] != size:
                chw = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
                chw = F.interpolate(chw, size=(size, size), mode="area")
                t = chw[0, 0] if t.ndim == 2 else chw[0].permute(1, 2, 0)
            out[key] = t
        return out

    @property
    def n_identities(self) -> int:
        return len(self.identity_index)

    def __len__(self):
        return len(self.samples)
