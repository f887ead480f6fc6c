"""Fit a photo into a head model: identity code, expression, SH lighting and a fine
orbit camera by gradient descent on the aligned crop, then optionally pivotal tuning
(PTI: the generator's last block, its expression layers and the decoder fine-tuned
around the found code, regularised towards the original weights so novel views and relighting
stay sane).

Objective (per step, at the fit's neural resolution x the model's super-resolution):
- pixels: L1 + (1 - SSIM) between the render over white and the photo's person over
  white (`AlignedFace.mask`);
- silhouette: L1 between the render's alpha and the person mask, above the chin line
  (the mask goes on into the shoulders, the model's box cuts the neck);
- landmarks: the tracker template's 68 points projected by the fitted camera against
  the crop's landmarks (keeps the fine camera where the face is);
- priors: the code's distance from the prior mean, the expression's from the tracker's
  estimate, the camera's from the aligned one.
dlib's face embedding is not differentiable, so it is not a loss term here; it is
what training/fit_eval.py measures.

The identity code is the trainer's auto-decoded kind (training/identity_fit.py fits
the same thing on labelled views); here it starts from whichever of the prior mean and
the model's training codes renders closest to the photo.

`fit_photo(model, face, settings, progress=None, cancel=None) -> FitResult`; progress is
called every `preview_every` steps with a FitProgress (with a preview image); cancel()
returning True stops at once and the best state so far is returned.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from core.camera import DEFAULT_FOCAL, DEFAULT_LOOK_AT, DEFAULT_RADIUS, fov_to_focal
from core.expression import Expression
from core.identity import Identity
from core.lighting import SphericalHarmonicsLighting
from core.fitting.optim import Adam, CosineSchedule
from core.model.head import NeuralHeadModel, SamplingPlan
from core.state import AvatarState, OrbitPose, RenderSettings


@dataclass(frozen=True)
class FitSettings:
    steps: int = 200                 # identity / expression / light / camera steps
    pti_steps: int = 0               # pivotal-tuning steps after them (0: none)
    # x the model's super-resolution = the loss's image size. The model's own (the bundled
    # one trains at 64 -> 256 px): a code fitted at 32 looks different at 64, where the
    # studio renders it (held-out head 1: 22.1 dB at 256 px fitted at 32, 27.5 at 64)
    neural_resolution: int = 64
    band_samples: int = 16
    lr_code: float = 0.04
    lr_expression: float = 0.05
    lr_light: float = 0.02
    lr_camera: float = 0.01          # radians / log-scale / scene units per step (Adam)
    lr_pti: float = 1e-3
    w_l1: float = 1.0
    w_ssim: float = 0.3
    w_silhouette: float = 0.3
    w_landmarks: float = 0.5         # on the mean landmark error in units of the crop's size
    w_code_prior: float = 2e-3
    w_expression_prior: float = 0.02
    w_camera_prior: float = 0.05
    w_pti_weights: float = 1.0       # on the mean squared relative weight change
    w_pti_locality: float = 1.0      # tri-planes of random prior heads: tuned vs original
    pti_superres: bool = True        # tuning also moves the 2D super-resolution: this face's own detail
                                     # (eyes, brows, lips); the astronaut's dlib distance at yaw +-20 went
                                     # 0.70 / 0.65 -> 0.52 / 0.54, held-out heads' novel views held
                                     # (docs/photo-fitting.md). Tuned at the fit's neural resolution.
    pti_superres_lr_factor: float = 0.3   # its rate x lr_pti (at 1.0 it drew fine stripes on the astronaut)
    pick_start: bool = True          # start from the best of prior mean + training codes
    preview_every: int = 10
    seed: int = 0

    def __post_init__(self):
        if self.steps < 0 or self.pti_steps < 0 or self.steps + self.pti_steps < 1:
            raise ValueError("fit: steps and pti_steps must be >= 0 and not both 0")
        if not 8 <= self.neural_resolution <= 256:
            raise ValueError(f"fit: neural_resolution {self.neural_resolution} outside [8, 256]")


# presets: (name -> settings); "default" is meant to stay within three minutes on a 2-core
# CPU (estimated from the per-step cost; see docs/photo-fitting.md)
PRESETS = {
    "fast": FitSettings(steps=80, pti_steps=40, pick_start=False),
    "default": FitSettings(steps=120, pti_steps=60),
    "quality": FitSettings(steps=300, pti_steps=200),
}

# the layers pivotal tuning moves: the last synthesis block, the expression layers and the
# decoder, all of them 3D (the super-resolution is left alone: it is tuned at the fit's
# neural resolution, and avatars render at others)
PTI_PREFIXES = ("generator.blocks.{last}.", "generator.expression_conv.", "generator.to_planes.", "decoder.")
BELOW_CHIN_WEIGHT = 0.3   # pixel weight below the chin line (neck, shoulders)


def pti_parameter_names(model: NeuralHeadModel, superres: bool = False, side: int = 64) -> list[str]:
    """The weights pivotal tuning moves; `superres`: also the super-resolution that
    upsamples G-buffers `side` neural pixels wide (the fit's own size)."""
    last = len(model.generator.blocks) - 1
    prefixes = tuple(p.format(last=last) for p in PTI_PREFIXES) + ((superres_prefix(model, side),) if superres else ())
    return [n for n, _ in model.named_parameters() if n.startswith(prefixes)]


def superres_prefix(model: NeuralHeadModel, side: int) -> str:
    """The parameter-name prefix of the super-resolution a G-buffer `side` pixels wide goes through."""
    return "superres_preview." if model.superres_for(side) is model.superres_preview else "superres."


@dataclass
class FitProgress:
    step: int
    total: int
    stage: str          # "fit" | "pti"
    loss: float
    best_loss: float
    preview: np.ndarray | None = None   # (S, S, 3) float in [0, 1]: the current render
    elapsed_s: float = 0.0


@dataclass
class FitResult:
    latent: np.ndarray
    expression: Expression
    lighting: SphericalHarmonicsLighting
    camera: OrbitPose
    weight_delta: dict = field(default_factory=dict)   # name -> float32 tensor (tuned - original)
    losses: list = field(default_factory=list)         # the photo terms (pixels, silhouette, landmarks) per step
    steps_done: int = 0
    pti_steps_done: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    best_loss: float = float("inf")
    start: str = "prior mean"

    def state(self, resolution: int = 256) -> AvatarState:
        return AvatarState(identity=Identity(self.latent, name="fitted"), expression=self.expression,
                           lighting=self.lighting, camera=self.camera,
                           render=RenderSettings(resolution, "refined", "rgb", (1.0, 1.0, 1.0)))


# -- a differentiable orbit camera ------------------------------------------------------------
def orbit_rays(yaw, pitch, roll, log_focal, look_dx, look_dy, size: int, radius: float = DEFAULT_RADIUS,
               look_at=DEFAULT_LOOK_AT):
    """Rays (origins, dirs) (size*size, 3) of `core.camera.orbit` with torch scalars (angles in
    radians, focal = exp(log_focal), look-at shifted by (dx, dy)), differentiable in all."""
    dev = yaw.device
    target = torch.tensor(look_at, dtype=torch.float32, device=dev) + torch.stack(
        [look_dx, look_dy, torch.zeros_like(look_dx)])
    origin = radius * torch.stack([torch.cos(pitch) * torch.sin(yaw), torch.sin(pitch), torch.cos(pitch) * torch.cos(yaw)])
    forward = F.normalize(target - origin, dim=0)
    up = torch.tensor([0.0, 1.0, 0.0], device=dev)
    right = F.normalize(torch.linalg.cross(forward, up), dim=0)
    down = torch.linalg.cross(forward, right)
    rot = torch.stack([right, down, forward], 1)
    c, s = torch.cos(roll), torch.sin(roll)
    rz = torch.stack([torch.stack([c, -s, torch.zeros_like(c)]), torch.stack([s, c, torch.zeros_like(c)]),
                      torch.tensor([0.0, 0.0, 1.0], device=dev)])
    rot = rot @ rz
    f = torch.exp(log_focal)
    t = (torch.arange(size, dtype=torch.float32, device=dev) + 0.5) / size
    ys, xs = torch.meshgrid(t, t, indexing="ij")
    d_cam = torch.stack([(xs - 0.5) / f, (ys - 0.5) / f, torch.ones_like(xs)], -1).reshape(-1, 3)
    dirs = F.normalize(d_cam @ rot.T, dim=-1)
    return origin.expand_as(dirs), dirs, rot, origin


def project_points(points: torch.Tensor, rot, origin, log_focal, size: int) -> torch.Tensor:
    """World points (N, 3) -> pixels (N, 2) of the orbit camera (rot = cam2world rotation)."""
    cam = (points - origin) @ rot
    f = torch.exp(log_focal)
    return (cam[:, :2] / cam[:, 2:3] * f + 0.5) * size


# -- SSIM -----------------------------------------------------------------------------------------
def _gauss(size=7, sigma=1.5, device="cpu"):
    x = torch.arange(size, dtype=torch.float32, device=device) - size // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None].repeat(3, 1, 1, 1)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of two (H, W, 3) images in [0, 1] (Gaussian window 7, sigma 1.5)."""
    x, y = a.permute(2, 0, 1)[None], b.permute(2, 0, 1)[None]
    w = _gauss(device=a.device)
    mx, my = F.conv2d(x, w, groups=3), F.conv2d(y, w, groups=3)
    sxx = F.conv2d(x * x, w, groups=3) - mx ** 2
    syy = F.conv2d(y * y, w, groups=3) - my ** 2
    sxy = F.conv2d(x * y, w, groups=3) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))
    return s.mean()


