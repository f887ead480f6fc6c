"""Fit the head model to analytic head shapes (no images needed).

A handful of parametric heads (smooth union of ellipsoids: cranium, face, jaw, nose,
ears, neck; painted skin, hair, eyes, brows and lips) are fitted directly in 3D: density
from a signed distance, albedo and normals near the surface, one auto-decoded identity
code per head. It gives the engine and its benchmark a head-shaped density to work on
before a model trained on rendered images exists, and tests a real fit in seconds.
It learns nothing about expressions or lighting residuals (both stay at their neutral
initialisation).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.model.config import ModelConfig
from core.model.head import NeuralHeadModel


@dataclass(frozen=True)
class ShapeFitConfig:
    heads: int = 6
    steps: int = 400
    points_per_step: int = 8192
    lr: float = 5e-4
    seed: int = 0
    sharpness: float = 0.006  # SDF -> density transition width (scene units)
    max_density: float = 150.0


def _ellipsoid(p, centre, radii):
    q = (p - p.new_tensor(centre)) / p.new_tensor(radii)
    return (q.norm(dim=-1) - 1.0) * min(radii)


def _smooth_min(a, b, k=0.04):
    h = (0.5 + 0.5 * (b - a) / k).clamp(0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


class AnalyticHead:
    """One parametric head: shape and colours drawn from a seed."""

    def __init__(self, seed: int):
        r = np.random.default_rng(seed)
        self.scale = r.uniform(0.8, 0.9)  # the whole head inside EG3D's default framing
        self.jaw = r.uniform(0.85, 1.1)
        self.nose = r.uniform(0.8, 1.3)
        self.cranium_depth = r.uniform(0.95, 1.1)
        tone = r.uniform(0.0, 1.0)  # light to dark skin
        self.skin = np.array([0.93, 0.76, 0.64]) * (1 - tone) + np.array([0.36, 0.22, 0.15]) * tone
        self.hair = np.array(r.choice([[0.08, 0.06, 0.05], [0.35, 0.22, 0.12], [0.75, 0.6, 0.35], [0.55, 0.55, 0.55]]))
        self.hair_line = r.uniform(0.10, 0.16)

    def sdf(self, p):
        s = self.scale
        d = _ellipsoid(p, (0, 0.08 * s, -0.03), (0.18 * s, 0.22 * s, 0.22 * s * self.cranium_depth))
        d = _smooth_min(d, _ellipsoid(p, (0, -0.07 * s, 0.04), (0.14 * s * self.jaw, 0.17 * s, 0.16 * s)))
        d = _smooth_min(d, _ellipsoid(p, (0, -0.01 * s, 0.195 * s), (0.028, 0.06, 0.05 * self.nose)), 0.02)
        for side in (-1, 1):
            d = _smooth_min(d, _ellipsoid(p, (side * 0.18 * s, 0.0, -0.02), (0.03, 0.06, 0.04)), 0.02)
        neck = torch.maximum(
            torch.sqrt(p[:, 0] ** 2 + ((p[:, 2] + 0.04) * 1.1) ** 2) - 0.085 * s, (p[:, 1] + 0.2) - 0.0
        )
        neck = torch.maximum(neck, -0.5 - p[:, 1])
        return _smooth_min(d, neck, 0.05)

    def albedo(self, p):
        s = self.scale
        x, y, z = p[:, 0], p[:, 1], p[:, 2]
        col = p.new_tensor(self.skin).expand(p.shape[0], 3).clone()
        hair = (y > self.hair_line * s) & ((z < 0.09) | (y > self.hair_line * s + 0.03))
        hair = hair | ((z < -0.05) & (y > -0.12))
        col[hair] = p.new_tensor(self.hair)
        for side in (-1, 1):
            eye = ((x - side * 0.062 * s) ** 2 + ((y - 0.035 * s) * 1.6) ** 2 + ((z - 0.17 * s) * 0.5) ** 2) < 0.024 ** 2
            col[eye] = p.new_tensor([0.95, 0.95, 0.93])
            iris = ((x - side * 0.062 * s) ** 2 + (y - 0.035 * s) ** 2 < 0.011 ** 2) & (z > 0.12)
            col[iris] = p.new_tensor([0.2, 0.13, 0.08])
            brow = (abs(x - side * 0.065 * s) < 0.035) & (abs(y - 0.085 * s) < 0.009) & (z > 0.1)
            col[brow] = p.new_tensor(self.hair) * 0.8
        lips = (abs(x) < 0.045) & (abs(y + 0.115 * s) < 0.014) & (z > 0.12)
        col[lips] = p.new_tensor(self.skin) * p.new_tensor([0.95, 0.6, 0.6])
        return col

    def density(self, sdf, sharpness, max_density):
        """A thin shell: sigmoid of the SDF, cut to nothing beyond 4 widths outside, so the
        head has no haze around it (a trained head model has none either)."""
        d = max_density * torch.sigmoid(-sdf / sharpness)
        return torch.where(sdf > 4 * sharpness, torch.zeros_like(d), d)


_FLOOR_LOGIT = -10.0  # density below ~5e-4: empty space


def _softplus_inverse(y):
    y = y.clamp_min(1e-6)
    return (y + torch.log(-torch.expm1(-y))).clamp_min(_FLOOR_LOGIT)


def _sample_points(head: AnalyticHead, n: int, gen: torch.Generator):
    uniform = torch.rand(n // 2, 3, generator=gen) - 0.5
    # near-surface points: project random points onto the zero set, then jitter
    p = (torch.rand(n - n // 2, 3, generator=gen) - 0.5) * 0.8
    for _ in range(3):
        p = p.requires_grad_(True)
        d = head.sdf(p)
        (g,) = torch.autograd.grad(d.sum(), p)
        p = (p - d[:, None] * F.normalize(g, dim=-1)).detach()
    p = p + torch.randn(p.shape, generator=gen) * 0.015
    return torch.cat([uniform, p.clamp(-0.5, 0.5)])


def fit_analytic_heads(model_cfg: ModelConfig, cfg: ShapeFitConfig = ShapeFitConfig(), progress=None):
    """-> (model with fitted prior, identity codes (heads, latent_dim), log dict)."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = NeuralHeadModel(model_cfg)
    heads = [AnalyticHead(cfg.seed * 1000 + i) for i in range(cfg.heads)]
    codes = torch.nn.Parameter(torch.randn(cfg.heads, model_cfg.latent_dim) * 0.5)
    opt = torch.optim.Adam([{"params": model.parameters()}, {"params": [codes], "lr": cfg.lr * 5}], lr=cfg.lr)
    neutral = torch.zeros(1, model_cfg.num_expressions)
    start = time.time()
    log = {}
    for step in range(cfg.steps):
        h = step % cfg.heads
        head = heads[h]
        pts = _sample_points(head, cfg.points_per_step, gen)
        pts.requires_grad_(True)
        sdf = head.sdf(pts)
        (grad,) = torch.autograd.grad(sdf.sum(), pts)
        pts = pts.detach()
        target_sigma = head.density(sdf.detach(), cfg.sharpness, cfg.max_density)
        planes = model.generate_planes(codes[h:h + 1], neutral)[0]
        from core.model.networks import sample_triplanes

        raw = model.decoder.raw(sample_triplanes(planes, pts))
        logit = raw[:, 0] + model.decoder.density_bias
        albedo = torch.sigmoid(raw[:, 1:4])
        normal = F.normalize(raw[:, 4:7], dim=-1, eps=1e-6)
        near = sdf.detach().abs() < 0.03
        # Fit the density logit, not the density: softplus flattens to zero outside, where a
        # loss on the density itself would stop giving gradients.
        target_logit = _softplus_inverse(target_sigma / 10.0)
        floor = target_logit <= _FLOOR_LOGIT
        loss_density = torch.where(floor, F.relu(logit - _FLOOR_LOGIT), (logit - target_logit).abs()).mean()
        loss_albedo = (albedo[near] - head.albedo(pts[near])).abs().mean()
        loss_normal = (1.0 - (normal[near] * F.normalize(grad[near], dim=-1)).sum(-1)).mean()
        loss = loss_density + loss_albedo + 0.3 * loss_normal + 1e-3 * codes.pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()) + [codes], 1.0)
        for g in opt.param_groups:
            g["lr"] = g.get("initial_lr", g.setdefault("initial_lr", g["lr"])) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        opt.step()
        log = {"step": step + 1, "loss": float(loss.detach()), "density": float(loss_density), "albedo": float(loss_albedo),
               "normal": float(loss_normal), "seconds": time.time() - start}
        if progress is not None:
            progress(log)
    from core.identity import IdentityPrior

    prior = IdentityPrior.fit(codes.detach().numpy())
    # Fewer heads than latent dims: keep the spanned directions only (a rank-deficient PCA).
    basis = np.zeros((model_cfg.latent_dim, model_cfg.latent_dim))
    basis[:, : prior.basis.shape[1]] = prior.basis
    model.set_prior(prior.mean, basis)
    return model.eval(), codes.detach(), log


