"""What a person watching a training run sees besides the progress bar: TensorBoard
scalars (every loss term, learning rate, steps per second) and, every `sample_every`
steps, a grid of sample renders next to their targets, written both to TensorBoard and to
RUN/samples/step_NNNNNN.png so that a run can be judged without TensorBoard too.

Rank 0 only. Rendering the samples consumes no random numbers, so a run with and without
monitoring, or resumed in the middle, trains exactly the same.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from core.fileio import save_png, to_uint8

GRID_SAMPLES = 4


class TrainingMonitor:
    def __init__(self, trainer):
        self.trainer = trainer
        cfg = trainer.cfg
        self.writer = None
        if cfg.log_every > 0 or cfg.sample_every > 0:
            from torch.utils.tensorboard import SummaryWriter

            # on resume, events logged after the checkpoint we resumed from are dropped
            self.writer = SummaryWriter(str(trainer.run_dir / "tb"), purge_step=trainer.step or None)
        self.sums: dict[str, float] = {}
        self.count = 0
        self.clock = time.time()
        seen, self.preview = set(), []
        for sample in trainer.data.samples:  # the first view of the first few identities
            if sample.identity not in seen and len(self.preview) < GRID_SAMPLES:
                seen.add(sample.identity)
                self.preview.append(sample)

    def after_step(self, logs: dict):
        cfg, step = self.trainer.cfg, self.trainer.step
        for k, v in logs.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1
        if self.writer is None:
            return
        if cfg.log_every > 0 and step % cfg.log_every == 0:
            now = time.time()
            for k, v in self.sums.items():
                group = "lr" if k == "lr" else "loss"
                self.writer.add_scalar(f"{group}/{k}", v / self.count, step)
            self.writer.add_scalar("speed/steps_per_s", self.count / max(now - self.clock, 1e-9), step)
            self.sums, self.count, self.clock = {}, 0, now
        if cfg.sample_every > 0 and (step % cfg.sample_every == 0 or step == cfg.steps):
            grid = to_uint8(self.sample_grid())
            self.writer.add_image("samples", grid, step, dataformats="HWC")
            (self.trainer.run_dir / "samples").mkdir(parents=True, exist_ok=True)
            save_png(self.trainer.run_dir / "samples" / f"step_{step:06d}.png", grid)
            self.writer.flush()

    @torch.no_grad()
    def sample_grid(self) -> np.ndarray:
        """Rows: preview samples; columns: target, render, albedo, normal (all over white)."""
        t = self.trainer
        resolution, plan = t.cfg.stage(max(t.step - 1, 0))
        plan = replace(plan, jitter=False)
        rows = []
        for sample in self.preview:
            g, surface, frame = t.render(sample, resolution, plan)
            size = g.alpha.shape[0]
            a = g.alpha[..., None]
            white = 1.0 - a
            target = t.data.targets(sample, size)["image"].to(a.device)
            cells = [target, frame.rgb + white, surface.albedo * a + white, (surface.normal * 0.5 + 0.5) * a + white]
            rows.append(torch.cat([c.clamp(0, 1) for c in cells], 1))
        return torch.cat(rows, 0).cpu().numpy()

    def close(self):
        if self.writer is not None:
            self.writer.close()