# -- the fit ----------------------------------------------------------------------------------------
def _resize(img: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if img.shape[0] == size:
        return img
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if size < img.shape[0] else cv2.INTER_LINEAR)


def _template():
    from core.tracking.face_model import FaceModel

    return FaceModel.load().template


class _Fitter:
    def __init__(self, model: NeuralHeadModel, face, settings: FitSettings):
        self.model = model
        self.s = settings
        self.dev = next(model.parameters()).device
        self.size = settings.neural_resolution * model.cfg.superres_factor
        img = _resize(face.image, self.size)
        mask = _resize(face.mask, self.size)
        self.mask = torch.as_tensor(mask, dtype=torch.float32, device=self.dev)
        self.target = torch.as_tensor(img, dtype=torch.float32, device=self.dev) * self.mask[..., None] + \
            (1 - self.mask[..., None])
        k = self.size / face.size
        self.landmarks = torch.as_tensor(face.landmarks * k, dtype=torch.float32, device=self.dev)
        self.template = torch.as_tensor(_template(), dtype=torch.float32, device=self.dev)
        chin = float(face.landmarks[8, 1] * k)
        brow = float(face.landmarks[19:25, 1].mean() * k)
        rows = torch.arange(self.size, dtype=torch.float32, device=self.dev)[:, None]
        # below the chin line the photo shows a neck and shoulders the model need not have:
        # the silhouette is not compared there and pixels count less
        self.sil_rows = (rows < chin + 0.25 * (chin - brow)).float().expand(self.size, self.size)
        weight = BELOW_CHIN_WEIGHT + (1 - BELOW_CHIN_WEIGHT) * self.sil_rows[..., None]
        self.pixel_weight = weight / weight.mean()
        self.plan = SamplingPlan(band_samples=settings.band_samples, grid_lookups=48, jitter=True)
        self.gen = torch.Generator(device=self.dev).manual_seed(settings.seed)
        names = model.cfg.expression_names
        self.names = names
        e0 = face.expression.with_names(names).values
        self.e0 = torch.as_tensor(e0, dtype=torch.float32, device=self.dev)
        c = face.camera
        self.cam0 = torch.tensor([math.radians(c.yaw), math.radians(c.pitch), math.radians(c.roll),
                                  math.log(fov_to_focal(c.fov)), 0.0, 0.0], dtype=torch.float32, device=self.dev)
        self.mean = model.prior_mean.detach().clone()
        self.code = torch.nn.Parameter(self.mean.clone())
        self.expr_logit = torch.nn.Parameter(torch.logit(self.e0.clamp(0.02, 0.98)))
        self.sh = torch.nn.Parameter(torch.as_tensor(face.lighting.coeffs, dtype=torch.float32, device=self.dev))
        self.cam = torch.nn.Parameter(self.cam0.clone())

    def expression(self):
        return torch.sigmoid(self.expr_logit)

    def render(self, planes, grid=None):
        yaw, pitch, roll, lf, dx, dy = self.cam
        o, d, rot, origin = orbit_rays(yaw, pitch, roll, lf, dx, dy, self.s.neural_resolution)
        m = self.model
        if grid is None:
            with torch.no_grad():
                grid = m.density_grid(planes.detach())
        g = m.render_gbuffer(planes, o, d, self.s.neural_resolution, self.s.neural_resolution, self.plan, grid,
                             generator=self.gen, expression=self.expression()[None])
        surface = m.surface(g)
        frame = m.shade(surface, self.sh, (1.0, 1.0, 1.0))
        return frame, g.alpha, rot, origin

    def loss(self, planes, extra=None):
        frame, alpha, rot, origin = self.render(planes)
        s = self.s
        terms = {"l1": s.w_l1 * ((frame.rgb - self.target).abs() * self.pixel_weight).mean(),
                 "ssim": s.w_ssim * (1 - ssim(frame.rgb, self.target)),
                 "silhouette": s.w_silhouette * ((alpha - self.mask).abs() * self.sil_rows).mean()}
        lm = project_points(self.template, rot, origin, self.cam[3], self.size)
        terms["landmarks"] = s.w_landmarks * (lm - self.landmarks).norm(dim=1).mean() / self.size
        terms["expression_prior"] = s.w_expression_prior * (self.expression() - self.e0).abs().mean()
        terms["camera_prior"] = s.w_camera_prior * (self.cam - self.cam0).pow(2).sum()
        data = terms["l1"] + terms["ssim"] + terms["silhouette"] + terms["landmarks"]
        if extra:
            terms.update(extra)
        return sum(terms.values()), frame.rgb, float(data.detach())

    def planes_of(self, code):
        return self.model.generate_planes(code[None], self.expression()[None])[0]

    def pick_start(self, candidates) -> str:
        best, best_name = None, "prior mean"
        with torch.no_grad():
            for name, c in candidates:
                c = torch.as_tensor(c, dtype=torch.float32, device=self.dev)
                _, _, loss = self.loss(self.planes_of(c))
                if best is None or loss < best:
                    best, best_name = loss, name
                    self.code.data.copy_(c)
        return best_name


