"""Each expression name's region, from where the synthetic engine's geometry moves.

For every name alone at full strength, on a set of synthetic heads, the skin vertices that
move more than `moved_mm` mark the voxels they pass through (rest and moved positions and
the path between); the marks are widened by `grow` voxels, so what a move uncovers (the
eyeball under a lid, the mouth's inside) and its shading are inside, and softened at the
edge. The result fills a model's ExpressionRegions (core/model/regions.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

PATH_STEPS = 5  # points along each moved vertex's path (a jaw moves ~9 cm, 4 voxels)


@dataclass(frozen=True)
class RegionConfig:
    resolution: int = 40
    box: float = 0.4
    moved_mm: float = 1.0
    grow: int = 1  # voxels added around the marks before the soft edge


def engine_expression_regions(names, identities, cfg: RegionConfig) -> np.ndarray:
    """names: the model's expression names; identities: HeadIdentity objects (the training
    heads). -> (E, G, G, G) float32 in [0, 1], indexed [name, z, y, x]."""
    from core.expression import Expression
    from training.synth.head_mesh import HeadBuilder

    g = cfg.resolution
    marks = np.zeros((len(names), g, g, g), dtype=np.float32)
    for identity in identities:
        builder = HeadBuilder(identity)
        rest = builder.build(Expression.neutral(names)).skin_grid.reshape(-1, 3)
        for i in range(len(names)):
            values = np.zeros(len(names))
            values[i] = 1.0
            moved_to = builder.build(Expression(names, values)).skin_grid.reshape(-1, 3)
            moved = np.linalg.norm(moved_to - rest, axis=1) > cfg.moved_mm / 1000.0
            if not moved.any():
                continue
            a, b = rest[moved], moved_to[moved]
            points = np.concatenate([a + (b - a) * t for t in np.linspace(0.0, 1.0, PATH_STEPS)])
            idx = np.floor((points / cfg.box + 1.0) / 2.0 * g).astype(int)
            idx = idx[((idx >= 0) & (idx < g)).all(1)]
            marks[i, idx[:, 2], idx[:, 1], idx[:, 0]] = 1.0
    volume = torch.from_numpy(marks)[:, None]
    if cfg.grow:
        volume = F.max_pool3d(volume, 2 * cfg.grow + 1, stride=1, padding=cfg.grow)
    volume = F.avg_pool3d(volume, 3, stride=1, padding=1, count_include_pad=False)  # a soft edge
    volume = (volume * 1.5).clamp(0.0, 1.0)  # the marks' inside stays at 1
    return volume[:, 0].numpy()
