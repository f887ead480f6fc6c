"""Reconstruction training (MoFaNeRF-style auto-decoded identity codes) on multi-view
labelled data such as the synthetic engine's: RGB, and where the dataset has them albedo,
normal and alpha, supervise the full render path (volume rendering, super-resolution,
SH shading) at a low neural resolution.

Operations: a progress bar with loss and rate, atomic checkpoints every N steps holding
weights, codes, optimiser state, step and RNG state (safetensors + JSON, never pickle), an
exact resume after a kill, SIGINT/SIGTERM save then exit, a usable model checkpoint
(`model.safetensors`, with the identity prior fitted to the codes) beside each one.
"""
from __future__ import annotations

import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as st_save

from core.checkpoint import save_checkpoint
from core.fileio import atomic_write_bytes
from core.identity import IdentityPrior
from core.model.config import ModelConfig
from core.model.head import NeuralHeadModel, SamplingPlan
from training.data import HeadDataset
from training.losses import (CHANGE_MASKS, LossWeights, expression_change_term, finish_sample, march_sample,
                             reconstruction_terms, render_sample)
from training.monitor import TrainingMonitor
from training.overrides import apply_overrides, check_value, field_types


# which weights a run trains (TrainConfig.tune)
TUNE_CHOICES = ("all", "pti", "personal", "superres", "blend")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch: int = 2                    # images per step
    neural_resolution: int = 32
    sampler: str = "naive"            # naive: EG3D stratified + importance; band: the engine's grid-guided band
    coarse_samples: int = 24          # naive sampler
    importance_samples: int = 24
    band_samples: int = 24            # band sampler (jittered while training)
    coarse_steps: int = 0             # first steps: naive sampler at coarse_resolution (geometry settles cheaply)
    coarse_resolution: int = 32
    alternate_resolution: int = 0     # every other step at this neural resolution instead (0: none): one
                                      # super-resolution for the studio's drag preview (neural 32) and its
                                      # refined frame (64); trained at 64 alone it drew streaks at 32
                                      # (measured: 0.7 dB lost at 64; v2.5 has a second network instead,
                                      # ModelConfig.superres_preview_side)
    lr: float = 2e-3
    code_lr: float = 1e-2
    lr_schedule: str = "constant"     # constant | cosine (down to lr_final x the rate at the last step)
    lr_final: float = 0.1
    checkpoint_every: int = 100
    # Stop, keeping the last checkpoint, when the silhouette falls apart: a checkpoint
    # interval whose mean alpha error (unweighted) is over COLLAPSE_ALPHA_FLOOR and this many
    # times the previous interval's. A 128x128-plane run at lr 5e-4 lost its head at step
    # ~1,040 (alpha error 0.002 -> 0.3) and ran on for 1,400 steps, overwriting the last good
    # checkpoint every 100. 0 turns the guard off.
    collapse_guard: float = 10.0
    log_every: int = 25               # TensorBoard scalars (RUN/tb); 0: none
    sample_every: int = 250           # sample renders: TensorBoard image grid + RUN/samples/*.png; 0: none
    seed: int = 0
    weight_rgb: float = 1.0
    weight_albedo: float = 0.5
    weight_normal: float = 0.2
    weight_alpha: float = 0.5
    weight_code: float = 1e-4
    weight_region: float = 0.0        # extra RGB L1 on eyes, brows and mouth (datasets with landmarks)
    weight_shading: float = 0.0       # L1 on the diffuse shading (datasets with a shading pass: the
                                      # synthetic engine's); without it a dark eye can be learned as shadow
    weight_change: float = 0.0        # expression-change loss on paired samples (datasets with view groups):
                                      # each batch item is then a (neutral, expression) pair of one view
    change_mask: str = "truth"        # where the change loss looks: truth (the pixels the truth's change
                                      # touches) | union (also where the model's change is, so a change the
                                      # truth does not have is penalised at full weight) | everywhere (every
                                      # pixel, so faint change far from the truth's costs too: training/losses.py)
    focus_expressions: str = ""       # paired training: comma-separated names whose pairs are drawn
    focus_weight: float = 1.0         # this many times as often (a pair focuses on a name when its
                                      # expressive member has that name at 0.5 or more)
    model: ModelConfig = field(default_factory=ModelConfig)  # the architecture; in JSON an object of
                                      # ModelConfig settings (the rest default); --set model.KEY=VALUE
    init: str = ""                    # start from this head model's weights (same architecture)
    model_from_init: bool = False     # the architecture is `init`'s, whatever `model` says (a fine-tune of
                                      # whichever model the user opened: the personal recipe)
    init_fit_steps: int = 0           # identities `init` has no code for start from a code fitted on 3 of
                                      # their views (the eval's fit, training/identity_fit.py) instead of
                                      # the prior mean: a short fine-tune's code step cannot carry them there
    init_partial: bool = False        # init from a model of another architecture: take the tensors whose
                                      # name and shape match, build the rest fresh (listed in the log)
    tune: str = "all"                 # which weights train: all | pti (the layers photo fitting's pivotal
                                      # tuning moves: the last synthesis block, the expression layers, the
                                      # decoder; a fine-tune on one person keeps the rest of the prior) |
                                      # personal (pti + the super-resolution and the lighting residual: one
                                      # person's detail and shading; the expression blend stays: tuned on
                                      # tracked labels it lost per-name correlation, 0.31 -> 0.20) |
                                      # superres (only the 2D super-resolution: the field and the codes
                                      # are frozen, so every view's marched G-buffer is computed once and
                                      # kept; a step then costs the 2D network alone) | blend (only the
                                      # per-name delta planes: the neutral face cannot move)
    code_steps: int = 0               # the first steps move only the identity codes (and the light scale):
                                      # a new person is first found inside the model's identity space
    learn_light_scale: bool = False   # learn one per-channel scale on the dataset's SH labels (prepare's
                                      # lighting assumes a typical skin albedo: brightness is ambiguous)
    weight_init: float = 0.0          # mean squared relative change of the tuned weights from `init`
    refine_cameras: bool = False      # learn a small correction of every sample's camera (estimated cameras,
                                      # e.g. prepare's: training/view_refine.py)
    refine_lights: bool = False       # ... of every sample's SH label (added to it)
    refine_expressions: bool = False  # ... of every sample's expression label (added, kept in [0, 1])
    camera_lr: float = 3e-3           # the corrections' rate (per visit of the sample: Adam on the visited rows)
    weight_camera: float = 1e-2       # pull of the camera rotations towards the labelled camera
    weight_light_label: float = 1.0   # pull of the SH corrections towards zero (mean square)
    weight_expression_label: float = 0.1  # pull of the expression corrections towards zero (mean square)
    device: str = "auto"              # auto: cuda (this rank's GPU under torchrun) when present, else cpu
    amp: bool = True                  # mixed precision on CUDA (bfloat16 where supported, else float16)

    def __post_init__(self):
        """Every setting of its field's type (ints where floats go become floats); the model
        settings, a JSON object in a config file, become a ModelConfig."""
        for name, tp in field_types(type(self)).items():
            value = getattr(self, name)
            if tp is ModelConfig:
                value = _model_config(value)
            else:
                value = check_value(name, value, tp)
            object.__setattr__(self, name, value)

    @classmethod
    def from_file(cls, path, overrides=()) -> "TrainConfig":
        """Settings from a JSON file (or the defaults), then `KEY=VALUE` overrides, each parsed
        by its field's type (`model.KEY=VALUE` for the ModelConfig settings)."""
        data = {}
        if path:
            try:
                data = json.loads(Path(path).read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise ValueError(f"{path}: not a readable JSON config ({str(e).splitlines()[0]})") from None
            if not isinstance(data, dict):
                raise ValueError(f"{path}: a config is a JSON object of settings")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"{path or 'config'}: unknown training setting(s): {', '.join(unknown)}")
        data = apply_overrides(data, overrides, cls, {"model": ModelConfig})
        try:
            cfg = cls(**data)
        except ValueError as e:
            raise ValueError(f"{path or 'config'}: {e}") from None
        if cfg.sampler not in ("naive", "band"):
            raise ValueError(f"{path or 'config'}: sampler {cfg.sampler!r}: use naive or band")
        if cfg.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"{path or 'config'}: lr_schedule {cfg.lr_schedule!r}: use constant or cosine")
        if cfg.change_mask not in CHANGE_MASKS:
            raise ValueError(f"{path or 'config'}: change_mask {cfg.change_mask!r}: "
                             f"use one of {', '.join(CHANGE_MASKS)}")
        if cfg.tune not in TUNE_CHOICES:
            raise ValueError(f"{path or 'config'}: tune {cfg.tune!r}: use one of {', '.join(TUNE_CHOICES)}")
        if cfg.tune == "superres" and (cfg.refine_cameras or cfg.refine_expressions or cfg.code_steps):
            raise ValueError(f"{path or 'config'}: tune superres keeps every view's marched G-buffer: "
                             "it cannot refine cameras or expressions or move codes (code_steps)")
        if cfg.code_steps < 0 or cfg.code_steps >= max(cfg.steps, 1):
            raise ValueError(f"{path or 'config'}: code_steps {cfg.code_steps}: at least 0 and fewer than steps")
        if cfg.alternate_resolution < 0:
            raise ValueError(f"{path or 'config'}: alternate_resolution {cfg.alternate_resolution}: 0 (none) or a "
                             "neural resolution")
        if not (cfg.focus_weight > 0 and math.isfinite(cfg.focus_weight)):
            raise ValueError(f"{path or 'config'}: focus_weight {cfg.focus_weight}: a finite number above 0")
        return cfg

    def stage(self, step: int) -> tuple[int, SamplingPlan]:
        """(neural resolution, sampling plan) of a step."""
        if step < self.coarse_steps:
            return self.coarse_resolution, SamplingPlan(naive=True, coarse=self.coarse_samples,
                                                        importance=self.importance_samples, jitter=True)
        resolution = self.neural_resolution
        if self.alternate_resolution and step % 2 == 1:
            resolution = self.alternate_resolution
        if self.sampler == "band":
            return resolution, SamplingPlan(band_samples=self.band_samples, jitter=True)
        return resolution, SamplingPlan(naive=True, coarse=self.coarse_samples,
                                        importance=self.importance_samples, jitter=True)

    @property
    def loss_weights(self) -> LossWeights:
        return LossWeights(self.weight_rgb, self.weight_albedo, self.weight_normal, self.weight_alpha,
                           self.weight_region, self.weight_shading)

    def lr_factor(self, step: int) -> float:
        if self.lr_schedule == "constant":
            return 1.0
        t = min(step / max(self.steps - 1, 1), 1.0)
        return self.lr_final + (1.0 - self.lr_final) * 0.5 * (1.0 + math.cos(math.pi * t))


