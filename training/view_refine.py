"""Small per-view corrections of a labelled camera, differentiable, for data whose
cameras are estimated rather than known (`avatar-studio prepare` on a video: 2-3 deg
median error). A few degrees move a head's silhouette by several pixels at 256 px,
and with dark hair against a white background that alone costs ~10 dB of PSNR.

A correction is four numbers: a rotation vector (radians) turning the camera about the
look-at point (the same as turning the head about it) and a log focal scale (the crop's
size error). The trainer learns one per sample (`refine_cameras`); `refine_view` fits one
(with the expression) to a held-out frame with the model frozen, the test-time pose
refinement NeRF evaluations use where poses are estimated.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from core.camera import DEFAULT_LOOK_AT, generate_rays

CORRECTION_SIZE = 4   # rotation vector (3) + log focal scale (1)


def rotation_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues: (3,) rotation vector -> (3, 3), differentiable, exact at zero."""
    theta2 = (rotvec * rotvec).sum()
    k = torch.zeros(3, 3, dtype=rotvec.dtype, device=rotvec.device)
    k = k + torch.stack([torch.stack([torch.zeros_like(rotvec[0]), -rotvec[2], rotvec[1]]),
                         torch.stack([rotvec[2], torch.zeros_like(rotvec[0]), -rotvec[0]]),
                         torch.stack([-rotvec[1], rotvec[0], torch.zeros_like(rotvec[0])])])
    theta = torch.sqrt(theta2 + 1e-12)
    # sin(t)/t and (1-cos(t))/t^2 with their series near zero
    a = torch.where(theta2 < 1e-8, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(theta2 < 1e-8, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta2 + 1e-12))
    return torch.eye(3, dtype=rotvec.dtype, device=rotvec.device) + a * k + b * (k @ k)


def corrected_rays(camera, resolution: int, correction: torch.Tensor | None, device="cpu",
                   pivot=DEFAULT_LOOK_AT) -> tuple[torch.Tensor, torch.Tensor]:
    """The camera's rays (origins, directions) with `correction` (4,) applied (None or
    zeros: the camera as labelled)."""
    o, d = generate_rays(camera, resolution, resolution, device=device)
    if correction is None:
        return o, d
    r = torch.as_tensor(camera.cam2world[:3, :3], dtype=torch.float32, device=device)
    d_cam = d @ r                                      # world -> camera
    d_cam = torch.cat([d_cam[:, :2] * torch.exp(-correction[3]), d_cam[:, 2:]], 1)
    d = F.normalize(d_cam @ r.T, dim=-1)
    rot = rotation_matrix(correction[:3])
    p = torch.as_tensor(pivot, dtype=torch.float32, device=device)
    return (o - p) @ rot.T + p, d @ rot.T


def _view_loss(model, code, ident, sample, resolution, plan, gen, correction, sh_scale=None, expression=None,
               gain=None):
    """L1 of the render against the view's image (premultiplied where it has an alpha, over
    white where it has none) + 0.5 x the alpha's L1."""
    from training.losses import render_sample

    dev = code.device
    s = sample if expression is None else LabelledView(sample, expression, sample.sh)
    g, _, frame = render_sample(model, code, s, resolution, plan, gen, ident, sh_scale=sh_scale,
                                camera_correction=correction)
    rgb = frame.rgb if gain is None else frame.rgb * gain
    image = torch.as_tensor(sample.image, dtype=torch.float32, device=dev)
    if image.shape[0] != resolution * model.cfg.superres_factor:
        raise ValueError(f"{sample.name}: image {image.shape[0]} px, the render {resolution * model.cfg.superres_factor}")
    if sample.alpha is not None:
        alpha = torch.as_tensor(sample.alpha, dtype=torch.float32, device=dev)
        return (rgb - image * alpha[..., None]).abs().mean() + 0.5 * (g.alpha - alpha).abs().mean()
    return (rgb + (1 - g.alpha[..., None]) - image).abs().mean()


