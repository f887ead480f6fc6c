"""UV-unwrapped albedo textures for exported meshes: xatlas makes the atlas, a small
numpy rasteriser finds the surface point under every texel, the model gives the albedo
there, and the empty texels around each chart are filled outwards so that filtering
never bleeds the background into the mesh."""
from __future__ import annotations

import numpy as np
import torch


def unwrap(vertices: np.ndarray, faces: np.ndarray):
    """-> (new vertices, new faces, uv (V', 2) in [0, 1]): vertices are split along seams."""
    import xatlas

    vmap, new_faces, uv = xatlas.parametrize(np.asarray(vertices, np.float32), np.asarray(faces, np.uint32))
    return np.asarray(vertices)[vmap], new_faces.astype(np.int64), uv


def rasterize_uv(uv: np.ndarray, faces: np.ndarray, size: int):
    """Face index (size, size) (-1 = none) and barycentric weights (size, size, 3) of every
    texel centre; row 0 is v = 1 (image convention)."""
    face_id = np.full((size, size), -1, np.int64)
    bary = np.zeros((size, size, 3), np.float32)
    tri = uv[faces] * size  # (F, 3, 2) in texel units, v up
    tri[..., 1] = size - tri[..., 1]
    lo = np.floor(tri.min(1) - 0.5).astype(int)
    hi = np.ceil(tri.max(1) - 0.5).astype(int)
    extent = np.maximum(hi - lo + 1, 1)
    for w in np.unique(extent.max(1)):
        sel = np.nonzero(extent.max(1) == w)[0]
        oy, ox = np.mgrid[0:w, 0:w]
        px = lo[sel, 0, None] + ox.reshape(1, -1)  # (n, w*w)
        py = lo[sel, 1, None] + oy.reshape(1, -1)
        cx, cy = px + 0.5, py + 0.5
        a, b, c = tri[sel, 0], tri[sel, 1], tri[sel, 2]
        den = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
        den = np.where(np.abs(den) < 1e-12, 1e-12, den)[:, None]
        l0 = ((b[:, 1, None] - c[:, 1, None]) * (cx - c[:, 0, None]) + (c[:, 0, None] - b[:, 0, None]) * (cy - c[:, 1, None])) / den
        l1 = ((c[:, 1, None] - a[:, 1, None]) * (cx - c[:, 0, None]) + (a[:, 0, None] - c[:, 0, None]) * (cy - c[:, 1, None])) / den
        l2 = 1 - l0 - l1
        inside = (l0 >= -1e-4) & (l1 >= -1e-4) & (l2 >= -1e-4) & (px >= 0) & (py >= 0) & (px < size) & (py < size)
        fi, k = np.nonzero(inside)
        face_id[py[fi, k], px[fi, k]] = sel[fi]
        bary[py[fi, k], px[fi, k]] = np.stack([l0[fi, k], l1[fi, k], l2[fi, k]], -1)
    return face_id, bary


def fill_gutters(image: np.ndarray, mask: np.ndarray, iterations: int = 8) -> np.ndarray:
    """Grow each chart's colours outwards into empty texels."""
    import cv2

    img = image.copy()
    filled = mask.copy()
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(iterations):
        grown = cv2.dilate(filled.astype(np.uint8), kernel).astype(bool) & ~filled
        if not grown.any():
            break
        acc = cv2.blur(img * filled[..., None], (3, 3))
        cnt = cv2.blur(filled.astype(np.float32), (3, 3))[..., None]
        img[grown] = (acc / np.maximum(cnt, 1e-6))[grown]
        filled |= grown
    return img


def bake_albedo(engine, state, vertices, faces, uv, size: int = 1024) -> np.ndarray:
    """(size, size, 3) uint8 albedo texture of the model's head over the given UV layout.
    `vertices` are in scene units."""
    face_id, bary = rasterize_uv(uv, faces, size)
    mask = face_id >= 0
    tri = np.asarray(vertices, np.float32)[faces[face_id[mask]]]  # (N, 3, 3)
    pts = (tri * bary[mask][..., None]).sum(1)
    planes = engine.planes_for(state.identity, state.expression.with_names(engine.cfg.expression_names))[0]
    out = []
    with torch.no_grad():
        p = torch.as_tensor(pts)
        for i in range(0, len(p), 65536):
            _, albedo, _, _ = engine.model.query(planes, p[i:i + 65536].to(engine.device))
            out.append(albedo.float().cpu())
    tex = np.zeros((size, size, 3), np.float32)
    tex[mask] = torch.cat(out).clamp(0, 1).numpy() if out else 0
    tex = fill_gutters(tex, mask)
    return (tex * 255 + 0.5).astype(np.uint8)