def _model_config(value) -> ModelConfig:
    """TrainConfig.model from a ModelConfig or a JSON object of its settings."""
    if isinstance(value, ModelConfig):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"model takes a JSON object of model settings, got {json.dumps(value)}")
    types = field_types(ModelConfig)
    data = {k: check_value(f"model.{k}", v, types[k]) if k in types else v for k, v in value.items()}
    try:
        return ModelConfig.from_json(data)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model: {str(e).splitlines()[0]}") from None


# Mean alpha L1 below which a run is never called collapsed (a converged head: ~0.002).
COLLAPSE_ALPHA_FLOOR = 0.05


class TrainingCollapsed(RuntimeError):
    """A run whose head fell apart; the last checkpoint before it is kept."""


class Trainer:
    def __init__(self, cfg: TrainConfig, data_dir, run_dir, resume: bool = False):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.model_cfg = cfg.model
        if cfg.model_from_init:
            if not cfg.init:
                raise ValueError("model_from_init: the config names no `init` model")
            from core.checkpoint import read_checkpoint_info

            self.model_cfg = ModelConfig.from_json(read_checkpoint_info(_model_path(cfg.init))["config"])
        size = cfg.neural_resolution * self.model_cfg.superres_factor
        self.data = HeadDataset(data_dir, size, self.model_cfg.expression_names, shading=cfg.weight_shading > 0)
        self.rank, self.world = _init_distributed()
        self.device = _training_device(cfg.device)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.model = NeuralHeadModel(self.model_cfg)
        codes = torch.randn(self.data.n_identities, self.model_cfg.latent_dim) * 0.1
        resuming = resume and self.checkpoint_path.exists()
        if cfg.init:
            self.init_report = _init_from(self.model, codes, self.data.identity_keys, _model_path(cfg.init),
                                          cfg.init_partial)
        # (a resumed run's regions come with its checkpoint)
        if self.model.regions is not None and not resuming and bool((self.model.regions.volume == 1.0).all()):
            self._fill_regions(data_dir)
        # (a resumed run's codes come with its checkpoint)
        if cfg.init and cfg.init_fit_steps > 0 and not resuming:
            self._fit_new_codes(codes, self.init_report["codes_missing"], cfg.init_fit_steps)
        self.paired = cfg.weight_change > 0
        if self.paired and not self.data.groups:
            raise ValueError(f"{data_dir}: weight_change needs a dataset with view groups "
                             f"(synth --expression-variants 2 or more)")
        self.pair_weights = self._pair_weights() if self.paired and cfg.focus_expressions else None
        self.codes = torch.nn.Parameter(codes.to(self.device))
        self.model.to(self.device)
        named = dict(self.model.named_parameters())
        if cfg.tune in ("pti", "personal"):
            from core.fitting.fit import pti_parameter_names

            self.tuned_names = pti_parameter_names(self.model, superres=cfg.tune == "personal",
                                                   side=cfg.neural_resolution)
            if cfg.tune == "personal":
                self.tuned_names += [n for n in named if n.startswith("lighting_residual.")]
        elif cfg.tune == "superres":
            self.tuned_names = [n for n in named if n.startswith(("superres.", "superres_preview."))]
        elif cfg.tune == "blend":
            self.tuned_names = [n for n in named if n.startswith("expression_blend.")]
            if not self.tuned_names:
                raise ValueError("tune blend: this model has no expression_blend (model.expression_blend=true)")
        else:
            self.tuned_names = list(named)
        for name, p in named.items():
            p.requires_grad_(name in self.tuned_names)
        # the weights a fine-tune starts from (weight_init pulls the tuned ones back towards them)
        self.init_weights = {n: named[n].detach().clone() for n in self.tuned_names} if cfg.weight_init > 0 else {}
        self.light_log_scale = torch.nn.Parameter(torch.zeros(3, device=self.device))
        from training.view_refine import CORRECTION_SIZE

        # per-sample label corrections (camera 4, SH 27, expression E), stepped only where a step
        # saw the sample (a sample is seen every hundred steps or so; Adam over all rows would
        # keep moving the unseen ones)
        self.n_expr = len(self.model_cfg.expression_names)
        self.label_corrections = torch.zeros(len(self.data), CORRECTION_SIZE + 27 + self.n_expr, device=self.device)
        self._label_moments = (torch.zeros_like(self.label_corrections), torch.zeros_like(self.label_corrections),
                               torch.zeros(len(self.data), device=self.device))
        self.sample_index = {s.name: i for i, s in enumerate(self.data.samples)}
        self._marched = {}  # tune superres: (sample index, neural resolution) -> its marched G-buffer
        self._label_rows: dict[int, torch.Tensor] = {}
        self.opt = torch.optim.Adam([{"params": [named[n] for n in self.tuned_names], "lr": cfg.lr},
                                     {"params": [self.codes], "lr": cfg.code_lr},
                                     {"params": [self.light_log_scale], "lr": cfg.code_lr}])
        # each rank its own images; on the device, because ray jitter is drawn there
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1000 * self.rank)
        cuda = self.device.type == "cuda"
        self.amp_dtype = None
        if cuda and cfg.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.step = 0
        self.stop_requested = False
        self.interval_alpha_error = None  # mean alpha error of the last checkpoint interval (collapse_guard)
        if resuming:
            self._load()

    def _fit_new_codes(self, codes, missing, steps):
        """Codes for the identities the init model did not know: each fitted on 3 of its
        views (different views, not expression variants of one) with the network frozen."""
        from training.identity_fit import IdentityFitConfig, fit_identity_code

        start = time.perf_counter()
        for n, i in enumerate(missing):
            views, groups = [], set()
            for sample in self.data.samples:
                if sample.identity == i and (sample.group is None or sample.group not in groups):
                    views.append(sample)
                    groups.add(sample.group)
            views = views[::max(len(views) // 3, 1)][:3]
            code, _ = fit_identity_code(self.model, views, self.data.targets, IdentityFitConfig(steps=steps))
            codes[i] = torch.as_tensor(code, dtype=codes.dtype)
            print(f"fitted a code for new identity {self.data.identity_keys[i]} ({n + 1}/{len(missing)}, "
                  f"{time.perf_counter() - start:.0f} s)", flush=True)

    def _fill_regions(self, data_dir):
        """A model with expression regions that has none yet (a new model, or one grown from
        a model without): each name's region from where the synthetic engine moves the
        training heads (training/expression_regions.py)."""
        from training.expression_regions import RegionConfig, engine_expression_regions
        from training.synth.identity import HeadIdentity

        parameters = self.data.identity_parameters
        if not parameters or any(p is None for p in parameters):
            raise ValueError(f"{data_dir}: model.expression_regions needs the synthetic engine's head parameters "
                             f"(a synth dataset), or an init model that has its regions")
        cfg = RegionConfig(resolution=self.model_cfg.expression_regions, box=self.model_cfg.expression_region_box)
        volume = engine_expression_regions(self.model_cfg.expression_names,
                                           [HeadIdentity.from_json(p) for p in parameters], cfg)
        self.model.regions.set_volume(volume)
        print(f"expression regions from {len(parameters)} synthetic heads: "
              f"{float(volume.mean()) * 100:.1f}% of the region box on average")

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.safetensors"

    # -- one step ----------------------------------------------------------------------------
    @property
    def refines_labels(self) -> bool:
        return self.cfg.refine_cameras or self.cfg.refine_lights or self.cfg.refine_expressions

    def render(self, sample, resolution: int, plan: SamplingPlan, ident=None):
        from training.view_refine import CORRECTION_SIZE, relabelled

        scale = torch.exp(self.light_log_scale) if self.cfg.learn_light_scale else None
        camera = None
        if self.refines_labels:
            i = self.sample_index[sample.name]
            row = self.label_corrections[i].clone().requires_grad_(True)
            self._label_rows[i] = row
            camera = row[:CORRECTION_SIZE] if self.cfg.refine_cameras else None
            sh = row[CORRECTION_SIZE:CORRECTION_SIZE + 27].reshape(9, 3) if self.cfg.refine_lights else None
            ex = row[CORRECTION_SIZE + 27:] if self.cfg.refine_expressions else None
            sample = relabelled(sample, sh_delta=sh, expression_delta=ex)
        if self.cfg.tune == "superres":
            return finish_sample(self.model, *self._marched_gbuffer(sample, resolution, plan), sample, scale)
        return render_sample(self.model, self.codes[sample.identity], sample, resolution, plan, self.gen, ident,
                             sh_scale=scale, camera_correction=camera)

    def _marched_gbuffer(self, sample, resolution: int, plan: SamplingPlan):
        """tune superres: the sample's G-buffer at the neural resolution, marched once without
        jitter (the field and the codes do not move) and kept (64 x 64: 0.25 MB a view)."""
        key = (self.sample_index[sample.name], resolution)
        hit = self._marched.get(key)
        if hit is None:
            with torch.no_grad():
                hit = march_sample(self.model, self.codes[sample.identity].detach(), sample, resolution,
                                   replace(plan, jitter=False))
            self._marched[key] = hit
        return hit

    def _step_labels(self):
        """Adam on the label corrections of the samples this step saw (lazy: the other rows
        and their moments stay as they are), with their pulls towards the labels."""
        from training.view_refine import CORRECTION_SIZE

        b1, b2, eps = 0.9, 0.999, 1e-8
        m, v, t = self._label_moments
        pull = torch.zeros(self.label_corrections.shape[1], device=self.device)
        pull[:3] = 2 * self.cfg.weight_camera
        pull[CORRECTION_SIZE:CORRECTION_SIZE + 27] = 2 * self.cfg.weight_light_label / 27
        pull[CORRECTION_SIZE + 27:] = 2 * self.cfg.weight_expression_label / self.n_expr
        for i, row in self._label_rows.items():
            if row.grad is None:
                continue
            g = row.grad.detach() + pull * row.detach()
            t[i] += 1
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            step = self.cfg.camera_lr * (m[i] / (1 - b1 ** t[i])) / ((v[i] / (1 - b2 ** t[i])).sqrt() + eps)
            self.label_corrections[i] -= step * (row.grad != 0)   # parts not refined stay zero
        self._label_rows = {}

    def loss_for(self, sample) -> tuple[torch.Tensor, dict]:
        cfg = self.cfg
        resolution, plan = cfg.stage(self.step)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            rendered = self.render(sample, resolution, plan)
        target = {k: v.to(self.device) for k, v in self.data.targets(sample, rendered[0].alpha.shape[0]).items()}
        terms = reconstruction_terms(rendered, target, cfg.loss_weights)
        terms["code"] = cfg.weight_code * self.codes[sample.identity].pow(2).mean()
        if self.init_weights and self.step >= cfg.code_steps:
            terms["init"] = cfg.weight_init * self._weight_change()
        total = sum(terms.values())
        return total, {k: float(v.detach()) for k, v in terms.items()}

    def pair_loss_for(self, neutral, expressive) -> tuple[torch.Tensor, dict]:
        """Both members' reconstruction terms (averaged) plus the expression-change term."""
        cfg = self.cfg
        resolution, plan = cfg.stage(self.step)
        rendered, targets, total, logs = [], [], 0.0, {}
        ident = None
        if self.cfg.tune != "superres":   # (tune superres marches nothing after the first visit)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                ident = self.model.identity_features(self.codes[neutral.identity][None])  # one synthesis per pair
        for sample in (neutral, expressive):
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                r = self.render(sample, resolution, plan, ident)
            t = {k: v.to(self.device) for k, v in self.data.targets(sample, r[0].alpha.shape[0]).items()}
            terms = reconstruction_terms(r, t, cfg.loss_weights)
            for k, v in terms.items():
                total = total + 0.5 * v
                logs[k] = logs.get(k, 0.0) + 0.5 * float(v.detach())
            rendered.append(r)
            targets.append(t)
        change = cfg.weight_change * expression_change_term(rendered[0], rendered[1], targets[0], targets[1],
                                                           mask=cfg.change_mask)
        code = cfg.weight_code * self.codes[neutral.identity].pow(2).mean()
        logs["change"], logs["code"] = float(change.detach()), float(code.detach())
        return total + change + code, logs

    def _weight_change(self) -> torch.Tensor:
        """Mean over the tuned tensors of their squared change from `init`, relative to the
        tensor's own size (PTI's regulariser: the prior's other people and expressions stay)."""
        named = dict(self.model.named_parameters())
        total = 0.0
        for n, w0 in self.init_weights.items():
            total = total + (named[n] - w0).pow(2).mean() / (w0.pow(2).mean() + 1e-6)
        return total / len(self.init_weights)

    def _pair_weights(self):
        """(group, member) pairs and how often each is drawn (focus_expressions)."""
        names = list(self.model_cfg.expression_names)
        focus = [n.strip() for n in self.cfg.focus_expressions.split(",") if n.strip()]
        unknown = [n for n in focus if n not in names]
        if unknown:
            raise ValueError(f"focus_expressions: {', '.join(unknown)} not among the model's expression names")
        cols = [names.index(n) for n in focus]
        pairs, weights = [], []
        for g, members in enumerate(self.data.groups):
            for m in range(1, len(members)):
                pairs.append((g, m))
                hit = np.any(self.data.samples[members[m]].expression[cols] >= 0.5)
                weights.append(self.cfg.focus_weight if hit else 1.0)
        return pairs, torch.tensor(weights, dtype=torch.float64)

    def train_step(self) -> dict:
        n_items = len(self.data.groups) if self.paired else len(self.data)
        if self.pair_weights is not None:
            pairs, weights = self.pair_weights
            idx = torch.multinomial(weights.to(self.device), self.cfg.batch, replacement=True, generator=self.gen)
        else:
            idx = torch.randint(n_items, (self.cfg.batch,), generator=self.gen, device=self.device)
        factor = self.cfg.lr_factor(self.step)
        weights_train = self.step >= self.cfg.code_steps
        # superres keeps marched G-buffers; blend keeps the neutral face: the codes stay
        code_lr = 0.0 if self.cfg.tune in ("superres", "blend") else self.cfg.code_lr
        for group, base in zip(self.opt.param_groups, (self.cfg.lr if weights_train else 0.0, code_lr,
                                                       self.cfg.code_lr if self.cfg.learn_light_scale else 0.0)):
            group["lr"] = base * factor
        named = dict(self.model.named_parameters())
        for n in self.tuned_names:   # no weight gradients while only the codes move
            named[n].requires_grad_(weights_train)
        self.opt.zero_grad(set_to_none=True)
        logs = {}
        for i in idx.tolist():
            if self.pair_weights is not None:
                g, pick = self.pair_weights[0][i]
                members = self.data.groups[g]
                loss, terms = self.pair_loss_for(self.data.samples[members[0]], self.data.samples[members[pick]])
            elif self.paired:
                members = self.data.groups[i]
                pick = 1 + int(torch.randint(len(members) - 1, (1,), generator=self.gen, device=self.device))
                loss, terms = self.pair_loss_for(self.data.samples[members[0]], self.data.samples[members[pick]])
            else:
                loss, terms = self.loss_for(self.data.samples[i])
            self.scaler.scale(loss / self.cfg.batch).backward()
            for k, v in terms.items():
                logs[k] = logs.get(k, 0.0) + v / self.cfg.batch
        if self.world > 1:  # data parallel: average the gradients of all ranks (what DDP does)
            _average_gradients(list(self.model.parameters()) + [self.codes, self.light_log_scale], self.world)
        self.scaler.unscale_(self.opt)
        torch.nn.utils.clip_grad_norm_(list(self.model.parameters()) + [self.codes, self.light_log_scale], 1.0)
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.refines_labels:
            self._step_labels()
        self.step += 1
        logs["loss"] = sum(v for k, v in logs.items())
        logs["lr"] = self.cfg.lr * factor
        return logs

    # -- the loop ----------------------------------------------------------------------------
    def run(self, progress: bool = True) -> dict:
        from tqdm import tqdm

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, self._request_stop)
            except ValueError:  # not the main thread
                pass
        start, logs, alpha_errors = time.time(), {}, []
        bar = tqdm(total=self.cfg.steps, initial=self.step, unit="step", desc="train",
                   disable=not progress or self.rank != 0)
        monitor = TrainingMonitor(self) if self.rank == 0 else None
        try:
            while self.step < self.cfg.steps and not self._should_stop():
                logs = self.train_step()
                bar.update(1)
                bar.set_postfix(loss=f"{logs['loss']:.4f}", res=self.cfg.stage(self.step - 1)[0])
                if monitor is not None:
                    monitor.after_step(logs)
                if "alpha" in logs and self.cfg.weight_alpha > 0:
                    alpha_errors.append(logs["alpha"] / self.cfg.weight_alpha)
                if self.step % self.cfg.checkpoint_every == 0 or self.step == self.cfg.steps:
                    self._check_collapse(alpha_errors)
                    alpha_errors = []
                    self.save()
            if self.stop_requested:
                self.save()
        finally:
            bar.close()
            if monitor is not None:
                monitor.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return {"step": self.step, "seconds": time.time() - start, **logs}

    def _check_collapse(self, alpha_errors: list):
        if not alpha_errors:
            return
        mean = float(np.mean(alpha_errors))
        before, self.interval_alpha_error = self.interval_alpha_error, mean
        guard = self.cfg.collapse_guard
        if guard > 0 and before is not None and mean > COLLAPSE_ALPHA_FLOOR and mean > guard * before:
            last = self.step - len(alpha_errors)
            raise TrainingCollapsed(
                f"step {self.step}: the head is falling apart (alpha error {mean:.3f} over the last "
                f"{len(alpha_errors)} steps, {before:.4f} before); the checkpoint of step {last} is kept: "
                f"lower lr and --resume (collapse_guard=0 turns this check off)")

    def _request_stop(self, *_):
        self.stop_requested = True

    def _should_stop(self) -> bool:
        """Every rank stops at the same step if any of them was asked to."""
        if self.world > 1:
            import torch.distributed as dist

            flag = torch.tensor([1.0 if self.stop_requested else 0.0])
            dist.all_reduce(flag)
            self.stop_requested = bool(flag.item() > 0)
        return self.stop_requested

    # -- checkpoints ----------------------------------------------------------------------------
    def save(self):
        if self.rank != 0:  # every rank holds the same weights; one writes them
            return
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        tensors["codes"] = self.codes.detach().cpu().contiguous()
        params = list(self.model.parameters()) + [self.codes, self.light_log_scale]
        for i, p in enumerate(params):
            for key, value in self.opt.state.get(p, {}).items():
                tensors[f"optim.{i}.{key}"] = torch.as_tensor(value).detach().cpu().clone().contiguous()
        tensors["rng.torch"] = self.gen.get_state()
        tensors["light_log_scale"] = self.light_log_scale.detach().cpu().contiguous()
        tensors["label_corrections"] = self.label_corrections.cpu().contiguous()
        for name, value in zip(("m", "v", "t"), self._label_moments):
            tensors[f"label_moments.{name}"] = value.cpu().contiguous()
        meta = {"format": "avatar-studio/training-state", "step": str(self.step),
                "train_config": json.dumps(asdict(self.cfg)), "model_config": json.dumps(self.model_cfg.to_json())}
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.checkpoint_path, st_save(tensors, metadata=meta))
        # a model the studio can open, with the identity prior fitted to the learned codes
        prior = IdentityPrior.fit(self.codes.detach().cpu().numpy())
        basis = np.zeros((self.model_cfg.latent_dim, self.model_cfg.latent_dim))
        basis[:, :prior.basis.shape[1]] = prior.basis
        self.model.set_prior(prior.mean, basis)
        save_checkpoint(self.model, self.run_dir / "model.safetensors", {
            "kind": "reconstruction training", "step": self.step, "train_config": asdict(self.cfg),
            "identity_codes": self.codes.detach().cpu().tolist(), "default_identity": self.codes[0].detach().cpu().tolist(),
            "identity_ids": self.data.identity_keys,
            # the learnt per-channel scale on the training data's SH labels (1 where not learnt)
            "light_scale": torch.exp(self.light_log_scale).detach().cpu().tolist(),
            # refine_cameras / lights / expressions: each sample's learnt label correction by image
            # name: camera (rotation vector in radians about the look-at point, log focal scale),
            # SH (27, added), expression (one per name, added)
            "label_corrections": ({s.name: [round(float(x), 6) for x in c] for s, c in
                                   zip(self.data.samples, self.label_corrections.cpu())}
                                  if self.refines_labels else None)})

    def _load(self):
        path = self.checkpoint_path
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata()
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:
            raise ValueError(f"{path}: unreadable training checkpoint ({str(e).splitlines()[0]})") from None
        if ModelConfig.from_json(json.loads(meta["model_config"])) != self.model_cfg:
            raise ValueError(f"{path}: made with another model configuration; use a new --out")
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        with torch.no_grad():
            if tensors["codes"].shape != self.codes.shape:
                raise ValueError(f"{path}: its identity codes do not match this dataset")
            self.codes.copy_(tensors["codes"])
            if "light_log_scale" in tensors:
                self.light_log_scale.copy_(tensors["light_log_scale"])
            if "label_corrections" in tensors and tensors["label_corrections"].shape == self.label_corrections.shape:
                self.label_corrections.copy_(tensors["label_corrections"])
                for name, value in zip(("m", "v", "t"), self._label_moments):
                    value.copy_(tensors[f"label_moments.{name}"])
        params = list(self.model.parameters()) + [self.codes, self.light_log_scale]
        for i, p in enumerate(params):
            state = {key.split(".", 2)[2]: (v if key.endswith(".step") else v.to(self.device))
                     for key, v in tensors.items() if key.startswith(f"optim.{i}.")}
            if state:
                self.opt.state[p] = state
        self.gen.set_state(tensors["rng.torch"])
        self.step = int(meta["step"])