class _frozen:
    """The model's weights without gradients inside the block (restored after)."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.flags = [p.requires_grad for p in self.model.parameters()]
        for p in self.model.parameters():
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for p, flag in zip(self.model.parameters(), self.flags):
            p.requires_grad_(flag)


def refine_view(model, code: torch.Tensor, sample, resolution: int, steps: int = 40, light_scale=None,
                refine_expression: bool = True, refine_light: bool = True, lr: float = 0.01, seed: int = 0):
    """Fit the labels of one view to its image with the model and the identity code
    frozen: a camera correction, the expression and (added to the SH label) the light.
    Returns (correction (4,), expression (E,) numpy, SH (9, 3) numpy, the loss at the
    start, the best loss)."""
    from core.fitting.optim import Adam, CosineSchedule
    from core.model.head import SamplingPlan

    dev = code.device
    correction = torch.zeros(CORRECTION_SIZE, device=dev, requires_grad=True)
    e0 = torch.as_tensor(sample.expression, dtype=torch.float32, device=dev)
    sh0 = torch.as_tensor(sample.sh, dtype=torch.float32, device=dev).reshape(9, 3)
    logits = torch.logit(e0.clamp(0.02, 0.98)).clone().requires_grad_(refine_expression)
    sh_delta = torch.zeros(9, 3, device=dev, requires_grad=refine_light)
    groups = [{"params": [correction], "lr": lr}]
    if refine_expression:
        groups.append({"params": [logits], "lr": 5 * lr})
    if refine_light:
        groups.append({"params": [sh_delta], "lr": lr})
    opt = Adam(groups)
    sched = CosineSchedule(opt, steps)
    plan = SamplingPlan(band_samples=16, jitter=True)
    gen = torch.Generator(device=dev).manual_seed(seed)
    scale = torch.as_tensor(light_scale, dtype=torch.float32, device=dev) if light_scale is not None else None
    first = float("nan")
    best = (float("inf"), correction.detach().clone(), e0.clone(), sh0.clone())
    with _frozen(model):
        with torch.no_grad():
            ident = model.identity_features(code[None])
        for i in range(steps + 1):
            ex = torch.sigmoid(logits) if refine_expression else e0
            sh = sh0 + sh_delta
            view = LabelledView(sample, ex, sh)
            loss = _view_loss(model, code, ident, view, resolution, plan, gen, correction, scale) + \
                1e-2 * correction[:3].pow(2).sum() + 0.1 * sh_delta.pow(2).mean()
            value = float(loss.detach())
            first = value if i == 0 else first
            if value < best[0]:
                best = (value, correction.detach().clone(), ex.detach().clone(), sh.detach().clone())
            if i == steps:
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return best[1], best[2].cpu().numpy(), best[3].cpu().numpy(), first, best[0]


def align_frame(model, code: torch.Tensor, samples, resolution: int, steps: int = 60, lr: float = 0.01,
                seed: int = 0):
    """One camera correction and one per-channel gain shared by all `samples`: how the
    avatar's frame and brightness sit against another source's labels (an avatar made
    from estimated cameras and lights is only defined up to these: the video cannot
    tell a dark skin under bright light from the reverse). Returns (correction (4,),
    gain (3,))."""
    from core.fitting.optim import Adam, CosineSchedule
    from core.model.head import SamplingPlan

    dev = code.device
    correction = torch.zeros(CORRECTION_SIZE, device=dev, requires_grad=True)
    log_gain = torch.zeros(3, device=dev, requires_grad=True)
    opt = Adam([{"params": [correction], "lr": lr}, {"params": [log_gain], "lr": 2 * lr}])
    sched = CosineSchedule(opt, steps)
    plan = SamplingPlan(band_samples=16, jitter=True)
    gen = torch.Generator(device=dev).manual_seed(seed)
    with _frozen(model):
        with torch.no_grad():
            ident = model.identity_features(code[None])
        for i in range(steps):
            sample = samples[i % len(samples)]
            loss = _view_loss(model, code, ident, sample, resolution, plan, gen, correction,
                              gain=torch.exp(log_gain))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return correction.detach(), torch.exp(log_gain).detach()


class LabelledView:
    """A sample seen with other expression and SH labels (tensors, so gradients reach
    them), everything else its own."""

    def __init__(self, sample, expression, sh):
        self._sample, self.expression, self.sh = sample, expression, sh

    def __getattr__(self, name):
        return getattr(self._sample, name)


def relabelled(sample, sh_delta=None, expression_delta=None):
    """The sample with corrections added to its SH (9, 3) and expression (E,) labels
    (tensors; the expression kept in [0, 1]); the sample itself where both are None."""
    if sh_delta is None and expression_delta is None:
        return sample
    dev = (sh_delta if sh_delta is not None else expression_delta).device
    sh = torch.as_tensor(sample.sh, dtype=torch.float32, device=dev)
    ex = torch.as_tensor(sample.expression, dtype=torch.float32, device=dev)
    if sh_delta is not None:
        sh = sh + sh_delta
    if expression_delta is not None:
        ex = (ex + expression_delta).clamp(0.0, 1.0)
    return LabelledView(sample, ex, sh)