class AnalyticHeadModel(NeuralHeadModel):
    """The fitting target itself, behind the model's interface: renders of it are the
    ground truth a fitted model's renders are compared with (same sampler, same shading)."""

    def __init__(self, cfg: ModelConfig, head: AnalyticHead, fit: ShapeFitConfig = ShapeFitConfig()):
        super().__init__(cfg)
        self.head, self.fit = head, fit

    def query(self, planes, points):
        with torch.enable_grad():
            p = points.detach().requires_grad_(True)
            sdf = self.head.sdf(p)
            (grad,) = torch.autograd.grad(sdf.sum(), p)
        sigma = self.head.density(sdf.detach(), self.fit.sharpness, self.fit.max_density)
        return sigma, self.head.albedo(points), F.normalize(grad, dim=-1), points.new_zeros(points.shape[0], self.cfg.shading_features)

    def sample_density(self, points, planes):
        return self.head.density(self.head.sdf(points), self.fit.sharpness, self.fit.max_density)


def analytic_reference(model: NeuralHeadModel, provenance: dict, index: int = 0) -> AnalyticHeadModel | None:
    """The analytic head a shape-fitted checkpoint's identity `index` was fitted to."""
    info = provenance.get("shape_fit")
    if not info:
        return None
    fit = ShapeFitConfig(**info["config"])
    ref = AnalyticHeadModel(model.cfg, AnalyticHead(fit.seed * 1000 + index), fit)
    ref.superres.load_state_dict(model.superres.state_dict())
    if model.superres_preview is not None:
        ref.superres_preview.load_state_dict(model.superres_preview.state_dict())
    ref.lighting_residual.load_state_dict(model.lighting_residual.state_dict())
    return ref.eval()


