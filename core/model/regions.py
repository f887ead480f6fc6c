"""Where each expression name may change the head: one soft region per name.

A head model learns every name's effect from images, and a weak name (eyeWide: a lid that
moves a few neural pixels) learns a faint change spread over the whole face as readily as
the right one (head model v2.5: 60-70% of the model's eyeWide change lay outside the
pixels the truth changed). A region per name, made from where the synthetic engine's own
geometry moves (training/expression_regions.py), confines that name's learnable effect
(core/model/head.py): its delta tri-planes are masked by the region's shadow on each
plane, the generator's expression layers change the planes only in the shadows of the
names in use, and its modulation of the super-resolution acts only at pixels whose
surface lies in the region.

The regions are a volume of E x G^3 values in [0, 1] over the cube [-box, box]^3 (voxel
centres as grid_sample's align_corners=False); outside it a region keeps its edge value
(0 for every region the engine makes: the face lies well inside). All ones (no
confinement) until a trainer fills them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.camera import SCENE_BOX


class ExpressionRegions(nn.Module):
    """The regions of a model's E expression names, as a buffer saved with its weights."""

    def __init__(self, names: int, resolution: int, box: float):
        super().__init__()
        self.box = float(box)
        self.register_buffer("volume", torch.ones(names, resolution, resolution, resolution))
        self._masks = (None, None)  # (what they were made from, plane masks): made once, not per frame

    def set_volume(self, volume) -> None:
        volume = torch.as_tensor(volume, dtype=self.volume.dtype, device=self.volume.device)
        if volume.shape != self.volume.shape:
            raise ValueError(f"expression regions: shape {tuple(volume.shape)}, the model has {tuple(self.volume.shape)}")
        self.volume = volume.clamp(0.0, 1.0)

    def at_points(self, points, names=None):
        """points (..., 3) in world space -> (E, ...) region values; `names`: the indices of
        the names wanted (all when None) -> (len(names), ...)."""
        shape = points.shape[:-1]
        volume = self.volume if names is None else self.volume[names]
        grid = (points.reshape(1, -1, 1, 1, 3) / self.box).to(volume.dtype)
        values = F.grid_sample(volume[None], grid, mode="bilinear", padding_mode="border", align_corners=False)
        return values[0, :, :, 0, 0].reshape(volume.shape[0], *shape)

    def plane_masks(self, plane_resolution: int, plane_box: float = SCENE_BOX):
        """(E, 3, 1, R, R): each region's shadow on the XY, XZ and ZY tri-planes (the most
        of it along the axis a plane does not see), at the planes' texels. A delta on a
        plane acts along a whole line through the head, so a masked delta can still reach
        what lies in front of or behind its region on that line, but nothing beside it."""
        v = self.volume  # (E, z, y, x)
        # a loaded or moved volume is another tensor or a newer version of it
        made_from = (plane_resolution, plane_box, v.device, v.dtype, v.data_ptr(), v._version)
        if self._masks[0] == made_from:
            return self._masks[1]
        shadows = (v.amax(1), v.amax(2), v.amax(3).transpose(1, 2))  # [y, x], [z, x], [y, z]
        # the planes' texel centres, in the volume's [-1, 1] coordinates
        u = (torch.arange(plane_resolution, dtype=v.dtype, device=v.device) + 0.5) / plane_resolution * 2 - 1
        u = u * plane_box / self.box
        gy, gx = torch.meshgrid(u, u, indexing="ij")
        grid = torch.stack([gx, gy], -1)[None].expand(v.shape[0], -1, -1, -1)
        masks = [F.grid_sample(s[:, None], grid, mode="bilinear", padding_mode="border", align_corners=False)
                 for s in shadows]
        masks = torch.stack(masks, 1)  # (E, 3, 1, R, R)
        self._masks = (made_from, masks)
        return masks

    def plane_gate(self, expression, plane_resolution: int, plane_box: float = SCENE_BOX):
        """(B, 3, 1, R, R): where the names in use (expression (B, E) not 0) have their
        regions, on each plane: the most of their plane masks."""
        masks = self.plane_masks(plane_resolution, plane_box)  # (E, 3, 1, R, R)
        if expression.shape[0] == 1:  # one head (every render): the names in use only
            used = expression[0].nonzero()[:, 0]
            return masks[used].amax(0, keepdim=True) if used.numel() else masks.new_zeros(1, *masks.shape[1:])
        used = (expression != 0).to(masks.dtype)  # (B, E)
        return (used[:, :, None, None, None, None] * masks[None]).amax(1)

    def pixel_map(self, origins, dirs, alpha, depth, names=None):
        """(E, H, W): each region's value at the surface every pixel of a marched G-buffer
        shows (origins/dirs (H*W, 3), alpha and depth x alpha (H, W)); `names` as in
        at_points. Empty pixels get 0."""
        h, w = alpha.shape
        distance = (depth / alpha.clamp_min(1e-4)).reshape(-1, 1)
        points = origins + dirs * distance
        return self.at_points(points, names).reshape(-1, h, w) * (alpha > 1e-3)
