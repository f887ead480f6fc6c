"""A personal avatar from a video (or photos) of one person: `prepare` the frames, then
fine-tune a head model on them with the personal recipe. What the studio's File > New
avatar from video runs (in a child process, app/video_avatar.py); the command line does
the same in two commands (`avatar-studio prepare`, then `avatar-studio train --config
training/recipes/personal.json`).

Everything lands in one work folder, and a second call with the same folder resumes:
prepare skips the frames it has done, the trainer continues from its checkpoint.

    WORK/prepared/   the dataset (core/dataprep/prepare.py)
    WORK/run/        checkpoint.safetensors, model.safetensors (the personal model)
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

RECIPE = Path(__file__).with_name("recipes") / "personal.json"
PREVIEW_EVERY = 100   # training steps between preview renders


def personal_config(init_model, recipe=RECIPE, overrides=()):
    """The personal recipe's TrainConfig, starting from `init_model`."""
    from training.trainer import TrainConfig

    cfg = TrainConfig.from_file(recipe, overrides)
    return replace(cfg, init=str(init_model))


def make_personal_avatar(inputs, work, init_model, every: int = 2, recipe=RECIPE, overrides=(), progress=None,
                         cancel=None, preview=None) -> dict:
    """Prepare `inputs` (videos, photos, folders) into WORK/prepared and fine-tune
    `init_model` on them into WORK/run/model.safetensors.

    progress(stage, done, total, text), cancel() -> bool, preview(stage, rgb uint8): optional.
    A cancel stops at the next frame or step with everything so far saved (a later call
    resumes). Returns {"model": path or None, "cancelled": bool, "prepare": report,
    "steps": done, "seconds": s}. Raises PrepareError / ValueError with one line."""
    from core.dataprep.prepare import PrepareSettings, prepare

    work = Path(work)
    t0 = time.time()
    cancelled = cancel or (lambda: False)
    report = prepare([Path(p) for p in inputs], work / "prepared", PrepareSettings(every=every),
                     progress=(lambda d, t, text: progress("prepare", d, t, text)) if progress else None,
                     cancel=cancel,
                     preview=(lambda crop: preview("prepare", crop)) if preview else None)
    if cancelled() or report.get("cancelled"):
        return {"model": None, "cancelled": True, "prepare": report, "steps": 0, "seconds": time.time() - t0}
    from training.trainer import Trainer

    cfg = personal_config(init_model, recipe, overrides)
    run = work / "run"
    trainer = Trainer(cfg, work / "prepared", run, resume=True)
    first = trainer.data.samples[0]
    while trainer.step < cfg.steps:
        if cancelled():
            trainer.save()
            return {"model": str(run / "model.safetensors"), "cancelled": True, "prepare": report,
                    "steps": trainer.step, "seconds": time.time() - t0}
        logs = trainer.train_step()
        if trainer.step % cfg.checkpoint_every == 0 or trainer.step == cfg.steps:
            trainer.save()
        if progress:
            progress("train", trainer.step, cfg.steps, f"step {trainer.step}/{cfg.steps}, loss {logs['loss']:.4f}")
        if preview and (trainer.step % PREVIEW_EVERY == 0 or trainer.step == cfg.steps):
            preview("train", _preview(trainer, first))
    (run / "personal.json").write_text(json.dumps({"inputs": [str(p) for p in inputs], "every": every,
                                                   "init": str(init_model), "steps": trainer.step}, indent=1))
    return {"model": str(run / "model.safetensors"), "cancelled": False, "prepare": report, "steps": trainer.step,
            "seconds": time.time() - t0}


def run_with_messages(inputs, work, init_model, every, overrides, messages, stop):
    """make_personal_avatar in a child process (the studio's File > New avatar from video):
    progress, previews and the end go to the `messages` queue as tuples
    ("progress", stage, done, total, text), ("preview", stage, rgb uint8), ("done", result)
    or ("error", one line); `stop` (an Event) cancels."""
    import os

    import torch

    # the studio keeps rendering beside it: leave it a core
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    last = [0.0]

    def progress(stage, done, total, text):
        now = time.monotonic()
        if now - last[0] > 0.2 or done == total:
            last[0] = now
            messages.put(("progress", stage, done, total, text))

    try:
        out = make_personal_avatar(inputs, work, init_model, every=every, overrides=overrides, progress=progress,
                                   cancel=stop.is_set, preview=lambda stage, rgb: messages.put(("preview", stage, rgb)))
        messages.put(("done", out))
    except Exception as e:   # one line for the studio's dialog
        messages.put(("error", str(e).splitlines()[0] if str(e) else type(e).__name__))


def _preview(trainer, sample) -> np.ndarray:
    """The model's render of a training frame's view beside the frame (uint8, 2S x S)."""
    import torch

    from core.model.head import SamplingPlan
    from training.losses import render_sample

    res = trainer.cfg.neural_resolution
    with torch.no_grad():
        scale = torch.exp(trainer.light_log_scale) if trainer.cfg.learn_light_scale else None
        g, _, frame = render_sample(trainer.model, trainer.codes[sample.identity], sample, res,
                                    SamplingPlan(band_samples=16), None, None, sh_scale=scale)
        rgb = (frame.rgb + (1 - g.alpha[..., None])).clamp(0, 1).cpu().numpy()
    a = sample.alpha[..., None] if sample.alpha is not None else 1.0
    target = sample.image * a + (1 - a)
    size = rgb.shape[0]
    if target.shape[0] != size:
        import cv2

        target = cv2.resize(target.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return (np.concatenate([target, rgb], 1) * 255 + 0.5).astype(np.uint8)
