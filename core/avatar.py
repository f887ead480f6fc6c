"""Avatar files: a person fitted into a head model (`avatar-studio fit`), usable wherever
an identity is (render, export, reenact, the studio).

One `.safetensors` file (tensors + JSON metadata; loading never executes code):
    latent (D,)            the identity code
    expression (E,)        the expression on the photo (the avatar's own neutral is 0)
    sh (9, 3)              the lighting fitted to the photo
    camera (25,)           the photo's camera, EG3D label (its orbit pose is in the metadata)
    delta.<parameter>      pivotal tuning's change of the model's weights (none without PTI)
metadata: format "avatar-studio/avatar", version, and "info" (JSON): name, expression
names, camera orbit pose, the model it was fitted with (file name, sha256, latent size),
provenance (the photo's sha256 and name, fit settings, steps, time, losses), warnings.

The avatar library is a folder of such files: $AVATAR_STUDIO_AVATARS, else
$XDG_DATA_HOME/avatar-studio/avatars, else ~/.local/share/avatar-studio/avatars.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.expression import Expression
from core.identity import Identity
from core.lighting import SphericalHarmonicsLighting
from core.state import AvatarState, OrbitPose

AVATAR_FORMAT = "avatar-studio/avatar"
AVATAR_VERSION = 1
AVATAR_SUFFIX = ".safetensors"


class AvatarError(ValueError):
    """An avatar file that cannot be used; one line naming the file."""


def file_sha256(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def avatar_library_dir() -> Path:
    """Where avatars are kept (created on first use by the writers, not here)."""
    env = os.environ.get("AVATAR_STUDIO_AVATARS")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "avatar-studio" / "avatars"


def library_path(name: str) -> Path:
    """A free file name in the library for an avatar called `name`."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "avatar"
    folder = avatar_library_dir()
    path = folder / f"{stem}{AVATAR_SUFFIX}"
    k = 2
    while path.exists():
        path = folder / f"{stem}-{k}{AVATAR_SUFFIX}"
        k += 1
    return path


def list_avatars() -> list[Path]:
    folder = avatar_library_dir()
    return sorted(folder.glob(f"*{AVATAR_SUFFIX}")) if folder.is_dir() else []


@dataclass
class Avatar:
    latent: np.ndarray
    expression: Expression
    lighting: SphericalHarmonicsLighting
    camera: OrbitPose
    weight_delta: dict = field(default_factory=dict)   # parameter name -> float32 tensor
    name: str = "avatar"
    model: dict = field(default_factory=dict)          # {"file", "sha256", "latent_dim"}
    provenance: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    # -- use -------------------------------------------------------------------------------
    def identity(self) -> Identity:
        return Identity(self.latent, name=self.name)

    def state(self, base: AvatarState | None = None, photo_expression: bool = False) -> AvatarState:
        """The avatar as a state: its identity and lighting, a neutral face, and `base`'s
        camera and render settings (the frontal camera without a base); with
        photo_expression, the photo's expression and camera."""
        names = self.expression.names
        if base is None:
            base = AvatarState(identity=self.identity())
            return base.with_(camera=self.camera if photo_expression else OrbitPose(), lighting=self.lighting,
                              expression=self.expression if photo_expression else Expression.neutral(names))
        return base.with_(identity=self.identity(), lighting=self.lighting,
                          expression=self.expression if photo_expression else Expression.neutral(names),
                          camera=self.camera if photo_expression else base.camera)

    def check_model(self, model, model_path=None) -> None:
        """AvatarError unless this avatar fits `model` (latent size, expression names,
        tuned parameters and their shapes, and the model file's hash when known)."""
        cfg = model.cfg
        if self.latent.size != cfg.latent_dim:
            raise AvatarError(f"avatar {self.name!r} has a {self.latent.size}-d identity; the model needs {cfg.latent_dim}")
        if tuple(self.expression.names) != tuple(cfg.expression_names):
            raise AvatarError(f"avatar {self.name!r} was fitted with other expression names than this model's")
        want = self.model.get("sha256")
        if want and model_path is not None and Path(model_path).is_file() and file_sha256(model_path) != want:
            raise AvatarError(f"avatar {self.name!r} was fitted with another model ({self.model.get('file')}, "
                              f"sha256 {want[:12]}), not {Path(model_path).name}")
        params = dict(model.named_parameters())
        for n, d in self.weight_delta.items():
            if n not in params or tuple(params[n].shape) != tuple(d.shape):
                raise AvatarError(f"avatar {self.name!r}: tuned weight {n} does not match this model")

    def apply_to(self, model, model_path=None) -> None:
        """Add the tuned weights' change to `model` in place (after check_model)."""
        self.check_model(model, model_path)
        params = dict(model.named_parameters())
        with torch.no_grad():
            for n, d in self.weight_delta.items():
                params[n].add_(d.to(params[n].device, params[n].dtype))

    def apply_to_engine(self, engine, model_path=None) -> None:
        """Tune an InferenceEngine's model for this avatar and drop its caches."""
        self.apply_to(engine.model, model_path if model_path is not None else getattr(engine, "checkpoint_path", None))
        engine.clear_caches()

    # -- files -------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        from safetensors.torch import save

        tensors = {
            "latent": torch.as_tensor(self.latent, dtype=torch.float32),
            "expression": torch.as_tensor(self.expression.values, dtype=torch.float32),
            "sh": torch.as_tensor(self.lighting.coeffs, dtype=torch.float32),
            "camera": torch.as_tensor(self.camera.to_camera().to_label(), dtype=torch.float32),
        }
        for n, d in self.weight_delta.items():
            tensors[f"delta.{n}"] = d.detach().float().cpu().contiguous()
        info = {"name": self.name, "expression_names": list(self.expression.names), "camera": self.camera.to_json(),
                "model": self.model, "provenance": self.provenance, "warnings": list(self.warnings)}
        return save(tensors, metadata={"format": AVATAR_FORMAT, "version": str(AVATAR_VERSION), "info": json.dumps(info)})

    def save(self, path) -> Path:
        from core.fileio import atomic_write_bytes

        path = Path(path)
        atomic_write_bytes(path, self.to_bytes())
        return path


