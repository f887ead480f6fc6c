"""NeuralHeadModel: identity latent -> mapping -> tri-planes (expression in feature space)
-> decoder -> volume rendering at the neural resolution -> super-resolution of the
unshaded G-buffer -> SH shading (albedo x irradiance(normal) + learned residual).

Shading happens last and reads only the upsampled G-buffer, so a lighting change never
touches geometry or albedo and can be redone without marching a single ray.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from core.camera import SCENE_BOX
from core.lighting import sh_irradiance
from core.model.config import ModelConfig
from core.model.networks import (
    Decoder, ExpressionBlend, LightingResidual, MappingNetwork, SuperResolution, TriPlaneGenerator,
    lattice_triplane_features, sample_triplanes,
)
from core.model.regions import ExpressionRegions
from core.model.rendering import DensityGrid, SamplingPlan, VolumeRenderer

__all__ = ["GBuffer", "IdentityFeatures", "NeuralHeadModel", "SamplingPlan", "ShadedFrame", "Surface"]


class IdentityFeatures(NamedTuple):
    """What an identity contributes before any expression: cached per identity."""

    features: torch.Tensor          # last synthesis feature map (B, C, R, R)
    w: torch.Tensor                 # mapped style (B, w_dim)
    deltas: torch.Tensor | None     # per-expression delta planes (B, E, 3, C, R, R), v2 models
    neutral: torch.Tensor | None = None  # the generator's planes at the neutral face, models with regions


@dataclass
class GBuffer:
    """Unshaded buffers at one resolution, premultiplied by alpha, channels last."""

    albedo: torch.Tensor   # (H, W, 3)
    normal: torch.Tensor   # (H, W, 3)
    features: torch.Tensor  # (H, W, F)
    alpha: torch.Tensor    # (H, W)
    depth: torch.Tensor    # (H, W) expected ray distance x alpha

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.alpha.shape)


@dataclass
class Surface:
    """A G-buffer made straight (not premultiplied): albedo, unit normals, shading
    features and depth per pixel, plus alpha and the flat indices of covered pixels."""

    albedo: torch.Tensor
    normal: torch.Tensor
    features: torch.Tensor
    depth: torch.Tensor
    alpha: torch.Tensor
    occupied: torch.Tensor


@dataclass
class ShadedFrame:
    """Every render's outputs, straight (not premultiplied), channels last, float."""

    rgb: torch.Tensor       # composited over the background
    albedo: torch.Tensor
    shading: torch.Tensor   # diffuse shading (irradiance x occlusion)
    specular: torch.Tensor
    normal: torch.Tensor    # world-space unit normals (0 where empty)
    depth: torch.Tensor     # ray distance (0 where empty)
    alpha: torch.Tensor


class NeuralHeadModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.mapping = MappingNetwork(cfg.latent_dim, cfg.w_dim, cfg.mapping_layers)
        self.expression_mapping = MappingNetwork(cfg.num_expressions, cfg.expression_dim, 2)
        self.generator = TriPlaneGenerator(cfg)
        self.decoder = Decoder(cfg)
        self.gbuffer_channels = 3 + 3 + cfg.shading_features + 1

        def super_resolution():
            return SuperResolution(self.gbuffer_channels, cfg.superres_factor, cfg.superres_channels,
                                   cfg.superres_layers, cfg.num_expressions if cfg.superres_expression else 0)

        self.superres = super_resolution()
        # the drag preview's own, of the same shape (ModelConfig.superres_preview_side)
        self.superres_preview = super_resolution() if cfg.superres_preview_side else None
        self.expression_blend = ExpressionBlend(cfg, cfg.synthesis_channels[-1]) if cfg.expression_blend else None
        self.regions = ExpressionRegions(cfg.num_expressions, cfg.expression_regions, cfg.expression_region_box) \
            if cfg.expression_regions else None
        self.lighting_residual = LightingResidual(cfg)
        self.renderer = VolumeRenderer(6 + cfg.shading_features, cfg.density_grid_resolution)
        self.register_buffer("prior_mean", torch.zeros(cfg.latent_dim))
        self.register_buffer("prior_basis", torch.eye(cfg.latent_dim))

    # -- identity and expression -> tri-planes -------------------------------------------
    def identity_features(self, latent) -> IdentityFeatures:
        """latent (B, latent_dim) -> identity features, style w and expression deltas;
        cache per identity."""
        w = self.mapping(latent)
        return self.identity_from_features(self.generator.identity_features(w), w)

    def identity_from_features(self, features, w) -> IdentityFeatures:
        """The last synthesis features and the style -> everything cached per identity."""
        deltas = self.expression_blend(features, w) if self.expression_blend is not None else None
        neutral = None
        if self.regions is not None:
            if deltas is not None:
                deltas = deltas * self.regions.plane_masks(deltas.shape[-1])
            zero = w.new_zeros(w.shape[0], self.cfg.num_expressions)
            neutral = self.generator.planes(features, w, self.expression_mapping(zero))
        return IdentityFeatures(features, w, deltas, neutral)

    def planes(self, ident: IdentityFeatures, expression):
        """Cached identity features + expression weights (B, E) -> planes (B, 3, C, R, R)."""
        planes = self.generator.planes(ident.features, ident.w, self.expression_mapping(expression))
        if ident.neutral is not None:
            # the generator's expression layers change the planes where some name in use has
            # its region, and nowhere else
            gate = self.regions.plane_gate(expression, planes.shape[-1])
            planes = ident.neutral + gate * (planes - ident.neutral)
        if ident.deltas is not None:
            planes = ExpressionBlend.apply(planes, ident.deltas, expression)
        return planes

    def generate_planes(self, latent, expression):
        return self.planes(self.identity_features(latent), expression)

    # -- per-point queries -----------------------------------------------------------------
    def query(self, planes, points):
        """planes (3, C, R, R), points (N, 3) -> sigma, albedo, normal, features."""
        return self.decoder(sample_triplanes(planes, points))

    def sample_density(self, points, planes):
        """Density at world points (N, 3); for mesh extraction and the occupancy grid."""
        return self.decoder.density(sample_triplanes(planes, points))

    def density_grid(self, planes, resolution: int | None = None) -> DensityGrid:
        """The occupancy grid of the scene box, from the planes resampled onto its lattice
        (the same values as querying every lattice point, a few times cheaper)."""
        g = resolution or self.renderer.grid_resolution
        with torch.no_grad():
            features = lattice_triplane_features(planes, g, SCENE_BOX)
            density = self.decoder.density(features.reshape(-1, features.shape[-1]))
        return DensityGrid.from_density(density.reshape(g, g, g), SCENE_BOX)

    def field(self, planes):
        """The head as a radiance field for the renderer: points -> density and the
        unshaded G-buffer values [albedo, normal, shading features]."""
        def radiance(points):
            sigma, albedo, normal, feats = self.query(planes, points)
            return sigma, torch.cat([albedo, normal, feats], -1)

        return radiance

    def march(self, planes, origins, dirs, plan: SamplingPlan, grid: DensityGrid | None = None,
              chunk: int = 512, generator=None):
        """Rays (N, 3) -> premultiplied [albedo, normal, features] (N, 6+F), alpha, depth x alpha."""
        if grid is None and not plan.naive:
            grid = self.density_grid(planes)
        return self.renderer.march(self.field(planes), lambda p: self.sample_density(p, planes), origins, dirs,
                                   plan, grid, chunk, generator)

    def march_gbuffer(self, planes, origins, dirs, height: int, width: int, plan: SamplingPlan,
                      grid: DensityGrid | None = None, generator=None):
        """The G-buffer at the neural resolution, as marched: (1, 6+F+1, H, W) premultiplied
        [albedo, normal, features, alpha], and depth x alpha (H, W)."""
        out, alpha, depth = self.march(planes, origins, dirs, plan, grid, generator=generator)
        low = torch.cat([out, alpha[:, None]], -1).reshape(height, width, -1).permute(2, 0, 1)[None]
        return low, depth.reshape(height, width)

    def upsample_gbuffer(self, low, depth, expression=None, rays=None) -> GBuffer:
        """Super-resolution of a marched G-buffer to the output size. `expression` (1, E):
        the weights it was rendered with, for a model whose super-resolution reads them;
        `rays` (origins, dirs), each (H*W, 3): the rays it was marched along, for a model
        with expression regions (each name modulates only where its region is)."""
        condition = None
        if self.cfg.superres_expression:
            if expression is None:
                raise ValueError("this model's super-resolution reads the expression: pass it")
            condition = torch.as_tensor(expression, dtype=low.dtype, device=low.device).reshape(1, -1)
            if self.regions is not None:
                if rays is None:
                    raise ValueError("this model's expressions act in regions: pass the rays")
                used = condition[0].nonzero()[:, 0]
                if used.numel():  # (the neutral face: no modulation to place)
                    region = self.regions.pixel_map(rays[0], rays[1], low[0, -1], depth, used)
                    per_pixel = condition.new_zeros(1, condition.shape[1], *depth.shape)
                    per_pixel[0, used] = condition[0, used, None, None] * region.to(low.dtype)
                    condition = per_pixel
        high = self.superres_for(low.shape[-1])(low, condition)[0].permute(1, 2, 0)
        f = self.cfg.shading_features
        s = self.cfg.superres_factor
        h, w = depth.shape
        d_high = F.interpolate(depth.reshape(1, 1, h, w), scale_factor=s, mode="bilinear",
                               align_corners=False)[0, 0] if s > 1 else depth
        a_high = high[..., 6 + f].clamp(0.0, 1.0)
        return GBuffer(high[..., 0:3], high[..., 3:6], high[..., 6:6 + f], a_high, d_high)

    def superres_for(self, side: int) -> SuperResolution:
        """The super-resolution that upsamples a G-buffer `side` neural pixels wide."""
        if self.superres_preview is not None and side <= self.cfg.superres_preview_side:
            return self.superres_preview
        return self.superres

    def render_gbuffer(self, planes, origins, dirs, height: int, width: int, plan: SamplingPlan,
                       grid: DensityGrid | None = None, generator=None, expression=None) -> GBuffer:
        """Low-res march then super-resolution: the unshaded G-buffer at the output size.
        `expression` (1, E): the weights the planes were made with (see upsample_gbuffer)."""
        low, depth = self.march_gbuffer(planes, origins, dirs, height, width, plan, grid, generator)
        return self.upsample_gbuffer(low, depth, expression, (origins, dirs))

    # -- shading -----------------------------------------------------------------------------
    def surface(self, g: GBuffer) -> "Surface":
        """Un-premultiply a G-buffer: everything shading needs that lighting cannot change."""
        alpha = g.alpha
        occupied = alpha > 1e-4
        safe = alpha.clamp_min(1e-4)[..., None]
        m = occupied[..., None]
        return Surface(
            albedo=torch.where(m, (g.albedo / safe).clamp(0.0, 1.0), torch.zeros_like(g.albedo)),
            normal=F.normalize(g.normal, dim=-1, eps=1e-6) * m,
            features=torch.where(m, g.features / safe, torch.zeros_like(g.features)),
            depth=torch.where(occupied, g.depth / alpha.clamp_min(1e-4), torch.zeros_like(alpha)),
            alpha=alpha,
            occupied=occupied.reshape(-1).nonzero()[:, 0],
        )

    def shade(self, s: "Surface", sh, background) -> ShadedFrame:
        """Deferred SH shading: the only step that depends on lighting. Only pixels with
        some surface are shaded; the rest is background."""
        h, w = s.alpha.shape
        idx = s.occupied
        normal = s.normal.reshape(-1, 3)[idx]
        irradiance = sh_irradiance(normal, sh).clamp_min(0.0)
        occlusion, specular_px = self.lighting_residual(s.features.reshape(h * w, -1)[idx], normal, sh)
        shading = s.alpha.new_zeros(h * w, 3).index_copy(0, idx, irradiance * occlusion).reshape(h, w, 3)
        specular = s.alpha.new_zeros(h * w, 3).index_copy(0, idx, specular_px).reshape(h, w, 3)
        a = s.alpha[..., None]
        bg = torch.as_tensor(background, dtype=a.dtype, device=a.device)
        rgb = (s.albedo * shading + specular) * a + (1.0 - a) * bg
        return ShadedFrame(rgb, s.albedo, shading, specular, s.normal, s.depth, s.alpha)

    # -- the prior ---------------------------------------------------------------------------
    def set_prior(self, mean, basis):
        mean = torch.as_tensor(mean, dtype=self.prior_mean.dtype)
        basis = torch.as_tensor(basis, dtype=self.prior_basis.dtype)
        self.prior_mean = mean.to(self.prior_mean.device)
        self.prior_basis = basis.to(self.prior_basis.device)