def fit_photo(model: NeuralHeadModel, face, settings: FitSettings = FitSettings(),
              progress: Callable[[FitProgress], None] | None = None,
              cancel: Callable[[], bool] | None = None, training_codes=None,
              start_from: FitResult | None = None) -> FitResult:
    """Fit `face` (an AlignedFace) into `model` (its weights are restored afterwards; the
    tuned change is returned as `weight_delta`). See the module's docstring.
    start_from: continue from an earlier result (its code, expression, light, camera;
    not its weight change), e.g. to tune a fit that was made without tuning."""
    t0 = time.perf_counter()
    torch.manual_seed(settings.seed)
    fitter = _Fitter(model, face, settings)
    needs_grad = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    start = "prior mean"
    if start_from is not None:
        fitter.code.data.copy_(torch.as_tensor(start_from.latent, dtype=torch.float32))
        e = torch.as_tensor(start_from.expression.with_names(fitter.names).values, dtype=torch.float32)
        fitter.expr_logit.data.copy_(torch.logit(e.clamp(1e-4, 1 - 1e-4)))
        fitter.sh.data.copy_(torch.as_tensor(start_from.lighting.coeffs, dtype=torch.float32))
        c = start_from.camera
        fitter.cam.data.copy_(torch.tensor([math.radians(c.yaw), math.radians(c.pitch), math.radians(c.roll),
                                            math.log(fov_to_focal(c.fov)), c.look_at[0] - DEFAULT_LOOK_AT[0],
                                            c.look_at[1] - DEFAULT_LOOK_AT[1]], dtype=torch.float32))
        start = "earlier fit"
    elif settings.pick_start and training_codes is not None and len(training_codes):
        start = fitter.pick_start([("prior mean", fitter.mean)] +
                                  [(f"training code {i}", c) for i, c in enumerate(training_codes)])
    total = settings.steps + settings.pti_steps
    losses: list[float] = []
    best = {"loss": float("inf")}
    cancelled = False

    def snapshot(loss, delta=None):
        best.update(loss=loss, code=fitter.code.detach().clone(), expr=fitter.expression().detach().clone(),
                    sh=fitter.sh.detach().clone(), cam=fitter.cam.detach().clone(), delta=delta)

    def report(step, stage, loss, rgb):
        if progress is not None and (step % settings.preview_every == 0 or step == total):
            progress(FitProgress(step, total, stage, loss, best["loss"],
                                 rgb.detach().clamp(0, 1).cpu().numpy(), time.perf_counter() - t0))

    opt = Adam([
        {"params": [fitter.code], "lr": settings.lr_code},
        {"params": [fitter.expr_logit], "lr": settings.lr_expression},
        {"params": [fitter.sh], "lr": settings.lr_light},
        {"params": [fitter.cam], "lr": settings.lr_camera},
    ])
    sched = CosineSchedule(opt, settings.steps) if settings.steps else None
    step = 0
    originals = {}
    try:
        for i in range(settings.steps):
            if cancel is not None and cancel():
                cancelled = True
                break
            planes = fitter.planes_of(fitter.code)
            prior = settings.w_code_prior * (fitter.code - fitter.mean).pow(2).sum()
            loss, rgb, value = fitter.loss(planes, {"code_prior": prior})
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if value < best["loss"]:
                snapshot(value)
            opt.step()
            sched.step()
            losses.append(value)
            step += 1
            report(step, "fit", value, rgb)
        if settings.pti_steps and not cancelled:
            # pivotal tuning around the best code found
            if "code" in best:
                fitter.code.data.copy_(best["code"])
                fitter.expr_logit.data.copy_(torch.logit(best["expr"].clamp(1e-4, 1 - 1e-4)))
                fitter.sh.data.copy_(best["sh"])
                fitter.cam.data.copy_(best["cam"])
            names = pti_parameter_names(model, settings.pti_superres, settings.neural_resolution)
            sr_prefix = superres_prefix(model, settings.neural_resolution)
            params = dict(model.named_parameters())
            originals = {n: params[n].detach().clone() for n in names}
            reference = copy.deepcopy(model)   # the untuned model, for the locality term
            scales = {n: float(originals[n].pow(2).mean().sqrt()) + 1e-3 for n in names}
            tuned = [params[n] for n in names]
            for p in tuned:
                p.requires_grad_(True)
            sr = [params[n] for n in names if n.startswith(sr_prefix)]
            opt2 = Adam([{"params": [params[n] for n in names if not n.startswith(sr_prefix)], "lr": settings.lr_pti},
                         {"params": sr, "lr": settings.lr_pti * settings.pti_superres_lr_factor},
                         {"params": [fitter.sh], "lr": settings.lr_light * 0.3},
                         {"params": [fitter.cam], "lr": settings.lr_camera * 0.3}])
            with torch.no_grad():
                w = model.mapping(fitter.code[None])
                feats_before = _features_before_last(model, w)
                gen = torch.Generator(device=fitter.dev).manual_seed(settings.seed + 1)
            ex = fitter.expression().detach()[None]
            for i in range(settings.pti_steps):
                if cancel is not None and cancel():
                    cancelled = True
                    break
                planes = _planes_from(model, feats_before, w, ex)[0]
                reg = sum((params[n] - originals[n]).pow(2).mean() / scales[n] ** 2 for n in names) / len(names)
                extra = {"pti_weights": settings.w_pti_weights * reg}
                if settings.w_pti_locality > 0 and i % 2 == 0:
                    with torch.no_grad():
                        z = fitter.mean + model.prior_basis @ torch.randn(model.prior_basis.shape[1], generator=gen,
                                                                           device=fitter.dev)
                        w_r = model.mapping(z[None])
                        fb = _features_before_last(model, w_r)
                        ref = _planes_from(reference, fb, w_r, ex)
                    extra["pti_locality"] = settings.w_pti_locality * (
                        _planes_from(model, fb, w_r, ex) - ref).abs().mean() / (ref.abs().mean() + 1e-6)
                loss, rgb, value = fitter.loss(planes, extra)
                opt2.zero_grad(set_to_none=True)
                loss.backward()
                if value < best["loss"]:
                    snapshot(value, {n: (params[n].detach() - originals[n]).clone() for n in names})
                opt2.step()
                losses.append(value)
                step += 1
                report(step, "pti", value, rgb)
    finally:
        with torch.no_grad():
            params = dict(model.named_parameters())
            for n, v in originals.items():
                params[n].copy_(v)
        for p, flag in zip(model.parameters(), needs_grad):
            p.requires_grad_(flag)
        model.train(was_training)
    if "code" not in best:   # cancelled before the first step: the starting point
        snapshot(float("nan"))
    cam = best["cam"].cpu().numpy().astype(np.float64)
    camera = OrbitPose(yaw=math.degrees(cam[0]), pitch=float(np.clip(math.degrees(cam[1]), -89, 89)),
                       roll=math.degrees(cam[2]), fov=_focal_to_fov(math.exp(cam[3])),
                       look_at=(DEFAULT_LOOK_AT[0] + cam[4], DEFAULT_LOOK_AT[1] + cam[5], DEFAULT_LOOK_AT[2]))
    delta = {n: v.float().cpu() for n, v in (best.get("delta") or {}).items()}
    return FitResult(
        latent=best["code"].cpu().numpy().astype(np.float64),
        expression=Expression(fitter.names, best["expr"].cpu().numpy().astype(np.float64).clip(0, 1)),
        lighting=SphericalHarmonicsLighting(best["sh"].cpu().numpy().astype(np.float64)),
        camera=camera, weight_delta=delta, losses=losses,
        steps_done=min(step, settings.steps), pti_steps_done=max(0, step - settings.steps),
        seconds=time.perf_counter() - t0, cancelled=cancelled, best_loss=best["loss"], start=start)


