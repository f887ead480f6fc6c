"""Volume rendering: ray/box bounds, the two ways of placing samples, compositing.

Naive (EG3D): stratified samples over the whole ray, then importance samples from the
coarse weights; every sample is a network query. Proposal (our CPU path): a cached
density grid, looked up (not queried) along the ray, skips empty space and background
rays altogether, and a few network samples cover only the band where the surface is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from core.camera import RAY_FAR, RAY_NEAR, SCENE_BOX


def ray_box_bounds(origins, dirs, box: float = SCENE_BOX, near: float = RAY_NEAR, far: float = RAY_FAR):
    """Entry/exit distances of rays through [-box, box]^3, clipped to [near, far]."""
    inv = 1.0 / torch.where(dirs.abs() < 1e-9, torch.full_like(dirs, 1e-9), dirs)
    ta = (-box - origins) * inv
    tb = (box - origins) * inv
    t0 = torch.minimum(ta, tb).amax(-1).clamp_min(near)
    t1 = torch.maximum(ta, tb).amin(-1).clamp_max(far)
    return t0, t1, t1 > t0 + 1e-6


def stratified_depths(t0, t1, n: int, jitter: bool = False, generator=None):
    """n depths per ray, one in each of n equal bins (bin centres unless jittered)."""
    u = torch.arange(n, device=t0.device, dtype=t0.dtype)
    if jitter:
        u = u + torch.rand(t0.shape[0], n, device=t0.device, dtype=t0.dtype, generator=generator)
    else:
        u = u + 0.5
    return t0[:, None] + (t1 - t0)[:, None] * (u / n)


def importance_depths(depths, weights, n: int, jitter: bool = False, generator=None):
    """n depths drawn from the piecewise-constant pdf the weights put on the bins between
    consecutive `depths` (inverse CDF; deterministic quantiles unless jittered)."""
    edges = 0.5 * (depths[:, 1:] + depths[:, :-1])
    w = weights[:, 1:-1] + 1e-5
    pdf = w / w.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), pdf.cumsum(-1)], -1)
    if jitter:
        u = torch.rand(cdf.shape[0], n, device=cdf.device, dtype=cdf.dtype, generator=generator)
    else:
        u = ((torch.arange(n, device=cdf.device, dtype=cdf.dtype) + 0.5) / n).expand(cdf.shape[0], n)
    idx = torch.searchsorted(cdf.contiguous(), u.contiguous(), right=True)
    lo = (idx - 1).clamp(0, edges.shape[1] - 1)
    hi = idx.clamp(0, edges.shape[1] - 1)
    c_lo, c_hi = torch.gather(cdf, 1, lo), torch.gather(cdf, 1, hi)
    e_lo, e_hi = torch.gather(edges, 1, lo), torch.gather(edges, 1, hi)
    frac = ((u - c_lo) / (c_hi - c_lo).clamp_min(1e-8)).clamp(0, 1)
    return (e_lo + frac * (e_hi - e_lo)).detach()


def composite_weights(sigma, depths):
    """Weights of the intervals between consecutive depths, using the mean density of the
    two ends (EG3D's ray marcher): (R, S) -> (R, S-1)."""
    deltas = depths[:, 1:] - depths[:, :-1]
    sigma_mid = 0.5 * (sigma[:, 1:] + sigma[:, :-1])
    alpha = 1.0 - torch.exp(-sigma_mid * deltas)
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-10], -1), -1)[:, :-1]
    return alpha * trans


def composite(sigma, values, depths):
    """Integrate per-sample values (R, S, C) along rays -> premultiplied (R, C), alpha (R,),
    expected depth times alpha (R,), and the interval weights."""
    weights = composite_weights(sigma, depths)
    mid = 0.5 * (values[:, 1:] + values[:, :-1])
    out = (weights[..., None] * mid).sum(1)
    depth_mid = 0.5 * (depths[:, 1:] + depths[:, :-1])
    return out, weights.sum(1), (weights * depth_mid).sum(1), weights


@dataclass
class DensityGrid:
    """Density sampled on a G^3 lattice of the scene box, used only to decide where the
    network is worth asking. `values` is the density itself (trilinear between lattice
    points, an estimate of where light stops); `bound` is its max over each point's
    neighbourhood (conservative: nothing denser hides between lattice points)."""

    volume: torch.Tensor  # (1, 2, G, G, G): [values, bound], indexed [z, y, x] as grid_sample expects
    box: float = SCENE_BOX

    @classmethod
    def build(cls, density_fn, resolution: int, box: float = SCENE_BOX, device="cpu", chunk: int = 65536):
        g = torch.linspace(-box, box, resolution, device=device)
        zz, yy, xx = torch.meshgrid(g, g, g, indexing="ij")
        pts = torch.stack([xx, yy, zz], -1).reshape(-1, 3)
        sig = torch.cat([density_fn(pts[i:i + chunk]) for i in range(0, pts.shape[0], chunk)])
        return cls.from_density(sig.reshape(resolution, resolution, resolution), box)

    @classmethod
    def from_density(cls, density, box: float = SCENE_BOX):
        """A grid from density already sampled on the lattice, (G, G, G) indexed [z, y, x]."""
        vol = density[None, None].float()
        return cls(torch.cat([vol, F.max_pool3d(vol, 3, stride=1, padding=1)], 1), box)

    @property
    def resolution(self) -> int:
        return self.volume.shape[-1]

    def lookup(self, points):
        """(values, bound) at points (N, 3), trilinear, in one pass over the volume."""
        coords = (points / self.box).reshape(1, -1, 1, 1, 3)
        out = F.grid_sample(self.volume, coords, mode="bilinear", align_corners=True, padding_mode="zeros")
        out = out.reshape(2, -1)
        return out[0], out[1]


