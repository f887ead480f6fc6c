"""Turn a ShadedFrame into images people can look at and files tools can read.

Depth PNGs are 16-bit: value = ray distance x 10000 (scene units; 0 = no surface), so a
depth of 2.7 is stored as 27000 and the file keeps 0.1 mm-per-unit precision.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.fileio import save_png, to_uint8
from core.model.head import ShadedFrame
from core.state import PASSES

DEPTH_PNG_SCALE = 10000.0


def pass_image(frame: ShadedFrame, name: str, background=(1.0, 1.0, 1.0)) -> np.ndarray:
    """uint8 (H, W, 3) for colour passes and alpha, uint16 (H, W) for depth."""
    a = frame.alpha.numpy()[..., None]
    bg = np.asarray(background, dtype=np.float32)
    if name == "rgb":
        return to_uint8(frame.rgb.numpy())
    if name == "albedo":
        return to_uint8(frame.albedo.numpy() * a + (1 - a) * bg)
    if name == "shading":
        return to_uint8(frame.shading.numpy() * a + (1 - a) * bg)
    if name == "normal":
        return to_uint8((frame.normal.numpy() * 0.5 + 0.5) * a + (1 - a) * bg)
    if name == "alpha":
        return to_uint8(np.repeat(a, 3, axis=2))
    if name == "depth":
        d = frame.depth.numpy() * DEPTH_PNG_SCALE
        return np.clip(np.round(d), 0, 65535).astype(np.uint16)
    raise ValueError(f"unknown pass {name!r}; passes are {PASSES}")


def rgba_image(frame: ShadedFrame, name: str = "rgb") -> np.ndarray:
    """uint8 (H, W, 4): the pass's straight colour with the head's alpha, for a transparent
    background (colour passes only)."""
    if name in ("depth", "alpha"):
        raise ValueError(f"a transparent background needs a colour pass, not {name!r}")
    a = frame.alpha.numpy()[..., None]
    if name == "rgb":
        colour = frame.albedo.numpy() * frame.shading.numpy() + frame.specular.numpy()
    else:  # composited over black, then un-premultiplied
        colour = pass_image(frame, name, (0.0, 0.0, 0.0)).astype(np.float32) / 255.0 / np.maximum(a, 1e-3)
    return np.concatenate([to_uint8(colour), to_uint8(a)], -1)


def depth_preview(frame: ShadedFrame) -> np.ndarray:
    """Depth as a visible uint8 image (near = bright) for on-screen display."""
    d = frame.depth.numpy()
    mask = frame.alpha.numpy() > 0.5
    out = np.zeros(d.shape, np.float32)
    if mask.any():
        lo, hi = d[mask].min(), d[mask].max()
        out[mask] = 1.0 - (d[mask] - lo) / max(hi - lo, 1e-6) * 0.8
    return to_uint8(np.repeat(out[..., None], 3, axis=2))


def save_passes(frame: ShadedFrame, folder, background=(1.0, 1.0, 1.0)) -> list[Path]:
    folder = Path(folder)
    written = []
    for name in PASSES:
        path = folder / f"{name}.png"
        save_png(path, pass_image(frame, name, background))
        written.append(path)
    return written


def resize_frame(frame: ShadedFrame, side: int) -> ShadedFrame:
    """Resample a frame whose neural x superres size differs from the asked size."""
    import torch
    import torch.nn.functional as F

    def rs(t, mode="bilinear"):
        x = t if t.dim() == 3 else t[..., None]
        y = F.interpolate(x.permute(2, 0, 1)[None], size=(side, side), mode=mode,
                          align_corners=False if mode == "bilinear" else None)[0].permute(1, 2, 0)
        return y if t.dim() == 3 else y[..., 0]

    return ShadedFrame(rs(frame.rgb), rs(frame.albedo), rs(frame.shading), rs(frame.specular),
                       torch.nn.functional.normalize(rs(frame.normal), dim=-1) * (rs(frame.alpha) > 1e-4)[..., None],
                       rs(frame.depth, "nearest"), rs(frame.alpha))
