"""The inference engine: AvatarState in, G-buffers out, as fast as the device allows.

Why it is fast on a CPU:
- tri-planes are cached per identity (the expensive synthesis) and per (identity,
  expression) (two cheap layers), each with a conservative density grid;
- the grid skips empty space and background rays, and a few network samples cover only
  the band that holds the surface (the naive path marches 48 + 48 samples on every ray);
- the unshaded surface (G-buffer) is cached per (identity, expression, camera, resolution), so a
  lighting-only change re-shades it: no ray is marched, no network but the per-pixel
  lighting residual runs;
- quality levels: `preview` (half the neural resolution, 16 samples) while dragging,
  `refined` (full resolution, 32 samples) when idle, `naive` as the reference;
- while one expression slider is dragged, a preview frame blends the planes and grid of
  the slider's two nearest steps of 1/DRAG_STEPS (exact, cached), so it skips the two
  expression layers and the grid build; the refined frame is always exact.
On CUDA the networks run under float16 autocast (bfloat16 where supported is no faster
for these small layers); shading stays in float32.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch

from core.camera import generate_rays
from core.expression import Expression
from core.identity import Identity, IdentityPrior
from core.model.head import GBuffer, NeuralHeadModel, SamplingPlan, ShadedFrame, Surface
from core.model.rendering import DensityGrid
from core.state import AvatarState


@dataclass(frozen=True)
class QualityLevel:
    name: str
    resolution_scale: float  # neural resolution = output / superres_factor * scale
    plan: SamplingPlan
    # occupancy grid side; None: the model's. The preview's coarser grid halves its
    # build time (~31 -> ~13 ms), which every expression or identity drag pays.
    grid_resolution: int | None = None
    # a one-slider expression drag blends cached planes instead of making new ones
    blend_drags: bool = False


QUALITY_LEVELS = {
    "preview": QualityLevel("preview", 0.5, SamplingPlan(band_samples=16, grid_lookups=32), grid_resolution=24,
                            blend_drags=True),
    "refined": QualityLevel("refined", 1.0, SamplingPlan(band_samples=32, grid_lookups=64)),
    "naive": QualityLevel("naive", 1.0, SamplingPlan(naive=True)),
}


def select_device(preference: str = "auto") -> torch.device:
    """cuda > mps > cpu for 'auto'; an explicit choice must be available."""
    pref = (preference or "auto").lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device cuda requested but no CUDA device is available")
    if pref == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device mps requested but MPS is not available")
    if pref not in ("cpu", "mps") and not pref.startswith("cuda"):
        raise ValueError(f"unknown device {preference!r}: use auto, cpu, cuda or mps")
    return torch.device(pref)


def _nbytes(value) -> int:
    """Bytes held by the tensors in a cache entry (tensors, tuples, lists, dicts of them)."""
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if hasattr(value, "volume"):  # a DensityGrid
        return _nbytes(value.volume)
    return 0


class _LRU(OrderedDict):
    """Least recently used first out, bounded by entries and by the bytes of their tensors
    (the newest entry always stays)."""

    def __init__(self, size: int, max_bytes: int | None = None):
        super().__init__()
        self.size = size
        self.max_bytes = max_bytes

    def get(self, key, default=None):
        if key in self:
            self.move_to_end(key)
            return self[key]
        return default

    def put(self, key, value):
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        if self.max_bytes is not None:
            while len(self) > 1 and sum(_nbytes(v) for v in self.values()) > self.max_bytes:
                self.popitem(last=False)


# Upper bound on the identity cache's tensors (the planes cache gets a quarter).
CACHE_BYTES = 512 * 2 ** 20

# A dragged slider's preview planes are blended between exact ones at steps of 1/DRAG_STEPS.
# The two expression layers and the preview grid are ~14 of ~50 ms of a preview frame on
# one core; the blend costs ~0.5 ms, and against exact planes the preview differs by far
# less than the preview does from the refined frame (figures: docs/benchmarks.md).
DRAG_STEPS = 8


@dataclass
class RenderResult:
    frame: ShadedFrame              # float tensors on the CPU
    quality: str
    neural_resolution: int
    timings_ms: dict = field(default_factory=dict)
    relit_only: bool = False        # True when the cached G-buffer was only re-shaded


class InferenceEngine:
    def __init__(self, model: NeuralHeadModel, device: str | torch.device = "auto", cache_size: int = 16):
        self.device = device if isinstance(device, torch.device) else select_device(device)
        self.model = model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.cfg = model.cfg
        self.prior = IdentityPrior(model.prior_mean.cpu().numpy(), model.prior_basis.cpu().numpy())
        # An identity's cached features hold its per-name expression deltas: 28 MB with
        # 64x64 planes, 113 MB with 128x128; the byte bound keeps a studio that browses
        # many heads (the gallery, seeds, a video's frames) within a laptop's memory.
        self._identity_cache = _LRU(cache_size, CACHE_BYTES)
        self._planes_cache = _LRU(cache_size, CACHE_BYTES // 4)
        self._surface_cache = _LRU(4)
        self._lock = threading.RLock()
        # (identity key, expression) of the last kept render: a preview that differs from it
        # in one name alone is a slider drag
        self._last_rendered = None

    @classmethod
    def from_checkpoint(cls, path, device="auto") -> "InferenceEngine":
        from core.checkpoint import load_checkpoint

        dev = select_device(device)
        model, provenance = load_checkpoint(path, device=dev)
        engine = cls(model, dev)
        engine.provenance = provenance
        engine.checkpoint_path = str(path)
        return engine

    # -- control spaces -> tensors ---------------------------------------------------
    def sample_identity(self, seed: int, truncation: float = 0.7) -> Identity:
        return self.prior.sample(seed, truncation)

    def default_state(self, seed: int | None = None) -> AvatarState:
        """The head a model opens on: the checkpoint's chosen default identity if it names
        one (a pleasant first head), else a seeded sample from the prior."""
        chosen = getattr(self, "provenance", {}).get("default_identity")
        if seed is None and chosen is not None and len(chosen) == self.cfg.latent_dim:
            identity = Identity(np.asarray(chosen, dtype=np.float64), name="default")
        else:
            identity = self.sample_identity(seed or 0)
        return AvatarState(identity=identity, expression=Expression.neutral(self.cfg.expression_names))

    def _check_identity(self, identity: Identity):
        if identity.latent.size != self.cfg.latent_dim:
            raise ValueError(f"identity latent has {identity.latent.size} values, this model needs {self.cfg.latent_dim}")

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return torch.autocast("cpu", enabled=False)

    def planes_for(self, identity: Identity, expression):
        """[planes (3, C, R, R), {grid resolution: density grid}] for an identity and
        expression, cached.
        Safe to call from several threads (the caches are shared)."""
        with self._lock:
            return self._planes_for(identity, expression)

    def _planes_for(self, identity: Identity, expression):
        self._check_identity(identity)
        expression = expression.with_names(self.cfg.expression_names)
        key = (identity.key(), expression.key())
        hit = self._planes_cache.get(key)
        if hit is not None:
            return hit
        with torch.no_grad(), self._autocast():
            ident = self._identity_cache.get(identity.key())
            if ident is None:
                latent = torch.as_tensor(identity.latent, dtype=torch.float32, device=self.device)[None]
                ident = self.model.identity_features(latent)
                self._identity_cache.put(identity.key(), ident)
            ex = torch.as_tensor(expression.values, dtype=torch.float32, device=self.device)[None]
            planes = self.model.planes(ident, ex)[0].float()
        entry = [planes, {}]  # planes, {grid resolution: density grid}
        self._planes_cache.put(key, entry)
        return entry

    def density_grid_for(self, identity: Identity, expression, resolution: int | None = None):
        """The occupancy grid of (identity, expression), cached per grid resolution."""
        with self._lock:
            planes, grids = self._planes_for(identity, expression)
            if resolution not in grids:
                grids[resolution] = self.model.density_grid(planes, resolution)
            return grids[resolution]

    def sample_density(self, points, identity: Identity, expression) -> torch.Tensor:
        """Density at world points (N, 3) for mesh extraction, in chunks, on the engine's device."""
        planes = self.planes_for(identity, expression)[0]
        pts = torch.as_tensor(points, dtype=torch.float32)
        out = []
        with torch.no_grad():
            for i in range(0, pts.shape[0], 262144):
                out.append(self.model.sample_density(pts[i:i + 262144].to(self.device), planes).float().cpu())
        return torch.cat(out) if out else torch.zeros(0)

    # -- rendering ----------------------------------------------------------------------
    def neural_resolution(self, state: AvatarState, quality: str) -> int:
        level = QUALITY_LEVELS[quality]
        res = int(round(state.render.resolution / self.cfg.superres_factor * level.resolution_scale))
        return max(8, res)

    def render(self, state: AvatarState, quality: str | None = None, neural_resolution: int | None = None,
               keep: bool = True) -> RenderResult:
        """Render every G-buffer pass of `state`. Output side = neural_resolution x superres.
        keep=False renders without replacing cached G-buffers (thumbnails, side jobs)."""
        quality = quality or state.render.quality
        if quality not in QUALITY_LEVELS:
            raise ValueError(f"unknown quality {quality!r}; use one of {tuple(QUALITY_LEVELS)}")
        level = QUALITY_LEVELS[quality]
        res = neural_resolution or self.neural_resolution(state, quality)
        timings = {}
        with self._lock:
            expression = state.expression.with_names(self.cfg.expression_names)
            cam_key = tuple(np.round(state.camera.to_camera().to_label(), 9))
            identity_key = state.identity.key()
            key = (identity_key, expression.key(), cam_key, res, quality)
            surface = self._surface_cache.get(key)
            relit_only = surface is not None
            if surface is None:
                dragged = self._dragged_name(identity_key, expression) if level.blend_drags and keep else None
                surface = self.model.surface(self._render_gbuffer(state, expression, res, level, timings, dragged))
                if keep:
                    self._surface_cache.put(key, surface)
            if keep:
                self._last_rendered = (identity_key, expression)
            t = time.perf_counter()
            frame = self.shade(surface, state)
            timings["shade"] = (time.perf_counter() - t) * 1e3
        return RenderResult(frame, quality, res, timings, relit_only)

    def _render_gbuffer(self, state, expression, res, level: QualityLevel, timings,
                        dragged: int | None = None) -> GBuffer:
        """dragged: the index of a name being dragged alone (see _dragged_name): blend."""
        plan = level.plan
        t = time.perf_counter()
        if dragged is not None:
            planes, grid = self._blended_planes(state.identity, expression, dragged, not plan.naive,
                                                level.grid_resolution)
            timings["blended planes"] = (time.perf_counter() - t) * 1e3
        else:
            planes = self.planes_for(state.identity, expression)[0]
            timings["planes"] = (time.perf_counter() - t) * 1e3
            grid = None
            if not plan.naive:
                t = time.perf_counter()
                grid = self.density_grid_for(state.identity, expression, level.grid_resolution)
                timings["grid"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        origins, dirs = generate_rays(state.camera.to_camera(), res, res, device=self.device)
        with torch.no_grad(), self._autocast():
            ex = torch.as_tensor(expression.values, dtype=torch.float32, device=self.device)[None]
            g = self.model.render_gbuffer(planes, origins, dirs, res, res, plan, grid, expression=ex)
        g = GBuffer(*(x.float() for x in (g.albedo, g.normal, g.features, g.alpha, g.depth)))
        timings["march+superres"] = (time.perf_counter() - t) * 1e3
        return g

    def _dragged_name(self, identity_key, expression) -> int | None:
        """The index of the one name that moved since the last kept render, when it now
        lies between two steps of 1/DRAG_STEPS; None otherwise (render exactly)."""
        last = self._last_rendered
        if last is None or last[0] != identity_key or last[1].names != expression.names:
            return None
        moved = np.flatnonzero(last[1].values != expression.values)
        if moved.size != 1:
            return None
        steps = float(expression.values[moved[0]]) * DRAG_STEPS
        return None if steps == np.floor(steps) else int(moved[0])

    def _blended_planes(self, identity: Identity, expression, name: int, with_grid: bool, grid_resolution):
        """Planes and grid for `expression`, blended linearly between the exact (cached)
        ones with name `name` at the steps of 1/DRAG_STEPS just below and above its value.
        The grids' bounds blend to no less than the blended values' bound (a max of a sum
        is at most the sum of the maxes), so empty-space skipping stays conservative."""
        value = float(expression.values[name])
        low = np.floor(value * DRAG_STEPS) / DRAG_STEPS
        weight = (value - low) * DRAG_STEPS
        ends = []
        for knot in (low, low + 1.0 / DRAG_STEPS):
            values = expression.values.copy()
            values[name] = knot
            ends.append(Expression(expression.names, values))
        planes = [self.planes_for(identity, e)[0] for e in ends]
        blended = torch.lerp(planes[0], planes[1], weight)
        if not with_grid:
            return blended, None
        grids = [self.density_grid_for(identity, e, grid_resolution) for e in ends]
        return blended, DensityGrid(torch.lerp(grids[0].volume, grids[1].volume, weight), grids[0].box)

    def shade(self, surface: Surface, state: AvatarState) -> ShadedFrame:
        """Deferred shading of a cached surface under the state's lighting and background."""
        with torch.no_grad():
            sh = state.lighting.as_tensor(self.device)
            frame = self.model.shade(surface, sh, state.render.background)
        return ShadedFrame(*(x.detach().float().cpu() for x in (
            frame.rgb, frame.albedo, frame.shading, frame.specular, frame.normal, frame.depth, frame.alpha)))

    def clear_caches(self):
        with self._lock:
            self._identity_cache.clear()
            self._planes_cache.clear()
            self._surface_cache.clear()
