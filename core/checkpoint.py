"""Checkpoints: one .safetensors file whose header metadata carries the JSON config.

Loading never unpickles and never executes code. Every way a file can be wrong (missing,
truncated, corrupt, foreign, from a different architecture) ends in a CheckpointError
whose message is one line naming the file and the problem.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save

from core.fileio import atomic_write_bytes
from core.model.config import ModelConfig
from core.model.head import NeuralHeadModel

CHECKPOINT_FORMAT = "avatar-studio/head-model"
CHECKPOINT_VERSION = 1
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "assets" / "default_head.safetensors"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; str() is a single line naming the file."""


def save_checkpoint(model: NeuralHeadModel, path, provenance: dict | None = None) -> None:
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": str(CHECKPOINT_VERSION),
        "config": json.dumps(model.cfg.to_json()),
        "provenance": json.dumps(provenance or {}),
    }
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, st_save(tensors, metadata=meta))


def read_checkpoint_info(path) -> dict:
    """Config and provenance of a checkpoint without loading its weights."""
    path = Path(path)
    meta = _open_metadata(path)
    return {"config": _parse_config(path, meta).to_json(), "provenance": _parse_json(path, meta, "provenance")}


def load_checkpoint(path, device="cpu") -> tuple[NeuralHeadModel, dict]:
    """-> (model in eval mode on `device`, provenance dict). Raises CheckpointError."""
    path = Path(path)
    meta = _open_metadata(path)
    cfg = _parse_config(path, meta)
    provenance = _parse_json(path, meta, "provenance")
    model = NeuralHeadModel(cfg)
    expected = model.state_dict()
    try:
        with safe_open(str(path), framework="pt") as f:
            names = set(f.keys())
            missing = sorted(set(expected) - names)
            extra = sorted(names - set(expected))
            if missing or extra:
                what = []
                if missing:
                    what.append(f"missing {len(missing)} tensor(s) e.g. {missing[0]}")
                if extra:
                    what.append(f"{len(extra)} unexpected tensor(s) e.g. {extra[0]}")
                raise CheckpointError(f"{path}: weights do not match its config ({'; '.join(what)})")
            state = {}
            for name in expected:
                t = f.get_tensor(name)
                if tuple(t.shape) != tuple(expected[name].shape):
                    raise CheckpointError(
                        f"{path}: tensor {name} has shape {tuple(t.shape)}, config expects {tuple(expected[name].shape)}"
                    )
                if t.is_floating_point() and not torch.isfinite(t).all():
                    raise CheckpointError(f"{path}: tensor {name} holds NaN or infinite values")
                state[name] = t
    except CheckpointError:
        raise
    except Exception as e:  # safetensors raises several types for damaged data
        raise CheckpointError(f"{path}: damaged weights ({_first_line(e)})") from None
    model.load_state_dict(state)
    return model.to(device).eval(), provenance


def _open_metadata(path: Path) -> dict:
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, expected a .safetensors checkpoint")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable safetensors file, corrupt or truncated ({_first_line(e)})") from None
    if not meta or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an Avatar Studio head model (a safetensors file without our metadata)")
    try:
        version = int(meta.get("version", "0"))
    except ValueError:
        raise CheckpointError(f"{path}: unreadable format version {meta.get('version')!r}") from None
    if version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: format version {version} is newer than this program reads ({CHECKPOINT_VERSION})")
    return meta


def _parse_json(path: Path, meta: dict, key: str) -> dict:
    try:
        value = json.loads(meta.get(key, "{}"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: {key} metadata is not valid JSON ({e.msg})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: {key} metadata must be a JSON object")
    return value


def _parse_config(path: Path, meta: dict) -> ModelConfig:
    data = _parse_json(path, meta, "config")
    try:
        return ModelConfig.from_json(data)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: invalid model config ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__
