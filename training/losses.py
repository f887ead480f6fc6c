"""The reconstruction objective shared by training and identity fitting: render a labelled
view with a given identity code, compare it with the view's image and whatever passes the
dataset has (alpha, albedo, normal)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.camera import generate_rays
from core.model.head import SamplingPlan


@dataclass(frozen=True)
class LossWeights:
    rgb: float = 1.0
    albedo: float = 0.5
    normal: float = 0.2
    alpha: float = 0.5


def render_sample(model, code, sample, resolution: int, plan: SamplingPlan, generator=None):
    """The model's render of a sample's view with identity `code` (latent_dim,):
    (G-buffer, straight surface, frame over black)."""
    device = code.device
    ex = torch.as_tensor(sample.expression, dtype=torch.float32, device=device)[None]
    planes = model.generate_planes(code[None], ex)[0]
    o, d = (t.to(device) for t in generate_rays(sample.camera, resolution, resolution))
    g = model.render_gbuffer(planes, o, d, resolution, resolution, plan, generator=generator)
    surface = model.surface(g)
    frame = model.shade(surface, torch.as_tensor(sample.sh, dtype=torch.float32, device=device), (0.0, 0.0, 0.0))
    return g, surface, frame


def reconstruction_terms(rendered, target: dict, weights: LossWeights) -> dict:
    """Weighted L1 terms. With a mask the colour is compared premultiplied (over black);
    without one the dataset's background is assumed to be plain white."""
    g, surface, frame = rendered
    a = g.alpha[..., None]
    image = target["image"]
    terms = {}
    if "alpha" in target:
        a_gt = target["alpha"][..., None]
        terms["rgb"] = weights.rgb * (frame.rgb - image * a_gt).abs().mean()
        terms["alpha"] = weights.alpha * (a - a_gt).abs().mean()
        if "albedo" in target:
            terms["albedo"] = weights.albedo * (g.albedo - target["albedo"]).abs().mean()
        if "normal" in target:  # n x alpha
            terms["normal"] = weights.normal * (surface.normal * a - target["normal"]).abs().mean()
    else:
        terms["rgb"] = weights.rgb * (frame.rgb + (1 - a) - image).abs().mean()
    return terms