def _model_path(path: str) -> Path:
    """A recipe's `init`: as given, or (a recipe naming the bundled model from the source
    tree, run from another folder or an installed wheel) the bundled model itself."""
    from core.checkpoint import DEFAULT_MODEL

    p = Path(path)
    if not p.exists() and p.as_posix() == "assets/" + DEFAULT_MODEL.name:
        return DEFAULT_MODEL
    return p


def _init_from(model, codes, identity_keys, path, partial: bool) -> dict:
    """Start from another head model: its weights (the same architecture, or with
    `partial` every tensor whose name and shape match: a new architecture's added parts
    start as they were built, e.g. at zero), and the codes of identities that model was
    trained on (matched by identity key). Returns what was and was not taken, for the log."""
    from core.checkpoint import load_checkpoint

    init_model, provenance = load_checkpoint(path)
    if not partial and init_model.cfg != model.cfg:
        raise ValueError(f"{path}: its architecture differs from this training's model settings "
                         f"(set init_partial to start from the parts that match)")
    if init_model.cfg.expression_names != model.cfg.expression_names:
        raise ValueError(f"{path}: its expression names differ from this training's model")
    source, target = init_model.state_dict(), model.state_dict()
    taken = {k: v for k, v in source.items() if k in target and tuple(v.shape) == tuple(target[k].shape)}
    # a preview super-resolution the init model lacks starts as a copy of its main one
    # (the same network, then tuned at the preview's size)
    if partial:
        for k, v in source.items():
            twin = "superres_preview." + k.removeprefix("superres.")
            if k.startswith("superres.") and twin in target and twin not in source \
                    and tuple(v.shape) == tuple(target[twin].shape):
                taken[twin] = v
    fresh = sorted(set(target) - set(taken))
    model.load_state_dict({**target, **taken})
    known = dict(zip(provenance.get("identity_ids") or [], provenance.get("identity_codes") or []))
    matched, missing = 0, []
    for i, key in enumerate(identity_keys):
        if key in known and len(known[key]) == codes.shape[1]:
            codes[i] = torch.as_tensor(known[key], dtype=codes.dtype)
            matched += 1
            continue
        missing.append(i)
        if init_model.prior_mean.shape[0] == codes.shape[1]:
            # a person the model has not seen starts at its identity prior's mean
            codes[i] = init_model.prior_mean.to(codes.dtype)
    report = {"tensors_taken": len(taken), "tensors_fresh": fresh, "codes_taken": matched, "codes_missing": missing}
    print(f"init from {path}: {len(taken)} tensors taken, {len(fresh)} new"
          f"{' (' + ', '.join(fresh[:6]) + (', ...' if len(fresh) > 6 else '') + ')' if fresh else ''}; "
          f"{matched} of {len(identity_keys)} identity codes taken")
    return report


def _training_device(name: str) -> torch.device:
    """The project's device choice (core.engine.select_device); under torchrun each rank
    takes its own GPU."""
    from core.engine import select_device

    try:
        device = select_device(name)
    except ValueError as e:
        raise ValueError(f"training {e}") from None
    if device.type == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def _init_distributed() -> tuple[int, int]:
    """(rank, world size); joins the torchrun group when launched by torchrun
    (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _average_gradients(params, world: int):
    import torch.distributed as dist

    params = [p for p in params if p.requires_grad]   # frozen weights (tune, code_steps) have none
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n