def _focal_to_fov(focal: float) -> float:
    from core.camera import focal_to_fov

    return float(np.clip(focal_to_fov(focal), 1.0, 120.0))


def _features_before_last(model, w):
    """The generator's features before its last synthesis block (fixed while tuning)."""
    from core.model.networks import lrelu

    g = model.generator
    x = g.const.expand(w.shape[0], -1, -1, -1)
    for i, (conv_a, conv_b) in enumerate(g.blocks[:-1]):
        if i > 0:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = lrelu(conv_b(lrelu(conv_a(x, w)), w))
    return x


def _planes_from(model, feats_before, w, ex):
    """Planes from the features before the last block: the last block, the expression
    layers and the blend (what pivotal tuning moves)."""
    from core.model.networks import lrelu

    g = model.generator
    x = feats_before
    if len(g.blocks) > 1:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    conv_a, conv_b = g.blocks[-1]
    x = lrelu(conv_b(lrelu(conv_a(x, w)), w))
    return model.planes(model.identity_from_features(x, w), ex)


def training_codes(provenance: dict | None):
    codes = (provenance or {}).get("identity_codes")
    return np.asarray(codes, dtype=np.float64) if codes else None


def make_avatar(face, result: FitResult, name: str, model_path=None, photo_path=None, settings: FitSettings | None = None,
                model=None):
    """The Avatar of a fit, with its provenance (the photo's sha256, the model's)."""
    from datetime import datetime, timezone

    from core.avatar import Avatar, file_sha256

    model_info = {}
    if model_path is not None and Path(model_path).is_file():
        model_info = {"file": Path(model_path).name, "sha256": file_sha256(model_path)}
    if model is not None:
        model_info["latent_dim"] = int(model.cfg.latent_dim)
    provenance = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "photo": Path(photo_path).name if photo_path else None,
        "photo_sha256": file_sha256(photo_path) if photo_path and Path(photo_path).is_file() else None,
        "photo_box": [float(v) for v in face.box],
        "settings": asdict(settings) if settings is not None else None,
        "steps": result.steps_done, "pti_steps": result.pti_steps_done, "seconds": round(result.seconds, 2),
        "cancelled": result.cancelled, "best_loss": result.best_loss, "start": result.start,
        "first_loss": result.losses[0] if result.losses else None,
    }
    return Avatar(latent=result.latent, expression=result.expression, lighting=result.lighting, camera=result.camera,
                  weight_delta=dict(result.weight_delta), name=name, model=model_info, provenance=provenance,
                  warnings=list(face.warnings))
