"""Adam for the photo fit, without torch.optim.

Why: torch.optim's optimizers import torch._dynamo on first use (1.4-1.7 s here), and
the studio fits on a worker thread, where that import held the GIL long enough to stall
the GUI thread for up to 260 ms (py-spy: Adam.__init__ -> _disable_dynamo -> import
torch._dynamo). The update is torch.optim.Adam's default one (no weight decay, no
amsgrad); tests/core/fitting/test_optim.py checks it step for step against torch's.
"""
from __future__ import annotations

import math

import torch


class Adam:
    def __init__(self, groups: list[dict], betas=(0.9, 0.999), eps: float = 1e-8):
        """groups: [{"params": [tensors], "lr": float}, ...] as torch.optim takes them."""
        self.param_groups = [{"params": list(g["params"]), "lr": float(g["lr"]), "initial_lr": float(g["lr"])}
                             for g in groups]
        self.betas, self.eps = betas, eps
        self._state: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._steps = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        self._steps += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self._steps, 1 - b2 ** self._steps
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                m, v = self._state.setdefault(id(p), (torch.zeros_like(p), torch.zeros_like(p)))
                m.lerp_(p.grad, 1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                p.addcdiv_(m, (v / c2).sqrt_().add_(self.eps), value=-g["lr"] / c1)


class CosineSchedule:
    """Each group's lr from its initial value down to 0 over `steps` (torch.optim's
    CosineAnnealingLR with eta_min 0), applied by step()."""

    def __init__(self, optimizer: Adam, steps: int):
        self.optimizer, self.steps, self._done = optimizer, max(int(steps), 1), 0

    def step(self) -> None:
        self._done += 1
        factor = 0.5 * (1 + math.cos(math.pi * min(self._done, self.steps) / self.steps))
        for g in self.optimizer.param_groups:
            g["lr"] = g["initial_lr"] * factor
