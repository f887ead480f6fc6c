"""The reconstruction objective shared by training and identity fitting: render a labelled
view with a given identity code, compare it with the view's image and whatever passes the
dataset has (alpha, albedo, shading, normal)."""
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
    region: float = 0.0     # extra RGB L1 over the eyes, brows and mouth (mean over those pixels)
    shading: float = 0.0    # L1 on the diffuse shading (irradiance x occlusion) against the dataset's
                            # shading pass: says which part of a dark pixel is light and which albedo


def render_sample(model, code, sample, resolution: int, plan: SamplingPlan, generator=None, ident=None,
                  sh_scale=None, camera_correction=None):
    """The model's render of a sample's view with identity `code` (latent_dim,):
    (G-buffer, straight surface, frame over black). `ident`: the code's identity features
    when the caller already has them (several expressions of one head). `sh_scale` (3,):
    a per-channel factor on the sample's SH label. `camera_correction` (4,): a small
    correction of the sample's camera (training/view_refine.py)."""
    low, depth = march_sample(model, code, sample, resolution, plan, generator, ident, camera_correction)
    return finish_sample(model, low, depth, sample, sh_scale, camera_correction)


def march_sample(model, code, sample, resolution: int, plan: SamplingPlan, generator=None, ident=None,
                 camera_correction=None):
    """The first half of render_sample: the view's G-buffer at the neural resolution
    (model.march_gbuffer's (low, depth))."""
    device = code.device
    ex = torch.as_tensor(sample.expression, dtype=torch.float32, device=device)[None]
    if ident is None:
        ident = model.identity_features(code[None])
    planes = model.planes(ident, ex)[0]
    o, d = sample_rays(sample, resolution, camera_correction, device)
    return model.march_gbuffer(planes, o, d, resolution, resolution, plan, generator=generator)


def sample_rays(sample, resolution: int, camera_correction=None, device="cpu"):
    """The rays (origins, dirs) of a sample's view at `resolution`, with a camera correction."""
    if camera_correction is None:
        return tuple(t.to(device) for t in generate_rays(sample.camera, resolution, resolution))
    from training.view_refine import corrected_rays

    return corrected_rays(sample.camera, resolution, camera_correction, device)


def finish_sample(model, low, depth, sample, sh_scale=None, camera_correction=None):
    """The second half of render_sample: super-resolution of a marched G-buffer, then shading
    under the sample's light -> (G-buffer, straight surface, frame over black)."""
    device = low.device
    ex = torch.as_tensor(sample.expression, dtype=torch.float32, device=device)[None]
    rays = None
    if model.regions is not None:  # each name modulates the super-resolution in its region only
        rays = sample_rays(sample, low.shape[-1], camera_correction, device)
    g = model.upsample_gbuffer(low, depth, ex, rays)
    surface = model.surface(g)
    sh = torch.as_tensor(sample.sh, dtype=torch.float32, device=device)
    if sh_scale is not None:
        sh = sh * sh_scale
    frame = model.shade(surface, sh, (0.0, 0.0, 0.0))
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
        if weights.shading > 0 and "shading" in target:  # the pass is premultiplied and clipped to 1
            terms["shading"] = weights.shading * ((frame.shading * a).clamp(0.0, 1.0) - target["shading"]).abs().mean()
        if "normal" in target:  # n x alpha
            terms["normal"] = weights.normal * (surface.normal * a - target["normal"]).abs().mean()
        if weights.region > 0 and "region" in target:
            r = target["region"][..., None]
            terms["region"] = weights.region * ((frame.rgb - image * a_gt).abs() * r).sum() / (3 * r.sum() + 1.0)
    else:
        terms["rgb"] = weights.rgb * (frame.rgb + (1 - a) - image).abs().mean()
    return terms


def expression_change_term(rendered_neutral, rendered_expressive, target_neutral: dict, target_expressive: dict,
                           threshold: float = 0.02, dilate: int = 5, mask: str = "truth"):
    """L1 between the model's image change and the truth's change, from the neutral face
    to the expression (same head, view and light), averaged over the pixels the truth's
    change touches (dilated, so a change the model puts in the wrong place is also seen).
    Colour over black and alpha both count. This is what makes every name learnable: in
    a whole-image average a blink is a few dozen pixels and vanishes.
    mask: truth | union: the pixels the model's own change touches count too, so a broad
    change around the right one (a smile that also moves the cheeks and the nose) costs as
    much as a wrong amplitude inside it | everywhere: every pixel's error is summed, still
    divided by the truth's area, so faint change spread far from the truth's (under the
    threshold, where union does not look) costs as much as a wrong amplitude inside it.
    Measured on v2.5: 60-70 % of the model's eyeWide change, 27-37 % of its blinks', lies
    outside the truth's dilated area."""
    import torch.nn.functional as F

    if mask not in CHANGE_MASKS:
        raise ValueError(f"change mask {mask!r}: use one of {', '.join(CHANGE_MASKS)}")

    def over_black(rendered):
        g, _, frame = rendered
        return torch.cat([frame.rgb, g.alpha[..., None]], -1)

    def truth(t):
        a = t["alpha"][..., None]
        return torch.cat([t["image"] * a, a], -1)

    d_pred = over_black(rendered_expressive) - over_black(rendered_neutral)
    d_true = truth(target_expressive) - truth(target_neutral)
    moved = d_true.abs().amax(-1) > threshold
    if mask == "union":
        moved = moved | (d_pred.detach().abs().amax(-1) > threshold)
    moved = moved.float()[None, None]
    moved = F.max_pool2d(moved, 2 * dilate + 1, stride=1, padding=dilate)[0, 0][..., None]
    error = (d_pred - d_true).abs()
    if mask == "everywhere":
        return error.sum() / (d_true.shape[-1] * moved.sum() + 1.0)
    return (error * moved).sum() / (d_true.shape[-1] * moved.sum() + 1.0)


CHANGE_MASKS = ("truth", "union", "everywhere")
