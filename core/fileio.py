"""Atomic file writes and image saving: a crash never leaves a half-written file."""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import numpy as np


def _create_temporary_beside(path: Path) -> tuple[int, Path]:
    """A new, empty, hidden file beside `path`, opened for writing.

    Opened with mode 0o666 so the kernel applies the umask (and any default ACL) exactly
    as for a plain open(); tempfile.mkstemp would leave every written file 0600.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def atomic_write_bytes(path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it into place. A new file gets
    the permissions a plain write would give (0666 less the umask); an overwritten file
    keeps its mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass  # a new file: the umask already applied at creation
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path):
    """Parse a JSON file; any failure is a ValueError naming the file and the problem."""
    import json

    path = Path(path)
    try:
        return json.loads(path.read_text())
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply") from None


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_png(path, image: np.ndarray) -> None:
    """Save uint8 (H, W[, C]) or uint16 (H, W) as PNG, atomically."""
    import cv2

    img = np.asarray(image)
    if img.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"PNG needs uint8 or uint16, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]  # OpenCV writes BGR
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., [2, 1, 0, 3]]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    atomic_write_bytes(path, buf.tobytes())


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