def proposal_band(grid: DensityGrid, origins, dirs, t0, t1, lookups: int, threshold: float = 1e-3):
    """Per ray, the depth band [a, b] that holds the surface, and a mask of rays that hit
    anything. The band opens where the conservative grid first sees density and closes
    where the grid's estimate of transmittance has fallen below `threshold`; it is padded
    by two lookup steps at each end."""
    ts = stratified_depths(t0, t1, lookups)
    pts = (origins[:, None] + dirs[:, None] * ts[..., None]).reshape(-1, 3)
    step = ((t1 - t0) / lookups)[:, None]
    values, bound = grid.lookup(pts)
    bound = bound.reshape(ts.shape) * step
    hit = (1.0 - torch.exp(-bound.sum(-1))) > threshold
    first = (bound > threshold * 0.1).float().argmax(-1)
    optical_depth = (values.reshape(ts.shape) * step).cumsum(-1)
    # The trilinear grid blurs interior density outwards, so near silhouettes it thinks
    # light stops sooner than it does: close the band only far past the threshold.
    opaque = optical_depth > 3.0 * -math.log(threshold)
    last = torch.where(opaque.any(-1), opaque.float().argmax(-1), torch.full_like(first, lookups - 1))
    a = torch.maximum(torch.gather(ts, 1, first[:, None])[:, 0] - 2.0 * step[:, 0], t0)
    b = torch.minimum(torch.gather(ts, 1, last[:, None])[:, 0] + 2.0 * step[:, 0], t1)
    return a, b, hit


def band_depths(a, b, n: int, jitter: bool = False, generator=None):
    """n depths over each ray's band: evenly spread with the ends included, or (training)
    one jittered depth in each of n equal bins, so that no depth is favoured."""
    if jitter:
        return stratified_depths(a, b, n, True, generator)
    u = torch.linspace(0.0, 1.0, n, device=a.device, dtype=a.dtype)
    return a[:, None] + (b - a)[:, None] * u


@dataclass(frozen=True)
class SamplingPlan:
    """How rays are sampled. `naive`: EG3D's stratified + importance everywhere.
    Otherwise: grid-guided band with `band_samples` network samples per hit ray."""

    naive: bool = False
    coarse: int = 48
    importance: int = 48
    band_samples: int = 12
    grid_lookups: int = 64
    jitter: bool = False


# A radiance field as the renderer sees it: points (N, 3) -> density (N,), values (N, C);
# and its density alone (cheaper: for the coarse pass and the occupancy grid).
FieldFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
DensityFn = Callable[[torch.Tensor], torch.Tensor]


class VolumeRenderer:
    """Marches rays through any field: bounds each ray by the scene box, places samples
    (naive, or in the band a density grid finds) and composites the field's values.
    Holds no weights: the model calls it with its field (nerfstudio's and EG3D's split)."""

    def __init__(self, channels: int, grid_resolution: int):
        self.channels = channels
        self.grid_resolution = grid_resolution

    def density_grid(self, density: DensityFn, device, resolution: int | None = None) -> DensityGrid:
        with torch.no_grad():
            return DensityGrid.build(density, resolution or self.grid_resolution, device=device)

    def march(self, field: FieldFn, density: DensityFn, origins, dirs, plan: SamplingPlan,
              grid: DensityGrid | None = None, chunk: int = 512, generator=None):
        """Rays (N, 3) -> premultiplied values (N, C), alpha (N,), depth x alpha (N,)."""
        n = origins.shape[0]
        out = origins.new_zeros(n, self.channels)
        alpha = origins.new_zeros(n)
        depth = origins.new_zeros(n)
        t0, t1, valid = ray_box_bounds(origins, dirs)
        if plan.naive:
            idx = valid.nonzero()[:, 0]
        else:
            if grid is None:
                grid = self.density_grid(density, origins.device)
            a, b, hit = proposal_band(grid, origins[valid], dirs[valid], t0[valid], t1[valid], plan.grid_lookups)
            idx = valid.nonzero()[:, 0][hit]
            t0, t1 = t0.clone(), t1.clone()
            t0[valid], t1[valid] = a, b
        for s in range(0, idx.numel(), chunk):
            i = idx[s:s + chunk]
            o, d, ta, tb = origins[i], dirs[i], t0[i], t1[i]
            if plan.naive:
                coarse = stratified_depths(ta, tb, plan.coarse, plan.jitter, generator)
                with torch.no_grad():
                    sig = density((o[:, None] + d[:, None] * coarse[..., None]).reshape(-1, 3)).reshape(coarse.shape)
                    w = composite_weights(sig, coarse)
                    w = torch.cat([w[:, :1], w], -1)  # one weight per coarse depth
                fine = importance_depths(coarse, w, plan.importance, plan.jitter, generator)
                depths, _ = torch.sort(torch.cat([coarse, fine], -1), -1)
            else:
                depths = band_depths(ta, tb, plan.band_samples, plan.jitter, generator)
            out[i], alpha[i], depth[i] = self.integrate(field, o, d, depths)
        return out, alpha, depth

    @staticmethod
    def integrate(field: FieldFn, origins, dirs, depths):
        """The field's values composited along rays at the given depths (R, S)."""
        n_rays, n_samples = depths.shape
        pts = (origins[:, None] + dirs[:, None] * depths[..., None]).reshape(-1, 3)
        sigma, values = field(pts)
        out, alpha, depth, _ = composite(sigma.reshape(n_rays, n_samples), values.reshape(n_rays, n_samples, -1),
                                         depths)
        return out, alpha, depth