def main(argv=None) -> int:
    import argparse
    import platform
    from dataclasses import asdict

    from tqdm import tqdm

    from core.checkpoint import save_checkpoint

    ap = argparse.ArgumentParser(description="Fit the head model to analytic heads (the interim default model).")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=ShapeFitConfig.steps)
    ap.add_argument("--heads", type=int, default=ShapeFitConfig.heads)
    ap.add_argument("--seed", type=int, default=ShapeFitConfig.seed)
    args = ap.parse_args(argv)
    cfg = ShapeFitConfig(heads=args.heads, steps=args.steps, seed=args.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    bar = tqdm(total=cfg.steps, desc="shape fit", unit="step")

    def progress(log):
        bar.update(1)
        bar.set_postfix(loss=f"{log['loss']:.3f}")

    model, codes, log = fit_analytic_heads(ModelConfig(), cfg, progress)
    bar.close()
    provenance = {
        "kind": "interim analytic-head shape fit (not trained on images)",
        "command": f"python -m training.shape_fit --out {args.out} --steps {cfg.steps} --heads {cfg.heads} --seed {cfg.seed}",
        "shape_fit": {"config": asdict(cfg), "final": log},
        "identity_codes": codes.tolist(),
        "default_identity": codes[0].tolist(),
        "machine": f"{platform.machine()} {platform.processor()} torch {torch.__version__} threads {torch.get_num_threads()}",
    }
    save_checkpoint(model, args.out, provenance)
    print(f"wrote {args.out} after {log['seconds']:.0f} s (final loss {log['loss']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