def is_avatar_file(path) -> bool:
    return str(path).lower().endswith(AVATAR_SUFFIX)


def load_avatar(path) -> Avatar:
    """Read an avatar file; every problem is one AvatarError line naming the file."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.exists():
        raise AvatarError(f"{path}: no such avatar file")
    if not path.is_file():
        raise AvatarError(f"{path}: not a file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != AVATAR_FORMAT:
                raise AvatarError(f"{path}: not an avatar file (format {meta.get('format')!r})")
            try:
                version = int(meta.get("version", "0"))
            except ValueError:
                raise AvatarError(f"{path}: avatar version {meta.get('version')!r} is not a number") from None
            if version > AVATAR_VERSION:
                raise AvatarError(f"{path}: avatar version {version} is newer than this program ({AVATAR_VERSION})")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        info = json.loads(meta.get("info", "{}"))
        if not isinstance(info, dict):
            raise AvatarError(f"{path}: avatar info is not a JSON object")
        for key in ("latent", "expression", "sh", "camera"):
            if key not in tensors:
                raise AvatarError(f"{path}: avatar has no {key!r} tensor")
            if not torch.isfinite(tensors[key]).all():
                raise AvatarError(f"{path}: avatar {key!r} has non-finite values")
        names = tuple(info.get("expression_names") or ())
        values = tensors["expression"].double().numpy()
        if len(names) != values.size:
            raise AvatarError(f"{path}: {values.size} expression values for {len(names)} names")
        if tuple(tensors["sh"].shape) != (9, 3):
            raise AvatarError(f"{path}: avatar lighting must be 9 x 3, got {tuple(tensors['sh'].shape)}")
        camera = OrbitPose(**info["camera"]) if isinstance(info.get("camera"), dict) else OrbitPose()
        delta = {k[len("delta."):]: v.float() for k, v in tensors.items() if k.startswith("delta.")}
        for n, d in delta.items():
            if not torch.isfinite(d).all():
                raise AvatarError(f"{path}: tuned weight {n} has non-finite values")
        return Avatar(latent=tensors["latent"].double().numpy().reshape(-1),
                      expression=Expression(names, np.clip(values, 0.0, 1.0)),
                      lighting=SphericalHarmonicsLighting(tensors["sh"].double().numpy()),
                      camera=camera, weight_delta=delta, name=str(info.get("name") or path.stem),
                      model=dict(info.get("model") or {}), provenance=dict(info.get("provenance") or {}),
                      warnings=list(info.get("warnings") or []))
    except AvatarError:
        raise
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AvatarError(f"{path}: not a readable avatar file ({text})") from None
